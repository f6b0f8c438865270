/* SPDX-License-Identifier: MIT */
/*
 * PR fencing and the choice of ATS at mount (docs/DATASTORE.md,
 * "Fencing"). Every session of a datastore on a LUN with persistent
 * reservations registers a random key on each of its handles; a host
 * that breaks a dead host's locks first PREEMPTs that host's key, after
 * which the LUN refuses its writes. That needs a standing registrants-
 * only reservation (unregistered initiators may not write). It is held
 * by an "anchor": a registration made just for it, on a handle that is
 * closed at once (registrations outlive their connection), whose key
 * derives from the volume UUID (tagged LUN_PR_ANCHOR_TAG) and which
 * nobody ever preempts or releases. Its type is Write Exclusive - Registrants Only: every
 * registrant writes, only the anchor holds. Not All Registrants: on
 * tgtd the reservation then points at some host's registration, moved
 * at every unregister, and PREEMPT frees that registration without
 * moving it (a dangling pointer in the target).
 *
 * Which ATS: the LUN's own, or the disk-paxos mutex (paxos.h) where the
 * LUN's own is the short PR-mutex reservation, which cannot coexist with
 * a standing one. All hosts of a datastore must agree: the heartbeat
 * slots say what the live ones use (OD_SLOT_PAXOS).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/log.h"
#include "vfs-cluster/vfs-internal.h"

enum { LIVE_NONE, LIVE_LUN, LIVE_PAXOS };

/* Tagged, so the PR-mutex ATS never takes it for a stuck ATS (lun.h). */
uint64_t
fence_anchor_key(const struct vfs_geom *g)
{
	return (uint64_t)LUN_PR_ANCHOR_TAG << 32 | crc32c(0, g->uuid, 16);
}

/* What the hosts already on the datastore use. */
static int
live_method(struct vfs *vfs)
{
	uint64_t len = (uint64_t)vfs->g.slots * VFS_SECTOR;
	uint8_t *buf = vfs_alloc_buf(len);
	int rc, paxos = 0, other = 0;

	if (!buf)
		return -ENOMEM;
	rc = lun_read(vfs->lun, vfs->g.hb_off, buf, len);
	for (uint32_t s = 0; rc == 0 && s < vfs->g.slots; s++) {
		struct od_slot rec;

		if (od_slot_in(buf + (uint64_t)s * VFS_SECTOR, s, &rec) < 0 ||
		    rec.state == OD_SLOT_FREE)
			continue;
		if (rec.flags & OD_SLOT_PAXOS)
			paxos++;
		else
			other++;
	}
	free(buf);
	if (rc < 0)
		return rc;
	/* A disk-paxos host keeps a standing reservation that blocks the
	 * PR mutex for good: with any of them about, so must we. */
	return paxos ? LIVE_PAXOS : other ? LIVE_LUN : LIVE_NONE;
}

static int
choose_ats(struct vfs *vfs, enum vfs_ats want, int live)
{
	const struct lun_info *info = vfs->info;
	bool paxos;

	switch (want) {
	case VFS_ATS_DISK_PAXOS:
		paxos = true;
		break;
	case VFS_ATS_LUN:
		paxos = false;
		break;
	default:
		paxos = live != LIVE_NONE ? live == LIVE_PAXOS :
					    info->ats_method == LUN_ATS_PR_MUTEX;
		break;
	}
	if (live != LIVE_NONE && paxos != (live == LIVE_PAXOS)) {
		log_err(VFS_LOG, "%s: the hosts on this datastore use %s for "
			"their atomic test-and-set; mount with the same",
			lun_uri(vfs->lun), live == LIVE_PAXOS ? "disk-paxos" :
			lun_ats_method_name(info->ats_method));
		return -EBUSY;
	}
	if (paxos && !(info->caps & LUN_CAP_PR)) {
		log_err(VFS_LOG, "%s: the disk-paxos ATS needs persistent "
			"reservations (to fence a stalled owner)",
			lun_uri(vfs->lun));
		return -EOPNOTSUPP;
	}
	vfs->paxos = paxos;
	return 0;
}

/*
 * The anchor reserves, or takes over 'victim''s single-holder
 * reservation (0: reserve a free LUN). Its handle is closed at once: the
 * registration, and the reservation with it, stay.
 */
static int
anchor_reserve(struct vfs *vfs, uint64_t victim)
{
	struct lun *h;
	int rc = lun_dup(vfs->lun, &h);

	if (rc < 0)
		return rc;
	rc = lun_pr_register(h, fence_anchor_key(&vfs->g));
	if (rc == 0 && victim)
		rc = lun_pr_preempt(h, victim, LUN_PR_WRITE_EXCLUSIVE_REG_ONLY,
				    false);
	else if (rc == 0)
		rc = lun_pr_reserve(h, LUN_PR_WRITE_EXCLUSIVE_REG_ONLY);
	lun_close(h);
	return rc;
}

/*
 * Makes sure the standing reservation is in force: 0, -EBUSY when a
 * reservation of another kind is and live hosts may own it, or -errno.
 */
