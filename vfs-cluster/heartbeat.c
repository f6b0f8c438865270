/* SPDX-License-Identifier: MIT */
/*
 * Heartbeat slots: claiming one by ATS, renewing it, watching the others
 * and deciding from this session's own monotonic clock when another host
 * is dead. The timing rules and a worked example are in heartbeat.h.
 * Recovery of dead hosts is in recover.c; locks use the observations
 * kept here to tell live holders from dead ones.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "vfs-cluster/vfs-internal.h"

void
vfs_timing_init(struct vfs_timing *t, uint32_t lease_ms, uint32_t io_timeout_ms)
{
	uint64_t lease = (uint64_t)lease_ms * NS_PER_MS;
	uint64_t io = io_timeout_ms ? (uint64_t)io_timeout_ms * NS_PER_MS :
				      lease / 5;

	/* Past L/4 the self-fence point F = L - 2T would come before the
	 * first renewal could even time out. */
	if (io > lease / 4)
		io = lease / 4;
	t->lease_ns = lease;
	t->io_timeout_ns = io;
	t->renew_ns = MIN(lease / 5, NS_PER_SEC);
	t->fence_ns = lease - 2 * io;
	t->dead_ns = lease;
	t->dead_pr_ns = MAX(3 * t->renew_ns, lease / 3);
	t->claim_write_ns = MIN(io / 2, 500 * NS_PER_MS);
	t->claim_wait_ns = t->claim_write_ns + t->claim_write_ns / 8 +
			   2 * NS_PER_MS;
}

static void
fill_identity(struct vfs *vfs, struct od_slot *r, uint32_t slot)
{
	memcpy(r->host_uuid, vfs->host_uuid, 16);
	memset(r->host_name, 0, sizeof(r->host_name));
	memcpy(r->host_name, vfs->host_name,
	       strnlen(vfs->host_name, sizeof(r->host_name) - 1));
	memcpy(r->session, vfs->session_id, 16);
	r->pid = (uint32_t)getpid();
	r->lease_ms = vfs->g.lease_ms;
	r->slot = slot;
	r->flags = 0;
	if (!vfs_writable(vfs))
		r->flags |= OD_SLOT_READ_ONLY;
	if (vfs->pr_fencing) {
		r->flags |= OD_SLOT_PR;
		r->pr_key = vfs->pr_key;
	}
	if (vfs->paxos)
		r->flags |= OD_SLOT_PAXOS;
}

static void
claimed(struct vfs *vfs, uint32_t slot, const struct od_slot *rec,
	uint8_t *image, uint64_t now)
{
	pthread_mutex_lock(&vfs->hb_mu);
	vfs->slot = (int)slot;
	vfs->slot_gen = rec->generation;
	vfs->hb_rec = *rec;
	free(vfs->hb_image);
	vfs->hb_image = image;
	vfs->hb_next_ns = now + vfs->t.renew_ns;
	atomic_store(&vfs->hb_ok_issue_ns, now);
	pthread_mutex_unlock(&vfs->hb_mu);
}

/* Candidate order: rw sessions need a journal; read-only ones leave the
 * journal slots to writers while they can. */
static uint32_t
candidate(const struct vfs *vfs, uint32_t i)
{
	uint32_t j = vfs->g.journals, n = vfs->g.slots;

	if (vfs_writable(vfs))
		return i;
	return j < n ? (j + i) % n : i;
}

static int
try_claim(struct vfs *vfs, uint32_t slot, const uint8_t *raw, uint64_t now)
{
	struct od_slot old, rec;
	uint8_t *desired;
	int rc;

	if (od_slot_in(raw, slot, &old) < 0) {
		log_warn(VFS_LOG, "heartbeat slot %u is corrupt; skipping it",
			 slot);
		return LUN_ATS_MISCOMPARE;
	}
	if (old.state != OD_SLOT_FREE)
		return LUN_ATS_MISCOMPARE;
	memset(&rec, 0, sizeof(rec));
	rec.generation = old.generation + 1;
	rec.counter = 1;
	rec.state = OD_SLOT_LIVE;
	rec.wall_ns = clock_wall_ns();
	rec.mounted_wall_ns = rec.wall_ns;
	fill_identity(vfs, &rec, slot);
	desired = vfs_alloc_buf(VFS_SECTOR);
	if (!desired)
		return -ENOMEM;
	od_slot_out(&rec, desired);
	rc = lun_ats(vfs->lun, vfs_slot_off(&vfs->g, slot), raw, desired,
		     VFS_SECTOR);
	if (rc != 0) {
		free(desired);
		return rc;
	}
	claimed(vfs, slot, &rec, desired, now);
	return 0;
}

