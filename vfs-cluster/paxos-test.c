/* SPDX-License-Identifier: MIT */
/*
 * The disk-paxos mutex (paxos.c) on its own, without datastore sessions:
 *   - processes (file LUN) and threads (mem: LUN) race to advance a
 *     counter sector by paxos_ats(); every round has exactly one winner,
 *     and a shared-memory checker sees nobody else inside paxos_lock();
 *   - an owner that never releases is fenced (PR PREEMPT) and taken over
 *     from, at once when known gone, else after the stale limit; its
 *     write afterwards is refused (-EBADE);
 *   - on a private tgtd LUN under a standing Write Exclusive - All
 *     Registrants reservation: the race, a killed owner, and a paused
 *     (SIGSTOP) owner whose write after SIGCONT gets -EBADE.
 */
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
#include "vfs-cluster/paxos.h"

#define SECTOR_OFF (4ull << 20)   /* the contended sector */
#define NBLOCKS 8

struct shared {
	atomic_int in_cs;
	atomic_int violations;
	atomic_int ready;
	atomic_int result;
	uint32_t won[4096];       /* round -> winner + 1 */
};

static struct shared *sh;

static void *
xalloc(size_t len)
{
	void *p;

	CHECK_OK(posix_memalign(&p, 4096, len));
	memset(p, 0, len);
	return p;
}

static void
px_open(struct paxos *px, uint32_t me, uint64_t key, uint64_t io_ms)
{
	struct paxos_cfg cfg = {
		.area_off = VFS_PAXOS_OFF,
		.nblocks = NBLOCKS,
		.me = { .slot = me, .gen = 1, .key = key },
		.io_timeout_ns = io_ms * NS_PER_MS,
	};

	CHECK_OK(paxos_init(px, &cfg));
}

/* ---- the race ---- */

struct racer {
	const char *uri;
	uint32_t me;
	uint64_t key;
	unsigned int rounds, wins, lost;
	uint64_t conflicts;
	int err;
};

struct counter {
	uint64_t round, winner;
};

static void *
race(void *arg)
{
	struct racer *r = arg;
	uint8_t *cur = xalloc(512), *next = xalloc(512);
	unsigned int seed = r->me * 7919 + 1;
	struct paxos px;
	struct lun *lun;
	uint64_t lver;

	r->err = lun_open(r->uri, NULL, &lun);
	if (r->err < 0)
		return NULL;
	if (r->key)
		CHECK_OK(lun_pr_register(lun, r->key));
	px_open(&px, r->me, r->key, 2000);
	for (;;) {
		struct counter c;
		int rc;

		r->err = lun_read(lun, SECTOR_OFF, cur, 512);
		if (r->err < 0)
			break;
		memcpy(&c, cur, sizeof(c));
		if (c.round >= r->rounds)
			break;
		c.round++;
		c.winner = r->me;
		memcpy(next, cur, 512);
		memcpy(next, &c, sizeof(c));
		rc = paxos_ats(&px, lun, SECTOR_OFF, cur, next, 512);
		if (rc == 0) {
			sh->won[c.round] = r->me + 1;
			r->wins++;
		} else if (rc == LUN_ATS_MISCOMPARE) {
			r->lost++;
		} else {
			r->err = rc;
			break;
		}
		/* Spread the attempts so that runs of the same instance
		 * overlap, not just follow each other. */
		usleep((useconds_t)(rand_r(&seed) % 400));
		/* Now and then, hold the mutex itself a moment. */
		if (c.round % 16 == r->me && paxos_lock(&px, lun, &lver) == 0) {
			if (atomic_fetch_add(&sh->in_cs, 1))
				atomic_fetch_add(&sh->violations, 1);
			usleep(200);
			atomic_fetch_sub(&sh->in_cs, 1);
			CHECK_OK(paxos_unlock(&px, lun, lver));
		}
	}
	r->conflicts = px.stats.conflicts;
	if (r->key)
		(void)!lun_pr_register(lun, 0);
	paxos_fini(&px);
	lun_close(lun);
	free(cur);
	free(next);
	return NULL;
}

static void
reset(const char *uri)
{
	uint8_t *z = xalloc(64 << 10);
	struct lun *lun;

	CHECK_OK(lun_open(uri, NULL, &lun));
	CHECK_OK(lun_write(lun, VFS_PAXOS_OFF, z, (1 + NBLOCKS) * 512, 0));
	CHECK_OK(lun_write(lun, SECTOR_OFF, z, 512, 0));
	lun_close(lun);
	free(z);
	memset(sh, 0, sizeof(*sh));
}

static void
check_rounds(unsigned int rounds)
{
	CHECK_EQ(atomic_load(&sh->violations), 0);
	for (unsigned int i = 1; i <= rounds; i++)
		CHECK(sh->won[i] != 0);
}

