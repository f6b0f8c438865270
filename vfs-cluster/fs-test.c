/* SPDX-License-Identifier: MIT */
/*
 * Files and directories through the public API on an in-memory LUN:
 * create/open/read/write/truncate/extend/rename/unlink/readdir/stat, the
 * three allocation types, the data path's extents, name limits, ENOSPC,
 * remount persistence and fsck cleanliness after each scenario.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"
#include "common/crc32c.h"
#include "tests/lib/testutil.h"
#include "vfs-cluster/vfs.h"

#define MIB (1ull << 20)
#define crc32c_for_test(buf, len) crc32c(0, buf, len)

static bool
od_is_zero_for_test(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static char uri[64];
static struct lun *keep;   /* keeps the current mem: LUN alive */

static void
fresh(uint64_t size, const struct vfs_mkfs_opts *o)
{
	static int n;

	lun_close(keep);

	snprintf(uri, sizeof(uri), "mem:fs%d", n++);
	char create[96];

	snprintf(create, sizeof(create), "%s?size=%llu", uri,
		 (unsigned long long)size);
	CHECK_OK(lun_open(create, NULL, &keep));
	CHECK_OK(vfs_mkfs_lun(keep, o));
}

static struct vfs *
mnt(void)
{
	struct vfs *vfs;

	CHECK_OK(vfs_mount(uri, NULL, &vfs));
	return vfs;
}

static void
fsck_clean(void)
{
	struct vfs_fsck_report rep;

	CHECK_EQ(vfs_fsck(uri, 0, &rep, NULL, NULL), VFS_FSCK_CLEAN);
}

static void
test_mkfs_mount(void)
{
	struct vfs_info info;
	struct vfs *vfs;

	fresh(256 * MIB, &(struct vfs_mkfs_opts){ .label = "lab" });
	CHECK_EQ(vfs_mkfs(uri, NULL), -EEXIST);
	vfs = mnt();
	CHECK_OK(vfs_get_info(vfs, &info));
	CHECK(strcmp(info.label, "lab") == 0);
	CHECK_EQ(info.block_bytes, MIB);
	CHECK(info.slots >= 1024);
	CHECK(info.free_blocks == info.data_blocks);
	CHECK(info.slot >= 0);
	CHECK_OK(vfs_unmount(vfs));
	fsck_clean();
}

static void
test_files(void)
{
	struct vfs *vfs;
	struct vfs_file *f;
	struct vfs_stat st;
	uint8_t *buf = malloc(3 * MIB), *back = malloc(3 * MIB);

	fresh(256 * MIB, NULL);
	vfs = mnt();
	CHECK_OK(vfs_mkdir(vfs, "/vm1"));
	CHECK_EQ(vfs_mkdir(vfs, "/vm1"), -EEXIST);
	CHECK_OK(vfs_file_create(vfs, "/vm1/disk", NULL, 0, &f));
	test_pattern_fill(buf, 3 * MIB, 7, 0);
	/* Unaligned write spanning blocks grows the thin file. */
	CHECK_EQ(vfs_file_pwrite(f, buf, 3 * MIB - 1000, 777), 3 * MIB - 1000);
	CHECK_OK(vfs_file_stat(f, &st));
	CHECK_EQ(st.size_bytes, 3 * MIB - 1000 + 777);
	CHECK_EQ(vfs_file_pread(f, back, 3 * MIB, 0), 3 * MIB - 1000 + 777);
	for (int i = 0; i < 777; i++)
		CHECK(back[i] == 0);
	CHECK(memcmp(back + 777, buf, 3 * MIB - 1000) == 0);
	CHECK_OK(vfs_file_sync(f));
	vfs_file_close(f);
	CHECK_OK(vfs_unmount(vfs));
	fsck_clean();

	/* Persistence across a remount. */
	vfs = mnt();
	CHECK_OK(vfs_file_open(vfs, "/vm1/disk", 0, &f));
	memset(back, 0, 3 * MIB);
	CHECK_EQ(vfs_file_pread(f, back + 777, 3 * MIB - 1000, 777),
		 3 * MIB - 1000);
	CHECK(memcmp(back + 777, buf, 3 * MIB - 1000) == 0);
	/* Shrink then grow: the cut-off part reads back as zeros. */
	CHECK_OK(vfs_file_truncate(f, 100000));
	CHECK_OK(vfs_file_truncate(f, 2 * MIB));
	CHECK_EQ(vfs_file_pread(f, back, 2 * MIB, 0), 2 * MIB);
	CHECK(memcmp(back + 777, buf, 100000 - 777) == 0);
	for (uint64_t i = 100000; i < 2 * MIB; i++)
		CHECK(back[i] == 0);
	CHECK_OK(vfs_file_stat(f, &st));
	CHECK_EQ(st.allocated_bytes, MIB);
	vfs_file_close(f);
	CHECK_OK(vfs_unmount(vfs));
	fsck_clean();
	free(buf);
	free(back);
}

