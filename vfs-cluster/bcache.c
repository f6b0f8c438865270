/* SPDX-License-Identifier: MIT */
/*
 * The metadata cache: inode bodies, pointer, directory and cluster-header
 * blocks read under a lock this session holds. An item is trusted only
 * while its covering lock is held; lock.c drops a lock's items when it
 * lets go of the lock (after the journal checkpoint wrote them home).
 * Changes are made in place; journal.c keeps pre-images for the open op.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vfs-cluster/vfs-internal.h"

#define BC_BUCKETS 4096

static unsigned int
bucket(uint64_t off)
{
	return (unsigned int)((off >> 9) * 0x9e3779b97f4a7c15ull >> 52) %
	       BC_BUCKETS;
}

struct mitem *
bc_find(struct vfs *vfs, uint64_t off)
{
	struct bcache *bc = &vfs->bc;

	if (!bc->hash)
		return NULL;
	for (struct mitem *it = bc->hash[bucket(off)]; it; it = it->hnext)
		if (it->off == off)
			return it;
	return NULL;
}

static int
insert(struct vfs *vfs, uint64_t off, uint32_t len, struct vlock *lock,
       struct mitem **out)
{
	struct bcache *bc = &vfs->bc;
	struct mitem *it;

	if (!bc->hash) {
		bc->hash = calloc(BC_BUCKETS, sizeof(*bc->hash));
		if (!bc->hash)
			return -ENOMEM;
		bc->nbuckets = BC_BUCKETS;
	}
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->buf = vfs_alloc_buf(len);
	if (!it->buf) {
		free(it);
		return -ENOMEM;
	}
	it->off = off;
	it->len = len;
	it->lock = lock;
	it->hnext = bc->hash[bucket(off)];
	bc->hash[bucket(off)] = it;
	bc->count++;
	*out = it;
	return 0;
}

static void
remove_item(struct vfs *vfs, struct mitem *it)
{
	struct mitem **pp = &vfs->bc.hash[bucket(it->off)];

	while (*pp != it)
		pp = &(*pp)->hnext;
	*pp = it->hnext;
	vfs->bc.count--;
	free(it->undo);
	free(it->buf);
	free(it);
}

int
bc_get(struct vfs *vfs, uint64_t off, uint32_t len, struct vlock *lock,
       struct mitem **out)
{
	struct mitem *it = bc_find(vfs, off);
	int rc;

	if (it) {
		if (it->len != len)
			return -EUCLEAN;
		if (lock)
			it->lock = lock;
		*out = it;
		return 0;
	}
	rc = insert(vfs, off, len, lock, &it);
	if (rc < 0)
		return rc;
	rc = vfs_io_read(vfs, vfs->lun, off, it->buf, len);
	if (rc < 0) {
		remove_item(vfs, it);
		return rc;
	}
	*out = it;
	return 0;
}

int
bc_new(struct vfs *vfs, uint64_t off, uint32_t len, struct vlock *lock,
       struct mitem **out)
{
	struct mitem *it = bc_find(vfs, off);
	int rc;

	if (it) {
		if (it->len != len)
			return -EUCLEAN;
		it->lock = lock;
		*out = it;
		return 0;
	}
	rc = insert(vfs, off, len, lock, &it);
	if (rc < 0)
		return rc;
	memset(it->buf, 0, len);
	it->fresh = true;
	it->checked = true;
	*out = it;
	return 0;
}

void
bc_forget(struct vfs *vfs, struct mitem *it)
{
	remove_item(vfs, it);
}

void
bc_drop_lock(struct vfs *vfs, struct vlock *lock)
{
	struct bcache *bc = &vfs->bc;

	if (!bc->hash)
		return;
	for (unsigned int b = 0; b < bc->nbuckets; b++) {
		struct mitem *it = bc->hash[b], *next;

		for (; it; it = next) {
			next = it->hnext;
			if (it->lock == lock && !it->in_group && !it->undo)
				remove_item(vfs, it);
		}
	}
}

void
bc_fini(struct vfs *vfs)
{
	struct bcache *bc = &vfs->bc;

	if (!bc->hash)
		return;
	for (unsigned int b = 0; b < bc->nbuckets; b++)
		while (bc->hash[b])
			remove_item(vfs, bc->hash[b]);
	free(bc->hash);
	bc->hash = NULL;
}

int
bc_read_any(struct vfs *vfs, uint64_t off, void *buf, uint32_t len)
{
	struct mitem *it = bc_find(vfs, off);
	uint8_t *tmp;
	int rc;

	if (it && it->len == len) {
		memcpy(buf, it->buf, len);
		/* Changed by the open op: its checksum is not yet updated. */
		if (it->undo)
			item_seal(buf);
		return 0;
	}
	tmp = vfs_alloc_buf(len);
	if (!tmp)
		return -ENOMEM;
	rc = vfs_io_read(vfs, vfs->lun, off, tmp, len);
	if (rc == 0)
		memcpy(buf, tmp, len);
	free(tmp);
	return rc;
}
