/* SPDX-License-Identifier: MIT */
/*
 * Fixtures for the VMM's system tests: run the real vmm binary on a
 * generated vm.cfg with the freestanding test guest, read its serial
 * output, talk to its control socket, and check disk images against the
 * guest's pattern. Paths come from argv: vmm, vmctl, testguest.bin.
 */
#ifndef TESTS_VMTEST_H
#define TESTS_VMTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "tests/lib/testutil.h"

struct vmt {
	char dir[512];
	char cfg[600], serial[600], ctl[600], log[600];
	pid_t pid;
	int exit_code;           /* valid once exited */
	bool exited;
};

extern const char *vmt_vmm, *vmt_vmctl_path, *vmt_guest;
/* One more vmm option for the next vmt_start()s ("--undoable=keep"). */
extern const char *vmt_vmm_option;

/* Reads the paths from argv; skips (77) without a usable /dev/kvm. */
void vmt_init(int argc, char **argv);
/*
 * The storage tools the datastore and snapshot tests take after those
 * three (VDISK VFS, then VSNAP when 'with_vsnap'); exits with the usage
 * when they are missing.
 */
extern const char *vmt_vdisk, *vmt_vfs, *vmt_vsnap;
void vmt_init_tools(int argc, char **argv, bool with_vsnap);
/* True on a PVM host (/sys/module/kvm_pvm). */
bool vmt_is_pvm(void);

/*
 * Writes NAME/vm.cfg under the test's temp dir (name, 64M, the test
 * guest, serial to a file, a control socket, then 'extra' lines) and
 * starts vmm on it. Returns 0 or -errno.
 */
int vmt_start(struct vmt *t, const char *name, const char *extra, ...)
	__attribute__((format(printf, 3, 4)));
/* Waits for exit: the exit code, or -ETIMEDOUT (the VM keeps running). */
int vmt_wait(struct vmt *t, int timeout_ms);
/* Waits until the serial output contains 'needle'. */
bool vmt_wait_serial(struct vmt *t, const char *needle, int timeout_ms);
/* Number of occurrences of 'needle' in the serial output so far. */
int vmt_count_serial(struct vmt *t, const char *needle);
/* SIGKILLs the VMM if it still runs, then reaps it. */
void vmt_kill(struct vmt *t);
/* A whole file as a NUL-terminated string (caller frees); NULL if none. */
char *vmt_slurp(const char *path);
/* One control request; the reply (caller frees) or NULL. */
char *vmt_ctl(struct vmt *t, const char *request);
/* Runs vmctl with arguments, capturing stdout; returns exit status. */
int vmt_vmctl(struct vmt *t, char *out, size_t outlen, const char *args, ...)
	__attribute__((format(printf, 4, 5)));
/* Prints the VMM's stderr and the serial output (on failure). */
void vmt_dump(struct vmt *t);

/*
 * Checks 'path' holds the test guest's pattern (common/pattern.h) of
 * 'seed' everywhere except the last 64 KiB, which must be zero. Returns
 * the first bad offset or -1.
 */
int64_t vmt_check_image(const char *path, uint64_t seed);
/*
 * Exports 'disk' with the 'vdisk' tool to a raw file in the test's tmpdir
 * and checks it as vmt_check_image() does, saying where it differs.
 */
int64_t vmt_check_disk(const char *vdisk, const char *disk, uint64_t seed);

#endif
