/* SPDX-License-Identifier: MIT */
/*
 * Tests for disk.c and disk-ops.c: the three types, extend, inflate,
 * clone, rename, remove, check/repair, map and the open lock.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/lib/testutil.h"
#include "vdisk/vdisk.h"

static char path[512], path2[512];

static void
mk(const char *name, uint64_t size, enum vdisk_type type, bool cbt)
{
	struct vdisk_create_opts o = { .capacity_bytes = size, .type = type,
				       .cbt = cbt };

	snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
	CHECK_OK(vdisk_create(path, &o));
}

static void
fill(struct vdisk *d, uint64_t off, size_t len, uint64_t seed)
{
	char *buf = malloc(len);

	test_pattern_fill(buf, len, seed, off);
	CHECK_OK(vdisk_pwrite(d, buf, len, off));
	free(buf);
}

static bool
verify(struct vdisk *d, uint64_t off, size_t len, uint64_t seed)
{
	char *buf = malloc(len);
	bool ok;

	CHECK_OK(vdisk_pread(d, buf, len, off));
	ok = test_pattern_check(buf, len, seed, off);
	free(buf);
	return ok;
}

static bool
is_zero(struct vdisk *d, uint64_t off, size_t len)
{
	char *buf = malloc(len);
	bool z = true;

	CHECK_OK(vdisk_pread(d, buf, len, off));
	for (size_t i = 0; i < len; i++)
		z = z && !buf[i];
	free(buf);
	return z;
}

static void
test_types(void)
{
	struct vdisk_info in;
	struct vdisk_create_opts o = { .capacity_bytes = 1000 };

	mk("thin.vmdk", 64 << 20, VDISK_THIN, false);
	CHECK_OK(vdisk_stat(path, &in));
	CHECK_EQ(in.type, VDISK_THIN);
	CHECK_EQ(in.capacity_bytes, 64 << 20);
	CHECK(in.allocated_bytes < (1 << 20));
	mk("lazy.vmdk", 64 << 20, VDISK_ZEROEDTHICK, false);
	CHECK_OK(vdisk_stat(path, &in));
	CHECK_EQ(in.type, VDISK_ZEROEDTHICK);
	CHECK(in.allocated_bytes >= (64 << 20));
	mk("eager.vmdk", 64 << 20, VDISK_EAGERZEROEDTHICK, false);
	CHECK_OK(vdisk_stat(path, &in));
	CHECK(in.allocated_bytes >= (64 << 20));
	/* Existing name, bad sizes. */
	o.capacity_bytes = 1 << 20;
	CHECK_EQ(vdisk_create(path, &o), -EEXIST);
	snprintf(path2, sizeof(path2), "%s/bad.vmdk", test_tmpdir());
	o.capacity_bytes = 1000;
	CHECK_EQ(vdisk_create(path2, &o), -EINVAL);
	o.capacity_bytes = VDISK_MAX_CAPACITY + 512;
	CHECK_EQ(vdisk_create(path2, &o), -EINVAL);
	CHECK_EQ(vdisk_stat(path2, &in), -ENOENT);
}

static void
test_lock(void)
{
	struct vdisk *a, *b;
	struct vdisk_info in;
	char who[128];

	mk("lock.vmdk", 1 << 20, VDISK_THIN, false);
	CHECK_OK(vdisk_open(path, 0, &a));
	/* A second opener (another open file description) is refused and
	 * told who holds it. */
	CHECK_EQ(vdisk_open(path, 0, &b), -EBUSY);
	CHECK(strstr(vdisk_last_error(), "locked by host"));
	CHECK_EQ(vdisk_open(path, VDISK_OPEN_RDONLY, &b), -EBUSY);
	CHECK(vdisk_lock_holder(path, who, sizeof(who)));
	CHECK(strstr(who, "mode rw"));
	CHECK_OK(vdisk_stat(path, &in));
	CHECK(in.locked);
	CHECK_EQ(vdisk_remove(path), -EBUSY);
	CHECK_EQ(vdisk_extend(path, 2 << 20, NULL), -EBUSY);
	vdisk_close(a);
	CHECK(!vdisk_lock_holder(path, who, sizeof(who)));
	/* Readers share. */
	CHECK_OK(vdisk_open(path, VDISK_OPEN_RDONLY, &a));
	CHECK_OK(vdisk_open(path, VDISK_OPEN_RDONLY, &b));
	CHECK_EQ(vdisk_pwrite(a, "x", 1, 0), -EROFS);
	vdisk_close(a);
	vdisk_close(b);
}

