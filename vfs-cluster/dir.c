/* SPDX-License-Identifier: MIT */
/*
 * Directories: the leaves of a directory inode's block map are directory
 * blocks (mblocks) numbered 0..blocks-1, each holding packed entries
 * {ino, generation, type, name}. Directories hold one VM's files, so a
 * linear scan is the right structure; the last block is freed when it
 * empties. Changes need the directory's lock; listings and lookups may
 * also read without it (a possibly older but checksummed view).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "vfs-cluster/vfs-internal.h"

#define DIR_SPACE (VFS_MBLOCK - 32)

static int
block_get(struct vfs *vfs, struct inode_ref *dir, uint64_t lblk,
	  struct mitem **out)
{
	uint64_t e, m;
	int rc = bmap_get(vfs, dir, lblk, &e);

	if (rc < 0)
		return rc;
	m = e & OD_MAP_BLOCK_MASK;
	if (!(e & OD_MAP_PRESENT) || !vfs_mblock_valid(&vfs->g, m))
		return -EUCLEAN;
	rc = bc_get(vfs, vfs_mblock_off(&vfs->g, m), VFS_MBLOCK, dir->lock,
		    out);
	if (rc == 0 && !(*out)->checked)
		rc = od_dirblk_check((struct od_dirblk *)(*out)->buf, m,
				     dir->ino, &vfs->g);
	if (rc == 0)
		(*out)->checked = true;
	if (rc < 0)
		log_err(VFS_LOG, "directory %llu: block %llu is corrupt",
			(unsigned long long)dir->ino, (unsigned long long)m);
	return rc;
}

/* Finds 'name' in a checked block: its byte position, or -1. */
static int
find_in(const struct od_dirblk *d, const char *name, size_t len)
{
	uint32_t used = le16(d->used), pos = 0;

	while (pos < used) {
		const struct od_dirent *e =
			(const struct od_dirent *)(d->data + pos);

		if (e->name_len == len &&
		    memcmp(e + 1, name, len) == 0)
			return (int)pos;
		pos += le16(e->rec_len);
	}
	return -1;
}

static void
hit_from(const struct od_dirent *e, struct dir_hit *out)
{
	out->ino = le64(e->ino);
	out->generation = le32(e->generation);
	out->type = e->type;
}

int
dir_lookup(struct vfs *vfs, struct inode_ref *dir, const char *name,
	   size_t len, struct dir_hit *out)
{
	uint64_t n = le64(inode_body(dir)->blocks);

	for (uint64_t b = 0; b < n; b++) {
		struct mitem *it;
		struct od_dirblk *d;
		int pos, rc = block_get(vfs, dir, b, &it);

		if (rc < 0)
			return rc;
		d = (struct od_dirblk *)it->buf;
		pos = find_in(d, name, len);
		if (pos >= 0) {
			hit_from((const struct od_dirent *)(d->data + pos),
				 out);
			return 0;
		}
	}
	return -ENOENT;
}

static void
touch(struct od_inode *body)
{
	body->mtime_ns = to_le64(clock_wall_ns());
}

int
dir_add(struct vfs *vfs, struct inode_ref *dir, const char *name, size_t len,
	const struct dir_hit *ent)
{
	struct od_inode *body = inode_body(dir);
	uint64_t n = le64(body->blocks), b;
	uint16_t rec = od_dirent_len((unsigned int)len);
	struct od_dirent *e;
	struct od_dirblk *d = NULL;
	struct mitem *it = NULL;
	int rc;

	if (!od_name_valid(name, len))
		return len > VFS_NAME_MAX ? -ENAMETOOLONG : -EINVAL;
	for (b = 0; b < n; b++) {
		rc = block_get(vfs, dir, b, &it);
		if (rc < 0)
			return rc;
		d = (struct od_dirblk *)it->buf;
		if (DIR_SPACE - le16(d->used) >= rec)
			break;
	}
	if (b == n) {
		uint64_t m;

		rc = alloc_mblock(vfs, MBLOCK_BLOCK, &m);
		if (rc < 0)
			return rc;
		rc = bc_new(vfs, vfs_mblock_off(&vfs->g, m), VFS_MBLOCK,
			    dir->lock, &it);
		if (rc == 0)
			rc = tx_dirty(vfs, it);
		if (rc == 0)
			rc = bmap_set(vfs, dir, n, OD_MAP_PRESENT | m);
		if (rc == 0)
			rc = inode_dirty(vfs, dir);
		if (rc < 0)
			return rc;
		d = (struct od_dirblk *)it->buf;
		memset(d, 0, sizeof(*d));
		d->magic = to_le32(VFS_DIR_MAGIC);
		d->self = to_le64(m);
		d->owner = to_le64(dir->ino);
		body->blocks = to_le64(n + 1);
	}
	rc = tx_dirty(vfs, it);
	if (rc == 0)
		rc = inode_dirty(vfs, dir);
	if (rc < 0)
		return rc;
	e = (struct od_dirent *)(d->data + le16(d->used));
	memset(e, 0, rec);
	e->ino = to_le64(ent->ino);
	e->generation = to_le32(ent->generation);
	e->type = ent->type;
	e->name_len = (uint8_t)len;
	e->rec_len = to_le16(rec);
	memcpy(e + 1, name, len);
	d->used = to_le16((uint16_t)(le16(d->used) + rec));
	d->nentries = to_le16((uint16_t)(le16(d->nentries) + 1));
	body->nentries = to_le32(le32(body->nentries) + 1);
	touch(body);
	return 0;
}

