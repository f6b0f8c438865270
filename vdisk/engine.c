/* SPDX-License-Identifier: MIT */
/*
 * The asynchronous I/O engine every consumer of a disk shares (the VMM's
 * virtio-blk, the NBD server, the backup proxy): it validates requests
 * against the disk, applies the disk type's rules for discard and
 * write-zeroes, marks changed blocks, and hands the request to the
 * store's queue (io_uring for local files), or to the disk's layer when
 * the snapshot layer has installed one (vdisk-provider.h). Completions
 * come back through vdisk_engine_complete() from the store's poll.
 *
 * The gate lets an online operation stop a disk's requests for a moment:
 * a request counts itself active before it looks at the gate (and the
 * closer sets the gate before it counts the active ones), so either the
 * request sees the gate closed and waits in its queue, or the closer
 * sees it and waits for it to complete.
 *
 * The hot path allocates nothing: the request is the caller's memory.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "vdisk/vdisk-provider.h"

#define DEFAULT_DEPTH 128
#define MAX_DEPTH 4096
/* Store queues have room for a layer's sub-requests too. */
#define STORE_DEPTH_FACTOR 4

struct vdisk_queue {
	struct vdisk *disk;           /* NULL: a provider's bare queue */
	struct vdisk_store *st;
	struct store_queue *sq;
	unsigned int depth;
	unsigned int inflight;        /* caller requests before done() */
	unsigned int sub_inflight;    /* layer sub-requests at the store */
	uint64_t completed;           /* caller requests done, ever */
	struct vdisk_io *held, **held_tail; /* waiting for the gate */
	/* The layer state of this queue, and which layer it belongs to. */
	void *lq;
	void *lq_layer;
	const struct vdisk_layer_ops *lq_ops;
	struct vdisk_queue *next;     /* disk->queues */
};