static void
test_lock_other_process(void)
{
	int pfd[2];
	pid_t pid;
	char c;
	struct vdisk *d;
	int st;

	mk("lock2.vmdk", 1 << 20, VDISK_THIN, false);
	CHECK_OK(pipe(pfd));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct vdisk *cd;

		if (vdisk_open(path, 0, &cd) < 0)
			_exit(1);
		(void)!write(pfd[1], "r", 1);
		pause();
		_exit(0);
	}
	CHECK_EQ(read(pfd[0], &c, 1), 1);
	CHECK_EQ(vdisk_open(path, 0, &d), -EBUSY);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	/* The holder died: its OFD lock went with it. */
	CHECK_OK(vdisk_open(path, 0, &d));
	vdisk_close(d);
	close(pfd[0]);
	close(pfd[1]);
}

static void
test_extend_fast(void)
{
	struct vdisk_info in;
	struct vdisk *d;
	uint64_t t0;

	mk("grow.vmdk", 8 << 20, VDISK_THIN, false);
	CHECK_OK(vdisk_open(path, 0, &d));
	fill(d, 4 << 20, 1 << 20, 7);
	vdisk_close(d);
	t0 = clock_mono_ns();
	CHECK_OK(vdisk_extend(path, 8ull << 40, NULL));
	/* Seconds whatever the size: here far less. */
	CHECK(clock_mono_ns() - t0 < 2 * NS_PER_SEC);
	CHECK_OK(vdisk_stat(path, &in));
	CHECK_EQ(in.capacity_bytes, 8ull << 40);
	CHECK_OK(vdisk_open(path, 0, &d));
	CHECK(verify(d, 4 << 20, 1 << 20, 7));
	CHECK(is_zero(d, (8ull << 40) - 65536, 65536));
	vdisk_close(d);
	CHECK_EQ(vdisk_extend(path, 1 << 20, NULL), -EINVAL);
	CHECK_EQ(vdisk_extend(path, (8ull << 40) + 1, NULL), -EINVAL);

	mk("growlazy.vmdk", 8 << 20, VDISK_ZEROEDTHICK, false);
	t0 = clock_mono_ns();
	CHECK_OK(vdisk_extend(path, 8ull << 30, NULL));
	CHECK(clock_mono_ns() - t0 < 5 * NS_PER_SEC);
	CHECK_OK(vdisk_stat(path, &in));
	CHECK(in.allocated_bytes >= (8ull << 30));
}

static void
test_inflate_keeps_data(void)
{
	struct vdisk_info in;
	struct vdisk *d;

	mk("infl.vmdk", 32 << 20, VDISK_THIN, false);
	CHECK_OK(vdisk_open(path, 0, &d));
	fill(d, 1 << 20, 3 << 20, 9);
	vdisk_close(d);
	CHECK_OK(vdisk_inflate(path, NULL));
	CHECK_OK(vdisk_stat(path, &in));
	CHECK_EQ(in.type, VDISK_EAGERZEROEDTHICK);
	CHECK(in.allocated_bytes >= (32 << 20));
	CHECK_OK(vdisk_open(path, VDISK_OPEN_RDONLY, &d));
	CHECK(verify(d, 1 << 20, 3 << 20, 9));
	CHECK(is_zero(d, 0, 1 << 20));
	CHECK(is_zero(d, 4 << 20, 28 << 20));
	vdisk_close(d);
}

static int
count_data(void *priv, uint64_t off, uint64_t len, unsigned int flags)
{
	uint64_t *n = priv;

	if (flags & VDISK_EXTENT_DATA)
		*n += len;
	return 0;
}

