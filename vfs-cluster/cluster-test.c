/* SPDX-License-Identifier: MIT */
/*
 * Several host processes on one LUN (a file, or a tgtd iSCSI LUN once the
 * iSCSI backend is there), with real heartbeat threads and real clocks:
 *
 *   hosts8 [iscsi]  8 hosts create, write, rename and delete files in
 *                   their own and in a shared directory; a mutual-
 *                   exclusion checker (devcount style) runs throughout:
 *                   each holder of /counter's exclusive lock marks a
 *                   shared-memory flag, bumps an on-disk counter, and
 *                   checks nobody else got in; fsck must be clean after.
 *   join64          64 hosts join and leave three times each.
 *   replace2        2 hosts replace a file by rename over and over (temp
 *                   file, sync, rename), each in its own directory; the
 *                   file must always read whole, old or new.
 *   replace4        the same with 4 hosts renaming from their own
 *                   directories into one shared directory.
 *   kill            a holder is killed with SIGKILL; another host gets its
 *                   lock within the lease plus replay, and sees what the
 *                   dead host's journal held.
 *   stop            a holder writing steadily is SIGSTOPped past its
 *                   lease; another host takes over and writes; after
 *                   SIGCONT the stopped host must not write again. It
 *                   also writes straight to its file's LUN offset (as
 *                   vdisk's data path does between two map checks):
 *                   with PR fencing the LUN itself refuses that (-EBADE).
 *
 * On tgtd the datastore picks the disk-paxos ATS with PR fencing; the
 * "prmutex" argument forces the LUN's PR-mutex ATS (self-fencing).
 */
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/lib/testutil.h"
#include "vfs-cluster/vfs.h"

#define MIB (1ull << 20)

struct shared {
	atomic_int in_cs;
	atomic_long violations;
	atomic_long increments;
	atomic_long ops;
	atomic_int failed;
	atomic_int ready;
	atomic_long stop_attempt, stop_fenced, stop_last_ok;
	atomic_long raw_attempt, raw_last_ok, raw_result;
	char why[256];
};

static struct shared *sh;
static char uri[700];
/* Failover tests' lease: short, but on iSCSI the I/O timeout (L/5) must
 * survive a loaded machine (a sanitizer build, other tests). */
static int lease_s = 3;
static enum vfs_ats ats = VFS_ATS_AUTO;

static void
fail(const char *fmt, ...)
{
	va_list ap;
	char buf[256];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "[%d] %s\n", getpid(), buf);
	if (!atomic_exchange(&sh->failed, 1))
		snprintf(sh->why, sizeof(sh->why), "%s", buf);
}

#define WANT(expr, ...)                                                \
	do {                                                           \
		int rc_ = (expr);                                      \
		if (rc_ < 0) {                                         \
			fail("%s:%d: %s: %s", __FILE__, __LINE__, #expr,  \
			     vfs_strerror(rc_));                       \
			return -1;                                     \
		}                                                      \
	} while (0)

static double
now_s(void)
{
	return (double)clock_mono_ns() / 1e9;
}

static struct vfs *
mount_as(const char *name)
{
	struct vfs_mount_opts o = { .host_name = name, .lock_cache_ms = 200,
				    .ats = ats };
	struct vfs *vfs;
	int rc = vfs_mount(uri, &o, &vfs);

	if (rc < 0) {
		fail("%s: mount: %s", name, vfs_strerror(rc));
		return NULL;
	}
	return vfs;
}

static void
setup(uint64_t size, int lease)
{
	struct vfs_mkfs_opts o = { 0 };

	if (!strncmp(uri, "/", 1)) {
		char cmd[800];

		snprintf(cmd, sizeof(cmd), "truncate -s %llu %s",
			 (unsigned long long)size, uri);
		CHECK_EQ(test_sh("%s", cmd), 0);
	}
	o.lease_ms = (uint32_t)lease * 1000;
	o.force = true;
	CHECK_OK(vfs_mkfs(uri, &o));
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
}

static pid_t
spawn(int (*fn)(int), int arg)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(fn(arg) == 0 ? 0 : 1);
	}
	return pid;
}

