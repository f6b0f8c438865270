/* SPDX-License-Identifier: MIT */
/*
 * Persistent reservations and the atomic test-and-set (ATS) of the iSCSI
 * backend.
 *
 * PR: register is REGISTER AND IGNORE EXISTING KEY (key 0 unregisters);
 * reserve, release and preempt use this handle's registered key;
 * preempt with 'abort' is PREEMPT AND ABORT, falling back to PREEMPT
 * (with a warning) where the target lacks it, as tgtd does; read is READ
 * KEYS plus READ RESERVATION. A PREEMPT naming a key that is not
 * registered gets RESERVATION CONFLICT (SPC), so -EBADE.
 *
 * ATS, method compare-and-write: one COMPARE AND WRITE with FUA; a
 * miscompare sense is LUN_ATS_MISCOMPARE.
 *
 * ATS, method pr-mutex (targets without COMPARE AND WRITE, like tgtd):
 * the LUN's persistent reservation is a cluster-wide mutex around a
 * read-compare-write. Every read-write handle registered its key at open
 * (lun_config.pr_key, else lun_default_pr_key()). One ATS:
 *
 *   1. PERSISTENT RESERVE OUT RESERVE, type write-exclusive registrants-
 *      only: other registered hosts keep reading and writing data, only a
 *      second ATS (another RESERVE) conflicts. On RESERVATION CONFLICT,
 *      READ RESERVATION says who holds it (and once per ATS, READ KEYS
 *      checks that our own key is still registered: if not, this host
 *      was fenced and the ATS fails with -EBADE). Retry with jittered
 *      exponential backoff (50 us .. 2 ms) until the wait limit (1.5 x
 *      io_timeout_ms after the call): -ETIMEDOUT.
 *   2. READ the sector, compare; on a difference, RELEASE and return
 *      LUN_ATS_MISCOMPARE.
 *   3. WRITE(16) with FUA, only if we still are within the hold limit.
 *   4. RELEASE.
 *
 * Uncontended that is 4 commands; lun_stats counts the READ in 'reads',
 * the reservation commands in 'pr_ops' and the WRITE as the 'ats'
 * itself, so lun_stats_ios() is the number of SCSI commands.
 *
 * Timing, with T = io_timeout_ms (every host must use the same T):
 * a holder finishes its read-compare-write within the hold limit T/2 of
 * sending RESERVE (its READ and WRITE carry that deadline and it does not
 * send the WRITE after it); a waiter that sees the same key holding a
 * write-exclusive-registrants-only reservation continuously for the
 * stale limit T preempts that key (PREEMPT, type 5), which takes the
 * reservation over and removes the holder's registration: it is fenced.
 * A waiter gives up after 1.5 T, enough to see a whole stale limit, so
 * lun_ats() returns within about 2 T. The hold limit leaves each of the
 * two data commands about T/2 (a FUA write is a flush on many targets).
 *
 * Failure cases:
 * - A host dies between RESERVE and RELEASE: the reservation stays with
 *   its I_T nexus; after T the next ATS preempts it. The dead host is
 *   fenced (its key is gone) and must register again deliberately (the
 *   datastore does so only after checking its heartbeat).
 * - A paused holder resumes (SIGSTOP, a VM pause, a long network stall)
 *   after being preempted: SPC gives its I_T nexus a unit attention
 *   (RESERVATIONS or REGISTRATIONS PREEMPTED), so its next command, the
 *   READ or WRITE of its ATS, fails instead of running; we turn that into
 *   -EBADE and never retry it. It also checks the hold limit before its
 *   WRITE. What remains: a WRITE sent within the hold limit that the
 *   network delays by more than T/2 and that the target receives just
 *   before the PREEMPT could still land after the preemptor's READ.
 *   COMPARE AND WRITE has no such window.
 * - The connection drops mid-ATS: the command in flight fails
 *   (-ECONNRESET, -ENOTCONN or -ETIMEDOUT) and the ATS with it; its
 *   WRITE may or may not have landed, so read the sector before trying
 *   again. A reservation the lost session held stays with it until
 *   preempted after T (which fences this host's key; with tgtd even a
 *   reconnecting handle of this host then needs lun_pr_register()).
 * - Another host holds a reservation of another type, or one whose key
 *   carries LUN_PR_ANCHOR_TAG (a long-lived fencing reservation): it is
 *   not an ATS mutex and is never preempted; the ATS waits until its
 *   deadline. For such a reservation
 *   use a type other than write-exclusive-registrants-only, or hold it
 *   on the host doing the ATS: a handle that holds a single-holder
 *   reservation itself (lun_pr_reserve() or a preempt that took one over)
 *   does its ATS as a plain read-compare-write under it (2 commands).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "vfs-cluster/lun-iscsi-internal.h"

#define TYPE_MUTEX SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY
#define BACKOFF_MIN_NS (50 * NS_PER_US)
#define BACKOFF_MAX_NS (2 * NS_PER_MS)

struct reservation {
	bool reserved;
	uint64_t key;
	int type;
	uint32_t generation;
};

static bool
single_holder(int type)
{
	return type == LUN_PR_WRITE_EXCLUSIVE ||
	       type == LUN_PR_EXCLUSIVE_ACCESS ||
	       type == LUN_PR_WRITE_EXCLUSIVE_REG_ONLY ||
	       type == LUN_PR_EXCLUSIVE_ACCESS_REG_ONLY;
}

static int
pr_out(struct lun_iscsi *l, int sa, int type, uint64_t sa_key,
       uint64_t deadline)
{
	struct iscsi_cmd cmd;
	int rc;

	iscsi_cmd_init(l, &cmd, KIND_PR_OUT, deadline);
	cmd.arg.sa = sa;
	cmd.arg.type = type;
	cmd.arg.key = l->base.pr_key;
	cmd.arg.sa_key = sa_key;
	rc = iscsi_cmd_run(&cmd);
	iscsi_cmd_release(&cmd);
	return rc;
}

static int
read_reservation(struct lun_iscsi *l, struct reservation *out,
		 uint64_t deadline)
{
	struct scsi_persistent_reserve_in_read_reservation *rr;
	struct iscsi_cmd cmd;
	int rc;

	iscsi_cmd_init(l, &cmd, KIND_PR_IN, deadline);
	cmd.arg.sa = SCSI_PERSISTENT_RESERVE_READ_RESERVATION;
	cmd.arg.alloc = 24;
	rc = iscsi_cmd_run(&cmd);
	if (rc == 0) {
		rr = scsi_datain_unmarshall(cmd.task);
		if (!rr) {
			rc = -EPROTO;
		} else {
			out->reserved = rr->reserved;
			out->key = rr->reserved ? rr->reservation_key : 0;
			out->type = rr->reserved ? rr->pr_type : 0;
			out->generation = rr->prgeneration;
		}
	}
	iscsi_cmd_release(&cmd);
	return rc;
}

int
iscsi_pr_read_keys(struct lun_iscsi *l, uint32_t *generation,
		   uint64_t *keys, uint32_t max, uint32_t *nkeys)
{
	struct scsi_persistent_reserve_in_read_keys *rk;
	struct iscsi_cmd cmd;
	int rc;

	iscsi_cmd_init(l, &cmd, KIND_PR_IN, iscsi_deadline(l));
	cmd.arg.sa = SCSI_PERSISTENT_RESERVE_READ_KEYS;
	cmd.arg.alloc = PR_KEYS_ALLOC;
	rc = iscsi_cmd_run(&cmd);
	if (rc == 0) {
		rk = scsi_datain_unmarshall(cmd.task);
		if (!rk) {
			rc = -EPROTO;
		} else {
			*generation = rk->prgeneration;
			*nkeys = rk->additional_length / 8;
			for (int i = 0; i < rk->num_keys && (uint32_t)i < max; i++)
				keys[i] = rk->keys[i];
		}
	}
	iscsi_cmd_release(&cmd);
	return rc;
}

/* 1 if our key is registered, 0 if not, or -errno. */
static int
key_registered(struct lun_iscsi *l)
{
	const uint32_t max = (PR_KEYS_ALLOC - 8) / 8;
	uint64_t *keys = malloc(max * sizeof(*keys));
	uint32_t gen, n;
	int rc;

	if (!keys)
		return -ENOMEM;
	rc = iscsi_pr_read_keys(l, &gen, keys, max, &n);
	if (rc == 0) {
		for (uint32_t i = 0; i < n && i < max && !rc; i++)
			rc = keys[i] == l->base.pr_key;
	}
	free(keys);
	return rc;
}

