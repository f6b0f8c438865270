/* SPDX-License-Identifier: MIT */
/*
 * Shared by the vfs-cluster sources only: the session, its caches and the
 * internal interfaces between heartbeat, lock, journal, allocator and the
 * namespace code.
 *
 * Concurrency inside a session:
 *   'mu' (the metadata mutex) guards locks, the metadata cache, the
 *     journal's running group, the allocator and the open-inode table.
 *     A metadata operation holds it from start to end, including while it
 *     waits for another host's lock (so ops of one session run one at a
 *     time); the journal committer drops it for the commit write.
 *   'hb_mu' guards the heartbeat state and the observations; the
 *     heartbeat thread never waits for 'mu' (it only try-locks it for
 *     housekeeping), so a long metadata wait cannot starve the lease.
 *   each open inode has its own mutex for the data path.
 * Every session I/O handle belongs to one user: 'lun' to whoever holds
 * 'mu', 'hb_lun' to the heartbeat thread, 'jn_lun' to the committer,
 * 'data_lun' to whoever holds 'data_mu'.
 */
#ifndef VFS_INTERNAL_H
#define VFS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "vfs-cluster/heartbeat.h"
#include "vfs-cluster/lun.h"
#include "vfs-cluster/ondisk.h"
#include "vfs-cluster/paxos.h"
#include "vfs-cluster/vfs.h"

#define VFS_LOG "vfs"

/* ---- locks (lock.c) ---- */

/* A lock this session holds on disk (cached while unused). */
struct vlock {
	uint64_t off;            /* the lock sector */
	uint8_t mode;            /* enum od_lock_mode held on disk */
	unsigned int users;      /* in-process users; 0: cached, idle */
	bool internal;           /* metadata lock (not a user's open) */
	uint8_t *image;          /* the sector as on disk (aligned) */
	uint64_t taken_ns;       /* when acquired on disk */
	uint64_t idle_ns;        /* when users dropped to 0 */
	uint64_t checked_ns;     /* last re-read for a WANTED flag */
	bool wanted;             /* another host asked for it */
	struct vlock *hnext;     /* hash chain */
};

struct lock_table {
	struct vlock **hash;
	unsigned int nbuckets;
	unsigned int count;
	uint64_t yield_until_ns; /* after handing a wanted lock over */
};

/* Lock waiting behaviour for one acquisition. */
struct lock_req {
	uint8_t mode;            /* OD_LOCK_EX/SH/MW */
	bool nowait;             /* -EBUSY at once if held by a live host */
	bool internal;
	bool fresh;              /* a newly allocated inode: an invalid
				    sector counts as a free lock */
	uint64_t timeout_ns;     /* longest wait; 0: the session's */
};

/*
 * Takes the lock at 'off' in 'req->mode' for one user: no I/O if this
 * session already holds it in that mode; otherwise read + ATS (2 I/Os),
 * waiting with backoff and breaking dead holders' locks (recovering them
 * first). On -EBUSY, 'holder' (may be NULL) gets the lock as last read.
 */
int lock_acquire(struct vfs *vfs, uint64_t off, const struct lock_req *req,
		 struct vlock **out, struct od_lock *holder) must_check;
/* One attempt at time 'now_ns': 0, -EBUSY (live holder), -EAGAIN (retry:
 * a dead holder was recovered or the sector changed), or an I/O error. */
int lock_try(struct vfs *vfs, uint64_t off, const struct lock_req *req,
	     uint64_t now_ns, struct vlock **out, struct od_lock *holder);
/* Drops one user; the lock stays cached. */
void lock_put(struct vfs *vfs, struct vlock *vl);
struct vlock *lock_find(struct vfs *vfs, uint64_t off);
/*
 * Releases on disk the cached locks with no users that have been idle
 * for lock_cache_ms (all of them with 'all'), after committing and
 * checkpointing the journal. Returns how many were released or -errno.
 */
int lock_release_idle(struct vfs *vfs, uint64_t now_ns, bool all);
/* Between two runs of an op rolled back for a suspected deadlock (no op
 * open): lets go of every idle lock, leaves those another host wants to
 * it for a while, and pauses 10-50 ms at random. */
void lock_yield(struct vfs *vfs);
/* Re-reads long-held cached locks for WANTED flags (housekeeping). */
int lock_check_wanted(struct vfs *vfs, uint64_t now_ns);
void lock_table_fini(struct vfs *vfs);
/* Decodes the holders of a lock that are still alive per observations. */
bool lock_holder_stale(struct vfs *vfs, uint32_t slot, uint64_t gen,
		       uint64_t now_ns, bool *recover);