static int
wait_all(pid_t *pids, int n)
{
	int bad = 0;

	for (int i = 0; i < n; i++) {
		int st;

		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			bad++;
	}
	return bad;
}

static void
fsck_clean(void)
{
	struct vfs_fsck_report rep;
	int rc = vfs_fsck(uri, 0, &rep, NULL, NULL);

	if (rc != VFS_FSCK_CLEAN)
		fprintf(stderr, "fsck: %d (%llu problems)\n", rc,
			(unsigned long long)rep.errors);
	CHECK_EQ(rc, VFS_FSCK_CLEAN);
	printf("fsck clean: %llu files, %llu directories\n",
	       (unsigned long long)rep.files, (unsigned long long)rep.dirs);
}

/* ---- hosts8 ---- */

static double deadline;

static int
critical_section(struct vfs *vfs, int me)
{
	struct { int64_t owner, count; } rec, check;
	struct vfs_file *f;

	WANT(vfs_file_open(vfs, "/counter", 0, &f));
	if (atomic_fetch_add(&sh->in_cs, 1) != 0) {
		atomic_fetch_add(&sh->violations, 1);
		fail("host %d: entered the critical section with another "
		     "holder inside", me);
	}
	WANT((int)vfs_file_pread(f, &rec, sizeof(rec), 0));
	rec.owner = me;
	rec.count++;
	WANT((int)vfs_file_pwrite(f, &rec, sizeof(rec), 0));
	usleep(2000);
	WANT((int)vfs_file_pread(f, &check, sizeof(check), 0));
	if (check.owner != me || check.count != rec.count) {
		atomic_fetch_add(&sh->violations, 1);
		fail("host %d: counter changed under our lock", me);
	}
	atomic_fetch_sub(&sh->in_cs, 1);
	WANT(vfs_file_sync(f));
	vfs_file_close(f);
	atomic_fetch_add(&sh->increments, 1);
	return 0;
}

static int
file_work(struct vfs *vfs, const char *dir, int me, int k, unsigned *seed)
{
	char p[128], q[128];
	struct vfs_create_opts o = { 4 * MIB,
				     (enum vfs_alloc)(rand_r(seed) % 2) };
	struct vfs_file *f;
	uint8_t buf[16384], back[16384];
	uint64_t off = (uint64_t)(rand_r(seed) % 256) * 16384;

	snprintf(p, sizeof(p), "%s/h%d-f%d", dir, me, k);
	snprintf(q, sizeof(q), "%s/h%d-g%d", dir, me, k);
	WANT(vfs_file_create(vfs, p, &o, 0, &f));
	test_pattern_fill(buf, sizeof(buf), (uint64_t)me * 1000 + k, off);
	WANT((int)vfs_file_pwrite(f, buf, sizeof(buf), off));
	WANT(vfs_file_sync(f));
	WANT((int)vfs_file_pread(f, back, sizeof(back), off));
	if (memcmp(buf, back, sizeof(buf)) != 0) {
		fail("host %d: %s read back wrong data", me, p);
		return -1;
	}
	vfs_file_close(f);
	WANT(vfs_rename(vfs, p, q, 0));
	/* Keep the last few files of each host, delete older ones. */
	if (k >= 3) {
		snprintf(q, sizeof(q), "%s/h%d-g%d", dir, me, k - 3);
		WANT(vfs_unlink(vfs, q));
	}
	return 0;
}

static int
shared_work(struct vfs *vfs, int me, int k)
{
	char own[64], sh1[64], sh2[64];

	snprintf(sh1, sizeof(sh1), "/shared/h%d-%d", me, k);
	snprintf(sh2, sizeof(sh2), "/shared/h%d-%d.moved", me, k);
	snprintf(own, sizeof(own), "/h%d/back-%d", me, k);
	WANT(vfs_file_create(vfs, sh1, NULL, 0, NULL));
	WANT(vfs_rename(vfs, sh1, sh2, 0));
	WANT(vfs_rename(vfs, sh2, own, 0));
	WANT(vfs_unlink(vfs, own));
	return 0;
}

