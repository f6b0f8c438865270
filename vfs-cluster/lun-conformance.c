/* SPDX-License-Identifier: MIT */
/* The LUN conformance suite; see lun-conformance.h. */
#include <poll.h>
#include <stdlib.h>

#include "tests/lib/testutil.h"
#include "vfs-cluster/lun-conformance.h"

#define AREA (1ull << 20) /* tests use bytes [AREA, AREA + 32 MiB) */

static void *
xalloc(size_t len)
{
	void *p;

	CHECK_OK(posix_memalign(&p, 4096, len ? len : 4096));
	return p;
}

static void
check_info(const struct lun_info *info)
{
	CHECK(info->size_bytes >= AREA + (32ull << 20));
	CHECK(IS_POW2(info->logical_sector_bytes));
	CHECK(info->logical_sector_bytes >= 512);
	CHECK(info->physical_sector_bytes >= info->logical_sector_bytes);
	CHECK(IS_POW2(info->buf_align) && info->buf_align <= 4096);
	CHECK(info->max_io_bytes >= 65536);
	CHECK(info->queue_depth > 0);
	CHECK(info->scheme && *info->scheme);
}

static void
round_trip(struct lun *lun, uint64_t off, size_t len, uint64_t seed,
	   unsigned int flags)
{
	uint8_t *w = xalloc(len), *r = xalloc(len);

	test_pattern_fill(w, len, seed, off);
	CHECK_OK(lun_write(lun, off, w, len, flags));
	memset(r, 0xee, len);
	CHECK_OK(lun_read(lun, off, r, len));
	CHECK(memcmp(w, r, len) == 0);
	free(w);
	free(r);
}

static void
check_round_trips(struct lun *lun)
{
	static const size_t sizes[] = { 512, 4096, 65536, 1 << 20 };
	uint32_t sector = lun_get_info(lun)->logical_sector_bytes;

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t len = MAX(sizes[i], (size_t)sector);

		round_trip(lun, AREA + i * (2 << 20) + sector, len, i + 1, 0);
		round_trip(lun, AREA + i * (2 << 20) + sector, len, i + 11,
			   LUN_IO_FUA);
	}
	CHECK_OK(lun_flush(lun));
}

static void
flag_done(struct lun_io *io)
{
	*(bool *)io->priv = true;
}

static void
check_scatter_gather(struct lun *lun)
{
	uint32_t s = lun_get_info(lun)->logical_sector_bytes;
	uint64_t off = AREA + (10 << 20);
	uint8_t *a = xalloc(s), *b = xalloc(4 * s), *c = xalloc(2 * s);
	uint8_t *whole = xalloc(7 * s);
	struct iovec wv[3] = { { a, s }, { b, 4 * s }, { c, 2 * s } };
	struct iovec rv[2] = { { whole, 3 * s }, { whole + 3 * s, 4 * s } };
	struct lun_io io = { 0 };
	bool done = false;

	test_pattern_fill(a, s, 7, off);
	test_pattern_fill(b, 4 * s, 7, off + s);
	test_pattern_fill(c, 2 * s, 7, off + 5 * s);
	lun_io_prep_write(&io, off, NULL, 0, 0);
	io.iov = wv;
	io.iovcnt = 3;
	io.len_bytes = 7 * s;
	io.priv = &done;
	/* A missing callback is refused before anything is sent. */
	io.done = NULL;
	CHECK_EQ(lun_submit(lun, &io), -EINVAL);
	io.done = flag_done;
	CHECK_OK(lun_submit(lun, &io));
	while (!done)
		CHECK(lun_poll(lun, 1, -1) >= 0);
	CHECK_EQ(io.result, 7 * s);
	/* Read it back cut differently. */
	done = false;
	lun_io_prep_read(&io, off, NULL, 0);
	io.iov = rv;
	io.iovcnt = 2;
	io.len_bytes = 7 * s;
	io.done = flag_done;
	io.priv = &done;
	CHECK_OK(lun_submit(lun, &io));
	while (!done)
		CHECK(lun_poll(lun, 1, -1) >= 0);
	CHECK_EQ(io.result, 7 * s);
	CHECK(test_pattern_check(whole, 7 * s, 7, off));
	free(a);
	free(b);
	free(c);
	free(whole);
}