/* ---- recovery (recover.c) ---- */

/*
 * Recovers the dead host in 'slot' (observed dead): PR-preempts it,
 * marks the slot RECOVERING (ATS), replays its journal, frees the slot.
 * Returns 0 when the slot no longer holds the dead generation, -EAGAIN if
 * it turned out alive, or -errno.
 */
int recover_slot(struct vfs *vfs, uint32_t slot, uint64_t now_ns);
/* Recovers every slot observed dead (housekeeping). */
int recover_dead_hosts(struct vfs *vfs, uint64_t now_ns);

/* ---- metadata cache (bcache.c) ---- */

struct mitem {
	uint64_t off;            /* home byte offset */
	uint32_t len;            /* bytes (512 .. 4096) */
	uint8_t *buf;            /* aligned image */
	uint8_t *undo;           /* pre-image while the op is open */
	struct vlock *lock;      /* covering lock, NULL while unlocked */
	bool in_group;           /* changed in the running group */
	bool fresh;              /* made by bc_new() in the open op */
	bool checked;            /* validated since read: changes within an
				    op leave the crc stale until tx_seal */
	struct mitem *hnext;
	struct mitem *op_next;   /* items changed by the open op */
	struct mitem *grp_next;  /* items changed by the running group */
};

struct bcache {
	struct mitem **hash;
	unsigned int nbuckets;
	unsigned int count;
};

/*
 * Returns the cached item at 'off' (reading it if absent), covered by
 * 'lock' (which the caller holds). The caller validates the contents.
 */
int bc_get(struct vfs *vfs, uint64_t off, uint32_t len, struct vlock *lock,
	   struct mitem **out) must_check;
/* A cached item for a block about to be initialised: no read. */
int bc_new(struct vfs *vfs, uint64_t off, uint32_t len, struct vlock *lock,
	   struct mitem **out) must_check;
/* Drops every item covered by 'lock' (after a checkpoint). */
void bc_drop_lock(struct vfs *vfs, struct vlock *lock);
struct mitem *bc_find(struct vfs *vfs, uint64_t off);
void bc_fini(struct vfs *vfs);
/* Removes one item (an aborted fresh block). */
void bc_forget(struct vfs *vfs, struct mitem *it);
/* Reads 'len' bytes at 'off': from the cache if present, else the LUN. */
int bc_read_any(struct vfs *vfs, uint64_t off, void *buf, uint32_t len);

/* ---- journal and transactions (journal.c) ---- */

struct cp_item {                 /* committed, not yet checkpointed */
	uint64_t off;
	uint32_t len;
	uint8_t *buf;
	struct cp_item *hnext;
	struct cp_item *next;
};

struct journal {
	uint32_t index;
	uint64_t base;           /* byte offset of the journal */
	uint64_t ring_off;       /* base + 4096 */
	uint64_t ring_bytes;
	uint64_t head_seq, head_off;   /* where the next record goes */
	uint64_t tail_seq, tail_off;   /* oldest record not checkpointed */
	uint64_t used_bytes;     /* ring bytes between tail and head */
	/* the running group */
	struct mitem *grp_head;
	unsigned int grp_items;
	uint64_t grp_bytes;
	uint64_t grp_id;         /* id of the running group */
	uint64_t grp_first_ns;   /* when its first op joined */
	uint64_t durable_id;     /* groups up to this id are durable */
	bool committing;
	pthread_cond_t cond;
	int error;               /* a failed commit poisons the session */
	/* committed images awaiting checkpoint */
	struct cp_item **cp_hash;
	unsigned int cp_buckets;
	struct cp_item *cp_list;
	unsigned int cp_count;
	/* the open op */
	struct mitem *op_head;
	unsigned int op_items;
	uint64_t op_bytes;
	bool op_open;
	bool op_yields;          /* rolls back on a suspected deadlock */
	/* statistics */
	uint64_t commits, checkpoints, records_bytes;
};

int journal_open(struct vfs *vfs, uint64_t now_ns) must_check;
void journal_fini(struct vfs *vfs);
/* Starts an op (under mu). */
void tx_begin(struct vfs *vfs);
/*
 * Starts an op that may be rolled back with -EDEADLK when, having
 * changed something, it waits long for another host's lock (that host
 * may be waiting inside its own op for a lock we cache, and neither can
 * let go). The caller ends it and runs it again while tx_retry() says so.
 */
