/* SPDX-License-Identifier: MIT */
/*
 * Crash consistency: a metadata-heavy workload (create, write, rename,
 * unlink, truncate, extend, punch, zero-range, mkdir, rmdir, with lock
 * releases forcing journal checkpoints) runs on a fault wrapper that logs
 * every write.
 * Then, for every durability point of the log (each flush, FUA write and
 * ATS), the LUN as it was at that point is rebuilt and checked:
 *   - fsck (which applies the crashed host's journal in memory) is clean;
 *   - the same plus a random subset of the writes in flight after the
 *     point, the last one possibly torn (a volatile cache losing power);
 *   - every 8th point: the journals are replayed for real, twice (the
 *     second time from the same starting header), both replays leave
 *     identical metadata, and fsck is clean afterwards.
 * CI needs >= 1000 points (VFS_CRASH_POINTS raises the floor for soak).
 * With the argument "paxos" the session uses the disk-paxos ATS (so
 * every lock and slot change is a run of plain writes, logged too) and
 * PR fencing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/lib/testutil.h"
#include "vfs-cluster/lun-faulty.h"
#include "vfs-cluster/vfs-internal.h"

#define LUN_BYTES (16ull << 20)
#define KIB 1024ull

static struct vfs *vfs;
static uint64_t now_ns;
static unsigned int seed = 12345;

static void
tick(uint64_t ms)
{
	now_ns += ms * NS_PER_MS;
	vfs_tick(vfs, now_ns);
}

static int
rnd(int n)
{
	return rand_r(&seed) % n;
}

static void
path(char *buf, size_t len, int dir, int file)
{
	if (file < 0)
		snprintf(buf, len, "/d%d", dir);
	else
		snprintf(buf, len, "/d%d/f%d", dir, file);
}

/* One random operation; failures that the state explains are fine. */
static void
step(void)
{
	char a[64], b[64];
	struct vfs_file *f;
	uint8_t buf[8192];
	int rc, d = rnd(3), d2 = rnd(3), fi = rnd(6), fi2 = rnd(6);

	path(a, sizeof(a), d, fi);
	path(b, sizeof(b), d2, fi2);
	switch (rnd(9)) {
	case 0:
		path(a, sizeof(a), d, -1);
		rc = vfs_mkdir(vfs, a);
		CHECK(rc == 0 || rc == -EEXIST);
		break;
	case 1:
		path(a, sizeof(a), d, -1);
		rc = vfs_rmdir(vfs, a);
		CHECK(rc == 0 || rc == -ENOENT || rc == -ENOTEMPTY);
		break;
	case 2:
	case 3:
		rc = vfs_file_create(vfs, a, &(struct vfs_create_opts){
				     (uint64_t)rnd(4) * 64 * KIB,
				     (enum vfs_alloc)rnd(3) }, 0, NULL);
		CHECK(rc == 0 || rc == -EEXIST || rc == -ENOENT ||
		      rc == -ENOSPC);
		break;
	case 4:
	case 5:
		rc = vfs_file_open(vfs, a, 0, &f);
		CHECK(rc == 0 || rc == -ENOENT);
		if (rc)
			break;
		test_pattern_fill(buf, sizeof(buf), (uint64_t)fi, 0);
		/* Half the writes are small (files kept in the inode, and
		 * their move to a block when a later write outgrows it). */
		if (rnd(2))
			rc = (int)vfs_file_pwrite(f, buf, 1 + (uint64_t)rnd(1200),
						  (uint64_t)rnd(3) * 1000);
		else
			rc = (int)vfs_file_pwrite(f, buf, sizeof(buf),
						  (uint64_t)rnd(64) * 4 * KIB);
		CHECK(rc > 0 || rc == -ENOSPC);
		if (rnd(3) == 0) {
			rc = vfs_file_truncate(f, (uint64_t)rnd(5) * 50 * KIB);
			CHECK_OK(rc);
		}
		if (rnd(3) == 0) {
			uint64_t at = (uint64_t)rnd(64) * 4 * KIB;
			uint64_t len = (uint64_t)rnd(48) * 8 * KIB + 512;

			rc = rnd(2) ? vfs_file_punch(f, at, len) :
				      vfs_file_zero_range(f, at, len);
			CHECK_OK(rc);
		}
		rc = vfs_file_sync(f);
		CHECK(rc == 0 || rc == -ENOSPC);
		vfs_file_close(f);
		break;
	case 6:
		rc = vfs_rename(vfs, a, b, 0);
		CHECK(rc == 0 || rc == -ENOENT || rc == -EISDIR ||
		      rc == -ENOTDIR);
		break;
	case 7:
		rc = vfs_unlink(vfs, a);
		CHECK(rc == 0 || rc == -ENOENT);
		break;
	case 8:
		/* Long enough for the lock cache to let go: a checkpoint. */
		tick(600);
		break;
	}
	tick(50);
}

static uint64_t
min_points(void)
{
	const char *env = getenv("VFS_CRASH_POINTS");

	return env ? strtoull(env, NULL, 10) : 1000;
}

static void
copy_lun(struct lun *to, struct lun *from, uint64_t len)
{
	uint8_t *buf = vfs_alloc_buf(4 << 20);

	CHECK(buf);
	for (uint64_t off = 0; off < len; off += 4 << 20) {
		uint64_t n = MIN(len - off, 4ull << 20);

		CHECK_OK(lun_read(from, off, buf, n));
		CHECK_OK(lun_write(to, off, buf, n, 0));
	}
	free(buf);
}

static void
print_line(void *arg, const char *line)
{
	fprintf(arg, "  %s\n", line);
}

