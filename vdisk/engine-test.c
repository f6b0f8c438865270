/* SPDX-License-Identifier: MIT */
/*
 * Tests for engine.c on the local store: many requests in flight with
 * patterns checked afterwards, discard and write-zeroes by disk type,
 * validation errors, flush, and the completion eventfd.
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "tests/lib/testutil.h"
#include "vdisk/vdisk.h"

#define BS 4096
#define N 512
#define DEPTH 64

static char path[512];

static struct vdisk *
mkopen(const char *name, uint64_t size, enum vdisk_type type)
{
	struct vdisk_create_opts o = { .capacity_bytes = size, .type = type };
	struct vdisk *d;

	snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
	CHECK_OK(vdisk_create(path, &o));
	CHECK_OK(vdisk_open(path, 0, &d));
	return d;
}

struct req {
	struct vdisk_io io;
	int *done;
	int *errors;
};

static void
on_done(struct vdisk_io *io)
{
	struct req *r = io->priv;

	if (io->result < 0 || (io->op <= VDISK_OP_WRITE &&
			       (uint64_t)io->result != io->len_bytes))
		(*r->errors)++;
	(*r->done)++;
}

static void
run_all(struct vdisk_queue *q, struct req *reqs, int n)
{
	int submitted = 0;

	while (submitted < n) {
		int rc = vdisk_submit(q, &reqs[submitted].io);

		if (rc == -EAGAIN) {
			CHECK(vdisk_poll(q, 1, -1) >= 0);
			continue;
		}
		CHECK_OK(rc);
		submitted++;
	}
	while (vdisk_inflight(q))
		CHECK(vdisk_poll(q, vdisk_inflight(q), -1) >= 0);
}

static void
test_many_in_flight(void)
{
	struct vdisk *d = mkopen("inflight.vmdk", N * BS * 2, VDISK_THIN);
	static struct req reqs[N];
	struct vdisk_queue *q;
	char *bufs;
	int done = 0, errors = 0;

	CHECK_OK(vdisk_queue_create(d, DEPTH, &q));
	CHECK_OK(posix_memalign((void **)&bufs, 4096, (size_t)N * BS));
	/* Writes to every other block, in a scattered order. */
	for (int i = 0; i < N; i++) {
		uint64_t blk = ((uint64_t)i * 7919) % N * 2;

		test_pattern_fill(bufs + (size_t)i * BS, BS, 3, blk * BS);
		vdisk_io_prep_write(&reqs[i].io, blk * BS,
				    bufs + (size_t)i * BS, BS, 0);
		reqs[i].io.done = on_done;
		reqs[i].io.priv = &reqs[i];
		reqs[i].done = &done;
		reqs[i].errors = &errors;
	}
	run_all(q, reqs, N);
	CHECK_EQ(done, N);
	CHECK_EQ(errors, 0);
	/* Flush, then read everything back through the engine. */
	vdisk_io_prep_flush(&reqs[0].io);
	reqs[0].io.done = on_done;
	run_all(q, reqs, 1);
	memset(bufs, 0, (size_t)N * BS);
	done = 0;
	for (int i = 0; i < N; i++) {
		vdisk_io_prep_read(&reqs[i].io, (uint64_t)i * 2 * BS,
				   bufs + (size_t)i * BS, BS);
		reqs[i].io.done = on_done;
	}
	run_all(q, reqs, N);
	CHECK_EQ(errors, 0);
	for (int i = 0; i < N; i++)
		CHECK(test_pattern_check(bufs + (size_t)i * BS, BS, 3,
					 (uint64_t)i * 2 * BS));
	free(bufs);
	vdisk_queue_destroy(q);
	vdisk_close(d);
}

static uint64_t
allocated(void)
{
	struct vdisk_info in;

	CHECK_OK(vdisk_stat(path, &in));
	return in.allocated_bytes;
}

static void
one(struct vdisk_queue *q, struct vdisk_io *io)
{
	int done = 0, errors = 0;
	struct req r = { .done = &done, .errors = &errors };

	r.io = *io;
	r.io.done = on_done;
	r.io.priv = &r;
	run_all(q, &r, 1);
	CHECK_EQ(errors, 0);
}

static void
check_zero(struct vdisk *d, uint64_t off, size_t len)
{
	char *b = malloc(len);

	CHECK_OK(vdisk_pread(d, b, len, off));
	for (size_t i = 0; i < len; i++)
		CHECK(b[i] == 0);
	free(b);
}