struct async_ctx {
	unsigned int done, errors;
};

static void
async_done(struct lun_io *io)
{
	struct async_ctx *ctx = io->priv;

	if (io->result != (int64_t)io->len_bytes)
		ctx->errors++;
	ctx->done++;
}

static void
check_queue(struct lun *lun)
{
	const unsigned int n = 256, len = 4096;
	uint32_t depth = lun_get_info(lun)->queue_depth;
	struct lun_io *ios = calloc(n, sizeof(*ios));
	uint8_t *bufs = xalloc((size_t)n * len);
	struct async_ctx ctx = { 0 };
	unsigned int next = 0;

	CHECK(ios);
	for (unsigned int i = 0; i < n; i++)
		test_pattern_fill(bufs + (size_t)i * len, len, 42,
				  (uint64_t)i * 8192);
	/* Scattered 4 KiB writes, as many in flight as the queue allows. */
	while (ctx.done < n) {
		while (next < n) {
			struct lun_io *io = &ios[next];
			int rc;

			lun_io_prep_write(io, AREA + (16 << 20) +
						      (uint64_t)next * 8192,
					  bufs + (size_t)next * len, len, 0);
			io->done = async_done;
			io->priv = &ctx;
			rc = lun_submit(lun, io);
			if (rc == -EAGAIN) {
				CHECK_EQ(lun_inflight(lun), depth);
				break;
			}
			CHECK_OK(rc);
			next++;
		}
		CHECK(lun_poll(lun, 1, -1) >= 0);
	}
	CHECK_EQ(ctx.errors, 0);
	CHECK_EQ(lun_inflight(lun), 0);
	memset(bufs, 0, (size_t)n * len);
	for (unsigned int i = 0; i < n; i++)
		CHECK_OK(lun_read(lun, AREA + (16 << 20) + (uint64_t)i * 8192,
				  bufs + (size_t)i * len, len));
	for (unsigned int i = 0; i < n; i++)
		CHECK(test_pattern_check(bufs + (size_t)i * len, len, 42,
					 (uint64_t)i * 8192));
	free(ios);
	free(bufs);
}

static void
check_validation(struct lun *lun)
{
	const struct lun_info *info = lun_get_info(lun);
	uint32_t s = info->logical_sector_bytes;
	uint8_t *buf = xalloc(2 * s), *orig = xalloc(s);
	uint64_t end = info->size_bytes;

	CHECK_OK(lun_read(lun, AREA, orig, s));
	CHECK_EQ(lun_write(lun, AREA + 1, buf, s, 0), -EINVAL);
	CHECK_EQ(lun_write(lun, AREA, buf, s - 1, 0), -EINVAL);
	CHECK_EQ(lun_write(lun, AREA, buf, 0, 0), -EINVAL);
	CHECK_EQ(lun_read(lun, end, buf, s), -ERANGE);
	CHECK_EQ(lun_read(lun, end - s, buf, 2 * s), -ERANGE);
	CHECK_EQ(lun_write(lun, UINT64_MAX - s + 1, buf, s, 0), -ERANGE);
	CHECK_EQ(lun_write(lun, AREA, buf, s, 0x80), -EINVAL);
	if (info->buf_align > 1)
		CHECK_EQ(lun_write(lun, AREA, buf + 1, s, 0), -EINVAL);
	CHECK_OK(lun_read(lun, end - s, buf, s));
	/* Nothing reached the device. */
	CHECK_OK(lun_read(lun, AREA, buf, s));
	CHECK(memcmp(buf, orig, s) == 0);
	free(buf);
	free(orig);
}

