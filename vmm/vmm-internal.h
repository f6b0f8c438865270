/* SPDX-License-Identifier: MIT */
/*
 * What vmm/ sources, vmm/virtio/ and vmm/devices/ share: the VM object, guest
 * memory, the port-I/O and MMIO buses, interrupt routing and the event
 * loop. Nothing outside vmm/ includes this.
 *
 * Threads: vCPU threads run KVM_RUN and dispatch PIO/MMIO exits through
 * the buses; the main thread runs the event loop (control socket,
 * serial input, vhost-user sockets, masked MSI-X vectors, stats); each
 * virtio-blk device has an I/O thread that owns its queues and its
 * io_uring.
 */
#ifndef VMM_INTERNAL_H
#define VMM_INTERNAL_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/log.h"
#include "vmm/config.h"
#include "vmm/vmm.h"

/* ---- guest physical layout ---- */
#define VMM_MEM_MAX_REGIONS 8          /* vhost-user's limit */
#define VMM_LOW_RAM_END 0xc0000000ull  /* RAM below the PCI hole */
#define VMM_HIGH_RAM_BASE 0x100000000ull
#define VMM_PCI_MMIO_BASE 0xc0000000ull
#define VMM_PCI_MMIO_SIZE 0x20000000ull
#define VMM_PCI_ECAM_BASE 0xe0000000ull /* bus 0 only: 1 MiB */
#define VMM_IOAPIC_BASE 0xfec00000ull
#define VMM_LAPIC_BASE 0xfee00000ull

/* Port of the test guest's exit device: outb(code) ends the VM. */
#define VMM_PORT_EXIT 0x501
#define VMM_PORT_COM1 0x3f8
#define VMM_IRQ_COM1 4

/* ---- guest memory (memory.c) ---- */

struct vmm_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	uint64_t fd_offset;      /* offset of this region in the memfd */
};

struct vmm_mem {
	int fd;                  /* memfd, or -1 for private anonymous memory */
	uint8_t *base;           /* one mapping holding all regions */
	uint64_t size;
	unsigned int nregions;
	struct vmm_mem_region region[VMM_MEM_MAX_REGIONS];
};

/*
 * Allocates 'size' bytes of guest RAM laid out below and above the PCI
 * hole. 'shared': from a memfd mapped MAP_SHARED (vhost-user can map it);
 * otherwise private anonymous memory (needed for KSM).
 */
int vmm_mem_init(struct vmm_mem *m, uint64_t size, bool shared) must_check;
void vmm_mem_fini(struct vmm_mem *m);
/*
 * Host pointer for [gpa, gpa+len) if the whole range lies inside one RAM
 * region, else NULL. The only way device code turns guest addresses into
 * pointers: every guest-supplied address goes through here.
 */
void *vmm_mem_ptr(const struct vmm_mem *m, uint64_t gpa, uint64_t len);
/* Gives [gpa, gpa+len) back to the host (balloon); 0 or -errno. */
int vmm_mem_discard(struct vmm_mem *m, uint64_t gpa, uint64_t len);
/* Resident and KSM-shared bytes of guest memory. */
void vmm_mem_usage(const struct vmm_mem *m, uint64_t *resident,
		   uint64_t *shared);

/* ---- I/O buses (bus.c) ---- */

/* A device's handler: 'off' is relative to the range base. */
typedef void vmm_io_fn(void *opaque, uint64_t off, uint8_t *data,
		       uint32_t len, bool is_write);

#define VMM_BUS_MAX 64

struct vmm_io_range {
	uint64_t base, len;
	vmm_io_fn *fn;
	void *opaque;
};

struct vmm_bus {
	pthread_rwlock_t lock;
	unsigned int n;
	struct vmm_io_range r[VMM_BUS_MAX];
};

void vmm_bus_init(struct vmm_bus *b);
void vmm_bus_fini(struct vmm_bus *b);
/* Adds a range; -EEXIST if it overlaps one, -ENOSPC if full. */
int vmm_bus_add(struct vmm_bus *b, uint64_t base, uint64_t len,
		vmm_io_fn *fn, void *opaque) must_check;
/* Removes the range at 'base' owned by 'opaque'; -ENOENT if none. */
int vmm_bus_del(struct vmm_bus *b, uint64_t base, void *opaque);
/* Dispatches an access; false if no device claims 'addr'. */
bool vmm_bus_access(struct vmm_bus *b, uint64_t addr, uint8_t *data,
		    uint32_t len, bool is_write);

/* ---- event loop (loop.c), main thread only unless noted ---- */

