/* SPDX-License-Identifier: MIT */
/*
 * The clustered datastore: the public API of vfs-cluster.
 *
 * Several hosts store their VM disks on one shared LUN (see lun.h) and
 * coordinate only through the disk: every session claims a heartbeat slot
 * and renews it from a thread; files carry on-disk locks naming {slot,
 * slot generation, mode, lock generation}; metadata changes go through a
 * per-host redo journal; a dead host is fenced, its journal replayed and
 * its locks taken over by the survivors. docs/DATASTORE.md explains the
 * design, docs/ON-DISK-FORMAT.md the bytes.
 *
 * Objects:
 *   struct vfs       a mounted datastore session (one heartbeat slot)
 *   struct vfs_file  an open file; holds the file's lock in its mode
 *   struct vfs_dir   a directory listing (a snapshot taken at open)
 *
 * Paths are absolute, '/'-separated, inside the datastore ("/vm1/disk.vmdk");
 * each name is 1..255 bytes without '/' or NUL, "." and ".." are refused.
 *
 * Threading: every function may be called from any thread. Metadata
 * operations of one session are serialised internally (they may block on
 * another host's lock for up to the lock timeout). vfs_file_map() on an
 * already mapped range takes only the file's own mutex, never waits for
 * metadata, and does no I/O: that is the steady-state data path.
 *
 * Durability: by default every metadata operation (create, mkdir, rename,
 * unlink, truncate, extend, allocation) is durable in the host's journal
 * when it returns; concurrent operations share one journal flush (group
 * commit). With VFS_MOUNT_ASYNC_COMMIT they return once their transaction
 * is queued and become durable within vfs_mount_opts.commit_ms, at
 * vfs_sync(), vfs_file_sync()/vfs_file_commit(), or before any lock is
 * handed to another host; a crash then loses the newest operations whole,
 * never half of one.
 *
 * Errors: functions return 0 (or a count) or a negative errno:
 *   -ENOENT        a path component does not exist
 *   -EEXIST        the name exists (create, mkdir, rename with NOREPLACE)
 *   -ENOTDIR       a path component is not a directory
 *   -EISDIR        a file operation on a directory
 *   -ENOTEMPTY     rmdir of a non-empty directory
 *   -ENAMETOOLONG  a name longer than VFS_NAME_MAX bytes
 *   -EINVAL        bad argument, bad path, rename into its own subtree
 *   -EBUSY         the lock is held by another host (or another open in
 *                  this session) and VFS_O_NOWAIT was given or the lock
 *                  timeout passed; unlink/rename of an open file
 *   -ESTALE        this session lost its lease (fenced or self-fenced):
 *                  every later call fails the same way; unmount
 *   -EUCLEAN       on-disk metadata failed its checksum or cross-checks
 *   -ENOSPC        no free data blocks (or metadata blocks for a create);
 *                  nothing on disk was changed
 *   -EFBIG         beyond the largest file size
 *   -EROFS         a write through a read-only session or a shared lock
 *   -EUSERS        no free heartbeat slot or journal for this session
 *   -EMEDIUMTYPE   the LUN does not hold a datastore
 *   -EPROTONOSUPPORT  a newer format version or unknown incompatible
 *                  feature: this build must not touch it
 *   -ETIMEDOUT, -EIO, -EBADE, -ENOTCONN  from the LUN (see lun.h);
 *                  -EBADE means this host has been fenced by PR
 * vfs_strerror() gives the datastore's meaning of each.
 */
#ifndef VFS_VFS_H
#define VFS_VFS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "vfs-cluster/lun.h"

struct vfs;
struct vfs_file;
struct vfs_dir;

#define VFS_NAME_MAX 255         /* bytes in one path component */
/*
 * Thin files up to this size keep their data in their inode (no file
 * block): their writes are metadata changes, durable at the next group
 * commit (within vfs_mount_opts.commit_ms, or at vfs_file_sync()). A
 * file moves to blocks when it outgrows this, is
 * provisioned thick, or is mapped (vfs_file_map()).
 */
#define VFS_SMALL_FILE_BYTES 3456u
/* Incompatible feature flags (vfs_info.incompat). */
#define VFS_FEATURE_SMALL_FILES (1ull << 0)   /* the above; mkfs sets it */
#define VFS_LABEL_MAX 63         /* bytes in a volume label */
#define VFS_HOST_NAME_MAX 63     /* bytes of a host name kept on disk */
#define VFS_MAX_SHARED_HOLDERS 28 /* hosts sharing one lock */

