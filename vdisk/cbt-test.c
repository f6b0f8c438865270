/* SPDX-License-Identifier: MIT */
/*
 * Tests for cbt.c: changes recorded and persisted across clean closes,
 * epochs, and the rule that an unclean stop makes the map unknown.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/testutil.h"
#include "vdisk/vdisk.h"

static char path[512];

struct ext_list {
	unsigned int n;
	uint64_t off[16], len[16];
};

static int
collect(void *priv, uint64_t off, uint64_t len, unsigned int flags)
{
	struct ext_list *l = priv;

	CHECK(l->n < 16);
	l->off[l->n] = off;
	l->len[l->n++] = len;
	return 0;
}

static void
mk(const char *name, uint64_t size)
{
	struct vdisk_create_opts o = { .capacity_bytes = size, .cbt = true };

	snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
	CHECK_OK(vdisk_create(path, &o));
}

static void
write_at(struct vdisk *d, uint64_t off, size_t len)
{
	char *buf = malloc(len);

	memset(buf, 0x11, len);
	CHECK_OK(vdisk_pwrite(d, buf, len, off));
	free(buf);
}

static void
test_changes_persist(void)
{
	struct ext_list l = { 0 };
	struct vdisk_info in;
	struct vdisk *d;
	uint64_t epoch;

	mk("p.vmdk", 8 << 20);
	CHECK_OK(vdisk_stat(path, &in));
	CHECK(in.cbt_enabled && in.cbt_known);
	epoch = in.cbt_epoch;
	CHECK_OK(vdisk_open(path, 0, &d));
	write_at(d, 4096, 4096);
	write_at(d, (1 << 20) + 65536 - 512, 1024); /* spans two blocks */
	write_at(d, (8 << 20) - 512, 512);
	vdisk_close(d);
	CHECK_OK(vdisk_open(path, VDISK_OPEN_RDONLY, &d));
	CHECK_OK(vdisk_cbt_query(d, epoch, collect, &l));
	CHECK_EQ(l.n, 3);
	CHECK_EQ(l.off[0], 0);
	CHECK_EQ(l.len[0], 65536);
	CHECK_EQ(l.off[1], 1 << 20);
	CHECK_EQ(l.len[1], 2 * 65536);
	CHECK_EQ(l.off[2], (8 << 20) - 65536);
	CHECK_EQ(vdisk_cbt_query(d, epoch + 1, collect, &l), -ESTALE);
	CHECK_EQ(vdisk_cbt_reset(d, &epoch), -EROFS);
	vdisk_close(d);
	/* A full backup resets: new epoch, nothing changed yet. */
	CHECK_OK(vdisk_open(path, 0, &d));
	CHECK_OK(vdisk_cbt_reset(d, &epoch));
	vdisk_close(d);
	CHECK_OK(vdisk_open(path, VDISK_OPEN_RDONLY, &d));
	l.n = 0;
	CHECK_OK(vdisk_cbt_query(d, epoch, collect, &l));
	CHECK_EQ(l.n, 0);
	CHECK_EQ(vdisk_cbt_query(d, epoch - 1, collect, &l), -ESTALE);
	vdisk_close(d);
}

static void
test_unclean_stop_is_unknown(void)
{
	struct ext_list l = { 0 };
	struct vdisk_info in;
	struct vdisk *d;
	uint64_t epoch;
	pid_t pid;
	int st;

	mk("crash.vmdk", 8 << 20);
	CHECK_OK(vdisk_stat(path, &in));
	epoch = in.cbt_epoch;
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct vdisk *cd;

		if (vdisk_open(path, 0, &cd) < 0)
			_exit(1);
		write_at(cd, 0, 4096);
		_exit(0); /* no close: like kill -9 or a host crash */
	}
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_OK(vdisk_stat(path, &in));
	CHECK(!in.cbt_known);
	CHECK_OK(vdisk_open(path, 0, &d));
	/* Neither the old epoch nor the new one can answer. */
	CHECK_EQ(vdisk_cbt_query(d, epoch, collect, &l), -ESTALE);
	CHECK_OK(vdisk_stat(path, &in));
	CHECK_EQ(vdisk_cbt_query(d, in.cbt_epoch, collect, &l), -ESTALE);
	CHECK(in.cbt_epoch > epoch);
	vdisk_close(d);
	/* Closing cleanly does not make an unknown map known. */
	CHECK_OK(vdisk_stat(path, &in));
	CHECK(!in.cbt_known);
	CHECK_OK(vdisk_open(path, 0, &d));
	CHECK_OK(vdisk_cbt_reset(d, &epoch));
	write_at(d, 65536, 512);
	vdisk_close(d);
	CHECK_OK(vdisk_open(path, VDISK_OPEN_RDONLY, &d));
	CHECK_OK(vdisk_cbt_query(d, epoch, collect, &l));
	CHECK_EQ(l.n, 1);
	CHECK_EQ(l.off[0], 65536);
	vdisk_close(d);
}

static void
test_extend_counts_as_change(void)
{
	struct ext_list l = { 0 };
	struct vdisk_info in;
	struct vdisk *d;

	mk("ext.vmdk", 1 << 20);
	CHECK_OK(vdisk_extend(path, 2 << 20, NULL));
	CHECK_OK(vdisk_stat(path, &in));
	CHECK(in.cbt_known);
	CHECK_OK(vdisk_open(path, VDISK_OPEN_RDONLY, &d));
	CHECK_OK(vdisk_cbt_query(d, in.cbt_epoch, collect, &l));
	CHECK_EQ(l.n, 1);
	CHECK_EQ(l.off[0], 1 << 20);
	CHECK_EQ(l.len[0], 1 << 20);
	vdisk_close(d);
}

static void
test_enable_disable(void)
{
	struct vdisk_create_opts o = { .capacity_bytes = 1 << 20 };
	struct ext_list l = { 0 };
	struct vdisk_info in;
	struct vdisk *d;

	snprintf(path, sizeof(path), "%s/noc.vmdk", test_tmpdir());
	CHECK_OK(vdisk_create(path, &o));
	CHECK_OK(vdisk_open(path, 0, &d));
	CHECK_EQ(vdisk_cbt_query(d, 1, collect, &l), -ENODATA);
	vdisk_close(d);
	CHECK_OK(vdisk_cbt_enable(path));
	CHECK_OK(vdisk_stat(path, &in));
	CHECK(in.cbt_enabled && in.cbt_known);
	CHECK_OK(vdisk_cbt_disable(path));
	CHECK_OK(vdisk_stat(path, &in));
	CHECK(!in.cbt_enabled);
}

int
main(void)
{
	RUN_TEST(test_changes_persist);
	RUN_TEST(test_unclean_stop_is_unknown);
	RUN_TEST(test_extend_counts_as_change);
	RUN_TEST(test_enable_disable);
	test_tmpdir_remove();
	return 0;
}
