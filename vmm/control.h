/* SPDX-License-Identifier: MIT */
/* The control socket's request format and memory report (control.c). */
#ifndef VMM_CONTROL_H
#define VMM_CONTROL_H

#include "vmm/vmm-internal.h"

struct vmm_mem_stats {
	uint64_t guest_bytes;          /* configured RAM */
	uint64_t resident_bytes;       /* guest pages backed by host memory */
	uint64_t shared_bytes;         /* KSM-merged pages of this process */
	uint64_t ballooned_bytes;      /* given back by the guest */
	uint64_t balloon_target_bytes;
	uint64_t process_rss_bytes;
	uint64_t vmm_overhead_bytes;   /* RSS not counting guest RAM */
};

void vmm_control_memory(struct vmm_vm *vm, struct vmm_mem_stats *m);

enum vmm_ctl_cmd {
	VMM_CTL_STATUS,
	VMM_CTL_STATS,
	VMM_CTL_PAUSE,
	VMM_CTL_RESUME,
	VMM_CTL_STOP,
	VMM_CTL_POWEROFF,
	VMM_CTL_BALLOON,
};

struct vmm_ctl_req {
	enum vmm_ctl_cmd cmd;
	uint64_t bytes;          /* VMM_CTL_BALLOON */
	enum vmm_undoable undoable; /* STOP, POWEROFF: ASK when not sent */
};

/*
 * Parses one request line (untrusted). Returns 0, or -EINVAL / -E2BIG /
 * -ENOMEM with a one-line reason in 'err'.
 */
int vmm_control_parse(const char *text, size_t len, struct vmm_ctl_req *req,
		      char *err, size_t errlen);

#endif