static int
host8(int me)
{
	char name[32], dir[32];
	unsigned int seed = (unsigned int)me * 7919u + 1;
	struct vfs *vfs;
	int k = 0, nfiles = 0, rc = 0;

	snprintf(name, sizeof(name), "host%d", me);
	snprintf(dir, sizeof(dir), "/h%d", me);
	vfs = mount_as(name);
	if (!vfs)
		return 1;
	if (vfs_mkdir(vfs, dir) < 0) {
		fail("host %d: mkdir %s", me, dir);
		rc = -1;
	}
	while (rc == 0 && now_s() < deadline && !atomic_load(&sh->failed)) {
		int r = rand_r(&seed) % 10;

		if (r < 2)
			rc = critical_section(vfs, me);
		else if (r < 7)
			rc = file_work(vfs, dir, me, nfiles++, &seed);
		else
			rc = shared_work(vfs, me, k);
		k++;
		atomic_fetch_add(&sh->ops, 1);
	}
	if (vfs_unmount(vfs) < 0 && rc == 0) {
		fail("host %d: unmount failed", me);
		rc = -1;
	}
	return rc;
}

static void
run_hosts8(double seconds)
{
	struct vfs *vfs;
	struct vfs_file *f;
	struct { int64_t owner, count; } rec = { -1, 0 };
	pid_t pids[8];

	/* The default lease (10 s, so a 2 s I/O timeout): nothing here
	 * waits for a lease, and with 5 s one tgtd write of 8 busy hosts
	 * on a loaded machine outlasted its 1 s timeout and fenced a host. */
	setup(1024 * MIB, 10);
	vfs = mount_as("setup");
	CHECK(vfs);
	CHECK_OK(vfs_mkdir(vfs, "/shared"));
	CHECK_OK(vfs_file_create(vfs, "/counter", NULL, 0, &f));
	CHECK_EQ(vfs_file_pwrite(f, &rec, sizeof(rec), 0), sizeof(rec));
	CHECK_OK(vfs_file_sync(f));
	vfs_file_close(f);
	CHECK_OK(vfs_unmount(vfs));
	deadline = now_s() + seconds;
	for (int i = 0; i < 8; i++)
		pids[i] = spawn(host8, i);
	CHECK_EQ(wait_all(pids, 8), 0);
	if (sh->failed)
		fprintf(stderr, "first failure: %s\n", sh->why);
	CHECK(!sh->failed);
	CHECK_EQ(sh->violations, 0);
	vfs = mount_as("check");
	CHECK(vfs);
	CHECK_OK(vfs_file_open(vfs, "/counter", 0, &f));
	CHECK_EQ(vfs_file_pread(f, &rec, sizeof(rec), 0), sizeof(rec));
	vfs_file_close(f);
	CHECK_OK(vfs_unmount(vfs));
	printf("8 hosts: %ld operations, %ld lock hand-overs, counter %lld, "
	       "0 mutual-exclusion violations\n", (long)sh->ops,
	       (long)sh->increments, (long long)rec.count);
	CHECK_EQ(rec.count, sh->increments);
	CHECK(sh->increments > 0);
	fsck_clean();
}

/* ---- join64 ---- */

static int
joiner(int me)
{
	char name[32], p[64];

	snprintf(name, sizeof(name), "join%d", me);
	for (int round = 0; round < 3; round++) {
		struct vfs *vfs = mount_as(name);
		struct vfs_file *f;

		if (!vfs)
			return 1;
		snprintf(p, sizeof(p), "/j%d/f%d", me, round);
		WANT(vfs_file_create(vfs, p, NULL, 0, &f));
		WANT((int)vfs_file_pwrite(f, name, strlen(name), 0));
		vfs_file_close(f);
		if (round)
			WANT(vfs_unlink(vfs, p));
		if (vfs_unmount(vfs) < 0) {
			fail("joiner %d: unmount", me);
			return 1;
		}
	}
	return 0;
}

