/* SPDX-License-Identifier: MIT */
/*
 * Locks between hosts in one process (mem: LUN, injected clocks): I/O
 * counts of acquiring and re-taking, the three modes, the lock cache and
 * its idle release, WANTED hand-over, and breaking a crashed holder's lock
 * (recovery replays its journal first); with the disk-paxos ATS the same
 * break, and a frozen holder that, once thawed, finds its writes refused
 * by the LUN (PR fencing).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "tests/lib/testutil.h"
#include "vfs-cluster/vfs-internal.h"

#define SEC NS_PER_SEC
#define MS NS_PER_MS

static char uri[64];
static struct lun *keep;
static enum vfs_ats ats;

static void
fresh(void)
{
	static int n;
	char create[96];

	lun_close(keep);
	snprintf(uri, sizeof(uri), "mem:lk%d", n++);
	snprintf(create, sizeof(create), "%s?size=256M", uri);
	CHECK_OK(lun_open(create, NULL, &keep));
	CHECK_OK(vfs_mkfs_lun(keep, NULL));
}

static struct vfs *
host(const char *name, uint64_t now)
{
	struct vfs_mount_opts o = {
		.flags = VFS_MOUNT_MANUAL_HEARTBEAT,
		.host_name = name,
		.start_ns = now,
		.lock_cache_ms = 500,
		.ats = ats,
	};
	struct vfs *vfs;

	CHECK_OK(vfs_mount(uri, &o, &vfs));
	return vfs;
}

static uint64_t
ios(struct vfs *vfs)
{
	struct lun_stats st;

	lun_get_stats(vfs->lun, &st);
	return lun_stats_ios(&st);
}

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
test_io_counts(void)
{
	const struct lock_req ex = { .mode = OD_LOCK_EX };
	struct vfs *a;
	struct vlock *vl;
	struct vfs_file *f;
	uint64_t off, before;

	fresh();
	a = host("a", 0);
	off = a->g.locks_off + 5 * VFS_SECTOR;
	pthread_mutex_lock(&a->mu);
	before = ios(a);
	CHECK_OK(lock_try(a, off, &ex, 0, &vl, NULL));
	/* Uncontended: one read, one ATS. */
	CHECK_EQ(ios(a) - before, 2);
	lock_put(a, vl);
	before = ios(a);
	CHECK_OK(lock_try(a, off, &ex, 0, &vl, NULL));
	/* Re-taken while cached: no I/O at all. */
	CHECK_EQ(ios(a) - before, 0);
	lock_put(a, vl);
	pthread_mutex_unlock(&a->mu);

	/* The same through the API: re-opening a file just closed. */
	CHECK_OK(vfs_file_create(a, "/f", NULL, 0, &f));
	vfs_file_close(f);
	before = ios(a);
	CHECK_OK(vfs_file_open(a, "/f", 0, &f));
	CHECK_EQ(ios(a) - before, 0);
	vfs_file_close(f);
	CHECK_OK(vfs_unmount(a));
}

