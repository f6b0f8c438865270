/* SPDX-License-Identifier: MIT */
/*
 * vlun bench: closed-loop load through the LUN layer's asynchronous API,
 * 'qd' requests always in flight, each completion immediately replaced,
 * with registered buffers where the backend uses them. This is how the
 * datastore and disks drive a LUN, so it is what we compare with fio.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/clock.h"
#include "common/json.h"
#include "tools/vlun.h"
#include "vfs-cluster/lun.h"

enum bench_mode { RANDREAD, RANDWRITE, SEQREAD, SEQWRITE, ATS };

struct bench {
	struct lun *lun;
	enum bench_mode mode;
	uint64_t bs, span, base, next_seq;
	uint64_t rng;
	uint64_t stop_ns;
	uint64_t ios, bytes, errors;
	uint32_t *lat_us;          /* one sample per completed request */
	size_t nlat, caplat;
	struct slot {
		struct lun_io io;
		uint64_t start_ns;
		void *buf;
	} *slots;
	unsigned int qd, active;
};

static const char *const mode_names[] = {
	[RANDREAD] = "randread",
	[RANDWRITE] = "randwrite",
	[SEQREAD] = "read",
	[SEQWRITE] = "write",
	[ATS] = "ats",
};

static uint64_t
next_offset(struct bench *b)
{
	uint64_t blocks = b->span / b->bs, off;

	if (b->mode == SEQREAD || b->mode == SEQWRITE) {
		off = b->next_seq;
		b->next_seq = (b->next_seq + b->bs) % (blocks * b->bs);
		return b->base + off;
	}
	b->rng ^= b->rng << 13;
	b->rng ^= b->rng >> 7;
	b->rng ^= b->rng << 17;
	return b->base + (b->rng % blocks) * b->bs;
}

static void bench_done(struct lun_io *io);

static void
issue(struct bench *b, struct slot *s)
{
	uint64_t off = next_offset(b);
	int16_t index = s->io.buf_index;

	if (b->mode == RANDREAD || b->mode == SEQREAD)
		lun_io_prep_read(&s->io, off, s->buf, b->bs);
	else
		lun_io_prep_write(&s->io, off, s->buf, b->bs, 0);
	s->io.buf_index = index;
	s->io.done = bench_done;
	s->io.priv = b;
	s->start_ns = clock_mono_ns();
	if (lun_submit(b->lun, &s->io) == 0)
		b->active++;
	else
		b->errors++;
}

