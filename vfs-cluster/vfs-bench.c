/* SPDX-License-Identifier: MIT */
/*
 * Measurements behind tests/bench/bench-datastore. Each subcommand does
 * one measurement and prints "key=value" lines; the script interleaves
 * rounds with the anchors and takes medians.
 *
 *   lock-ios LUN                 device I/Os of an uncontended lock
 *                                acquire, a re-take, a file open/re-open
 *   data LUN ours|raw|both seq|rand SECONDS
 *                                1 MiB sequential or 4 KiB random writes
 *                                at queue depth 32 through vfs_file_map()
 *                                extents, or the same LUN range raw, or
 *                                both alternating every 200 ms
 *                                (500 ms for sequential)
 *   flush LUN SECONDS            4 KiB write + flush cycles per second
 *   meta LUN THREADS SECONDS [async]
 *                                create+delete of thin files in one dir
 *   hosts LUN N SECONDS          N host processes, one directory each
 *   failover LUN                 kill -9 a holder; seconds until another
 *                                host holds its lock
 *   failover-tgtd                the same on a fresh datastore on a
 *                                private tgtd iSCSI LUN (default lease)
 *   tgtd lun|disk-paxos          on a fresh private tgtd LUN with the
 *                                given ATS: uncontended lock acquire
 *                                (I/Os, median latency), create+delete
 *                                rate of 1 and of 2 hosts, failover
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/lib/testutil.h"
#include "vfs-cluster/vfs-internal.h"

#define MIB (1ull << 20)
#define DATA_FILE_BYTES (1024 * MIB)
#define QD 32

static void
die(const char *what, int rc)
{
	fprintf(stderr, "vfs-bench: %s: %s\n", what, vfs_strerror(rc));
	exit(1);
}

static enum vfs_ats bench_ats;

static struct vfs *
mnt(const char *lun, unsigned int flags)
{
	struct vfs_mount_opts o = { .flags = flags, .ats = bench_ats };
	struct vfs *vfs;
	int rc = vfs_mount(lun, &o, &vfs);

	if (rc < 0)
		die("mount", rc);
	return vfs;
}

static double
secs(void)
{
	return (double)clock_mono_ns() / 1e9;
}

/* ---- lock I/O counts ---- */

static uint64_t
ios(struct vfs *vfs)
{
	struct lun_stats st;

	lun_get_stats(vfs->lun, &st);
	return lun_stats_ios(&st);
}

static int
cmd_lock_ios(const char *lun)
{
	const struct lock_req ex = { .mode = OD_LOCK_EX };
	struct vfs *vfs = mnt(lun, 0);
	struct vfs_file *f;
	struct vlock *vl;
	uint64_t off = vfs->g.locks_off + 7 * VFS_SECTOR, b;
	int rc;

	pthread_mutex_lock(&vfs->mu);
	b = ios(vfs);
	rc = lock_try(vfs, off, &ex, vfs_now(vfs), &vl, NULL);
	if (rc < 0)
		die("lock", rc);
	printf("acquire_ios=%llu\n", (unsigned long long)(ios(vfs) - b));
	lock_put(vfs, vl);
	b = ios(vfs);
	rc = lock_try(vfs, off, &ex, vfs_now(vfs), &vl, NULL);
	if (rc < 0)
		die("re-take", rc);
	printf("retake_ios=%llu\n", (unsigned long long)(ios(vfs) - b));
	lock_put(vfs, vl);
	pthread_mutex_unlock(&vfs->mu);
	rc = vfs_file_create(vfs, "/bench-lock", NULL, 0, &f);
	if (rc < 0 && rc != -EEXIST)
		die("create", rc);
	if (rc == 0)
		vfs_file_close(f);
	rc = vfs_file_open(vfs, "/bench-lock", 0, &f);
	if (rc < 0)
		die("open", rc);
	vfs_file_close(f);
	b = ios(vfs);
	rc = vfs_file_open(vfs, "/bench-lock", 0, &f);
	if (rc < 0)
		die("re-open", rc);
	printf("reopen_ios=%llu\n", (unsigned long long)(ios(vfs) - b));
	vfs_file_close(f);
	printf("ats_method=%s\n", lun_ats_method_name(vfs->info->ats_method));
	(void)!vfs_unmount(vfs);
	return 0;
}

