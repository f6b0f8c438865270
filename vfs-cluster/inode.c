/* SPDX-License-Identifier: MIT */
/*
 * Inodes and their block maps. An inode lives in one mblock of an inode
 * cluster: sector 0 is its lock, the 3584 bytes after it its body (the
 * journaled item). The block map is a radix tree: OD_MAP_ROOT entries in
 * the body, then OD_PTR_ENTRIES per pointer block, at most
 * OD_MAP_MAX_DEPTH levels (256 x 508 x 508 leaves: 63 TiB of 1 MiB
 * blocks). Leaves are file blocks for files and directory mblocks for
 * directories; a leaf may be flagged to-be-zeroed (OD_MAP_TBZ).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "vfs-cluster/vfs-internal.h"

uint64_t
inode_lock_off(const struct vfs *vfs, uint64_t ino)
{
	return vfs_mblock_off(&vfs->g, ino);
}

int
inode_get(struct vfs *vfs, uint64_t ino, struct vlock *lock,
	  struct inode_ref *out)
{
	int rc;

	if (!vfs_ino_valid(&vfs->g, ino))
		return -EUCLEAN;
	out->ino = ino;
	out->lock = lock;
	rc = bc_get(vfs, inode_lock_off(vfs, ino) + VFS_SECTOR,
		    VFS_MBLOCK - VFS_SECTOR, lock, &out->it);
	if (rc < 0)
		return rc;
	if (out->it->checked)
		return 0;
	rc = od_inode_check(inode_body(out), ino);
	if (rc < 0)
		log_err(VFS_LOG, "inode %llu is corrupt",
			(unsigned long long)ino);
	out->it->checked = rc == 0;
	return rc;
}

int
inode_read_unlocked(struct vfs *vfs, uint64_t ino, struct od_inode *out)
{
	int rc;

	if (!vfs_ino_valid(&vfs->g, ino))
		return -EUCLEAN;
	rc = bc_read_any(vfs, inode_lock_off(vfs, ino) + VFS_SECTOR, out,
			 sizeof(*out));
	if (rc == 0)
		rc = od_inode_check(out, ino);
	return rc;
}

int
inode_dirty(struct vfs *vfs, struct inode_ref *r)
{
	return tx_dirty(vfs, r->it);
}

/* ---- block map ---- */

static uint64_t
span(uint32_t level)
{
	uint64_t s = 1;

	while (level--)
		s *= OD_PTR_ENTRIES;
	return s;
}

uint64_t
bmap_capacity(uint32_t depth)
{
	return OD_MAP_ROOT * span(depth);
}

static int
ptr_get(struct vfs *vfs, struct inode_ref *r, uint64_t entry, uint32_t level,
	struct mitem **out)
{
	uint64_t p = entry & OD_MAP_BLOCK_MASK;
	struct od_ptr *ptr;
	int rc;

	if (!vfs_mblock_valid(&vfs->g, p) || (entry & OD_MAP_TBZ))
		return -EUCLEAN;
	rc = bc_get(vfs, vfs_mblock_off(&vfs->g, p), VFS_MBLOCK, r->lock, out);
	if (rc < 0)
		return rc;
	ptr = (struct od_ptr *)(*out)->buf;
	rc = (*out)->checked ? 0 : od_ptr_check(ptr, p, r->ino);
	if (rc == 0 && le32(ptr->level) != level)
		rc = -EUCLEAN;
	(*out)->checked = rc == 0;
	if (rc < 0)
		log_err(VFS_LOG, "inode %llu: pointer block %llu is corrupt",
			(unsigned long long)r->ino, (unsigned long long)p);
	return rc;
}

static int
ptr_new(struct vfs *vfs, struct inode_ref *r, uint32_t level,
	struct mitem **out, uint64_t *entry)
{
	struct od_ptr *ptr;
	uint64_t p;
	int rc;

	rc = alloc_mblock(vfs, MBLOCK_BLOCK, &p);
	if (rc < 0)
		return rc;
	rc = bc_new(vfs, vfs_mblock_off(&vfs->g, p), VFS_MBLOCK, r->lock, out);
	if (rc < 0)
		return rc;
	rc = tx_dirty(vfs, *out);
	if (rc < 0)
		return rc;
	ptr = (struct od_ptr *)(*out)->buf;
	memset(ptr, 0, sizeof(*ptr));
	ptr->magic = to_le32(VFS_PTR_MAGIC);
	ptr->self = to_le64(p);
	ptr->owner = to_le64(r->ino);
	ptr->level = to_le32(level);
	*entry = OD_MAP_PRESENT | p;
	return 0;
}

