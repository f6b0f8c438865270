/* SPDX-License-Identifier: MIT */
/*
 * LUN client API: the block device a datastore lives on.
 *
 * A LUN is named by a URI:
 *   /path/to/file, file:/path          file or block device through io_uring
 *   iscsi://[user[%pass]@]host[:port]/target-iqn/lun
 *                                      iSCSI through libiscsi (CHAP may also
 *                                      come from LIBISCSI_CHAP_USERNAME and
 *                                      LIBISCSI_CHAP_PASSWORD)
 *   mem:NAME                           in-process memory, shared by name
 *                                      (several "hosts" in one test process)
 *   faulty[,opt=v...]:INNER-URI        fault injection over any of the above
 *                                      (see lun-faulty.h)
 *
 * Threading: a 'struct lun' handle belongs to one thread at a time. Every
 * handle has its own queue (an io_uring ring, an iSCSI session, ...); a
 * second thread opens its own handle with lun_dup().
 *
 * Asynchronous I/O: fill a 'struct lun_io', lun_submit() it, then
 * lun_poll() runs the done() callbacks. done() is only ever called from
 * lun_poll() (or the sync helpers, which poll), never from inside
 * lun_submit(), so a callback may submit more I/O. Submitted requests
 * start at the latest on the next lun_poll() that has to wait, a
 * lun_poll() with min_done 0, or lun_kick(): submitting a batch and then
 * polling sends the batch and waits in one system call, and a closed loop
 * (callbacks resubmitting, the caller polling) costs one system call per
 * round. An event loop that blocks on anything other than lun_poll()
 * must call lun_kick() first, or requests its callbacks queued wait.
 *
 * Alignment: offsets and lengths are multiples of the logical sector size,
 * buffers aligned to lun_info.buf_align. Anything else is -EINVAL, beyond
 * the end is -ERANGE; nothing is sent to the device.
 *
 * Errors (negative errno):
 *   -EINVAL     misaligned or malformed request, bad URI
 *   -ERANGE     request beyond the end of the LUN
 *   -ETIMEDOUT  no completion within lun_config.io_timeout_ms
 *   -EIO        the device failed the request
 *   -EBADE      reservation conflict: this host is not registered with the
 *               LUN's persistent reservation (it has been fenced)
 *   -ENOTCONN   the connection to the target is gone and may not be
 *               re-established for this handle (lun_config.no_reconnect)
 *   -ECONNRESET the connection dropped while this write (or discard) was
 *               on the wire; it may or may not have reached the medium.
 *               The handle reconnects and takes new requests (reads and
 *               flushes in flight are simply re-sent). Without
 *               no_reconnect only.
 *   -EACCES     lun_open(): the target refused the login (CHAP)
 *   -ENOENT     lun_open(): no such target, LUN or file
 *   -EOPNOTSUPP the backend lacks the operation (see lun_info.caps)
 *   -EAGAIN     lun_submit(): queue full, poll first
 */
#ifndef VFS_LUN_H
#define VFS_LUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/compiler.h"

struct lun;

/* Capabilities (lun_info.caps). */
#define LUN_CAP_FUA (1u << 0)            /* per-write force unit access */
#define LUN_CAP_ATS (1u << 1)            /* lun_ats() works */
#define LUN_CAP_COMPARE_WRITE (1u << 2)  /* ATS is SCSI COMPARE AND WRITE */
#define LUN_CAP_PR (1u << 3)             /* SCSI-3 persistent reservations */
#define LUN_CAP_SHARED (1u << 4)         /* other machines can reach it */
#define LUN_CAP_DISCARD (1u << 5)        /* LUN_OP_DISCARD */
#define LUN_CAP_FIXED_BUFS (1u << 6)     /* lun_register_buffers() helps */