static void
run_join64(void)
{
	struct vfs_host *hosts;
	struct vfs *vfs;
	unsigned int n;
	pid_t pids[64];

	/* The default lease: 64 sanitized processes on a busy 2-CPU
	 * machine have stalled a renewal past a 5 s lease's 3 s fence. */
	setup(4096 * MIB, 10);
	vfs = mount_as("setup");
	CHECK(vfs);
	for (int i = 0; i < 64; i++) {
		char p[32];

		snprintf(p, sizeof(p), "/j%d", i);
		CHECK_OK(vfs_mkdir(vfs, p));
	}
	CHECK_OK(vfs_unmount(vfs));
	for (int i = 0; i < 64; i++)
		pids[i] = spawn(joiner, i);
	CHECK_EQ(wait_all(pids, 64), 0);
	CHECK(!sh->failed);
	vfs = mount_as("check");
	CHECK(vfs);
	CHECK_OK(vfs_hosts_list(vfs, &hosts, &n));
	/* Everybody left cleanly: only ourselves remain. */
	CHECK_EQ(n, 1);
	free(hosts);
	CHECK_OK(vfs_unmount(vfs));
	printf("64 hosts joined and left 3 times each; all slots free\n");
	fsck_clean();
}

/* ---- replace2, replace4 ---- */

/*
 * Hosts each replace a file by rename, the way vdisk rewrites a
 * descriptor (temp file, rename over the old one). replace2: two hosts,
 * each in its own directory. replace4: four hosts write their temp files
 * in their own directories and rename them into one shared directory
 * (cross-directory renames, one directory lock for all). A rename may
 * fail (nothing changed), but the target must always hold either the old
 * or the new contents, never lose its blocks.
 */
#define REPLACE_BYTES 8192

static bool replace_shared;

static void
replace_paths(int me, char *tmp, char *dst, size_t len)
{
	snprintf(tmp, len, "/r%d/d%d.tmp", me, me);
	if (replace_shared)
		snprintf(dst, len, "/shared/d%d", me);
	else
		snprintf(dst, len, "/r%d/d%d", me, me);
}

static int
check_contents(struct vfs *vfs, const char *p, int want, int me)
{
	static uint8_t buf[REPLACE_BYTES];
	struct vfs_file *f;
	int64_t n;

	WANT(vfs_file_open(vfs, p, VFS_O_SHARED, &f));
	n = vfs_file_pread(f, buf, sizeof(buf), 0);
	vfs_file_close(f);
	if (n != (int64_t)sizeof(buf)) {
		fail("replacer %d: %s: read %lld bytes", me, p, (long long)n);
		return -1;
	}
	for (size_t i = 0; i < sizeof(buf); i++)
		if (buf[i] != (uint8_t)want) {
			fail("replacer %d: %s: byte %zu is %u, want %u (contents "
			     "lost)", me, p, i, buf[i], (uint8_t)want);
			return -1;
		}
	return 0;
}

static int
replace_one(struct vfs *vfs, int me, int gen)
{
	static uint8_t buf[REPLACE_BYTES];
	char tmp[64], dst[64];
	struct vfs_file *f;
	int rc;

	replace_paths(me, tmp, dst, sizeof(tmp));
	memset(buf, gen, sizeof(buf));
	WANT(vfs_file_create(vfs, tmp, NULL, 0, &f));
	rc = (int)vfs_file_pwrite(f, buf, sizeof(buf), 0);
	if (rc >= 0)
		rc = vfs_file_sync(f);
	vfs_file_close(f);
	if (rc >= 0)
		rc = vfs_rename(vfs, tmp, dst, 0);
	if (rc < 0)
		(void)!vfs_unlink(vfs, tmp);
	return rc;
}

static int
replacer(int me)
{
	char name[32], tmp[64], dst[64];
	struct vfs *vfs;
	int have = 0;

	snprintf(name, sizeof(name), "replacer%d", me);
	replace_paths(me, tmp, dst, sizeof(tmp));
	vfs = mount_as(name);
	if (!vfs)
		return 1;
	while (now_s() < deadline) {
		int rc = replace_one(vfs, me, have + 1);

		if (rc == 0)
			have++;
		else
			atomic_fetch_add(&sh->violations, 1); /* refusals */
		atomic_fetch_add(&sh->ops, 1);
		if (check_contents(vfs, dst, have, me) < 0)
			break;
	}
	vfs_unmount(vfs);
	return sh->failed;
}