void tx_begin_yielding(struct vfs *vfs);
/*
 * After tx_end() of a yielding op that began at 'start_ns': true if it
 * was rolled back for a suspected deadlock and should run again; our idle
 * locks have then been let go and a random pause taken.
 */
bool tx_retry(struct vfs *vfs, int rc, uint64_t start_ns);
/* Records that the op is about to change 'it' (saves its pre-image). */
int tx_dirty(struct vfs *vfs, struct mitem *it) must_check;
/* How many blocks one op may free or provision (its items stay small). */
uint64_t tx_step_blocks(const struct vfs *vfs);
/* True if the open op changed anything yet. */
bool tx_modified(const struct vfs *vfs);
/*
 * Ends the op: on 'err' < 0 restores every pre-image and returns 'err';
 * otherwise the changes join the running group, and unless the session
 * commits asynchronously (or 'nowait'), waits until they are durable.
 */
int tx_end(struct vfs *vfs, int err, bool nowait);
/* Commits the running group and waits (group commit). */
int journal_commit(struct vfs *vfs) must_check;
/* Commit, then write every committed image home and empty the journal. */
int journal_checkpoint(struct vfs *vfs) must_check;
/*
 * Replays journal 'index' onto the LUN through 'lun' and marks it empty:
 * idempotent. Returns the number of records applied or -errno.
 */
int journal_replay(struct vfs *vfs, struct lun *lun, uint32_t index,
		   uint64_t writer_gen) must_check;
/* Replays with only a geometry (fsck); same contract. */
int journal_replay_geom(const struct vfs_geom *g, struct lun *lun,
			uint32_t index, uint64_t writer_gen, bool dry_run)
	must_check;

/* ---- allocator (alloc.c) ---- */

enum mblock_kind {
	MBLOCK_INODE = OD_CLUSTER_INODE,
	MBLOCK_BLOCK = OD_CLUSTER_MBLK,   /* pointer and directory blocks */
};

struct alloc_state {
	uint32_t dcur;           /* data cluster this host prefers */
	uint32_t mcur[2];        /* meta clusters: inode, block kinds */
	uint8_t *dfull;          /* per data cluster: seen full */
	uint8_t *mfull;          /* per meta cluster */
	uint8_t **dresv;         /* per data cluster: reserved-bit overlay */
};

int alloc_init(struct vfs *vfs) must_check;
void alloc_fini(struct vfs *vfs);
/* Allocates one mblock of 'kind' inside the open op. */
int alloc_mblock(struct vfs *vfs, enum mblock_kind kind, uint64_t *out)
	must_check;
/* The same, never choosing one of 'avoid'. */
int alloc_mblock_avoid(struct vfs *vfs, enum mblock_kind kind,
		       const uint64_t *avoid, unsigned int navoid,
		       uint64_t *out) must_check;
int free_mblock(struct vfs *vfs, uint64_t mblock) must_check;
/*
 * Allocates up to 'want' file blocks inside the open op, contiguous from
 * 'hint' when it is free (UINT64_MAX: no hint). Returns how many (>= 1),
 * the first in '*first', or -ENOSPC.
 */
int alloc_blocks(struct vfs *vfs, uint64_t hint, uint64_t want,
		 uint64_t *first) must_check;
/*
 * Reserves up to 'want' blocks without changing the bitmaps: they are set
 * later by alloc_commit_reserved() in an op. The cluster lock stays held
 * ('*lock', one user per reservation) until then or alloc_unreserve().
 */
int alloc_reserve(struct vfs *vfs, uint64_t hint, uint64_t want,
		  uint64_t *first, struct vlock **lock) must_check;
int alloc_commit_reserved(struct vfs *vfs, uint64_t first, uint64_t count,
			  struct vlock *lock) must_check;
void alloc_unreserve(struct vfs *vfs, uint64_t first, uint64_t count,
		     struct vlock *lock);
int free_blocks(struct vfs *vfs, uint64_t first, uint64_t count) must_check;
/* Sums free counts of all clusters (unlocked reads; vfs info). */
int alloc_count_free(struct vfs *vfs, uint64_t *free_blocks,
		     uint64_t *free_meta, uint64_t *free_inodes) must_check;

/* ---- inodes and block maps (inode.c, bmap.c) ---- */

struct inode_ref {
	uint64_t ino;
	struct vlock *lock;      /* held by the caller */
	struct mitem *it;        /* the body (off + 512, 3584 bytes) */
};