/* Adds a level on top of the tree so that 'lblk' fits. */
static int
grow(struct vfs *vfs, struct inode_ref *r, uint64_t lblk)
{
	struct od_inode *body = inode_body(r);

	while (lblk >= bmap_capacity(le32(body->map_depth))) {
		uint32_t depth = le32(body->map_depth);
		struct mitem *it;
		uint64_t entry;
		struct od_ptr *ptr;
		int rc;

		if (depth >= OD_MAP_MAX_DEPTH)
			return -EFBIG;
		rc = ptr_new(vfs, r, depth + 1, &it, &entry);
		if (rc < 0)
			return rc;
		rc = inode_dirty(vfs, r);
		if (rc < 0)
			return rc;
		ptr = (struct od_ptr *)it->buf;
		memcpy(ptr->entries, body->map, sizeof(body->map));
		memset(body->map, 0, sizeof(body->map));
		body->map[0] = to_le64(entry);
		body->map_depth = to_le32(depth + 1);
	}
	return 0;
}

/*
 * Finds the entry slot of leaf 'lblk'; with 'create' builds missing
 * pointer blocks. '*slot' is NULL when absent (and not created).
 */
static int
walk(struct vfs *vfs, struct inode_ref *r, uint64_t lblk, bool create,
     uint64_t **slot, struct mitem **owner)
{
	struct od_inode *body = inode_body(r);
	uint32_t depth;
	uint64_t *s, rem;
	struct mitem *own = r->it;
	int rc;

	*slot = NULL;
	if (create) {
		rc = grow(vfs, r, lblk);
		if (rc < 0)
			return rc;
	}
	depth = le32(body->map_depth);
	if (lblk >= bmap_capacity(depth))
		return 0;
	s = &body->map[lblk / span(depth)];
	rem = lblk % span(depth);
	for (uint32_t level = depth; level >= 1; level--) {
		uint64_t e = le64(*s);
		struct mitem *it;

		if (!(e & OD_MAP_PRESENT)) {
			if (!create)
				return 0;
			rc = ptr_new(vfs, r, level, &it, &e);
			if (rc < 0)
				return rc;
			rc = tx_dirty(vfs, own);
			if (rc < 0)
				return rc;
			*s = to_le64(e);
		} else {
			rc = ptr_get(vfs, r, e, level, &it);
			if (rc < 0)
				return rc;
		}
		s = &((struct od_ptr *)it->buf)->entries[rem / span(level - 1)];
		rem %= span(level - 1);
		own = it;
	}
	*slot = s;
	*owner = own;
	return 0;
}

/*
 * An inline file's map area holds its data, not entries: it maps
 * nothing, and file.c moves its data to a block before mapping any.
 */
int
bmap_get(struct vfs *vfs, struct inode_ref *r, uint64_t lblk,
	 uint64_t *entry)
{
	struct mitem *own;
	uint64_t *s;
	int rc;

	if (od_inode_inline(inode_body(r))) {
		*entry = 0;
		return 0;
	}
	rc = walk(vfs, r, lblk, false, &s, &own);

	*entry = rc == 0 && s ? le64(*s) : 0;
	return rc;
}

int
bmap_set(struct vfs *vfs, struct inode_ref *r, uint64_t lblk, uint64_t entry)
{
	struct mitem *own;
	uint64_t *s;
	int rc;

	if (od_inode_inline(inode_body(r)))
		return -EUCLEAN;
	rc = walk(vfs, r, lblk, entry != 0, &s, &own);
	if (rc < 0 || !s)
		return rc;
	rc = tx_dirty(vfs, own);
	if (rc == 0)
		*s = to_le64(entry);
	return rc;
}

int
bmap_chunk(struct vfs *vfs, struct inode_ref *r, uint64_t k, uint64_t *out)
{
	struct od_inode *body = inode_body(r);
	uint32_t depth = le32(body->map_depth);
	struct mitem *own;
	uint64_t *s;
	int rc;

	memset(out, 0, OD_PTR_ENTRIES * sizeof(*out));
	if (od_inode_inline(body))
		return 0;
	if (depth == 0) {
		if (k == 0)
			for (unsigned int i = 0; i < OD_MAP_ROOT; i++)
				out[i] = le64(body->map[i]);
		return 0;
	}
	/* The slot of the chunk's first leaf sits at entry 0 of the level-1
	 * pointer block that holds the whole chunk. */
	rc = walk(vfs, r, k * OD_PTR_ENTRIES, false, &s, &own);
	if (rc < 0 || !s)
		return rc;
	for (unsigned int i = 0; i < OD_PTR_ENTRIES; i++)
		out[i] = le64(s[i]);
	return 0;
}