struct vmm_vm;
typedef void vmm_event_fn(struct vmm_vm *vm, void *opaque, uint32_t events);

struct vmm_event {
	int fd;
	vmm_event_fn *fn;
	void *opaque;
};

/* Watches 'ev->fd' for 'events' (EPOLLIN...); 'ev' must outlive it. */
int vmm_loop_add(struct vmm_vm *vm, struct vmm_event *ev, uint32_t events)
	must_check;
void vmm_loop_del(struct vmm_vm *vm, struct vmm_event *ev);

/* ---- vCPUs (vcpu.c) ---- */

struct vmm_vcpu {
	struct vmm_vm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	bool paused;             /* parked; under vm->lock */
	uint64_t exits_pio, exits_mmio; /* counters, this thread only */
};

int vmm_vcpu_init(struct vmm_vm *vm, struct vmm_vcpu *v, unsigned int id)
	must_check;
int vmm_vcpu_start(struct vmm_vcpu *v) must_check;
void vmm_vcpu_fini(struct vmm_vcpu *v);
/* CPU time the vCPU thread has used, in ns. */
uint64_t vmm_vcpu_cpu_ns(const struct vmm_vcpu *v);

/* ---- interrupts (irq.c) ---- */

/* Allocates a GSI for MSI delivery; -ENOSPC when the table is full. */
int vmm_irq_msi_alloc(struct vmm_vm *vm) must_check;
/* Points 'gsi' at the MSI (addr, data); 'enabled' false parks it. */
int vmm_irq_msi_route(struct vmm_vm *vm, int gsi, uint64_t addr,
		      uint32_t data, bool enabled) must_check;
/* Injects one MSI now (masked vector that became pending, config IRQ). */
int vmm_irq_msi_signal(struct vmm_vm *vm, uint64_t addr, uint32_t data);
/* Drives an IOAPIC pin (serial). */
void vmm_irq_line(struct vmm_vm *vm, unsigned int irq, int level);
/* KVM_IRQFD: 'efd' raises 'gsi' while assigned. */
int vmm_irqfd(struct vmm_vm *vm, int efd, int gsi, bool assign) must_check;
/* KVM_IOEVENTFD on an MMIO address (4-byte writes, any value). */
int vmm_ioeventfd(struct vmm_vm *vm, int efd, uint64_t addr, bool assign)
	must_check;

/* ---- devices, forward declarations ---- */

struct vmm_serial;
struct vmm_pci;
struct vmm_virtio_dev;
struct vmm_blk_dev;
struct vmm_net_dev;
struct vmm_balloon;
struct vmm_console;
struct vmm_control;
struct snap_control;

/* Registers of the boot vCPU, filled in by the loader (boot-*.c). */
struct vmm_boot_regs {
	uint64_t rip, rsp, rsi, rdi;
	bool long_mode;          /* 64-bit with paging (test guest) */
	uint64_t cr3;            /* long_mode: page table root */
	uint64_t gdt_base;       /* GDT the loader wrote into guest RAM */
	uint16_t cs, ds;         /* selectors; 0: 0x08/0x10 (long mode) */
};

enum vmm_run_state {
	VMM_STATE_RUNNING,
	VMM_STATE_PAUSED,
	VMM_STATE_EXITING,
};

struct vmm_vm {
	const struct vmm_config *cfg;
	int kvm_fd;
	int vm_fd;
	int run_size;             /* mmap size of struct kvm_run */
	struct kvm_cpuid2 *cpuid;
	struct vmm_mem mem;
	struct vmm_bus pio, mmio;
	struct vmm_boot_regs boot;

	unsigned int nvcpus;
	struct vmm_vcpu *vcpu;

	/* run state: vm->lock protects state, pause bookkeeping, exit */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum vmm_run_state state;
	enum vmm_exit exit_how;
	int guest_code;
	unsigned int vcpus_parked;

	/* the event loop */
	int epfd;
	int wake_fd;              /* eventfd: wakes the loop from any thread */
	struct vmm_event wake_ev;

	/* GSI routing table (irq.c) */
	pthread_mutex_t irq_lock;
	struct kvm_irq_routing *routes;
	unsigned int next_gsi;

	struct vmm_serial *serial;
	struct vmm_pci *pci;
	unsigned int nblk, nnet;
	struct vmm_blk_dev *blk[VMM_MAX_DISKS];
	struct vmm_net_dev *net[VMM_MAX_NICS];
	struct vmm_balloon *balloon;
	struct vmm_console *console;
	struct vmm_control *control;
	char cgroup_note[2200];    /* what cgroup setup did, for status */
	char cgroup_root[2][600]; /* the groups we left (to return to) */
	char cgroup_dir[2][1024]; /* groups we made, removed at the end */
	uint64_t tick_ns;         /* last rate sample (devices.c) */