int
iscsi_pr_register_key(struct lun_iscsi *l, uint64_t key)
{
	return pr_out(l, SCSI_PERSISTENT_RESERVE_REGISTER_AND_IGNORE_EXISTING_KEY,
		      0, key, iscsi_deadline(l));
}

void
iscsi_pr_note_ua(struct lun_iscsi *l, const struct scsi_sense *sense)
{
	if (sense->ascq == 0x2a04) {
		/* Only an all-registrants reservation we share can have been
		 * released by someone else. */
		log_info(LOG_TOPIC, "%s: unit attention: reservations released",
			 l->log_name);
		if (!single_holder(l->held_type))
			l->held_type = 0;
		return;
	}
	log_warn(LOG_TOPIC, "%s: unit attention: %s preempted by another "
		 "host", l->log_name,
		 sense->ascq == 0x2a05 ? "registrations" : "reservations");
	l->held_type = 0;
}

/* ---- the lun_ops PR entries ---- */

int
lun_iscsi_pr_register(struct lun *lun, uint64_t key)
{
	struct lun_iscsi *l = to_iscsi(lun);
	int rc = iscsi_pr_register_key(l, key);

	if (rc == 0) {
		l->implicit_reg = false;
		if (key == 0)
			l->held_type = 0;
	}
	return rc;
}