/*
 * Small thin files keep their data in the inode: no block, written and
 * read back, shrunk and grown, zeroed, persistent, readable by shared
 * and read-only opens; they move to a block when they outgrow the inode
 * or get mapped, with their data intact.
 */
static void
test_small_files(void)
{
	const uint64_t max = VFS_SMALL_FILE_BYTES;
	uint8_t *buf = malloc(2 * max), *back = malloc(2 * max);
	struct vfs_extent ext[4];
	struct vfs_info info;
	struct vfs_stat st;
	struct vfs_file *f, *g;
	struct vfs *vfs, *ro;
	uint64_t free0;

	fresh(256 * MIB, NULL);
	vfs = mnt();
	CHECK_OK(vfs_get_info(vfs, &info));
	free0 = info.free_blocks;
	test_pattern_fill(buf, 2 * max, 11, 0);
	CHECK_OK(vfs_file_create(vfs, "/vm.vmx", NULL, 0, &f));
	CHECK_EQ(vfs_file_pwrite(f, buf, 300, 0), 300);
	CHECK_EQ(vfs_file_pwrite(f, buf + 3000, max - 3000, 3000),
		 (int64_t)(max - 3000));
	CHECK_OK(vfs_file_stat(f, &st));
	CHECK_EQ(st.size_bytes, max);
	CHECK_EQ(st.allocated_bytes, 0);
	memset(back, 0xee, max);
	CHECK_EQ(vfs_file_pread(f, back, 2 * max, 0), (int64_t)max);
	CHECK(memcmp(back, buf, 300) == 0);
	CHECK(od_is_zero_for_test(back + 300, 2700));
	CHECK(memcmp(back + 3000, buf + 3000, max - 3000) == 0);
	/* Shrink and grow: what was cut off reads as zeros. */
	CHECK_OK(vfs_file_truncate(f, 100));
	CHECK_OK(vfs_file_truncate(f, 2000));
	CHECK_EQ(vfs_file_pread(f, back, max, 0), 2000);
	CHECK(memcmp(back, buf, 100) == 0);
	CHECK(od_is_zero_for_test(back + 100, 1900));
	CHECK_OK(vfs_file_zero_range(f, 10, 20));
	CHECK_OK(vfs_file_punch(f, 50, 10));
	CHECK_EQ(vfs_file_pread(f, back, 100, 0), 100);
	CHECK(memcmp(back, buf, 10) == 0 && od_is_zero_for_test(back + 10, 20));
	CHECK(memcmp(back + 30, buf + 30, 20) == 0);
	CHECK(od_is_zero_for_test(back + 50, 10));
	CHECK(memcmp(back + 60, buf + 60, 40) == 0);
	CHECK_OK(vfs_file_sync(f));
	vfs_file_close(f);
	CHECK_OK(vfs_get_info(vfs, &info));
	CHECK_EQ(info.free_blocks, free0);

	/* Outgrowing the inode moves the data to a block. */
	CHECK_OK(vfs_file_create(vfs, "/log", NULL, 0, &f));
	CHECK_EQ(vfs_file_pwrite(f, buf, 1000, 0), 1000);
	CHECK_EQ(vfs_file_pwrite(f, buf + 1000, max, 1000), (int64_t)max);
	CHECK_OK(vfs_file_stat(f, &st));
	CHECK_EQ(st.allocated_bytes, MIB);
	CHECK_EQ(vfs_file_pread(f, back, 2 * max, 0), (int64_t)(max + 1000));
	CHECK(memcmp(back, buf, max + 1000) == 0);
	vfs_file_close(f);
	/* So does a thick allocation. */
	CHECK_OK(vfs_file_create(vfs, "/nvram", NULL, 0, &f));
	CHECK_EQ(vfs_file_pwrite(f, buf, 500, 0), 500);
	CHECK_OK(vfs_file_allocate(f, 0, 500, VFS_ALLOC_LAZY_ZEROED));
	CHECK_OK(vfs_file_stat(f, &st));
	CHECK_EQ(st.allocated_bytes, MIB);
	CHECK_EQ(vfs_file_pread(f, back, max, 0), 500);
	CHECK(memcmp(back, buf, 500) == 0);
	vfs_file_close(f);
	CHECK_OK(vfs_unmount(vfs));
	fsck_clean();

	/* Persistent; shared opens read it but cannot map it; the
	 * exclusive holder's map moves it to a block. */
	vfs = mnt();
	CHECK_OK(vfs_file_open(vfs, "/vm.vmx", VFS_O_SHARED, &g));
	CHECK_EQ(vfs_file_pread(g, back, max, 0), 2000);
	CHECK(memcmp(back, buf, 10) == 0 && od_is_zero_for_test(back + 10, 20));
	CHECK_EQ(vfs_file_map(g, 0, 100, 0, ext, 4), -EOPNOTSUPP);
	CHECK_EQ(vfs_file_pwrite(g, buf, 10, 0), -EROFS);
	vfs_file_close(g);
	CHECK_OK(vfs_mount(uri, &(struct vfs_mount_opts){
				   .flags = VFS_MOUNT_READ_ONLY }, &ro));
	CHECK_OK(vfs_file_open(ro, "/vm.vmx", 0, &g));
	CHECK_EQ(vfs_file_pread(g, back, max, 0), 2000);
	CHECK(memcmp(back + 60, buf + 60, 40) == 0);
	vfs_file_close(g);
	CHECK_OK(vfs_unmount(ro));
	CHECK_OK(vfs_file_open(vfs, "/vm.vmx", 0, &f));
	CHECK_EQ(vfs_file_map(f, 0, 2000, 0, ext, 4), 1);
	CHECK_EQ(ext[0].type, VFS_EXTENT_DATA);
	CHECK_EQ(ext[0].len_bytes, 2000);
	CHECK_OK(vfs_file_stat(f, &st));
	CHECK_EQ(st.allocated_bytes, MIB);
	CHECK_EQ(vfs_file_pread(f, back, max, 0), 2000);
	CHECK(memcmp(back + 60, buf + 60, 40) == 0);
	CHECK(od_is_zero_for_test(back + 100, 1900));
	vfs_file_close(f);
	/* Replacing and removing small files gives nothing back twice. */
	CHECK_OK(vfs_file_create(vfs, "/a", NULL, 0, &f));
	CHECK_EQ(vfs_file_pwrite(f, "small", 5, 0), 5);
	vfs_file_close(f);
	CHECK_OK(vfs_file_create(vfs, "/b", NULL, 0, &f));
	CHECK_EQ(vfs_file_pwrite(f, "other", 5, 0), 5);
	vfs_file_close(f);
	CHECK_OK(vfs_rename(vfs, "/a", "/b", 0));
	CHECK_OK(vfs_file_open(vfs, "/b", 0, &f));
	CHECK_EQ(vfs_file_pread(f, back, 10, 0), 5);
	CHECK(memcmp(back, "small", 5) == 0);
	vfs_file_close(f);
	CHECK_OK(vfs_unlink(vfs, "/b"));
	CHECK_OK(vfs_unlink(vfs, "/vm.vmx"));
	CHECK_OK(vfs_unlink(vfs, "/log"));
	CHECK_OK(vfs_unlink(vfs, "/nvram"));
	CHECK_OK(vfs_get_info(vfs, &info));
	CHECK_EQ(info.free_blocks, free0);
	CHECK_OK(vfs_unmount(vfs));
	fsck_clean();
	free(buf);
	free(back);
}

