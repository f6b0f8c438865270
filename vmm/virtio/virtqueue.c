/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues, read defensively: the guest owns the rings and may
 * change them at any moment, so every descriptor is copied once before
 * it is checked, every address and length goes through vmm_mem_ptr(),
 * chains are bounded by the ring size (no loops), indirect tables must
 * be whole descriptors inside RAM and may not nest, and readable
 * buffers may not follow writable ones. The first violation marks the
 * queue broken; the caller then stops the device.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/virtio/virtio.h"

#define VQ_MAX_INDIRECT 1024

int
vmm_vq_map(struct vmm_vq *vq, const struct vmm_mem *mem)
{
	uint64_t n = vq->size;

	uint64_t extra = vq->event_idx ? 2 : 0; /* used_event, avail_event */

	if (!IS_POW2(n) || n > VQ_MAX_SIZE)
		return -EINVAL;
	if (!IS_ALIGNED(vq->desc_gpa, 16) || !IS_ALIGNED(vq->avail_gpa, 2) ||
	    !IS_ALIGNED(vq->used_gpa, 4))
		return -EINVAL;
	vq->mem = mem;
	vq->desc = vmm_mem_ptr(mem, vq->desc_gpa, 16 * n);
	vq->avail = vmm_mem_ptr(mem, vq->avail_gpa, 4 + 2 * n + extra);
	vq->used = vmm_mem_ptr(mem, vq->used_gpa, 4 + 8 * n + extra);
	if (!vq->desc || !vq->avail || !vq->used)
		return -EINVAL;
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->broken = false;
	return 0;
}

static int
vq_bad(struct vmm_vq *vq, const char *why)
{
	static _Atomic unsigned long reports;

	/* A guest that breaks and resets its queues in a loop must not
	   flood the log: the first 100 reports, then one in 10000. */
	if (!vq->broken) {
		unsigned long n = reports++;

		if (n < 100 || n % 10000 == 0)
			log_err("vmm.virtio", "guest wrote an invalid virtqueue: %s",
				why);
	}
	vq->broken = true;
	return -EIO;
}

static int
add_buf(struct vmm_vq *vq, struct vmm_vq_elem *e, const struct vring_desc *d)
{
	bool writable = d->flags & VRING_DESC_F_WRITE;
	void *p;

	if (!writable && e->nin)
		return vq_bad(vq, "readable buffer after a writable one");
	if (e->nout + e->nin >= VQ_MAX_IOV)
		return vq_bad(vq, "too many buffers in one chain");
	p = vmm_mem_ptr(vq->mem, d->addr, d->len);
	if (!p)
		return vq_bad(vq, "buffer outside guest RAM");
	e->iov[e->nout + e->nin] = (struct iovec){ p, d->len };
	if (writable) {
		e->nin++;
		e->in_len += d->len;
	} else {
		e->nout++;
		e->out_len += d->len;
	}
	return 0;
}

/* Walks an indirect table; 'd' is the descriptor pointing at it. */
static int
walk_indirect(struct vmm_vq *vq, struct vmm_vq_elem *e,
	      const struct vring_desc *d)
{
	const struct vring_desc *table;
	unsigned int n, i, steps = 0;
	struct vring_desc cur;
	int err;

	if (d->flags & VRING_DESC_F_NEXT)
		return vq_bad(vq, "indirect descriptor with NEXT");
	if (d->len == 0 || d->len % 16 || d->len / 16 > VQ_MAX_INDIRECT)
		return vq_bad(vq, "indirect table of bad length");
	n = d->len / 16;
	table = vmm_mem_ptr(vq->mem, d->addr, d->len);
	if (!table)
		return vq_bad(vq, "indirect table outside guest RAM");
	i = 0;
	for (;;) {
		memcpy(&cur, (const void *)&table[i], sizeof(cur));
		if (cur.flags & VRING_DESC_F_INDIRECT)
			return vq_bad(vq, "nested indirect table");
		err = add_buf(vq, e, &cur);
		if (err < 0)
			return err;
		if (!(cur.flags & VRING_DESC_F_NEXT))
			return 0;
		i = cur.next;
		if (i >= n)
			return vq_bad(vq, "indirect next index out of range");
		if (++steps >= n)
			return vq_bad(vq, "indirect chain loops");
	}
}

