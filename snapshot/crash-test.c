/* SPDX-License-Identifier: MIT */
/*
 * Crash-point replay of create, revert, delete and commit (offline and
 * online) on disks in a local folder: every change an operation makes is
 * logged (crashlog.h), and for every operation boundary, with unsynced
 * writes dropped or partly kept, the folder as a power cut would leave
 * it must pass `vdisk check`, open (finishing or rolling back), pass the
 * check again with nothing pending, and read exactly as before or as
 * after the operation: every snapshot byte for byte, the current state.
 *
 * With an argument, the same on a datastore (a file LUN, its write log
 * through the fault wrapper: lun_writelog_replay()), see datastore half.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "snapshot/crashlog.h"
#include "snapshot/snapshot.h"
#include "tests/lib/testutil.h"
#include "vdisk/vdisk-provider.h"
#include "vdisk/vdisk.h"
#include "vfs-cluster/lun-faulty.h"
#include "vfs-cluster/vfs.h"

#define CAP (2ull << 20)
#define MAX_SNAPS 8
/* Replays per crash point: all unsynced writes lost, then subsets. */
#define SEEDS 4

struct state {
	uint32_t cur;
	unsigned int n;
	char names[MAX_SNAPS][128];
	uint32_t crc[MAX_SNAPS];
};

static char top[512], shm[512];
static unsigned int points_checked;

static uint32_t
disk_crc(const char *path)
{
	unsigned char *buf = malloc(CAP);
	struct vdisk *d;
	uint32_t crc;

	CHECK(buf);
	CHECK_OK(vdisk_open(path, VDISK_OPEN_RDONLY, &d));
	CHECK_OK(vdisk_pread(d, buf, CAP, 0));
	vdisk_close(d);
	crc = crc32c(0, buf, CAP);
	free(buf);
	return crc;
}

static void
capture(const char *disk, struct state *s)
{
	struct snap_list *l;
	char p[4096];

	memset(s, 0, sizeof(*s));
	s->cur = disk_crc(disk);
	CHECK_OK(snap_list(disk, &l));
	for (unsigned int i = 0; i < l->n; i++) {
		if (!l->snaps[i].name[0])
			continue;
		CHECK(s->n < MAX_SNAPS);
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s",
			 l->snaps[i].name);
		CHECK_OK(snap_point_path(disk, l->snaps[i].name, p, sizeof(p)));
		s->crc[s->n++] = disk_crc(p);
	}
	snap_list_free(l);
}

static int
find(const struct state *s, const char *name)
{
	for (unsigned int i = 0; i < s->n; i++)
		if (!strcmp(s->names[i], name))
			return (int)i;
	return -1;
}

/*
 * The disk after a crash: consistent, recoverable, and reading as the
 * state before or the state after (per snapshot; each named snapshot
 * present reads as it did; the ones both states have are there).
 */
static void
verify(const char *disk, const struct state *before,
       const struct state *after, unsigned int point)
{
	struct vdisk_check_report rep;
	struct state now;
	struct vdisk *d;

	CHECK_OK(vdisk_check(disk, false, &rep));
	if (rep.errors) {
		fprintf(stderr, "point %u: check before open: %s\n", point,
			rep.first);
		exit(1);
	}
	vdisk_clear_error();
	if (vdisk_open(disk, 0, &d) < 0) {
		fprintf(stderr, "point %u: open: %s\n", point,
			vdisk_last_error());
		exit(1);
	}
	vdisk_close(d);
	CHECK_OK(vdisk_check(disk, false, &rep));
	if (rep.errors) {
		fprintf(stderr, "point %u: check after open: %s\n", point,
			rep.first);
		exit(1);
	}
	capture(disk, &now);
	if (now.cur != before->cur && now.cur != after->cur) {
		fprintf(stderr, "point %u: current state is neither before "
			"nor after\n", point);
		exit(1);
	}
	for (unsigned int i = 0; i < now.n; i++) {
		int b = find(before, now.names[i]), a = find(after,
							       now.names[i]);

		if ((b < 0 || before->crc[b] != now.crc[i]) &&
		    (a < 0 || after->crc[a] != now.crc[i])) {
			fprintf(stderr, "point %u: snapshot %s reads wrong\n",
				point, now.names[i]);
			exit(1);
		}
	}
	for (unsigned int i = 0; i < before->n; i++) {
		if (find(after, before->names[i]) >= 0 &&
		    find(&now, before->names[i]) < 0) {
			fprintf(stderr, "point %u: snapshot %s lost\n", point,
				before->names[i]);
			exit(1);
		}
	}
	points_checked++;
}