/* ---- formatting ---- */

struct vfs_mkfs_opts {
	const char *label;        /* NULL: "" */
	uint32_t block_bytes;     /* file block: 0 = 1 MiB; power of two,
				     64 KiB .. 64 MiB */
	uint32_t lease_ms;        /* host lease: 0 = 10000; 1000 .. 300000 */
	uint32_t slots;           /* heartbeat slots: 0 = 1024; >= 1024 */
	uint32_t journals;        /* read-write hosts at once: 0 = 64 (or
				     fewer on small LUNs); 1 .. slots */
	uint32_t journal_bytes;   /* per host: 0 = 1 MiB; 64 KiB .. 64 MiB */
	uint32_t meta_percent;    /* metadata pool, % of the LUN: 0 = auto */
	bool force;               /* overwrite an existing datastore */
};

/*
 * Formats the LUN at 'uri' (or an open 'lun'). Refuses (-EEXIST) to
 * overwrite a datastore unless opts->force; -EBUSY if hosts are alive on
 * it even with force. 'opts' may be NULL. Blocks; writes the whole
 * metadata area.
 */
int vfs_mkfs(const char *uri, const struct vfs_mkfs_opts *opts) must_check;
int vfs_mkfs_lun(struct lun *lun, const struct vfs_mkfs_opts *opts)
	must_check;

/* ---- sessions ---- */

/*
 * Mount flags.
 * READ_ONLY: claims a heartbeat slot and writes nothing but the
 *   heartbeat: no journal, no locks; files open unlocked and read-only
 *   (the backup proxy reads frozen snapshot bases this way).
 * INSPECT: claims no slot and writes nothing at all: queries (info,
 *   hosts, locks, stat, readdir) and unlocked reads. What it sees may be
 *   a moment old.
 * MANUAL_HEARTBEAT: no heartbeat thread; the caller drives vfs_tick()
 *   with its own clock (tests run several hosts in one process).
 * ASYNC_COMMIT: metadata operations return before their journal flush
 *   (see "Durability" above).
 */
#define VFS_MOUNT_READ_ONLY (1u << 0)
#define VFS_MOUNT_INSPECT (1u << 1)
#define VFS_MOUNT_MANUAL_HEARTBEAT (1u << 2)
#define VFS_MOUNT_ASYNC_COMMIT (1u << 3)

/*
 * How a session makes its atomic test-and-set (locks, slots) and whether
 * it can fence other hosts by PR (docs/DATASTORE.md, "Fencing"):
 *   LUN         the LUN's own method (COMPARE AND WRITE, an OFD lock, the
 *               mem: mutex, or on a LUN with PR but no COMPARE AND WRITE
 *               the short PR-mutex reservation, which leaves no room for
 *               PR fencing there: hosts fence themselves);
 *   DISK_PAXOS  the disk-paxos mutex over plain reads and writes, under a
 *               standing registrants-only reservation: PR fencing and the
 *               shorter dead time on any LUN with PR;
 *   AUTO        DISK_PAXOS on a LUN with PR but no COMPARE AND WRITE (it
 *               measured better there: failover within 5 s instead of the
 *               lease), LUN elsewhere; and whatever the hosts already on
 *               the datastore use.
 * Every host of a datastore must use the same: a mount whose choice
 * differs from the live hosts' fails with -EBUSY.
 */
enum vfs_ats {
	VFS_ATS_AUTO = 0,
	VFS_ATS_LUN,
	VFS_ATS_DISK_PAXOS,
};

struct vfs_mount_opts {
	unsigned int flags;       /* VFS_MOUNT_* */
	enum vfs_ats ats;         /* 0: AUTO */
	const char *host_name;    /* NULL: gethostname() */
	uint32_t io_timeout_ms;   /* 0: lease / 5; deadline of session I/O */
	uint32_t lock_timeout_ms; /* 0: 2 x lease + 5 s; longest wait for a
				     lock before -EBUSY */
	uint32_t lock_cache_ms;   /* 0: 500; an unused lock stays held (and
				     re-taken with no I/O) this long */
	uint32_t commit_ms;       /* ASYNC_COMMIT: 0 = 20 */
	uint64_t start_ns;        /* MANUAL_HEARTBEAT: the clock at mount */
};

