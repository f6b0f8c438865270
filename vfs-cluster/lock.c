/* SPDX-License-Identifier: MIT */
/*
 * On-disk locks. A lock is one sector holding {mode, lock generation,
 * holders: (slot, slot generation)...}; it is changed only by ATS, so
 * between hosts racing for it exactly one wins.
 *
 *   acquire  read the sector, drop holders whose slot generation is gone
 *            (their host was recovered), recover holders observed dead,
 *            then ATS in our holder entry: 2 I/Os when uncontended.
 *   re-take  a lock this session still holds (cached after its last
 *            user) costs no I/O at all.
 *   release  the cache lets go of unused locks after lock_cache_ms, or at
 *            once when another host has flagged the lock WANTED, always
 *            after a journal checkpoint: nobody may read metadata a lock
 *            covers while its newest version is only in our journal, and
 *            our journal may replay only items under locks we still hold.
 *
 * Waiters poll with exponential backoff (1 ms .. 100 ms). Before a
 * waiter sleeps it lets go of its own idle locks, so two hosts each
 * waiting for a lock the other merely caches cannot deadlock. A waiter
 * inside an op that has already changed something cannot let go (its
 * changes are not committed); if the holder is stuck the same way, both
 * would wait out the whole timeout. So a yielding op gives up after
 * 1-2 s (-EDEADLK), is rolled back, lets go and runs again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "vfs-cluster/vfs-internal.h"

#define LOCK_BUCKETS 1024
#define BACKOFF_MIN_NS (1 * NS_PER_MS)
#define BACKOFF_MAX_NS (100 * NS_PER_MS)
#define WANTED_CHECK_NS (100 * NS_PER_MS)
/* A wait inside a changed op longer than this (plus up to as much again,
 * at random, so two hosts rarely give up together) suspects a deadlock:
 * several rounds of the holder's housekeeping, which hands over a lock
 * it only caches within about 150 ms. */
#define DEADLOCK_SUSPECT_NS (1 * NS_PER_SEC)

static unsigned int
bucket(uint64_t off)
{
	return (unsigned int)((off >> 9) * 0x9e3779b97f4a7c15ull >> 54) %
	       LOCK_BUCKETS;
}

static int
table_init(struct lock_table *t)
{
	if (t->hash)
		return 0;
	t->hash = calloc(LOCK_BUCKETS, sizeof(*t->hash));
	if (!t->hash)
		return -ENOMEM;
	t->nbuckets = LOCK_BUCKETS;
	return 0;
}

struct vlock *
lock_find(struct vfs *vfs, uint64_t off)
{
	struct lock_table *t = &vfs->locks;

	if (!t->hash)
		return NULL;
	for (struct vlock *vl = t->hash[bucket(off)]; vl; vl = vl->hnext)
		if (vl->off == off)
			return vl;
	return NULL;
}

static void
table_remove(struct vfs *vfs, struct vlock *vl)
{
	struct vlock **pp = &vfs->locks.hash[bucket(vl->off)];

	while (*pp != vl)
		pp = &(*pp)->hnext;
	*pp = vl->hnext;
	vfs->locks.count--;
	free(vl->image);
	free(vl);
}

static bool
is_self(const struct vfs *vfs, uint32_t slot, uint64_t gen)
{
	return vfs->slot >= 0 && slot == (uint32_t)vfs->slot &&
	       gen == vfs->slot_gen;
}

static bool
compatible(uint8_t held, uint8_t want)
{
	return held == want && (held == OD_LOCK_SH || held == OD_LOCK_MW);
}

bool
lock_holder_stale(struct vfs *vfs, uint32_t slot, uint64_t gen,
		  uint64_t now_ns, bool *recover)
{
	struct hb_obs o;

	*recover = false;
	if (slot >= vfs->g.slots)
		return true;
	if (vfs->slot >= 0 && slot == (uint32_t)vfs->slot)
		return gen != vfs->slot_gen;
	if (hb_observe_slot(vfs, vfs->lun, slot, now_ns, &o) < 0)
		return false; /* cannot tell: treat as alive */
	switch (o.rec.state) {
	case OD_SLOT_FREE:
		return true;
	case OD_SLOT_LIVE:
		if (o.rec.generation != gen)
			return true;
		*recover = hb_obs_dead(vfs, &o, now_ns);
		return false;
	case OD_SLOT_RECOVERING:
		if (o.rec.dead_gen != gen)
			return true;
		*recover = true;
		return false;
	}
	return false;
}