static void
test_clone_rename_remove(void)
{
	struct vdisk_info in;
	struct vdisk *d;
	uint64_t data = 0;
	char p3[600];

	mk("src.vmdk", 64 << 20, VDISK_EAGERZEROEDTHICK, false);
	CHECK_OK(vdisk_open(path, 0, &d));
	fill(d, 0, 65536, 1);
	fill(d, 40 << 20, 5 << 20, 2);
	vdisk_close(d);
	snprintf(path2, sizeof(path2), "%s/dst.vmdk", test_tmpdir());
	CHECK_OK(vdisk_clone(path, path2, VDISK_THIN, NULL));
	CHECK_OK(vdisk_stat(path2, &in));
	CHECK_EQ(in.type, VDISK_THIN);
	/* Only the data was written: a thin clone of a thick disk. */
	CHECK(in.allocated_bytes <= (6 << 20) + 65536);
	CHECK_OK(vdisk_open(path2, VDISK_OPEN_RDONLY, &d));
	CHECK(verify(d, 0, 65536, 1));
	CHECK(verify(d, 40 << 20, 5 << 20, 2));
	CHECK(is_zero(d, 65536, (40 << 20) - 65536));
	CHECK_OK(vdisk_map(d, 0, 64 << 20, count_data, &data));
	CHECK_EQ(data, (5 << 20) + 65536);
	vdisk_close(d);
	CHECK_EQ(vdisk_clone(path, path2, VDISK_THIN, NULL), -EEXIST);

	snprintf(p3, sizeof(p3), "%s/moved.vmdk", test_tmpdir());
	CHECK_OK(vdisk_rename(path2, p3));
	CHECK_EQ(vdisk_stat(path2, &in), -ENOENT);
	CHECK_OK(vdisk_open(p3, VDISK_OPEN_RDONLY, &d));
	CHECK(verify(d, 40 << 20, 5 << 20, 2));
	vdisk_close(d);
	CHECK_EQ(vdisk_rename(p3, path), -EEXIST);
	CHECK_OK(vdisk_remove(p3));
	CHECK_EQ(vdisk_stat(p3, &in), -ENOENT);
	snprintf(p3, sizeof(p3), "%s/moved-flat.vmdk", test_tmpdir());
	CHECK(access(p3, F_OK) < 0);
}

static void
test_check_repair(void)
{
	struct vdisk_check_report rep;
	char data[600];
	struct vdisk *d;
	int fd;

	mk("chk.vmdk", 8 << 20, VDISK_THIN, true);
	CHECK_OK(vdisk_check(path, false, &rep));
	CHECK_EQ(rep.errors, 0);
	/* Truncated data file: found, refused at open, repaired. */
	snprintf(data, sizeof(data), "%s/chk-flat.vmdk", test_tmpdir());
	CHECK_OK(truncate(data, 4 << 20));
	CHECK_OK(vdisk_check(path, false, &rep));
	CHECK_EQ(rep.errors, 1);
	CHECK(strstr(rep.first, "capacity"));
	CHECK_EQ(vdisk_open(path, 0, &d), -EUCLEAN);
	CHECK_OK(vdisk_check(path, true, &rep));
	CHECK_EQ(rep.repaired, 1);
	CHECK_OK(vdisk_check(path, false, &rep));
	CHECK_EQ(rep.errors, 0);
	/* Damaged CBT file. */
	snprintf(data, sizeof(data), "%s/chk-ctk.vmdk", test_tmpdir());
	fd = open(data, O_WRONLY);
	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, "garbage!", 8, 0), 8);
	close(fd);
	CHECK_OK(vdisk_check(path, false, &rep));
	CHECK_EQ(rep.errors, 1);
	CHECK_OK(vdisk_check(path, true, &rep));
	CHECK_EQ(rep.repaired, 1);
	CHECK_OK(vdisk_check(path, false, &rep));
	CHECK_EQ(rep.errors, 0);
	/* Nonsense descriptor: a finding, not a crash. */
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK_EQ(write(fd, "RW 1 NONSENSE\n", 14), 14);
	close(fd);
	CHECK_OK(vdisk_check(path, false, &rep));
	CHECK_EQ(rep.errors, 1);
	CHECK_EQ(vdisk_open(path, 0, &d), -EUCLEAN);
	CHECK(strstr(vdisk_last_error(), "bad descriptor"));
	CHECK_OK(vdisk_remove(path));
}

static void
test_unaligned_sync_io(void)
{
	struct vdisk *d;
	char buf[3000], back[3000];

	mk("odd.vmdk", 1 << 20, VDISK_THIN, false);
	CHECK_OK(vdisk_open(path, 0, &d));
	test_pattern_fill(buf, sizeof(buf), 5, 0);
	CHECK_OK(vdisk_pwrite(d, buf, sizeof(buf), 4097));
	CHECK_OK(vdisk_pread(d, back, sizeof(back), 4097));
	CHECK(!memcmp(buf, back, sizeof(buf)));
	CHECK(is_zero(d, 0, 4097));
	CHECK_EQ(vdisk_pwrite(d, buf, 10, (1 << 20) - 5), -ERANGE);
	vdisk_close(d);
}

int
main(void)
{
	RUN_TEST(test_types);
	RUN_TEST(test_lock);
	RUN_TEST(test_lock_other_process);
	RUN_TEST(test_extend_fast);
	RUN_TEST(test_inflate_keeps_data);
	RUN_TEST(test_clone_rename_remove);
	RUN_TEST(test_check_repair);
	RUN_TEST(test_unaligned_sync_io);
	test_tmpdir_remove();
	return 0;
}