static void
test_discard_by_type(void)
{
	struct vdisk_queue *q;
	struct vdisk_io io;
	char *buf;
	struct vdisk *d;
	uint64_t before;

	CHECK_OK(posix_memalign((void **)&buf, 4096, 1 << 20));
	memset(buf, 0xab, 1 << 20);

	/* Thin: discard gives the space back. */
	d = mkopen("dthin.vmdk", 8 << 20, VDISK_THIN);
	CHECK_OK(vdisk_queue_create(d, 8, &q));
	vdisk_io_prep_write(&io, 1 << 20, buf, 1 << 20, VDISK_IO_FUA);
	one(q, &io);
	before = allocated();
	CHECK(before >= (1 << 20));
	vdisk_io_prep_discard(&io, 1 << 20, 1 << 20);
	one(q, &io);
	CHECK(allocated() < before);
	check_zero(d, 1 << 20, 1 << 20);
	/* Write-zeroes without unmap keeps the space. */
	vdisk_io_prep_write(&io, 2 << 20, buf, 1 << 20, 0);
	one(q, &io);
	before = allocated();
	vdisk_io_prep_write_zeroes(&io, 2 << 20, 1 << 20, VDISK_IO_NO_UNMAP);
	one(q, &io);
	CHECK(allocated() >= before);
	check_zero(d, 2 << 20, 1 << 20);
	vdisk_queue_destroy(q);
	vdisk_close(d);

	/* Thick: discard zeroes but keeps the reservation. */
	d = mkopen("dthick.vmdk", 8 << 20, VDISK_EAGERZEROEDTHICK);
	CHECK_OK(vdisk_queue_create(d, 8, &q));
	vdisk_io_prep_write(&io, 0, buf, 1 << 20, 0);
	one(q, &io);
	vdisk_io_prep_discard(&io, 0, 1 << 20);
	one(q, &io);
	check_zero(d, 0, 1 << 20);
	CHECK(allocated() >= (8 << 20));
	vdisk_queue_destroy(q);
	vdisk_close(d);
	free(buf);
}

static void
test_validation(void)
{
	struct vdisk *d = mkopen("val.vmdk", 1 << 20, VDISK_THIN);
	struct vdisk_queue *q;
	struct vdisk_io io;
	char *buf;

	CHECK_OK(posix_memalign((void **)&buf, 4096, 8192));
	CHECK_OK(vdisk_queue_create(d, 4, &q));
	vdisk_io_prep_write(&io, 100, buf, 512, 0);
	io.done = (void (*)(struct vdisk_io *))free;
	CHECK_EQ(vdisk_submit(q, &io), -EINVAL);
	vdisk_io_prep_write(&io, 0, buf + 1, 512, 0);
	io.done = (void (*)(struct vdisk_io *))free;
	CHECK_EQ(vdisk_submit(q, &io), -EINVAL);
	vdisk_io_prep_read(&io, (1 << 20) - 512, buf, 1024);
	io.done = (void (*)(struct vdisk_io *))free;
	CHECK_EQ(vdisk_submit(q, &io), -ERANGE);
	vdisk_io_prep_discard(&io, UINT64_MAX - 511, 512);
	io.done = (void (*)(struct vdisk_io *))free;
	CHECK_EQ(vdisk_submit(q, &io), -ERANGE);
	vdisk_io_prep_read(&io, 0, buf, 512);
	io.done = NULL;
	CHECK_EQ(vdisk_submit(q, &io), -EINVAL);
	CHECK_EQ(vdisk_inflight(q), 0);
	vdisk_queue_destroy(q);
	vdisk_close(d);

	CHECK_OK(vdisk_open(path, VDISK_OPEN_RDONLY, &d));
	CHECK_OK(vdisk_queue_create(d, 4, &q));
	vdisk_io_prep_write(&io, 0, buf, 512, 0);
	io.done = (void (*)(struct vdisk_io *))free;
	CHECK_EQ(vdisk_submit(q, &io), -EROFS);
	vdisk_queue_destroy(q);
	vdisk_close(d);
	free(buf);
}

static void
test_event_fd(void)
{
	struct vdisk *d = mkopen("efd.vmdk", 1 << 20, VDISK_THIN);
	int done = 0, errors = 0;
	struct req r = { .done = &done, .errors = &errors };
	struct vdisk_queue *q;
	struct pollfd pfd;
	char *buf;

	CHECK_OK(posix_memalign((void **)&buf, 4096, 4096));
	CHECK_OK(vdisk_queue_create(d, 4, &q));
	vdisk_io_prep_read(&r.io, 0, buf, 4096);
	r.io.done = on_done;
	r.io.priv = &r;
	CHECK_OK(vdisk_submit(&*q, &r.io));
	CHECK_OK(vdisk_kick(q));
	pfd.fd = vdisk_queue_event_fd(q);
	pfd.events = POLLIN;
	CHECK_EQ(poll(&pfd, 1, 5000), 1);
	CHECK_EQ(vdisk_poll(q, 0, 0), 1);
	CHECK_EQ(done, 1);
	vdisk_queue_destroy(q);
	vdisk_close(d);
	free(buf);
}

int
main(void)
{
	RUN_TEST(test_many_in_flight);
	RUN_TEST(test_discard_by_type);
	RUN_TEST(test_validation);
	RUN_TEST(test_event_fd);
	test_tmpdir_remove();
	return 0;
}