static void
fill_holder(struct od_lock *holder, const struct od_lock *rec)
{
	if (holder)
		*holder = *rec;
}

/* Sets the WANTED flag so cached holders hand the lock over. */
static void
mark_wanted(struct vfs *vfs, uint64_t off, const uint8_t *raw,
	    const struct od_lock *rec)
{
	struct od_lock want = *rec;
	uint8_t *desired;

	if (vfs->slot < 0 || ((rec->flags & OD_LOCK_WANTED) &&
			      rec->wanted_slot == (uint32_t)vfs->slot))
		return;
	desired = vfs_alloc_buf(VFS_SECTOR);
	if (!desired)
		return;
	want.flags |= OD_LOCK_WANTED;
	want.wanted_slot = (uint32_t)vfs->slot;
	od_lock_out(&want, off, desired);
	/* Best effort: a miscompare means the record moved anyway. */
	if (vfs_io_ats(vfs, vfs->lun, off, raw, desired) < 0)
		log_debug(VFS_LOG, "lock %llu: could not flag it wanted",
			  (unsigned long long)off);
	free(desired);
}

static int
cache_entry(struct vfs *vfs, uint64_t off, const struct lock_req *req,
	    const uint8_t *image, uint64_t now, struct vlock **out)
{
	struct vlock *vl = lock_find(vfs, off);

	if (!vl) {
		vl = calloc(1, sizeof(*vl));
		if (!vl)
			return -ENOMEM;
		vl->image = vfs_alloc_buf(VFS_SECTOR);
		if (!vl->image) {
			free(vl);
			return -ENOMEM;
		}
		vl->off = off;
		vl->hnext = vfs->locks.hash[bucket(off)];
		vfs->locks.hash[bucket(off)] = vl;
		vfs->locks.count++;
		vl->taken_ns = now;
		vl->checked_ns = now;
	}
	memcpy(vl->image, image, VFS_SECTOR);
	vl->mode = req->mode;
	vl->internal = req->internal;
	vl->users++;
	*out = vl;
	return 0;
}

