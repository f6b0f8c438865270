/* SPDX-License-Identifier: MIT */
/*
 * Virtual disks: the only header other components include.
 *
 * A disk is a small text descriptor in VMDK-descriptor style (capacity,
 * type, extents, parent, content ID, changed-block tracking) plus a data
 * file, as ESX keeps "disk.vmdk" and "disk-flat.vmdk" on VMFS. A disk is
 * named by a path:
 *   /dir/disk.vmdk            a local filesystem
 *   LUN:/vm1/disk.vmdk        a file inside the clustered datastore on LUN
 *                             (any LUN URI from vfs-cluster/lun.h)
 * Allocation is the backing store's: thin data files are sparse, lazily
 * zeroed thick ones are reserved but unwritten (reads give zeros), eagerly
 * zeroed thick ones are written with zeros at creation.
 *
 * Errors are negative errnos:
 *   -ENOENT     no such disk
 *   -EEXIST     the destination exists
 *   -EBUSY      the disk is locked by another opener (vdisk_lock_holder())
 *   -EUCLEAN    a descriptor, CBT map or image is corrupt
 *   -EINVAL     bad argument (size not a multiple of 512, bad type, ...)
 *   -ERANGE     I/O beyond the capacity
 *   -EROFS      write to a disk opened read-only
 *   -EOPNOTSUPP a feature this build lacks (delta extents need the
 *               snapshot layer, a qcow2 with an external data file, ...)
 *   -ESTALE     changed-block tracking cannot answer (unknown or another
 *               epoch): do a full backup
 * A message naming the reason goes to the log ("vdisk" topics) where the
 * errno alone would not tell an operator what is wrong.
 *
 * Threading: a 'struct vdisk' may be shared between threads for the
 * calls marked "any thread"; each thread doing I/O creates its own
 * 'struct vdisk_queue'.
 */
#ifndef VDISK_VDISK_H
#define VDISK_VDISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/compiler.h"

struct vdisk;
struct vdisk_queue;
struct progress;
struct store_file;

#define VDISK_SECTOR 512u
/* Largest capacity: 64 TiB (VMFS-6 limit; keeps maps and CBT small). */
#define VDISK_MAX_CAPACITY (64ull << 40)

enum vdisk_type {
	VDISK_THIN = 0,         /* allocated on first write */
	VDISK_ZEROEDTHICK,      /* reserved at creation, zeroed on first write */
	VDISK_EAGERZEROEDTHICK, /* reserved and zeroed at creation */
};

/*
 * Why the last failed call of this thread failed, in words ("disk.vmdk:
 * locked by host h1 pid 42 ..."), or "" when nothing was recorded. The
 * tools print it as their one error line.
 */
const char *vdisk_last_error(void);
void vdisk_clear_error(void);

/* "thin", "zeroedthick", "eagerzeroedthick"; NULL for a bad value. */
const char *vdisk_type_name(enum vdisk_type type);
/* Parses a type name; 0 or -EINVAL. */
int vdisk_type_parse(const char *name, enum vdisk_type *out);

/* ---- disk operations (path level) ---- */

struct vdisk_create_opts {
	uint64_t capacity_bytes;  /* multiple of 512, <= VDISK_MAX_CAPACITY */
	enum vdisk_type type;
	bool cbt;                 /* enable changed-block tracking */
	struct progress *progress; /* may be NULL */
};

/* Creates descriptor and data file; -EEXIST if either exists. */
int vdisk_create(const char *path, const struct vdisk_create_opts *opts)
	must_check;
/*
 * Grows the capacity to 'new_capacity_bytes' (a multiple of 512). Thin
 * and lazily zeroed disks grow in constant time; an eagerly zeroed one
 * zeroes the new range. Shrinking is -EINVAL. Takes the exclusive lock.
 */
int vdisk_extend(const char *path, uint64_t new_capacity_bytes,
		 struct progress *progress) must_check;
/* Thin or lazily zeroed -> eagerly zeroed thick, contents unchanged. */
int vdisk_inflate(const char *path, struct progress *progress) must_check;
/* Copies 'src' to a new disk 'dst' of 'type', never writing zeros. */
int vdisk_clone(const char *src, const char *dst, enum vdisk_type type,
		struct progress *progress) must_check;
/* Renames descriptor, data and CBT files (same store). */
int vdisk_rename(const char *src, const char *dst) must_check;
/* Removes descriptor, data, CBT and lock files; -EBUSY when open. */
int vdisk_remove(const char *path) must_check;

struct vdisk_check_report {
	unsigned int errors;     /* problems found */
	unsigned int repaired;   /* of those, fixed with 'repair' */
	char first[256];         /* the first problem, for people */
};
/*
 * Checks descriptor, data file size and CBT map against each other;
 * with 'repair' fixes what is safe to fix (a short data file is extended,
 * a damaged CBT map is reset to unknown). Returns 0 when the check ran
 * (see 'rep'), or -errno.
 */
int vdisk_check(const char *path, bool repair,
		struct vdisk_check_report *rep) must_check;

/* ---- open disks ---- */

