/* SPDX-License-Identifier: MIT */
/* What the VM does with all its devices at once: tick, stop, destroy. */
#include "common/clock.h"
#include "vmm/devices/devices.h"

void
vmm_rate_sample(struct vmm_rate *r, const struct vmm_io_stats *now,
		uint64_t now_ns)
{
	double dt;

	if (r->last_ns) {
		dt = (double)(now_ns - r->last_ns) / 1e9;
		if (dt <= 0)
			return;
		r->rd_ops_s = (double)(now->rd_ops - r->last.rd_ops) / dt;
		r->wr_ops_s = (double)(now->wr_ops - r->last.wr_ops) / dt;
		r->rd_bytes_s = (double)(now->rd_bytes - r->last.rd_bytes) / dt;
		r->wr_bytes_s = (double)(now->wr_bytes - r->last.wr_bytes) / dt;
	}
	r->last = *now;
	r->last_ns = now_ns;
}

void
vmm_devices_tick(struct vmm_vm *vm)
{
	uint64_t now = clock_mono_ns();
	struct vmm_io_stats s;
	bool up;

	/* Net frame counts come from ring indexes: sample often. */
	for (unsigned int i = 0; i < vm->nnet; i++)
		vmm_net_stats(vm->net[i], &s, &up);
	if (now - vm->tick_ns < NS_PER_SEC)
		return;
	vm->tick_ns = now;
	for (unsigned int i = 0; i < vm->nblk; i++)
		vmm_blk_stats(vm->blk[i], &s);
}

void
vmm_devices_stop(struct vmm_vm *vm, bool flush)
{
	for (unsigned int i = 0; i < vm->nblk; i++)
		vmm_blk_stop(vm->blk[i], flush);
	for (unsigned int i = 0; i < vm->nnet; i++)
		vmm_net_stop(vm->net[i]);
}

void
vmm_devices_destroy(struct vmm_vm *vm)
{
	for (unsigned int i = 0; i < vm->nblk; i++)
		vmm_blk_destroy(vm->blk[i]);
	for (unsigned int i = 0; i < vm->nnet; i++)
		vmm_net_destroy(vm->net[i]);
	vmm_balloon_destroy(vm->balloon);
	vmm_console_destroy(vm->console);
	vm->nblk = vm->nnet = 0;
	vm->balloon = NULL;
	vm->console = NULL;
}