int
lun_iscsi_pr_reserve(struct lun *lun, enum lun_pr_type type)
{
	struct lun_iscsi *l = to_iscsi(lun);
	int rc = pr_out(l, SCSI_PERSISTENT_RESERVE_RESERVE, (int)type, 0,
			iscsi_deadline(l));

	if (rc == 0)
		l->held_type = (int)type;
	return rc;
}

int
lun_iscsi_pr_release(struct lun *lun, enum lun_pr_type type)
{
	struct lun_iscsi *l = to_iscsi(lun);
	int rc = pr_out(l, SCSI_PERSISTENT_RESERVE_RELEASE, (int)type, 0,
			iscsi_deadline(l));

	if (rc == 0)
		l->held_type = 0;
	return rc;
}

static int
preempt(struct lun_iscsi *l, uint64_t victim, int type, bool abort,
	uint64_t deadline)
{
	static bool warned;
	int rc;

	if (abort) {
		rc = pr_out(l, SCSI_PERSISTENT_RESERVE_PREEMPT_AND_ABORT, type,
			    victim, deadline);
		if (rc != -EINVAL)
			return rc;
		if (!warned)
			log_warn(LOG_TOPIC, "%s: the target has no PREEMPT AND "
				 "ABORT; preempting without aborting the "
				 "victim's queued commands", l->log_name);
		warned = true;
		l->base.stats.pr_ops++;
	}
	return pr_out(l, SCSI_PERSISTENT_RESERVE_PREEMPT, type, victim,
		      deadline);
}

int
lun_iscsi_pr_preempt(struct lun *lun, uint64_t victim, enum lun_pr_type type,
		     bool abort)
{
	struct lun_iscsi *l = to_iscsi(lun);
	struct reservation before = { 0 };
	int rc;

	/* Whether the victim held a reservation we now take over. */
	rc = read_reservation(l, &before, iscsi_deadline(l));
	if (rc < 0)
		return rc;
	l->base.stats.pr_ops++;
	rc = preempt(l, victim, (int)type, abort, iscsi_deadline(l));
	if (rc == 0 && before.reserved && before.key == victim &&
	    single_holder(before.type) && victim != l->base.pr_key)
		l->held_type = (int)type;
	return rc;
}

int
lun_iscsi_pr_read(struct lun *lun, struct lun_pr_state *out)
{
	struct lun_iscsi *l = to_iscsi(lun);
	struct reservation r;
	int rc;

	rc = iscsi_pr_read_keys(l, &out->generation, out->keys,
				ARRAY_SIZE(out->keys), &out->nkeys);
	if (rc < 0)
		return rc;
	l->base.stats.pr_ops++;
	rc = read_reservation(l, &r, iscsi_deadline(l));
	if (rc < 0)
		return rc;
	out->reserved = r.reserved;
	out->holder_key = single_holder(r.type) ? r.key : 0;
	out->type = (enum lun_pr_type)r.type;
	return 0;
}

/* ---- ATS by COMPARE AND WRITE ---- */

static int
caw_ats(struct lun_iscsi *l, uint64_t offset, const void *expected,
	const void *desired, uint64_t len)
{
	struct iscsi_cmd cmd;
	int rc;

	if (l->max_cmp_blocks && len / l->block_bytes > l->max_cmp_blocks)
		return -EINVAL;
	iscsi_cmd_init(l, &cmd, KIND_CAW, iscsi_deadline(l));
	cmd.arg.lba = offset / l->block_bytes;
	cmd.arg.len = (uint32_t)len;
	cmd.iov[0].iov_base = (void *)(uintptr_t)expected;
	cmd.iov[0].iov_len = len;
	cmd.iov[1].iov_base = (void *)(uintptr_t)desired;
	cmd.iov[1].iov_len = len;
	rc = iscsi_cmd_run(&cmd);
	iscsi_cmd_release(&cmd);
	return rc;
}