static void
sleep_real(uint64_t ns)
{
	nanosleep(&(struct timespec){ (time_t)(ns / NS_PER_SEC),
				      (long)(ns % NS_PER_SEC) }, NULL);
}

/*
 * A claim write that may have landed late (or may land later still):
 * never use it. Its handle's key is preempted so nothing more of it
 * lands, and the session takes a new key, since the record it may have
 * left names the old one (its recoverer will preempt that).
 */
static int
claim_abort(struct vfs *vfs, int why)
{
	struct lun *h[] = { vfs->lun, vfs->hb_lun, vfs->jn_lun, vfs->data_lun };
	uint64_t key;
	int rc;

	log_warn(VFS_LOG, "slot claim write too slow (%s); fencing it and "
		 "trying another slot", why < 0 ? strerror(-why) : "late");
	rc = paxos_fence_key(vfs->lun, vfs->claim_key);
	if (rc < 0)
		return rc;
	key = vfs_random_key();
	for (size_t i = 0; i < ARRAY_SIZE(h); i++) {
		if (!h[i])
			continue;
		rc = lun_pr_register(h[i], key);
		if (rc < 0)
			return rc;
	}
	vfs->pr_key = key;
	vfs->claim_key = vfs_random_key();
	return lun_pr_register(vfs->claim_lun, vfs->claim_key);
}

/*
 * Disk-paxos sessions have no ballot block before they have a slot, so
 * they claim one by timing (Fischer's mutual exclusion, sanlock's delta
 * lease): read the free slot, write our record, and count that write
 * only if it completed within claim_write after the read was issued;
 * wait claim_wait (longer), read again: it is ours if it still holds our
 * record. Of claimers that read the slot free, the last whose write
 * landed is the only one that can find its record still there, since
 * any later write landed before our second read. What remains is a
 * claimer stopped between its clock check and its write: the usual
 * window of a check followed by I/O, as in self-fencing.
 */
static int
claim_timed(struct vfs *vfs, uint32_t slot, uint64_t now)
{
	uint64_t off = vfs_slot_off(&vfs->g, slot), r0, w1;
	uint8_t *raw = vfs_alloc_buf(VFS_SECTOR);
	uint8_t *desired = vfs_alloc_buf(VFS_SECTOR);
	struct od_slot old, rec;
	int rc;

	if (!raw || !desired) {
		rc = -ENOMEM;
		goto out;
	}
	r0 = clock_mono_ns();
	rc = lun_read(vfs->claim_lun, off, raw, VFS_SECTOR);
	if (rc < 0)
		goto out;
	if (od_slot_in(raw, slot, &old) < 0 || old.state != OD_SLOT_FREE) {
		rc = LUN_ATS_MISCOMPARE;
		goto out;
	}
	memset(&rec, 0, sizeof(rec));
	rec.generation = old.generation + 1;
	rec.counter = 1;
	rec.state = OD_SLOT_LIVE;
	rec.wall_ns = clock_wall_ns();
	rec.mounted_wall_ns = rec.wall_ns;
	fill_identity(vfs, &rec, slot);
	od_slot_out(&rec, desired);
	if (clock_mono_ns() - r0 > vfs->t.claim_write_ns / 2) {
		rc = LUN_ATS_MISCOMPARE; /* too slow to even start */
		goto out;
	}
	rc = lun_write(vfs->claim_lun, off, desired, VFS_SECTOR, LUN_IO_FUA);
	w1 = clock_mono_ns();
	if (rc < 0 || w1 - r0 > vfs->t.claim_write_ns) {
		rc = claim_abort(vfs, rc);
		if (rc == 0)
			rc = LUN_ATS_MISCOMPARE;
		goto out;
	}
	sleep_real(vfs->t.claim_wait_ns);
	rc = lun_read(vfs->claim_lun, off, raw, VFS_SECTOR);
	if (rc < 0)
		goto out;
	if (memcmp(raw, desired, VFS_SECTOR) != 0) {
		rc = LUN_ATS_MISCOMPARE; /* another claimer's landed later */
		goto out;
	}
	claimed(vfs, slot, &rec, desired, now);
	desired = NULL;
out:
	free(raw);
	free(desired);
	return rc;
}