void
vdisk_engine_init(struct vdisk *disk)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&disk->gate_mu, NULL);
	/* Timed waits use the monotonic clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&disk->gate_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&disk->sync_mu, NULL);
}

void
vdisk_engine_fini(struct vdisk *disk)
{
	pthread_mutex_destroy(&disk->gate_mu);
	pthread_cond_destroy(&disk->gate_cv);
	pthread_mutex_destroy(&disk->sync_mu);
}

int
vdisk_queue_create(struct vdisk *disk, unsigned int depth,
		   struct vdisk_queue **out)
{
	struct vdisk_queue *q;
	int rc;

	if (depth == 0)
		depth = DEFAULT_DEPTH;
	if (depth > MAX_DEPTH)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->disk = disk;
	q->st = disk->store;
	q->depth = depth;
	q->held_tail = &q->held;
	rc = disk->store->ops->queue_create(disk->data,
					    depth * STORE_DEPTH_FACTOR, &q->sq);
	if (rc < 0) {
		free(q);
		return rc;
	}
	pthread_mutex_lock(&disk->mu);
	q->next = disk->queues;
	disk->queues = q;
	pthread_mutex_unlock(&disk->mu);
	*out = q;
	return 0;
}

static void
drop_layer_state(struct vdisk_queue *q)
{
	if (q->lq_ops)
		q->lq_ops->queue_fini(q->lq_layer, q->lq);
	q->lq = NULL;
	q->lq_layer = NULL;
	q->lq_ops = NULL;
}

void
vdisk_queue_destroy(struct vdisk_queue *q)
{
	struct vdisk_queue **pp;

	if (!q)
		return;
	while (q->inflight > 0 || q->sub_inflight > 0) {
		int rc = q->inflight ? vdisk_poll(q, q->inflight, -1) :
			 q->st->ops->poll(q->sq, 1, -1);

		if (rc < 0)
			break;
	}
	drop_layer_state(q);
	if (q->disk) {
		pthread_mutex_lock(&q->disk->mu);
		for (pp = &q->disk->queues; *pp; pp = &(*pp)->next) {
			if (*pp == q) {
				*pp = q->next;
				break;
			}
		}
		pthread_mutex_unlock(&q->disk->mu);
	}
	q->st->ops->queue_destroy(q->sq);
	free(q);
}

int
vdisk_queue_event_fd(struct vdisk_queue *q)
{
	return q->st->ops->queue_event_fd(q->sq);
}

static void
prep(struct vdisk_io *io, uint8_t op, uint64_t off, const void *buf,
     uint64_t len, unsigned int flags)
{
	io->op = op;
	io->flags = (uint8_t)flags;
	io->offset_bytes = off;
	io->len_bytes = len;
	io->iov_one.iov_base = (void *)buf;
	io->iov_one.iov_len = len;
	io->iov = buf ? &io->iov_one : NULL;
	io->iovcnt = buf ? 1 : 0;
	io->result = 0;
}

void
vdisk_io_prep_read(struct vdisk_io *io, uint64_t offset, void *buf,
		   uint64_t len)
{
	prep(io, VDISK_OP_READ, offset, buf, len, 0);
}

void
vdisk_io_prep_write(struct vdisk_io *io, uint64_t offset, const void *buf,
		    uint64_t len, unsigned int flags)
{
	prep(io, VDISK_OP_WRITE, offset, buf, len, flags);
}

void
vdisk_io_prep_flush(struct vdisk_io *io)
{
	prep(io, VDISK_OP_FLUSH, 0, NULL, 0, 0);
}

void
vdisk_io_prep_discard(struct vdisk_io *io, uint64_t offset, uint64_t len)
{
	prep(io, VDISK_OP_DISCARD, offset, NULL, len, 0);
}

void
vdisk_io_prep_write_zeroes(struct vdisk_io *io, uint64_t offset,
			   uint64_t len, unsigned int flags)
{
	prep(io, VDISK_OP_WRITE_ZEROES, offset, NULL, len, flags);
}

static int
validate_rw(const struct vdisk_io *io)
{
	uint64_t total = 0;

	if (io->iovcnt == 0 || !io->iov || io->iovcnt > IOV_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < io->iovcnt; i++) {
		if (!IS_ALIGNED((uintptr_t)io->iov[i].iov_base,
				(uintptr_t)VDISK_SECTOR) ||
		    !IS_ALIGNED(io->iov[i].iov_len, (size_t)VDISK_SECTOR))
			return -EINVAL;
		total += io->iov[i].iov_len;
	}
	return total == io->len_bytes ? 0 : -EINVAL;
}

static int
validate(const struct vdisk_queue *q, const struct vdisk_io *io)
{
	const struct vdisk *disk = q->disk;

	if (!io->done || io->op < VDISK_OP_READ ||
	    io->op > VDISK_OP_WRITE_ZEROES || (io->flags & VDISK_IO_SUB))
		return -EINVAL;
	if (io->op != VDISK_OP_READ && disk->read_only)
		return -EROFS;
	if (io->op == VDISK_OP_FLUSH)
		return 0;
	if (!IS_ALIGNED(io->offset_bytes, (uint64_t)VDISK_SECTOR) ||
	    !IS_ALIGNED(io->len_bytes, (uint64_t)VDISK_SECTOR) ||
	    io->len_bytes == 0)
		return -EINVAL;
	if (io->offset_bytes > disk->capacity ||
	    io->len_bytes > disk->capacity - io->offset_bytes)
		return -ERANGE;
	if (io->op == VDISK_OP_READ || io->op == VDISK_OP_WRITE)
		return validate_rw(io);
	return 0;
}

/*
 * Discard frees space only on thin disks; on thick ones it, and
 * write-zeroes, zero the range and keep it reserved, so the disk keeps
 * the allocation its type promises.
 */
static void
apply_type_rules(const struct vdisk *disk, struct vdisk_io *io)
{
	io->store_op = io->op;
	if (io->op != VDISK_OP_DISCARD && io->op != VDISK_OP_WRITE_ZEROES)
		return;
	if (disk->desc.type != VDISK_THIN) {
		io->store_op = VDISK_OP_WRITE_ZEROES;
		io->flags |= VDISK_IO_NO_UNMAP;
	}
}