static void
test_modes(void)
{
	struct vfs *h[3];
	struct vfs_file *fa, *fb, *fc;
	struct vfs_lock_info li;

	fresh();
	h[0] = host("a", 0);
	h[1] = host("b", 0);
	h[2] = host("c", 0);
	CHECK_OK(vfs_file_create(h[0], "/f", NULL, 0, &fa));
	run(h, 3, 0, 2 * SEC, 100 * MS);
	/* Exclusive: nobody else. */
	CHECK_EQ(vfs_file_open(h[1], "/f", VFS_O_NOWAIT, &fb), -EBUSY);
	CHECK_EQ(vfs_file_open(h[1], "/f", VFS_O_SHARED | VFS_O_NOWAIT, &fb),
		 -EBUSY);
	CHECK_OK(vfs_lock_query(h[1], "/f", &li));
	CHECK_EQ(li.mode, VFS_LOCK_EXCLUSIVE);
	CHECK_EQ(li.nholders, 1);
	CHECK_EQ(li.holders[0].slot, (uint32_t)h[0]->slot);
	CHECK(strcmp(li.holders[0].host_name, "a") == 0);
	CHECK(li.holders[0].holder_alive);
	/* Same session, second exclusive open: busy too. */
	CHECK_EQ(vfs_file_open(h[0], "/f", VFS_O_NOWAIT, &fb), -EBUSY);
	vfs_file_close(fa);
	/* Closed but cached: still held on disk until the cache lets go. */
	CHECK_EQ(vfs_file_open(h[1], "/f", VFS_O_NOWAIT, &fb), -EBUSY);
	run(h, 3, 2 * SEC, 3 * SEC, 100 * MS);
	/* Shared: many readers, no writer. */
	CHECK_OK(vfs_file_open(h[1], "/f", VFS_O_SHARED | VFS_O_NOWAIT, &fb));
	CHECK_OK(vfs_file_open(h[2], "/f", VFS_O_SHARED | VFS_O_NOWAIT, &fc));
	CHECK_EQ(vfs_file_pwrite(fb, "x", 1, 0), -EROFS);
	CHECK_EQ(vfs_file_open(h[0], "/f", VFS_O_NOWAIT, &fa), -EBUSY);
	CHECK_EQ(vfs_file_open(h[0], "/f", VFS_O_MULTI_WRITER | VFS_O_NOWAIT,
			       &fa), -EBUSY);
	CHECK_OK(vfs_lock_query(h[0], "/f", &li));
	CHECK_EQ(li.mode, VFS_LOCK_SHARED);
	CHECK_EQ(li.nholders, 2);
	/* Unlinking a file someone has open fails. */
	CHECK_EQ(vfs_unlink(h[0], "/f"), -EBUSY);
	vfs_file_close(fb);
	vfs_file_close(fc);
	run(h, 3, 3 * SEC, 4 * SEC, 100 * MS);
	/* Multi-writer: several writers of provisioned blocks. */
	CHECK_OK(vfs_file_open(h[0], "/f", 0, &fa));
	CHECK_OK(vfs_file_extend(fa, 2 << 20, VFS_ALLOC_EAGER_ZEROED));
	vfs_file_close(fa);
	run(h, 3, 4 * SEC, 5 * SEC, 100 * MS);
	CHECK_OK(vfs_file_open(h[1], "/f", VFS_O_MULTI_WRITER, &fb));
	CHECK_OK(vfs_file_open(h[2], "/f", VFS_O_MULTI_WRITER, &fc));
	CHECK_EQ(vfs_file_pwrite(fb, "b", 1, 0), 1);
	CHECK_EQ(vfs_file_pwrite(fc, "c", 1, 1), 1);
	/* ...but nobody may grow it. */
	CHECK_EQ(vfs_file_pwrite(fc, "c", 1, 4 << 20), -EROFS);
	vfs_file_close(fb);
	vfs_file_close(fc);
	for (int i = 0; i < 3; i++)
		CHECK_OK(vfs_unmount(h[i]));
	CHECK_EQ(vfs_fsck(uri, 0, NULL, NULL, NULL), VFS_FSCK_CLEAN);
}

static void
test_wanted_handover(void)
{
	struct vfs *h[2];
	uint64_t t;
	int rc = -EBUSY;

	fresh();
	h[0] = host("a", 0);
	h[1] = host("b", 0);
	CHECK_OK(vfs_mkdir(h[0], "/d"));
	/* 'a' keeps working in /d, never idle for a whole cache period. */
	for (t = 0; t < 3 * SEC && rc != 0; t += 100 * MS) {
		char p[32];

		snprintf(p, sizeof(p), "/d/a%llu", (unsigned long long)t);
		CHECK_OK(vfs_file_create(h[0], p, NULL, 0, NULL));
		run(h, 2, t, t, 1);
		rc = vfs_mkdir(h[1], "/d/b");
		CHECK(rc == 0 || rc == -EBUSY);
	}
	/* 'b' got it once 'a' saw the WANTED flag. */
	CHECK_OK(rc);
	CHECK(t < 2 * SEC);
	for (int i = 0; i < 2; i++)
		CHECK_OK(vfs_unmount(h[i]));
	CHECK_EQ(vfs_fsck(uri, 0, NULL, NULL, NULL), VFS_FSCK_CLEAN);
}