/*
 * Mounts the datastore on 'uri' (or on a dup of 'lun', which stays the
 * caller's). Claims a heartbeat slot (and its journal), replaying the
 * journal if a previous owner left it dirty, and starts the heartbeat
 * thread. 'opts' may be NULL. Blocks for a few I/Os.
 */
int vfs_mount(const char *uri, const struct vfs_mount_opts *opts,
	      struct vfs **out) must_check;
int vfs_mount_lun(struct lun *lun, const struct vfs_mount_opts *opts,
		  struct vfs **out) must_check;
/*
 * Commits and checkpoints the journal, releases every lock and the
 * heartbeat slot, closes open files and listings that are left, frees.
 * Returns 0, or -errno when the clean release failed (the session is
 * freed anyway; the slot then looks dead to others, who recover it).
 * NULL is a no-op.
 */
int vfs_unmount(struct vfs *vfs);
/*
 * MANUAL_HEARTBEAT sessions: renews the heartbeat when due, releases
 * idle cached locks, commits (ASYNC_COMMIT) and watches other hosts, all
 * at time 'now_ns' (monotonic). Returns 0 or -ESTALE once fenced.
 */
int vfs_tick(struct vfs *vfs, uint64_t now_ns);
/* Makes every metadata change so far durable (group commit). */
int vfs_sync(struct vfs *vfs) must_check;
/* True once the session has lost its lease; it stays that way. */
bool vfs_is_fenced(const struct vfs *vfs);
/*
 * A new LUN handle on the datastore's LUN for one of the caller's I/O
 * threads, registered for PR fencing like the session's own; the caller
 * closes it with lun_close() before unmounting.
 */
int vfs_lun_open(struct vfs *vfs, struct lun **out) must_check;

/* ---- files and directories ---- */

enum vfs_file_type {
	VFS_TYPE_FILE = 1,
	VFS_TYPE_DIR = 2,
};

/* How a file's blocks are provisioned (DESIGN.md 3.2). */
enum vfs_alloc {
	VFS_ALLOC_THIN = 0,          /* blocks allocated on first write */
	VFS_ALLOC_LAZY_ZEROED = 1,   /* allocated now, zeroed on first write */
	VFS_ALLOC_EAGER_ZEROED = 2,  /* allocated and zeroed now */
};

/* A file's lock mode while open. */
enum vfs_lock_mode {
	VFS_LOCK_NONE = 0,           /* read-only and inspect sessions */
	VFS_LOCK_EXCLUSIVE = 1,      /* one host reads and writes */
	VFS_LOCK_SHARED = 2,         /* many hosts read, nobody writes */
	VFS_LOCK_MULTI_WRITER = 3,   /* many hosts write allocated blocks;
					no allocation or size change */
};

/*
 * Open flags. The lock mode is exclusive unless SHARED or MULTI_WRITER
 * is given. NOWAIT: fail with -EBUSY at once instead of waiting for a
 * lock held elsewhere. CREATE/EXCL as in open(2) (vfs_file_open only).
 */
#define VFS_O_SHARED (1u << 0)
#define VFS_O_MULTI_WRITER (1u << 1)
#define VFS_O_NOWAIT (1u << 2)
#define VFS_O_CREATE (1u << 3)
#define VFS_O_EXCL (1u << 4)

struct vfs_create_opts {
	uint64_t size_bytes;         /* initial size */
	enum vfs_alloc alloc;        /* for the initial size */
};

struct vfs_stat {
	uint64_t ino;                /* stable while the file exists */
	uint32_t generation;         /* bumped each time 'ino' is reused */
	enum vfs_file_type type;
	enum vfs_alloc alloc;        /* type given at creation */
	uint64_t size_bytes;
	uint64_t allocated_bytes;    /* blocks held, including to-be-zeroed */
	uint64_t ctime_ns, mtime_ns; /* wall clock, ns since the epoch */
	uint32_t nentries;           /* directories: entries */
};

/*
 * Creates a regular file at 'path' with 'opts' (NULL: empty thin file)
 * and, if 'out' is not NULL, returns it open with the lock mode from
 * 'flags'. Eager-zeroed thick writes zeros over the whole size before
 * returning (with a progress-sized delay). -EEXIST if the name exists.
 */