static void
fsck_clean(struct lun *lun, unsigned int point, const char *what)
{
	struct vfs_fsck_report rep;
	int rc = vfs_fsck_lun(lun, 0, &rep, NULL, NULL);

	if (rc != VFS_FSCK_CLEAN) {
		fprintf(stderr, "point %u (%s): fsck %d, %llu problems\n",
			point, what, rc, (unsigned long long)rep.errors);
		(void)!vfs_fsck_lun(lun, 0, &rep, print_line, stderr);
		exit(1);
	}
}

/* Real replay, twice from the same header: the same metadata both times. */
static void
replay_twice(struct lun *s, uint64_t meta_bytes, unsigned int point)
{
	uint8_t *first = malloc(meta_bytes), *second = malloc(meta_bytes);
	uint8_t *hdr = vfs_alloc_buf(VFS_SECTOR);
	struct vfs_geom g;

	CHECK(first && second && hdr);
	CHECK_OK(vfs_read_volume(s, &g));
	for (uint32_t j = 0; j < g.journals; j++) {
		uint64_t off = vfs_journal_off(&g, j);

		CHECK_OK(lun_read(s, off, hdr, VFS_SECTOR));
		CHECK(journal_replay_geom(&g, s, j, 0, false) >= 0);
		CHECK_OK(lun_read(s, 0, first, meta_bytes));
		CHECK_OK(lun_write(s, off, hdr, VFS_SECTOR, 0));
		CHECK(journal_replay_geom(&g, s, j, 0, false) >= 0);
		CHECK_OK(lun_read(s, 0, second, meta_bytes));
		/* Only the rewritten journal header may differ (its time). */
		memset(first + off, 0, VFS_SECTOR);
		memset(second + off, 0, VFS_SECTOR);
		if (memcmp(first, second, meta_bytes) != 0) {
			fprintf(stderr, "point %u: journal %u: replaying twice "
				"gave different metadata\n", point, j);
			exit(1);
		}
	}
	fsck_clean(s, point, "after real replay");
	free(first);
	free(second);
	free(hdr);
}

int
main(int argc, char **argv)
{
	const struct vfs_mkfs_opts mo = {
		.block_bytes = 64 * KIB, .journal_bytes = 256 * KIB,
		.journals = 4, .lease_ms = 10000,
	};
	struct vfs_mount_opts o = { .flags = VFS_MOUNT_MANUAL_HEARTBEAT,
				    .host_name = "crasher" };
	struct lun *base, *faulty, *clean, *scratch;
	struct lun_writelog *log;
	struct vfs_geom g;
	char logpath[600], uri[700];
	unsigned int points, prev = 0, iters = 0;
	uint64_t t0 = clock_mono_ns(), meta_bytes;

	snprintf(logpath, sizeof(logpath), "%s/writes.log", test_tmpdir());
	CHECK_OK(lun_open("mem:crash-base?size=16M", NULL, &base));
	CHECK_OK(vfs_mkfs_lun(base, &mo));
	CHECK_OK(vfs_read_volume(base, &g));
	meta_bytes = g.data_off;
	CHECK_OK(lun_open("mem:crash-clean?size=16M", NULL, &clean));
	CHECK_OK(lun_open("mem:crash-scratch?size=16M", NULL, &scratch));
	copy_lun(clean, base, LUN_BYTES);

	/* The workload, logged. */
	snprintf(uri, sizeof(uri), "faulty,log=%s:mem:crash-base", logpath);
	CHECK_OK(lun_open(uri, NULL, &faulty));
	if (argc > 1 && !strcmp(argv[1], "paxos"))
		o.ats = VFS_ATS_DISK_PAXOS;
	o.start_ns = now_ns = NS_PER_SEC;
	CHECK_OK(vfs_mount_lun(faulty, &o, &vfs));
	{
		struct vfs_info info;

		CHECK_OK(vfs_get_info(vfs, &info));
		printf("ATS %s, %s fencing\n", info.ats_method,
		       info.fencing == VFS_FENCING_PR ? "PR" : "self");
	}
	/* About 2.5 points per operation: the cap only stops a workload
	 * that stopped producing any. */
	for (; iters < 3000 + 2 * min_points(); iters++) {
		step();
		if (iters % 100 == 99) {
			CHECK_OK(lun_writelog_open(logpath, &log));
			points = lun_writelog_points(log);
			lun_writelog_close(log);
			if (points >= min_points() + 50)
				break;
		}
	}
	/* A crash: nothing more is written. */
	vfs_abandon(vfs);
	lun_close(faulty);

	CHECK_OK(lun_writelog_open(logpath, &log));
	points = lun_writelog_points(log);
	printf("workload: %u operations, %u durability points, %llu writes "
	       "logged\n", iters, points,
	       (unsigned long long)lun_writelog_writes(log));
	CHECK(points >= min_points());
	for (unsigned int p = 0; p <= points; p++) {
		CHECK_OK(lun_writelog_replay_from(log, clean, prev, p, 0));
		prev = p;
		copy_lun(scratch, clean, meta_bytes);
		fsck_clean(scratch, p, "at the point");
		if (p % 8 == 0)
			replay_twice(scratch, meta_bytes, p);
		/* Writes in flight after the point: a random subset lands. */
		copy_lun(scratch, clean, meta_bytes);
		CHECK_OK(lun_writelog_replay_from(log, scratch, p, p,
						  (uint64_t)p * 2654435761u + 1));
		fsck_clean(scratch, p, "with a subset of the next writes");
	}
	printf("%u crash points checked (x2 with torn/partial in-flight "
	       "writes, every 8th also replayed twice): all fsck-clean, "
	       "%.1f s\n", points + 1,
	       (double)(clock_mono_ns() - t0) / 1e9);
	lun_writelog_close(log);
	lun_close(scratch);
	lun_close(clean);
	lun_close(base);
	test_tmpdir_remove();
	return 0;
}
