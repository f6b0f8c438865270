/* SPDX-License-Identifier: MIT */
/*
 * The disk-paxos mutex: an atomic test-and-set built from plain reads and
 * writes, for LUNs with SCSI-3 persistent reservations but no COMPARE AND
 * WRITE (Debian's tgtd). There the older ATS, a short PR reservation
 * around read-compare-write, needs the LUN's one reservation for itself;
 * this one leaves it free for the standing Write Exclusive - All
 * Registrants reservation that lets a host fence another by PREEMPT.
 *
 * The mutex is a lease in the style of sanlock's paxos leases. Its owners
 * form a sequence of instances 1, 2, 3...; each instance is one run of
 * Disk Paxos (Gafni and Lamport) that decides who owns it, over one
 * ballot block per participant (a heartbeat slot: the participant is the
 * host in that slot), all read in one command:
 *
 *   phase 1  write my block {instance, mbal = a ballot of mine above all
 *            seen}; read all; give up if a block has a higher ballot for
 *            the instance or a newer instance. The value is the one
 *            accepted under the highest ballot, else myself.
 *   phase 2  write my block {mbal, bal = mbal, value}; read all; give up
 *            as before. Otherwise the value is decided for the instance.
 *
 * The owner of instance k may run its read-compare-write, then releases
 * by writing the leader sector {k, itself}. Instance k+1 may only be run
 * once the leader names k (released), or after the owner of k has been
 * fenced: PREEMPT of its PR key, after which the LUN refuses its writes,
 * so an owner that was paused (SIGSTOP, a VM pause, a stalled network)
 * and resumes cannot write any more. A waiter takes the mutex over from
 * an owner that has not released it when that owner is known gone (the
 * 'holder_gone' callback: its heartbeat stopped, or its slot was
 * recovered) or after the stale limit of 4 x io_timeout in which nothing
 * on the mutex changed; the owner itself never writes the protected
 * sector later than io_timeout after its instance was decided.
 *
 * The owner of the instance just released may skip phase 1 for the next
 * one (run_owner_fast() in paxos.c says why that is safe for it alone),
 * so a host that took the mutex last pays 1 write + 1 read for the
 * instance, the read and the FUA write of the sector, and the release:
 * 5 commands. Otherwise: a read of the area, 2 writes + 2 reads, and the
 * same 3: 8 commands. Ballot and leader writes need no FUA: hosts only need the
 * target to show them a completed write, and a target that loses its
 * cache also loses every session (and, on tgtd, every registration).
 *
 * Timing, with T = io_timeout: hold limit T (after its decision an owner
 * gives up rather than write), stale limit 4T, lun_ats()-style callers
 * wait at most 4T + 2T. All clocks are this host's monotonic clock.
 */
#ifndef VFS_PAXOS_H
#define VFS_PAXOS_H

#include <stdbool.h>
#include <stdint.h>

#include "vfs-cluster/lun.h"
#include "vfs-cluster/ondisk.h"

struct paxos_cfg {
	uint64_t area_off;       /* the leader sector; blocks follow */
	uint32_t nblocks;        /* participants, <= VFS_PAXOS_MAX */
	struct od_pxowner me;    /* slot: my block; gen, key: who I am */
	uint64_t io_timeout_ns;  /* T */
	/*
	 * May be NULL. Returns true when the host 'o' is known to be gone
	 * (dead, or its slot recovered or released), so an instance it owns
	 * can be taken over (after fencing it) without the stale limit.
	 */
	bool (*holder_gone)(void *arg, const struct od_pxowner *o);
	void *arg;
};

struct paxos_stats {
	uint64_t acquires;       /* instances won */
	uint64_t conflicts;      /* runs given up for a competitor */
	uint64_t waits;          /* sleeps for another owner */
	uint64_t takeovers;      /* owners fenced and taken over from */
};

struct paxos {
	struct paxos_cfg cfg;
	uint8_t *buf;            /* the area: 1 + nblocks sectors */
	uint8_t *sec;            /* one sector for writes */
	struct od_pxleader leader;    /* decoded from buf */
	struct od_pxblock *blocks;    /* decoded from buf */
	struct od_pxblock mine;       /* my block as last written */
	uint64_t released;       /* the instance I released last; 0 none */
	uint64_t rng;
	struct paxos_stats stats;
};

/* 0, -ENOMEM, or -EINVAL for a bad configuration. */
int paxos_init(struct paxos *px, const struct paxos_cfg *cfg) must_check;
void paxos_fini(struct paxos *px);

/*
 * The same contract as lun_ats() on one logical sector at 'offset'
 * (outside the paxos area), done under the mutex through 'lun', which
 * must be registered with cfg.me.key when fencing is wanted. Blocks up to
 * 6 x io_timeout while other hosts own the mutex. -EBADE: this host was
 * fenced. One thread at a time per 'px'.
 */
int paxos_ats(struct paxos *px, struct lun *lun, uint64_t offset,
	      const void *expected, const void *desired, uint64_t len)
	must_check;

/*
 * The mutex alone, for tests and for callers with more than one sector
 * to change: paxos_lock() returns the instance won in '*lver'; the owner
 * must call paxos_unlock() with it, and must not write under it more
 * than io_timeout after paxos_lock() returned.
 */
int paxos_lock(struct paxos *px, struct lun *lun, uint64_t *lver)
	must_check;
int paxos_unlock(struct paxos *px, struct lun *lun, uint64_t lver);

/*
 * Makes sure the host registered with 'victim' can no longer write:
 * PREEMPT, or a check that the key is gone already. 0 when fenced,
 * -EBADE when this handle's own key is gone (this host is fenced), or
 * -errno. Shared with recovery (recover.c).
 */
int paxos_fence_key(struct lun *lun, uint64_t victim) must_check;

#endif