static inline struct od_inode *
inode_body(const struct inode_ref *r)
{
	return (struct od_inode *)r->it->buf;
}

/* The lock sector of inode 'ino'. */
uint64_t inode_lock_off(const struct vfs *vfs, uint64_t ino);
/* Reads (cached) and validates the body of a locked inode. */
int inode_get(struct vfs *vfs, uint64_t ino, struct vlock *lock,
	      struct inode_ref *out) must_check;
/* Reads an inode without its lock (stat, readdir, lookups). */
int inode_read_unlocked(struct vfs *vfs, uint64_t ino,
			struct od_inode *out) must_check;
/* Marks the body changed in the op and reseals it later. */
int inode_dirty(struct vfs *vfs, struct inode_ref *r) must_check;
/* Reseals every changed inode/ptr/dir item of the op (before commit). */
void tx_seal(struct vfs *vfs);
/* Recomputes the checksum of one item image by its magic. */
void item_seal(uint8_t *buf);

/* Leaf entry lookup / update in an inode's block map. */
int bmap_get(struct vfs *vfs, struct inode_ref *r, uint64_t lblk,
	     uint64_t *entry) must_check;
int bmap_set(struct vfs *vfs, struct inode_ref *r, uint64_t lblk,
	     uint64_t entry) must_check;
/*
 * Frees every leaf at or past 'from' (and pointer blocks left empty),
 * lowering the inode's block count. Returns -EAGAIN when the op has
 * grown big enough: what was freed so far is consistent; commit and call
 * again.
 */
int bmap_truncate(struct vfs *vfs, struct inode_ref *r, uint64_t from,
		  bool leaves_are_mblocks) must_check;
/* The OD_PTR_ENTRIES leaf entries of chunk 'k' (leaves k*508 ...). */
int bmap_chunk(struct vfs *vfs, struct inode_ref *r, uint64_t k,
	       uint64_t *out) must_check;
int bmap_chunk_ro(struct vfs *vfs, const struct od_inode *body, uint64_t k,
		  uint64_t *out) must_check;
/* Lookup through unlocked reads of a body read with inode_read_unlocked. */
int bmap_get_ro(struct vfs *vfs, const struct od_inode *body, uint64_t lblk,
		uint64_t *entry) must_check;
/* Visits every present leaf (fsck, unlink). */
int bmap_walk(struct vfs *vfs, struct inode_ref *r,
	      int (*fn)(void *arg, uint64_t lblk, uint64_t entry), void *arg)
	must_check;
/* Capacity in leaves for a map depth. */
uint64_t bmap_capacity(uint32_t depth);

/* ---- directories (dir.c) ---- */

struct dir_hit {
	uint64_t ino;
	uint32_t generation;
	uint8_t type;
};

int dir_lookup(struct vfs *vfs, struct inode_ref *dir, const char *name,
	       size_t len, struct dir_hit *out) must_check;
int dir_add(struct vfs *vfs, struct inode_ref *dir, const char *name,
	    size_t len, const struct dir_hit *ent) must_check;
int dir_remove(struct vfs *vfs, struct inode_ref *dir, const char *name,
	       size_t len) must_check;
/* Lists a directory read without its lock (or from cache if held). */
int dir_list_unlocked(struct vfs *vfs, uint64_t ino,
		      int (*fn)(void *arg, const char *name, size_t len,
				const struct dir_hit *ent),
		      void *arg) must_check;
int dir_lookup_unlocked(struct vfs *vfs, uint64_t dir_ino, const char *name,
			size_t len, struct dir_hit *out) must_check;

/* ---- open inodes (file.c) ---- */

struct pending {                 /* handed out by vfs_file_map(WRITE) */
	uint64_t lblk, count;
	uint64_t pblk;           /* first block of a reservation */
	struct vlock *resv;      /* the pinned cluster lock; NULL when the
				    run only clears to-be-zeroed flags */
	struct pending *next;
};

struct vnode {
	uint64_t ino;
	uint32_t generation;
	struct vlock *lock;      /* NULL in read-only/inspect sessions */
	uint8_t mode;            /* od_lock_mode of the opens (0: none) */
	unsigned int opens;
	pthread_mutex_t mu;      /* the data path; taken after vfs->mu */
	uint64_t size;
	struct od_inode *ro_body; /* unlocked sessions: the body read */
	uint64_t **chunks;       /* leaf entries, OD_PTR_ENTRIES each */
	uint64_t nchunks;
	struct pending *pend;
	unsigned int npend;
	bool small;              /* data inline in the inode (small.c) */
	struct vnode *next;
};