	/* disk modes (disk-mode.c), by config index */
	uint8_t disk_mode[VMM_MAX_DISKS];   /* enum snap_mode in force */
	bool disk_layered[VMM_MAX_DISKS];   /* a vdisk disk, written */
	bool disks_closed;
	enum vmm_undoable undoable;         /* vmm --undoable */
	_Atomic int undoable_req;           /* vmctl --undoable, or ASK */
	struct snap_control *snapctl;       /* vsnap requests, online */

	uint64_t created_ns;
	uint64_t started_ns;
	uint64_t paused_total_ns, paused_since_ns;
};

/* vm.c */
int vmm_vm_pause(struct vmm_vm *vm);
int vmm_vm_resume(struct vmm_vm *vm);
enum vmm_run_state vmm_vm_state(struct vmm_vm *vm);
/* Called by a vCPU thread on a fatal error. */
void vmm_vm_fail(struct vmm_vm *vm, const char *why);

/* boot.c: test guest and Linux loaders */
int vmm_boot_testguest(struct vmm_vm *vm) must_check;
int vmm_boot_linux(struct vmm_vm *vm) must_check;
/*
 * Identity page tables for the low 4 GiB in 2 MiB pages at 0x1000-0x6fff
 * of guest RAM ('user': ring 3 may use them too); returns the CR3 value.
 */
uint64_t vmm_boot_identity_map(uint8_t *ram, bool user);
/* Loads vm->boot (vCPU 0) or the reset state (others) into 'v'. */
int vmm_vcpu_setup_boot(struct vmm_vcpu *v) must_check;

/* disk-mode.c */
/* Before disk 'index' opens: gives it the mode its config names. */
int vmm_disk_mode_prepare(struct vmm_vm *vm, unsigned int index, char *err,
			  size_t errlen) must_check;
/*
 * Once a vdisk disk is open: records the mode in force (what power-off
 * ends). Not for raw images (see disk-mode.c).
 */
int vmm_disk_mode_opened(struct vmm_vm *vm, unsigned int index, char *err,
			 size_t errlen) must_check;
/* Once every disk is open: serves vsnap requests on them (best effort). */
void vmm_disk_snapshots_start(struct vmm_vm *vm);

/* serial.c */
int vmm_serial_create(struct vmm_vm *vm, struct vmm_serial **out) must_check;
void vmm_serial_destroy(struct vmm_serial *s);

/* chardev.c: where a console's bytes go and come from */
struct vmm_chardev {
	struct vmm_vm *vm;
	pthread_mutex_t lock;
	int out_fd;               /* -1: nowhere right now */
	int in_fd;                /* -1: no input */
	int listen_fd;            /* unix: the listening socket */
	bool own_out, in_watched, paused;
	const char *path;         /* unix: the socket, removed at close */
	struct vmm_event in_ev, listen_ev;
	void (*input)(void *opaque);
	void *opaque;
	char backlog[4096];       /* unix: output while no client was there */
	size_t backlog_len;
};

/*
 * Opens the back end 'kind' (PATH for file and unix); 'input' runs on
 * the main loop when bytes can be read. 0 or -errno.
 */
int vmm_chardev_open(struct vmm_chardev *cd, struct vmm_vm *vm,
		     enum vmm_serial_kind kind, const char *path,
		     void (*input)(void *opaque), void *opaque) must_check;
/* Writes all or drops (never blocks the caller). Any thread. */
void vmm_chardev_write(struct vmm_chardev *cd, const void *buf, size_t len);
/* Reads what is there (0 when nothing or the input has gone). */
ssize_t vmm_chardev_read(struct vmm_chardev *cd, void *buf, size_t len);
/* Stops (or resumes) calling 'input' while the owner has no room. */
void vmm_chardev_pause_input(struct vmm_chardev *cd, bool pause);
void vmm_chardev_close(struct vmm_chardev *cd);

/* cgroup.c */
int vmm_cgroup_apply(struct vmm_vm *vm) must_check;
/* Leaves and removes the groups vmm_cgroup_apply() made. */
void vmm_cgroup_release(struct vmm_vm *vm);

/* control.c */
int vmm_control_create(struct vmm_vm *vm, const char *path,
		       struct vmm_control **out) must_check;
void vmm_control_destroy(struct vmm_control *c);

#endif