static void
check_ats(struct lun *lun)
{
	const struct lun_info *info = lun_get_info(lun);
	uint32_t s = info->logical_sector_bytes;
	uint64_t off = AREA + (20 << 20);
	uint8_t *a = xalloc(s), *b = xalloc(s), *c = xalloc(s), *r = xalloc(s);
	struct lun *other;

	if (!(info->caps & LUN_CAP_ATS)) {
		CHECK_EQ(lun_ats(lun, off, a, b, s), -EOPNOTSUPP);
		goto out;
	}
	CHECK(info->ats_method != LUN_ATS_NONE);
	memset(a, 'A', s);
	memset(b, 'B', s);
	memset(c, 'C', s);
	CHECK_OK(lun_write(lun, off, a, s, LUN_IO_FUA));
	CHECK_EQ(lun_ats(lun, off, b, c, s), LUN_ATS_MISCOMPARE);
	CHECK_OK(lun_read(lun, off, r, s));
	CHECK(memcmp(r, a, s) == 0);
	CHECK_OK(lun_ats(lun, off, a, c, s));
	CHECK_OK(lun_read(lun, off, r, s));
	CHECK(memcmp(r, c, s) == 0);
	CHECK_EQ(lun_ats(lun, off + 1, c, a, s), -EINVAL);
	CHECK_EQ(lun_ats(lun, off, c, a, s / 2), -EINVAL);
	/* Another handle sees the swap and must present the new value. */
	CHECK_OK(lun_dup(lun, &other));
	CHECK_EQ(lun_ats(other, off, a, b, s), LUN_ATS_MISCOMPARE);
	CHECK_OK(lun_ats(other, off, c, b, s));
	CHECK_EQ(lun_ats(lun, off, c, a, s), LUN_ATS_MISCOMPARE);
	lun_close(other);
out:
	free(a);
	free(b);
	free(c);
	free(r);
}

static void
check_stats_and_dup(struct lun *lun)
{
	uint32_t s = lun_get_info(lun)->logical_sector_bytes;
	uint8_t *buf = xalloc(s);
	struct lun_stats st;
	struct lun *dup;

	lun_reset_stats(lun);
	test_pattern_fill(buf, s, 3, 0);
	CHECK_OK(lun_write(lun, AREA, buf, s, 0));
	CHECK_OK(lun_read(lun, AREA, buf, s));
	CHECK_OK(lun_read(lun, AREA, buf, s));
	CHECK_OK(lun_flush(lun));
	lun_get_stats(lun, &st);
	CHECK_EQ(st.writes, 1);
	CHECK_EQ(st.reads, 2);
	CHECK_EQ(st.flushes, 1);
	CHECK_EQ(st.bytes_read, 2 * s);
	CHECK_EQ(lun_stats_ios(&st), 4);
	CHECK_OK(lun_dup(lun, &dup));
	memset(buf, 0, s);
	CHECK_OK(lun_read(dup, AREA, buf, s));
	CHECK(test_pattern_check(buf, s, 3, 0));
	lun_close(dup);
	if (lun_get_info(lun)->caps & LUN_CAP_DISCARD)
		CHECK_OK(lun_discard(lun, AREA + (24 << 20), 1 << 20));
	else
		CHECK_EQ(lun_discard(lun, AREA, s), -EOPNOTSUPP);
	free(buf);
}

/* ---- the completion fd ---- */

static bool
fd_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n = poll(&p, 1, timeout_ms);

	CHECK(n >= 0);
	return n == 1 && (p.revents & POLLIN);
}

struct ev_ctx {
	unsigned int done, errors;
};

static void
ev_done(struct lun_io *io)
{
	struct ev_ctx *c = io->priv;

	if (io->result != (int64_t)io->len_bytes)
		c->errors++;
	c->done++;
}

/*
 * Runs 'n' requests to completion the way an event loop does: sleep in
 * poll() on the fd, then lun_poll(lun, 0, 0). Returns the wake-ups that
 * found nothing to reap.
 */
static unsigned int
ev_run(struct lun *lun, int fd, struct lun_io *ios, unsigned int n)
{
	struct ev_ctx c = { 0 };
	unsigned int empty = 0, wakeups = 0;

	for (unsigned int i = 0; i < n; i++) {
		ios[i].done = ev_done;
		ios[i].priv = &c;
		CHECK_OK(lun_submit(lun, &ios[i]));
	}
	CHECK_OK(lun_kick(lun));
	while (c.done < n) {
		int got;

		/* A completion never fails to wake the loop. */
		CHECK(fd_readable(fd, 10000));
		got = lun_poll(lun, 0, 0);
		CHECK(got >= 0);
		wakeups++;
		if (got == 0)
			empty++;
		/* No busy loop: far fewer wake-ups than, say, 1 ms steps. */
		CHECK(wakeups <= 4 * n + 16);
	}
	CHECK_EQ(c.errors, 0);
	return empty;
}