/* 'keys': register PR keys (fencing possible). Processes unless mem:. */
static void
run_race(const char *uri, unsigned int n, unsigned int rounds, bool keys)
{
	bool threads = !strncmp(uri, "mem:", 4);
	struct racer r[8];
	pthread_t t[8];
	pid_t pid[8];
	uint64_t t0 = clock_mono_ns();

	reset(uri);
	for (unsigned int i = 0; i < n; i++) {
		r[i] = (struct racer){ .uri = uri, .me = i, .rounds = rounds,
				       .key = keys ? 0x1000 + i : 0 };
		if (threads) {
			CHECK_OK(pthread_create(&t[i], NULL, race, &r[i]));
			continue;
		}
		pid[i] = fork();
		CHECK(pid[i] >= 0);
		if (pid[i] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			race(&r[i]);
			if (r[i].err)
				fprintf(stderr, "racer %u: %s\n", i,
					strerror(-r[i].err));
			printf("   racer %u: %u wins, %u lost races, %llu "
			       "ballot conflicts\n", i, r[i].wins, r[i].lost,
			       (unsigned long long)r[i].conflicts);
			_exit(r[i].err ? 1 : 0);
		}
	}
	for (unsigned int i = 0; i < n; i++) {
		if (threads) {
			pthread_join(t[i], NULL);
			CHECK_OK(r[i].err);
			printf("   racer %u: %u wins, %u lost races, %llu "
			       "ballot conflicts\n", i, r[i].wins, r[i].lost,
			       (unsigned long long)r[i].conflicts);
		} else {
			int st;

			CHECK(waitpid(pid[i], &st, 0) == pid[i]);
			CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		}
	}
	check_rounds(rounds);
	printf("   %u rounds, one winner each, %.1f ms per round\n", rounds,
	       (double)(clock_mono_ns() - t0) / 1e6 / rounds);
}

static char file_uri[600];

static void
test_race_file_processes(void)
{
	run_race(file_uri, 4, 300, false);
}

static void
test_race_mem_threads(void)
{
	struct lun *keep;

	CHECK_OK(lun_open("mem:pxrace?size=8M", NULL, &keep));
	run_race("mem:pxrace", 4, 1000, false);
	lun_close(keep);
}

/* ---- takeover ---- */

/* The standing reservation, held by a registration nobody preempts. */
static void
anchor(const char *uri)
{
	struct lun *a;

	CHECK_OK(lun_open(uri, NULL, &a));
	CHECK_OK(lun_pr_register(a, 0xa0c0));
	CHECK_OK(lun_pr_reserve(a, LUN_PR_WRITE_EXCLUSIVE_ALL_REG));
	lun_close(a);
}

static bool
gone_always(void *arg, const struct od_pxowner *o)
{
	return true;
}

static void
test_takeover_mem(void)
{
	struct lun *keep, *a, *b;
	struct paxos pa, pb;
	uint8_t *x = xalloc(512), *y = xalloc(512);
	uint64_t lver, t0;

	CHECK_OK(lun_open("mem:pxtake?size=8M", NULL, &keep));
	anchor("mem:pxtake");
	CHECK_OK(lun_open("mem:pxtake", NULL, &a));
	CHECK_OK(lun_open("mem:pxtake", NULL, &b));
	CHECK_OK(lun_pr_register(a, 0xaaa));
	CHECK_OK(lun_pr_register(b, 0xbbb));
	px_open(&pa, 0, 0xaaa, 50);
	px_open(&pb, 1, 0xbbb, 50);
	/* 'a' takes the mutex and stops there (dead, or paused). */
	CHECK_OK(paxos_lock(&pa, a, &lver));
	CHECK_EQ(lver, 1);
	memset(y, 'b', 512);
	/* Without news of 'a', 'b' waits the stale limit (4 x 50 ms). */
	t0 = clock_mono_ns();
	CHECK_OK(paxos_ats(&pb, b, SECTOR_OFF, x, y, 512));
	CHECK(clock_mono_ns() - t0 >= 200 * NS_PER_MS);
	CHECK_EQ(pb.stats.takeovers, 1);
	/* 'a' resumes: fenced, its write refused, the sector is b's. */
	CHECK_EQ(lun_write(a, SECTOR_OFF, x, 512, LUN_IO_FUA), -EBADE);
	CHECK_OK(lun_read(b, SECTOR_OFF, x, 512));
	CHECK(memcmp(x, y, 512) == 0);
	paxos_fini(&pa);
	lun_close(a);
	/* 'c' owns the mutex and is known gone: no waiting. */
	CHECK_OK(lun_open("mem:pxtake", NULL, &a));
	CHECK_OK(lun_pr_register(a, 0xccc));
	px_open(&pa, 2, 0xccc, 50);
	CHECK_OK(paxos_lock(&pa, a, &lver));
	pb.cfg.holder_gone = gone_always;
	memset(x, 'c', 512);
	t0 = clock_mono_ns();
	CHECK_OK(paxos_ats(&pb, b, SECTOR_OFF, y, x, 512));
	CHECK(clock_mono_ns() - t0 < 150 * NS_PER_MS);
	CHECK_EQ(pb.stats.takeovers, 2);
	CHECK_EQ(paxos_unlock(&pa, a, lver), -EBADE);
	/* Its last owner takes the mutex again in 5 commands. */
	{
		struct lun_stats st;

		lun_reset_stats(b);
		CHECK_OK(paxos_ats(&pb, b, SECTOR_OFF, x, y, 512));
		lun_get_stats(b, &st);
		printf("   uncontended ATS after own release: %llu commands\n",
		       (unsigned long long)lun_stats_ios(&st));
		CHECK_EQ(lun_stats_ios(&st), 5);
	}
	paxos_fini(&pa);
	paxos_fini(&pb);
	lun_close(a);
	lun_close(b);
	lun_close(keep);
	free(x);
	free(y);
}