/*
 * Small files against a model: random writes, truncates, punches and
 * zeroings around the inline limit (so files move to blocks, shrink and
 * grow again), a remount now and then; every file must always read back
 * exactly as the model says.
 */
#define MODEL_FILES 4
#define MODEL_MAX (3 * VFS_SMALL_FILE_BYTES)

static uint64_t model_rng = 0x9e3779b97f4a7c15ull;

static uint64_t
model_rand(uint64_t n)
{
	model_rng ^= model_rng << 13;
	model_rng ^= model_rng >> 7;
	model_rng ^= model_rng << 17;
	return model_rng % n;
}

static void
test_small_model(void)
{
	static uint8_t model[MODEL_FILES][MODEL_MAX], back[MODEL_MAX + 16];
	static uint8_t data[MODEL_MAX];
	uint64_t size[MODEL_FILES] = { 0 };
	struct vfs_file *f[MODEL_FILES];
	char name[16];
	struct vfs *vfs;

	fresh(256 * MIB, NULL);
	vfs = mnt();
	for (int i = 0; i < MODEL_FILES; i++) {
		snprintf(name, sizeof(name), "/m%d", i);
		CHECK_OK(vfs_file_create(vfs, name, NULL, 0, &f[i]));
	}
	for (int op = 0; op < 1500; op++) {
		int i = (int)model_rand(MODEL_FILES);
		/* Mostly near the inline limit, sometimes anywhere. */
		uint64_t off = model_rand(4) ? model_rand(VFS_SMALL_FILE_BYTES) :
					       model_rand(MODEL_MAX);
		uint64_t len = 1 + model_rand(model_rand(8) ? 600 :
					      MODEL_MAX - off);

		if (off + len > MODEL_MAX)
			len = MODEL_MAX - off;
		switch (model_rand(6)) {
		case 0:
		case 1:
		case 2:
			test_pattern_fill(data, len, (uint64_t)op, 0);
			CHECK_EQ(vfs_file_pwrite(f[i], data, len, off),
				 (int64_t)len);
			memcpy(model[i] + off, data, len);
			size[i] = MAX(size[i], off + len);
			break;
		case 3:
			CHECK_OK(vfs_file_truncate(f[i], off));
			if (off < size[i])
				memset(model[i] + off, 0, size[i] - off);
			size[i] = off;
			break;
		case 4:
			CHECK_OK(vfs_file_punch(f[i], off, len));
			if (off < size[i])
				memset(model[i] + off, 0,
				       MIN(len, size[i] - off));
			break;
		default:
			CHECK_OK(vfs_file_zero_range(f[i], off, len));
			if (off < size[i])
				memset(model[i] + off, 0,
				       MIN(len, size[i] - off));
			break;
		}
		if (op % 250 == 249) {
			for (int k = 0; k < MODEL_FILES; k++)
				vfs_file_close(f[k]);
			CHECK_OK(vfs_unmount(vfs));
			fsck_clean();
			vfs = mnt();
			for (int k = 0; k < MODEL_FILES; k++) {
				snprintf(name, sizeof(name), "/m%d", k);
				CHECK_OK(vfs_file_open(vfs, name, 0, &f[k]));
			}
		}
		for (int k = 0; k < MODEL_FILES; k++) {
			CHECK_EQ(vfs_file_pread(f[k], back, sizeof(back), 0),
				 (int64_t)size[k]);
			CHECK(memcmp(back, model[k], size[k]) == 0);
		}
	}
	for (int k = 0; k < MODEL_FILES; k++)
		vfs_file_close(f[k]);
	CHECK_OK(vfs_unmount(vfs));
	fsck_clean();
}

