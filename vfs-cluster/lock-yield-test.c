/* SPDX-License-Identifier: MIT */
/*
 * Two hosts, each inside an op that has changed an item under its own
 * lock, each then waiting for the other's lock: neither may let go of a
 * lock whose item its open op changed, so plain waiting would last the
 * whole lock timeout and fail both ops. Yielding ops must give up within
 * about two seconds (-EDEADLK), roll back, let go and run again, and both
 * must then finish, each having changed both items.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "tests/lib/testutil.h"
#include "vfs-cluster/vfs-internal.h"

#define LOCK_TIMEOUT_MS 15000
#define MARK 0x5eedull /* a time no clock gives: who changed it */

static const char *uri = "mem:yield?size=256M";
static pthread_barrier_t both_changed;

struct side {
	struct vfs *vfs;
	uint64_t mine, theirs;       /* inode numbers */
	int rc, rounds, yields;
	uint64_t took_ns;
};

/* Marks inode 'ino' as changed by side 'who' (0: ctime, 1: mtime). */
static int
touch_inode(struct vfs *vfs, uint64_t ino, int who)
{
	const struct lock_req req = { .mode = OD_LOCK_EX, .internal = true };
	struct inode_ref r;
	struct vlock *vl;
	int rc = lock_acquire(vfs, inode_lock_off(vfs, ino), &req, &vl, NULL);

	if (rc < 0)
		return rc;
	rc = inode_get(vfs, ino, vl, &r);
	if (rc == 0)
		rc = inode_dirty(vfs, &r);
	if (rc == 0 && who == 0)
		inode_body(&r)->ctime_ns = to_le64(MARK);
	if (rc == 0 && who == 1)
		inode_body(&r)->mtime_ns = to_le64(MARK);
	/* Idle from here, but changed in the op: not to be let go. */
	lock_put(vfs, vl);
	return rc;
}

static void *
run_side(void *arg)
{
	struct side *s = arg;
	struct vfs *vfs = s->vfs;
	int who = s->mine < s->theirs ? 0 : 1;
	uint64_t start;

	pthread_mutex_lock(&vfs->mu);
	start = vfs_now(vfs);
	do {
		s->rounds++;
		tx_begin_yielding(vfs);
		s->rc = touch_inode(vfs, s->mine, who);
		if (s->rounds == 1) {
			/* Both ops hold a change before either waits. */
			pthread_mutex_unlock(&vfs->mu);
			pthread_barrier_wait(&both_changed);
			pthread_mutex_lock(&vfs->mu);
		}
		if (s->rc == 0)
			s->rc = touch_inode(vfs, s->theirs, who);
		if (s->rc == -EDEADLK)
			s->yields++;
		s->rc = tx_end(vfs, s->rc, false);
	} while (tx_retry(vfs, s->rc, start));
	s->took_ns = vfs_now(vfs) - start;
	pthread_mutex_unlock(&vfs->mu);
	return NULL;
}

static struct vfs *
host(const char *name)
{
	struct vfs_mount_opts o = { .host_name = name,
				    .lock_timeout_ms = LOCK_TIMEOUT_MS };
	struct vfs *vfs;

	CHECK_OK(vfs_mount(uri, &o, &vfs));
	return vfs;
}

static uint64_t
make_file(struct vfs *vfs, const char *path)
{
	struct vfs_file *f;
	struct vfs_stat st;

	CHECK_OK(vfs_file_create(vfs, path, NULL, 0, &f));
	vfs_file_close(f);
	CHECK_OK(vfs_stat(vfs, path, &st));
	return st.ino;
}

/* Reads an inode's body as it is on the LUN now. */
static void
check_touched_by_both(struct vfs *vfs, uint64_t ino)
{
	struct od_inode *b = vfs_alloc_buf(sizeof(*b));

	CHECK(b);
	CHECK_OK(inode_read_unlocked(vfs, ino, b));
	CHECK_EQ(le64(b->ctime_ns), MARK);
	CHECK_EQ(le64(b->mtime_ns), MARK);
	free(b);
}

int
main(void)
{
	struct lun *keep;
	struct side a = { 0 }, b = { 0 };
	pthread_t ta, tb;

	CHECK_OK(lun_open(uri, NULL, &keep));
	CHECK_OK(vfs_mkfs_lun(keep, NULL));
	a.vfs = host("a");
	b.vfs = host("b");
	a.mine = b.theirs = make_file(a.vfs, "/a");
	b.mine = a.theirs = make_file(b.vfs, "/b");
	CHECK_OK(pthread_barrier_init(&both_changed, NULL, 2));
	CHECK_OK(pthread_create(&ta, NULL, run_side, &a));
	CHECK_OK(pthread_create(&tb, NULL, run_side, &b));
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	printf("a: rc %d after %d rounds, %d yields, %.2f s\n", a.rc, a.rounds,
	       a.yields, (double)a.took_ns / 1e9);
	printf("b: rc %d after %d rounds, %d yields, %.2f s\n", b.rc, b.rounds,
	       b.yields, (double)b.took_ns / 1e9);
	CHECK_OK(a.rc);
	CHECK_OK(b.rc);
	CHECK(a.yields + b.yields >= 1);
	/* Well inside the lock timeout both would otherwise wait out. */
	CHECK(a.took_ns < (LOCK_TIMEOUT_MS / 2) * NS_PER_MS);
	CHECK(b.took_ns < (LOCK_TIMEOUT_MS / 2) * NS_PER_MS);
	CHECK_OK(vfs_unmount(a.vfs));
	CHECK_OK(vfs_unmount(b.vfs));
	{
		struct vfs *c = host("check");

		check_touched_by_both(c, a.mine);
		check_touched_by_both(c, b.mine);
		CHECK_OK(vfs_unmount(c));
	}
	lun_close(keep);
	printf("two ops waiting on each other's locks both finished\n");
	return 0;
}