static void
bench_done(struct lun_io *io)
{
	struct slot *s = container_of(io, struct slot, io);
	struct bench *b = io->priv;
	uint64_t now = clock_mono_ns();

	b->active--;
	if (io->result < 0) {
		b->errors++;
	} else {
		b->ios++;
		b->bytes += (uint64_t)io->result;
		if (b->nlat < b->caplat)
			b->lat_us[b->nlat++] =
				(uint32_t)MIN((now - s->start_ns) / 1000,
					      (uint64_t)UINT32_MAX);
	}
	if (now < b->stop_ns && b->errors == 0)
		issue(b, s);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint32_t
percentile(const struct bench *b, double p)
{
	if (!b->nlat)
		return 0;
	return b->lat_us[(size_t)((double)(b->nlat - 1) * p)];
}

static int
setup(struct bench *b)
{
	struct iovec *iov;

	b->slots = calloc(b->qd, sizeof(*b->slots));
	iov = calloc(b->qd, sizeof(*iov));
	b->caplat = 1 << 24;
	b->lat_us = malloc(b->caplat * sizeof(*b->lat_us));
	if (!b->slots || !iov || !b->lat_us)
		return -ENOMEM;
	for (unsigned int i = 0; i < b->qd; i++) {
		if (posix_memalign(&b->slots[i].buf, 4096, b->bs))
			return -ENOMEM;
		memset(b->slots[i].buf, 0xa5, b->bs);
		iov[i] = (struct iovec){ b->slots[i].buf, b->bs };
		b->slots[i].io.buf_index = -1;
	}
	if ((lun_get_info(b->lun)->caps & LUN_CAP_FIXED_BUFS) &&
	    lun_register_buffers(b->lun, iov, b->qd) == 0)
		for (unsigned int i = 0; i < b->qd; i++)
			b->slots[i].io.buf_index = (int16_t)i;
	free(iov);
	return 0;
}

static void
report(const struct bench *b, double secs, bool json)
{
	double iops = (double)b->ios / secs;
	double mibs = (double)b->bytes / secs / (1 << 20);
	struct json_writer w;

	if (!json) {
		printf("%s bs=%" PRIu64 " qd=%u: %.0f IOPS, %.1f MiB/s, "
		       "latency p50 %u us, p99 %u us (%" PRIu64 " I/Os in "
		       "%.2f s)\n",
		       mode_names[b->mode], b->bs, b->qd, iops, mibs,
		       percentile(b, 0.5), percentile(b, 0.99), b->ios, secs);
		return;
	}
	json_writer_init(&w, stdout);
	json_obj_begin(&w, NULL);
	json_str(&w, "mode", mode_names[b->mode]);
	json_u64(&w, "bs", b->bs);
	json_u64(&w, "qd", b->qd);
	json_double(&w, "iops", iops);
	json_double(&w, "mib_per_s", mibs);
	json_u64(&w, "lat_p50_us", percentile(b, 0.5));
	json_u64(&w, "lat_p99_us", percentile(b, 0.99));
	json_u64(&w, "ios", b->ios);
	json_double(&w, "seconds", secs);
	json_obj_end(&w);
	json_end_document(&w);
}

/*
 * --rw ats: back-to-back lun_ats() on the sector at --offset, each one
 * advancing a counter in it, so every call is a successful swap (unless
 * another host races us: a miscompare re-reads). Reports swaps per
 * second, latency, and device commands per swap from lun_stats.
 */
static int
bench_ats(struct bench *b, double secs, bool json)
{
	uint32_t s = lun_get_info(b->lun)->logical_sector_bytes;
	uint64_t n = 0, races = 0, t0, ios;
	struct lun_stats st;
	struct json_writer w;
	uint8_t *cur, *next;
	int rc = 0;

	if (posix_memalign((void **)&cur, 4096, s) ||
	    posix_memalign((void **)&next, 4096, s))
		return -ENOMEM;
	rc = lun_read(b->lun, b->base, cur, s);
	lun_reset_stats(b->lun);
	t0 = clock_mono_ns();
	b->stop_ns = t0 + (uint64_t)(secs * 1e9);
	while (rc >= 0 && clock_mono_ns() < b->stop_ns) {
		uint64_t start = clock_mono_ns(), count;

		memcpy(&count, cur, sizeof(count));
		count++;
		memcpy(next, cur, s);
		memcpy(next, &count, sizeof(count));
		rc = lun_ats(b->lun, b->base, cur, next, s);
		if (rc == LUN_ATS_MISCOMPARE) {
			races++;
			rc = lun_read(b->lun, b->base, cur, s);
			continue;
		}
		if (rc < 0)
			break;
		memcpy(cur, next, s);
		if (b->nlat < b->caplat)
			b->lat_us[b->nlat++] =
				(uint32_t)((clock_mono_ns() - start) / 1000);
		n++;
	}
	secs = (double)(clock_mono_ns() - t0) / 1e9;
	lun_get_stats(b->lun, &st);
	ios = lun_stats_ios(&st);
	free(cur);
	free(next);
	if (rc < 0) {
		cli_error("ats at %" PRIu64 ": %s", b->base, strerror(-rc));
		return rc;
	}
	qsort(b->lat_us, b->nlat, sizeof(*b->lat_us), cmp_u32);
	if (!json) {
		printf("ats (%s) bs=%u: %.0f swaps/s, latency p50 %u us, p99 %u "
		       "us, %.2f device I/Os per swap (%" PRIu64 " swaps, %"
		       PRIu64 " lost races in %.2f s)\n",
		       lun_ats_method_name(lun_get_info(b->lun)->ats_method), s,
		       (double)n / secs, percentile(b, 0.5),
		       percentile(b, 0.99), n ? (double)ios / (double)n : 0,
		       n, races, secs);
		return 0;
	}
	json_writer_init(&w, stdout);
	json_obj_begin(&w, NULL);
	json_str(&w, "mode", "ats");
	json_str(&w, "method",
		 lun_ats_method_name(lun_get_info(b->lun)->ats_method));
	json_u64(&w, "bs", s);
	json_double(&w, "ops_per_s", (double)n / secs);
	json_u64(&w, "lat_p50_us", percentile(b, 0.5));
	json_u64(&w, "lat_p99_us", percentile(b, 0.99));
	json_double(&w, "ios_per_op", n ? (double)ios / (double)n : 0);
	json_u64(&w, "ops", n);
	json_u64(&w, "lost_races", races);
	json_double(&w, "seconds", secs);
	json_obj_end(&w);
	json_end_document(&w);
	return 0;
}

static int
usage(void)
{
	printf("Usage: vlun bench LUN [--rw randread|randwrite|read|write|ats] "
	       "[--bs SIZE] [--qd N]\n"
	       "                      [--seconds N] [--offset OFF] "
	       "[--span SIZE] [--json]\n\n"
	       "Keeps QD requests of BS bytes in flight for SECONDS over "
	       "[OFF, OFF+SPAN)\n(default: the whole LUN) and reports IOPS, "
	       "MiB/s and latency percentiles.\nWrite modes overwrite data.\n"
	       "--rw ats swaps the sector at OFF with atomic test-and-set, "
	       "one at a time,\nand reports swaps/s, latency and device "
	       "I/Os per swap.\n");
	return 0;
}

static int
parse_args(int argc, char **argv, struct bench *b, double *secs, bool *json)
{
	static const struct option opts[] = {
		{ "rw", required_argument, NULL, 'r' },
		{ "bs", required_argument, NULL, 'b' },
		{ "qd", required_argument, NULL, 'q' },
		{ "seconds", required_argument, NULL, 's' },
		{ "offset", required_argument, NULL, 'o' },
		{ "span", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t v;
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "r:b:q:s:o:S:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			for (i = 0; i < ARRAY_SIZE(mode_names); i++)
				if (!strcmp(optarg, mode_names[i]))
					break;
			if (i == ARRAY_SIZE(mode_names))
				return cli_usage_error("bad --rw '%s'", optarg);
			b->mode = (enum bench_mode)i;
			break;
		case 'b':
			if (cli_parse_size(optarg, &b->bs) < 0 || !b->bs)
				return cli_usage_error("bad --bs '%s'", optarg);
			break;
		case 'q':
			if (cli_parse_u64(optarg, 1, 1024, &v) < 0)
				return cli_usage_error("bad --qd '%s'", optarg);
			b->qd = (unsigned int)v;
			break;
		case 's':
			if (cli_parse_u64(optarg, 1, 3600, &v) < 0)
				return cli_usage_error("bad --seconds '%s'",
						       optarg);
			*secs = (double)v;
			break;
		case 'o':
			if (cli_parse_size(optarg, &b->base) < 0)
				return cli_usage_error("bad --offset '%s'",
						       optarg);
			break;
		case 'S':
			if (cli_parse_size(optarg, &b->span) < 0)
				return cli_usage_error("bad --span '%s'", optarg);
			break;
		case 'j':
			*json = true;
			break;
		case 'h':
			return usage(), -1;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("bench takes one LUN");
	return 0;
}

int
vlun_cmd_bench(int argc, char **argv)
{
	struct bench b = { .bs = 4096, .qd = 32, .rng = 0x1234567 };
	struct lun_config cfg = { 0 };
	double secs = 5;
	bool json = false;
	uint64_t t0;
	int err;

	err = parse_args(argc, argv, &b, &secs, &json);
	if (err)
		return err < 0 ? 0 : err;
	cfg.queue_depth = b.qd;
	cfg.read_only = b.mode == RANDREAD || b.mode == SEQREAD;
	err = lun_open(argv[optind], &cfg, &b.lun);
	if (err < 0) {
		cli_error("%s: %s", argv[optind], strerror(-err));
		return CLI_EXIT_FAIL;
	}
	if (!b.span)
		b.span = lun_get_info(b.lun)->size_bytes - b.base;
	if (b.bs % lun_get_info(b.lun)->logical_sector_bytes ||
	    b.span < b.bs || b.base % b.bs ||
	    b.base + b.span > lun_get_info(b.lun)->size_bytes) {
		lun_close(b.lun);
		return cli_usage_error("block size, offset and span do not fit "
				       "the LUN");
	}
	err = setup(&b);
	if (err < 0) {
		cli_error("%s", strerror(-err));
		return CLI_EXIT_FAIL;
	}
	if (b.mode == ATS) {
		err = bench_ats(&b, secs, json);
		for (unsigned int i = 0; i < b.qd; i++)
			free(b.slots[i].buf);
		free(b.slots);
		free(b.lat_us);
		lun_close(b.lun);
		return err < 0 ? CLI_EXIT_FAIL : 0;
	}
	t0 = clock_mono_ns();
	b.stop_ns = t0 + (uint64_t)(secs * 1e9);
	for (unsigned int i = 0; i < b.qd; i++)
		issue(&b, &b.slots[i]);
	while (b.active > 0) {
		err = lun_poll(b.lun, 1, -1);
		if (err < 0)
			break;
	}
	secs = (double)(clock_mono_ns() - t0) / 1e9;
	qsort(b.lat_us, b.nlat, sizeof(*b.lat_us), cmp_u32);
	if (b.errors || err < 0)
		cli_error("%" PRIu64 " I/O errors", b.errors);
	else
		report(&b, secs, json);
	for (unsigned int i = 0; i < b.qd; i++)
		free(b.slots[i].buf);
	free(b.slots);
	free(b.lat_us);
	lun_close(b.lun);
	return b.errors || err < 0 ? CLI_EXIT_FAIL : 0;
}
