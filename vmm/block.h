/* SPDX-License-Identifier: MIT */
/*
 * The block-backend interface behind virtio-blk: what a disk
 * implementation provides so the device model can run many requests at
 * once without knowing where the bytes live. Today's implementation is
 * a raw image file on io_uring (block-raw.c); the vdisk I/O engine (and
 * through it the snapshot layer's disk modes) plugs in behind the same
 * ops later.
 *
 * Threading: one backend belongs to one I/O thread. submit() queues,
 * kick() pushes queued work to the kernel, and when event_fd() becomes
 * readable, complete() runs the done() callbacks on that same thread.
 *
 * Ownership: from submit() until its done() runs, 'io' and the memory
 * its iovecs point to belong to the backend.
 */
#ifndef VMM_BLOCK_H
#define VMM_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/compiler.h"

enum vmm_blk_op {
	VMM_BLK_READ,
	VMM_BLK_WRITE,
	VMM_BLK_FLUSH,        /* everything completed before is durable */
	VMM_BLK_DISCARD,      /* the range may read back as anything */
	VMM_BLK_WRITE_ZEROES, /* the range reads back as zeros */
};

struct vmm_blk_io {
	enum vmm_blk_op op;
	uint64_t offset;          /* bytes */
	uint64_t len;             /* bytes: DISCARD, WRITE_ZEROES */
	struct iovec *iov;        /* READ, WRITE */
	unsigned int niov;
	bool unmap;               /* WRITE_ZEROES may deallocate */
	/* Runs on the I/O thread; 'result' is bytes done or -errno. */
	void (*done)(struct vmm_blk_io *io, int64_t result);
	void *opaque;
};

struct vmm_blk_backend;

struct vmm_blk_ops {
	const char *name;
	/* 0: queued, done() will run; -errno: not queued, done() won't. */
	int (*submit)(struct vmm_blk_backend *b, struct vmm_blk_io *io);
	/* Sends queued requests to the kernel; 0 or -errno. */
	int (*kick)(struct vmm_blk_backend *b);
	/* Runs done() for every finished request; returns how many. */
	int (*complete)(struct vmm_blk_backend *b);
	/* Readable when complete() has work. */
	int (*event_fd)(struct vmm_blk_backend *b);
	/* Cheap check (no syscall) for finished requests; may be NULL. */
	bool (*has_completions)(struct vmm_blk_backend *b);
	/* Frees the backend; no request may be in flight. */
	void (*close)(struct vmm_blk_backend *b);
};

struct vmm_blk_backend {
	const struct vmm_blk_ops *ops;
	uint64_t size_bytes;
	uint32_t sector_bytes;    /* logical block size the guest sees */
	bool readonly;
	bool can_discard;
};

/*
 * Opens a raw image file on io_uring with 'depth' requests in flight.
 * Returns 0, -ENOENT, -EACCES, -EBUSY (another process holds its lock:
 * the message names the holder's pid), -errno.
 */
int vmm_blk_raw_open(const char *path, bool readonly, unsigned int depth,
		     struct vmm_blk_backend **out, char *err, size_t errlen)
	must_check;

#endif