static void
run_replace(int hosts, bool shared, double secs)
{
	struct vfs *vfs;
	pid_t pids[4];

	CHECK(hosts <= (int)ARRAY_SIZE(pids));
	replace_shared = shared;
	setup(2048 * MIB, lease_s);
	vfs = mount_as("setup");
	CHECK(vfs);
	if (shared)
		CHECK_OK(vfs_mkdir(vfs, "/shared"));
	for (int i = 0; i < hosts; i++) {
		char p[32];

		snprintf(p, sizeof(p), "/r%d", i);
		CHECK_OK(vfs_mkdir(vfs, p));
		CHECK_OK(replace_one(vfs, i, 0));
	}
	CHECK_OK(vfs_unmount(vfs));
	deadline = now_s() + secs;
	for (int i = 0; i < hosts; i++)
		pids[i] = spawn(replacer, i);
	CHECK_EQ(wait_all(pids, hosts), 0);
	CHECK(!sh->failed);
	printf("%d hosts: %ld replacements by rename, %ld refused, contents "
	       "always whole\n", hosts, (long)sh->ops, (long)sh->violations);
	fsck_clean();
}

/* ---- failover ---- */

static int holder_kill(int unused);

static int
holder_kill(int unused)
{
	struct vfs *vfs = mount_as("victim");
	struct vfs_file *f;

	if (!vfs)
		return 1;
	WANT(vfs_file_open(vfs, "/disk", 0, &f));
	WANT((int)vfs_file_pwrite(f, "victim", 6, 0));
	WANT(vfs_file_sync(f));
	/* In the journal, not yet checkpointed: recovery must replay it. */
	WANT(vfs_mkdir(vfs, "/made-before-death"));
	atomic_store(&sh->ready, 1);
	for (;;)
		pause();
}

static void
run_kill(void)
{
	struct vfs_info info;
	struct vfs_file *f;
	struct vfs_stat st;
	struct vfs *vfs;
	char buf[8] = "";
	double t0, t1;
	pid_t pid;

	setup(1024 * MIB, lease_s);
	vfs = mount_as("setup");
	CHECK(vfs);
	CHECK_OK(vfs_file_create(vfs, "/disk", &(struct vfs_create_opts){
					 MIB, VFS_ALLOC_EAGER_ZEROED }, 0, NULL));
	CHECK_OK(vfs_unmount(vfs));
	pid = spawn(holder_kill, 0);
	while (!atomic_load(&sh->ready) && !sh->failed)
		usleep(10000);
	CHECK(!sh->failed);
	vfs = mount_as("survivor");
	CHECK(vfs);
	CHECK_EQ(vfs_file_open(vfs, "/disk", VFS_O_NOWAIT, &f), -EBUSY);
	CHECK_EQ(kill(pid, SIGKILL), 0);
	t0 = now_s();
	waitpid(pid, NULL, 0);
	CHECK_OK(vfs_file_open(vfs, "/disk", 0, &f));
	t1 = now_s();
	CHECK_OK(vfs_get_info(vfs, &info));
	printf("failover after kill -9: lock usable %.2f s later (lease %d s,"
	       " ATS %s, %s fencing)\n", t1 - t0, lease_s, info.ats_method,
	       info.fencing == VFS_FENCING_PR ? "PR" : "self");
	CHECK(t1 - t0 < lease_s + 3);
	/* PR fencing: dead after max(3R, L/3), not the lease. */
	if (info.fencing == VFS_FENCING_PR)
		CHECK(t1 - t0 < 5);
	CHECK_EQ(vfs_file_pread(f, buf, 6, 0), 6);
	CHECK(memcmp(buf, "victim", 6) == 0);
	vfs_file_close(f);
	CHECK_OK(vfs_stat(vfs, "/made-before-death", &st));
	CHECK_OK(vfs_unmount(vfs));
	fsck_clean();
}

/*
 * A session that would give up on a lock long before a lease has passed
 * (vdisk waits 3 s) must still take over a killed holder's lock: it keeps
 * waiting while the holder's heartbeat stands still.
 */