static void
test_alloc_types(void)
{
	struct vfs_create_opts lazy = { 8 * MIB, VFS_ALLOC_LAZY_ZEROED };
	struct vfs_create_opts eager = { 8 * MIB, VFS_ALLOC_EAGER_ZEROED };
	struct vfs_extent ext[8];
	struct vfs_file *f;
	struct vfs_stat st;
	struct vfs *vfs;
	uint8_t buf[4096];
	int n;

	fresh(256 * MIB, NULL);
	vfs = mnt();
	CHECK_OK(vfs_file_create(vfs, "/thin", &(struct vfs_create_opts){
					 8 * MIB, VFS_ALLOC_THIN }, 0, &f));
	CHECK_OK(vfs_file_stat(f, &st));
	CHECK_EQ(st.allocated_bytes, 0);
	n = vfs_file_map(f, 0, 8 * MIB, 0, ext, 8);
	CHECK_EQ(n, 1);
	CHECK_EQ(ext[0].type, VFS_EXTENT_HOLE);
	/* A first write allocates and says so. */
	n = vfs_file_map(f, MIB, 4096, VFS_MAP_WRITE, ext, 8);
	CHECK_EQ(n, 1);
	CHECK_EQ(ext[0].type, VFS_EXTENT_DATA);
	CHECK(ext[0].flags & VFS_EXTENT_NEW);
	CHECK_OK(vfs_file_commit(f));
	n = vfs_file_map(f, MIB, 4096, VFS_MAP_WRITE, ext, 8);
	CHECK_EQ(n, 1);
	CHECK(!(ext[0].flags & VFS_EXTENT_NEW));
	vfs_file_close(f);

	CHECK_OK(vfs_file_create(vfs, "/lazy", &lazy, 0, &f));
	CHECK_OK(vfs_file_stat(f, &st));
	CHECK_EQ(st.allocated_bytes, 8 * MIB);
	n = vfs_file_map(f, 0, 8 * MIB, 0, ext, 8);
	CHECK_EQ(ext[0].type, VFS_EXTENT_ZERO);
	memset(buf, 0xaa, sizeof(buf));
	CHECK_EQ(vfs_file_pwrite(f, buf, sizeof(buf), 5000), sizeof(buf));
	CHECK_EQ(vfs_file_pread(f, buf, sizeof(buf), 0), sizeof(buf));
	for (int i = 0; i < 5000 && i < 4096; i++)
		CHECK(buf[i] == 0);
	vfs_file_close(f);

	CHECK_OK(vfs_file_create(vfs, "/eager", &eager, 0, &f));
	n = vfs_file_map(f, 0, 8 * MIB, 0, ext, 8);
	CHECK(n >= 1);
	CHECK_EQ(ext[0].type, VFS_EXTENT_DATA);
	vfs_file_close(f);
	CHECK_OK(vfs_unmount(vfs));
	fsck_clean();
}

static int
count_dir(struct vfs *vfs, const char *path)
{
	struct vfs_dir *d;
	struct vfs_dirent e;
	int n = 0;

	CHECK_OK(vfs_dir_open(vfs, path, &d));
	while (vfs_dir_next(d, &e) == 1)
		n++;
	vfs_dir_close(d);
	return n;
}