int
lock_try(struct vfs *vfs, uint64_t off, const struct lock_req *req,
	 uint64_t now_ns, struct vlock **out, struct od_lock *holder)
{
	struct vlock *vl = lock_find(vfs, off);
	struct od_lock rec, next;
	uint8_t *raw = NULL, *desired = NULL;
	bool conflict = false, changed_owner;
	int rc;

	if (vfs->slot < 0 || !vfs_writable(vfs))
		return -EROFS;
	if (table_init(&vfs->locks) < 0)
		return -ENOMEM;
	if (vl && vl->mode == req->mode) {
		/* Held by this session already: no I/O. */
		/* Internal users are serialised by the session mutex;
		 * a user's exclusive open excludes everything else. */
		if (req->mode == OD_LOCK_EX && vl->users > 0 &&
		    !(vl->internal && req->internal))
			return -EBUSY;
		if (!req->internal)
			vl->internal = false;
		else if (vl->users == 0)
			vl->internal = true;
		vl->users++;
		*out = vl;
		return 0;
	}
	if (vl && vl->users > 0)
		return -EBUSY; /* in use here in another mode */
	raw = vfs_alloc_buf(VFS_SECTOR);
	desired = vfs_alloc_buf(VFS_SECTOR);
	if (!raw || !desired) {
		rc = -ENOMEM;
		goto out;
	}
	rc = vfs_io_read(vfs, vfs->lun, off, raw, VFS_SECTOR);
	if (rc < 0)
		goto out;
	rc = od_lock_in(raw, off, &rec);
	if (rc < 0) {
		if (!req->fresh) {
			log_err(VFS_LOG, "lock at %llu is corrupt",
				(unsigned long long)off);
			goto out;
		}
		/* A never-used inode's lock sector may hold anything. */
		memset(&rec, 0, sizeof(rec));
	}
	if ((rec.flags & OD_LOCK_WANTED) && rec.nholders == 0 &&
	    rec.wanted_slot != (uint32_t)vfs->slot &&
	    now_ns < vfs->locks.yield_until_ns) {
		/* We just handed it over: give the waiter its turn. */
		fill_holder(holder, &rec);
		rc = -EBUSY;
		goto out;
	}
	next = rec;
	next.nholders = 0;
	for (unsigned int i = 0; i < rec.nholders; i++) {
		const struct od_lock_holder *h = &rec.holders[i];
		bool recover;

		if (is_self(vfs, h->slot, h->generation))
			continue; /* ours (cached in another mode) */
		if (lock_holder_stale(vfs, h->slot, h->generation, now_ns,
				      &recover))
			continue;
		if (recover) {
			rc = recover_slot(vfs, h->slot, now_ns);
			if (rc == 0 || rc == -EAGAIN) {
				rc = -EAGAIN;
				goto out;
			}
			if (rc != -EBUSY && rc != -EROFS)
				goto out;
		}
		if (!compatible(rec.mode, req->mode))
			conflict = true;
		next.holders[next.nholders++] = *h;
	}
	if (conflict || next.nholders >= OD_LOCK_MAX_HOLDERS) {
		fill_holder(holder, &rec);
		if (!req->nowait)
			mark_wanted(vfs, off, raw, &rec);
		rc = -EBUSY;
		goto out;
	}
	changed_owner = next.nholders == 0 || rec.mode != req->mode;
	next.holders[next.nholders].slot = (uint32_t)vfs->slot;
	next.holders[next.nholders].generation = vfs->slot_gen;
	next.holders[next.nholders].pad = 0;
	next.nholders++;
	if (changed_owner) {
		next.lock_generation = rec.lock_generation + 1;
		next.since_wall_ns = clock_wall_ns();
	}
	next.mode = req->mode;
	if (req->mode == OD_LOCK_EX ||
	    next.wanted_slot == (uint32_t)vfs->slot) {
		next.flags &= (uint8_t)~OD_LOCK_WANTED;
		next.wanted_slot = 0;
	}
	od_lock_out(&next, off, desired);
	rc = vfs_io_ats(vfs, vfs->lun, off, raw, desired);
	if (rc == LUN_ATS_MISCOMPARE) {
		rc = -EAGAIN;
		goto out;
	}
	if (rc < 0)
		goto out;
	rc = cache_entry(vfs, off, req, desired, now_ns, out);
	if (rc == 0)
		(*out)->taken_ns = now_ns;
out:
	free(raw);
	free(desired);
	return rc;
}

/*
 * A lock whose holder has stopped renewing its heartbeat: when it will be
 * known dead (and its locks broken) by this session's own observation, or
 * 0 when every holder looks alive. A short wait (a tool's few seconds)
 * on a dead host's lock is stretched to that point, so the lock of a
 * crashed process is taken over instead of refused forever: no session
 * that gives up before watching a full lease could ever see it dead.
 */
static uint64_t
silent_holder_dead_by(struct vfs *vfs, const struct od_lock *rec,
		      uint64_t now_ns)
{
	uint64_t by = 0;

	for (unsigned int i = 0; i < rec->nholders &&
			      i < OD_LOCK_MAX_HOLDERS; i++) {
		const struct od_lock_holder *h = &rec->holders[i];
		struct hb_obs o;

		if (is_self(vfs, h->slot, h->generation) ||
		    h->slot >= vfs->g.slots ||
		    hb_observe_slot(vfs, vfs->lun, h->slot, now_ns, &o) < 0)
			continue;
		if (!o.seen || o.rec.state != OD_SLOT_LIVE ||
		    o.rec.generation != h->generation)
			continue;
		/* A live host renews every renew_ns: watch it for two
		 * renewals before judging; two missed make it a suspect
		 * worth waiting for. */
		if (now_ns - o.first_seen_ns < 2 * vfs->t.renew_ns)
			by = MAX(by, o.first_seen_ns + 2 * vfs->t.renew_ns + 1);
		else if (now_ns - o.last_change_ns >= 2 * vfs->t.renew_ns)
			by = MAX(by, o.last_change_ns + vfs->t.dead_ns +
				     vfs->t.renew_ns);
	}
	return by;
}

