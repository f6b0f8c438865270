/* SPDX-License-Identifier: MIT */
/*
 * A chain: the layers a disk reads through, top first. The top is the
 * disk's own data (a delta, or the flat file of a disk without
 * snapshots); below it the frozen snapshot nodes, down to the base (a
 * flat file, or a delta reading zeros where it has nothing).
 *
 * chain.c      opening chains from descriptors, the layer cache,
 *              reconfiguration while the gate is closed, map
 * chain-io.c   the data path: reads falling through, copy-on-write in
 *              4 KiB units, packed allocation, group commits, and the
 *              interlocks merges need (copy ranges, mirrored writes)
 * provider.c   what vdisk calls (vdisk-provider.h)
 *
 * The layer cache remembers, per 64 grains, which frozen layer holds
 * each grain (and where), so a read below the top costs one top lookup
 * and one cache lookup whatever the depth. It is rebuilt lazily after
 * every reconfiguration.
 *
 * Locking: 'mu' guards the tables of every layer, the cache, the
 * allocation state, the write ranges in flight and the merge state. The
 * data path holds it only while planning and installing, never across
 * I/O.
 */
#ifndef SNAPSHOT_CHAIN_H
#define SNAPSHOT_CHAIN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "snapshot/delta.h"
#include "vdisk/vdisk-provider.h"

#define CHAIN_MAX VDISK_MAX_CHAIN

struct chain_layer {
	struct vdisk_store *st;       /* its folder's store */
	bool own_store;               /* 'st' opened for this layer */
	char desc_name[DESC_NAME_MAX + 1]; /* its descriptor ("" for none) */
	char data_name[DESC_NAME_MAX + 1];
	char path[4096];              /* descriptor path, for messages */
	struct vdisk_desc *desc;
	struct delta *delta;          /* NULL: a flat file */
	struct store_file *flat;      /* the flat file (flat layers) */
	struct store_lock *lock;      /* shared lock on a frozen node */
	bool writable;
};

/* Where a grain's current bytes are. */
struct chain_where {
	int layer;                    /* -1: nowhere, reads as zeros */
	uint64_t off;                 /* byte offset in that layer's file */
};

struct chain_wrange;
struct chain_lq;
struct chain_req;

/* M_up in progress: the top's grains are being copied into 'target'. */
struct chain_mirror {
	int target;                   /* layer index */
	uint64_t *copied;             /* one bit per grain: done */
};

struct chain {
	pthread_mutex_t mu;
	struct vdisk *disk;           /* NULL: offline (no engine) */
	struct vdisk_store *st;       /* the disk's store */
	uint64_t capacity;
	uint64_t ngrains;
	unsigned int n;               /* layers */
	struct chain_layer *l[CHAIN_MAX];
	/* The layer cache over layers 1..n-1. */
	uint64_t ***cache;            /* [grain >> 12][(grain >> 6) & 63] */
	uint32_t cache_roots;
	/* Requests writing (or copying) in flight, for interlocks. */
	struct chain_wrange *active;
	/* Group commit of the top's metadata. */
	bool committing;
	struct chain_req *commit_waiters;
	/* Merge state (merge.c). */
	struct chain_mirror *mirror;
	uint64_t copied_grains;       /* grains copied by merges (stats) */
	uint64_t gen;                 /* bumped at every reconfiguration */
};

/*
 * Opens the chain below descriptor 'd' (named 'leaf' in 'st', 'path' for
 * messages): follows parent links, checks content IDs and capacities,
 * takes shared locks on frozen nodes, loads every delta. 'top_writable'
 * opens layer 0 read-write. On error nothing stays open and
 * vdisk_last_error() says what is wrong (missing or corrupt delta,
 * broken link, CID mismatch).
 */
int chain_open(struct vdisk_store *st, const char *leaf, const char *path,
	       const struct vdisk_desc *d, bool top_writable,
	       struct chain **out);
/*
 * Commits and closes every layer, drops locks, frees. Returns the first
 * error of a commit (the chain is freed anyway). NULL: no-op.
 */
int chain_close(struct chain *c);

/* Finds where grain 'g' reads from (caller holds mu). */
void chain_resolve(struct chain *c, uint64_t g, struct chain_where *w);
/* Same, looking only at layers from 'from' down (caller holds mu). */
void chain_resolve_below(struct chain *c, unsigned int from, uint64_t g,
			 struct chain_where *w);
/* Drops the layer cache (after the layers changed; caller holds mu). */
void chain_cache_clear(struct chain *c);
/* The file a layer's bytes are in. */
struct store_file *chain_layer_file(const struct chain_layer *l);

/* vdisk_map() over the chain. */
int chain_map(struct chain *c, uint64_t off, uint64_t len,
	      vdisk_extent_fn fn, void *priv);
/* Space of the top layer's file. */
uint64_t chain_allocated(struct chain *c);

/* Opens one layer from its descriptor name (for chain changes). */
int chain_layer_open(struct vdisk_store *st, const char *dir_path,
		     const char *desc_name, bool writable, bool lock,
		     struct chain_layer **out);
/* The same from a descriptor in memory (not locked). */
int chain_layer_from_desc(struct vdisk_store *st, const char *leaf,
			  const char *path, const struct vdisk_desc *d,
			  bool writable, struct chain_layer **out);
void chain_layer_close(struct chain_layer *l);
/*
 * Makes frozen layer 'idx' writable for a merge into it: exclusive lock
 * on its node (-EBUSY when others share it), file reopened read-write.
 * For a live chain, with the gate closed.
 */
int chain_layer_make_writable(struct chain *c, unsigned int idx);
/* Where layer 'desc_name' sits in the chain, or -1. */
int chain_find(const struct chain *c, const char *desc_name);

/* ---- data path (chain-io.c) ---- */

/* vdisk's layer ops for a chain. */
extern const struct vdisk_layer_ops chain_layer_ops;

/*
 * Per-queue state for a bare queue (merges, offline copies); the engine
 * makes its own for disk queues through chain_layer_ops.
 */
int chain_lq_create(struct chain *c, struct vdisk_queue *q,
		    struct chain_lq **out);
void chain_lq_destroy(struct chain_lq *lq);
/* Runs posted work and completions for 'lq' (bare queues). */
void chain_lq_run(struct chain_lq *lq);

/*
 * Copies grains of layer 'src' into layer 'dst' through 'lq', for the
 * grains in [first, first+count) that 'pick' accepts (called under mu,
 * returns true to copy). Interlocks with guest writes in flight.
 * 'done' is called (from lq's thread) with the result when the batch is
 * finished. Used by merge.c.
 */
typedef bool (*chain_pick_fn)(struct chain *c, uint64_t grain, void *priv);
int chain_copy_batch(struct chain_lq *lq, int src, int dst, uint64_t first,
		     uint64_t count, chain_pick_fn pick, void *priv,
		     void (*done)(void *priv, int result), void *done_priv);
/*
 * Commits the metadata of layer 'idx' with synchronous I/O, holding mu
 * only to capture (guest I/O goes on meanwhile).
 */
int chain_commit_layer(struct chain *c, unsigned int idx);

#endif