static int
ensure_reservation(struct vfs *vfs, int live)
{
	struct lun_pr_state *st = malloc(sizeof(*st));
	uint64_t anchor = fence_anchor_key(&vfs->g);
	int rc = -EAGAIN;

	if (!st)
		return -ENOMEM;
	for (int attempt = 0; attempt < 4 && rc == -EAGAIN; attempt++) {
		rc = lun_pr_read(vfs->lun, st);
		if (rc < 0)
			break;
		if (st->reserved && st->type == LUN_PR_WRITE_EXCLUSIVE_REG_ONLY &&
		    st->holder_key == anchor) {
			rc = 0;
			break;
		}
		/* Another holder: an anchor an earlier mkfs left, or a
		 * PR-mutex host that died mid-ATS (choose_ats() ruled out
		 * live ones), is taken over. */
		if (st->reserved && (!st->holder_key || live == LIVE_LUN)) {
			log_err(VFS_LOG, "%s: another reservation (type %d, "
				"key 0x%llx) is in force", lun_uri(vfs->lun),
				st->type, (unsigned long long)st->holder_key);
			rc = -EBUSY;
			break;
		}
		rc = anchor_reserve(vfs, st->reserved ? st->holder_key : 0);
		if (rc == -EBADE)
			rc = -EAGAIN; /* it changed meanwhile: look again */
	}
	free(st);
	return rc;
}

int
fence_setup(struct vfs *vfs, enum vfs_ats want)
{
	const struct lun_info *info = vfs->info;
	int rc;

	int live;

	if (vfs->flags & VFS_MOUNT_INSPECT)
		return 0;
	live = live_method(vfs);
	if (live < 0)
		return live;
	rc = choose_ats(vfs, want, live);
	if (rc < 0)
		return rc;
	/* The PR mutex needs the LUN's one reservation for itself. */
	if (!(info->caps & LUN_CAP_PR) ||
	    (info->ats_method == LUN_ATS_PR_MUTEX && !vfs->paxos))
		return 0;
	/* Read-only sessions register too: under the reservation their
	 * heartbeat is a write like any other. */
	vfs->pr_key = vfs_random_key();
	rc = lun_pr_register(vfs->lun, vfs->pr_key);
	if (rc == 0) {
		rc = ensure_reservation(vfs, live);
		if (rc < 0)
			(void)!lun_pr_register(vfs->lun, 0);
	}
	if (rc < 0) {
		vfs->pr_key = 0;
		if (vfs->paxos) {
			log_err(VFS_LOG, "%s: cannot set up PR fencing (%s), "
				"which the disk-paxos ATS needs",
				lun_uri(vfs->lun), strerror(-rc));
			return rc;
		}
		log_warn(VFS_LOG, "%s: PR fencing unavailable (%s); hosts "
			 "fence themselves", lun_uri(vfs->lun), strerror(-rc));
		return 0;
	}
	vfs->pr_fencing = true;
	return 0;
}

/* ---- the disk-paxos mutex of a session ---- */

bool
vfs_paxos_holder_gone(void *arg, const struct od_pxowner *o)
{
	struct vfs *vfs = arg;
	bool recover;

	/* Gone: its slot moved on (recovered or released); or dead: its
	 * heartbeat stood still for the dead time. */
	return lock_holder_stale(vfs, o->slot, o->gen, vfs_now(vfs),
				 &recover) || recover;
}

int
fence_paxos_start(struct vfs *vfs)
{
	struct paxos_cfg cfg = {
		.area_off = VFS_PAXOS_OFF,
		.nblocks = MIN(vfs->g.journals, VFS_PAXOS_MAX),
		.me = { .slot = (uint32_t)vfs->slot, .gen = vfs->slot_gen,
			.key = vfs->pr_key },
		.io_timeout_ns = vfs->t.io_timeout_ns,
		.holder_gone = vfs_paxos_holder_gone,
		.arg = vfs,
	};

	if (!vfs->paxos || !vfs_writable(vfs))
		return 0;
	return paxos_init(&vfs->px, &cfg);
}

/* The claim handle: its own key, so a late claim write can be fenced. */
int
fence_claim_open(struct vfs *vfs)
{
	int rc;

	if (!vfs->paxos)
		return 0;
	rc = lun_dup(vfs->lun, &vfs->claim_lun);
	if (rc < 0)
		return rc;
	vfs->claim_key = vfs_random_key();
	return lun_pr_register(vfs->claim_lun, vfs->claim_key);
}

void
fence_claim_close(struct vfs *vfs)
{
	if (!vfs->claim_lun)
		return;
	(void)!lun_pr_register(vfs->claim_lun, 0);
	lun_close(vfs->claim_lun);
	vfs->claim_lun = NULL;
}

/* ---- tools that write without a session (fsck --repair, mkfs) ---- */

int
fence_join(struct lun *lun, uint64_t *key)
{
	struct lun_pr_state *st;
	int rc;

	*key = 0;
	if (!(lun_get_info(lun)->caps & LUN_CAP_PR))
		return 0;
	st = malloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	rc = lun_pr_read(lun, st);
	if (rc == 0 && st->reserved) {
		*key = vfs_random_key();
		rc = lun_pr_register(lun, *key);
	}
	free(st);
	return rc;
}

void
fence_leave(struct lun *lun, uint64_t key)
{
	if (key)
		(void)!lun_pr_register(lun, 0);
}
