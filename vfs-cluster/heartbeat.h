/* SPDX-License-Identifier: MIT */
/*
 * Heartbeats and their timing: the one place where time decides safety.
 *
 * Every timeout derives from the volume's lease L (mkfs --lease, default
 * 10 s) and the session's I/O timeout T (default L/5):
 *
 *   renew period  R = min(L/5, 1 s)   a renewal is one ATS of the slot
 *   self-fence    F = L - 2T          after the *issue* time of the last
 *                                     renewal that succeeded, the host
 *                                     stops issuing writes
 *   dead          D = L               an observer declares a host dead
 *                                     when its (generation, counter) has
 *                                     not changed for D on the
 *                                     observer's own monotonic clock
 *   dead with PR  D = max(3R, L/3)    when the dead host registered a PR
 *                                     key: it is preempted before anything
 *                                     is taken from it, so it need not
 *                                     have fenced itself
 *
 * Worked example, L = 10 s, T = 2 s, R = 1 s, a host H losing its LUN
 * path at t = 0 right after a renewal it issued at t = 0:
 *   t = 1, 2, ... s  H's renewals time out (each after at most T).
 *   t = 6 s          F reached: H refuses every new write (-ESTALE);
 *                    a write it submitted at t < 6 s completes or times
 *                    out by t < 8 s.
 *   t >= 10 s        observer O, which first saw H's last counter at
 *                    some t0 >= 0, declares H dead at t0 + 10 s: by then
 *                    H has issued nothing for 4 s and nothing of H's is
 *                    in flight. O marks H's slot RECOVERING (ATS; exactly
 *                    one observer wins), replays H's journal, frees the
 *                    slot; H's locks are then stale and can be taken.
 *   H comes back     its next renewal's ATS miscompares (the slot
 *                    changed): H is fenced for good, every call returns
 *                    -ESTALE. Had nobody touched the slot, the renewal
 *                    succeeds and H simply carries on: nothing of its was
 *                    taken.
 * The clocks of H and O only need to run at the same rate, never to agree.
 *
 * All functions take 'now_ns' (monotonic) so tests inject time; several
 * sessions in one process on a mem: LUN each get their own clock.
 */
#ifndef VFS_HEARTBEAT_H
#define VFS_HEARTBEAT_H

#include <stdbool.h>
#include <stdint.h>

#include "vfs-cluster/ondisk.h"

struct vfs;
struct lun;

struct vfs_timing {
	uint64_t lease_ns;
	uint64_t io_timeout_ns;
	uint64_t renew_ns;
	uint64_t fence_ns;       /* self-fence after last good renewal issue */
	uint64_t dead_ns;        /* observer: no change for this long */
	uint64_t dead_pr_ns;     /* same for hosts fenced by PR */
	/* disk-paxos sessions claim slots by timing (heartbeat.c) */
	uint64_t claim_write_ns; /* a claim write counts only if it completed
				    this soon after the read of the free slot
				    was issued: min(T/2, 500 ms) */
	uint64_t claim_wait_ns;  /* then the claimer waits this long and
				    reads again: claim_write + 1/8 + 2 ms */
};

/* Derives the timing from the lease and the I/O timeout (0: L/5). */
void vfs_timing_init(struct vfs_timing *t, uint32_t lease_ms,
		     uint32_t io_timeout_ms);

/* What this session knows of one slot, from its own reads. */
struct hb_obs {
	struct od_slot rec;      /* last decoded record */
	uint64_t last_change_ns; /* observer clock when (gen, counter) moved */
	uint64_t first_seen_ns;  /* observer clock at the first read */
	bool seen;
	bool bad;                /* the sector failed validation */
};

/*
 * Claims a free slot: rw sessions among 0..journals-1, read-only ones
 * preferring the others. Fills the session's slot state. -EUSERS when
 * none is free.
 */
int hb_claim(struct vfs *vfs, uint64_t now_ns);
/* One renewal (ATS). -ESTALE when the slot was taken from us. */
int hb_renew(struct vfs *vfs, struct lun *lun, uint64_t now_ns);
/* Renews if due; returns -ESTALE once fenced. */
int hb_tick(struct vfs *vfs, struct lun *lun, uint64_t now_ns);
/* Frees the slot at clean unmount (ATS to FREE). */
int hb_release(struct vfs *vfs, struct lun *lun);
/*
 * 0 when this session may issue a write at 'now_ns', -ESTALE when it is
 * fenced or its lease lapsed. Thread safe, no I/O.
 */
int hb_write_allowed(struct vfs *vfs, uint64_t now_ns);

/* Reads the whole heartbeat region and updates the observations. */
int hb_observe_all(struct vfs *vfs, struct lun *lun, uint64_t now_ns);
/* Reads one slot and updates its observation; copies the record. */
int hb_observe_slot(struct vfs *vfs, struct lun *lun, uint32_t slot,
		    uint64_t now_ns, struct hb_obs *out);
/* Has the host in 'slot' been still for its dead time? (no I/O) */
bool hb_obs_dead(const struct vfs *vfs, const struct hb_obs *o,
		 uint64_t now_ns);

#endif