static void
run_kill_short(void)
{
	struct vfs_mount_opts o = { .host_name = "short", .ats = ats,
				    .lock_timeout_ms = 1000 };
	struct vfs_file *f;
	struct vfs *vfs;
	double t0, t1;
	pid_t pid;

	setup(1024 * MIB, lease_s);
	vfs = mount_as("setup");
	CHECK(vfs);
	CHECK_OK(vfs_file_create(vfs, "/disk", NULL, 0, NULL));
	CHECK_OK(vfs_unmount(vfs));
	pid = spawn(holder_kill, 0);
	while (!atomic_load(&sh->ready) && !sh->failed)
		usleep(10000);
	CHECK(!sh->failed);
	CHECK_EQ(kill(pid, SIGKILL), 0);
	waitpid(pid, NULL, 0);
	CHECK_OK(vfs_mount(uri, &o, &vfs));
	t0 = now_s();
	CHECK_OK(vfs_file_open(vfs, "/disk", 0, &f));
	t1 = now_s();
	vfs_file_close(f);
	CHECK_OK(vfs_unmount(vfs));
	printf("a 1 s lock wait took over a killed holder's lock after "
	       "%.2f s (lease %d s)\n", t1 - t0, lease_s);
	CHECK(t1 - t0 < lease_s + 3);
	fsck_clean();
}


static int
holder_stop(int unused)
{
	struct vfs *vfs = mount_as("zombie");
	struct vfs_extent ext;
	struct vfs_file *f;
	struct lun *raw;
	char *rec;
	int64_t n = 0;

	if (!vfs)
		return 1;
	WANT(vfs_file_open(vfs, "/disk", 0, &f));
	/* Sector 1 of the file, mapped once, written straight to the LUN. */
	WANT(vfs_lun_open(vfs, &raw));
	WANT(vfs_file_map(f, 512, 512, VFS_MAP_WRITE, &ext, 1));
	WANT(posix_memalign((void **)&rec, 4096, 512) ? -ENOMEM : 0);
	atomic_store(&sh->ready, 1);
	/* Stamp sector 0 with our counter through the datastore and sector
	 * 1 straight on the LUN, 100 times a second, until the datastore
	 * refuses. Each attempt is announced before it starts. */
	for (;;) {
		int64_t rc;

		memset(rec, 0, 512);
		snprintf(rec, 512, "zombie %lld", (long long)++n);
		atomic_store(&sh->stop_attempt, n);
		rc = vfs_file_pwrite(f, rec, 512, 0);
		if (rc < 0) {
			atomic_store(&sh->stop_fenced, rc);
			break;
		}
		atomic_store(&sh->stop_last_ok, n);
		atomic_store(&sh->raw_attempt, n);
		if (lun_write(raw, ext.lun_offset, rec, 512, LUN_IO_FUA) == 0)
			atomic_store(&sh->raw_last_ok, n);
		usleep(10000);
	}
	/* A request mapped before the stop and sent after it. */
	snprintf(rec, 512, "zombie raw after the stop");
	atomic_store(&sh->raw_result,
		     lun_write(raw, ext.lun_offset, rec, 512, LUN_IO_FUA));
	lun_close(raw);
	free(rec);
	/* It must keep refusing. */
	for (int i = 0; i < 20; i++) {
		if (vfs_file_pwrite(f, "again", 5, 0) >= 0) {
			fail("zombie: a write succeeded after fencing");
			return 1;
		}
		usleep(10000);
	}
	vfs_file_close(f);
	vfs_unmount(vfs);
	return 0;
}

