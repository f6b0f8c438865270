/* SPDX-License-Identifier: MIT */
/*
 * Tests for delta.c: tables survive commit and reopen, packed allocation,
 * the dirty flag after an unclean stop, header copies, corruption found.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshot/delta.h"
#include "tests/lib/testutil.h"
#include "vdisk/vdisk-provider.h"

#define CAP (256ull << 20)

static struct vdisk_store *st;
static char dir[512];

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
test_roundtrip(void)
{
	struct delta *d;
	uint64_t seed = 42, slot, grains[3000];
	unsigned int n = 3000;

	CHECK_OK(delta_create(st, "a-delta.vmdk", CAP, NULL));
	CHECK_EQ(delta_create(st, "a-delta.vmdk", CAP, NULL), -EEXIST);
	CHECK_OK(delta_open(st, "a-delta.vmdk", DELTA_OPEN_WRITE, &d));
	for (unsigned int i = 0; i < n; i++) {
		grains[i] = rnd(&seed) % delta_ngrains(d);
		CHECK_OK(delta_alloc(d, 1, &slot));
		CHECK_OK(delta_set(d, grains[i], DELTA_DATA, slot));
	}
	CHECK_OK(delta_set(d, 7, DELTA_ZERO, 0));
	CHECK(delta_dirty(d));
	CHECK_OK(delta_commit_sync(d));
	CHECK(!delta_dirty(d));
	CHECK_OK(delta_close(d));

	CHECK_OK(delta_open(st, "a-delta.vmdk", 0, &d));
	for (unsigned int i = 0; i < n; i++)
		CHECK_EQ(delta_gte_kind(delta_get(d, grains[i])),
			 grains[i] == 7 ? DELTA_ZERO : DELTA_DATA);
	CHECK_EQ(delta_gte_kind(delta_get(d, 7)), DELTA_ZERO);
	{
		char err[200];

		CHECK_OK(delta_verify(d, err, sizeof(err)));
	}
	/* Packed: data plus at most a page per grain, never 1 MiB each. */
	CHECK(delta_alloc_end(d) - delta_header(d)->data_start <=
	      (uint64_t)n * 4096 + (uint64_t)n * 512 + 4096);
	delta_close(d);
}

static void
test_unclean(void)
{
	struct delta *d;
	uint64_t slot, end;

	CHECK_OK(delta_create(st, "b-delta.vmdk", CAP, NULL));
	CHECK_OK(delta_open(st, "b-delta.vmdk", DELTA_OPEN_WRITE, &d));
	CHECK_OK(delta_alloc(d, 4, &slot));
	for (unsigned int i = 0; i < 4; i++)
		CHECK_OK(delta_set(d, 100 + i, DELTA_DATA, slot + i));
	CHECK_OK(delta_commit_sync(d));
	/* Changes after the last commit, then a "crash". */
	CHECK_OK(delta_alloc(d, 2, &slot));
	CHECK_OK(delta_set(d, 5000, DELTA_DATA, slot));
	end = delta_alloc_end(d);
	delta_abandon(d);

	CHECK_OK(delta_open(st, "b-delta.vmdk", 0, &d));
	CHECK(delta_header(d)->flags & DELTA_FLAG_DIRTY);
	CHECK_EQ(delta_gte_kind(delta_get(d, 100)), DELTA_DATA);
	CHECK_EQ(delta_get(d, 5000), 0);
	/* Recomputed from the tables: never past what was handed out. */
	CHECK(delta_alloc_end(d) <= end);
	CHECK(delta_alloc_end(d) >= (delta_gte_slot(delta_get(d, 103)) + 1) *
				      4096);
	delta_close(d);
	CHECK_OK(delta_open(st, "b-delta.vmdk", DELTA_OPEN_WRITE, &d));
	CHECK_OK(delta_close(d));
	CHECK_OK(delta_open(st, "b-delta.vmdk", 0, &d));
	CHECK(!(delta_header(d)->flags & DELTA_FLAG_DIRTY));
	delta_close(d);
}

static void
flip(const char *name, uint64_t off)
{
	char path[700];
	unsigned char b;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK(pread(fd, &b, 1, (off_t)off) == 1);
	b ^= 0x10;
	CHECK(pwrite(fd, &b, 1, (off_t)off) == 1);
	close(fd);
}

static void
test_corruption(void)
{
	struct delta *d;
	uint64_t slot, sector;

	CHECK_OK(delta_create(st, "c-delta.vmdk", CAP, NULL));
	CHECK_OK(delta_open(st, "c-delta.vmdk", DELTA_OPEN_WRITE, &d));
	CHECK_OK(delta_alloc(d, 1, &slot));
	CHECK_OK(delta_set(d, 64 * 3 + 5, DELTA_DATA, slot));
	CHECK_OK(delta_close(d));
	/* The newer header copy (0: create 0, open 1, close 0) torn: the
	 * older one still opens. */
	flip("c-delta.vmdk", 40);
	CHECK_OK(delta_open(st, "c-delta.vmdk", 0, &d));
	CHECK_EQ(delta_gte_kind(delta_get(d, 64 * 3 + 5)), DELTA_DATA);
	delta_close(d);
	/* A flipped bit in the GT page is found. The GT page is the first
	 * page of the meta block right after the grain. */
	sector = (slot + 1) * 8;
	flip("c-delta.vmdk", sector * 512 + 5 * 8 + 2);
	CHECK_EQ(delta_open(st, "c-delta.vmdk", 0, &d), -EUCLEAN);
	CHECK(strstr(vdisk_last_error(), "corrupt"));
	/* Both header copies bad: not a delta. */
	flip("c-delta.vmdk", 4096 + 3);
	CHECK_EQ(delta_open(st, "c-delta.vmdk", 0, &d), -EUCLEAN);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "%s", test_tmpdir());
	CHECK_OK(vdisk_store_local_open(dir, &st));
	RUN_TEST(test_roundtrip);
	RUN_TEST(test_unclean);
	RUN_TEST(test_corruption);
	vdisk_store_close(st);
	test_tmpdir_remove();
	return 0;
}