/* ---- data path ---- */

struct slot {
	struct lun_io io;
	bool busy;
};

static atomic_ulong done_ios;

static void
io_done(struct lun_io *io)
{
	((struct slot *)io->priv)->busy = false;
	if (io->result < 0) {
		fprintf(stderr, "vfs-bench: I/O failed: %s\n",
			strerror((int)-io->result));
		exit(1);
	}
	atomic_fetch_add(&done_ios, 1);
}

static uint64_t
next_off(bool seq, uint64_t *pos, uint64_t len, unsigned int *seed)
{
	uint64_t off;

	if (seq) {
		off = *pos;
		*pos = (*pos + len) % DATA_FILE_BYTES;
		return off;
	}
	return ((uint64_t)rand_r(seed) % (DATA_FILE_BYTES / len)) * len;
}

/*
 * Alternates between the two ways every 'slice' seconds for 'seconds' in
 * all (draining the queue at each switch), so both see the same machine
 * weather; 'which' may also be just "ours" or "raw".
 */
static int
cmd_data(const char *uri, const char *which, bool seq, double seconds)
{
	uint64_t len = seq ? MIB : 4096, pos = 0, raw_base, count[2] = { 0 };
	double spent[2] = { 0 }, slice = seq ? 0.5 : 0.2, t_end;
	struct slot slots[QD] = { 0 };
	unsigned int seed = 42;
	struct vfs_file *f = NULL;
	struct vfs_extent ext;
	struct vfs *vfs;
	struct lun *lun;
	uint8_t *buf;
	int rc, mode = strcmp(which, "raw") == 0;

	vfs = mnt(uri, 0);
	rc = vfs_file_open(vfs, "/bench-data", 0, &f);
	if (rc == -ENOENT) {
		rc = vfs_file_create(vfs, "/bench-data", &(struct vfs_create_opts){
					     DATA_FILE_BYTES,
					     VFS_ALLOC_EAGER_ZEROED }, 0, &f);
	}
	if (rc < 0)
		die("data file", rc);
	/* The raw way writes the very LUN range the file occupies (an
	 * eager-zeroed file is one extent here). */
	rc = vfs_file_map(f, 0, DATA_FILE_BYTES, 0, &ext, 1);
	if (rc < 1 || ext.type != VFS_EXTENT_DATA ||
	    ext.len_bytes != DATA_FILE_BYTES)
		die("map: the data file is not one extent", rc < 0 ? rc : -EIO);
	raw_base = ext.lun_offset;
	rc = vfs_lun_open(vfs, &lun);
	if (rc < 0)
		die("lun", rc);
	buf = vfs_alloc_buf(MIB);
	memset(buf, 0x5a, MIB);
	for (int i = 0; i < QD; i++) {
		slots[i].io.priv = &slots[i];
		slots[i].io.done = io_done;
	}
	t_end = secs() + seconds;
	while (secs() < t_end) {
		double t0 = secs(), t1 = t0 + slice;
		unsigned long before = atomic_load(&done_ios);

		while (secs() < t1) {
			for (int i = 0; i < QD; i++) {
				uint64_t off, lun_off;

				if (slots[i].busy)
					continue;
				off = next_off(seq, &pos, len, &seed);
				if (mode == 0) {
					/* What a VMM does per request: map,
					 * then submit at the LUN offset. */
					rc = vfs_file_map(f, off, len,
							  VFS_MAP_WRITE, &ext, 1);
					if (rc != 1 || ext.len_bytes != len)
						die("map", rc < 0 ? rc : -EIO);
					lun_off = ext.lun_offset;
				} else {
					lun_off = raw_base + off;
				}
				lun_io_prep_write(&slots[i].io, lun_off, buf,
						  len, 0);
				slots[i].busy = true;
				rc = lun_submit(lun, &slots[i].io);
				if (rc < 0)
					die("submit", rc);
			}
			rc = lun_poll(lun, 1, 100);
			if (rc < 0)
				die("poll", rc);
		}
		while (lun_inflight(lun))
			if (lun_poll(lun, lun_inflight(lun), -1) < 0)
				break;
		count[mode] += atomic_load(&done_ios) - before;
		spent[mode] += secs() - t0;
		if (!strcmp(which, "both"))
			mode = !mode;
	}
	for (int m = 0; m < 2; m++) {
		const char *name = m ? "raw" : "ours";
		double t = spent[m] > 0 ? spent[m] : 1;

		printf("%s_iops=%.0f\n%s_mib_s=%.1f\n", name,
		       (double)count[m] / t, name,
		       (double)count[m] * (double)len / MIB / t);
	}
	free(buf);
	lun_close(lun);
	vfs_file_close(f);
	(void)!vfs_unmount(vfs);
	return 0;
}

