/* SPDX-License-Identifier: MIT */
/*
 * Fault injection over any LUN, shipped in the product so system tests run
 * production binaries: "faulty[,OPTION=VALUE...]:INNER-URI".
 *
 * Options (all optional):
 *   seed=N          random seed for probabilities and power-cut subsets
 *   p_error=F       each I/O fails with -EIO with probability F
 *   p_drop=F        each write is acknowledged but not written
 *   p_tear=F        each write lands only partly (a sector-granular prefix)
 *   p_delay=F       each I/O is delayed by delay_ms
 *   delay_ms=N      (default 100)
 *   volatile=1      a write-back cache: writes are held until a flush (or
 *                   a FUA write or ATS) and a power cut loses a random
 *                   subset of them, so unflushed writes reorder
 *   log=PATH        append every durable-ordered write and flush to a write
 *                   log that lun_writelog_replay() can replay to any point
 *   script=PATH     rules, one per line (see lun_faulty_parse_rule())
 *
 * Rule lines: "OPS ACTION [nth=N] [count=N] [range=LO-HI] [p=F]"
 *   OPS     read, write, flush, discard, ats, any, or a comma list
 *   ACTION  error[=ERRNO]   fail with ERRNO (EIO, ETIMEDOUT, EBADE, ...)
 *           drop            acknowledge a write without writing it
 *           delay=MS        complete MS milliseconds late
 *           tear[=SECTORS]  write only the first SECTORS (random if absent)
 *           crash           the device dies here: this write tears, the
 *                           volatile cache loses a random subset, and every
 *                           later I/O fails with -EIO
 *   nth=N   fire from the Nth matching I/O on (1-based; default 1)
 *   count=N fire at most N times (default: 1 when nth is given, else
 *           unlimited)
 *   range   only I/O overlapping bytes [LO, HI)
 *   p=F     fire with probability F among matching I/O
 *
 * Fault state (rules, counters, cache, log) is shared by every handle made
 * from one wrapper with lun_dup().
 */
#ifndef VFS_LUN_FAULTY_H
#define VFS_LUN_FAULTY_H

#include "vfs-cluster/lun.h"

enum lun_fault_action {
	LUN_FAULT_ERROR = 1,
	LUN_FAULT_DROP,
	LUN_FAULT_DELAY,
	LUN_FAULT_TEAR,
	LUN_FAULT_CRASH,
};

#define LUN_FAULT_OP(op) (1u << (op))   /* enum lun_op */
#define LUN_FAULT_OP_ATS (1u << 7)
#define LUN_FAULT_OP_ANY 0xffu

struct lun_fault_rule {
	uint32_t ops;              /* LUN_FAULT_OP_* mask */
	enum lun_fault_action action;
	int error;                 /* positive errno for ERROR (default EIO) */
	uint32_t delay_ms;         /* DELAY */
	uint32_t tear_sectors;     /* TEAR/CRASH; 0: random */
	uint64_t nth;              /* first matching I/O that fires, 1-based */
	uint64_t count;            /* times it may fire; 0: unlimited */
	uint64_t range_lo, range_hi; /* byte range; hi 0: everything */
	double probability;        /* 0 or 1: always */
};

struct lun_fault_stats {
	uint64_t errors, drops, delays, tears, crashes;
	uint64_t cached_writes;    /* volatile writes not yet flushed */
	uint64_t lost_writes;      /* volatile writes lost to power cuts */
	bool dead;                 /* crashed or power cut, not powered on */
};

/* True if 'lun' is a fault wrapper. */
bool lun_is_faulty(const struct lun *lun);
/*
 * Wraps an open LUN; the wrapper owns 'inner' from now on (even on error).
 * 'options' uses the URI option syntax without the scheme ("seed=1,..."),
 * NULL for none.
 */
int lun_faulty_wrap(struct lun *inner, const char *options,
		    struct lun **out) must_check;
/* Parses one rule line; 0 or -EINVAL. */
int lun_faulty_parse_rule(const char *line, struct lun_fault_rule *out);
int lun_faulty_add_rule(struct lun *lun, const struct lun_fault_rule *rule);
void lun_faulty_clear_rules(struct lun *lun);
/*
 * Simulates power loss: a random subset (from 'seed') of the cached
 * writes reaches the device, in order, one of them possibly torn; the
 * rest are lost. Every I/O then fails with -EIO until power_on.
 */
int lun_faulty_power_cut(struct lun *lun, uint64_t seed);
void lun_faulty_power_on(struct lun *lun);
void lun_faulty_get_stats(const struct lun *lun, struct lun_fault_stats *out);

/* ---- write log ---- */

/*
 * A write log records, in completion order, every write as it becomes
 * durable-ordered on the device, with a marker at each flush. A "point"
 * is a moment after which everything before it is durable: each flush
 * completion and each FUA write (including a successful ATS). Point 0 is
 * the state before the first logged write.
 */
struct lun_writelog;

int lun_writelog_open(const char *path, struct lun_writelog **out) must_check;
void lun_writelog_close(struct lun_writelog *log);
/* Number of points after 0 (so points run 0..count). */
unsigned int lun_writelog_points(const struct lun_writelog *log);
uint64_t lun_writelog_writes(const struct lun_writelog *log);
/*
 * Writes onto 'target' (a copy of the LUN as it was when logging began)
 * every logged write up to 'point'. With 'subset_seed' non-zero, a
 * random subset of the writes between 'point' and the next point follows
 * (what a crash with a write-back cache may leave), the last of them
 * possibly torn at a sector boundary. Returns 0 or -errno.
 */
int lun_writelog_replay(const struct lun_writelog *log, struct lun *target,
			unsigned int point, uint64_t subset_seed) must_check;
/*
 * The same for a 'target' already at point 'from' (an earlier replay):
 * applies only the writes from 'from' to 'point', so a test walking every
 * point does linear rather than quadratic work.
 */
int lun_writelog_replay_from(const struct lun_writelog *log,
			     struct lun *target, unsigned int from,
			     unsigned int point, uint64_t subset_seed)
	must_check;

#endif