/* ---- truncation ---- */

struct trunc {
	struct vfs *vfs;
	struct inode_ref *r;
	uint64_t from;
	bool mblocks;
	uint64_t run_first, run_len;  /* data blocks to free, batched */
	uint64_t freed;
};

static int
flush_run(struct trunc *t)
{
	int rc = 0;

	if (t->run_len)
		rc = free_blocks(t->vfs, t->run_first, t->run_len);
	t->run_len = 0;
	return rc;
}

static int
free_leaf(struct trunc *t, uint64_t e)
{
	uint64_t b = e & OD_MAP_BLOCK_MASK;

	/* Scattered blocks touch many cluster headers: stop at a share of
	 * the ring and let the caller commit and call again. */
	if (t->vfs->jn.op_bytes > t->vfs->jn.ring_bytes / 8)
		return -EAGAIN;
	t->freed++;
	if (t->mblocks)
		return free_mblock(t->vfs, b);
	if (b >= t->vfs->g.data_blocks)
		return -EUCLEAN;
	if (t->run_len && t->run_first + t->run_len == b) {
		t->run_len++;
		return 0;
	}
	if (flush_run(t) < 0)
		return -EUCLEAN;
	t->run_first = b;
	t->run_len = 1;
	return 0;
}

static int
trunc_node(struct trunc *t, uint64_t *entries, unsigned int n,
	   uint32_t level, struct mitem *own, uint64_t base)
{
	uint64_t each = span(level);
	int rc;

	for (unsigned int i = 0; i < n; i++) {
		uint64_t lo = base + i * each, e = le64(entries[i]);
		struct mitem *it;

		if (lo + each <= t->from || !(e & OD_MAP_PRESENT))
			continue;
		if (level == 0) {
			rc = free_leaf(t, e);
		} else {
			rc = ptr_get(t->vfs, t->r, e, level, &it);
			if (rc == 0)
				rc = trunc_node(t, ((struct od_ptr *)it->buf)->entries,
						OD_PTR_ENTRIES, level - 1, it,
						lo);
			if (rc == 0 && lo >= t->from)
				rc = free_mblock(t->vfs, e & OD_MAP_BLOCK_MASK);
			if (rc == 0 && lo < t->from)
				continue; /* partly kept: entry stays */
		}
		if (rc < 0)
			return rc;
		rc = tx_dirty(t->vfs, own);
		if (rc < 0)
			return rc;
		entries[i] = 0;
	}
	return 0;
}

int
bmap_truncate(struct vfs *vfs, struct inode_ref *r, uint64_t from,
	      bool leaves_are_mblocks)
{
	struct od_inode *body = inode_body(r);
	struct trunc t = { .vfs = vfs, .r = r, .from = from,
			   .mblocks = leaves_are_mblocks };
	uint32_t depth = le32(body->map_depth);
	int rc;

	if (od_inode_inline(body))
		return 0;
	rc = trunc_node(&t, body->map, OD_MAP_ROOT, depth, r->it, 0);
	if (rc == 0 || rc == -EAGAIN) {
		int rc2 = flush_run(&t);

		if (rc2 < 0)
			rc = rc2;
	}
	if (rc < 0 && rc != -EAGAIN)
		return rc;
	if (t.freed) {
		int rc2 = inode_dirty(vfs, r);

		if (rc2 < 0)
			return rc2;
		if (le64(body->blocks) < t.freed)
			return -EUCLEAN;
		body->blocks = to_le64(le64(body->blocks) - t.freed);
	}
	return rc;
}

/* ---- walking ---- */

struct walk_ctx {
	struct vfs *vfs;
	struct inode_ref *r;
	int (*fn)(void *arg, uint64_t lblk, uint64_t entry);
	void *arg;
};