/* ---- flush rate ---- */

static int
cmd_flush(const char *uri, double seconds)
{
	struct lun *lun;
	uint8_t *buf = vfs_alloc_buf(4096);
	uint64_t n = 0;
	double t0, t1;
	int rc = lun_open(uri, NULL, &lun);

	if (rc < 0)
		die("open", rc);
	memset(buf, 0, 4096);
	t0 = secs();
	t1 = t0 + seconds;
	/* A scratch sector in the global lock area nobody uses. */
	while (secs() < t1) {
		rc = lun_write(lun, VFS_GLOBAL_LOCKS_OFF + 120 * 512, buf, 512,
			       0);
		if (rc == 0)
			rc = lun_flush(lun);
		if (rc < 0)
			die("flush", rc);
		n++;
	}
	printf("flushes_s=%.1f\nflush_ms=%.2f\n", (double)n / (secs() - t0),
	       (secs() - t0) * 1000 / (double)n);
	free(buf);
	lun_close(lun);
	return 0;
}

/* ---- metadata rate ---- */

struct meta_arg {
	struct vfs *vfs;
	const char *dir;
	int id;
	double until;
	uint64_t pairs;
};

static void *
meta_worker(void *p)
{
	struct meta_arg *a = p;
	char name[128];

	while (secs() < a->until) {
		int rc;

		snprintf(name, sizeof(name), "%s/t%d-%llu", a->dir, a->id,
			 (unsigned long long)a->pairs);
		rc = vfs_file_create(a->vfs, name, NULL, 0, NULL);
		if (rc == 0)
			rc = vfs_unlink(a->vfs, name);
		if (rc < 0)
			die("create/delete", rc);
		a->pairs++;
	}
	return NULL;
}