/* How lun_ats() is made atomic. */
enum lun_ats_method {
	LUN_ATS_AUTO = 0,      /* lun_config: pick the best available */
	LUN_ATS_NONE,          /* no atomic test-and-set */
	LUN_ATS_OFD_LOCK,      /* file: OFD byte-range lock around R-C-W */
	LUN_ATS_COMPARE_WRITE, /* SCSI COMPARE AND WRITE */
	LUN_ATS_PR_MUTEX,      /* short SCSI-3 reservation around R-C-W */
	LUN_ATS_MEM_MUTEX,     /* mem: a mutex around R-C-W */
};

struct lun_info {
	const char *scheme;           /* "file", "iscsi", "mem", "faulty" */
	uint64_t size_bytes;
	uint32_t logical_sector_bytes;  /* unit of offsets and lengths */
	uint32_t physical_sector_bytes; /* writes of this size never tear */
	uint32_t buf_align;           /* buffer address alignment, bytes */
	uint32_t max_io_bytes;        /* largest single request */
	uint32_t queue_depth;         /* requests in flight per handle */
	uint32_t caps;                /* LUN_CAP_* */
	enum lun_ats_method ats_method;
};

struct lun_config {
	uint32_t queue_depth;     /* 0: 64 */
	uint32_t io_timeout_ms;   /* 0: 10000; deadline for every request */
	bool read_only;           /* refuse writes, open the device read-only */
	/*
	 * Never re-send a command after a lost connection: in-flight requests
	 * fail with -ENOTCONN and so does every later one. Lock, heartbeat
	 * and journal paths set this, since a write replayed after a lease
	 * expired would break mutual exclusion. Without it, a handle
	 * reconnects by itself but never re-sends a write that may have
	 * reached the target (-ECONNRESET); see lun-iscsi.c.
	 */
	bool no_reconnect;
	enum lun_ats_method ats_method;  /* LUN_ATS_AUTO: the best one */
	const char *initiator_iqn;       /* iSCSI; NULL: derived from host */
	/*
	 * Persistent-reservation key registered at open (0: none). The
	 * LUN_ATS_PR_MUTEX method needs one; when 0 it derives a key from
	 * the host name and pid. Read-only handles register nothing. A
	 * registration made at open is removed by lun_close(); one made by
	 * lun_pr_register() outlives the handle, as in SCSI.
	 */
	uint64_t pr_key;
};

enum lun_op {
	LUN_OP_READ = 1,
	LUN_OP_WRITE,
	LUN_OP_FLUSH,      /* make every completed write durable */
	LUN_OP_DISCARD,    /* contents of the range become undefined */
};

#define LUN_IO_FUA (1u << 0) /* write: durable when done() runs */

struct lun_io {
	/* Filled in by the caller (lun_io_prep_*() help). */
	uint8_t op;                 /* enum lun_op */
	uint8_t flags;              /* LUN_IO_* */
	int16_t buf_index;          /* registered buffer index, -1 if none */
	uint32_t iovcnt;
	uint64_t offset_bytes;
	const struct iovec *iov;    /* data; NULL for flush */
	uint64_t len_bytes;         /* discard length; sum of iov otherwise */
	void (*done)(struct lun_io *io); /* never NULL */
	void *priv;                 /* the caller's */
	/* Set before done() runs: bytes transferred or a negative errno. */
	int64_t result;
	/* Private to the layer and backends. */
	struct iovec iov_one;
	uint64_t deadline_ns;
	struct lun_io *next;
};

/*
 * From lun_submit() until its done() runs, 'io', its iovecs and buffers
 * belong to the LUN layer; the caller must not touch or free them.
 */

/* Opens 'uri'; 'cfg' may be NULL for defaults. Returns 0 or -errno. */
int lun_open(const char *uri, const struct lun_config *cfg,
	     struct lun **out) must_check;
/* Another handle on the same LUN with the same config, for another thread. */
int lun_dup(struct lun *lun, struct lun **out) must_check;
/* Waits for in-flight I/O (up to the timeout), then frees. NULL: no-op. */
void lun_close(struct lun *lun);

