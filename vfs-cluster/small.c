/* SPDX-License-Identifier: MIT */
/*
 * Small files: a thin file of at most OD_INLINE_MAX bytes keeps its data
 * in its inode (the map area), so a VM's .vmx, .nvram or log costs no
 * file block. Its data changes are inode changes: journaled like any
 * metadata, durable at the next commit (vfs_file_sync(), or the group
 * commit), and replayed whole.
 *
 * A file that outgrows the inode, gets provisioned thick, or is mapped
 * for the data path moves to a block once: the data is written to a
 * reserved block and flushed, then one transaction sets the bitmap,
 * points the map at the block and clears the flag. A crash before that
 * commit leaves the inline file as it was and the block free.
 *
 * All of it runs with vfs->mu and vn->mu held.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "vfs-cluster/vfs-internal.h"

/* The body to read from: the locked inode, or the unlocked copy. */
static int
body_of(struct vfs *vfs, struct vnode *vn, struct inode_ref *r,
	struct od_inode **out)
{
	int rc;

	if (!vn->lock) {
		*out = vn->ro_body;
		return 0;
	}
	rc = inode_get(vfs, vn->ino, vn->lock, r);
	if (rc == 0)
		*out = inode_body(r);
	return rc;
}

int
small_read(struct vfs *vfs, struct vnode *vn, uint8_t *buf, uint64_t len,
	   uint64_t off)
{
	struct inode_ref r;
	struct od_inode *b;
	int rc = body_of(vfs, vn, &r, &b);

	if (rc < 0)
		return rc;
	if (!od_inode_inline(b))
		return -EAGAIN; /* moved to a block meanwhile */
	if (off >= le64(b->size))
		return 0;
	len = MIN(len, le64(b->size) - off);
	memcpy(buf, od_inode_data(b) + off, len);
	return (int)len;
}

/* Changes the data in one transaction: 'buf' NULL writes zeros; 'size'
 * is the new size (bytes past it are cleared). */
static int
small_change(struct vfs *vfs, struct vnode *vn, const uint8_t *buf,
	     uint64_t len, uint64_t off, uint64_t size)
{
	struct inode_ref r;
	struct od_inode *b;
	int rc;

	if (off + len > OD_INLINE_MAX || size > OD_INLINE_MAX)
		return -EFBIG;
	tx_begin(vfs);
	rc = inode_get(vfs, vn->ino, vn->lock, &r);
	if (rc == 0 && !od_inode_inline(inode_body(&r)))
		rc = -EAGAIN;
	if (rc == 0)
		rc = inode_dirty(vfs, &r);
	if (rc == 0) {
		b = inode_body(&r);
		if (buf)
			memcpy(od_inode_data(b) + off, buf, len);
		else
			memset(od_inode_data(b) + off, 0, len);
		if (size < OD_INLINE_MAX)
			memset(od_inode_data(b) + size, 0,
			       OD_INLINE_MAX - size);
		b->size = to_le64(size);
		b->mtime_ns = to_le64(clock_wall_ns());
	}
	rc = tx_end(vfs, rc, true);
	if (rc == 0)
		vn->size = size;
	return rc;
}

int
small_write(struct vfs *vfs, struct vnode *vn, const uint8_t *buf,
	    uint64_t len, uint64_t off)
{
	return small_change(vfs, vn, buf, len, off, MAX(vn->size, off + len));
}

int
small_zero(struct vfs *vfs, struct vnode *vn, uint64_t off, uint64_t len)
{
	if (off >= vn->size)
		return 0;
	return small_change(vfs, vn, NULL, MIN(len, vn->size - off), off,
			    vn->size);
}

int
small_resize(struct vfs *vfs, struct vnode *vn, uint64_t size)
{
	return small_change(vfs, vn, NULL, 0, 0, size);
}

int
small_to_block(struct vfs *vfs, struct vnode *vn)
{
	uint64_t bs = vfs->g.block_bytes, size = vn->size, first = 0, len;
	struct vlock *resv = NULL;
	struct inode_ref r;
	struct od_inode *b;
	uint8_t *buf = NULL;
	int rc;

	rc = inode_get(vfs, vn->ino, vn->lock, &r);
	if (rc < 0)
		return rc;
	b = inode_body(&r);
	if (!od_inode_inline(b))
		return 0;
	len = ALIGN_UP(size, VFS_SECTOR);
	if (size) {
		buf = vfs_alloc_buf(len);
		if (!buf)
			return -ENOMEM;
		memset(buf, 0, len);
		memcpy(buf, od_inode_data(b), size);
		rc = alloc_reserve(vfs, UINT64_MAX, 1, &first, &resv);
		if (rc < 0) {
			free(buf);
			return rc;
		}
		/* The whole block: data, then zeros (a grow reads them). */
		pthread_mutex_lock(&vfs->data_mu);
		rc = vfs_io_write(vfs, vfs->data_lun,
				  vfs_block_off(&vfs->g, first), buf, len, 0);
		if (rc == 0 && len < bs)
			rc = vfs_io_zero(vfs, vfs->data_lun,
					 vfs_block_off(&vfs->g, first) + len,
					 bs - len);
		if (rc == 0)
			rc = vfs_io_flush(vfs, vfs->data_lun);
		pthread_mutex_unlock(&vfs->data_mu);
		free(buf);
	}
	tx_begin(vfs);
	if (rc == 0)
		rc = inode_get(vfs, vn->ino, vn->lock, &r);
	if (rc == 0 && size)
		rc = alloc_commit_reserved(vfs, first, 1, resv);
	if (rc == 0)
		rc = inode_dirty(vfs, &r);
	if (rc == 0) {
		b = inode_body(&r);
		memset(od_inode_data(b), 0, OD_INLINE_MAX);
		b->flags = to_le16(le16(b->flags) & ~OD_INODE_INLINE);
		if (size) {
			rc = bmap_set(vfs, &r, 0, OD_MAP_PRESENT | first);
			b->blocks = to_le64(1);
		}
	}
	rc = tx_end(vfs, rc, true);
	/* The reservation ends either way: in the bitmap, or given up. */
	if (size)
		alloc_unreserve(vfs, first, 1, resv);
	if (rc == 0)
		vn->small = false;
	return rc;
}