int
hb_claim(struct vfs *vfs, uint64_t now_ns)
{
	uint64_t len = (uint64_t)vfs->g.slots * VFS_SECTOR;
	uint8_t *buf = vfs_alloc_buf(len);
	uint32_t limit = vfs->g.slots, start = 0;
	int rc = -EUSERS;

	if (!buf)
		return -ENOMEM;
	if (lun_read(vfs->lun, vfs->g.hb_off, buf, len) < 0) {
		free(buf);
		return -EIO;
	}
	if (vfs_writable(vfs)) {
		/* A writer needs a journal, and with Disk Paxos a ballot
		 * block: its slot is their index. */
		limit = MIN(limit, vfs->g.journals);
		if (vfs->paxos)
			limit = MIN(limit, (uint32_t)VFS_PAXOS_MAX);
		/* Hosts starting together would all race for the same first
		 * free slot, one ATS each, queued on one sector: starting at
		 * a random slot spreads them out. */
		if (limit)
			start = (uint32_t)(vfs_random_key() % limit);
	}
	for (uint32_t i = 0; i < limit; i++) {
		uint32_t s = candidate(vfs, (start + i) % limit);

		if (vfs->paxos) {
			struct od_slot seen;

			/* Only slots free in the scan are worth the wait. */
			if (od_slot_in(buf + (uint64_t)s * VFS_SECTOR, s,
				       &seen) < 0 || seen.state != OD_SLOT_FREE)
				continue;
			rc = claim_timed(vfs, s, now_ns);
		} else {
			rc = try_claim(vfs, s, buf + (uint64_t)s * VFS_SECTOR,
				       now_ns);
		}
		if (rc == 0)
			break;
		if (rc < 0)
			break;
		rc = -EUSERS;
	}
	free(buf);
	if (rc == 0)
		log_info(VFS_LOG, "claimed heartbeat slot %d generation %llu",
			 vfs->slot, (unsigned long long)vfs->hb_rec.generation);
	return rc;
}

static void
fence(struct vfs *vfs, const char *why)
{
	if (!atomic_exchange(&vfs->fenced, true))
		log_err(VFS_LOG, "slot %d: %s: this session is fenced and "
			"will not write again", vfs->slot, why);
}

/*
 * After a miscompare: the slot is still ours only if it holds exactly
 * what a renewal of unknown outcome wrote.
 */
static int
resync(struct vfs *vfs, struct lun *lun, uint8_t *cur)
{
	int rc = lun_read(lun, vfs_slot_off(&vfs->g, (uint32_t)vfs->slot), cur,
			  VFS_SECTOR);

	if (rc < 0)
		return rc;
	if (vfs->hb_pending && memcmp(cur, vfs->hb_pending, VFS_SECTOR) == 0) {
		memcpy(vfs->hb_image, vfs->hb_pending, VFS_SECTOR);
		od_slot_in(vfs->hb_image, (uint32_t)vfs->slot, &vfs->hb_rec);
		return 0;
	}
	fence(vfs, "heartbeat slot taken over by another host");
	return -ESTALE;
}

