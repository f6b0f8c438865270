/* SPDX-License-Identifier: MIT */
/*
 * The asynchronous I/O engine every consumer of a disk shares (the VMM's
 * virtio-blk, the NBD server, the backup proxy): it validates requests
 * against the disk, applies the disk type's rules for discard and
 * write-zeroes, marks changed blocks, and hands the request to the
 * store's queue (io_uring for local files). Completions come back through
 * vdisk_engine_complete() from the store's poll.
 *
 * The hot path allocates nothing: the request is the caller's memory.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "vdisk/vdisk-internal.h"

#define DEFAULT_DEPTH 128
#define MAX_DEPTH 4096

struct vdisk_queue {
	struct vdisk *disk;
	struct store_queue *sq;
	unsigned int depth;
	unsigned int inflight;
};

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
	q->depth = depth;
	rc = disk->store->ops->queue_create(disk->data, depth, &q->sq);
	if (rc < 0) {
		free(q);
		return rc;
	}
	*out = q;
	return 0;
}

void
vdisk_queue_destroy(struct vdisk_queue *q)
{
	if (!q)
		return;
	while (q->inflight > 0)
		if (vdisk_poll(q, q->inflight, -1) < 0)
			break;
	q->disk->store->ops->queue_destroy(q->sq);
	free(q);
}

int
vdisk_queue_event_fd(struct vdisk_queue *q)
{
	return q->disk->store->ops->queue_event_fd(q->sq);
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
	    io->op > VDISK_OP_WRITE_ZEROES)
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

int
vdisk_submit(struct vdisk_queue *q, struct vdisk_io *io)
{
	int rc;

	if (q->inflight >= q->depth)
		return -EAGAIN;
	rc = validate(q, io);
	if (rc < 0)
		return rc;
	apply_type_rules(q->disk, io);
	/* Mark before the write can land: reporting a block that did not
	 * change is harmless, missing one is not. */
	if (q->disk->cbt && io->op != VDISK_OP_READ && io->op != VDISK_OP_FLUSH)
		vdisk_cbt_mark(q->disk->cbt, io->offset_bytes, io->len_bytes);
	io->queue = q;
	rc = q->disk->store->ops->submit(q->sq, io);
	if (rc < 0)
		return rc;
	q->inflight++;
	return 0;
}

int
vdisk_kick(struct vdisk_queue *q)
{
	return q->disk->store->ops->kick(q->sq);
}

int
vdisk_poll(struct vdisk_queue *q, unsigned int min_done, int timeout_ms)
{
	return q->disk->store->ops->poll(q->sq, min_done, timeout_ms);
}

unsigned int
vdisk_inflight(const struct vdisk_queue *q)
{
	return q->inflight;
}

void
vdisk_engine_complete(struct vdisk_io *io, int64_t result)
{
	io->queue->inflight--;
	io->result = result;
	io->done(io);
}