static void
check_event_fd(struct lun *lun)
{
	const unsigned int n = 16, len = 4096;
	uint64_t off = AREA + (26 << 20);
	uint8_t *w = xalloc(n * len), *r = xalloc(n * len);
	struct lun_io ios[16];
	unsigned int empty;
	int fd = lun_event_fd(lun);

	CHECK(fd >= 0);
	CHECK_EQ(lun_event_fd(lun), fd);
	/* Idle: nothing to do, so not readable (after one settling poll). */
	CHECK(lun_poll(lun, 0, 0) >= 0);
	if (fd_readable(fd, 0))
		CHECK_EQ(lun_poll(lun, 0, 0), 0);
	CHECK(!fd_readable(fd, 20));
	test_pattern_fill(w, n * len, 77, off);
	for (unsigned int i = 0; i < n; i++)
		lun_io_prep_write(&ios[i], off + (uint64_t)i * len,
				  w + (size_t)i * len, len, 0);
	empty = ev_run(lun, fd, ios, n);
	for (unsigned int i = 0; i < n; i++)
		lun_io_prep_read(&ios[i], off + (uint64_t)i * len,
				 r + (size_t)i * len, len);
	empty += ev_run(lun, fd, ios, n);
	CHECK(memcmp(w, r, n * len) == 0);
	/* Everything reaped: cleared again. */
	CHECK(!fd_readable(fd, 20));
	/* A synchronous helper polls too, and leaves it clear. */
	CHECK_OK(lun_read(lun, off, r, len));
	CHECK(!fd_readable(fd, 0));
	printf("   event fd: %u of the wake-ups found nothing to reap\n",
	       empty);
	free(w);
	free(r);
}

void
lun_conformance_run(const char *uri, const struct lun_config *cfg)
{
	struct lun *lun;

	CHECK_OK(lun_open(uri, cfg, &lun));
	CHECK(strcmp(lun_uri(lun), uri) == 0);
	check_info(lun_get_info(lun));
	check_round_trips(lun);
	check_scatter_gather(lun);
	check_queue(lun);
	check_validation(lun);
	check_ats(lun);
	check_stats_and_dup(lun);
	check_event_fd(lun);
	lun_close(lun);
}

/* ---- ATS race ---- */

#include <pthread.h>
#include <sys/wait.h>

struct race_worker {
	const char *uri;
	const struct lun_config *cfg;
	unsigned int id, rounds;
	uint64_t offset;
	uint32_t *won;           /* won[r] = id + 1 for each round it took */
	pthread_barrier_t *start; /* threads: start together; NULL: processes */
	unsigned int wins, retries;
	int err;
};

struct race_sector {
	uint64_t round;
	uint64_t winner;
};

static void *
race_run(void *arg)
{
	struct race_worker *w = arg;
	struct lun *lun;
	uint8_t *cur, *next;
	uint32_t s;

	w->err = lun_open(w->uri, w->cfg, &lun);
	if (w->err < 0)
		return NULL;
	s = lun_get_info(lun)->logical_sector_bytes;
	cur = xalloc(s);
	next = xalloc(s);
	if (w->start)
		pthread_barrier_wait(w->start);
	for (;;) {
		struct race_sector rs;
		int rc;

		w->err = lun_read(lun, w->offset, cur, s);
		if (w->err < 0)
			break;
		memcpy(&rs, cur, sizeof(rs));
		if (rs.round >= w->rounds)
			break;
		memcpy(next, cur, s);
		rs.round++;
		rs.winner = w->id;
		memcpy(next, &rs, sizeof(rs));
		rc = lun_ats(lun, w->offset, cur, next, s);
		if (rc == 0) {
			w->won[rs.round] = w->id + 1;
			w->wins++;
		} else if (rc == LUN_ATS_MISCOMPARE) {
			w->retries++;
		} else {
			w->err = rc;
			break;
		}
	}
	free(cur);
	free(next);
	lun_close(lun);
	return NULL;
}