#define VDISK_OPEN_RDONLY (1u << 0) /* shared lock, writes get -EROFS */
/*
 * 'path' is a plain raw file used as a thin disk of its size (rounded
 * down to 512): no descriptor, no CBT, no lock. For benchmarks against
 * the raw file with the same engine, and for raw images a VM boots from.
 */
#define VDISK_OPEN_RAW (1u << 1)

/*
 * Opens a disk and takes its lock (exclusive read-write, shared
 * read-only) until vdisk_close(). -EBUSY when another opener holds a
 * conflicting lock; vdisk_lock_holder() says who.
 */
int vdisk_open(const char *path, unsigned int flags, struct vdisk **out)
	must_check;
/* Flushes, records a clean close for CBT, drops the lock. NULL: no-op. */
void vdisk_close(struct vdisk *disk);

#define VDISK_MAX_CHAIN 32

struct vdisk_info {
	uint64_t capacity_bytes;
	uint64_t allocated_bytes;    /* space the data file takes */
	enum vdisk_type type;
	uint32_t cid;                /* content ID: changes with the content */
	uint32_t parent_cid;         /* 0xffffffff: no parent */
	char data_file[256];         /* name beside the descriptor */
	unsigned int chain_len;      /* this disk and its parents */
	char chain[VDISK_MAX_CHAIN][256]; /* [0] is this disk */
	bool cbt_enabled;
	bool cbt_known;              /* false after an unclean close */
	uint64_t cbt_epoch;
	bool locked;                 /* someone holds the lock */
	char lock_holder[128];       /* "host pid N since T mode rw" */
};

/* Any thread. */
int vdisk_get_info(struct vdisk *disk, struct vdisk_info *out);
/* Info without opening (no lock taken; shows who holds it). */
int vdisk_stat(const char *path, struct vdisk_info *out) must_check;
/* Who holds the lock on 'path' ("" and false when nobody). */
bool vdisk_lock_holder(const char *path, char *buf, size_t len);
uint64_t vdisk_capacity(const struct vdisk *disk);
bool vdisk_read_only(const struct vdisk *disk);

#define VDISK_EXTENT_DATA (1u << 0)      /* holds data (may be zeros) */
#define VDISK_EXTENT_ZERO (1u << 1)      /* reads as zeros */
#define VDISK_EXTENT_ALLOCATED (1u << 2) /* space reserved for it */

/*
 * Calls 'fn' for consecutive extents covering [offset, offset+len) with
 * VDISK_EXTENT_* flags, like `qemu-img map`. 'fn' returning non-zero
 * stops the walk and is returned. Any thread.
 */
typedef int (*vdisk_extent_fn)(void *priv, uint64_t offset, uint64_t len,
			       unsigned int flags);
int vdisk_map(struct vdisk *disk, uint64_t offset, uint64_t len,
	      vdisk_extent_fn fn, void *priv);

/* Synchronous I/O for tools (import, export, clone); any alignment. */
int vdisk_pread(struct vdisk *disk, void *buf, size_t len,
		uint64_t offset) must_check;
int vdisk_pwrite(struct vdisk *disk, const void *buf, size_t len,
		 uint64_t offset) must_check;
int vdisk_sync(struct vdisk *disk) must_check;

/* ---- asynchronous I/O engine ---- */

enum vdisk_op {
	VDISK_OP_READ = 1,
	VDISK_OP_WRITE,
	VDISK_OP_FLUSH,        /* every completed write becomes durable */
	VDISK_OP_DISCARD,      /* contents become zeros or stay; thin frees */
	VDISK_OP_WRITE_ZEROES, /* range reads as zeros afterwards */
};

#define VDISK_IO_FUA (1u << 0)      /* write: durable when done() runs */
#define VDISK_IO_NO_UNMAP (1u << 1) /* write-zeroes: keep it allocated */

struct vdisk_io {
	/* Filled by the caller (vdisk_io_prep_*()). */
	uint8_t op;                   /* enum vdisk_op */
	uint8_t flags;                /* VDISK_IO_* */
	uint32_t iovcnt;
	uint64_t offset_bytes;        /* multiple of 512 */
	uint64_t len_bytes;           /* multiple of 512 */
	const struct iovec *iov;      /* buffers aligned to 512 */
	void (*done)(struct vdisk_io *io); /* never NULL */
	void *priv;                   /* the caller's */
	int64_t result;               /* set before done(): bytes or -errno */
	/* Private to the engine. */
	uint8_t store_op;             /* op after type rules (discard...) */
	struct iovec iov_one;
	struct vdisk_queue *queue;
	struct vdisk_io *next;
	struct store_file *file;      /* the file it goes to (layers) */
};

/*
 * A submission queue for one thread, 'depth' requests in flight (0: 128).
 * From vdisk_submit() until done() runs, 'io' and its buffers belong to
 * the engine. done() runs only inside vdisk_poll(), so it may submit.
 */
int vdisk_queue_create(struct vdisk *disk, unsigned int depth,
		       struct vdisk_queue **out) must_check;
/* Waits for in-flight requests, then frees. NULL: no-op. */
void vdisk_queue_destroy(struct vdisk_queue *q);
/* An eventfd that becomes readable when completions are waiting. */
int vdisk_queue_event_fd(struct vdisk_queue *q);