static void
test_namespace(void)
{
	char name[300];
	struct vfs_stat st;
	struct vfs *vfs;

	fresh(256 * MIB, NULL);
	vfs = mnt();
	CHECK_OK(vfs_mkdir(vfs, "/a"));
	CHECK_OK(vfs_mkdir(vfs, "/a/b"));
	CHECK_OK(vfs_file_create(vfs, "/a/b/f", NULL, 0, NULL));
	CHECK_EQ(vfs_file_create(vfs, "/a/b/f/x", NULL, 0, NULL), -ENOTDIR);
	CHECK_EQ(vfs_mkdir(vfs, "/nope/x"), -ENOENT);
	CHECK_EQ(vfs_rmdir(vfs, "/a"), -ENOTEMPTY);
	CHECK_EQ(vfs_unlink(vfs, "/a"), -EISDIR);
	CHECK_EQ(vfs_rename(vfs, "/a", "/a/b/c", 0), -EINVAL);
	/* 255-byte names work, 256 do not. */
	memset(name, 'n', sizeof(name));
	name[0] = '/';
	name[256] = '\0';
	CHECK_OK(vfs_file_create(vfs, name, NULL, 0, NULL));
	name[257] = '\0';
	name[256] = 'n';
	CHECK_EQ(vfs_file_create(vfs, name, NULL, 0, NULL), -ENAMETOOLONG);
	/* Many entries spill over several directory blocks. */
	for (int i = 0; i < 300; i++) {
		char p[64];

		snprintf(p, sizeof(p), "/a/file-with-a-longish-name-%04d", i);
		CHECK_OK(vfs_file_create(vfs, p, NULL, 0, NULL));
	}
	CHECK_EQ(count_dir(vfs, "/a"), 301);
	CHECK_OK(vfs_rename(vfs, "/a/b/f", "/g", 0));
	CHECK_OK(vfs_stat(vfs, "/g", &st));
	CHECK_EQ(st.type, VFS_TYPE_FILE);
	CHECK_OK(vfs_rename(vfs, "/a/b", "/b2", 0));
	CHECK_OK(vfs_rename(vfs, "/g", "/b2/g", 0));
	CHECK_OK(vfs_file_create(vfs, "/h", NULL, 0, NULL));
	CHECK_EQ(vfs_rename(vfs, "/h", "/b2/g", VFS_RENAME_NOREPLACE),
		 -EEXIST);
	CHECK_OK(vfs_rename(vfs, "/h", "/b2/g", 0));
	CHECK_EQ(count_dir(vfs, "/b2"), 1);
	for (int i = 0; i < 300; i++) {
		char p[64];

		snprintf(p, sizeof(p), "/a/file-with-a-longish-name-%04d", i);
		CHECK_OK(vfs_unlink(vfs, p));
	}
	CHECK_EQ(count_dir(vfs, "/a"), 0);
	CHECK_OK(vfs_rmdir(vfs, "/a"));
	CHECK_OK(vfs_stat(vfs, "/", &st));
	CHECK_EQ(st.nentries, 2);
	CHECK_OK(vfs_unmount(vfs));
	fsck_clean();
}

static void
test_enospc(void)
{
	struct vfs_file *f;
	struct vfs *vfs;
	struct vfs_info info;
	uint8_t *buf = calloc(1, MIB);
	int64_t n = 0;
	uint64_t off = 0;

	fresh(96 * MIB, NULL);
	vfs = mnt();
	CHECK_OK(vfs_get_info(vfs, &info));
	CHECK_OK(vfs_file_create(vfs, "/fill", NULL, 0, &f));
	while ((n = vfs_file_pwrite(f, buf, MIB, off)) > 0)
		off += MIB;
	CHECK_EQ(n, -ENOSPC);
	CHECK_OK(vfs_file_sync(f));
	vfs_file_close(f);
	/* Metadata still works on a full datastore. */
	CHECK_OK(vfs_mkdir(vfs, "/still"));
	CHECK_OK(vfs_file_create(vfs, "/still/empty", NULL, 0, NULL));
	CHECK_EQ(vfs_file_create(vfs, "/thick", &(struct vfs_create_opts){
					 4 * MIB, VFS_ALLOC_LAZY_ZEROED },
				 0, NULL), -ENOSPC);
	CHECK_OK(vfs_get_info(vfs, &info));
	CHECK_EQ(info.free_blocks, 0);
	CHECK_OK(vfs_unlink(vfs, "/fill"));
	CHECK_OK(vfs_get_info(vfs, &info));
	CHECK_EQ(info.free_blocks, info.data_blocks);
	CHECK_OK(vfs_unmount(vfs));
	fsck_clean();
	free(buf);
}

/*
 * A file spanning every cluster, freed on a datastore whose journal
 * cannot hold all the cluster headers in one record: the free must run
 * as several transactions rather than fail (or stop the session), both
 * when the file is unlinked and when a rename replaces it (the name then
 * moves to the new file in the first of them).
 */