static void
fill(const char *disk, uint64_t seed, uint64_t off, uint64_t len)
{
	unsigned char *buf = malloc(len);
	struct vdisk *d;

	CHECK(buf);
	test_pattern_fill(buf, len, seed, off);
	CHECK_OK(vdisk_open(disk, 0, &d));
	CHECK_OK(vdisk_pwrite(d, buf, len, off));
	CHECK_OK(vdisk_sync(d));
	vdisk_close(d);
	free(buf);
}

/* base -> s1 -> s2 -> current, each with different data. */
static void
build(const char *disk)
{
	struct vdisk_create_opts o = { .capacity_bytes = CAP };

	CHECK_OK(vdisk_create(disk, &o));
	fill(disk, 1, 0, CAP);
	CHECK_OK(snap_create(&disk, 1, "s1", "first", NULL));
	fill(disk, 2, 64 << 10, 512 << 10);
	fill(disk, 3, 1536 << 10, 4096 + 1024);
	CHECK_OK(snap_create(&disk, 1, "s2", "second", NULL));
	fill(disk, 4, 0, 40 << 10);
	fill(disk, 5, 1 << 20, 200 << 10);
}

enum op {
	OP_CREATE,
	OP_CREATE_ONLINE,
	OP_REVERT,
	OP_DELETE_UP,
	OP_DELETE_DOWN,
	OP_DELETE_TWO,
	OP_COMMIT,
	OP_COMMIT_ONLINE,
};

static const char *const op_names[] = {
	"create", "create-online", "revert", "delete-up", "delete-down",
	"delete-two-children", "commit", "commit-online",
};

static void
run_op(enum op op, const char *disk)
{
	struct vdisk *d;

	switch (op) {
	case OP_CREATE:
		CHECK_OK(snap_create(&disk, 1, "s3", "new", NULL));
		break;
	case OP_CREATE_ONLINE:
		CHECK_OK(vdisk_open(disk, 0, &d));
		CHECK_OK(snap_create_open(&d, 1, "s3", "new", NULL));
		vdisk_close(d);
		break;
	case OP_REVERT:
		CHECK_OK(snap_revert(disk, "s1"));
		break;
	case OP_DELETE_UP:
		/* s2 has one child, the (smaller) current: merged up. */
		CHECK_OK(snap_delete(disk, "s2", NULL, NULL));
		break;
	case OP_DELETE_DOWN:
		/* s1's child s2 holds more than... s1 is the flat base: up
		 * as well; make the current big first so s2 goes down. */
		CHECK_OK(snap_delete(disk, "s2", NULL, NULL));
		break;
	case OP_DELETE_TWO:
		CHECK_OK(snap_delete(disk, "s2", NULL, NULL));
		break;
	case OP_COMMIT:
		CHECK_OK(snap_commit(disk, NULL, NULL));
		break;
	case OP_COMMIT_ONLINE:
		CHECK_OK(vdisk_open(disk, 0, &d));
		CHECK_OK(snap_commit_open(d, NULL, NULL));
		vdisk_close(d);
		break;
	}
}

static void
prepare(enum op op, const char *disk)
{
	build(disk);
	switch (op) {
	case OP_DELETE_DOWN:
		/* The current bigger than s2: s2's grains go down. */
		fill(disk, 6, 0, CAP);
		break;
	case OP_DELETE_TWO:
		/* A branch: s2 gets a second child. */
		CHECK_OK(snap_create(&disk, 1, "s3", "branch", NULL));
		CHECK_OK(snap_revert(disk, "s2"));
		fill(disk, 7, 512 << 10, 100 << 10);
		break;
	case OP_COMMIT:
	case OP_COMMIT_ONLINE:
		/* Into the base: the current goes up into the flat file. */
		CHECK_OK(snap_delete(disk, "s2", NULL, NULL));
		CHECK_OK(snap_revert(disk, "s1"));
		fill(disk, 8, 300 << 10, 700 << 10);
		break;
	default:
		break;
	}
}

/*
 * The operation itself, uncrashed: the current state unchanged (revert:
 * reads as s1), every snapshot both states have reads the same.
 */