int
lock_acquire(struct vfs *vfs, uint64_t off, const struct lock_req *req,
	     struct vlock **out, struct od_lock *holder)
{
	uint64_t start = vfs_now(vfs), backoff = BACKOFF_MIN_NS;
	uint64_t limit = req->timeout_ns ? req->timeout_ns :
					   vfs->lock_timeout_ns;
	uint64_t suspect = 0;
	bool released = false;
	unsigned int spins = 0;
	struct od_lock seen;
	int rc;

	for (;;) {
		uint64_t now = vfs_now(vfs);

		memset(&seen, 0, sizeof(seen));
		rc = lock_try(vfs, off, req, now, out, &seen);
		if (holder && rc == -EBUSY)
			*holder = seen;
		if (rc == 0 || (rc != -EBUSY && rc != -EAGAIN))
			return rc;
		if (rc == -EAGAIN && ++spins < 8)
			continue;
		spins = 0;
		if (vfs->flags & VFS_MOUNT_MANUAL_HEARTBEAT)
			return -EBUSY;
		if (rc == -EBUSY && req->nowait)
			return -EBUSY;
		if (vfs->jn.op_yields && tx_modified(vfs)) {
			/* rand() would pick the same in every process. */
			if (!suspect)
				suspect = DEADLOCK_SUSPECT_NS +
					  vfs_random_key() % DEADLOCK_SUSPECT_NS;
			if (now - start > suspect)
				return -EDEADLK;
		}
		if (now - start > limit &&
		    now >= silent_holder_dead_by(vfs, &seen, now))
			return -EBUSY;
		if (!released && !tx_modified(vfs)) {
			/* Let go of what we only cache before sleeping. */
			rc = lock_release_idle(vfs, now, true);
			if (rc < 0)
				return rc;
			released = true;
		}
		vfs_sleep_ns(vfs, backoff + (uint64_t)rand() % backoff);
		backoff = MIN(backoff * 2, BACKOFF_MAX_NS);
	}
}

void
lock_put(struct vfs *vfs, struct vlock *vl)
{
	if (!vl)
		return;
	assert(vl->users > 0);
	if (--vl->users == 0)
		vl->idle_ns = vfs_now(vfs);
}

/* Takes our holder entry out of the lock on disk. */
static int
release_one(struct vfs *vfs, struct vlock *vl)
{
	uint8_t *desired = vfs_alloc_buf(VFS_SECTOR);
	struct od_lock rec, next;
	int rc = 0;

	if (!desired)
		return -ENOMEM;
	for (int attempt = 0; attempt < 8; attempt++) {
		bool found = false;

		rc = od_lock_in(vl->image, vl->off, &rec);
		if (rc < 0)
			break;
		next = rec;
		next.nholders = 0;
		for (unsigned int i = 0; i < rec.nholders; i++) {
			if (is_self(vfs, rec.holders[i].slot,
				    rec.holders[i].generation)) {
				found = true;
				continue;
			}
			next.holders[next.nholders++] = rec.holders[i];
		}
		if (!found)
			break; /* not ours any more */
		if (next.nholders == 0) {
			next.mode = OD_LOCK_FREE;
			next.since_wall_ns = 0;
		}
		od_lock_out(&next, vl->off, desired);
		rc = vfs_io_ats(vfs, vfs->lun, vl->off, vl->image, desired);
		if (rc != LUN_ATS_MISCOMPARE)
			break;
		/* Someone flagged it WANTED or joined: read and redo. */
		rc = vfs_io_read(vfs, vfs->lun, vl->off, vl->image, VFS_SECTOR);
		if (rc < 0)
			break;
	}
	free(desired);
	if (rc == LUN_ATS_MISCOMPARE)
		rc = -EAGAIN;
	return rc;
}

