/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for everything that reads a whole datastore: a small
 * valid one (two directories, files of each allocation type, a journal
 * with records in it) is damaged by the input, a list of patches
 * {le32 offset within the metadata area, u8 length, bytes}, and then
 * fsck and a read-only session (stat, readdir, open, read) go over it.
 * Nothing may crash, hang or read out of bounds, whatever the bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "vfs-cluster/vfs-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LUN_BYTES (16u << 20)

static uint8_t *image;        /* the pristine datastore */
static uint64_t meta_bytes;   /* bytes up to the data area */
static struct lun *lun;       /* the one the tests damage */

static void
build(void)
{
	const struct vfs_mkfs_opts mo = { .block_bytes = 64 << 10,
					  .journal_bytes = 256 << 10,
					  .journals = 4 };
	struct vfs_mount_opts o = { .flags = VFS_MOUNT_MANUAL_HEARTBEAT };
	struct vfs_geom g;
	struct vfs_file *f;
	struct vfs *vfs;
	char name[32];

	if (lun_open("mem:fuzz?size=16M", NULL, &lun) < 0 ||
	    vfs_mkfs_lun(lun, &mo) < 0 || vfs_mount_lun(lun, &o, &vfs) < 0)
		abort();
	if (vfs_mkdir(vfs, "/vm") < 0 || vfs_mkdir(vfs, "/vm/sub") < 0)
		abort();
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "/vm/disk%d", i);
		int rc = vfs_file_create(vfs, name, &(struct vfs_create_opts){
					    (uint64_t)(i + 1) << 17,
					    (enum vfs_alloc)i }, 0, &f);

		if (rc < 0) {
			fprintf(stderr, "create %s: %s\n", name, strerror(-rc));
			abort();
		}
		if (vfs_file_pwrite(f, name, strlen(name), 70000) < 0)
			abort();
		vfs_file_close(f);
	}
	/* Crash with the journal full of records. */
	vfs_abandon(vfs);
	/* The dead session's reservation stands: register to write. */
	if (lun_pr_register(lun, 0x5eed) < 0)
		abort();
	if (vfs_read_volume(lun, &g) < 0)
		abort();
	meta_bytes = g.data_off;
	image = malloc(LUN_BYTES);
	if (!image || vfs_io_read_long(lun, 0, image, LUN_BYTES) < 0)
		abort();
}


static int
walk(struct vfs *vfs, const char *path, int depth)
{
	struct vfs_dirent e;
	struct vfs_dir *d;
	struct vfs_stat st;
	char child[600];

	if (depth > 8 || vfs_dir_open(vfs, path, &d) < 0)
		return 0;
	while (vfs_dir_next(d, &e) == 1) {
		snprintf(child, sizeof(child), "%s/%s",
			 strcmp(path, "/") ? path : "", e.name);
		if (vfs_stat(vfs, child, &st) < 0)
			continue;
		if (st.type == VFS_TYPE_DIR) {
			walk(vfs, child, depth + 1);
		} else {
			struct vfs_file *f;
			char buf[256];

			if (vfs_file_open(vfs, child, 0, &f) == 0) {
				(void)!vfs_file_pread(f, buf, sizeof(buf),
						      65536);
				vfs_file_close(f);
			}
		}
	}
	vfs_dir_close(d);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vfs_mount_opts o = { .flags = VFS_MOUNT_INSPECT };
	struct vfs_fsck_report rep;
	struct vfs *vfs;
	size_t pos = 0;

	/* Built on first use: the corpus replay driver has no init hook. */
	if (!image) {
		log_set_level(LOG_LVL_ERR);
		build();
	}
	for (uint64_t at = 0; at < meta_bytes; at += 4 << 20)
		if (lun_write(lun, at, image + at, MIN(meta_bytes - at, 4u << 20),
			      0) < 0)
			abort();
	/* Patches land in a writable copy of the metadata area. */
	while (pos + 5 <= size) {
		uint32_t off, len;
		uint8_t sec[4096] __attribute__((aligned(4096)));
		uint64_t at;

		memcpy(&off, data + pos, 4);
		len = data[pos + 4];
		pos += 5;
		if (len > size - pos)
			len = (uint32_t)(size - pos);
		at = off % meta_bytes;
		if (at + len > meta_bytes)
			len = (uint32_t)(meta_bytes - at);
		if (lun_read(lun, ALIGN_DOWN(at, 4096), sec, 4096) < 0)
			abort();
		memcpy(sec + (at % 4096), data + pos,
		       MIN(len, 4096 - (uint32_t)(at % 4096)));
		if (lun_write(lun, ALIGN_DOWN(at, 4096), sec, 4096, 0) < 0)
			abort();
		pos += len;
	}
	(void)!vfs_fsck_lun(lun, 0, &rep, NULL, NULL);
	if (vfs_mount_lun(lun, &o, &vfs) == 0) {
		walk(vfs, "/", 0);
		(void)!vfs_unmount(vfs);
	}
	return 0;
}
