/* SPDX-License-Identifier: MIT */
/*
 * The block-backend interface behind virtio-blk: what a disk
 * implementation provides so the device model can run many requests at
 * once without knowing where the bytes live. Two implementations: raw
 * image files and block devices on io_uring (block-raw.c), and disks
 * opened through the vdisk I/O engine (block-vdisk.c): vdisk
 * descriptors on a local filesystem or in the clustered datastore
 * ("LUN:/vm1/disk.vmdk"). vmm_blk_open() picks one by looking at the path.
 *
 * Threading: one backend belongs to one I/O thread at a time. That
 * thread calls attach() first (an io_uring set up for a single issuer
 * must be created by the thread that submits), then submit() queues,
 * kick() pushes queued work to the kernel, and when event_fd() becomes
 * readable, complete() runs the done() callbacks on that same thread;
 * detach() ends the binding once nothing is in flight. The device model
 * starts a new I/O thread each time the guest driver starts the device.
 *
 * Ownership: from submit() until its done() runs, 'io' and the memory
 * its iovecs point to belong to the backend.
 */
#ifndef VMM_BLOCK_H
#define VMM_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/compiler.h"

struct vdisk;

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
	/* Binds the backend's queue to the calling thread; 0 or -errno.
	   May be NULL (the backend works from any one thread). */
	int (*attach)(struct vmm_blk_backend *b);
	/* Ends attach(); nothing may be in flight. May be NULL. */
	void (*detach)(struct vmm_blk_backend *b);
	/* Frees the backend; no request may be in flight, not attached. */
	void (*close)(struct vmm_blk_backend *b);
};

struct vmm_blk_backend {
	const struct vmm_blk_ops *ops;
	uint64_t size_bytes;
	uint32_t sector_bytes;    /* logical block size the guest sees */
	bool readonly;
	bool can_discard;
	char desc[64];            /* what the disk is ("vdisk thin"), for
				     logs and stats */
	struct vdisk *vdisk;      /* the engine's disk (block-vdisk.c), or
				     NULL: what snapshot requests run on */
};

/*
 * Opens the disk at 'path' with 'depth' requests in flight:
 *   "LUN:/dir/disk.vmdk"   a vdisk in the datastore on LUN (any LUN URI)
 *   a local vdisk descriptor ("# Disk DescriptorFile")
 *   anything else local    a raw image file or block device
 * qcow2 and sparse vmdk images are refused with a hint to import them.
 * 'err' gets one line on failure. Returns 0, -ENOENT, -EACCES, -EBUSY
 * (held by another VM: the message names the holder), -EINVAL, -errno.
 */
int vmm_blk_open(const char *path, bool readonly, unsigned int depth,
		 struct vmm_blk_backend **out, char *err, size_t errlen)
	must_check;

/*
 * Whether 'path' names a disk of the vdisk engine (a datastore path or a
 * local descriptor), the only kind that has snapshots and disk modes.
 */
bool vmm_blk_is_vdisk(const char *path);

/*
 * Opens a raw image file on io_uring with 'depth' requests in flight.
 * Returns 0, -ENOENT, -EACCES, -EBUSY (another process holds its lock:
 * the message names the holder's pid), -errno.
 */
int vmm_blk_raw_open(const char *path, bool readonly, unsigned int depth,
		     struct vmm_blk_backend **out, char *err, size_t errlen)
	must_check;
/*
 * Opens a vdisk disk (local descriptor or "LUN:/path") through the
 * vdisk I/O engine, holding its lock until close. Same returns.
 */
int vmm_blk_vdisk_open(const char *path, bool readonly, unsigned int depth,
		       struct vmm_blk_backend **out, char *err, size_t errlen)
	must_check;

#endif