struct vfs_file {
	struct vfs *vfs;
	struct vnode *vn;
};

/*
 * Small files kept in the inode (small.c); vfs->mu and vn->mu held, the
 * changes with the exclusive lock. small_read() returns the bytes read,
 * or -EAGAIN once the file has moved to a block; the others change the
 * data and size in one transaction (-EFBIG past OD_INLINE_MAX).
 */
int small_read(struct vfs *vfs, struct vnode *vn, uint8_t *buf, uint64_t len,
	       uint64_t off) must_check;
int small_write(struct vfs *vfs, struct vnode *vn, const uint8_t *buf,
		uint64_t len, uint64_t off) must_check;
int small_zero(struct vfs *vfs, struct vnode *vn, uint64_t off, uint64_t len)
	must_check;
int small_resize(struct vfs *vfs, struct vnode *vn, uint64_t size)
	must_check;
/* Moves the data to a file block of its own (durably, crash-safe). */
int small_to_block(struct vfs *vfs, struct vnode *vn) must_check;

struct vnode *vnode_find(struct vfs *vfs, uint64_t ino);
/* Turns a freshly created, internally locked inode into an open file. */
int vnode_create_open(struct vfs *vfs, const struct dir_hit *hit,
		      struct vlock *vl, const struct vfs_create_opts *o,
		      unsigned int flags, struct vfs_file **out) must_check;
/* Closes every vnode left (unmount). */
void vnode_close_all(struct vfs *vfs);

/* namei.c helpers */
int vfs_op_enter(struct vfs *vfs, bool write) must_check;
void vfs_op_leave(struct vfs *vfs);
/* Frees leaves >= 'from' of a locked file in committed steps from 'end'. */
int inode_shrink(struct vfs *vfs, struct inode_ref *r, uint64_t from,
		 uint64_t end) must_check;
int inode_stat(struct vfs *vfs, uint64_t ino, uint32_t gen,
	       struct vfs_stat *st) must_check;
void inode_fill_stat(const struct vfs *vfs, const struct od_inode *b,
		     struct vfs_stat *st);
int vfs_unlink_locked(struct vfs *vfs, const char *path) must_check;

/* ---- the session ---- */

struct vfs {
	struct lun *lun;         /* metadata I/O, under mu */
	struct lun *hb_lun;      /* heartbeat thread */
	struct lun *jn_lun;      /* journal commits */
	struct lun *data_lun;    /* sync data I/O and zeroing, data_mu */
	const struct lun_info *info;
	struct vfs_geom g;
	unsigned int flags;      /* VFS_MOUNT_* */
	char host_name[VFS_HOST_NAME_MAX + 1];
	uint8_t host_uuid[16];
	uint8_t session_id[16];
	struct vfs_timing t;
	uint64_t lock_timeout_ns, lock_cache_ns, commit_ns;
	bool pr_fencing;
	uint64_t pr_key;
	/*
	 * The disk-paxos ATS (paxos.h): vfs_io_ats() goes through 'px' on
	 * 'lun' (under mu); heartbeat renewals are plain writes (a host is
	 * preempted before its slot is touched) and slots are claimed by
	 * timing through 'claim_lun', registered with 'claim_key' alone.
	 */
	bool paxos;
	struct paxos px;
	struct lun *claim_lun;
	uint64_t claim_key;

	pthread_mutex_t mu;
	pthread_mutex_t data_mu;

	/* heartbeat (hb_mu) */
	pthread_mutex_t hb_mu;
	int slot;                /* -1: none (inspect) */
	uint64_t slot_gen;       /* our slot's generation, set at claim */
	struct od_slot hb_rec;   /* our slot as last written */
	uint8_t *hb_image;       /* its sector (aligned) */
	uint8_t *hb_pending;     /* a renewal of unknown outcome, or NULL */
	uint64_t hb_next_ns;     /* next renewal due */
	_Atomic uint64_t hb_ok_issue_ns; /* issue time of last good renewal */
	atomic_bool fenced;
	struct hb_obs *obs;      /* per slot */
	uint64_t obs_all_ns;     /* last full scan */

	/* manual clock (MANUAL_HEARTBEAT) */
	_Atomic uint64_t manual_now_ns;

