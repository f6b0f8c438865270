/* SPDX-License-Identifier: MIT */
/*
 * Shared by the vdisk sources only: the descriptor model, the disk object and the
 * CBT state. The backing store interface is in store.h, image formats in
 * image.h, NBD protocol constants in nbd-proto.h.
 */
#ifndef VDISK_INTERNAL_H
#define VDISK_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vdisk/store.h"
#include "vdisk/vdisk.h"

/*
 * Records why an operation failed, for vdisk_last_error() (the tools
 * print it as their one error line), and logs it at debug level.
 */
void vdisk_err(const char *topic, const char *fmt, ...) printf_like(2, 3);

/* ---- descriptor (descriptor.c) ---- */

#define DESC_MAX_BYTES (64u << 10)
#define DESC_MAX_EXTENTS 64
#define DESC_MAX_EXTRA 64
#define DESC_NAME_MAX 255
#define DESC_NO_PARENT 0xffffffffu

enum desc_access {
	DESC_RW = 0,
	DESC_RDONLY,
	DESC_NOACCESS,
};

/*
 * Extent kinds. Our own disks use VMFS (a flat file that is the whole
 * disk, thin or thick by the store's allocation). FLAT/SPARSE/ZERO appear
 * in images we import. DELTA is reserved for the snapshot layer's delta
 * disks (4 KiB grains, 64-bit grain-table entries): parsed and kept here,
 * opened by the snapshot layer.
 */
enum desc_kind {
	DESC_EXT_FLAT = 0,
	DESC_EXT_VMFS,
	DESC_EXT_ZERO,
	DESC_EXT_SPARSE,
	DESC_EXT_VMFSSPARSE,
	DESC_EXT_SESPARSE,
	DESC_EXT_DELTA,
};

struct desc_extent {
	enum desc_access access;
	enum desc_kind kind;
	uint64_t sectors;            /* size of this extent */
	uint64_t offset_sectors;     /* FLAT: start inside the file */
	char file[DESC_NAME_MAX + 1];/* "" for ZERO */
};

struct desc_kv {
	char key[64];
	char value[256];
};

struct vdisk_desc {
	unsigned int version;        /* 1..3 */
	uint32_t cid;                /* content ID */
	uint32_t parent_cid;         /* DESC_NO_PARENT without a parent */
	char create_type[64];        /* "vmfs", "monolithicFlat", ... */
	char parent_hint[DESC_NAME_MAX + 1]; /* parent descriptor, "" none */
	char change_track[DESC_NAME_MAX + 1]; /* CBT file, "" when off */
	enum vdisk_type type;
	unsigned int nextents;
	struct desc_extent ext[DESC_MAX_EXTENTS];
	/* Keys this code does not interpret, kept in order for others
	 * (ddb.geometry.*, the snapshot layer's ddb.vstack.delta.*). */
	unsigned int nextra;
	struct desc_kv extra[DESC_MAX_EXTRA];
};

/*
 * Parses descriptor text (untrusted). 0, or -EUCLEAN with a reason in
 * 'err' (line number and what is wrong).
 */
int vdisk_desc_parse(const char *text, size_t len, struct vdisk_desc *out,
		     char *err, size_t errlen);
/* Writes the text; returns its length or -ENOSPC. */
int vdisk_desc_format(const struct vdisk_desc *d, char *buf, size_t len);
/* Sum of the extents, in bytes. */
uint64_t vdisk_desc_capacity(const struct vdisk_desc *d);
/* A descriptor for a new disk of one VMFS extent. */
void vdisk_desc_init(struct vdisk_desc *d, uint64_t capacity_bytes,
		     enum vdisk_type type, const char *data_file);
const char *vdisk_desc_kind_name(enum desc_kind kind);
uint32_t vdisk_new_cid(void);

/* ---- naming (disk.c) ---- */

/*
 * The files of disk "NAME.vmdk": NAME-flat.vmdk (data), NAME-ctk.vmdk
 * (CBT map); a name without ".vmdk" gets "-flat" and "-ctk" appended.
 */
void vdisk_name_data(const char *leaf, char *out, size_t len);
void vdisk_name_ctk(const char *leaf, char *out, size_t len);

/* ---- CBT (cbt.c) ---- */

struct vdisk_cbt;

/*
 * Loads the map 'name' for a disk of 'capacity' bytes. For a read-write
 * open it first marks the file "open" durably, so a crash before
 * vdisk_cbt_close() is seen at the next load (the map becomes unknown).
 */
int vdisk_cbt_load(struct vdisk_store *st, const char *name,
		   uint64_t capacity, bool writable, struct vdisk_cbt **out);
/* Creates an empty known map at epoch 1. */
int vdisk_cbt_create(struct vdisk_store *st, const char *name,
		     uint64_t capacity);