const struct lun_info *lun_get_info(const struct lun *lun);
const char *lun_uri(const struct lun *lun);
/* Human-readable name of a method, e.g. "compare-and-write". */
const char *lun_ats_method_name(enum lun_ats_method method);

/* ---- asynchronous I/O ---- */

void lun_io_prep_read(struct lun_io *io, uint64_t offset, void *buf,
		      uint64_t len);
void lun_io_prep_write(struct lun_io *io, uint64_t offset, const void *buf,
		       uint64_t len, unsigned int flags);
void lun_io_prep_flush(struct lun_io *io);
void lun_io_prep_discard(struct lun_io *io, uint64_t offset, uint64_t len);

/* Queues 'io'. 0, -EAGAIN (queue full), or a validation error. */
int lun_submit(struct lun *lun, struct lun_io *io) must_check;
/* Starts queued requests without waiting. */
int lun_kick(struct lun *lun);
/*
 * Runs done() for completed requests, waiting until at least 'min_done'
 * have completed or 'timeout_ms' passed (-1: no limit, bounded anyway by
 * the request deadlines). Returns how many completed, or -errno.
 */
int lun_poll(struct lun *lun, unsigned int min_done, int timeout_ms);
/* Requests submitted and not yet completed. */
unsigned int lun_inflight(const struct lun *lun);

/*
 * A file descriptor for event loops (epoll, poll) that wait for this
 * handle's completions without polling it in small time steps. It polls
 * readable (POLLIN) whenever lun_poll(lun, 0, 0) has work to do: a
 * completion to run, or, on iSCSI, traffic on the session socket or a
 * request deadline to enforce. Level-triggered: every lun_poll() (whatever
 * its min_done, and the synchronous helpers, which poll) clears it and
 * sets it again before returning if more is already pending, so after
 * lun_poll() returns the fd is readable again only if there is more to
 * do. It may occasionally be readable with nothing to reap (lun_poll()
 * then returns 0); it is never unreadable while a completion waits.
 *
 * Waiting on the fd does not start requests: lun_submit() may only queue
 * them, so call lun_kick() (or lun_poll()) before sleeping, as for any
 * event loop that blocks outside lun_poll() (see the top of this file).
 *
 *   fd = lun_event_fd(lun);            // once; the handle owns it
 *   for (;;) {
 *           submit..., lun_kick(lun);
 *           poll({fd, POLLIN}, ...);   // or epoll with other fds
 *           lun_poll(lun, 0, 0);       // runs done() callbacks
 *   }
 *
 * The fd is made on the first call and closed by lun_close(); never read,
 * write or close it. It belongs to the handle's thread like the handle.
 * Backends: file (an eventfd registered with io_uring), iscsi (an epoll
 * fd over the session socket, a timerfd for deadlines and an eventfd),
 * mem (an eventfd), faulty (an epoll fd over the inner handle's fd, an
 * eventfd and a timerfd for delayed completions). Returns the fd,
 * -EOPNOTSUPP for a backend without one, or -errno.
 */
int lun_event_fd(struct lun *lun);

/*
 * Registers buffers for zero-copy fixed I/O (io_uring); set
 * lun_io.buf_index to use one. A no-op where the backend has no use for
 * it. Replaces any earlier registration; nothing may be in flight.
 */
int lun_register_buffers(struct lun *lun, const struct iovec *bufs,
			 unsigned int nbufs) must_check;

/* ---- synchronous helpers (they poll this handle) ---- */

int lun_read(struct lun *lun, uint64_t offset, void *buf,
	     uint64_t len) must_check;
/* 'flags': LUN_IO_FUA. */
int lun_write(struct lun *lun, uint64_t offset, const void *buf,
	      uint64_t len, unsigned int flags) must_check;
int lun_flush(struct lun *lun) must_check;
int lun_discard(struct lun *lun, uint64_t offset, uint64_t len) must_check;

