/* SPDX-License-Identifier: MIT */
/*
 * The backing store under a disk: a folder of named files with
 * allocation types, locks and an asynchronous data path. Two
 * implementations: store-local.c (a folder on a local filesystem, io_uring
 * on O_DIRECT files, OFD locks) and, once the datastore's file API
 * exists, the clustered datastore (its files, allocation types, file
 * locks and block maps for direct LUN I/O).
 *
 * Everything above this interface (descriptor, disk operations, engine,
 * CBT, import/export, NBD) is the same for both.
 */
#ifndef VDISK_STORE_H
#define VDISK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct vdisk_store;
struct store_file;
struct store_lock;
struct store_queue;
struct vdisk_io;

/* store_file_open() flags */
#define STORE_RDONLY (1u << 0)
#define STORE_CREATE (1u << 1)  /* create; -EEXIST if present */
#define STORE_DIRECT (1u << 2)  /* bypass caches (data path) */
/* Wait for a short-lived lock elsewhere (descriptors, which other
 * openers hold only while rewriting them) instead of failing -EBUSY. */
#define STORE_WAIT (1u << 3)

enum store_alloc {
	STORE_ALLOC_THIN = 0,   /* nothing reserved */
	STORE_ALLOC_RESERVE,    /* reserved, reads zeros, zeroed lazily */
	STORE_ALLOC_ZERO,       /* reserved and written with zeros */
};

/* Extent flags from store_file_map(): VDISK_EXTENT_* in vdisk.h. */
typedef int (*store_extent_fn)(void *priv, uint64_t off, uint64_t len,
			       unsigned int flags);

struct store_ops {
	const char *name;        /* "local", "datastore" */
	void (*close)(struct vdisk_store *st);

	int (*file_open)(struct vdisk_store *st, const char *name,
			 unsigned int flags, struct store_file **out);
	void (*file_close)(struct store_file *f);
	int (*exists)(struct vdisk_store *st, const char *name);
	int (*unlink)(struct vdisk_store *st, const char *name);
	/* Atomic replace of 'to' by 'from' (same store). */
	int (*rename)(struct vdisk_store *st, const char *from, const char *to);

	/* Synchronous, any alignment: descriptors, CBT files, tools. */
	int (*pread)(struct store_file *f, void *buf, size_t len, uint64_t off);
	int (*pwrite)(struct store_file *f, const void *buf, size_t len,
		      uint64_t off);
	int (*sync)(struct store_file *f);
	/* Starts writing [off, off+len) back without waiting; NULL: no-op. */
	void (*writeback)(struct store_file *f, uint64_t off, uint64_t len);
	int (*get_size)(struct store_file *f, uint64_t *size);
	/* Grows or shrinks; new space is unallocated (reads zeros). */
	int (*set_size)(struct store_file *f, uint64_t size);
	/* Gives [off, off+len) the allocation 'how' without changing data
	 * already written (ZERO writes zeros only where nothing is). */
	int (*allocate)(struct store_file *f, uint64_t off, uint64_t len,
			enum store_alloc how);
	/* Makes the range read zeros; 'unmap' frees its space. */
	int (*zero_range)(struct store_file *f, uint64_t off, uint64_t len,
			  bool unmap);
	int (*map)(struct store_file *f, uint64_t off, uint64_t len,
		   store_extent_fn fn, void *priv);
	uint64_t (*allocated_bytes)(struct store_file *f);

	/*
	 * Locks disk 'name' (exclusive or shared) for this opener, recording
	 * 'who' for others to read. -EBUSY on conflict.
	 */
	int (*lock)(struct vdisk_store *st, const char *name, bool exclusive,
		    struct store_lock **out);
	void (*unlock)(struct store_lock *lk);
	/* Fills 'buf' with the holder of a lock on 'name'; false: none. */
	bool (*lock_holder)(struct vdisk_store *st, const char *name,
			    char *buf, size_t len);

	/*
	 * Thin files only: allocate in 'chunk_bytes' extents ahead of the
	 * first write into each, so first writes do not each allocate a
	 * block on their own (the datastore does this itself: NULL).
	 */
	void (*set_alloc_chunk)(struct store_file *f, uint64_t chunk_bytes,
				uint64_t size);

	/* Asynchronous data path on a file opened with STORE_DIRECT. */
	int (*queue_create)(struct store_file *f, unsigned int depth,
			    struct store_queue **out);
	void (*queue_destroy)(struct store_queue *q);
	int (*queue_event_fd)(struct store_queue *q);
	/* Makes queue_event_fd() readable from any thread; NULL: writing
	   1 to that fd does (it is an eventfd). */
	void (*queue_wake)(struct store_queue *q);
	/* 'io' validated by the engine; offsets are file offsets. */
	int (*submit)(struct store_queue *q, struct vdisk_io *io);
	int (*kick)(struct store_queue *q);
	/* Completes requests through vdisk_engine_complete(); count or
	 * -errno. */
	int (*poll)(struct store_queue *q, unsigned int min_done,
		    int timeout_ms);
};

struct vdisk_store {
	const struct store_ops *ops;
};

/* Stores report every completed request here (engine.c), from poll(). */
void vdisk_engine_complete(struct vdisk_io *io, int64_t result);

/*
 * Splits a disk path into its store and the leaf name inside it:
 * "LUN:/dir/name.vmdk" -> the datastore on LUN, folder /dir;
 * anything else -> the local folder. 'leaf' gets the last component.
 */
int vdisk_store_open(const char *path, struct vdisk_store **out, char *leaf,
		     size_t leaf_len);
void vdisk_store_close(struct vdisk_store *st);
/* True when both paths are in the same store folder. */
bool vdisk_store_same(const char *a, const char *b);

int vdisk_store_local_open(const char *dir, struct vdisk_store **out);
/* The folder 'dir' ("/vm1") of the datastore on LUN URI 'lun'. */
int vdisk_store_vfs_open(const char *lun, const char *dir,
			 struct vdisk_store **out);

/* Reads a whole small file (at most 'max' bytes); caller frees. */
int vdisk_store_read_all(struct vdisk_store *st, const char *name, size_t max,
			 char **out, size_t *len);
/* Writes a whole small file durably through a temp file and rename. */
int vdisk_store_write_atomic(struct vdisk_store *st, const char *name,
			     const void *buf, size_t len);

#endif