/* ---- ATS under the PR mutex ---- */

struct mutex_wait {
	uint64_t deadline;       /* give up waiting */
	uint64_t stale_ns;       /* preempt a holder seen this long */
	uint64_t watch_key;      /* holder we are timing */
	uint64_t watch_since;
	uint64_t backoff;
	uint64_t rng;
	bool keys_checked;
	unsigned int free_conflicts;
};

static void
backoff_wait(struct lun_iscsi *l, struct mutex_wait *w)
{
	uint64_t wake, span;

	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	span = w->backoff / 2 + w->rng % (w->backoff / 2 + 1);
	wake = MIN(clock_mono_ns() + span, w->deadline);
	w->backoff = MIN(w->backoff * 2, BACKOFF_MAX_NS);
	l->base.stats.ats_retries++;
	/* Keep the session serviced while we wait. */
	while (clock_mono_ns() < wake)
		iscsi_engine_round(l, wake);
}

/* Checks our registration once per ATS: -EBADE when fenced. */
static int
check_fenced(struct lun_iscsi *l, struct mutex_wait *w)
{
	int rc;

	w->keys_checked = true;
	rc = key_registered(l);
	l->base.stats.pr_ops++;
	if (rc < 0)
		return rc;
	if (rc == 0) {
		log_err(LOG_TOPIC, "%s: ATS: key 0x%llx is no longer "
			"registered (this host was fenced)", l->log_name,
			(unsigned long long)l->base.pr_key);
		return -EBADE;
	}
	return 0;
}

/*
 * Preempts a holder seen for the stale limit. 0: we hold the mutex now;
 * 1: we do not (it went away meanwhile), try again; -errno.
 */
static int
preempt_stale(struct lun_iscsi *l, struct mutex_wait *w, uint64_t victim)
{
	struct reservation r;
	int rc;

	log_warn(LOG_TOPIC, "%s: ATS reservation of key 0x%llx held for "
		 "over %llu ms: preempting it (that host is presumed dead "
		 "mid-ATS%s and is now fenced)", l->log_name,
		 (unsigned long long)victim,
		 (unsigned long long)(w->stale_ns / NS_PER_MS),
		 victim == l->base.pr_key ? "; it is this host's own key, "
					    "so its other handles too" : "");
	rc = pr_out(l, SCSI_PERSISTENT_RESERVE_PREEMPT, TYPE_MUTEX, victim,
		    w->deadline);
	l->base.stats.pr_ops++;
	if (rc == -EBADE) {
		rc = check_fenced(l, w);
		return rc < 0 ? rc : 1;
	}
	if (rc < 0)
		return rc;
	rc = read_reservation(l, &r, w->deadline);
	l->base.stats.pr_ops++;
	if (rc < 0)
		return rc;
	return r.reserved && r.type == TYPE_MUTEX && r.key == l->base.pr_key ?
	       0 : 1;
}

/* After a RESERVATION CONFLICT: 0 wait and retry, 1 we hold it, -errno. */
static int
on_conflict(struct lun_iscsi *l, struct mutex_wait *w)
{
	struct reservation r;
	uint64_t now;
	int rc;

	rc = read_reservation(l, &r, w->deadline);
	l->base.stats.pr_ops++;
	if (rc < 0)
		return rc;
	if (!w->keys_checked || (!r.reserved && ++w->free_conflicts >= 2)) {
		rc = check_fenced(l, w);
		if (rc < 0)
			return rc;
	}
	/* A standing fencing reservation is not an ATS: never stale. */
	if (!r.reserved || r.type != TYPE_MUTEX ||
	    lun_pr_key_is_anchor(r.key))
		return 0;
	now = clock_mono_ns();
	if (r.key != w->watch_key || !w->watch_since) {
		w->watch_key = r.key;
		w->watch_since = now;
		return 0;
	}
	if (now - w->watch_since < w->stale_ns)
		return 0;
	rc = preempt_stale(l, w, r.key);
	if (rc == 1)
		w->watch_since = 0;
	return rc == 0 ? 1 : rc < 0 ? rc : 0;
}