int vfs_file_create(struct vfs *vfs, const char *path,
		    const struct vfs_create_opts *opts, unsigned int flags,
		    struct vfs_file **out) must_check;
/* Opens an existing file, taking its lock (see the VFS_O_* flags). */
int vfs_file_open(struct vfs *vfs, const char *path, unsigned int flags,
		  struct vfs_file **out) must_check;
/*
 * Commits the file's pending allocations, releases its lock (to the lock
 * cache: re-opening soon costs no I/O) and frees. NULL is a no-op.
 */
void vfs_file_close(struct vfs_file *file);

/*
 * Synchronous I/O at any offset and length (unaligned parts are bounced).
 * pread returns the bytes read (short at end of file) or -errno; pwrite
 * returns 'len' or -errno and grows the file (thin) when writing past
 * its end. Allocating writes are durable only after vfs_file_sync().
 */
int64_t vfs_file_pread(struct vfs_file *file, void *buf, uint64_t len,
		       uint64_t offset) must_check;
int64_t vfs_file_pwrite(struct vfs_file *file, const void *buf,
			uint64_t len, uint64_t offset) must_check;
/* Flushes the LUN and commits the file's metadata. */
int vfs_file_sync(struct vfs_file *file) must_check;
/* Sets the size: shrinking frees whole blocks past it, growing is thin. */
int vfs_file_truncate(struct vfs_file *file, uint64_t size_bytes)
	must_check;
/* Grows to 'size_bytes', provisioning the new part as 'alloc'. */
int vfs_file_extend(struct vfs_file *file, uint64_t size_bytes,
		    enum vfs_alloc alloc) must_check;
/*
 * Provisions [offset, offset+len) inside the file as 'alloc' (lazy or
 * eager zeroed): thin-to-thick inflation. Blocks already allocated stay.
 */
int vfs_file_allocate(struct vfs_file *file, uint64_t offset, uint64_t len,
		      enum vfs_alloc alloc) must_check;
/*
 * Makes [offset, offset+len) read as zeros (clamped to the size, which
 * does not change). Whole blocks inside it: a thin file gives them back
 * to the datastore; a file created lazy- or eager-zeroed thick keeps them
 * allocated, flagged to-be-zeroed (no I/O now; they read as zeros and the
 * first partial write zeroes the rest). The parts of blocks at either end
 * are written with zeros. Blocks with the exclusive lock (-EROFS
 * otherwise), durable on return, done in bounded transactions (an error
 * may leave a prefix done). The caller must have no data I/O of its own
 * in flight to the range: a block given back may go to another file at
 * once, and a late write must not land there.
 */
int vfs_file_punch(struct vfs_file *file, uint64_t offset, uint64_t len)
	must_check;
/*
 * The same, except that whole blocks always stay allocated (flagged
 * to-be-zeroed), in thin files too, and holes stay holes: SCSI WRITE SAME
 * or NVMe write-zeroes without deallocation.
 */
int vfs_file_zero_range(struct vfs_file *file, uint64_t offset,
			uint64_t len) must_check;
int vfs_file_stat(struct vfs_file *file, struct vfs_stat *st) must_check;
enum vfs_lock_mode vfs_file_lock_mode(const struct vfs_file *file);
uint32_t vfs_file_block_bytes(const struct vfs_file *file);

/* ---- asynchronous data path: I/O straight to LUN offsets ---- */

enum vfs_extent_type {
	VFS_EXTENT_DATA = 1,   /* read and write at lun_offset */
	VFS_EXTENT_HOLE = 2,   /* thin, unallocated: reads as zeros */
	VFS_EXTENT_ZERO = 3,   /* allocated, to be zeroed: reads as zeros */
};

/*
 * VFS_EXTENT_NEW: this VFS_MAP_WRITE call allocated the extent or cleared
 * its to-be-zeroed flag (zeroing the parts of its blocks outside the
 * requested range first). The change is durable only after the caller's
 * data write completed and vfs_file_commit() returned; a crash before
 * that leaves the blocks as they were (never exposing stale data).
 */
#define VFS_EXTENT_NEW (1u << 0)

