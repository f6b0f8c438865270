/* SPDX-License-Identifier: MIT */
/* Control-socket helpers shared with the benchmarks' in-process checks. */
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

#endif
