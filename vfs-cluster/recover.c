/* SPDX-License-Identifier: MIT */
/*
 * Recovering a dead host, so that its locks can be broken:
 *   1. fence it: PR PREEMPT of its key when it registered one;
 *   2. mark its slot RECOVERING by ATS (generation + 1, dead_gen = the
 *      generation that died, recoverer = us): of several observers racing,
 *      one wins; the others see a RECOVERING slot and wait;
 *   3. replay its journal (idempotent: a recoverer that dies half way is
 *      itself recovered, and the next one replays again);
 *   4. free the slot by ATS, keeping the generation.
 * From step 4 on, every lock naming (slot, dead generation) is stale and
 * may be taken by ATS (lock.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "vfs-cluster/vfs-internal.h"

static int
slot_ats(struct vfs *vfs, uint32_t slot, const uint8_t *raw,
	 const struct od_slot *next)
{
	uint8_t *desired = vfs_alloc_buf(VFS_SECTOR);
	int rc;

	if (!desired)
		return -ENOMEM;
	od_slot_out(next, desired);
	rc = vfs_io_ats(vfs, vfs->lun, vfs_slot_off(&vfs->g, slot), raw,
			desired);
	free(desired);
	return rc == LUN_ATS_MISCOMPARE ? -EAGAIN : rc;
}

static int
read_slot(struct vfs *vfs, uint32_t slot, uint8_t *raw, struct od_slot *rec)
{
	int rc = vfs_io_read(vfs, vfs->lun, vfs_slot_off(&vfs->g, slot), raw,
			     VFS_SECTOR);

	if (rc < 0)
		return rc;
	return od_slot_in(raw, slot, rec);
}

static int
fence_host(struct vfs *vfs, const struct hb_obs *o, uint64_t now)
{
	int rc;

	if (!(o->rec.flags & OD_SLOT_PR) || !o->rec.pr_key)
		return 0;
	if (!vfs->pr_fencing) {
		/* We cannot preempt: only the full lease proves it fenced
		 * itself. */
		return now >= o->last_change_ns &&
		       now - o->last_change_ns >= vfs->t.dead_ns ? 0 : -EAGAIN;
	}
	/* Preempted, or its key gone already (an earlier recoverer). */
	rc = paxos_fence_key(vfs->lun, o->rec.pr_key);
	if (rc == 0) {
		log_info(VFS_LOG, "fenced slot %u (host %s) by PR preempt",
			 o->rec.slot, o->rec.host_name);
		return 0;
	}
	log_warn(VFS_LOG, "slot %u: PR preempt failed: %s", o->rec.slot,
		 strerror(-rc));
	if (rc == -EBADE)
		return rc; /* it is us who are fenced */
	return now >= o->last_change_ns &&
	       now - o->last_change_ns >= vfs->t.dead_ns ? 0 : -EAGAIN;
}

/* Marks a dead LIVE slot RECOVERING by us. */
static int
claim_recovery(struct vfs *vfs, uint32_t slot, uint64_t now, uint8_t *raw,
	       struct od_slot *rec)
{
	struct hb_obs o;
	struct od_slot next;
	int rc;

	rc = hb_observe_slot(vfs, vfs->lun, slot, now, &o);
	if (rc < 0)
		return rc;
	if (o.rec.state != OD_SLOT_LIVE)
		return -EAGAIN;
	if (!hb_obs_dead(vfs, &o, now))
		return -EAGAIN;
	rc = fence_host(vfs, &o, now);
	if (rc < 0)
		return rc;
	rc = read_slot(vfs, slot, raw, rec);
	if (rc < 0)
		return rc;
	if (rec->state != OD_SLOT_LIVE ||
	    rec->generation != o.rec.generation ||
	    rec->counter != o.rec.counter)
		return -EAGAIN; /* it moved after all */
	next = *rec;
	next.state = OD_SLOT_RECOVERING;
	next.dead_gen = rec->generation;
	next.generation = rec->generation + 1;
	next.counter++;
	next.recoverer_slot = (uint32_t)vfs->slot;
	next.recoverer_gen = vfs->slot_gen;
	next.wall_ns = clock_wall_ns();
	rc = slot_ats(vfs, slot, raw, &next);
	if (rc == 0) {
		log_warn(VFS_LOG, "host %s (slot %u, generation %llu) is dead: "
			 "recovering it", rec->host_name, slot,
			 (unsigned long long)rec->generation);
		*rec = next;
		od_slot_out(rec, raw);
	}
	return rc;
}