static void
big_free(bool by_rename)
{
	const struct vfs_mkfs_opts o = { .block_bytes = 64 << 10,
					  .journal_bytes = 256 << 10,
					  .journals = 4 };
	struct vfs_info info;
	struct vfs_file *f;
	struct vfs *vfs;
	uint64_t n, *order, free0;
	char buf[8];

	fresh(256 * MIB, &o);
	vfs = mnt();
	CHECK_OK(vfs_file_create(vfs, "/new", NULL, 0, &f));
	CHECK_EQ(vfs_file_pwrite(f, "new", 3, 0), 3);
	vfs_file_close(f);
	CHECK_OK(vfs_get_info(vfs, &info));
	free0 = info.free_blocks;
	n = info.data_blocks * 9 / 10;
	order = malloc(n * sizeof(*order));
	for (uint64_t i = 0; i < n; i++)
		order[i] = i;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t k = (i * 2654435761u) % (i + 1), t = order[i];

		order[i] = order[k];
		order[k] = t;
	}
	CHECK_OK(vfs_file_create(vfs, "/big", NULL, 0, &f));
	for (uint64_t i = 0; i < n; i++)
		CHECK_EQ(vfs_file_pwrite(f, "x", 1, order[i] * (64 << 10)), 1);
	CHECK_OK(vfs_file_sync(f));
	vfs_file_close(f);
	CHECK_OK(vfs_get_info(vfs, &info));
	CHECK_EQ(info.free_blocks, free0 - n);
	if (by_rename) {
		CHECK_OK(vfs_rename(vfs, "/new", "/big", 0));
		CHECK_OK(vfs_file_open(vfs, "/big", 0, &f));
		CHECK_EQ(vfs_file_pread(f, buf, sizeof(buf), 0), 3);
		CHECK(memcmp(buf, "new", 3) == 0);
		vfs_file_close(f);
	} else {
		CHECK_OK(vfs_unlink(vfs, "/big"));
	}
	CHECK_OK(vfs_get_info(vfs, &info));
	CHECK_EQ(info.free_blocks, free0);
	CHECK_OK(vfs_unmount(vfs));
	fsck_clean();
	free(order);
}

static void
test_big_unlink(void)
{
	big_free(false);
}

static void
test_big_replace(void)
{
	big_free(true);
}

static uint64_t
allocated(struct vfs_file *f)
{
	struct vfs_stat st;

	CHECK_OK(vfs_file_stat(f, &st));
	return st.allocated_bytes;
}

/* [off, off+len) holds zeros where 'zlo'..'zhi' says, the pattern else. */
static void
check_pattern_except(struct vfs_file *f, uint64_t len, uint64_t zlo,
		     uint64_t zhi, uint64_t seed)
{
	uint8_t *buf = malloc(len), *want = malloc(len);

	CHECK(buf && want);
	test_pattern_fill(want, len, seed, 0);
	memset(want + zlo, 0, zhi - zlo);
	CHECK_EQ(vfs_file_pread(f, buf, len, 0), len);
	CHECK(memcmp(buf, want, len) == 0);
	free(buf);
	free(want);
}

static void
write_pattern(struct vfs_file *f, uint64_t len, uint64_t seed)
{
	uint8_t *buf = malloc(len);

	CHECK(buf);
	test_pattern_fill(buf, len, seed, 0);
	CHECK_EQ(vfs_file_pwrite(f, buf, len, 0), len);
	CHECK_OK(vfs_file_sync(f));
	free(buf);
}