/* ---- on tgtd ---- */

static struct tgt_fixture tgt;

static int
holder(const char *uri, uint64_t key)
{
	uint8_t *z = xalloc(512);
	struct paxos px;
	struct lun *lun;
	uint64_t lver;
	int rc;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	CHECK_OK(lun_open(uri, NULL, &lun));
	CHECK_OK(lun_pr_register(lun, key));
	px_open(&px, 3, key, 500);
	CHECK_OK(paxos_lock(&px, lun, &lver));
	atomic_store(&sh->ready, 1);
	/* Stopped here by the parent; after SIGCONT, write as an owner
	 * that does not know it was fenced. */
	while (atomic_load(&sh->ready) != 2)
		usleep(1000);
	memset(z, 'z', 512);
	rc = lun_write(lun, SECTOR_OFF, z, 512, LUN_IO_FUA);
	atomic_store(&sh->result, rc);
	_exit(0);
}

static void
test_tgtd_race(void)
{
	anchor(tgt.url[0]);
	run_race(tgt.url[0], 3, 300, true);
}

static void
takeover_tgtd(bool pause)
{
	uint8_t *x = xalloc(512), *y = xalloc(512);
	struct paxos px;
	struct lun *lun;
	pid_t pid;
	uint64_t t0;
	int st;

	reset(tgt.url[0]);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		holder(tgt.url[0], 0x3333);
	while (!atomic_load(&sh->ready))
		usleep(1000);
	CHECK_OK(kill(pid, pause ? SIGSTOP : SIGKILL));
	CHECK_OK(lun_open(tgt.url[0], NULL, &lun));
	CHECK_OK(lun_pr_register(lun, 0x4444));
	px_open(&px, 4, 0x4444, 500);
	memset(y, 'y', 512);
	t0 = clock_mono_ns();
	CHECK_OK(paxos_ats(&px, lun, SECTOR_OFF, x, y, 512));
	printf("   owner %s: taken over after %.2f s (stale limit 2 s)\n",
	       pause ? "paused" : "killed",
	       (double)(clock_mono_ns() - t0) / 1e9);
	CHECK_EQ(px.stats.takeovers, 1);
	if (pause) {
		atomic_store(&sh->ready, 2);
		CHECK_OK(kill(pid, SIGCONT));
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	if (pause) {
		printf("   the paused owner's write after SIGCONT: %s\n",
		       strerror(-atomic_load(&sh->result)));
		CHECK_EQ(atomic_load(&sh->result), -EBADE);
	}
	CHECK_OK(lun_read(lun, SECTOR_OFF, x, 512));
	CHECK(memcmp(x, y, 512) == 0);
	(void)!lun_pr_register(lun, 0);
	paxos_fini(&px);
	lun_close(lun);
	free(x);
	free(y);
}

static void
test_tgtd_killed_owner(void)
{
	takeover_tgtd(false);
}

static void
test_tgtd_paused_owner(void)
{
	takeover_tgtd(true);
}

int
main(void)
{
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(sh != MAP_FAILED);
	snprintf(file_uri, sizeof(file_uri), "%s/lun.img", test_tmpdir());
	CHECK_OK(test_make_file(file_uri, 16 << 20));
	RUN_TEST(test_race_file_processes);
	RUN_TEST(test_race_mem_threads);
	RUN_TEST(test_takeover_mem);
	rc = tgt_start(&tgt, test_tmpdir(), 1, 64 << 20);
	if (rc == TEST_SKIP) {
		printf("tgtd parts skipped: no tgtd here (or not root)\n");
	} else {
		CHECK_OK(rc);
		RUN_TEST(test_tgtd_race);
		RUN_TEST(test_tgtd_killed_owner);
		RUN_TEST(test_tgtd_paused_owner);
		tgt_stop(&tgt);
	}
	test_tmpdir_remove();
	return 0;
}