/* Takes over a recovery whose recoverer died. */
static int
adopt_recovery(struct vfs *vfs, uint32_t slot, uint64_t now, uint8_t *raw,
	       struct od_slot *rec)
{
	struct od_slot next;
	bool recover;

	if (rec->recoverer_slot == (uint32_t)vfs->slot &&
	    rec->recoverer_gen == vfs->slot_gen)
		return 0;
	if (!lock_holder_stale(vfs, rec->recoverer_slot, rec->recoverer_gen,
			       now, &recover) && !recover)
		return -EBUSY; /* its recoverer is alive and working */
	/* A recoverer taken for dead after the PR dead time may not have
	 * fenced itself: its late replay writes must not land over what
	 * others change after us. */
	if (recover && vfs->pr_fencing) {
		struct hb_obs ro;
		int rc = hb_observe_slot(vfs, vfs->lun, rec->recoverer_slot, now,
					 &ro);

		if (rc < 0)
			return rc;
		if (ro.rec.generation == rec->recoverer_gen &&
		    (ro.rec.flags & OD_SLOT_PR) && ro.rec.pr_key) {
			rc = paxos_fence_key(vfs->lun, ro.rec.pr_key);
			if (rc < 0)
				return rc == -EBADE ? rc : -EAGAIN;
		}
	}
	next = *rec;
	next.recoverer_slot = (uint32_t)vfs->slot;
	next.recoverer_gen = vfs->slot_gen;
	next.counter++;
	if (slot_ats(vfs, slot, raw, &next) < 0)
		return -EAGAIN;
	log_warn(VFS_LOG, "slot %u: its recoverer died; taking over", slot);
	*rec = next;
	od_slot_out(rec, raw);
	return 0;
}

int
recover_slot(struct vfs *vfs, uint32_t slot, uint64_t now_ns)
{
	uint8_t *raw = vfs_alloc_buf(VFS_SECTOR);
	struct od_slot rec, next;
	int rc, replayed = 0;

	if (!raw)
		return -ENOMEM;
	if (!vfs_writable(vfs) || vfs->slot < 0) {
		rc = -EROFS;
		goto out;
	}
	rc = read_slot(vfs, slot, raw, &rec);
	if (rc < 0)
		goto out;
	if (rec.state == OD_SLOT_FREE) {
		rc = 0;
		goto out;
	}
	if (rec.state == OD_SLOT_LIVE)
		rc = claim_recovery(vfs, slot, now_ns, raw, &rec);
	else
		rc = adopt_recovery(vfs, slot, now_ns, raw, &rec);
	if (rc < 0)
		goto out;
	if (!(rec.flags & OD_SLOT_READ_ONLY) && slot < vfs->g.journals) {
		replayed = journal_replay(vfs, vfs->lun, slot, rec.dead_gen);
		if (replayed < 0) {
			rc = replayed;
			log_err(VFS_LOG, "slot %u: journal replay failed: %s",
				slot, strerror(-rc));
			goto out;
		}
	}
	memset(&next, 0, sizeof(next));
	next.slot = slot;
	next.state = OD_SLOT_FREE;
	next.generation = rec.generation;
	rc = slot_ats(vfs, slot, raw, &next);
	if (rc == 0)
		log_warn(VFS_LOG, "recovered slot %u (host %s): %d journal "
			 "records replayed", slot, rec.host_name, replayed);
out:
	free(raw);
	return rc;
}

int
recover_dead_hosts(struct vfs *vfs, uint64_t now_ns)
{
	int rc = 0;

	if (!vfs_writable(vfs) || vfs->slot < 0)
		return 0;
	for (uint32_t s = 0; s < vfs->g.slots; s++) {
		struct hb_obs o;
		bool due;

		if (s == (uint32_t)vfs->slot)
			continue;
		pthread_mutex_lock(&vfs->hb_mu);
		o = vfs->obs[s];
		pthread_mutex_unlock(&vfs->hb_mu);
		due = hb_obs_dead(vfs, &o, now_ns) ||
		      (o.seen && o.rec.state == OD_SLOT_RECOVERING &&
		       now_ns >= o.last_change_ns &&
		       now_ns - o.last_change_ns >= vfs->t.dead_ns);
		if (!due)
			continue;
		rc = recover_slot(vfs, s, now_ns);
		if (rc < 0 && rc != -EAGAIN && rc != -EBUSY)
			break;
		rc = 0;
	}
	return rc;
}