static void
check_result(enum op op, const struct state *before,
	     const struct state *after)
{
	uint32_t want = before->cur;

	if (op == OP_REVERT)
		want = before->crc[find(before, "s1")];
	if (after->cur != want) {
		fprintf(stderr, "%s: the current state reads wrong after the "
			"operation\n", op_names[op]);
		exit(1);
	}
	for (unsigned int i = 0; i < after->n; i++) {
		int b = find(before, after->names[i]);

		if (b >= 0 && before->crc[b] != after->crc[i]) {
			fprintf(stderr, "%s: snapshot %s changed\n",
				op_names[op], after->names[i]);
			exit(1);
		}
	}
}

static void
local_case(enum op op)
{
	char w[600], base[600], r[600], disk[700], rdisk[700];
	struct state before, after;
	struct crashlog *log;
	unsigned int n, step;

	snprintf(w, sizeof(w), "%s/%s", top, op_names[op]);
	snprintf(base, sizeof(base), "%s/%s.base", top, op_names[op]);
	/* Replays on tmpfs when there is one: every replayed state is
	 * opened read-write, and syncs there cost nothing. */
	snprintf(r, sizeof(r), "%s/%s.replay", shm, op_names[op]);
	snprintf(disk, sizeof(disk), "%s/d.vmdk", w);
	snprintf(rdisk, sizeof(rdisk), "%s/d.vmdk", r);
	CHECK(mkdir(w, 0755) == 0);
	prepare(op, disk);
	capture(disk, &before);
	CHECK_EQ(test_sh("cp -a '%s' '%s' && rm -f '%s'/*.lck", w, base, base),
		 0);
	CHECK_OK(crashlog_start(&log));
	run_op(op, disk);
	crashlog_stop(log);
	capture(disk, &after);
	check_result(op, &before, &after);
	n = crashlog_ops(log);
	/* Every boundary under ASan would be slow: every other one. */
	step = test_is_sanitized() ? 2 : 1;
	for (unsigned int k = 0; k <= n; k += step) {
		for (uint64_t seed = 0; seed < SEEDS; seed++) {
			CHECK_EQ(test_sh("rm -rf '%s' && cp -a '%s' '%s'", r, base,
					 r), 0);
			CHECK_OK(crashlog_replay(log, r, k,
						 seed ? k * SEEDS + seed : 0));
			verify(rdisk, &before, &after, k);
		}
	}
	fprintf(stderr, "%s: %u operations, every boundary replayed\n",
		op_names[op], n);
	crashlog_free(log);
}

/* SNAP_CRASH_OP=name runs one operation only (debugging). */
static bool
wanted(int op)
{
	const char *only = getenv("SNAP_CRASH_OP");

	return !only || !strcmp(only, op_names[op]);
}

static void
test_local(void)
{
	for (int op = 0; op < (int)ARRAY_SIZE(op_names); op++)
		if (wanted(op))
			local_case((enum op)op);
}

/* ---- datastore: the LUN's write log ---- */

/*
 * The crashed host still owns its heartbeat slot, journal and locks in
 * the replayed image: a session with its own clock watches it stop for
 * a lease, declares it dead and replays its journal, as a survivor would.
 */
static void
recover_dead_host(const char *lun)
{
	struct vfs_mount_opts mo = { .flags = VFS_MOUNT_MANUAL_HEARTBEAT,
				     .start_ns = 1 };
	uint64_t now = 1;
	struct vfs *v;

	CHECK_OK(vfs_mount(lun, &mo, &v));
	for (int i = 0; i < 60; i++) {
		now += 500ull * 1000 * 1000;
		vfs_tick(v, now);
	}
	CHECK_OK(vfs_unmount(v));
}