static void
race_reset(const char *uri, const struct lun_config *cfg, uint64_t offset)
{
	struct lun *lun;
	uint8_t *zero;
	uint32_t s;

	CHECK_OK(lun_open(uri, cfg, &lun));
	s = lun_get_info(lun)->logical_sector_bytes;
	zero = xalloc(s);
	memset(zero, 0, s);
	CHECK_OK(lun_write(lun, offset, zero, s, LUN_IO_FUA));
	free(zero);
	lun_close(lun);
}

void
lun_conformance_ats_race(const char *uri, const struct lun_config *cfg,
			 unsigned int nworkers, unsigned int rounds,
			 uint64_t offset)
{
	size_t wonbytes = (size_t)(rounds + 1) * sizeof(uint32_t);
	bool threads = strncmp(uri, "mem:", 4) == 0;
	struct race_worker *w = calloc(nworkers, sizeof(*w));
	pthread_t *tids = calloc(nworkers, sizeof(*tids));
	pid_t *pids = calloc(nworkers, sizeof(*pids));
	uint32_t *won = calloc(rounds + 1, sizeof(uint32_t));
	pthread_barrier_t start;
	int pfd[64][2];

	CHECK(w && tids && pids && won && nworkers <= 64);
	if (threads)
		CHECK_OK(pthread_barrier_init(&start, NULL, nworkers));
	race_reset(uri, cfg, offset);
	for (unsigned int i = 0; i < nworkers; i++) {
		w[i] = (struct race_worker){ .uri = uri, .cfg = cfg, .id = i,
					     .rounds = rounds,
					     .offset = offset,
					     .start = threads ? &start : NULL };
		w[i].won = calloc(rounds + 1, sizeof(uint32_t));
		CHECK(w[i].won);
		if (threads) {
			CHECK_OK(pthread_create(&tids[i], NULL, race_run, &w[i]));
			continue;
		}
		CHECK_OK(pipe(pfd[i]));
		pids[i] = fork();
		CHECK(pids[i] >= 0);
		if (pids[i] == 0) {
			/* Child: race, then send the results up the pipe. */
			race_run(&w[i]);
			if (write(pfd[i][1], &w[i], sizeof(w[i])) < 0 ||
			    write(pfd[i][1], w[i].won, wonbytes) < 0)
				_exit(3);
			_exit(0);
		}
		close(pfd[i][1]);
	}
	for (unsigned int i = 0; i < nworkers; i++) {
		if (threads) {
			pthread_join(tids[i], NULL);
			continue;
		}
		uint32_t *mine = w[i].won;
		size_t got = 0;
		ssize_t n;
		int st;

		CHECK(read(pfd[i][0], &w[i], sizeof(w[i])) == sizeof(w[i]));
		w[i].won = mine;
		while (got < wonbytes &&
		       (n = read(pfd[i][0], (char *)mine + got,
				 wonbytes - got)) > 0)
			got += (size_t)n;
		CHECK_EQ(got, wonbytes);
		close(pfd[i][0]);
		CHECK(waitpid(pids[i], &st, 0) == pids[i]);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	for (unsigned int i = 0; i < nworkers; i++) {
		printf("   worker %u: %u wins, %u lost races\n", i, w[i].wins,
		       w[i].retries);
		CHECK_OK(w[i].err);
		for (unsigned int r = 1; r <= rounds; r++) {
			if (!w[i].won[r])
				continue;
			/* Two winners of one round: mutual exclusion broke. */
			CHECK_EQ(won[r], 0);
			won[r] = w[i].won[r];
		}
		free(w[i].won);
	}
	for (unsigned int r = 1; r <= rounds; r++)
		CHECK(won[r] != 0);
	if (threads)
		pthread_barrier_destroy(&start);
	free(won);
	free(w);
	free(tids);
	free(pids);
}