	struct lock_table locks;
	struct bcache bc;
	struct journal jn;
	struct alloc_state al;
	struct vnode *vnodes;

	/* threads */
	pthread_t hb_thread;     /* renews and observes */
	pthread_t hk_thread;     /* housekeeping (rw sessions) */
	bool hb_thread_running, hk_thread_running;
	atomic_bool stopping;
	pthread_mutex_t stop_mu;
	pthread_cond_t stop_cond;
};

/* ---- fencing and the choice of ATS (fence.c) ---- */

/* Chooses the ATS, registers the session's key, makes sure the standing
 * reservation is there. Errors only when the choice cannot be made. */
int fence_setup(struct vfs *vfs, enum vfs_ats want) must_check;
uint64_t fence_anchor_key(const struct vfs_geom *g);
/* Disk-paxos sessions: the claim handle, then the mutex once claimed. */
int fence_claim_open(struct vfs *vfs) must_check;
void fence_claim_close(struct vfs *vfs);
int fence_paxos_start(struct vfs *vfs) must_check;
/* Writers without a session: a key of their own while a reservation is
 * in force ('*key' 0 when none was needed). */
int fence_join(struct lun *lun, uint64_t *key) must_check;
void fence_leave(struct lun *lun, uint64_t key);

/* Random bytes (getrandom, else a clock-seeded generator). */
void vfs_random_bytes(void *buf, size_t len);
/* A random PR key: never 0, never an anchor's (lun.h). */
uint64_t vfs_random_key(void);
/* Whether the host named by a paxos owner record is gone (paxos.h). */
bool vfs_paxos_holder_gone(void *arg, const struct od_pxowner *o);

/* The session's notion of now (the injected clock in manual mode). */
uint64_t vfs_now(const struct vfs *vfs);
bool vfs_writable(const struct vfs *vfs);

/* Session I/O helpers: write paths check the lease first. */
int vfs_io_read(struct vfs *vfs, struct lun *lun, uint64_t off, void *buf,
		uint64_t len) must_check;
int vfs_io_write(struct vfs *vfs, struct lun *lun, uint64_t off,
		 const void *buf, uint64_t len, unsigned int flags)
	must_check;
int vfs_io_ats(struct vfs *vfs, struct lun *lun, uint64_t off,
	       const void *expected, const void *desired) must_check;
int vfs_io_flush(struct vfs *vfs, struct lun *lun) must_check;
/* Writes zeros over [off, off+len) (sector multiples). */
int vfs_io_zero(struct vfs *vfs, struct lun *lun, uint64_t off, uint64_t len)
	must_check;
/* Writes many pieces at once (queue-depth batches); 'vfs' may be NULL
 * (fsck, mkfs: no lease to check). */
struct io_piece {
	uint64_t off;
	uint32_t len;
	const void *buf;
};
int vfs_io_write_many(struct vfs *vfs, struct lun *lun,
		      const struct io_piece *p, unsigned int n) must_check;
/* Reads a long range in max_io-sized pieces. */
int vfs_io_read_long(struct lun *lun, uint64_t off, void *buf, uint64_t len)
	must_check;
/* Aligned allocation for I/O buffers (free with free()). */
void *vfs_alloc_buf(size_t len);

/* Reads and checks the volume header (falling back to the backup). */
int vfs_read_volume(struct lun *lun, struct vfs_geom *g) must_check;
/* Plans the layout of a new datastore on 'lun_bytes'. */
int vfs_geom_plan(uint64_t lun_bytes, const struct vfs_mkfs_opts *o,
		  struct vfs_geom *g) must_check;

/* Tests: drops a session as a crash would, writing nothing. Open
 * vfs_file handles must not be used (or closed) afterwards. */
void vfs_abandon(struct vfs *vfs);

/* Housekeeping one round (heartbeat thread or vfs_tick). */
void vfs_housekeep(struct vfs *vfs, uint64_t now_ns);

/* Path helpers (namei.c). */
struct path_walk {
	uint64_t parent;         /* parent directory ino */
	const char *name;        /* last component */
	size_t name_len;
	struct dir_hit hit;      /* the last component, if found */
	bool found;
};
int path_split(struct vfs *vfs, const char *path, struct path_walk *w)
	must_check;
int path_resolve(struct vfs *vfs, const char *path, struct dir_hit *out)
	must_check;

/* Sleep helper honouring the manual clock (returns at once there). */
void vfs_sleep_ns(const struct vfs *vfs, uint64_t ns);

#endif
