/* SPDX-License-Identifier: MIT */
/*
 * What a provider of layered disks plugs into vdisk with: the snapshot
 * layer's delta chains. vdisk itself knows nothing about grains, chains
 * or trees. A descriptor vdisk cannot open on its own (a parent link, a
 * VSDELTA extent, a read-only snapshot node) is handed to the registered
 * provider, which opens the files and installs a *layer*; the engine then
 * gives every request of that disk to the layer instead of the store, so
 * every client of the engine (virtio-blk, NBD, the backup proxy) reads
 * and writes through the chain without knowing it is there.
 *
 * Online operations (snapshot create, merge switches) stop a disk's
 * requests with the *gate*: closing it holds new requests in their queues
 * and waits until those in flight are done; opening it lets the held ones
 * go, in order. While it is closed the provider may swap the layer.
 *
 * A layer sends its own I/O (grain reads, copy-on-write, metadata) as
 * sub-requests through the queue's store queue to any file of the same
 * store (vdisk_sub_submit()); their done() runs inside vdisk_poll() like
 * any completion. Layers complete the caller's request with
 * vdisk_engine_complete().
 *
 * Only the provider includes this header (and the vdisk internals it
 * brings): tools and tests use vdisk.h and snapshot.h.
 */
#ifndef VDISK_PROVIDER_H
#define VDISK_PROVIDER_H

#include "vdisk/image.h"
#include "vdisk/vdisk-internal.h"

struct vdisk_layer_ops {
	/*
	 * Per-queue state, made the first time a queue meets this layer
	 * (from the queue's thread); fini frees it (queue destroy, or the
	 * layer replaced while the gate was closed).
	 */
	int (*queue_init)(void *layer, struct vdisk_queue *q, void **lq);
	void (*queue_fini)(void *layer, void *lq);
	/*
	 * Takes a validated caller request (store_op set by the type
	 * rules). 0: it will complete through vdisk_engine_complete();
	 * -errno: refused, nothing happened.
	 */
	int (*submit)(void *layer, void *lq, struct vdisk_io *io);
	/* Runs work other threads handed to this queue; from vdisk_poll(). */
	void (*run)(void *layer, void *lq);
	/* vdisk_map() of the layered disk. */
	int (*map)(void *layer, uint64_t off, uint64_t len, vdisk_extent_fn fn,
		   void *priv);
	/* Space the disk's own files take (vdisk_get_info()). */
	uint64_t (*allocated_bytes)(void *layer);
	/* vdisk_close(): every queue is gone; closes the layer's files. */
	void (*close)(void *layer);
};

struct vdisk_provider {
	/*
	 * vdisk_open() calls this with the lock held and disk->desc loaded.
	 * Returns 1 when vdisk should open the disk itself (it may have
	 * finished an interrupted operation first and reloaded disk->desc),
	 * 0 when the provider opened it (vdisk_layer_set() called, capacity
	 * and data set), or -errno with vdisk_err() saying why.
	 */
	int (*open)(struct vdisk *disk);
	/* vdisk_check() of 'path': 1 when vdisk should check it itself. */
	int (*check)(const char *path, bool repair,
		     struct vdisk_check_report *rep);
	/*
	 * vdisk_remove() of 'path', with the disk's lock held: removes what
	 * the provider keeps beside disk 'leaf' (snapshot nodes, the tree).
	 * 0, or -errno to refuse (nothing removed).
	 */
	int (*remove)(struct vdisk_store *st, const char *path,
		      const char *leaf, const struct vdisk_desc *d);
};

/* Registers the provider (a constructor of the snapshot library). */
void vdisk_provider_register(const struct vdisk_provider *p);
/* The registered provider, NULL if none. */
const struct vdisk_provider *vdisk_provider_get(void);

/*
 * Closes the gate of 'disk': new requests are held, and this waits up to
 * 'timeout_ms' for every request in flight to complete. 0, or
 * -ETIMEDOUT (the gate is open again). One closer at a time per disk.
 */
int vdisk_gate_close(struct vdisk *disk, int timeout_ms) must_check;
/* Opens it: held requests go on, in order, from their own threads. */
void vdisk_gate_open(struct vdisk *disk);
/*
 * Installs 'layer' as the disk's layer (NULL: plain again). During
 * open, or with the gate closed. Queues meet the new layer at their next
 * request; state of the old one is freed through its queue_fini.
 */
void vdisk_layer_set(struct vdisk *disk, const struct vdisk_layer_ops *ops,
		     void *layer);

/*
 * Sends a layer's sub-request 'sub' to file 'f' (a file of the disk's
 * store) through queue 'q'. 'sub' is prepared with vdisk_io_prep_*();
 * its done() runs inside vdisk_poll() on q's thread. 0, or -EAGAIN when
 * the store queue is full (try again after a completion), or -errno.
 */
int vdisk_sub_submit(struct vdisk_queue *q, struct store_file *f,
		     struct vdisk_io *sub) must_check;
/* Sub-requests of 'q' still at the store. */
unsigned int vdisk_sub_inflight(const struct vdisk_queue *q);
/*
 * A queue of the provider's own, for sub-requests only (merges, offline
 * work), on store 'st' ('anchor' is any file of it). Destroyed with
 * vdisk_queue_destroy(); used from one thread.
 */
int vdisk_bare_queue_create(struct vdisk_store *st, struct store_file *anchor,
			    unsigned int depth, struct vdisk_queue **out)
	must_check;
/*
 * Runs done() of completed sub-requests; with none in flight, waits up to
 * 'timeout_ms' for a wakeup (vdisk_queue_wake()) instead. Count or -errno.
 */
int vdisk_sub_poll(struct vdisk_queue *q, int timeout_ms);
/* Makes q's poller run the layer's run() soon; any thread. */
void vdisk_queue_wake(struct vdisk_queue *q);
struct vdisk *vdisk_queue_disk(const struct vdisk_queue *q);

/*
 * Test hook: every local-folder store opened from now on is passed to
 * 'wrap', which may return a store of its own around it (the snapshot
 * tests log every write to replay crashes). NULL: none.
 */
typedef int (*vdisk_store_wrap_fn)(struct vdisk_store *inner,
				   struct vdisk_store **out);
void vdisk_store_set_local_wrapper(vdisk_store_wrap_fn wrap);

#endif
