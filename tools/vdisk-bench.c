/* SPDX-License-Identifier: MIT */
/*
 * vdisk bench: drives the I/O engine on a disk (or, with --raw, on a
 * plain file through the same engine) with a fixed pattern and queue
 * depth, and prints IOPS and MiB/s. tests/bench/bench-vdisk uses it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/json.h"
#include "tools/vdisk-tool.h"

enum pattern { RANDWRITE, RANDREAD, STRIDE_WRITE, SEQWRITE, SEQREAD };

struct bench_args {
	bool json, raw;
	enum pattern pat;
	bool have_pat;
	uint64_t bs, qd, count, stride, seed;
};

struct bench {
	struct bench_args *a;
	struct vdisk_queue *q;
	uint64_t cap, issued, completed, next_off, rng;
	int err;
};

struct slot {
	struct vdisk_io io;
	struct bench *b;
	void *buf;
};

static int
bench_opt(int opt, const char *arg, void *priv)
{
	struct bench_args *a = priv;

	switch (opt) {
	case 'j': a->json = true; return 0;
	case 'R': a->raw = true; return 0;
	case 'b': return vdisk_tool_size(arg, &a->bs);
	case 'S': return vdisk_tool_size(arg, &a->stride);
	case 'q':
		if (cli_parse_u64(arg, 1, 1024, &a->qd) < 0)
			return cli_usage_error("bad --qd"), -1;
		return 0;
	case 'c':
		if (cli_parse_u64(arg, 1, UINT64_MAX, &a->count) < 0)
			return cli_usage_error("bad --count"), -1;
		return 0;
	case 's':
		return cli_parse_u64(arg, 0, UINT64_MAX, &a->seed) < 0 ? -1 : 0;
	case 'p':
		a->have_pat = true;
		if (!strcmp(arg, "randwrite")) a->pat = RANDWRITE;
		else if (!strcmp(arg, "randread")) a->pat = RANDREAD;
		else if (!strcmp(arg, "stride-write")) a->pat = STRIDE_WRITE;
		else if (!strcmp(arg, "seqwrite")) a->pat = SEQWRITE;
		else if (!strcmp(arg, "seqread")) a->pat = SEQREAD;
		else return cli_usage_error("bad pattern '%s'", arg), -1;
		return 0;
	}
	return -1;
}

static uint64_t
next_rand(uint64_t *s)
{
	/* xorshift64*: cheap and good enough to scatter offsets. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static uint64_t
next_offset(struct bench *b)
{
	uint64_t bs = b->a->bs, off;

	switch (b->a->pat) {
	case RANDWRITE:
	case RANDREAD:
		return (next_rand(&b->rng) % (b->cap / bs)) * bs;
	case STRIDE_WRITE:
		off = b->next_off;
		b->next_off += b->a->stride;
		if (b->next_off + bs > b->cap)
			b->next_off = 0;
		return off;
	default:
		off = b->next_off;
		b->next_off += bs;
		if (b->next_off + bs > b->cap)
			b->next_off = 0;
		return off;
	}
}

static void submit_one(struct slot *s);

static void
slot_done(struct vdisk_io *io)
{
	struct slot *s = io->priv;
	struct bench *b = s->b;

	if (io->result < 0 && !b->err)
		b->err = (int)io->result;
	b->completed++;
	if (b->issued < b->a->count && !b->err)
		submit_one(s);
}

static void
submit_one(struct slot *s)
{
	struct bench *b = s->b;
	uint64_t off = next_offset(b);
	bool rd = b->a->pat == RANDREAD || b->a->pat == SEQREAD;
	int rc;

	if (rd)
		vdisk_io_prep_read(&s->io, off, s->buf, b->a->bs);
	else
		vdisk_io_prep_write(&s->io, off, s->buf, b->a->bs, 0);
	s->io.done = slot_done;
	s->io.priv = s;
	rc = vdisk_submit(b->q, &s->io);
	if (rc < 0) {
		b->err = rc;
		return;
	}
	b->issued++;
}

static int
run(struct bench *b, struct slot *slots, double *secs)
{
	uint64_t t0 = clock_mono_ns();

	for (uint64_t i = 0; i < b->a->qd && b->issued < b->a->count; i++)
		submit_one(&slots[i]);
	while (b->completed < b->issued && !b->err) {
		int rc = vdisk_poll(b->q, 1, -1);

		if (rc < 0)
			return rc;
	}
	while (vdisk_inflight(b->q))
		vdisk_poll(b->q, vdisk_inflight(b->q), -1);
	*secs = (double)(clock_mono_ns() - t0) / 1e9;
	return b->err;
}

int
vdisk_cmd_bench(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "raw", no_argument, NULL, 'R' },
		{ "pattern", required_argument, NULL, 'p' },
		{ "bs", required_argument, NULL, 'b' },
		{ "qd", required_argument, NULL, 'q' },
		{ "count", required_argument, NULL, 'c' },
		{ "stride", required_argument, NULL, 'S' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct bench_args a = { .bs = 4096, .qd = 32, .count = 100000,
				.stride = 65536, .seed = 1 };
	struct bench b = { .a = &a };
	struct slot *slots = NULL;
	struct vdisk *disk;
	double secs = 0;
	int rc, i;

	i = vdisk_tool_getopt(vdisk_tool_cmd("bench"), argc, argv, lo,
			      bench_opt, &a, 1, 1, &rc);
	if (i < 0)
		return rc;
	if (!a.have_pat)
		return cli_usage_error("bench: --pattern is required");
	if (a.bs == 0 || a.bs % 512 || a.bs > (64u << 20) || a.stride % 512)
		return cli_usage_error("bench: --bs and --stride must be "
				       "multiples of 512");
	rc = vdisk_open(argv[i], a.raw ? VDISK_OPEN_RAW : 0, &disk);
	if (rc < 0)
		return vdisk_tool_fail(argv[i], rc);
	b.cap = vdisk_capacity(disk);
	b.rng = a.seed * 0x9e3779b97f4a7c15ull + 1;
	if (b.cap < a.bs) {
		rc = -EINVAL;
		goto out;
	}
	rc = vdisk_queue_create(disk, (unsigned int)a.qd, &b.q);
	if (rc < 0)
		goto out;
	slots = calloc(a.qd, sizeof(*slots));
	if (!slots) {
		rc = -ENOMEM;
		goto out_q;
	}
	for (uint64_t k = 0; k < a.qd; k++) {
		slots[k].b = &b;
		if (posix_memalign(&slots[k].buf, 4096, a.bs)) {
			rc = -ENOMEM;
			goto out_slots;
		}
		/* Non-zero data, so nothing can short-cut zero writes. */
		memset(slots[k].buf, 0x5a + (int)k, a.bs);
	}
	rc = run(&b, slots, &secs);
	if (rc == 0) {
		double iops = (double)b.completed / secs;
		double mibps = iops * (double)a.bs / (1 << 20);

		if (a.json)
			printf("{\"ios\":%" PRIu64 ",\"seconds\":%.6f,"
			       "\"iops\":%.1f,\"mib_per_s\":%.2f}\n",
			       b.completed, secs, iops, mibps);
		else
			printf("%" PRIu64 " I/Os in %.3f s: %.0f IOPS, "
			       "%.1f MiB/s\n", b.completed, secs, iops, mibps);
	}
out_slots:
	for (uint64_t k = 0; k < a.qd; k++)
		free(slots[k].buf);
	free(slots);
out_q:
	vdisk_queue_destroy(b.q);
out:
	vdisk_close(disk);
	return rc < 0 ? vdisk_tool_fail(argv[i], rc) : CLI_EXIT_OK;
}