static uint64_t
meta_run(struct vfs *vfs, const char *dir, int threads, double seconds)
{
	struct meta_arg args[64];
	pthread_t tid[64];
	uint64_t pairs = 0;
	double until = secs() + seconds;

	for (int i = 0; i < threads; i++) {
		args[i] = (struct meta_arg){ vfs, dir, i, until, 0 };
		pthread_create(&tid[i], NULL, meta_worker, &args[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		pairs += args[i].pairs;
	}
	return pairs;
}

static int
cmd_meta(const char *uri, int threads, double seconds, bool async)
{
	struct vfs *vfs = mnt(uri, async ? VFS_MOUNT_ASYNC_COMMIT : 0);
	uint64_t pairs, commits;
	int rc = vfs_mkdir(vfs, "/bench-meta");

	if (rc < 0 && rc != -EEXIST)
		die("mkdir", rc);
	if (threads < 1 || threads > 64)
		threads = 1;
	commits = vfs->jn.commits;
	pairs = meta_run(vfs, "/bench-meta", threads, seconds);
	rc = vfs_sync(vfs);
	if (rc < 0)
		die("sync", rc);
	printf("pairs=%llu\npairs_s=%.1f\nops_s=%.1f\ncommits=%llu\n",
	       (unsigned long long)pairs, (double)pairs / seconds,
	       2.0 * (double)pairs / seconds,
	       (unsigned long long)(vfs->jn.commits - commits));
	vfs_unmount(vfs);
	return 0;
}

static int
cmd_hosts(const char *uri, int n, double seconds)
{
	uint64_t *pairs = mmap(NULL, 64 * sizeof(uint64_t),
			       PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	atomic_int *ready = (atomic_int *)&pairs[63];
	pid_t pid[64];
	uint64_t total = 0;

	if (n < 1 || n > 32)
		n = 1;
	memset(pairs, 0, 64 * sizeof(uint64_t));
	for (int i = 0; i < n; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			char dir[32];
			struct vfs *vfs;
			int rc;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			vfs = mnt(uri, 0);
			snprintf(dir, sizeof(dir), "/bench-host%d", i);
			rc = vfs_mkdir(vfs, dir);
			if (rc < 0 && rc != -EEXIST)
				die("mkdir", rc);
			atomic_fetch_add(ready, 1);
			while (atomic_load(ready) < n)
				usleep(1000);
			pairs[i] = meta_run(vfs, dir, 1, seconds);
			vfs_unmount(vfs);
			_exit(0);
		}
	}
	for (int i = 0; i < n; i++) {
		waitpid(pid[i], NULL, 0);
		total += pairs[i];
	}
	printf("hosts=%d\npairs=%llu\npairs_s=%.1f\nops_s=%.1f\n", n,
	       (unsigned long long)total, (double)total / seconds,
	       2.0 * (double)total / seconds);
	return 0;
}

/* ---- failover ---- */

static int
cmd_failover(const char *uri)
{
	atomic_int *ready = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct vfs_file *f;
	struct vfs *vfs;
	double t0;
	pid_t pid;
	int rc;

	vfs = mnt(uri, 0);
	rc = vfs_file_create(vfs, "/bench-failover", NULL, 0, NULL);
	if (rc < 0 && rc != -EEXIST)
		die("create", rc);
	vfs_unmount(vfs);
	*ready = 0;
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		vfs = mnt(uri, 0);
		if (vfs_file_open(vfs, "/bench-failover", 0, &f) < 0)
			_exit(1);
		/* Something in the journal for the survivor to replay. */
		(void)!vfs_mkdir(vfs, "/bench-failover-dir");
		atomic_store(ready, 1);
		for (;;)
			pause();
	}
	while (!atomic_load(ready))
		usleep(10000);
	vfs = mnt(uri, 0);
	/* Let the survivor watch the holder for a while first, as a
	 * long-running host would have. */
	sleep(2);
	kill(pid, SIGKILL);
	t0 = secs();
	waitpid(pid, NULL, 0);
	rc = vfs_file_open(vfs, "/bench-failover", 0, &f);
	if (rc < 0)
		die("take over", rc);
	printf("failover_s=%.2f\nlease_ms=%u\nfencing=%s\nats=%s\n",
	       secs() - t0, vfs->g.lease_ms, vfs->pr_fencing ? "pr" : "self",
	       vfs->paxos ? "disk-paxos" :
	       lun_ats_method_name(vfs->info->ats_method));
	vfs_file_close(f);
	(void)!vfs_rmdir(vfs, "/bench-failover-dir");
	vfs_unmount(vfs);
	return 0;
}

static int
cmd_failover_tgtd(void)
{
	struct tgt_fixture t;
	const char *dir = test_tmpdir();
	int rc = tgt_start(&t, dir, 1, 1024 * MIB);

	if (rc == TEST_SKIP)
		return 77;
	if (rc < 0)
		die("tgtd", rc);
	rc = vfs_mkfs(t.url[0], &(struct vfs_mkfs_opts){ .force = true });
	if (rc < 0)
		die("mkfs", rc);
	rc = cmd_failover(t.url[0]);
	tgt_stop(&t);
	test_tmpdir_remove();
	return rc;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Fresh locks (unused global lock sectors), one acquire each. */
static void
lock_cost(const char *uri)
{
	const struct lock_req ex = { .mode = OD_LOCK_EX };
	struct vfs *vfs = mnt(uri, 0);
	uint64_t lat[64], total = 0;
	unsigned int n = ARRAY_SIZE(lat);

	pthread_mutex_lock(&vfs->mu);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t off = vfs->g.locks_off + (8 + i) * VFS_SECTOR;
		uint64_t b = ios(vfs), t0 = clock_mono_ns();
		struct vlock *vl;
		int rc = lock_try(vfs, off, &ex, vfs_now(vfs), &vl, NULL);

		if (rc < 0)
			die("lock", rc);
		lat[i] = clock_mono_ns() - t0;
		total += ios(vfs) - b;
		lock_put(vfs, vl);
	}
	pthread_mutex_unlock(&vfs->mu);
	qsort(lat, n, sizeof(lat[0]), cmp_u64);
	printf("acquire_ios=%.1f\nacquire_us=%.0f\nats=%s\n",
	       (double)total / n, (double)lat[n / 2] / 1e3,
	       vfs->paxos ? "disk-paxos" :
	       lun_ats_method_name(vfs->info->ats_method));
	(void)!vfs_unmount(vfs);
}

static int
cmd_tgtd(const char *mode)
{
	struct tgt_fixture t;
	int rc = tgt_start(&t, test_tmpdir(), 1, 1024 * MIB);

	if (rc == TEST_SKIP)
		return 77;
	if (rc < 0)
		die("tgtd", rc);
	bench_ats = !strcmp(mode, "disk-paxos") ? VFS_ATS_DISK_PAXOS :
		    VFS_ATS_LUN;
	rc = vfs_mkfs(t.url[0], &(struct vfs_mkfs_opts){ .force = true });
	if (rc < 0)
		die("mkfs", rc);
	lock_cost(t.url[0]);
	{
		struct vfs *vfs = mnt(t.url[0], 0);
		uint64_t pairs;

		rc = vfs_mkdir(vfs, "/bench-meta");
		if (rc < 0)
			die("mkdir", rc);
		pairs = meta_run(vfs, "/bench-meta", 1, 2.0);
		printf("meta1_ops_s=%.1f\n", (double)pairs);
		(void)!vfs_unmount(vfs);
	}
	/* Two hosts in separate directories: prints ops_s. */
	cmd_hosts(t.url[0], 2, 2.0);
	rc = cmd_failover(t.url[0]);
	tgt_stop(&t);
	test_tmpdir_remove();
	return rc;
}

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "", *lun = argc > 2 ? argv[2] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "lock-ios") && argc == 3)
		return cmd_lock_ios(lun);
	if (!strcmp(cmd, "data") && argc == 6)
		return cmd_data(lun, argv[3], !strcmp(argv[4], "seq"),
				atof(argv[5]));
	if (!strcmp(cmd, "flush") && argc == 4)
		return cmd_flush(lun, atof(argv[3]));
	if (!strcmp(cmd, "meta") && (argc == 5 || argc == 6))
		return cmd_meta(lun, atoi(argv[3]), atof(argv[4]), argc == 6);
	if (!strcmp(cmd, "hosts") && argc == 5)
		return cmd_hosts(lun, atoi(argv[3]), atof(argv[4]));
	if (!strcmp(cmd, "failover") && argc == 3)
		return cmd_failover(lun);
	if (!strcmp(cmd, "failover-tgtd"))
		return cmd_failover_tgtd();
	if (!strcmp(cmd, "tgtd") && argc == 3)
		return cmd_tgtd(argv[2]);
	fprintf(stderr, "usage: vfs-bench lock-ios|data|flush|meta|hosts|"
		"failover LUN ...\n");
	return 2;
}