static void
test_break_dead_holder(void)
{
	struct vfs *h[2];
	struct vfs_file *fa, *fb;
	struct vfs_stat st;
	char buf[16];
	uint64_t t;
	int rc;

	fresh();
	h[0] = host("a", 0);
	h[1] = host("b", 0);
	CHECK_OK(vfs_file_create(h[0], "/f", NULL, 0, &fa));
	CHECK_EQ(vfs_file_pwrite(fa, "hello", 5, 0), 5);
	CHECK_OK(vfs_file_sync(fa));
	run(h, 2, 0, 2 * SEC, 100 * MS);
	CHECK_OK(vfs_mkdir(h[0], "/made-by-a"));
	/* 'a' crashes holding /f and with its journal not checkpointed. */
	CHECK(h[0]->jn.tail_seq != h[0]->jn.head_seq);
	free(fa);
	vfs_abandon(h[0]);
	h[0] = NULL;
	CHECK_EQ(vfs_file_open(h[1], "/f", VFS_O_NOWAIT, &fb), -EBUSY);
	/* Until its lease has run out on b's clock, it counts as alive. */
	for (t = 2 * SEC; t < 30 * SEC; t += 500 * MS) {
		run(h + 1, 1, t, t, 1);
		rc = vfs_file_open(h[1], "/f", VFS_O_NOWAIT, &fb);
		if (rc == 0)
			break;
		CHECK_EQ(rc, -EBUSY);
	}
	CHECK_OK(rc);
	/* With PR (mem: LUNs have it) the wait is max(3R, L/3) plus a
	 * renewal; without it a full lease. */
	CHECK(t - 2 * SEC <= h[1]->t.dead_pr_ns + 2 * SEC);
	CHECK_EQ(vfs_file_pread(fb, buf, sizeof(buf), 0), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	/* a's journal was replayed: its last mkdir is there. */
	CHECK_OK(vfs_stat(h[1], "/made-by-a", &st));
	CHECK_EQ(st.type, VFS_TYPE_DIR);
	vfs_file_close(fb);
	CHECK_OK(vfs_unmount(h[1]));
	CHECK_EQ(vfs_fsck(uri, 0, NULL, NULL, NULL), VFS_FSCK_CLEAN);
}

static void
test_break_dead_holder_paxos(void)
{
	struct vfs_info info;

	ats = VFS_ATS_DISK_PAXOS;
	test_break_dead_holder();
	/* The last datastore's session said what it used. */
	fresh();
	{
		struct vfs *v = host("c", 0);

		CHECK_OK(vfs_get_info(v, &info));
		CHECK(!strcmp(info.ats_method, "disk-paxos"));
		CHECK_EQ(info.fencing, VFS_FENCING_PR);
		CHECK_OK(vfs_unmount(v));
	}
	ats = VFS_ATS_AUTO;
}

/*
 * A holder frozen (its clock stops: no renewals, no self-fence check)
 * is taken for dead, preempted and recovered; thawed, the writes it
 * still tries reach the LUN and are refused there.
 */
static void
test_frozen_holder_paxos(void)
{
	struct vfs *h[2];
	struct vfs_file *fa, *fb;
	char buf[16];
	uint64_t t;
	int rc;

	ats = VFS_ATS_DISK_PAXOS;
	fresh();
	h[0] = host("a", 0);
	h[1] = host("b", 0);
	/* Big enough to have a data block: the write goes to the LUN (a
	 * small file's would wait in the journal for the next commit). */
	CHECK_OK(vfs_file_create(h[0], "/f",
				 &(struct vfs_create_opts){ .size_bytes = 1 << 20 },
				 0, &fa));
	CHECK_EQ(vfs_file_pwrite(fa, "aaaaa", 5, 0), 5);
	CHECK_OK(vfs_file_sync(fa));
	run(h, 2, 0, 2 * SEC, 100 * MS);
	for (t = 2 * SEC; t < 30 * SEC; t += 500 * MS) {
		run(h + 1, 1, t, t, 1);
		rc = vfs_file_open(h[1], "/f", VFS_O_NOWAIT, &fb);
		if (rc == 0)
			break;
		CHECK_EQ(rc, -EBUSY);
	}
	CHECK_OK(rc);
	CHECK_EQ(vfs_file_pwrite(fb, "bbbbb", 5, 0), 5);
	CHECK_OK(vfs_file_sync(fb));
	/* Thawed at the instant it froze: it believes its lease good. */
	CHECK_EQ(vfs_file_pwrite(fa, "zzzzz", 5, 0), -EBADE);
	CHECK(vfs_is_fenced(h[0]));
	CHECK_EQ(vfs_file_pread(fb, buf, 5, 0), 5);
	CHECK(memcmp(buf, "bbbbb", 5) == 0);
	vfs_file_close(fb);
	CHECK_OK(vfs_unmount(h[1]));
	free(fa);
	vfs_abandon(h[0]);
	CHECK_EQ(vfs_fsck(uri, 0, NULL, NULL, NULL), VFS_FSCK_CLEAN);
	ats = VFS_ATS_AUTO;
}

int
main(void)
{
	RUN_TEST(test_io_counts);
	RUN_TEST(test_modes);
	RUN_TEST(test_wanted_handover);
	RUN_TEST(test_break_dead_holder);
	RUN_TEST(test_break_dead_holder_paxos);
	RUN_TEST(test_frozen_holder_paxos);
	lun_close(keep);
	return 0;
}