struct vfs_extent {
	uint64_t file_offset;        /* bytes */
	uint64_t len_bytes;
	uint64_t lun_offset;         /* bytes; DATA extents only */
	uint32_t type;               /* enum vfs_extent_type */
	uint32_t flags;              /* VFS_EXTENT_* */
};

#define VFS_MAP_WRITE (1u << 0)   /* the caller will write the range */

/*
 * Maps [offset, offset+len) of the file (within its size) to LUN extents,
 * filling at most 'max_ext' entries in file order; returns how many (the
 * range covered may then be a prefix) or -errno. Without VFS_MAP_WRITE
 * nothing changes. With it, holes and to-be-zeroed blocks in the range
 * become DATA extents marked NEW (see above); the session must hold the
 * file exclusively (-EROFS otherwise, -EBUSY for a multi-writer lock on
 * an unprovisioned range). Call it for every request, just before
 * submitting: it is the point where a fenced session gets -ESTALE.
 * A mapped range costs no I/O and no metadata lock.
 * A small file (data in its inode, see VFS_SMALL_FILE_BYTES) moves to a
 * block of its own at its first mapping by an exclusive holder; other
 * opens get -EOPNOTSUPP for it and read it with vfs_file_pread().
 */
int vfs_file_map(struct vfs_file *file, uint64_t offset, uint64_t len,
		 unsigned int flags, struct vfs_extent *ext,
		 unsigned int max_ext) must_check;
/*
 * Makes the NEW extents handed out by vfs_file_map() durable: flushes the
 * LUN (the caller's data writes must have completed) and commits the
 * block map (group commit with other operations). Blocks.
 */
int vfs_file_commit(struct vfs_file *file) must_check;

/* ---- namespace ---- */

int vfs_mkdir(struct vfs *vfs, const char *path) must_check;
/* Removes a file; -EBUSY if it is open anywhere (its lock is held). */
int vfs_unlink(struct vfs *vfs, const char *path) must_check;
int vfs_rmdir(struct vfs *vfs, const char *path) must_check;
/*
 * Renames atomically. An existing target file is replaced (unless
 * VFS_RENAME_NOREPLACE), an existing target directory only if empty.
 */
#define VFS_RENAME_NOREPLACE (1u << 0)
int vfs_rename(struct vfs *vfs, const char *from, const char *to,
	       unsigned int flags) must_check;
int vfs_stat(struct vfs *vfs, const char *path, struct vfs_stat *st)
	must_check;

struct vfs_dirent {
	char name[VFS_NAME_MAX + 1];
	uint64_t ino;
	enum vfs_file_type type;
};

/* Reads the directory's entries now; vfs_dir_next() walks them. */
int vfs_dir_open(struct vfs *vfs, const char *path, struct vfs_dir **out)
	must_check;
/* Returns 1 and fills 'ent', 0 at the end. */
int vfs_dir_next(struct vfs_dir *dir, struct vfs_dirent *ent);
void vfs_dir_close(struct vfs_dir *dir);

/* ---- introspection (vfs info / hosts / locks) ---- */

enum vfs_fencing {
	VFS_FENCING_SELF = 1,  /* hosts stop writing when their lease lapses */
	VFS_FENCING_PR = 2,    /* plus SCSI-3 PR preemption of dead hosts */
};

struct vfs_info {
	uint8_t uuid[16];
	char label[VFS_LABEL_MAX + 1];
	uint32_t version;
	uint64_t incompat, compat, autoclear;   /* feature flags */
	uint64_t lun_bytes;
	uint32_t block_bytes;
	uint64_t data_blocks, free_blocks;      /* file blocks */
	uint64_t meta_blocks, free_meta_blocks; /* 4 KiB metadata blocks */
	uint64_t inodes, free_inodes; /* those of them that can be inodes
					 (one per file or directory) */
	uint32_t slots, journals, journal_bytes;
	uint32_t lease_ms;
	uint64_t created_wall_ns;
	const char *ats_method;  /* lun_ats_method_name() of this session */
	enum vfs_fencing fencing;
	int slot;                /* this session's slot, -1 if none */
};

/* Reads the volume header and every cluster's free count. */
int vfs_get_info(struct vfs *vfs, struct vfs_info *info) must_check;

