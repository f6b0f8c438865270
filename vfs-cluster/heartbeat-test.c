/* SPDX-License-Identifier: MIT */
/*
 * Heartbeats with injected clocks: several hosts (sessions) in one
 * process on one mem: LUN, each with its own monotonic clock driven by
 * vfs_tick(). Slot claims, renewals, dead detection on the observer's
 * clock, self-fencing, takeover fencing a stalled host, PR fencing, and
 * slot exhaustion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "tests/lib/testutil.h"
#include "vfs-cluster/vfs-internal.h"

#define MIB (1ull << 20)
#define SEC NS_PER_SEC

static char uri[64];
static struct lun *keep;

static void
fresh(const struct vfs_mkfs_opts *o)
{
	static int n;
	char create[96];

	lun_close(keep);
	snprintf(uri, sizeof(uri), "mem:hb%d", n++);
	snprintf(create, sizeof(create), "%s?size=256M", uri);
	CHECK_OK(lun_open(create, NULL, &keep));
	CHECK_OK(vfs_mkfs_lun(keep, o));
}

static struct vfs *
host_flags(const char *name, uint64_t now, unsigned int flags)
{
	struct vfs_mount_opts o = {
		.flags = VFS_MOUNT_MANUAL_HEARTBEAT | flags,
		.host_name = name,
		.start_ns = now,
	};
	struct vfs *vfs;

	CHECK_OK(vfs_mount(uri, &o, &vfs));
	return vfs;
}

static struct vfs *
host(const char *name, uint64_t now)
{
	return host_flags(name, now, 0);
}

/* Ticks every host in 'h' from 'from' to 'to' in renewal steps. */
static void
run(struct vfs **h, unsigned int n, uint64_t from, uint64_t to,
    uint64_t step)
{
	for (uint64_t t = from; t <= to; t += step)
		for (unsigned int i = 0; i < n; i++)
			if (h[i])
				vfs_tick(h[i], t);
}

static void
test_timing(void)
{
	struct vfs_timing t;

	vfs_timing_init(&t, 10000, 0);
	CHECK_EQ(t.io_timeout_ns, 2 * SEC);
	CHECK_EQ(t.renew_ns, 1 * SEC);
	CHECK_EQ(t.fence_ns, 6 * SEC);
	CHECK_EQ(t.dead_ns, 10 * SEC);
	CHECK(t.fence_ns + t.io_timeout_ns < t.dead_ns);
	/* An I/O timeout too long for the lease is cut to L/4. */
	vfs_timing_init(&t, 4000, 3000);
	CHECK_EQ(t.io_timeout_ns, 1 * SEC);
	CHECK_EQ(t.fence_ns, 2 * SEC);
}

static void
test_claim_renew(void)
{
	struct vfs *a, *b;
	struct hb_obs o;
	uint64_t c0;
	uint32_t slot;

	fresh(NULL);
	a = host("a", 1 * SEC);
	b = host("b", 1 * SEC);
	CHECK(a->slot >= 0 && b->slot >= 0 && a->slot != b->slot);
	CHECK_OK(hb_observe_slot(b, b->lun, (uint32_t)a->slot, 1 * SEC, &o));
	CHECK_EQ(o.rec.state, OD_SLOT_LIVE);
	CHECK(strcmp(o.rec.host_name, "a") == 0);
	c0 = o.rec.counter;
	CHECK_OK(vfs_tick(a, 2 * SEC + 1));
	CHECK_OK(hb_observe_slot(b, b->lun, (uint32_t)a->slot, 2 * SEC, &o));
	CHECK_EQ(o.rec.counter, c0 + 1);
	/* Not due yet: no renewal. */
	CHECK_OK(vfs_tick(a, 2 * SEC + 2));
	CHECK_OK(hb_observe_slot(b, b->lun, (uint32_t)a->slot, 2 * SEC, &o));
	CHECK_EQ(o.rec.counter, c0 + 1);
	slot = (uint32_t)a->slot;
	CHECK_OK(vfs_unmount(a));
	CHECK_OK(hb_observe_slot(b, b->lun, slot, 3 * SEC, &o));
	CHECK_EQ(o.rec.state, OD_SLOT_FREE);
	CHECK_OK(vfs_unmount(b));
}

static void
test_dead_detection(void)
{
	struct vfs *h[2];
	struct vfs_host *hosts;
	unsigned int n;
	struct hb_obs o;
	uint32_t slot_a;

	fresh(&(struct vfs_mkfs_opts){ .lease_ms = 10000 });
	/* The LUN has PR emulation; test the plain lease rule here. */
	h[0] = host("a", 0);
	h[1] = host("b", 0);
	h[0]->pr_fencing = h[1]->pr_fencing = false;
	slot_a = (uint32_t)h[0]->slot;
	run(h, 2, 0, 5 * SEC, SEC / 2);
	/* 'a' stops renewing (hangs); 'b' keeps watching. */
	run(h + 1, 1, 5 * SEC, 14 * SEC, SEC / 2);
	pthread_mutex_lock(&h[1]->hb_mu);
	o = h[1]->obs[slot_a];
	pthread_mutex_unlock(&h[1]->hb_mu);
	CHECK(!hb_obs_dead(h[1], &o, 14 * SEC));
	CHECK(hb_obs_dead(h[1], &o, 15 * SEC + SEC / 2));
	/* Housekeeping recovers it: the slot is free afterwards. */
	run(h + 1, 1, 15 * SEC, 16 * SEC, SEC / 2);
	CHECK_OK(vfs_hosts_list(h[1], &hosts, &n));
	CHECK_EQ(n, 1);
	CHECK(hosts[0].self);
	free(hosts);
	/* The stalled host wakes up: its renewal miscompares: fenced. */
	CHECK_EQ(vfs_tick(h[0], 20 * SEC), -ESTALE);
	CHECK(vfs_is_fenced(h[0]));
	CHECK_EQ(vfs_mkdir(h[0], "/x"), -ESTALE);
	CHECK_EQ(vfs_unmount(h[0]), -ESTALE);
	CHECK_OK(vfs_unmount(h[1]));
}