int
vmm_vq_pop(struct vmm_vq *vq, struct vmm_vq_elem *e)
{
	uint16_t avail_idx, head, i;
	struct vring_desc cur;
	unsigned int steps = 0;
	int err;

	if (vq->broken)
		return -EIO;
	avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	if (avail_idx == vq->last_avail)
		return 0;
	if ((uint16_t)(avail_idx - vq->last_avail) > vq->size)
		return vq_bad(vq, "available index moved past the ring size");
	head = __atomic_load_n(&vq->avail->ring[vq->last_avail & (vq->size - 1)],
			       __ATOMIC_RELAXED);
	if (head >= vq->size)
		return vq_bad(vq, "head index out of range");
	vq->last_avail++;
	e->head = head;
	e->nout = e->nin = 0;
	e->out_len = e->in_len = 0;
	i = head;
	for (;;) {
		memcpy(&cur, (const void *)&vq->desc[i], sizeof(cur));
		if (cur.flags & VRING_DESC_F_INDIRECT) {
			if (e->nout + e->nin)
				return vq_bad(vq, "indirect descriptor inside a chain");
			err = walk_indirect(vq, e, &cur);
			break;
		}
		err = add_buf(vq, e, &cur);
		if (err < 0 || !(cur.flags & VRING_DESC_F_NEXT))
			break;
		i = cur.next;
		if (i >= vq->size)
			return vq_bad(vq, "next index out of range");
		if (++steps >= vq->size)
			return vq_bad(vq, "descriptor chain loops");
	}
	return err < 0 ? err : 1;
}

void
vmm_vq_push(struct vmm_vq *vq, uint16_t head, uint32_t len)
{
	struct vring_used_elem *u = &vq->used->ring[vq->used_idx & (vq->size - 1)];

	u->id = head;
	u->len = len;
	vq->used_idx++;
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
}

void
vmm_vq_set_notify(struct vmm_vq *vq, bool enable)
{
	if (vq->event_idx) {
		/*
		 * avail_event: kick me once you go past what I have seen. To
		 * suppress, half the index space away: the guest kicks only
		 * when a batch crosses avail_event, and its index never gets
		 * that far ahead of what we have popped.
		 */
		__atomic_store_n((uint16_t *)&vq->used->ring[vq->size],
				 (uint16_t)(vq->last_avail +
					    (enable ? 0 : 0x8000)),
				 __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&vq->used->flags,
				 enable ? 0 : VRING_USED_F_NO_NOTIFY,
				 __ATOMIC_RELAXED);
	}
	/* The flag store must be seen before we look at avail again. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

bool
vmm_vq_has_work(struct vmm_vq *vq)
{
	return !vq->broken &&
	       __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) != vq->last_avail;
}

bool
vmm_vq_notify(struct vmm_vq *vq)
{
	uint64_t one = 1;

	/* Order the used index store before reading the guest's flags. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		/* Interrupt only if used_event lies in (signalled, used]. */
		uint16_t ev = __atomic_load_n(&vq->avail->ring[vq->size],
					      __ATOMIC_RELAXED);
		uint16_t old = vq->signalled_used, now = vq->used_idx;

		if ((uint16_t)(now - ev - 1) >= (uint16_t)(now - old))
			return false;
		vq->signalled_used = now;
	} else if (__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED) &
		   VRING_AVAIL_F_NO_INTERRUPT) {
		return false;
	}
	if (write(vq->call_fd, &one, sizeof(one)) < 0)
		log_debug("vmm.virtio", "call: %s", strerror(errno));
	return true;
}

size_t
vmm_vq_copy_out(const struct vmm_vq_elem *e, uint64_t off, void *buf,
		size_t len)
{
	size_t done = 0;

	for (unsigned int i = 0; i < e->nout && done < len; i++) {
		const struct iovec *v = &e->iov[i];

		if (off >= v->iov_len) {
			off -= v->iov_len;
			continue;
		}
		size_t n = MIN(len - done, v->iov_len - off);

		memcpy((uint8_t *)buf + done, (uint8_t *)v->iov_base + off, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t
vmm_vq_copy_in(const struct vmm_vq_elem *e, uint64_t off, const void *buf,
	       size_t len)
{
	size_t done = 0;

	for (unsigned int i = e->nout; i < e->nout + e->nin && done < len; i++) {
		const struct iovec *v = &e->iov[i];

		if (off >= v->iov_len) {
			off -= v->iov_len;
			continue;
		}
		size_t n = MIN(len - done, v->iov_len - off);

		memcpy((uint8_t *)v->iov_base + off, (const uint8_t *)buf + done, n);
		done += n;
		off = 0;
	}
	return done;
}