int
dir_remove(struct vfs *vfs, struct inode_ref *dir, const char *name,
	   size_t len)
{
	struct od_inode *body = inode_body(dir);
	uint64_t n = le64(body->blocks);

	for (uint64_t b = 0; b < n; b++) {
		struct mitem *it;
		struct od_dirblk *d;
		struct od_dirent *e;
		uint16_t rec, used;
		int pos, rc = block_get(vfs, dir, b, &it);

		if (rc < 0)
			return rc;
		d = (struct od_dirblk *)it->buf;
		pos = find_in(d, name, len);
		if (pos < 0)
			continue;
		rc = tx_dirty(vfs, it);
		if (rc == 0)
			rc = inode_dirty(vfs, dir);
		if (rc < 0)
			return rc;
		e = (struct od_dirent *)(d->data + pos);
		rec = le16(e->rec_len);
		used = le16(d->used);
		memmove(d->data + pos, d->data + pos + rec,
			used - (uint32_t)pos - rec);
		memset(d->data + used - rec, 0, rec);
		d->used = to_le16((uint16_t)(used - rec));
		d->nentries = to_le16((uint16_t)(le16(d->nentries) - 1));
		body->nentries = to_le32(le32(body->nentries) - 1);
		touch(body);
		/* Give back trailing empty blocks. */
		while (n > 0) {
			rc = block_get(vfs, dir, n - 1, &it);
			if (rc < 0)
				return rc;
			if (((struct od_dirblk *)it->buf)->used)
				break;
			rc = bmap_truncate(vfs, dir, n - 1, true);
			if (rc < 0)
				return rc;
			n--;
		}
		return 0;
	}
	return -ENOENT;
}

int
dir_list_unlocked(struct vfs *vfs, uint64_t ino,
		  int (*fn)(void *arg, const char *name, size_t len,
			    const struct dir_hit *ent),
		  void *arg)
{
	struct od_inode *body = vfs_alloc_buf(sizeof(*body));
	struct od_dirblk *d = vfs_alloc_buf(VFS_MBLOCK);
	int rc;

	if (!body || !d) {
		rc = -ENOMEM;
		goto out;
	}
	rc = inode_read_unlocked(vfs, ino, body);
	if (rc < 0)
		goto out;
	if (le16(body->type) != OD_INODE_DIR) {
		rc = le16(body->type) == OD_INODE_FREE ? -ENOENT : -ENOTDIR;
		goto out;
	}
	for (uint64_t b = 0; b < le64(body->blocks); b++) {
		uint64_t e, m;
		uint32_t pos = 0;

		rc = bmap_get_ro(vfs, body, b, &e);
		if (rc < 0)
			goto out;
		m = e & OD_MAP_BLOCK_MASK;
		if (!(e & OD_MAP_PRESENT) || !vfs_mblock_valid(&vfs->g, m)) {
			rc = -EUCLEAN;
			goto out;
		}
		rc = bc_read_any(vfs, vfs_mblock_off(&vfs->g, m), d,
				 VFS_MBLOCK);
		if (rc == 0)
			rc = od_dirblk_check(d, m, ino, &vfs->g);
		if (rc < 0)
			goto out;
		while (pos < le16(d->used)) {
			const struct od_dirent *ent =
				(const struct od_dirent *)(d->data + pos);
			struct dir_hit hit;

			hit_from(ent, &hit);
			rc = fn(arg, (const char *)(ent + 1), ent->name_len,
				&hit);
			if (rc)
				goto out;
			pos += le16(ent->rec_len);
		}
	}
out:
	free(body);
	free(d);
	return rc;
}

struct find_arg {
	const char *name;
	size_t len;
	struct dir_hit *out;
};

static int
find_cb(void *arg, const char *name, size_t len, const struct dir_hit *ent)
{
	struct find_arg *a = arg;

	if (len != a->len || memcmp(name, a->name, len) != 0)
		return 0;
	*a->out = *ent;
	return 1;
}

int
dir_lookup_unlocked(struct vfs *vfs, uint64_t dir_ino, const char *name,
		    size_t len, struct dir_hit *out)
{
	struct find_arg a = { name, len, out };
	int rc = dir_list_unlocked(vfs, dir_ino, find_cb, &a);

	if (rc < 0)
		return rc;
	return rc == 1 ? 0 : -ENOENT;
}
