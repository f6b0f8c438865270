/* SPDX-License-Identifier: MIT */
/*
 * vmm: a small KVM virtual machine monitor. One process runs one VM
 * described by a vm.cfg file (key = value, in the spirit of VMware .vmx):
 * vCPU threads, guest memory from a memfd (shareable with a vhost-user
 * switch), an 8250 UART console, a PCI host bridge with virtio 1.x
 * devices (block on an io_uring thread, net as a vhost-user front end,
 * balloon), and a control socket that vmctl talks to.
 *
 * This is the only header other components and the tools include.
 * Errors are 0 / negative errno; functions that parse text also fill a
 * one-line message naming the file, line and key.
 */
#ifndef VMM_VMM_H
#define VMM_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

struct vmm_config;
struct vmm_vm;

/* ---- configuration (config.c) ---- */

/*
 * Parses a vm.cfg file. 'err' gets "FILE:LINE: key 'K': why" on failure.
 * Relative paths in the file are taken relative to the file's folder.
 * Returns 0, -EINVAL (bad content), -ENOENT/-EACCES (cannot read), -ENOMEM.
 */
int vmm_config_load(const char *path, struct vmm_config **out, char *err,
		    size_t errlen) must_check;
/*
 * Parses 'len' bytes of config text (may hold NULs: they are an error).
 * 'name' labels messages; 'basedir' resolves relative paths (NULL: cwd).
 */
int vmm_config_parse(const char *text, size_t len, const char *name,
		     const char *basedir, struct vmm_config **out, char *err,
		     size_t errlen) must_check;
/*
 * Sets one key as if it were a line of the file (command-line overrides
 * such as "serial=file:/tmp/x"), then re-checks the whole config.
 */
int vmm_config_set(struct vmm_config *cfg, const char *key, const char *value,
		   char *err, size_t errlen) must_check;
void vmm_config_free(struct vmm_config *cfg);
/* Writes every known key with its type and meaning (for --help, docs). */
void vmm_config_print_keys(void *file);
/* The same as a JSON array of {"key", "help"} (vmm keys --json). */
void vmm_config_print_keys_json(void *file);
/* The VM's name ("vm" if the file gives none). */
const char *vmm_config_name(const struct vmm_config *cfg);

/* ---- one running VM (vm.c) ---- */

/* Why vmm_vm_run() returned. */
enum vmm_exit {
	VMM_EXIT_POWEROFF,   /* vmctl poweroff, or the guest powered off */
	VMM_EXIT_STOPPED,    /* vmctl stop: I/O drained and flushed */
	VMM_EXIT_GUEST_CODE, /* the test guest wrote its exit port */
	VMM_EXIT_ERROR,      /* a vCPU or device failed; see the log */
};

/*
 * Builds the VM: memory, vCPUs, devices, boot image, control socket.
 * Nothing runs until vmm_vm_run(). Returns 0 or -errno; the reason is
 * also logged ("vmm" topic).
 */
int vmm_vm_create(const struct vmm_config *cfg, struct vmm_vm **out) must_check;
/*
 * Runs the VM on the calling thread's event loop until it ends. Returns
 * the exit kind; '*guest_code' gets the test guest's exit code.
 * Blocks; SIGINT/SIGTERM handling is the caller's business (call
 * vmm_vm_request_exit from a handler thread or signalfd).
 */
enum vmm_exit vmm_vm_run(struct vmm_vm *vm, int *guest_code);
/* Asks a running VM to end as 'how'; safe from any thread. */
void vmm_vm_request_exit(struct vmm_vm *vm, enum vmm_exit how);
/*
 * Frees the VM. Disks not yet closed by vmm_vm_close_disks() are closed
 * here as that would with VMM_UNDOABLE_ASK (undoable changes kept).
 */
void vmm_vm_destroy(struct vmm_vm *vm);

/* ---- disk modes at power-off (disk-mode.c) ---- */

/* What happens to the changes of undoable disks when the VM ends. */
enum vmm_undoable {
	VMM_UNDOABLE_ASK = 0,  /* nobody chose: the tool asks, else keep */
	VMM_UNDOABLE_KEEP,     /* the redo log stays; the next run goes on */
	VMM_UNDOABLE_DISCARD,  /* back to the state at power-on */
	VMM_UNDOABLE_COMMIT,   /* the changes go into the disk */
};

/* "keep", "discard", "commit" -> 0 and '*out'; -EINVAL otherwise. */
int vmm_undoable_parse(const char *s, enum vmm_undoable *out);
/* Sets the choice for the end of the run (vmm --undoable). */
void vmm_vm_set_undoable(struct vmm_vm *vm, enum vmm_undoable how);
/*
 * After vmm_vm_run(): the choice in force (a vmctl stop/poweroff
 * --undoable wins over vmm_vm_set_undoable) and, in '*ndisks', how many
 * disks run in undoable mode.
 */
enum vmm_undoable vmm_vm_undoable(struct vmm_vm *vm, unsigned int *ndisks);
/*
 * After vmm_vm_run(): closes the disks (their locks go), then applies
 * their modes: a nonpersistent disk's redo log is discarded, an
 * undoable one's kept, discarded or committed as 'how' says (ASK:
 * kept). One line per such disk goes to 'report' (a FILE *; NULL:
 * the log only). Returns 0 or the first error (each is reported).
 */
int vmm_vm_close_disks(struct vmm_vm *vm, enum vmm_undoable how,
		       void *report);

/* ---- control client (control-client.c), used by vmctl ---- */

/*
 * Sends one JSON request line to the control socket at 'path' and
 * returns the JSON reply (caller frees). Returns 0, -ENOENT/-ECONNREFUSED
 * (no VM there), -ETIMEDOUT, -EPROTO (bad reply), -ENOMEM.
 */
int vmm_control_call(const char *path, const char *request, int timeout_ms,
		     char **reply) must_check;

#endif