static int
mutex_acquire(struct lun_iscsi *l, uint64_t start, uint64_t *acquired_at)
{
	struct mutex_wait w = {
		.deadline = start + l->io_timeout_ns + l->io_timeout_ns / 2,
		.stale_ns = l->io_timeout_ns,
		.backoff = BACKOFF_MIN_NS,
		.rng = start ^ l->base.pr_key ^ (uintptr_t)l,
	};
	struct reservation last = { 0 };
	int rc;

	for (;;) {
		uint64_t sent = clock_mono_ns();

		if (sent >= w.deadline) {
			read_reservation(l, &last, sent + l->io_timeout_ns);
			log_err(LOG_TOPIC, "%s: ATS: the LUN stayed reserved "
				"(key 0x%llx, type %d) for %llu ms",
				l->log_name, (unsigned long long)last.key,
				last.type,
				(unsigned long long)(l->io_timeout_ns /
						     NS_PER_MS));
			return -ETIMEDOUT;
		}
		rc = pr_out(l, SCSI_PERSISTENT_RESERVE_RESERVE, TYPE_MUTEX, 0,
			    w.deadline);
		l->base.stats.pr_ops++;
		if (rc == 0) {
			*acquired_at = sent;
			return 0;
		}
		if (rc != -EBADE)
			return rc;
		rc = on_conflict(l, &w);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			*acquired_at = clock_mono_ns();
			return 0;
		}
		backoff_wait(l, &w);
	}
}

static int
sector_io(struct lun_iscsi *l, enum cmd_kind kind, uint64_t offset,
	  void *buf, uint64_t len, uint64_t deadline)
{
	struct iscsi_cmd cmd;
	int rc;

	iscsi_cmd_init(l, &cmd, kind, deadline);
	cmd.arg.lba = offset / l->block_bytes;
	cmd.arg.len = (uint32_t)len;
	cmd.iov[0].iov_base = buf;
	cmd.iov[0].iov_len = len;
	/* A preemption seen here means we lost the mutex: never retry. */
	cmd.abort_on_pr_ua = true;
	rc = iscsi_cmd_run(&cmd);
	iscsi_cmd_release(&cmd);
	return rc;
}

static int
read_compare_write(struct lun_iscsi *l, uint64_t offset, const void *expected,
		   const void *desired, uint64_t len, uint64_t hold_end)
{
	void *cur;
	int rc;

	if (posix_memalign(&cur, 4096, len))
		return -ENOMEM;
	rc = sector_io(l, KIND_READ, offset, cur, len, hold_end);
	l->base.stats.reads++;
	if (rc < 0)
		goto out;
	if (memcmp(cur, expected, len) != 0) {
		rc = LUN_ATS_MISCOMPARE;
		goto out;
	}
	if (clock_mono_ns() >= hold_end) {
		log_err(LOG_TOPIC, "%s: ATS: hold limit passed before the "
			"write; not writing", l->log_name);
		rc = -ETIMEDOUT;
		goto out;
	}
	rc = sector_io(l, KIND_WRITE_FUA, offset, (void *)(uintptr_t)desired,
		       len, hold_end);
out:
	free(cur);
	return rc;
}

static int
mutex_ats(struct lun_iscsi *l, uint64_t offset, const void *expected,
	  const void *desired, uint64_t len)
{
	uint64_t start = clock_mono_ns(), acquired_at;
	int rc, rr;

	if (!l->base.pr_key) {
		log_err(LOG_TOPIC, "%s: ATS: this handle has no registered "
			"key", l->log_name);
		return -EBADE;
	}
	if (l->held_type && !single_holder(l->held_type)) {
		log_err(LOG_TOPIC, "%s: ATS: this handle holds an "
			"all-registrants reservation, which excludes nobody",
			l->log_name);
		return -EBUSY;
	}
	if (l->held_type)
		return read_compare_write(l, offset, expected, desired, len,
					  start + l->io_timeout_ns);
	rc = mutex_acquire(l, start, &acquired_at);
	if (rc < 0)
		return rc;
	rc = read_compare_write(l, offset, expected, desired, len,
				acquired_at + l->io_timeout_ns / 2);
	rr = pr_out(l, SCSI_PERSISTENT_RESERVE_RELEASE, TYPE_MUTEX, 0,
		    iscsi_deadline(l));
	l->base.stats.pr_ops++;
	if (rr < 0)
		log_warn(LOG_TOPIC, "%s: ATS: RELEASE failed (%s); the "
			 "reservation stays until another host preempts it",
			 l->log_name, strerror(-rr));
	return rc;
}

int
lun_iscsi_ats(struct lun *lun, uint64_t offset, const void *expected,
	      const void *desired, uint64_t len)
{
	struct lun_iscsi *l = to_iscsi(lun);

	switch (l->base.info.ats_method) {
	case LUN_ATS_COMPARE_WRITE:
		return caw_ats(l, offset, expected, desired, len);
	case LUN_ATS_PR_MUTEX:
		return mutex_ats(l, offset, expected, desired, len);
	default:
		return -EOPNOTSUPP;
	}
}