/* Declares the map unknown (the content jumped: a snapshot revert). */
void vdisk_cbt_forget(struct vdisk_cbt *cbt, const char *why);
/* Records a write of [off, off+len); lock-free, any thread. */
void vdisk_cbt_mark(struct vdisk_cbt *cbt, uint64_t off, uint64_t len);
/* Writes the map and the clean mark (read-write), frees. NULL: no-op. */
void vdisk_cbt_close(struct vdisk_cbt *cbt);
int vdisk_cbt_resize(struct vdisk_cbt *cbt, uint64_t capacity);
bool vdisk_cbt_known(const struct vdisk_cbt *cbt);
uint64_t vdisk_cbt_epoch(const struct vdisk_cbt *cbt);
int vdisk_cbt_walk(struct vdisk_cbt *cbt, uint64_t epoch, vdisk_extent_fn fn,
		   void *priv);
int vdisk_cbt_new_epoch(struct vdisk_cbt *cbt, uint64_t *epoch);
/*
 * Reads the header without loading: 'open' set means opened read-write
 * now, or not closed cleanly (the caller tells them apart by the lock).
 */
int vdisk_cbt_peek(struct vdisk_store *st, const char *name, bool *known,
		   bool *open, uint64_t *epoch);
/*
 * Verifies the file: 0 fine, 1 damaged, 2 damaged and repaired (rewritten
 * as unknown, with 'repair'), or -errno; 'err' says what is wrong.
 */
int vdisk_cbt_check(struct vdisk_store *st, const char *name,
		    uint64_t capacity, bool repair, char *err, size_t errlen);

/* ---- the open disk ---- */

/* Thin disks on local files allocate this much ahead of first writes. */
#define VDISK_ALLOC_CHUNK (1ull << 20)

struct vdisk {
	struct vdisk_store *store;
	char leaf[DESC_NAME_MAX + 1];      /* descriptor name in the store */
	char path[4096];                   /* as given to vdisk_open() */
	struct vdisk_desc desc;
	uint64_t capacity;
	bool read_only;
	struct store_lock *lock;
	struct store_file *data;           /* the VMFS extent, direct I/O */
	/* The same file through the page cache, for the synchronous
	 * helpers (tools: import, export, clone); NULL where the store
	 * cannot open a file twice, and 'data' is bounced instead. */
	struct store_file *data_cached;
	struct vdisk_cbt *cbt;             /* NULL when tracking is off */
	pthread_mutex_t mu;                /* desc updates, cbt reset, queues */
	/*
	 * A layered disk (vdisk-provider.h): requests go to the layer
	 * instead of the store, and 'data' is the layer's current top file
	 * (what new queues are created on). NULL for a plain disk.
	 */
	const struct vdisk_layer_ops *layer_ops;
	void *layer;
	/* The gate (engine.c): closed, new requests wait; 'active' counts
	 * requests between submit and done(). */
	int gate;
	unsigned long active;
	pthread_mutex_t gate_mu;
	pthread_cond_t gate_cv;
	struct vdisk_queue *queues;        /* under 'mu' */
	/* Synchronous helpers of layered disks run on this queue. */
	struct vdisk_queue *sync_q;
	pthread_t sync_owner;              /* the thread that made it */
	pthread_mutex_t sync_mu;
};

/* Engine-private request flag: a layer's sub-request (vdisk-provider.h). */
#define VDISK_IO_SUB (1u << 7)

/* Gate and queue registry set-up and tear-down (engine.c). */
void vdisk_engine_init(struct vdisk *disk);
void vdisk_engine_fini(struct vdisk *disk);

/* Reads and parses the descriptor 'leaf' in 'st'. */
int vdisk_desc_load(struct vdisk_store *st, const char *leaf,
		    struct vdisk_desc *d);
/* Writes the descriptor atomically (temp file + rename). */
int vdisk_desc_store(struct vdisk_store *st, const char *leaf,
		     const struct vdisk_desc *d);
/* Checks the descriptor describes a disk this layer opens itself. */
int vdisk_desc_check_openable(const struct vdisk_desc *d, const char *path);

/* Gives [off, end) the allocation of 'type', sliced for progress. */
int vdisk_allocate_range(struct vdisk_store *st, struct store_file *f,
			 uint64_t off, uint64_t end, enum vdisk_type type,
			 struct progress *progress);
/*
 * Creates disk 'leaf' in 'st'; without 'allocate' the data file stays
 * sparse whatever the type (clone and import fill it, then allocate).
 */
int vdisk_create_in(struct vdisk_store *st, const char *leaf,
		    const struct vdisk_create_opts *o, bool allocate);

/* True when all 'len' bytes are zero. */
bool vdisk_buf_is_zero(const void *buf, size_t len);

/*
 * Points 'out' at bytes [from, from+len) of the request's buffers and
 * returns how many iovecs that took ('out' NULL: only counts them).
 */
unsigned int vdisk_io_slice(const struct vdisk_io *io, uint64_t from,
			    uint64_t len, struct iovec *out);
/* Zeros bytes [from, from+len) of the request's buffers. */
void vdisk_io_zero(const struct vdisk_io *io, uint64_t from, uint64_t len);

#endif