static int
walk_node(struct walk_ctx *w, const uint64_t *entries, unsigned int n,
	  uint32_t level, uint64_t base)
{
	uint64_t each = span(level);

	for (unsigned int i = 0; i < n; i++) {
		uint64_t e = le64(entries[i]);
		struct mitem *it;
		int rc;

		if (!(e & OD_MAP_PRESENT))
			continue;
		if (level == 0) {
			rc = w->fn(w->arg, base + i, e);
		} else {
			rc = ptr_get(w->vfs, w->r, e, level, &it);
			if (rc == 0)
				rc = walk_node(w, ((struct od_ptr *)it->buf)->entries,
					       OD_PTR_ENTRIES, level - 1,
					       base + i * each);
		}
		if (rc)
			return rc;
	}
	return 0;
}

int
bmap_walk(struct vfs *vfs, struct inode_ref *r,
	  int (*fn)(void *arg, uint64_t lblk, uint64_t entry), void *arg)
{
	struct walk_ctx w = { vfs, r, fn, arg };
	struct od_inode *body = inode_body(r);

	if (od_inode_inline(body))
		return 0;
	return walk_node(&w, body->map, OD_MAP_ROOT, le32(body->map_depth), 0);
}

/* ---- unlocked lookups ---- */

int
bmap_get_ro(struct vfs *vfs, const struct od_inode *body, uint64_t lblk,
	    uint64_t *entry)
{
	uint32_t depth = le32(body->map_depth);
	uint64_t ino = le64(body->ino), e, rem;
	struct od_ptr *ptr;
	int rc = 0;

	*entry = 0;
	if (od_inode_inline(body) || lblk >= bmap_capacity(depth))
		return 0;
	e = le64(body->map[lblk / span(depth)]);
	rem = lblk % span(depth);
	if (depth == 0) {
		*entry = e;
		return 0;
	}
	ptr = vfs_alloc_buf(VFS_MBLOCK);
	if (!ptr)
		return -ENOMEM;
	for (uint32_t level = depth; level >= 1; level--) {
		uint64_t p = e & OD_MAP_BLOCK_MASK;

		if (!(e & OD_MAP_PRESENT))
			goto out;
		if (!vfs_mblock_valid(&vfs->g, p)) {
			rc = -EUCLEAN;
			goto out;
		}
		rc = bc_read_any(vfs, vfs_mblock_off(&vfs->g, p), ptr,
				 VFS_MBLOCK);
		if (rc == 0)
			rc = od_ptr_check(ptr, p, ino);
		if (rc == 0 && le32(ptr->level) != level)
			rc = -EUCLEAN;
		if (rc < 0)
			goto out;
		e = le64(ptr->entries[rem / span(level - 1)]);
		rem %= span(level - 1);
	}
	*entry = e;
out:
	free(ptr);
	return rc;
}

int
bmap_chunk_ro(struct vfs *vfs, const struct od_inode *body, uint64_t k,
	      uint64_t *out)
{
	uint32_t depth = le32(body->map_depth);
	uint64_t ino = le64(body->ino), lblk = k * OD_PTR_ENTRIES, e, rem;
	struct od_ptr *ptr;
	int rc = 0;

	memset(out, 0, OD_PTR_ENTRIES * sizeof(*out));
	if (od_inode_inline(body))
		return 0;
	if (depth == 0) {
		if (k == 0)
			for (unsigned int i = 0; i < OD_MAP_ROOT; i++)
				out[i] = le64(body->map[i]);
		return 0;
	}
	if (lblk >= bmap_capacity(depth))
		return 0;
	e = le64(body->map[lblk / span(depth)]);
	rem = lblk % span(depth);
	ptr = vfs_alloc_buf(VFS_MBLOCK);
	if (!ptr)
		return -ENOMEM;
	for (uint32_t level = depth; level >= 1; level--) {
		uint64_t p = e & OD_MAP_BLOCK_MASK;

		if (!(e & OD_MAP_PRESENT))
			goto out;
		if (!vfs_mblock_valid(&vfs->g, p)) {
			rc = -EUCLEAN;
			goto out;
		}
		rc = bc_read_any(vfs, vfs_mblock_off(&vfs->g, p), ptr,
				 VFS_MBLOCK);
		if (rc == 0)
			rc = od_ptr_check(ptr, p, ino);
		if (rc == 0 && le32(ptr->level) != level)
			rc = -EUCLEAN;
		if (rc < 0)
			goto out;
		if (level == 1) {
			for (unsigned int i = 0; i < OD_PTR_ENTRIES; i++)
				out[i] = le64(ptr->entries[i]);
			goto out;
		}
		e = le64(ptr->entries[rem / span(level - 1)]);
		rem %= span(level - 1);
	}
out:
	free(ptr);
	return rc;
}
