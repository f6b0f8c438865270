/* SPDX-License-Identifier: MIT */
/*
 * The parsed vm.cfg, shared by the vmm/ sources only. config.c fills it from a
 * declarative key table; vm.c reads it when building the VM.
 */
#ifndef VMM_CONFIG_H
#define VMM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/vmm.h"

#define VMM_MAX_DISKS 8
#define VMM_MAX_NICS 4
#define VMM_MAX_VCPUS 64

enum vmm_disk_mode {
	VMM_DISK_PERSISTENT,    /* writes go to the disk */
	VMM_DISK_NONPERSISTENT, /* writes are dropped at power-off */
	VMM_DISK_UNDOABLE,      /* keep, discard or commit at power-off */
};

enum vmm_serial_kind {
	VMM_SERIAL_NONE,
	VMM_SERIAL_STDIO,
	VMM_SERIAL_FILE,
	VMM_SERIAL_UNIX, /* a listening socket; one client at a time */
};

struct vmm_disk_cfg {
	char *path;               /* NULL: no such disk */
	enum vmm_disk_mode mode;
	bool mode_set;            /* named in the file or by --set */
	bool readonly;
	unsigned int line;        /* where diskN was set, for messages */
	unsigned int mode_line;
};

struct vmm_nic_cfg {
	char *socket;             /* vhost-user socket path; NULL: none */
	uint8_t mac[6];
	bool mac_set;
	unsigned int line;
	unsigned int mac_line;
};

struct vmm_config {
	char *file;               /* label for messages */
	char *basedir;            /* relative paths resolve here */
	char *name;
	uint64_t memory_bytes;
	unsigned int vcpus;
	char *kernel;             /* bzImage */
	char *initrd;
	char *cmdline;            /* kernel or test guest command line */
	char *testguest;          /* flat binary of the freestanding guest */
	struct vmm_disk_cfg disk[VMM_MAX_DISKS];
	struct vmm_nic_cfg nic[VMM_MAX_NICS];
	enum vmm_serial_kind serial;
	char *serial_path;
	enum vmm_serial_kind console; /* virtio-console; NONE: no device */
	char *console_path;
	char *control;            /* control socket path; NULL: none */
	bool ksm;                 /* madvise(MERGEABLE) the guest memory */
	bool balloon;             /* add a virtio-balloon device */
	uint64_t cpu_shares;      /* 0: leave the cgroup alone */
	bool latency_high;        /* cpu.latency = high: poll, do not sleep */
	uint64_t memory_limit_bytes; /* 0: no limit */
	unsigned int line_of[64]; /* line each table key was set on */
	unsigned int ksm_line;
};

#endif