/* A request leaves the active count; the last one tells a gate closer. */
static void
gate_leave(struct vdisk *disk)
{
	if (__atomic_sub_fetch(&disk->active, 1, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_load_n(&disk->gate, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&disk->gate_mu);
		pthread_cond_broadcast(&disk->gate_cv);
		pthread_mutex_unlock(&disk->gate_mu);
	}
}

/* Hands an admitted request to the layer or the store. */
static int
dispatch(struct vdisk_queue *q, struct vdisk_io *io)
{
	struct vdisk *disk = q->disk;
	int rc;

	if (disk->layer) {
		if (q->lq_layer != disk->layer) {
			drop_layer_state(q);
			rc = disk->layer_ops->queue_init(disk->layer, q, &q->lq);
			if (rc < 0)
				return rc;
			q->lq_layer = disk->layer;
			q->lq_ops = disk->layer_ops;
		}
		return disk->layer_ops->submit(disk->layer, q->lq, io);
	}
	io->file = disk->data;
	return disk->store->ops->submit(q->sq, io);
}

int
vdisk_submit(struct vdisk_queue *q, struct vdisk_io *io)
{
	struct vdisk *disk = q->disk;
	int rc;

	if (q->inflight >= q->depth)
		return -EAGAIN;
	rc = validate(q, io);
	if (rc < 0)
		return rc;
	apply_type_rules(disk, io);
	/* Mark before the write can land: reporting a block that did not
	 * change is harmless, missing one is not. */
	if (disk->cbt && io->op != VDISK_OP_READ && io->op != VDISK_OP_FLUSH)
		vdisk_cbt_mark(disk->cbt, io->offset_bytes, io->len_bytes);
	io->queue = q;
	io->file = NULL;
	__atomic_add_fetch(&disk->active, 1, __ATOMIC_SEQ_CST);
	if (unlikely(__atomic_load_n(&disk->gate, __ATOMIC_SEQ_CST))) {
		/* Held in order until the gate opens (vdisk_poll). */
		gate_leave(disk);
		io->next = NULL;
		*q->held_tail = io;
		q->held_tail = &io->next;
		q->inflight++;
		return 0;
	}
	rc = dispatch(q, io);
	if (rc < 0) {
		gate_leave(disk);
		return rc;
	}
	q->inflight++;
	return 0;
}

int
vdisk_kick(struct vdisk_queue *q)
{
	return q->st->ops->kick(q->sq);
}

/* Sends held requests once the gate is open; failures complete them. */
static void
release_held(struct vdisk_queue *q)
{
	struct vdisk *disk = q->disk;

	while (q->held && !__atomic_load_n(&disk->gate, __ATOMIC_SEQ_CST)) {
		struct vdisk_io *io = q->held;
		int rc;

		__atomic_add_fetch(&disk->active, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&disk->gate, __ATOMIC_SEQ_CST)) {
			gate_leave(disk);
			break;
		}
		q->held = io->next;
		if (!q->held)
			q->held_tail = &q->held;
		rc = dispatch(q, io);
		if (rc < 0) {
			/* Nothing was sent: fail it as its completion. */
			q->inflight--;
			q->completed++;
			gate_leave(disk);
			io->result = rc;
			io->done(io);
		}
	}
}

static int
wait_event(struct vdisk_queue *q, int timeout_ms)
{
	struct pollfd p = { .fd = vdisk_queue_event_fd(q), .events = POLLIN };
	int n = poll(&p, 1, timeout_ms);

	return n < 0 && errno != EINTR ? -errno : 0;
}

/*
 * The general case: a layered disk or held requests. Counts caller
 * completions (not sub-requests) and waits on the store when it has work
 * in flight, else on the queue's eventfd (wakeups from other threads).
 */
static int
poll_slow(struct vdisk_queue *q, unsigned int min_done, int timeout_ms)
{
	const struct store_ops *ops = q->st->ops;
	uint64_t start = q->completed;
	uint64_t deadline = timeout_ms > 0 ?
			    clock_mono_ns() + (uint64_t)timeout_ms * NS_PER_MS : 0;
	int rc;

	for (;;) {
		unsigned int done;
		int left = timeout_ms;

		/* Reap first: the store's poll resets the eventfd, so work
		 * another thread posted (or a gate that opened) before it
		 * must be picked up after it, or its wakeup is lost. */
		rc = ops->poll(q->sq, 0, 0);
		if (rc < 0)
			return rc;
		release_held(q);
		if (q->lq_ops)
			q->lq_ops->run(q->lq_layer, q->lq);
		/* What those queued must start before anyone waits for it. */
		rc = ops->kick(q->sq);
		if (rc < 0)
			return rc;
		done = (unsigned int)(q->completed - start);
		if (done >= min_done || q->inflight == 0 || timeout_ms == 0)
			return (int)done;
		if (timeout_ms > 0) {
			uint64_t now = clock_mono_ns();

			if (now >= deadline)
				return (int)done;
			left = (int)DIV_ROUND_UP(deadline - now, NS_PER_MS);
		}
		if (q->sub_inflight > 0 && !q->held)
			rc = ops->poll(q->sq, 1, left);
		else
			rc = wait_event(q, left);
		if (rc < 0)
			return rc;
	}
}