/*
 * Atomic test-and-set of 'len' bytes (one logical sector, or one physical
 * sector where the method allows) at 'offset': if the LUN holds
 * 'expected', write 'desired' durably. Returns 0 when written,
 * LUN_ATS_MISCOMPARE when the contents differed (nothing written; read
 * again to see them), or -errno. Between concurrent lun_ats() calls on the
 * same sector from any hosts, exactly one succeeds for a given 'expected'.
 * -EBADE: this host is fenced (nothing written). -ETIMEDOUT, -ENOTCONN,
 * -ECONNRESET: the outcome is unknown, read the sector. With
 * LUN_ATS_PR_MUTEX the call takes up to about 2 x io_timeout_ms while
 * other hosts' ATS hold the LUN (see lun-iscsi-pr.c).
 */
#define LUN_ATS_MISCOMPARE 1
int lun_ats(struct lun *lun, uint64_t offset, const void *expected,
	    const void *desired, uint64_t len) must_check;

/* ---- SCSI-3 persistent reservations (LUN_CAP_PR) ---- */

enum lun_pr_type {
	LUN_PR_WRITE_EXCLUSIVE = 1,
	LUN_PR_EXCLUSIVE_ACCESS = 3,
	LUN_PR_WRITE_EXCLUSIVE_REG_ONLY = 5,
	LUN_PR_EXCLUSIVE_ACCESS_REG_ONLY = 6,
	LUN_PR_WRITE_EXCLUSIVE_ALL_REG = 7,
	LUN_PR_EXCLUSIVE_ACCESS_ALL_REG = 8,
};

struct lun_pr_state {
	uint32_t generation;   /* PRgeneration from the device */
	uint32_t nkeys;        /* registered keys (may exceed what fit) */
	uint64_t keys[256];    /* the first 256 keys */
	bool reserved;
	uint64_t holder_key;   /* 0 for all-registrants types */
	enum lun_pr_type type;
};

/*
 * Keys whose upper 32 bits are this tag belong to the holder of a
 * standing fencing reservation (the datastore's "anchor"): the PR-mutex
 * ATS never takes such a reservation for a stuck ATS, never preempts it,
 * and waits (up to its limit) instead.
 */
#define LUN_PR_ANCHOR_TAG 0x414e4348u /* "ANCH" */

static inline bool
lun_pr_key_is_anchor(uint64_t key)
{
	return (uint32_t)(key >> 32) == LUN_PR_ANCHOR_TAG;
}

/* Registers 'key' for this handle's connection (0 unregisters). */
int lun_pr_register(struct lun *lun, uint64_t key) must_check;
/* This handle's registered key, 0 if none. */
uint64_t lun_pr_key(const struct lun *lun);
int lun_pr_reserve(struct lun *lun, enum lun_pr_type type) must_check;
int lun_pr_release(struct lun *lun, enum lun_pr_type type) must_check;
/*
 * Removes every registration of 'victim_key' (and takes over its
 * reservation with 'type' if it held one); with 'abort' also aborts its
 * queued commands. After this the victim's writes get -EBADE wherever a
 * registrants-only reservation is in force.
 */
int lun_pr_preempt(struct lun *lun, uint64_t victim_key,
		   enum lun_pr_type type, bool abort) must_check;
int lun_pr_read(struct lun *lun, struct lun_pr_state *out) must_check;

/* ---- statistics ---- */

struct lun_stats {
	uint64_t reads, writes, flushes, discards, ats, pr_ops;
	uint64_t bytes_read, bytes_written;
	uint64_t errors, timeouts, reconnects, ats_retries;
};

/* Counters of this handle since open (or the last reset). */
void lun_get_stats(const struct lun *lun, struct lun_stats *out);
void lun_reset_stats(struct lun *lun);
/* Total device I/Os (reads + writes + flushes + ats + pr_ops). */
uint64_t lun_stats_ios(const struct lun_stats *st);

#endif