static void
ds_case(enum op op, const char *lun)
{
	char log_path[600], base[600], rep[600], uri[1400], disk[1600];
	char rdisk[1600];
	struct state before, after;
	struct lun_writelog *wl;
	struct vdisk_store *hold;
	struct lun *target;
	unsigned int points, step;

	snprintf(log_path, sizeof(log_path), "%s/%s.wlog", top, op_names[op]);
	snprintf(base, sizeof(base), "%s/%s.lun0", top, op_names[op]);
	/* Replayed images on tmpfs when there is one: each is mounted
	 * several times, and flushes there cost nothing. */
	snprintf(rep, sizeof(rep), "%s/%s.lunr", shm, op_names[op]);
	CHECK_OK(vfs_mkfs(lun, &(struct vfs_mkfs_opts){ .block_bytes = 64 << 10,
		.journals = 2, .journal_bytes = 256 << 10, .force = true }));
	{
		struct vfs *v;

		CHECK_OK(vfs_mount(lun, NULL, &v));
		CHECK_OK(vfs_mkdir(v, "/vm"));
		CHECK_OK(vfs_unmount(v));
	}
	snprintf(disk, sizeof(disk), "%s:/vm/d.vmdk", lun);
	prepare(op, disk);
	capture(disk, &before);
	CHECK_EQ(test_sh("cp '%s' '%s'", lun, base), 0);
	/* The operation, every write logged by the fault wrapper. */
	snprintf(uri, sizeof(uri), "faulty,log=%s:%s", log_path, lun);
	snprintf(disk, sizeof(disk), "%s:/vm/d.vmdk", uri);
	run_op(op, disk);
	snprintf(disk, sizeof(disk), "%s:/vm/d.vmdk", lun);
	capture(disk, &after);
	check_result(op, &before, &after);
	CHECK_OK(lun_writelog_open(log_path, &wl));
	points = lun_writelog_points(wl);
	CHECK_EQ(test_sh("cp '%s' '%s'", base, rep), 0);
	CHECK_OK(lun_open(rep, NULL, &target));
	/* Every point; every other one under ASan (the last one always). */
	step = test_is_sanitized() ? 2 : 1;
	for (unsigned int p = 0, prev = 0; p <= points;
	     prev = p, p = (p < points && p + step > points) ? points :
			   p + step) {
		char chk[700];

		CHECK_OK(lun_writelog_replay_from(wl, target, prev, p, 0));
		CHECK_OK(lun_flush(target));
		snprintf(chk, sizeof(chk), "%s.chk", rep);
		CHECK_EQ(test_sh("cp '%s' '%s'", rep, chk), 0);
		snprintf(rdisk, sizeof(rdisk), "%s:/vm/d.vmdk", chk);
		recover_dead_host(chk);
		/* One mount of the replayed image for all the opens of the
		 * checks (the store shares it while one is held). */
		{
			char leaf[256];

			CHECK_OK(vdisk_store_open(rdisk, &hold, leaf,
						  sizeof(leaf)));
		}
		if (getenv("SNAP_CRASH_KEEP"))
			test_sh("cp '%s' '%s.%u' && cp '%s' '%s.wlog'", chk,
				getenv("SNAP_CRASH_KEEP"), p, log_path,
				getenv("SNAP_CRASH_KEEP"));
		verify(rdisk, &before, &after, p);
		vdisk_store_close(hold);
		{
			struct vfs_fsck_report fr;

			CHECK(vfs_fsck(chk, 0, &fr, NULL, NULL) ==
			      VFS_FSCK_CLEAN);
		}
	}
	lun_close(target);
	lun_writelog_close(wl);
	fprintf(stderr, "%s on a datastore: %u crash points\n", op_names[op],
		points);
}

static void
test_datastore(void)
{
	char lun[600];

	snprintf(lun, sizeof(lun), "%s/lun.img", top);
	CHECK_OK(test_make_file(lun, 20ull << 20));
	for (int op = 0; op < (int)ARRAY_SIZE(op_names); op++)
		if (wanted(op))
			ds_case((enum op)op, lun);
}

static void
remove_shm(void)
{
	if (strcmp(shm, top))
		test_sh("rm -rf '%s'", shm);
}

int
main(int argc, char **argv)
{
	char run[700];

	snprintf(top, sizeof(top), "%s", test_tmpdir());
	snprintf(shm, sizeof(shm), "/dev/shm/snap-crash-%d", (int)getpid());
	if (mkdir(shm, 0700) < 0)
		snprintf(shm, sizeof(shm), "%s", top);
	atexit(remove_shm);
	snprintf(run, sizeof(run), "%s/run", top);
	setenv("VSTACK_RUN_DIR", run, 1);
	if (argc > 1 && !strcmp(argv[1], "datastore"))
		RUN_TEST(test_datastore);
	else
		RUN_TEST(test_local);
	fprintf(stderr, "%u crash states checked\n", points_checked);
	test_tmpdir_remove();
	return 0;
}