static bool
release_due(const struct vfs *vfs, const struct vlock *vl, uint64_t now,
	    bool all)
{
	if (vl->users > 0)
		return false;
	return all || vl->wanted || now - vl->idle_ns >= vfs->lock_cache_ns;
}

int
lock_release_idle(struct vfs *vfs, uint64_t now_ns, bool all)
{
	struct lock_table *t = &vfs->locks;
	unsigned int n = 0;
	int rc, first_err = 0;
	bool any = false;

	if (!t->hash)
		return 0;
	for (unsigned int b = 0; b < t->nbuckets && !any; b++)
		for (struct vlock *vl = t->hash[b]; vl; vl = vl->hnext)
			if (release_due(vfs, vl, now_ns, all))
				any = true;
	if (!any)
		return 0;
	/* Everything these locks cover must be home before others look. */
	rc = journal_checkpoint(vfs);
	if (rc < 0)
		return rc;
	for (unsigned int b = 0; b < t->nbuckets; b++) {
		struct vlock *vl = t->hash[b], *next;

		for (; vl; vl = next) {
			next = vl->hnext;
			if (!release_due(vfs, vl, now_ns, all))
				continue;
			rc = release_one(vfs, vl);
			if (rc < 0 && rc != -ESTALE) {
				if (!first_err)
					first_err = rc;
				continue;
			}
			if (vl->wanted)
				t->yield_until_ns = now_ns + 2 * BACKOFF_MAX_NS;
			bc_drop_lock(vfs, vl);
			table_remove(vfs, vl);
			n++;
		}
	}
	return first_err ? first_err : (int)n;
}

void
lock_yield(struct vfs *vfs)
{
	int rc = lock_release_idle(vfs, vfs_now(vfs), true);

	if (rc < 0)
		log_warn(VFS_LOG, "letting go of idle locks: %s", strerror(-rc));
	/* The other op's host polls every 100 ms at most: keep off the
	 * locks it flagged WANTED until it has had its turn, or the rerun
	 * takes them back first and both meet again. */
	vfs->locks.yield_until_ns = vfs_now(vfs) + 2 * BACKOFF_MAX_NS;
	vfs_sleep_ns(vfs, 10 * NS_PER_MS +
			  vfs_random_key() % (40 * NS_PER_MS));
}

int
lock_check_wanted(struct vfs *vfs, uint64_t now_ns)
{
	struct lock_table *t = &vfs->locks;
	uint8_t *buf;
	int rc = 0;

	if (!t->hash || !t->count)
		return 0;
	buf = vfs_alloc_buf(VFS_SECTOR);
	if (!buf)
		return -ENOMEM;
	for (unsigned int b = 0; b < t->nbuckets; b++) {
		for (struct vlock *vl = t->hash[b]; vl; vl = vl->hnext) {
			struct od_lock rec;

			/* Idle cached locks, and internal ones held long:
			 * a user's open lock is the user's to give up. */
			if (vl->wanted ||
			    now_ns - vl->checked_ns < WANTED_CHECK_NS ||
			    (vl->users && !vl->internal) ||
			    (vl->users &&
			     now_ns - vl->taken_ns < vfs->lock_cache_ns))
				continue;
			vl->checked_ns = now_ns;
			rc = vfs_io_read(vfs, vfs->lun, vl->off, buf,
					 VFS_SECTOR);
			if (rc < 0)
				break;
			if (od_lock_in(buf, vl->off, &rec) == 0 &&
			    (rec.flags & OD_LOCK_WANTED) &&
			    rec.wanted_slot != (uint32_t)vfs->slot) {
				memcpy(vl->image, buf, VFS_SECTOR);
				vl->wanted = true;
			}
		}
	}
	free(buf);
	return rc;
}

void
lock_table_fini(struct vfs *vfs)
{
	struct lock_table *t = &vfs->locks;

	if (!t->hash)
		return;
	for (unsigned int b = 0; b < t->nbuckets; b++)
		while (t->hash[b])
			table_remove(vfs, t->hash[b]);
	free(t->hash);
	t->hash = NULL;
}