static void
test_punch(void)
{
	const struct vfs_mkfs_opts o = { .block_bytes = 64 << 10 };
	const uint64_t bs = 64 << 10, len = 4 * MIB;
	const uint64_t off = 100000, end = off + MIB;
	struct vfs_extent ext[8];
	struct vfs_file *f, *g;
	struct vfs *vfs;
	uint8_t buf[4096];

	fresh(256 * MIB, &o);
	vfs = mnt();
	/* Thin: whole blocks go back, the edges are zeroed. */
	CHECK_OK(vfs_file_create(vfs, "/thin", NULL, 0, &f));
	write_pattern(f, len, 1);
	CHECK_EQ(allocated(f), len);
	CHECK_OK(vfs_file_punch(f, off, MIB));
	CHECK_EQ(allocated(f), len - (end / bs - DIV_ROUND_UP(off, bs)) * bs);
	check_pattern_except(f, len, off, end, 1);
	CHECK_EQ(vfs_file_map(f, 2 * bs, 3 * bs, 0, ext, 8), 1);
	CHECK_EQ(ext[0].type, VFS_EXTENT_HOLE);
	/* Inside one block: zeros written, nothing freed. */
	CHECK_OK(vfs_file_punch(f, 3 * MIB + 10, 1000));
	check_pattern_except(f, 3 * MIB, off, end, 1);
	CHECK_EQ(vfs_file_pread(f, buf, 1000, 3 * MIB + 10), 1000);
	CHECK(od_is_zero_for_test(buf, 1000));
	/* Past the end is clamped; to the end frees the last block too. */
	CHECK_OK(vfs_file_punch(f, len - 100, 10 * MIB));
	CHECK_EQ(vfs_file_stat(f, &(struct vfs_stat){ 0 }), 0);
	CHECK_OK(vfs_file_punch(f, 0, UINT64_MAX));
	CHECK_EQ(allocated(f), 0);
	vfs_file_close(f);

	/* Zero-range keeps a thin file's blocks, flagged to-be-zeroed. */
	CHECK_OK(vfs_file_create(vfs, "/keep", NULL, 0, &f));
	write_pattern(f, len, 2);
	CHECK_OK(vfs_file_zero_range(f, 0, MIB));
	CHECK_EQ(allocated(f), len);
	check_pattern_except(f, len, 0, MIB, 2);
	CHECK_EQ(vfs_file_map(f, 0, MIB, 0, ext, 8), 1);
	CHECK_EQ(ext[0].type, VFS_EXTENT_ZERO);
	/* A partial write into such a block zeroes the rest of it. */
	memset(buf, 0x77, sizeof(buf));
	CHECK_EQ(vfs_file_pwrite(f, buf, sizeof(buf), bs + 512), sizeof(buf));
	CHECK_EQ(vfs_file_pread(f, buf, 512, bs), 512);
	CHECK(od_is_zero_for_test(buf, 512));
	vfs_file_close(f);

	/* Thick files keep their blocks whatever the call. */
	for (int k = 0; k < 2; k++) {
		struct vfs_create_opts co = { len, k ? VFS_ALLOC_EAGER_ZEROED :
						       VFS_ALLOC_LAZY_ZEROED };

		CHECK_OK(vfs_file_create(vfs, k ? "/eager" : "/lazy", &co, 0,
					 &f));
		write_pattern(f, len, 3);
		CHECK_OK(vfs_file_punch(f, off, MIB));
		CHECK_EQ(allocated(f), len);
		check_pattern_except(f, len, off, end, 3);
		vfs_file_close(f);
	}
	/* Needs the exclusive lock. */
	CHECK_OK(vfs_file_open(vfs, "/lazy", VFS_O_SHARED, &g));
	CHECK_EQ(vfs_file_punch(g, 0, bs), -EROFS);
	vfs_file_close(g);
	CHECK_OK(vfs_unmount(vfs));
	fsck_clean();
	/* Durable: what a new session reads. */
	vfs = mnt();
	CHECK_OK(vfs_file_open(vfs, "/eager", VFS_O_SHARED, &f));
	check_pattern_except(f, len, off, end, 3);
	vfs_file_close(f);
	CHECK_OK(vfs_unmount(vfs));
}

/* A punch over thousands of scattered blocks runs in bounded steps. */
static void
test_big_punch(void)
{
	const struct vfs_mkfs_opts o = { .block_bytes = 64 << 10,
					  .journal_bytes = 128 << 10,
					  .journals = 4 };
	struct vfs_info info;
	struct vfs_file *f;
	struct vfs *vfs;
	uint64_t n = 3000;

	fresh(512 * MIB, &o);
	vfs = mnt();
	CHECK_OK(vfs_file_create(vfs, "/big", NULL, 0, &f));
	/* Every other block, so the free runs are all short. */
	for (uint64_t i = 0; i < n; i++)
		CHECK_EQ(vfs_file_pwrite(f, "x", 1, 2 * i * (64 << 10)), 1);
	CHECK_OK(vfs_file_sync(f));
	CHECK_OK(vfs_get_info(vfs, &info));
	CHECK_EQ(info.free_blocks, info.data_blocks - n);
	CHECK_OK(vfs_file_punch(f, 0, UINT64_MAX));
	CHECK_OK(vfs_get_info(vfs, &info));
	CHECK_EQ(info.free_blocks, info.data_blocks);
	CHECK_EQ(allocated(f), 0);
	vfs_file_close(f);
	CHECK_OK(vfs_unmount(vfs));
	fsck_clean();
}

/* Overwrites 'len' bytes at 'off' of the current LUN. */
static void
poke(uint64_t off, const void *data, size_t len)
{
	uint8_t *buf = aligned_alloc(4096, 4096);

	/* Under the datastore's fencing reservation only registrants
	 * write. */
	CHECK_OK(lun_pr_register(keep, 0x7e57));
	CHECK_OK(lun_read(keep, ALIGN_DOWN(off, 512), buf, 512));
	memcpy(buf + (off % 512), data, len);
	CHECK_OK(lun_write(keep, ALIGN_DOWN(off, 512), buf, 512, 0));
	free(buf);
}