int
vdisk_poll(struct vdisk_queue *q, unsigned int min_done, int timeout_ms)
{
	if (likely(!q->held && !q->lq_ops && !q->disk->layer))
		return q->st->ops->poll(q->sq, min_done, timeout_ms);
	return poll_slow(q, min_done, timeout_ms);
}

unsigned int
vdisk_inflight(const struct vdisk_queue *q)
{
	return q->inflight;
}

void
vdisk_engine_complete(struct vdisk_io *io, int64_t result)
{
	struct vdisk_queue *q = io->queue;

	io->result = result;
	if (io->flags & VDISK_IO_SUB) {
		q->sub_inflight--;
		io->done(io);
		return;
	}
	q->inflight--;
	q->completed++;
	gate_leave(q->disk);
	io->done(io);
}

/* ---- for layers (vdisk-provider.h) ---- */

int
vdisk_sub_submit(struct vdisk_queue *q, struct store_file *f,
		 struct vdisk_io *sub)
{
	int rc;

	sub->flags |= VDISK_IO_SUB;
	sub->store_op = sub->op;
	sub->queue = q;
	sub->file = f;
	rc = q->st->ops->submit(q->sq, sub);
	if (rc < 0)
		return rc;
	q->sub_inflight++;
	return 0;
}

unsigned int
vdisk_sub_inflight(const struct vdisk_queue *q)
{
	return q->sub_inflight;
}

int
vdisk_bare_queue_create(struct vdisk_store *st, struct store_file *anchor,
			unsigned int depth, struct vdisk_queue **out)
{
	struct vdisk_queue *q;
	int rc;

	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->st = st;
	q->depth = depth;
	q->held_tail = &q->held;
	rc = st->ops->queue_create(anchor, depth, &q->sq);
	if (rc < 0) {
		free(q);
		return rc;
	}
	*out = q;
	return 0;
}

int
vdisk_sub_poll(struct vdisk_queue *q, int timeout_ms)
{
	int rc;

	if (q->sub_inflight == 0)
		return wait_event(q, timeout_ms);
	rc = q->st->ops->poll(q->sq, 0, 0);
	if (rc != 0 || timeout_ms == 0)
		return rc;
	return q->st->ops->poll(q->sq, 1, timeout_ms);
}

void
vdisk_queue_wake(struct vdisk_queue *q)
{
	uint64_t one = 1;

	if (q->st->ops->queue_wake)
		q->st->ops->queue_wake(q->sq);
	else
		(void)!write(vdisk_queue_event_fd(q), &one, sizeof(one));
}

struct vdisk *
vdisk_queue_disk(const struct vdisk_queue *q)
{
	return q->disk;
}

int
vdisk_gate_close(struct vdisk *disk, int timeout_ms)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	__atomic_store_n(&disk->gate, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&disk->gate_mu);
	while (__atomic_load_n(&disk->active, __ATOMIC_SEQ_CST) != 0 &&
	       rc == 0)
		rc = pthread_cond_timedwait(&disk->gate_cv, &disk->gate_mu, &ts);
	pthread_mutex_unlock(&disk->gate_mu);
	if (__atomic_load_n(&disk->active, __ATOMIC_SEQ_CST) != 0) {
		vdisk_gate_open(disk);
		return -ETIMEDOUT;
	}
	return 0;
}

void
vdisk_gate_open(struct vdisk *disk)
{
	__atomic_store_n(&disk->gate, 0, __ATOMIC_SEQ_CST);
	/* Every queue may hold requests: its poller sends them. */
	pthread_mutex_lock(&disk->mu);
	for (struct vdisk_queue *q = disk->queues; q; q = q->next)
		vdisk_queue_wake(q);
	pthread_mutex_unlock(&disk->mu);
}

void
vdisk_layer_set(struct vdisk *disk, const struct vdisk_layer_ops *ops,
		void *layer)
{
	disk->layer_ops = ops;
	disk->layer = layer;
}