int
hb_renew(struct vfs *vfs, struct lun *lun, uint64_t now_ns)
{
	uint8_t *desired, *cur;
	struct od_slot rec;
	int rc;

	if (atomic_load(&vfs->fenced))
		return -ESTALE;
	if (vfs->slot < 0)
		return 0;
	desired = vfs_alloc_buf(VFS_SECTOR);
	cur = vfs_alloc_buf(VFS_SECTOR);
	if (!desired || !cur) {
		free(desired);
		free(cur);
		return -ENOMEM;
	}
	pthread_mutex_lock(&vfs->hb_mu);
	for (int attempt = 0; attempt < 2; attempt++) {
		rec = vfs->hb_rec;
		rec.counter++;
		rec.wall_ns = clock_wall_ns();
		od_slot_out(&rec, desired);
		/* The lease runs from the issue time of the write, the
		 * conservative end: an observer saw it land later. With the
		 * disk-paxos ATS a plain write: nobody touches our slot
		 * before preempting our key, after which it is refused. */
		if (vfs->paxos)
			rc = lun_write(lun, vfs_slot_off(&vfs->g,
							 (uint32_t)vfs->slot),
				       desired, VFS_SECTOR, LUN_IO_FUA);
		else
			rc = lun_ats(lun, vfs_slot_off(&vfs->g,
						       (uint32_t)vfs->slot),
				     vfs->hb_image, desired, VFS_SECTOR);
		if (rc == 0) {
			memcpy(vfs->hb_image, desired, VFS_SECTOR);
			vfs->hb_rec = rec;
			free(vfs->hb_pending);
			vfs->hb_pending = NULL;
			atomic_store(&vfs->hb_ok_issue_ns, now_ns);
			break;
		}
		if (rc == LUN_ATS_MISCOMPARE) {
			rc = resync(vfs, lun, cur);
			if (rc == 0)
				continue;
			break;
		}
		if (rc == -EBADE && vfs->pr_fencing) {
			fence(vfs, "heartbeat write refused: preempted by PR");
			rc = -ESTALE;
			break;
		}
		/* Timed out or failed: the write may still have landed. */
		log_warn(VFS_LOG, "slot %d: heartbeat renewal failed: %s",
			 vfs->slot, strerror(-rc));
		if (!vfs->hb_pending)
			vfs->hb_pending = vfs_alloc_buf(VFS_SECTOR);
		if (vfs->hb_pending)
			memcpy(vfs->hb_pending, desired, VFS_SECTOR);
		break;
	}
	pthread_mutex_unlock(&vfs->hb_mu);
	free(desired);
	free(cur);
	return rc;
}

int
hb_tick(struct vfs *vfs, struct lun *lun, uint64_t now_ns)
{
	int rc = 0;

	if (atomic_load(&vfs->fenced))
		return -ESTALE;
	if (vfs->slot < 0 || now_ns < vfs->hb_next_ns)
		return 0;
	rc = hb_renew(vfs, lun, now_ns);
	/* After a failure try again soon: every renewal period lost brings
	 * the self-fence point closer. */
	vfs->hb_next_ns = now_ns + (rc == 0 ? vfs->t.renew_ns :
					      vfs->t.renew_ns / 4);
	return rc == -ESTALE ? rc : 0;
}

int
hb_release(struct vfs *vfs, struct lun *lun)
{
	uint8_t *desired;
	struct od_slot rec;
	int rc;

	if (vfs->slot < 0 || atomic_load(&vfs->fenced))
		return vfs->slot < 0 ? 0 : -ESTALE;
	desired = vfs_alloc_buf(VFS_SECTOR);
	if (!desired)
		return -ENOMEM;
	pthread_mutex_lock(&vfs->hb_mu);
	/* Free, keeping the generation so the next claim moves past it and
	 * every lock record naming us reads as stale. */
	memset(&rec, 0, sizeof(rec));
	rec.generation = vfs->hb_rec.generation;
	rec.slot = (uint32_t)vfs->slot;
	rec.state = OD_SLOT_FREE;
	od_slot_out(&rec, desired);
	if (vfs->paxos)
		rc = lun_write(lun, vfs_slot_off(&vfs->g, (uint32_t)vfs->slot),
			       desired, VFS_SECTOR, LUN_IO_FUA);
	else
		rc = lun_ats(lun, vfs_slot_off(&vfs->g, (uint32_t)vfs->slot),
			     vfs->hb_image, desired, VFS_SECTOR);
	if (rc == LUN_ATS_MISCOMPARE)
		rc = -ESTALE;
	if (rc == 0)
		memcpy(vfs->hb_image, desired, VFS_SECTOR);
	pthread_mutex_unlock(&vfs->hb_mu);
	free(desired);
	return rc;
}

