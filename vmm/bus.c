/* SPDX-License-Identifier: MIT */
/*
 * Port-I/O and MMIO dispatch for vCPU exits: a short table of ranges
 * under a read-write lock, because PCI BARs move while vCPUs run (the
 * guest programs them) but accesses vastly outnumber moves. A moved
 * BAR's old range may see one last access racing the move; device
 * state stays valid, only the guest's own confused access is affected.
 */
#include <errno.h>
#include <string.h>

#include "vmm/vmm-internal.h"

void
vmm_bus_init(struct vmm_bus *b)
{
	memset(b, 0, sizeof(*b));
	pthread_rwlock_init(&b->lock, NULL);
}

void
vmm_bus_fini(struct vmm_bus *b)
{
	pthread_rwlock_destroy(&b->lock);
}

int
vmm_bus_add(struct vmm_bus *b, uint64_t base, uint64_t len, vmm_io_fn *fn,
	    void *opaque)
{
	int err = 0;

	if (!len || base + len < base)
		return -EINVAL;
	pthread_rwlock_wrlock(&b->lock);
	for (unsigned int i = 0; i < b->n; i++) {
		if (base < b->r[i].base + b->r[i].len &&
		    b->r[i].base < base + len) {
			err = -EEXIST;
			goto out;
		}
	}
	if (b->n == VMM_BUS_MAX) {
		err = -ENOSPC;
		goto out;
	}
	b->r[b->n++] = (struct vmm_io_range){ base, len, fn, opaque };
out:
	pthread_rwlock_unlock(&b->lock);
	return err;
}

int
vmm_bus_del(struct vmm_bus *b, uint64_t base, void *opaque)
{
	int err = -ENOENT;

	pthread_rwlock_wrlock(&b->lock);
	for (unsigned int i = 0; i < b->n; i++) {
		if (b->r[i].base == base && b->r[i].opaque == opaque) {
			b->r[i] = b->r[--b->n];
			err = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&b->lock);
	return err;
}

bool
vmm_bus_access(struct vmm_bus *b, uint64_t addr, uint8_t *data, uint32_t len,
	       bool is_write)
{
	struct vmm_io_range r = { 0 };
	bool found = false;

	/*
	 * The handler runs after the lock is dropped: a config-space write
	 * that moves a BAR re-enters the bus to move its range. Ranges are
	 * removed only while the vCPUs are stopped, so 'r' stays valid.
	 */
	pthread_rwlock_rdlock(&b->lock);
	for (unsigned int i = 0; i < b->n; i++) {
		if (addr >= b->r[i].base && addr - b->r[i].base < b->r[i].len) {
			r = b->r[i];
			found = true;
			break;
		}
	}
	pthread_rwlock_unlock(&b->lock);
	if (found) {
		/* An access straddling the end is cut to the range. */
		uint32_t n = (uint32_t)MIN((uint64_t)len, r.len - (addr - r.base));

		if (n < len && !is_write)
			memset(data + n, 0xff, len - n);
		r.fn(r.opaque, addr - r.base, data, n, is_write);
	}
	return found;
}