static void
run_stop(void)
{
	struct vfs_info info;
	char buf[512];
	struct vfs_file *f;
	struct vfs *vfs;
	double t0, t1;
	long stopped_at;
	pid_t pid;
	int st;

	setup(1024 * MIB, lease_s);
	vfs = mount_as("setup");
	CHECK(vfs);
	CHECK_OK(vfs_file_create(vfs, "/disk", &(struct vfs_create_opts){
					 MIB, VFS_ALLOC_EAGER_ZEROED }, 0, NULL));
	CHECK_OK(vfs_unmount(vfs));
	pid = spawn(holder_stop, 0);
	while (!atomic_load(&sh->ready) && !sh->failed)
		usleep(10000);
	usleep(300000);
	vfs = mount_as("taker");
	CHECK(vfs);
	CHECK_EQ(kill(pid, SIGSTOP), 0);
	CHECK_EQ(waitpid(pid, &st, WUNTRACED), pid);
	CHECK(WIFSTOPPED(st));
	t0 = now_s();
	/* The attempt under way when it stopped (its write may have been
	 * in the kernel already: a stop takes effect on the way out). */
	stopped_at = atomic_load(&sh->stop_attempt);
	CHECK_OK(vfs_file_open(vfs, "/disk", 0, &f));
	t1 = now_s();
	printf("failover after SIGSTOP: lock taken %.2f s later\n", t1 - t0);
	memset(buf, 0, sizeof(buf));
	snprintf(buf, sizeof(buf), "taker was here");
	CHECK_EQ(vfs_file_pwrite(f, buf, sizeof(buf), 0), sizeof(buf));
	CHECK_EQ(vfs_file_pwrite(f, buf, sizeof(buf), 512), sizeof(buf));
	CHECK_OK(vfs_file_sync(f));
	CHECK_OK(vfs_get_info(vfs, &info));
	CHECK_EQ(kill(pid, SIGCONT), 0);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	printf("zombie: stopped during attempt %ld; after SIGCONT its next "
	       "write failed with %s\n", stopped_at,
	       vfs_strerror((int)atomic_load(&sh->stop_fenced)));
	printf("zombie: its write straight to the LUN after SIGCONT: %s "
	       "(ATS %s, %s fencing)\n",
	       atomic_load(&sh->raw_result) ?
	       vfs_strerror((int)atomic_load(&sh->raw_result)) : "landed",
	       info.ats_method, info.fencing == VFS_FENCING_PR ? "PR" : "self");
	CHECK(atomic_load(&sh->stop_fenced) < 0);
	/* No attempt begun after the stop succeeded... */
	CHECK(atomic_load(&sh->stop_last_ok) <= stopped_at);
	/* ...and with PR the LUN refused even what bypassed the checks. */
	if (info.fencing == VFS_FENCING_PR) {
		CHECK_EQ(atomic_load(&sh->raw_result), -EBADE);
		CHECK(atomic_load(&sh->raw_last_ok) <= stopped_at);
		memset(buf, 0, sizeof(buf));
		CHECK_EQ(vfs_file_pread(f, buf, sizeof(buf), 512), sizeof(buf));
		CHECK(strcmp(buf, "taker was here") == 0);
	}
	/* ...and the new holder's data is what the disk holds. */
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(vfs_file_pread(f, buf, sizeof(buf), 0), sizeof(buf));
	if (strcmp(buf, "taker was here") != 0)
		fprintf(stderr, "sector 0 holds '%s'\n", buf);
	CHECK(strcmp(buf, "taker was here") == 0);
	vfs_file_close(f);
	CHECK_OK(vfs_unmount(vfs));
	fsck_clean();
}

/* ---- main ---- */

static int
use_iscsi(struct tgt_fixture *t)
{
	int rc = tgt_start(t, test_tmpdir(), 1, 1024 * MIB);

	if (rc == TEST_SKIP)
		test_skip("no tgtd here (or not root)");
	CHECK_OK(rc);
	snprintf(uri, sizeof(uri), "%s", t->url[0]);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "hosts8";
	struct tgt_fixture t = { 0 };
	bool iscsi = argc > 2 && !strncmp(argv[2], "iscsi", 5);

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (iscsi) {
		use_iscsi(&t);
		lease_s = 6;
		if (!strcmp(argv[2], "iscsi-prmutex"))
			ats = VFS_ATS_LUN;
	}
	else
		snprintf(uri, sizeof(uri), "%s/lun.img", test_tmpdir());
	if (!strcmp(what, "hosts8"))
		run_hosts8(test_is_sanitized() ? 10 : 15);
	else if (!strcmp(what, "join64"))
		run_join64();
	else if (!strcmp(what, "replace2"))
		run_replace(2, false, test_is_sanitized() ? 8 : 6);
	else if (!strcmp(what, "replace4"))
		run_replace(4, true, test_is_sanitized() ? 8 : 6);
	else if (!strcmp(what, "kill"))
		run_kill();
	else if (!strcmp(what, "kill-short"))
		run_kill_short();
	else if (!strcmp(what, "stop"))
		run_stop();
	else
		test_skip("unknown scenario %s", what);
	if (iscsi)
		tgt_stop(&t);
	test_tmpdir_remove();
	return 0;
}