int
hb_write_allowed(struct vfs *vfs, uint64_t now_ns)
{
	uint64_t ok;

	if (atomic_load(&vfs->fenced))
		return -ESTALE;
	if (vfs->slot < 0)
		return -EROFS;
	ok = atomic_load(&vfs->hb_ok_issue_ns);
	if (now_ns > ok + vfs->t.fence_ns) {
		log_warn(VFS_LOG, "slot %d: lease lapsed (last renewal "
			 "%llu ms ago): refusing to write", vfs->slot,
			 (unsigned long long)((now_ns - ok) / NS_PER_MS));
		return -ESTALE;
	}
	return 0;
}

/* ---- observing other hosts ---- */

static void
observe(struct vfs *vfs, uint32_t slot, const uint8_t *raw, uint64_t now)
{
	struct hb_obs *o = &vfs->obs[slot];
	struct od_slot rec;

	if (od_slot_in(raw, slot, &rec) < 0) {
		o->bad = true;
		return;
	}
	o->bad = false;
	if (!o->seen)
		o->first_seen_ns = now;
	if (!o->seen || rec.generation != o->rec.generation ||
	    rec.counter != o->rec.counter || rec.state != o->rec.state)
		o->last_change_ns = now;
	o->rec = rec;
	o->seen = true;
}

int
hb_observe_all(struct vfs *vfs, struct lun *lun, uint64_t now_ns)
{
	uint64_t len = (uint64_t)vfs->g.slots * VFS_SECTOR;
	uint8_t *buf = vfs_alloc_buf(len);
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = lun_read(lun, vfs->g.hb_off, buf, len);
	if (rc == 0) {
		pthread_mutex_lock(&vfs->hb_mu);
		for (uint32_t i = 0; i < vfs->g.slots; i++)
			observe(vfs, i, buf + (uint64_t)i * VFS_SECTOR, now_ns);
		vfs->obs_all_ns = now_ns;
		pthread_mutex_unlock(&vfs->hb_mu);
	}
	free(buf);
	return rc;
}

int
hb_observe_slot(struct vfs *vfs, struct lun *lun, uint32_t slot,
		uint64_t now_ns, struct hb_obs *out)
{
	uint8_t *buf;
	int rc;

	if (slot >= vfs->g.slots)
		return -EINVAL;
	buf = vfs_alloc_buf(VFS_SECTOR);
	if (!buf)
		return -ENOMEM;
	rc = lun_read(lun, vfs_slot_off(&vfs->g, slot), buf, VFS_SECTOR);
	pthread_mutex_lock(&vfs->hb_mu);
	if (rc == 0)
		observe(vfs, slot, buf, now_ns);
	if (out)
		*out = vfs->obs[slot];
	if (rc == 0 && vfs->obs[slot].bad)
		rc = -EUCLEAN;
	pthread_mutex_unlock(&vfs->hb_mu);
	free(buf);
	return rc;
}

bool
hb_obs_dead(const struct vfs *vfs, const struct hb_obs *o, uint64_t now_ns)
{
	uint64_t limit = vfs->t.dead_ns;

	/* Another thread may have observed after our 'now' was read. */
	if (!o->seen || o->rec.state != OD_SLOT_LIVE ||
	    now_ns < o->last_change_ns)
		return false;
	/* A host we can preempt need not have fenced itself first. */
	if (vfs->pr_fencing && (o->rec.flags & OD_SLOT_PR) && o->rec.pr_key)
		limit = vfs->t.dead_pr_ns;
	return now_ns - o->last_change_ns >= limit;
}
