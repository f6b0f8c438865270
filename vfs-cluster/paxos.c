/* SPDX-License-Identifier: MIT */
/*
 * The disk-paxos mutex (the protocol, its costs and timing are in
 * paxos.h). This file: reading the area as one view, running one
 * instance, waiting for (and taking over from) another owner, fencing,
 * and the read-compare-write done under the mutex.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "vfs-cluster/paxos.h"

#define TOPIC "vfs.paxos"
#define BACKOFF_MIN_NS (200 * NS_PER_US)
#define BACKOFF_MAX_NS (8 * NS_PER_MS)
#define TORN_RETRIES 4

static uint64_t
hold_ns(const struct paxos *px)
{
	return px->cfg.io_timeout_ns;
}

static uint64_t
stale_ns(const struct paxos *px)
{
	return 4 * px->cfg.io_timeout_ns;
}

static bool
same_owner(const struct od_pxowner *a, const struct od_pxowner *b)
{
	return a->slot == b->slot && a->gen == b->gen && a->key == b->key;
}

int
paxos_init(struct paxos *px, const struct paxos_cfg *cfg)
{
	memset(px, 0, sizeof(*px));
	if (!cfg->nblocks || cfg->nblocks > VFS_PAXOS_MAX ||
	    cfg->me.slot >= cfg->nblocks || !cfg->io_timeout_ns)
		return -EINVAL;
	px->cfg = *cfg;
	/* aligned_alloc wants a size that is a multiple of the alignment. */
	px->buf = aligned_alloc(4096, ALIGN_UP((size_t)(1 + cfg->nblocks) *
					       VFS_SECTOR, 4096));
	px->sec = aligned_alloc(4096, 4096);
	px->blocks = calloc(cfg->nblocks, sizeof(*px->blocks));
	if (!px->buf || !px->sec || !px->blocks) {
		paxos_fini(px);
		return -ENOMEM;
	}
	px->rng = clock_mono_ns() ^ cfg->me.key ^ ((uint64_t)cfg->me.slot << 40);
	px->rng |= 1;
	return 0;
}

void
paxos_fini(struct paxos *px)
{
	free(px->buf);
	free(px->sec);
	free(px->blocks);
	px->buf = px->sec = NULL;
	px->blocks = NULL;
}

/* ---- the view ---- */

/*
 * Reads the leader and every block in one command. A read overlapping
 * another host's write may see part of it on some targets: retried; what
 * stays invalid is damage (fsck --repair clears the area).
 */