enum vfs_host_state {
	VFS_HOST_LIVE = 1,       /* heartbeat written and moving */
	VFS_HOST_DEAD = 2,       /* stopped moving for a lease: recoverable */
	VFS_HOST_RECOVERING = 3, /* another host is replaying its journal */
};

struct vfs_host {
	uint32_t slot;
	enum vfs_host_state state;
	uint64_t generation;     /* bumped at every claim and recovery */
	uint64_t counter;        /* heartbeat counter */
	char host_name[VFS_HOST_NAME_MAX + 1];
	uint8_t host_uuid[16];
	uint32_t pid;
	bool read_only;
	bool self;               /* this session */
	uint64_t mounted_wall_ns;
	uint64_t heartbeat_wall_ns; /* the host's clock at its last renewal */
	/*
	 * How long ago the heartbeat last moved: from this session's own
	 * monotonic observation when it has one (age_observed), otherwise
	 * from the wall clocks (which may be skewed between hosts).
	 */
	uint64_t heartbeat_age_ms;
	bool age_observed;
};

/*
 * Lists the slots in use (not free ones) into a malloc()ed array the
 * caller frees. Reads the heartbeat region once.
 */
int vfs_hosts_list(struct vfs *vfs, struct vfs_host **out,
		   unsigned int *count) must_check;

struct vfs_lock_holder {
	uint32_t slot;
	uint64_t slot_generation;
	char host_name[VFS_HOST_NAME_MAX + 1];
	bool holder_alive;       /* the slot still has that generation */
	uint64_t heartbeat_age_ms;
};

struct vfs_lock_info {
	char path[1024];         /* datastore path, or "[cluster N]" */
	uint64_t ino;
	enum vfs_lock_mode mode;
	uint64_t lock_generation;
	uint64_t since_wall_ns;  /* when the lock was taken in this mode */
	unsigned int nholders;
	struct vfs_lock_holder holders[VFS_MAX_SHARED_HOLDERS];
};

/*
 * Lists held locks of the files and directories under 'path' (NULL or
 * "/": all; with 'internal' also resource-cluster locks) into a
 * malloc()ed array the caller frees.
 */
int vfs_locks_list(struct vfs *vfs, const char *path, bool internal,
		   struct vfs_lock_info **out, unsigned int *count)
	must_check;
/* The lock of one path; mode VFS_LOCK_NONE when free. */
int vfs_lock_query(struct vfs *vfs, const char *path,
		   struct vfs_lock_info *out) must_check;

/* ---- consistency check ---- */

#define VFS_FSCK_REPAIR (1u << 0)  /* fix what can be fixed */

struct vfs_fsck_report {
	uint64_t inodes, dirs, files, data_blocks_used, meta_blocks_used;
	uint64_t errors;          /* problems found */
	uint64_t repaired;        /* problems fixed (REPAIR) */
	uint64_t unrepairable;
	uint32_t journals_replayed;
};

/*
 * Checks every structure and cross-reference of the datastore on 'uri'.
 * 'msg' (may be NULL) receives one line per problem. With REPAIR it
 * first recovers dead hosts' journals, then fixes leaks, counts, stale
 * locks and orphans; it refuses (-EBUSY) while other hosts are live.
 * Returns 0 clean, 1 problems found and all repaired (or repairable
 * without REPAIR), 2 corruption that was not repaired, or -errno when
 * the check could not run. Never trusts what it reads.
 */
#define VFS_FSCK_CLEAN 0
#define VFS_FSCK_REPAIRABLE 1
#define VFS_FSCK_CORRUPT 2
int vfs_fsck(const char *uri, unsigned int flags, struct vfs_fsck_report *rep,
	     void (*msg)(void *arg, const char *line), void *arg) must_check;
int vfs_fsck_lun(struct lun *lun, unsigned int flags,
		 struct vfs_fsck_report *rep,
		 void (*msg)(void *arg, const char *line), void *arg)
	must_check;

/* ---- misc ---- */

/* The datastore's meaning of a negative errno from this API. */
const char *vfs_strerror(int err);
const char *vfs_lock_mode_name(enum vfs_lock_mode mode);
const char *vfs_alloc_name(enum vfs_alloc alloc);
/* Parses "thin", "lazy-zeroed"/"zeroedthick", "eager-zeroed"/"eagerzeroedthick". */
int vfs_alloc_parse(const char *s, enum vfs_alloc *out);

#endif