void vdisk_io_prep_read(struct vdisk_io *io, uint64_t offset, void *buf,
			uint64_t len);
void vdisk_io_prep_write(struct vdisk_io *io, uint64_t offset,
			 const void *buf, uint64_t len, unsigned int flags);
void vdisk_io_prep_flush(struct vdisk_io *io);
void vdisk_io_prep_discard(struct vdisk_io *io, uint64_t offset,
			   uint64_t len);
void vdisk_io_prep_write_zeroes(struct vdisk_io *io, uint64_t offset,
				uint64_t len, unsigned int flags);

/*
 * Queues 'io': 0, -EAGAIN (queue full: poll first), -EINVAL (misaligned),
 * -ERANGE (beyond the capacity), -EROFS. Requests start at the next
 * vdisk_kick() or vdisk_poll().
 */
int vdisk_submit(struct vdisk_queue *q, struct vdisk_io *io) must_check;
int vdisk_kick(struct vdisk_queue *q);
/*
 * Runs done() for completed requests, waiting for 'min_done' of them up
 * to 'timeout_ms' (-1: no limit). Returns how many completed or -errno.
 */
int vdisk_poll(struct vdisk_queue *q, unsigned int min_done, int timeout_ms);
unsigned int vdisk_inflight(const struct vdisk_queue *q);

/* ---- changed-block tracking ---- */

/*
 * The map records which blocks of VDISK_CBT_BLOCK bytes were written
 * since the current epoch began. It is written at every clean close; a
 * disk opened for writing is marked "open" on disk first, so after a
 * crash the next open finds the mark and declares the map unknown (a
 * new epoch, every query -ESTALE until a full backup resets it).
 */
#define VDISK_CBT_BLOCK (64u << 10)

int vdisk_cbt_enable(const char *path) must_check;
int vdisk_cbt_disable(const char *path) must_check;
/*
 * Calls 'fn' for the changed extents since epoch 'epoch' began (flags
 * VDISK_EXTENT_DATA). -ESTALE when the map is unknown or 'epoch' is not
 * the current one; -ENODATA when tracking is off.
 */
int vdisk_cbt_query(struct vdisk *disk, uint64_t epoch, vdisk_extent_fn fn,
		    void *priv) must_check;
/*
 * Starts a new epoch with an empty, known map (after a backup has read
 * the disk); sets '*epoch'. The disk must be open read-write.
 */
int vdisk_cbt_reset(struct vdisk *disk, uint64_t *epoch) must_check;

/* ---- import and export ---- */

enum vdisk_format {
	VDISK_FMT_AUTO = 0,
	VDISK_FMT_RAW,
	VDISK_FMT_QCOW2,
	VDISK_FMT_VMDK,  /* export: monolithicSparse */
	VDISK_FMT_VMDK_STREAM, /* export: streamOptimized */
};

const char *vdisk_format_name(enum vdisk_format fmt);
int vdisk_format_parse(const char *name, enum vdisk_format *out);
/* Detects an image's format from its first bytes. */
int vdisk_image_probe(const char *path, enum vdisk_format *out) must_check;
/* The virtual size of image 'path' ('fmt' AUTO detects); checks it too. */
int vdisk_image_capacity(const char *path, enum vdisk_format fmt,
			 uint64_t *out) must_check;

struct vdisk_convert_stats {
	uint64_t bytes_written;   /* data bytes written to the destination */
	uint64_t bytes_skipped;   /* zero or unallocated bytes not written */
};

/*
 * Imports image 'src' (raw, qcow2 with its backing chain, vmdk
 * monolithicSparse / monolithicFlat / streamOptimized; 'fmt' AUTO
 * detects) into a new disk 'dst' of 'type'. Nothing is created when the
 * image is bad.
 */
int vdisk_import(const char *src, enum vdisk_format fmt, const char *dst,
		 enum vdisk_type type, struct progress *progress,
		 struct vdisk_convert_stats *stats) must_check;
/* Writes disk 'src' as image 'dst' in 'fmt' (not AUTO); -EEXIST if present. */
int vdisk_export(const char *src, const char *dst, enum vdisk_format fmt,
		 struct progress *progress,
		 struct vdisk_convert_stats *stats) must_check;

/* ---- NBD server ---- */

struct vdisk_nbd_opts {
	const char *listen;      /* "unix:PATH" or "tcp:HOST:PORT" */
	const char *export_name; /* NULL: "" is the default export */
	bool read_only;
	/* Serve this many connections, one after the other (0: forever). */
	unsigned int max_connections;
	/* Written "ready\n" once listening (-1: none), for scripts. */
	int ready_fd;
	/* Set to true (e.g. by a signal handler) to stop serving. */
	volatile int *stop;
};

/*
 * Serves an open disk over NBD (newstyle fixed handshake, structured
 * replies, base:allocation block status, flush, trim, write-zeroes)
 * until 'max_connections' have ended or '*stop'. Blocks.
 */
int vdisk_nbd_serve(struct vdisk *disk, const struct vdisk_nbd_opts *opts)
	must_check;

#endif