static void
test_fsck_finds_damage(void)
{
	struct vfs_fsck_report rep;
	struct vfs_stat st;
	struct vfs_info info;
	struct vfs *vfs;
	struct vfs_file *f;
	uint8_t junk[64];
	uint64_t meta_off;

	fresh(256 * MIB, NULL);
	vfs = mnt();
	CHECK_OK(vfs_mkdir(vfs, "/d"));
	CHECK_OK(vfs_file_create(vfs, "/d/f", &(struct vfs_create_opts){
					 2 * MIB, VFS_ALLOC_EAGER_ZEROED },
				 0, &f));
	vfs_file_close(f);
	CHECK_OK(vfs_stat(vfs, "/d/f", &st));
	CHECK_OK(vfs_get_info(vfs, &info));
	CHECK_OK(vfs_unmount(vfs));
	fsck_clean();
	meta_off = 0;
	{
		/* The pool's first mblock is meta cluster 0's header; the
		 * volume header tells where the pool starts. */
		uint8_t *hdr = aligned_alloc(4096, 4096);

		CHECK_OK(lun_read(keep, 0, hdr, 512));
		memcpy(&meta_off, hdr + 208, 8);
		free(hdr);
	}
	/* A scribbled disk-paxos ballot block: repairable (zeroed). */
	memset(junk, 0x5c, sizeof(junk));
	poke((256 << 10) + 3 * 512 + 100, junk, 16);
	CHECK_EQ(vfs_fsck(uri, 0, &rep, NULL, NULL), VFS_FSCK_REPAIRABLE);
	CHECK_EQ(vfs_fsck(uri, VFS_FSCK_REPAIR, &rep, NULL, NULL),
		 VFS_FSCK_REPAIRABLE);
	fsck_clean();
	/* A damaged primary volume header: repairable from the backup. */
	memset(junk, 0x5a, sizeof(junk));
	poke(40, junk, 16);
	CHECK_EQ(vfs_fsck(uri, 0, &rep, NULL, NULL), VFS_FSCK_REPAIRABLE);
	CHECK_EQ(vfs_fsck(uri, VFS_FSCK_REPAIR, &rep, NULL, NULL),
		 VFS_FSCK_REPAIRABLE);
	fsck_clean();
	/* A leaked block: a bit set that nothing uses (meta cluster 0,
	 * bitmap bit 100). The header crc is recomputed by hand. */
	{
		uint8_t *mb = aligned_alloc(4096, 4096);
		uint32_t crc;

		CHECK_OK(lun_read(keep, meta_off, mb, 4096));
		mb[512 + 64 + 100 / 8] |= 1u << (100 % 8);
		{
			uint32_t nfree;

			memcpy(&nfree, mb + 512 + 20, 4);
			nfree--;
			memcpy(mb + 512 + 20, &nfree, 4);
		}
		memset(mb + 512 + 4, 0, 4);
		crc = crc32c_for_test(mb + 512, 3584);
		memcpy(mb + 512 + 4, &crc, 4);
		CHECK_OK(lun_write(keep, meta_off, mb, 4096, 0));
		free(mb);
	}
	CHECK_EQ(vfs_fsck(uri, 0, &rep, NULL, NULL), VFS_FSCK_REPAIRABLE);
	CHECK_EQ(rep.unrepairable, 0);
	CHECK_EQ(vfs_fsck(uri, VFS_FSCK_REPAIR, &rep, NULL, NULL),
		 VFS_FSCK_REPAIRABLE);
	fsck_clean();
	/* A scribbled inode body: corrupt, not repairable. */
	poke(meta_off + st.ino * 4096 + 512 + 40, junk, 8);
	CHECK_EQ(vfs_fsck(uri, 0, &rep, NULL, NULL), VFS_FSCK_CORRUPT);
	CHECK(rep.unrepairable > 0);
	/* And the session refuses to use it rather than trust it. */
	vfs = mnt();
	CHECK_EQ(vfs_file_open(vfs, "/d/f", 0, &f), -EUCLEAN);
	CHECK_OK(vfs_unmount(vfs));
	/* Not a datastore at all. */
	memset(junk, 0, sizeof(junk));
	poke(0, junk, 16);
	poke(64 * 1024, junk, 16);
	CHECK_EQ(vfs_fsck(uri, 0, &rep, NULL, NULL), -EMEDIUMTYPE);
	CHECK_EQ(vfs_mount(uri, NULL, &vfs), -EMEDIUMTYPE);
}

int
main(void)
{
	RUN_TEST(test_mkfs_mount);
	RUN_TEST(test_files);
	RUN_TEST(test_small_files);
	RUN_TEST(test_small_model);
	RUN_TEST(test_alloc_types);
	RUN_TEST(test_namespace);
	RUN_TEST(test_enospc);
	RUN_TEST(test_big_unlink);
	RUN_TEST(test_big_replace);
	RUN_TEST(test_punch);
	RUN_TEST(test_big_punch);
	RUN_TEST(test_fsck_finds_damage);
	lun_close(keep);
	return 0;
}