/*
 * Regression: an observation stamped by another thread after 'now' was
 * read made (now - last_change) wrap around, declaring live hosts dead
 * (found by the 64-host join/leave test).
 */
static void
test_observation_newer_than_now(void)
{
	struct hb_obs o = { .seen = true, .last_change_ns = 10 * SEC };
	struct vfs *a;

	fresh(NULL);
	a = host("a", 0);
	o.rec.state = OD_SLOT_LIVE;
	CHECK(!hb_obs_dead(a, &o, 10 * SEC - 1));
	CHECK(!hb_obs_dead(a, &o, 10 * SEC + a->t.dead_ns - 1));
	CHECK(hb_obs_dead(a, &o, 10 * SEC + a->t.dead_ns));
	CHECK_OK(vfs_unmount(a));
}

static void
test_self_fence(void)
{
	struct vfs_file *f;
	struct vfs *a;
	uint64_t t0 = 100 * SEC;

	fresh(NULL);
	a = host("a", t0);
	CHECK_OK(vfs_file_create(a, "/small", NULL, 0, &f));
	CHECK_OK(hb_write_allowed(a, t0 + a->t.fence_ns));
	CHECK_EQ(hb_write_allowed(a, t0 + a->t.fence_ns + 1), -ESTALE);
	/* Writes are refused while the lease is lapsed (a small file's
	 * too, though it would only reach the journal)... */
	atomic_store(&a->manual_now_ns, t0 + a->t.fence_ns + 1);
	CHECK_EQ(vfs_mkdir(a, "/late"), -ESTALE);
	CHECK_EQ(vfs_file_pwrite(f, "late", 4, 0), -ESTALE);
	/* ...until a renewal succeeds: nobody took the slot meanwhile. */
	CHECK_OK(vfs_tick(a, t0 + a->t.fence_ns + 2));
	CHECK(!vfs_is_fenced(a));
	CHECK_OK(vfs_mkdir(a, "/late"));
	CHECK_EQ(vfs_file_pwrite(f, "late", 4, 0), 4);
	vfs_file_close(f);
	CHECK_OK(vfs_unmount(a));
}

static void
test_pr_fencing(void)
{
	struct vfs *h[2];
	struct vfs_info info;

	fresh(NULL);
	h[0] = host("a", 0);
	h[1] = host("b", 0);
	CHECK(h[0]->pr_fencing && h[1]->pr_fencing);
	CHECK_OK(vfs_get_info(h[0], &info));
	CHECK_EQ(info.fencing, VFS_FENCING_PR);
	run(h, 2, 0, 3 * SEC, SEC / 2);
	/* 'a' freezes; with PR the survivors need not wait a full lease. */
	run(h + 1, 1, 3 * SEC, 3 * SEC + h[1]->t.dead_pr_ns + 2 * SEC,
	    SEC / 4);
	/* 'a' resumes, its lease still apparently valid by its own clock
	 * (its clock was frozen too): the LUN refuses its writes. */
	atomic_store(&h[0]->manual_now_ns, 3 * SEC);
	CHECK(vfs_mkdir(h[0], "/zombie") < 0);
	CHECK(vfs_is_fenced(h[0]));
	vfs_unmount(h[0]);
	CHECK_OK(vfs_mkdir(h[1], "/alive"));
	CHECK_OK(vfs_unmount(h[1]));
}

static void
test_slots(void)
{
	struct vfs *rw[4], *ro[40], *extra;
	struct vfs_mount_opts o = { .flags = VFS_MOUNT_MANUAL_HEARTBEAT };
	int freed;

	fresh(&(struct vfs_mkfs_opts){ .journals = 4 });
	for (int i = 0; i < 4; i++)
		rw[i] = host("rw", 0);
	CHECK_EQ(vfs_mount(uri, &o, &extra), -EUSERS);
	for (int i = 0; i < 40; i++) {
		ro[i] = host_flags("ro", 0, VFS_MOUNT_READ_ONLY);
		CHECK(ro[i]->slot >= 4);
		/* Read-only sessions take no locks and write nothing else. */
		CHECK_EQ(vfs_mkdir(ro[i], "/no"), -EROFS);
	}
	/* Writers start at a random slot: the one given back is the only
	 * journal slot left. */
	freed = rw[2]->slot;
	CHECK_OK(vfs_unmount(rw[2]));
	CHECK_OK(vfs_mount(uri, &o, &extra));
	CHECK_EQ(extra->slot, freed);
	CHECK_OK(vfs_unmount(extra));
	for (int i = 0; i < 40; i++)
		CHECK_OK(vfs_unmount(ro[i]));
	for (int i = 0; i < 4; i++)
		if (i != 2)
			CHECK_OK(vfs_unmount(rw[i]));
}

int
main(void)
{
	RUN_TEST(test_timing);
	RUN_TEST(test_claim_renew);
	RUN_TEST(test_dead_detection);
	RUN_TEST(test_observation_newer_than_now);
	RUN_TEST(test_self_fence);
	RUN_TEST(test_pr_fencing);
	RUN_TEST(test_slots);
	lun_close(keep);
	return 0;
}