static int
read_view(struct paxos *px, struct lun *lun)
{
	uint32_t n = 1 + px->cfg.nblocks;

	for (int attempt = 0;; attempt++) {
		bool bad = false;
		int rc;

		rc = lun_read(lun, px->cfg.area_off, px->buf,
			      (uint64_t)n * VFS_SECTOR);
		if (rc < 0)
			return rc;
		if (od_pxleader_in(px->buf, &px->leader) < 0)
			bad = true;
		for (uint32_t i = 0; i < px->cfg.nblocks; i++)
			if (od_pxblock_in(px->buf + (uint64_t)(1 + i) * VFS_SECTOR,
					  i, &px->blocks[i]) < 0)
				bad = true;
		if (!bad)
			return 0;
		if (attempt == TORN_RETRIES) {
			log_err(TOPIC, "the disk-paxos area at %llu is corrupt "
				"(vfs fsck --repair clears it)",
				(unsigned long long)px->cfg.area_off);
			return -EUCLEAN;
		}
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
}

static uint64_t
view_max_lver(const struct paxos *px)
{
	uint64_t m = px->leader.lver;

	for (uint32_t i = 0; i < px->cfg.nblocks; i++)
		m = MAX(m, px->blocks[i].lver);
	return m;
}

static int
write_block(struct paxos *px, struct lun *lun, const struct od_pxblock *b)
{
	int rc;

	od_pxblock_out(b, px->sec);
	rc = lun_write(lun, px->cfg.area_off + (uint64_t)(1 + b->self) *
			    VFS_SECTOR, px->sec, VFS_SECTOR, 0);
	if (rc == 0)
		px->mine = *b;
	return rc;
}

/*
 * Whether a just-read view lets our run of instance 'lver' with ballot
 * 'bal' go on: -EAGAIN when someone is ahead of us.
 */
static int
check_view(const struct paxos *px, uint64_t lver, uint64_t bal,
	   bool over_unreleased)
{
	if (px->leader.lver >= lver)
		return -EAGAIN; /* released already: we are behind */
	if (!over_unreleased && px->leader.lver + 1 != lver)
		return -EAGAIN; /* the one before is not released */
	for (uint32_t i = 0; i < px->cfg.nblocks; i++) {
		const struct od_pxblock *b = &px->blocks[i];

		if (i == px->cfg.me.slot)
			continue;
		if (b->lver > lver || (b->lver == lver && b->mbal > bal))
			return -EAGAIN;
	}
	return 0;
}

/*
 * Ballots: participant i uses only numbers equal to i modulo n (the
 * number of participants), so no two share one: n + i for the fast run
 * below, k x n + i with k >= 2 for runs with phase 1.
 *
 * Phase 2 straight away, for the owner of the instance before 'lver'
 * (released by it): the one participant that may. Its ballot, n + me, is
 * below every ballot a run with phase 1 uses, so no value accepted under
 * a lower ballot can be missed, which is all phase 1 is for; a
 * competitor's run either reads our accepted value in its phase 1 or
 * shows us its higher ballot in our read.
 */
static int
run_owner_fast(struct paxos *px, struct lun *lun, uint64_t lver,
	       struct od_pxowner *out)
{
	uint64_t bal = px->cfg.nblocks + px->cfg.me.slot;
	struct od_pxblock b = {
		.self = px->cfg.me.slot, .lver = lver, .mbal = bal, .bal = bal,
		.inp = px->cfg.me,
	};
	int rc;

	rc = write_block(px, lun, &b);
	if (rc == 0)
		rc = read_view(px, lun);
	if (rc == 0)
		rc = check_view(px, lver, b.mbal, false);
	if (rc == 0)
		*out = b.inp;
	return rc;
}

/*
 * One run of instance 'lver': 0 with the decided value in '*out', or
 * -EAGAIN when a competitor makes us start over, or an I/O error.
 */
static int
run_instance(struct paxos *px, struct lun *lun, uint64_t lver,
	     bool over_unreleased, struct od_pxowner *out)
{
	uint32_t np = px->cfg.nblocks, me = px->cfg.me.slot;
	struct od_pxblock b = { .self = me, .lver = lver };
	uint64_t top = 0, best = 0;
	int rc;

	/* A ballot of ours above all seen, and above the fast ones. */
	for (uint32_t i = 0; i < np; i++)
		if (px->blocks[i].lver == lver)
			top = MAX(top, px->blocks[i].mbal);
	if (px->mine.lver == lver) {
		top = MAX(top, px->mine.mbal);
		b.bal = px->mine.bal;
		b.inp = px->mine.inp;
	}
	b.mbal = (MAX(top / np + 1, 2)) * np + me;
	rc = write_block(px, lun, &b);
	if (rc == 0)
		rc = read_view(px, lun);
	if (rc == 0)
		rc = check_view(px, lver, b.mbal, over_unreleased);
	if (rc < 0)
		return rc;
	/* The value accepted under the highest ballot, else our own. */
	*out = px->cfg.me;
	for (uint32_t i = 0; i < np; i++) {
		const struct od_pxblock *o = &px->blocks[i];

		if (o->lver == lver && o->bal > best) {
			best = o->bal;
			*out = o->inp;
		}
	}
	b.bal = b.mbal;
	b.inp = *out;
	rc = write_block(px, lun, &b);
	if (rc == 0)
		rc = read_view(px, lun);
	if (rc == 0)
		rc = check_view(px, lver, b.mbal, over_unreleased);
	return rc;
}

/* ---- fencing ---- */

static int
key_state(struct lun *lun, uint64_t key, bool *present)
{
	struct lun_pr_state *st = malloc(sizeof(*st));
	int rc;

	if (!st)
		return -ENOMEM;
	rc = lun_pr_read(lun, st);
	if (rc == 0 && st->nkeys > ARRAY_SIZE(st->keys))
		rc = -E2BIG; /* cannot tell */
	*present = false;
	for (uint32_t i = 0; rc == 0 && i < st->nkeys; i++)
		if (st->keys[i] == key)
			*present = true;
	free(st);
	return rc;
}

int
paxos_fence_key(struct lun *lun, uint64_t victim)
{
	bool present;
	int rc;

	if (!victim)
		return -EINVAL;
	rc = lun_pr_preempt(lun, victim, LUN_PR_WRITE_EXCLUSIVE_ALL_REG, true);
	if (rc != -EBADE)
		return rc;
	/* A conflict: our own key is gone, or the victim's is. */
	rc = key_state(lun, lun_pr_key(lun), &present);
	if (rc < 0)
		return rc;
	if (!present)
		return -EBADE;
	rc = key_state(lun, victim, &present);
	if (rc < 0)
		return rc;
	return present ? -EIO : 0;
}

/* ---- acquiring ---- */

struct wait {
	uint64_t deadline;
	uint64_t backoff;
	uint32_t sig;            /* of the last view */
	uint64_t sig_since;      /* when it was first seen */
	bool have_holder;        /* learned: 'holder' owns 'holder_lver' */
	uint64_t holder_lver;
	struct od_pxowner holder;
};

static void
backoff(struct paxos *px, struct wait *w)
{
	uint64_t span, now = clock_mono_ns();

	px->rng ^= px->rng << 13;
	px->rng ^= px->rng >> 7;
	px->rng ^= px->rng << 17;
	span = w->backoff / 2 + px->rng % (w->backoff / 2 + 1);
	if (now + span > w->deadline)
		span = w->deadline > now ? w->deadline - now : 0;
	w->backoff = MIN(w->backoff * 2, BACKOFF_MAX_NS);
	px->stats.waits++;
	nanosleep(&(struct timespec){ (time_t)(span / NS_PER_SEC),
				      (long)(span % NS_PER_SEC) }, NULL);
}

/* The holder of the newest instance let nothing move for too long, or is
 * known gone: fence it; the next instance may then be run over it. */
static int
take_over(struct paxos *px, struct lun *lun, struct wait *w, uint64_t now)
{
	bool gone = px->cfg.holder_gone &&
		    px->cfg.holder_gone(px->cfg.arg, &w->holder);
	int rc;

	if (!gone && now - w->sig_since < stale_ns(px))
		return -EAGAIN;
	if (!w->holder.key) {
		/* Nothing fences it: it must release by itself. */
		return -EAGAIN;
	}
	log_warn(TOPIC, "disk-paxos mutex: instance %llu owner (slot %u, "
		 "generation %llu) %s; fencing key 0x%llx and taking over",
		 (unsigned long long)w->holder_lver, w->holder.slot,
		 (unsigned long long)w->holder.gen,
		 gone ? "is gone" : "let nothing move for the stale limit",
		 (unsigned long long)w->holder.key);
	rc = paxos_fence_key(lun, w->holder.key);
	if (rc < 0)
		return rc == -EAGAIN ? -EIO : rc;
	px->stats.takeovers++;
	return 0;
}

/*
 * From a fresh view: the instance to run in '*target' (0), or -EAGAIN
 * to wait and look again, or -errno.
 */
static int
choose(struct paxos *px, struct lun *lun, struct wait *w, uint64_t *target,
       bool *over)
{
	uint64_t k = px->leader.lver, m = view_max_lver(px);
	uint64_t now = clock_mono_ns();
	uint32_t sig = crc32c(0, px->buf,
			      (size_t)(1 + px->cfg.nblocks) * VFS_SECTOR);
	int rc;

	if (sig != w->sig || !w->sig_since) {
		w->sig = sig;
		w->sig_since = now;
	}
	*over = false;
	if (m == k) {
		*target = k + 1; /* everything released */
		return 0;
	}
	/* Instance m is being run, or decided and not released yet. */
	if (!w->have_holder || w->holder_lver != m) {
		/* Let a run at work finish; if nothing moves, run m ourselves
		 * to learn its owner (or win it). Whoever first ran m past a
		 * release fenced the owner before it: joining is safe. */
		if (now - w->sig_since < w->backoff)
			return -EAGAIN;
		*target = m;
		*over = k + 1 != m;
		return 0;
	}
	rc = take_over(px, lun, w, now);
	if (rc < 0)
		return rc;
	w->have_holder = false;
	*target = m + 1;
	*over = true;
	return 0;
}

int
paxos_lock(struct paxos *px, struct lun *lun, uint64_t *lver)
{
	struct wait w = {
		.deadline = clock_mono_ns() + stale_ns(px) + 2 * hold_ns(px),
		.backoff = BACKOFF_MIN_NS,
	};
	/* Right after our own release nobody may have moved: skip the
	 * first read, and phase 1 too (run_owner_fast()). */
	uint64_t target = px->released ? px->released + 1 : 0;
	bool over = false, fast = target != 0;
	int rc;

	for (;;) {
		struct od_pxowner v;

		if (clock_mono_ns() >= w.deadline) {
			log_err(TOPIC, "disk-paxos mutex: not acquired within "
				"%llu ms", (unsigned long long)
				((stale_ns(px) + 2 * hold_ns(px)) / NS_PER_MS));
			return -ETIMEDOUT;
		}
		if (!target) {
			rc = read_view(px, lun);
			if (rc == 0)
				rc = choose(px, lun, &w, &target, &over);
			if (rc == -EAGAIN) {
				backoff(px, &w);
				continue;
			}
			if (rc < 0)
				return rc;
		}
		if (fast)
			rc = run_owner_fast(px, lun, target, &v);
		else
			rc = run_instance(px, lun, target, over, &v);
		fast = false;
		if (rc == -EAGAIN) {
			px->stats.conflicts++;
			target = 0;
			backoff(px, &w);
			continue;
		}
		if (rc < 0)
			return rc;
		if (same_owner(&v, &px->cfg.me)) {
			px->stats.acquires++;
			*lver = target;
			return 0;
		}
		/* Decided for someone else: wait for its release. */
		w.have_holder = true;
		w.holder_lver = target;
		w.holder = v;
		target = 0;
	}
}

int
paxos_unlock(struct paxos *px, struct lun *lun, uint64_t lver)
{
	struct od_pxleader l = { .lver = lver, .owner = px->cfg.me,
				 .wall_ns = clock_wall_ns() };
	int rc;

	od_pxleader_out(&l, px->sec);
	rc = lun_write(lun, px->cfg.area_off, px->sec, VFS_SECTOR, 0);
	px->released = rc == 0 ? lver : 0;
	if (rc < 0)
		log_warn(TOPIC, "disk-paxos mutex: releasing instance %llu "
			 "failed (%s); other hosts will fence this one",
			 (unsigned long long)lver, strerror(-rc));
	return rc;
}

int
paxos_ats(struct paxos *px, struct lun *lun, uint64_t offset,
	  const void *expected, const void *desired, uint64_t len)
{
	uint8_t *cur = aligned_alloc(4096, ALIGN_UP(len, 4096));
	uint64_t lver, decided;
	int rc;

	if (!cur)
		return -ENOMEM;
	rc = paxos_lock(px, lun, &lver);
	if (rc < 0)
		goto out;
	decided = clock_mono_ns();
	rc = lun_read(lun, offset, cur, len);
	if (rc == 0 && memcmp(cur, expected, len) != 0)
		rc = LUN_ATS_MISCOMPARE;
	if (rc == 0 && clock_mono_ns() - decided >= hold_ns(px)) {
		/* Others may already count us stale: never write late. */
		log_err(TOPIC, "disk-paxos mutex: hold limit passed before the "
			"write; not writing");
		rc = -ETIMEDOUT;
	}
	if (rc == 0)
		rc = lun_write(lun, offset, desired, len, LUN_IO_FUA);
	if (rc == -EBADE) {
		/* Fenced: nothing we write lands any more. */
		px->released = 0;
		goto out;
	}
	/* A failed release costs others the stale limit, not this ATS: its
	 * write (if any) has landed. */
	paxos_unlock(px, lun, lver);
out:
	free(cur);
	return rc;
}
