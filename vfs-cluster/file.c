/* SPDX-License-Identifier: MIT */
/*
 * Open files and the data path. An open inode (vnode) keeps its lock and
 * a cache of its block map in chunks of OD_PTR_ENTRIES leaves; once a
 * range is cached, vfs_file_map() answers under the vnode's own mutex with
 * no I/O and no metadata lock: the steady-state data path.
 *
 * Writes into holes or to-be-zeroed blocks take the slow path under the
 * session mutex: blocks are reserved (not yet in the bitmaps), the parts
 * of them outside the write are zeroed, and the map cache shows them at
 * once; vfs_file_commit() makes them durable after the caller's data
 * write completed, so a crash can never leave a file pointing at blocks
 * with somebody else's old data in them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "vfs-cluster/vfs-internal.h"

#define COMMIT_BATCH 32u         /* pending runs per transaction */
#define PWRITE_COMMIT_RUNS 64u   /* pwrite commits past this many runs */
#define BOUNCE_BYTES (1u << 20)

static uint8_t
mode_of(unsigned int flags)
{
	if (flags & VFS_O_SHARED)
		return OD_LOCK_SH;
	if (flags & VFS_O_MULTI_WRITER)
		return OD_LOCK_MW;
	return OD_LOCK_EX;
}

struct vnode *
vnode_find(struct vfs *vfs, uint64_t ino)
{
	for (struct vnode *vn = vfs->vnodes; vn; vn = vn->next)
		if (vn->ino == ino)
			return vn;
	return NULL;
}

/* ---- the leaf map cache ---- */

static void
chunks_drop(struct vnode *vn)
{
	for (uint64_t k = 0; k < vn->nchunks; k++) {
		free(vn->chunks[k]);
		vn->chunks[k] = NULL;
	}
}

static uint64_t *
entry_ptr(const struct vnode *vn, uint64_t lblk)
{
	uint64_t k = lblk / OD_PTR_ENTRIES;

	if (k >= vn->nchunks || !vn->chunks[k])
		return NULL;
	return &vn->chunks[k][lblk % OD_PTR_ENTRIES];
}

/* Loads chunk 'k'; vfs->mu and vn->mu held. */
static int
chunk_load(struct vfs *vfs, struct vnode *vn, uint64_t k)
{
	struct inode_ref r;
	uint64_t *buf;
	int rc;

	if (k >= vn->nchunks) {
		uint64_t n = MAX(k + 1, vn->nchunks * 2);
		uint64_t **bigger = realloc(vn->chunks, n * sizeof(*bigger));

		if (!bigger)
			return -ENOMEM;
		memset(bigger + vn->nchunks, 0,
		       (n - vn->nchunks) * sizeof(*bigger));
		vn->chunks = bigger;
		vn->nchunks = n;
	}
	if (vn->chunks[k])
		return 0;
	buf = malloc(OD_PTR_ENTRIES * sizeof(*buf));
	if (!buf)
		return -ENOMEM;
	if (vn->lock) {
		rc = inode_get(vfs, vn->ino, vn->lock, &r);
		if (rc == 0)
			rc = bmap_chunk(vfs, &r, k, buf);
	} else {
		rc = bmap_chunk_ro(vfs, vn->ro_body, k, buf);
	}
	if (rc < 0) {
		free(buf);
		return rc;
	}
	vn->chunks[k] = buf;
	return 0;
}

/* A small file moves to a block (small.c); the map cache starts over. */
static int
unsmall(struct vfs *vfs, struct vnode *vn)
{
	int rc = small_to_block(vfs, vn);

	chunks_drop(vn);
	return rc;
}

static uint32_t
ext_type(uint64_t e)
{
	if (!(e & OD_MAP_PRESENT))
		return VFS_EXTENT_HOLE;
	return e & OD_MAP_TBZ ? VFS_EXTENT_ZERO : VFS_EXTENT_DATA;
}

/* Appends [pos, pos+len) of type 'type' to the extent list. */
static bool
add_extent(struct vfs_extent *ext, unsigned int *n, unsigned int max,
	   uint64_t pos, uint64_t len, uint32_t type, uint64_t lun_off,
	   uint32_t flags)
{
	struct vfs_extent *last = *n ? &ext[*n - 1] : NULL;

	if (last && last->type == type && last->flags == flags &&
	    last->file_offset + last->len_bytes == pos &&
	    (type != VFS_EXTENT_DATA ||
	     last->lun_offset + last->len_bytes == lun_off)) {
		last->len_bytes += len;
		return true;
	}
	if (*n == max)
		return false;
	ext[*n].file_offset = pos;
	ext[*n].len_bytes = len;
	ext[*n].lun_offset = type == VFS_EXTENT_DATA ? lun_off : 0;
	ext[*n].type = type;
	ext[*n].flags = flags;
	(*n)++;
	return true;
}

/* ---- allocating writes (slow path, vfs->mu and vn->mu held) ---- */

static bool
in_pending(const struct vnode *vn, uint64_t lblk)
{
	for (const struct pending *p = vn->pend; p; p = p->next)
		if (lblk >= p->lblk && lblk < p->lblk + p->count)
			return true;
	return false;
}

/* Zeroes what a first write into a block does not cover. */
static int
zero_outside(struct vfs *vfs, uint64_t block, uint64_t bstart,
	     uint64_t wlo, uint64_t whi)
{
	uint64_t bs = vfs->g.block_bytes, base = vfs_block_off(&vfs->g, block);
	uint64_t head = ALIGN_UP(MAX(wlo, bstart), VFS_SECTOR) - bstart;
	uint64_t tail = ALIGN_DOWN(MIN(whi, bstart + bs), VFS_SECTOR) - bstart;
	int rc = 0;

	pthread_mutex_lock(&vfs->data_mu);
	if (wlo > bstart || (wlo & (VFS_SECTOR - 1)))
		rc = vfs_io_zero(vfs, vfs->data_lun, base, MIN(head, bs));
	if (rc == 0 && (whi < bstart + bs || (whi & (VFS_SECTOR - 1))) &&
	    tail < bs)
		rc = vfs_io_zero(vfs, vfs->data_lun, base + tail, bs - tail);
	pthread_mutex_unlock(&vfs->data_mu);
	return rc;
}

static int
add_pending(struct vnode *vn, uint64_t lblk, uint64_t count, uint64_t pblk,
	    struct vlock *resv)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->lblk = lblk;
	p->count = count;
	p->pblk = pblk;
	p->resv = resv;
	p->next = vn->pend;
	vn->pend = p;
	vn->npend++;
	return 0;
}

/*
 * Makes leaf 'lblk' (and the following ones of the same kind inside the
 * write [wlo, whi)) writable. Returns how many leaves it handled.
 */
static int
make_writable(struct vfs *vfs, struct vnode *vn, uint64_t lblk, uint64_t wlo,
	      uint64_t whi)
{
	uint64_t bs = vfs->g.block_bytes, last = (whi - 1) / bs;
	uint64_t e = *entry_ptr(vn, lblk), n = 1, first, hint = UINT64_MAX;
	bool hole = !(e & OD_MAP_PRESENT);
	struct vlock *resv = NULL;
	int rc;

	/* The run of leaves of the same kind, within loaded chunks. */
	while (lblk + n <= last) {
		uint64_t *p = entry_ptr(vn, lblk + n);

		if (!p || ext_type(*p) != ext_type(e))
			break;
		n++;
	}
	if (hole) {
		uint64_t *prev = lblk ? entry_ptr(vn, lblk - 1) : NULL;

		if (prev && (*prev & OD_MAP_PRESENT))
			hint = (*prev & OD_MAP_BLOCK_MASK) + 1;
		rc = alloc_reserve(vfs, hint, n, &first, &resv);
		if (rc < 0)
			return rc;
		n = (uint64_t)rc;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t l = lblk + i, bstart = l * bs;
		uint64_t b = hole ? first + i :
				    (*entry_ptr(vn, l) & OD_MAP_BLOCK_MASK);

		if (l * bs < wlo || (l + 1) * bs > whi) {
			rc = zero_outside(vfs, b, bstart, wlo, whi);
			if (rc < 0)
				goto fail;
		}
	}
	rc = add_pending(vn, lblk, n, hole ? first : 0, resv);
	if (rc < 0)
		goto fail;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t *p = entry_ptr(vn, lblk + i);

		*p = hole ? OD_MAP_PRESENT | (first + i) : *p & ~OD_MAP_TBZ;
	}
	return (int)n;
fail:
	if (resv)
		alloc_unreserve(vfs, first, n, resv);
	return rc;
}

static int
map_range(struct vfs *vfs, struct vnode *vn, uint64_t off, uint64_t len,
	  bool write, bool slow, struct vfs_extent *ext, unsigned int max)
{
	uint64_t bs = vfs->g.block_bytes, end, pos = off;
	unsigned int n = 0;
	int rc;

	if (off >= vn->size)
		return 0;
	/* A small file's data is in its inode, not on a LUN range: only
	 * the exclusive holder may move it to a block to map it. */
	if (vn->small) {
		if (!slow)
			return -EAGAIN;
		if (vn->mode != OD_LOCK_EX)
			return -EOPNOTSUPP;
		rc = unsmall(vfs, vn);
		if (rc < 0)
			return rc;
	}
	end = MIN(off + len, vn->size);
	while (pos < end) {
		uint64_t lblk = pos / bs, boff = pos % bs;
		uint64_t take = MIN(end - pos, bs - boff), *p, e;
		uint32_t type, flags = 0;

		p = entry_ptr(vn, lblk);
		if (!p) {
			if (!slow)
				return -EAGAIN;
			rc = chunk_load(vfs, vn, lblk / OD_PTR_ENTRIES);
			if (rc < 0)
				return rc;
			p = entry_ptr(vn, lblk);
		}
		e = *p;
		type = ext_type(e);
		if (write && type != VFS_EXTENT_DATA) {
			if (!slow)
				return -EAGAIN;
			if (vn->mode == OD_LOCK_MW)
				return -EBUSY;
			rc = make_writable(vfs, vn, lblk, pos, off + len);
			if (rc < 0)
				return n ? (int)n : rc;
			e = *p;
			type = VFS_EXTENT_DATA;
		}
		if (write && in_pending(vn, lblk))
			flags = VFS_EXTENT_NEW;
		if (!add_extent(ext, &n, max, pos, take, type,
				vfs_block_off(&vfs->g, e & OD_MAP_BLOCK_MASK) +
					boff, flags))
			break;
		pos += take;
	}
	return (int)n;
}

int
vfs_file_map(struct vfs_file *file, uint64_t offset, uint64_t len,
	     unsigned int flags, struct vfs_extent *ext, unsigned int max_ext)
{
	struct vfs *vfs = file->vfs;
	struct vnode *vn = file->vn;
	bool write = flags & VFS_MAP_WRITE;
	int rc;

	if (!max_ext || len == 0)
		return -EINVAL;
	if (write) {
		if (vn->mode != OD_LOCK_EX && vn->mode != OD_LOCK_MW)
			return -EROFS;
		rc = hb_write_allowed(vfs, vfs_now(vfs));
		if (rc < 0)
			return rc;
	} else if (atomic_load(&vfs->fenced)) {
		return -ESTALE;
	}
	pthread_mutex_lock(&vn->mu);
	rc = map_range(vfs, vn, offset, len, write, false, ext, max_ext);
	pthread_mutex_unlock(&vn->mu);
	if (rc != -EAGAIN)
		return rc;
	pthread_mutex_lock(&vfs->mu);
	pthread_mutex_lock(&vn->mu);
	rc = map_range(vfs, vn, offset, len, write, true, ext, max_ext);
	pthread_mutex_unlock(&vn->mu);
	pthread_mutex_unlock(&vfs->mu);
	return rc;
}

/* ---- committing allocations ---- */

static int
commit_batch(struct vfs *vfs, struct vnode *vn, struct pending **list)
{
	struct inode_ref r;
	struct od_inode *body;
	unsigned int k = 0;
	int rc;

	tx_begin(vfs);
	rc = inode_get(vfs, vn->ino, vn->lock, &r);
	body = rc == 0 ? inode_body(&r) : NULL;
	for (struct pending *p = *list; p && k < COMMIT_BATCH && rc == 0;
	     p = p->next, k++) {
		if (p->resv) {
			rc = alloc_commit_reserved(vfs, p->pblk, p->count,
						   p->resv);
			for (uint64_t i = 0; i < p->count && rc == 0; i++)
				rc = bmap_set(vfs, &r, p->lblk + i,
					      OD_MAP_PRESENT | (p->pblk + i));
			if (rc == 0)
				rc = inode_dirty(vfs, &r);
			if (rc == 0)
				body->blocks = to_le64(le64(body->blocks) +
						       p->count);
		} else {
			for (uint64_t i = 0; i < p->count && rc == 0; i++) {
				uint64_t e;

				rc = bmap_get(vfs, &r, p->lblk + i, &e);
				if (rc == 0 && (e & OD_MAP_TBZ))
					rc = bmap_set(vfs, &r, p->lblk + i,
						      e & ~OD_MAP_TBZ);
			}
		}
	}
	if (rc == 0) {
		rc = inode_dirty(vfs, &r);
		if (rc == 0)
			body->mtime_ns = to_le64(clock_wall_ns());
	}
	rc = tx_end(vfs, rc, true);
	/* Reservations end either way: set in the bitmap, or given up. */
	for (k = 0; *list && k < COMMIT_BATCH; k++) {
		struct pending *p = *list;

		*list = p->next;
		vn->npend--;
		if (p->resv)
			alloc_unreserve(vfs, p->pblk, p->count, p->resv);
		free(p);
	}
	return rc;
}

/* vfs->mu and vn->mu held. */
static int
commit_locked(struct vfs *vfs, struct vnode *vn)
{
	int rc, err = 0;

	if (!vn->pend)
		return 0;
	/* The caller's data must be durable before the map points at it. */
	rc = vfs_io_flush(vfs, vfs->lun);
	if (rc < 0)
		err = rc;
	while (vn->pend) {
		if (err) {
			/* Give every reservation back; the map cache has to
			 * forget what it was told. */
			struct pending *p = vn->pend;

			vn->pend = p->next;
			vn->npend--;
			if (p->resv)
				alloc_unreserve(vfs, p->pblk, p->count, p->resv);
			free(p);
			continue;
		}
		rc = commit_batch(vfs, vn, &vn->pend);
		if (rc < 0)
			err = rc;
	}
	if (err)
		chunks_drop(vn);
	if (!err)
		err = journal_commit(vfs);
	return err;
}

int
vfs_file_commit(struct vfs_file *file)
{
	struct vfs *vfs = file->vfs;
	int rc = vfs_op_enter(vfs, true);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&file->vn->mu);
	rc = commit_locked(vfs, file->vn);
	pthread_mutex_unlock(&file->vn->mu);
	vfs_op_leave(vfs);
	return rc;
}

/* ---- size and provisioning (vfs->mu and vn->mu held) ---- */

static int
set_size(struct vfs *vfs, struct vnode *vn, uint64_t size)
{
	struct inode_ref r;
	int rc;

	tx_begin(vfs);
	rc = inode_get(vfs, vn->ino, vn->lock, &r);
	if (rc == 0)
		rc = inode_dirty(vfs, &r);
	if (rc == 0) {
		inode_body(&r)->size = to_le64(size);
		inode_body(&r)->mtime_ns = to_le64(clock_wall_ns());
	}
	rc = tx_end(vfs, rc, true);
	if (rc == 0)
		vn->size = size;
	return rc;
}

/* Zeroes [size, end of its block) so a later grow reads zeros there. */
static int
zero_tail(struct vfs *vfs, struct vnode *vn, uint64_t size)
{
	uint64_t bs = vfs->g.block_bytes, lblk = size / bs, e, base;
	uint64_t sec = ALIGN_DOWN(size, VFS_SECTOR), *p;
	uint8_t *buf;
	int rc;

	if (size % bs == 0)
		return 0;
	rc = chunk_load(vfs, vn, lblk / OD_PTR_ENTRIES);
	if (rc < 0)
		return rc;
	p = entry_ptr(vn, lblk);
	e = *p;
	if (ext_type(e) != VFS_EXTENT_DATA)
		return 0;
	base = vfs_block_off(&vfs->g, e & OD_MAP_BLOCK_MASK) - lblk * bs;
	buf = vfs_alloc_buf(VFS_SECTOR);
	if (!buf)
		return -ENOMEM;
	pthread_mutex_lock(&vfs->data_mu);
	rc = vfs_io_read(vfs, vfs->data_lun, base + sec, buf, VFS_SECTOR);
	if (rc == 0) {
		memset(buf + (size - sec), 0, VFS_SECTOR - (size - sec));
		rc = vfs_io_write(vfs, vfs->data_lun, base + sec, buf,
				  VFS_SECTOR, 0);
	}
	if (rc == 0 && sec + VFS_SECTOR < (lblk + 1) * bs)
		rc = vfs_io_zero(vfs, vfs->data_lun, base + sec + VFS_SECTOR,
				 (lblk + 1) * bs - sec - VFS_SECTOR);
	pthread_mutex_unlock(&vfs->data_mu);
	free(buf);
	return rc;
}

static int
resize_locked(struct vfs *vfs, struct vnode *vn, uint64_t size)
{
	uint64_t bs = vfs->g.block_bytes, old = vn->size;
	struct inode_ref r;
	int rc;

	rc = commit_locked(vfs, vn);
	if (rc < 0)
		return rc;
	if (size > bmap_capacity(OD_MAP_MAX_DEPTH) * bs)
		return -EFBIG;
	if (vn->small) {
		if (size <= OD_INLINE_MAX)
			return small_resize(vfs, vn, size);
		rc = unsmall(vfs, vn);
		if (rc < 0)
			return rc;
	}
	if (size == old)
		return 0;
	if (size < old) {
		rc = zero_tail(vfs, vn, size);
		if (rc == 0)
			rc = set_size(vfs, vn, size);
	}
	if (rc == 0)
		rc = inode_get(vfs, vn->ino, vn->lock, &r);
	/* Shrinking frees the blocks past the end; growing first frees
	 * anything a crash left past the old end, so it reads as zeros. */
	if (rc == 0)
		rc = inode_shrink(vfs, &r, DIV_ROUND_UP(MIN(size, old), bs),
				  DIV_ROUND_UP(old, bs));
	if (rc == 0 && size > old)
		rc = set_size(vfs, vn, size);
	chunks_drop(vn);
	return rc;
}

/* Eager zeroing of leaves [lblk, lblk+n): reserve, zero, commit. */
static int
eager_run(struct vfs *vfs, struct vnode *vn, struct inode_ref *r,
	  uint64_t lblk, uint64_t n, uint64_t *hint)
{
	uint64_t bs = vfs->g.block_bytes, first;
	struct vlock *resv;
	int rc, got;

	got = alloc_reserve(vfs, *hint, n, &first, &resv);
	if (got < 0)
		return got;
	pthread_mutex_lock(&vfs->data_mu);
	rc = vfs_io_zero(vfs, vfs->data_lun, vfs_block_off(&vfs->g, first),
			 (uint64_t)got * bs);
	pthread_mutex_unlock(&vfs->data_mu);
	if (rc == 0)
		rc = vfs_io_flush(vfs, vfs->lun);
	if (rc == 0) {
		tx_begin(vfs);
		rc = alloc_commit_reserved(vfs, first, (uint64_t)got, resv);
		for (int i = 0; i < got && rc == 0; i++)
			rc = bmap_set(vfs, r, lblk + (uint64_t)i,
				      OD_MAP_PRESENT | (first + (uint64_t)i));
		if (rc == 0)
			rc = inode_dirty(vfs, r);
		if (rc == 0)
			inode_body(r)->blocks =
				to_le64(le64(inode_body(r)->blocks) +
					(uint64_t)got);
		rc = tx_end(vfs, rc, true);
	}
	alloc_unreserve(vfs, first, (uint64_t)got, resv);
	*hint = first + (uint64_t)got;
	return rc < 0 ? rc : got;
}

static int
provision_locked(struct vfs *vfs, struct vnode *vn, uint64_t off,
		 uint64_t len, enum vfs_alloc alloc)
{
	uint64_t bs = vfs->g.block_bytes, hint = UINT64_MAX;
	uint64_t lo = off / bs, hi = DIV_ROUND_UP(MIN(off + len, vn->size), bs);
	struct inode_ref r;
	int rc;

	if (alloc == VFS_ALLOC_THIN || lo >= hi)
		return 0;
	if (vn->small) {
		rc = unsmall(vfs, vn);
		if (rc < 0)
			return rc;
	}
	rc = commit_locked(vfs, vn);
	if (rc == 0)
		rc = inode_get(vfs, vn->ino, vn->lock, &r);
	for (uint64_t l = lo; l < hi && rc == 0;) {
		uint64_t step = MIN(hi - l, tx_step_blocks(vfs)), e;
		uint64_t n = 0;

		rc = bmap_get(vfs, &r, l, &e);
		if (rc < 0)
			break;
		if ((e & OD_MAP_PRESENT) && !(e & OD_MAP_TBZ)) {
			hint = (e & OD_MAP_BLOCK_MASK) + 1;
			l++;
			continue;
		}
		if (e & OD_MAP_TBZ) {
			if (alloc == VFS_ALLOC_LAZY_ZEROED) {
				l++;
				continue;
			}
			/* Eager over lazy: zero it now and clear the flag. */
			pthread_mutex_lock(&vfs->data_mu);
			rc = vfs_io_zero(vfs, vfs->data_lun,
					 vfs_block_off(&vfs->g,
						       e & OD_MAP_BLOCK_MASK),
					 bs);
			pthread_mutex_unlock(&vfs->data_mu);
			if (rc == 0)
				rc = vfs_io_flush(vfs, vfs->lun);
			if (rc == 0) {
				tx_begin(vfs);
				rc = bmap_set(vfs, &r, l, e & ~OD_MAP_TBZ);
				rc = tx_end(vfs, rc, true);
			}
			l++;
			continue;
		}
		/* A run of holes. */
		while (n < step) {
			rc = bmap_get(vfs, &r, l + n, &e);
			if (rc < 0 || (e & OD_MAP_PRESENT))
				break;
			n++;
		}
		if (rc < 0)
			break;
		if (alloc == VFS_ALLOC_EAGER_ZEROED) {
			rc = eager_run(vfs, vn, &r, l, n, &hint);
			if (rc > 0) {
				l += (uint64_t)rc;
				rc = 0;
			}
			continue;
		}
		tx_begin(vfs);
		for (uint64_t done = 0; done < n && rc == 0;) {
			uint64_t first;
			int got = alloc_blocks(vfs, hint, n - done, &first);

			if (got < 0) {
				rc = got;
				break;
			}
			for (int i = 0; i < got && rc == 0; i++)
				rc = bmap_set(vfs, &r, l + done + (uint64_t)i,
					      OD_MAP_PRESENT | OD_MAP_TBZ |
						      (first + (uint64_t)i));
			if (rc == 0)
				rc = inode_dirty(vfs, &r);
			if (rc == 0)
				inode_body(&r)->blocks =
					to_le64(le64(inode_body(&r)->blocks) +
						(uint64_t)got);
			done += (uint64_t)got;
			hint = first + (uint64_t)got;
		}
		rc = tx_end(vfs, rc, true);
		l += n;
	}
	chunks_drop(vn);
	if (rc == 0)
		rc = journal_commit(vfs);
	return rc;
}

/* ---- punching holes (vfs->mu and vn->mu held) ---- */

static int data_io(struct vfs *vfs, bool write, uint64_t lun_off,
		   uint8_t *buf, uint64_t len, uint8_t *bounce);
static int file_enter(struct vfs_file *file, bool exclusive);
static void file_leave(struct vfs_file *file);

/* Writes zeros over the DATA parts of [off, end) (holes and to-be-zeroed
 * blocks read as zeros already). */
static int
zero_part(struct vfs *vfs, struct vnode *vn, uint64_t off, uint64_t end)
{
	struct vfs_extent ext[8];
	uint8_t *zeros = NULL, *bounce = NULL;
	int rc = 0, n;

	while (off < end && rc == 0) {
		n = map_range(vfs, vn, off, end - off, false, true, ext,
			      ARRAY_SIZE(ext));
		if (n <= 0) {
			rc = n;
			break;
		}
		for (int i = 0; i < n && rc == 0; i++) {
			uint64_t len = ext[i].len_bytes;

			off = ext[i].file_offset + len;
			if (ext[i].type != VFS_EXTENT_DATA)
				continue;
			if (!zeros) {
				zeros = calloc(1, vfs->g.block_bytes);
				bounce = vfs_alloc_buf(vfs->g.block_bytes +
						       2 * VFS_SECTOR);
				if (!zeros || !bounce) {
					rc = -ENOMEM;
					break;
				}
			}
			rc = data_io(vfs, true, ext[i].lun_offset, zeros, len,
				     bounce);
		}
	}
	free(zeros);
	free(bounce);
	return rc;
}

struct punch {
	uint64_t run_first, run_len;   /* blocks to free, batched */
	uint64_t freed;
};

static int
punch_flush(struct vfs *vfs, struct punch *p)
{
	int rc = p->run_len ? free_blocks(vfs, p->run_first, p->run_len) : 0;

	p->run_len = 0;
	return rc;
}

/*
 * One bounded transaction: frees (or flags to-be-zeroed, 'keep') the
 * present leaves of [lblk, hi). Returns the leaf it stopped before.
 */
static int
punch_step(struct vfs *vfs, struct vnode *vn, uint64_t lblk, uint64_t hi,
	   bool keep, uint64_t *next)
{
	uint64_t end = MIN(hi, lblk + tx_step_blocks(vfs)), l;
	struct punch p = { 0 };
	struct inode_ref r;
	int rc;

	tx_begin(vfs);
	rc = inode_get(vfs, vn->ino, vn->lock, &r);
	for (l = lblk; l < end && rc == 0; l++) {
		uint64_t e, b;

		/* Scattered blocks touch many cluster headers: stop at a
		 * share of the ring, commit, and carry on from here. */
		if (vfs->jn.op_bytes > vfs->jn.ring_bytes / 8)
			break;
		rc = bmap_get(vfs, &r, l, &e);
		if (rc < 0 || !(e & OD_MAP_PRESENT))
			continue;
		if (keep) {
			if (!(e & OD_MAP_TBZ))
				rc = bmap_set(vfs, &r, l, e | OD_MAP_TBZ);
			continue;
		}
		b = e & OD_MAP_BLOCK_MASK;
		if (b >= vfs->g.data_blocks) {
			rc = -EUCLEAN;
			break;
		}
		rc = bmap_set(vfs, &r, l, 0);
		if (rc < 0)
			break;
		p.freed++;
		if (p.run_len && p.run_first + p.run_len == b) {
			p.run_len++;
			continue;
		}
		rc = punch_flush(vfs, &p);
		p.run_first = b;
		p.run_len = 1;
	}
	if (rc == 0)
		rc = punch_flush(vfs, &p);
	if (rc == 0 && p.freed) {
		struct od_inode *body = inode_body(&r);

		rc = inode_dirty(vfs, &r);
		if (rc == 0 && le64(body->blocks) < p.freed)
			rc = -EUCLEAN;
		if (rc == 0)
			body->blocks = to_le64(le64(body->blocks) - p.freed);
	}
	if (rc == 0 && l > lblk) {
		rc = inode_dirty(vfs, &r);
		if (rc == 0)
			inode_body(&r)->mtime_ns = to_le64(clock_wall_ns());
	}
	rc = tx_end(vfs, rc, true);
	*next = l;
	return rc;
}

static int
punch_locked(struct vfs *vfs, struct vnode *vn, uint64_t off, uint64_t len,
	     bool keep)
{
	uint64_t bs = vfs->g.block_bytes, end, lo, hi, l;
	struct inode_ref r;
	int rc;

	if (off >= vn->size || len == 0)
		return 0;
	if (vn->small) {
		rc = small_zero(vfs, vn, off, len);
		return rc ? rc : journal_commit(vfs);
	}
	end = len > vn->size - off ? vn->size : off + len;
	rc = commit_locked(vfs, vn);
	if (rc < 0)
		return rc;
	rc = inode_get(vfs, vn->ino, vn->lock, &r);
	if (rc < 0)
		return rc;
	/* Thick files keep what their type promises. */
	if (le32(inode_body(&r)->alloc) != VFS_ALLOC_THIN)
		keep = true;
	/* Whole blocks; the last one counts whole when the range runs to
	 * the end of the file (past the size it reads zeros already). */
	lo = DIV_ROUND_UP(off, bs);
	hi = end == vn->size ? DIV_ROUND_UP(end, bs) : end / bs;
	if (lo >= hi) {
		rc = zero_part(vfs, vn, off, end);
		lo = hi = 0;
	} else {
		rc = zero_part(vfs, vn, off, lo * bs);
		if (rc == 0 && hi * bs < end)
			rc = zero_part(vfs, vn, hi * bs, end);
	}
	/* Durable zeros at the edges, before any block changes. */
	if (rc == 0 && (lo * bs != off || hi * bs < end)) {
		pthread_mutex_lock(&vfs->data_mu);
		rc = vfs_io_flush(vfs, vfs->data_lun);
		pthread_mutex_unlock(&vfs->data_mu);
	}
	for (l = lo; l < hi && rc == 0;)
		rc = punch_step(vfs, vn, l, hi, keep, &l);
	if (rc == 0)
		rc = journal_commit(vfs);
	chunks_drop(vn);
	return rc;
}

int
vfs_file_punch(struct vfs_file *file, uint64_t offset, uint64_t len)
{
	int rc = file_enter(file, true);

	if (rc < 0)
		return rc;
	rc = punch_locked(file->vfs, file->vn, offset, len, false);
	file_leave(file);
	return rc;
}

int
vfs_file_zero_range(struct vfs_file *file, uint64_t offset, uint64_t len)
{
	int rc = file_enter(file, true);

	if (rc < 0)
		return rc;
	rc = punch_locked(file->vfs, file->vn, offset, len, true);
	file_leave(file);
	return rc;
}

static int
file_enter(struct vfs_file *file, bool exclusive)
{
	int rc = vfs_op_enter(file->vfs, true);

	if (rc < 0)
		return rc;
	if (exclusive && file->vn->mode != OD_LOCK_EX) {
		vfs_op_leave(file->vfs);
		return -EROFS;
	}
	pthread_mutex_lock(&file->vn->mu);
	return 0;
}

static void
file_leave(struct vfs_file *file)
{
	pthread_mutex_unlock(&file->vn->mu);
	vfs_op_leave(file->vfs);
}

int
vfs_file_truncate(struct vfs_file *file, uint64_t size_bytes)
{
	int rc = file_enter(file, true);

	if (rc < 0)
		return rc;
	rc = resize_locked(file->vfs, file->vn, size_bytes);
	file_leave(file);
	return rc;
}

int
vfs_file_extend(struct vfs_file *file, uint64_t size_bytes,
		enum vfs_alloc alloc)
{
	uint64_t old;
	int rc;

	if (alloc > VFS_ALLOC_EAGER_ZEROED)
		return -EINVAL;
	rc = file_enter(file, true);
	if (rc < 0)
		return rc;
	old = file->vn->size;
	if (size_bytes < old)
		rc = -EINVAL;
	else if (size_bytes > old)
		rc = resize_locked(file->vfs, file->vn, size_bytes);
	if (rc == 0)
		rc = provision_locked(file->vfs, file->vn, old,
				      size_bytes - old, alloc);
	file_leave(file);
	return rc;
}

int
vfs_file_allocate(struct vfs_file *file, uint64_t offset, uint64_t len,
		  enum vfs_alloc alloc)
{
	int rc;

	if (alloc > VFS_ALLOC_EAGER_ZEROED)
		return -EINVAL;
	rc = file_enter(file, true);
	if (rc < 0)
		return rc;
	rc = provision_locked(file->vfs, file->vn, offset, len, alloc);
	file_leave(file);
	return rc;
}

int
vfs_file_sync(struct vfs_file *file)
{
	struct vfs *vfs = file->vfs;
	int rc;

	if (file->vn->mode != OD_LOCK_EX && file->vn->mode != OD_LOCK_MW)
		return 0;
	rc = file_enter(file, false);
	if (rc < 0)
		return rc;
	rc = commit_locked(vfs, file->vn);
	if (rc == 0) {
		pthread_mutex_lock(&vfs->data_mu);
		rc = vfs_io_flush(vfs, vfs->data_lun);
		pthread_mutex_unlock(&vfs->data_mu);
	}
	if (rc == 0)
		rc = journal_commit(vfs);
	file_leave(file);
	return rc;
}

/* ---- synchronous I/O ---- */

/* Reads or writes [lun_off, +len) through the session's data handle,
 * bouncing through an aligned buffer. */
static int
data_io(struct vfs *vfs, bool write, uint64_t lun_off, uint8_t *buf,
	uint64_t len, uint8_t *bounce)
{
	uint64_t a0 = ALIGN_DOWN(lun_off, VFS_SECTOR);
	uint64_t a1 = ALIGN_UP(lun_off + len, VFS_SECTOR);
	int rc = 0;

	pthread_mutex_lock(&vfs->data_mu);
	if (!write) {
		rc = vfs_io_read(vfs, vfs->data_lun, a0, bounce, a1 - a0);
		if (rc == 0)
			memcpy(buf, bounce + (lun_off - a0), len);
		goto out;
	}
	if (lun_off != a0)
		rc = vfs_io_read(vfs, vfs->data_lun, a0, bounce, VFS_SECTOR);
	if (rc == 0 && lun_off + len != a1 &&
	    (a1 - VFS_SECTOR != a0 || lun_off == a0))
		rc = vfs_io_read(vfs, vfs->data_lun, a1 - VFS_SECTOR,
				 bounce + (a1 - VFS_SECTOR - a0), VFS_SECTOR);
	if (rc == 0) {
		memcpy(bounce + (lun_off - a0), buf, len);
		rc = vfs_io_write(vfs, vfs->data_lun, a0, bounce, a1 - a0, 0);
	}
out:
	pthread_mutex_unlock(&vfs->data_mu);
	return rc;
}

static int64_t
rw(struct vfs_file *file, bool write, uint8_t *buf, uint64_t len,
   uint64_t offset)
{
	struct vfs_extent ext[16];
	/* Sized to the request: small calls (FUSE, metadata-sized files)
	 * should not pay for a 1 MiB buffer each. */
	uint8_t *bounce = vfs_alloc_buf(ALIGN_UP(MIN(len, (uint64_t)BOUNCE_BYTES),
						 VFS_SECTOR) + 2 * VFS_SECTOR);
	uint64_t done = 0;
	int rc = 0;

	if (!bounce)
		return -ENOMEM;
	while (done < len && rc >= 0) {
		uint64_t piece = MIN(len - done, (uint64_t)BOUNCE_BYTES);
		int n = vfs_file_map(file, offset + done, piece,
				     write ? VFS_MAP_WRITE : 0, ext,
				     ARRAY_SIZE(ext));

		if (n <= 0) {
			rc = n;
			break;
		}
		for (int i = 0; i < n && rc >= 0; i++) {
			uint8_t *p = buf + (ext[i].file_offset - offset);

			if (ext[i].type == VFS_EXTENT_DATA)
				rc = data_io(file->vfs, write,
					     ext[i].lun_offset, p,
					     ext[i].len_bytes, bounce);
			else
				memset(p, 0, ext[i].len_bytes);
			done = ext[i].file_offset + ext[i].len_bytes - offset;
		}
	}
	free(bounce);
	return rc < 0 ? rc : (int64_t)done;
}

/* Reads a small file; -EAGAIN once it has moved to a block. */
static int64_t
small_pread(struct vfs_file *file, void *buf, uint64_t len, uint64_t offset)
{
	int rc = vfs_op_enter(file->vfs, false);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&file->vn->mu);
	rc = small_read(file->vfs, file->vn, buf, len, offset);
	pthread_mutex_unlock(&file->vn->mu);
	vfs_op_leave(file->vfs);
	return rc;
}

int64_t
vfs_file_pread(struct vfs_file *file, void *buf, uint64_t len,
	       uint64_t offset)
{
	if (offset >= file->vn->size)
		return 0;
	if (file->vn->small) {
		int64_t n = small_pread(file, buf, len, offset);

		if (n != -EAGAIN)
			return n;
	}
	return rw(file, false, buf, MIN(len, file->vn->size - offset), offset);
}

int64_t
vfs_file_pwrite(struct vfs_file *file, const void *buf, uint64_t len,
		uint64_t offset)
{
	struct vfs *vfs = file->vfs;
	struct vnode *vn = file->vn;
	int64_t n;
	int rc;

	if (vn->mode != OD_LOCK_EX && vn->mode != OD_LOCK_MW)
		return -EROFS;
	if (len == 0)
		return 0;
	if (vn->small) {
		/* Multi-writers only write provisioned blocks. */
		if (vn->mode != OD_LOCK_EX)
			return -EBUSY;
		/* A lapsed lease refuses at once, as the data path does,
		 * rather than at the commit that would carry the write. */
		rc = hb_write_allowed(vfs, vfs_now(vfs));
		if (rc < 0)
			return rc;
		rc = file_enter(file, true);
		if (rc < 0)
			return rc;
		if (!vn->small)
			rc = 0;
		else if (offset + len <= OD_INLINE_MAX)
			rc = small_write(vfs, vn, buf, len, offset) ?:
			     (int)len;
		else
			rc = unsmall(vfs, vn);
		file_leave(file);
		if (rc != 0)
			return rc;
	}
	if (offset + len > vn->size) {
		if (vn->mode != OD_LOCK_EX)
			return -EROFS;
		rc = file_enter(file, true);
		if (rc < 0)
			return rc;
		rc = offset + len > vn->size ?
			     resize_locked(vfs, vn, offset + len) : 0;
		file_leave(file);
		if (rc < 0)
			return rc;
	}
	n = rw(file, true, (uint8_t *)buf, len, offset);
	if (n >= 0 && vn->npend >= PWRITE_COMMIT_RUNS) {
		rc = vfs_file_commit(file);
		if (rc < 0)
			return rc;
	}
	return n;
}

/* ---- open and close ---- */

static int
vnode_new(struct vfs *vfs, uint64_t ino, uint32_t gen, struct vlock *vl,
	  uint8_t mode, struct vnode **out)
{
	struct vnode *vn = calloc(1, sizeof(*vn));
	struct inode_ref r;
	int rc;

	if (!vn)
		return -ENOMEM;
	vn->ino = ino;
	vn->generation = gen;
	vn->lock = vl;
	vn->mode = mode;
	pthread_mutex_init(&vn->mu, NULL);
	if (vl) {
		rc = inode_get(vfs, ino, vl, &r);
		if (rc == 0 && (le16(inode_body(&r)->type) != OD_INODE_FILE ||
				le32(inode_body(&r)->generation) != gen))
			rc = -ENOENT;
		if (rc == 0) {
			vn->size = le64(inode_body(&r)->size);
			vn->small = od_inode_inline(inode_body(&r));
		}
	} else {
		vn->ro_body = vfs_alloc_buf(sizeof(*vn->ro_body));
		rc = vn->ro_body ? inode_read_unlocked(vfs, ino, vn->ro_body) :
				   -ENOMEM;
		if (rc == 0 && (le16(vn->ro_body->type) != OD_INODE_FILE ||
				le32(vn->ro_body->generation) != gen))
			rc = -ENOENT;
		if (rc == 0) {
			vn->size = le64(vn->ro_body->size);
			vn->small = od_inode_inline(vn->ro_body);
		}
	}
	if (rc < 0) {
		pthread_mutex_destroy(&vn->mu);
		free(vn->ro_body);
		free(vn);
		return rc;
	}
	vn->opens = 1;
	vn->next = vfs->vnodes;
	vfs->vnodes = vn;
	*out = vn;
	return 0;
}

static void
vnode_free(struct vfs *vfs, struct vnode *vn)
{
	struct vnode **pp = &vfs->vnodes;

	while (*pp != vn)
		pp = &(*pp)->next;
	*pp = vn->next;
	chunks_drop(vn);
	free(vn->chunks);
	free(vn->ro_body);
	pthread_mutex_destroy(&vn->mu);
	lock_put(vfs, vn->lock);
	free(vn);
}

static int
file_wrap(struct vfs *vfs, struct vnode *vn, struct vfs_file **out)
{
	struct vfs_file *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->vfs = vfs;
	f->vn = vn;
	*out = f;
	return 0;
}

/* Closes one open of 'vn' (vfs->mu held). */
static void
vnode_put(struct vfs *vfs, struct vnode *vn)
{
	int rc;

	pthread_mutex_lock(&vn->mu);
	rc = vn->lock ? commit_locked(vfs, vn) : 0;
	pthread_mutex_unlock(&vn->mu);
	if (rc < 0)
		log_err(VFS_LOG, "inode %llu: committing at close: %s",
			(unsigned long long)vn->ino, strerror(-rc));
	if (--vn->opens == 0)
		vnode_free(vfs, vn);
}

/* Opens an existing inode with mu held. */
static int
open_locked(struct vfs *vfs, const struct dir_hit *hit, unsigned int flags,
	    struct vfs_file **out)
{
	struct lock_req req = { .mode = mode_of(flags),
				.nowait = flags & VFS_O_NOWAIT };
	struct vnode *vn = vnode_find(vfs, hit->ino);
	struct vlock *vl = NULL;
	int rc;

	if (!vfs_writable(vfs))
		req.mode = OD_LOCK_FREE;
	if (vn) {
		if (vn->mode != req.mode || req.mode == OD_LOCK_EX)
			return -EBUSY;
		rc = file_wrap(vfs, vn, out);
		if (rc == 0)
			vn->opens++;
		return rc;
	}
	if (req.mode != OD_LOCK_FREE) {
		rc = lock_acquire(vfs, inode_lock_off(vfs, hit->ino), &req, &vl,
				  NULL);
		if (rc < 0)
			return rc;
	}
	rc = vnode_new(vfs, hit->ino, hit->generation, vl, req.mode, &vn);
	if (rc < 0) {
		lock_put(vfs, vl);
		return rc;
	}
	rc = file_wrap(vfs, vn, out);
	if (rc < 0)
		vnode_put(vfs, vn);
	return rc;
}

int
vfs_file_open(struct vfs *vfs, const char *path, unsigned int flags,
	      struct vfs_file **out)
{
	struct dir_hit hit;
	int rc;

	if ((flags & VFS_O_SHARED) && (flags & VFS_O_MULTI_WRITER))
		return -EINVAL;
	if (flags & VFS_O_CREATE) {
		rc = vfs_file_create(vfs, path, NULL, flags, out);
		if (rc != -EEXIST || (flags & VFS_O_EXCL))
			return rc;
	}
	rc = vfs_op_enter(vfs, false);
	if (rc < 0)
		return rc;
	/* A lookup without locks may race with a rename or unlink: the
	 * inode is checked once locked, and looked up again if it moved. */
	for (int attempt = 0; attempt < 3; attempt++) {
		rc = path_resolve(vfs, path, &hit);
		if (rc == 0 && hit.type != OD_INODE_FILE)
			rc = -EISDIR;
		if (rc == 0)
			rc = open_locked(vfs, &hit, flags, out);
		if (rc != -ENOENT)
			break;
	}
	vfs_op_leave(vfs);
	return rc;
}

int
vnode_create_open(struct vfs *vfs, const struct dir_hit *hit,
		  struct vlock *vl, const struct vfs_create_opts *o,
		  unsigned int flags, struct vfs_file **out)
{
	struct vnode *vn;
	int rc;

	rc = vnode_new(vfs, hit->ino, hit->generation, vl, OD_LOCK_EX, &vn);
	if (rc < 0) {
		lock_put(vfs, vl);
		return rc;
	}
	if (o->size_bytes) {
		pthread_mutex_lock(&vn->mu);
		rc = resize_locked(vfs, vn, o->size_bytes);
		if (rc == 0)
			rc = provision_locked(vfs, vn, 0, o->size_bytes,
					      o->alloc);
		pthread_mutex_unlock(&vn->mu);
	}
	if (rc == 0 && out && mode_of(flags) == OD_LOCK_EX) {
		vl->internal = false;
		rc = file_wrap(vfs, vn, out);
		if (rc == 0)
			return 0;
	}
	vnode_put(vfs, vn);
	if (rc == 0 && out)
		rc = open_locked(vfs, hit, flags, out);
	return rc;
}

void
vfs_file_close(struct vfs_file *file)
{
	struct vfs *vfs;

	if (!file)
		return;
	vfs = file->vfs;
	pthread_mutex_lock(&vfs->mu);
	vnode_put(vfs, file->vn);
	pthread_mutex_unlock(&vfs->mu);
	free(file);
}

void
vnode_close_all(struct vfs *vfs)
{
	while (vfs->vnodes) {
		vfs->vnodes->opens = 1;
		vnode_put(vfs, vfs->vnodes);
	}
}

int
vfs_file_stat(struct vfs_file *file, struct vfs_stat *st)
{
	struct vfs *vfs = file->vfs;
	int rc = vfs_op_enter(vfs, false);

	if (rc < 0)
		return rc;
	rc = inode_stat(vfs, file->vn->ino, file->vn->generation, st);
	vfs_op_leave(vfs);
	return rc;
}

enum vfs_lock_mode
vfs_file_lock_mode(const struct vfs_file *file)
{
	switch (file->vn->mode) {
	case OD_LOCK_EX: return VFS_LOCK_EXCLUSIVE;
	case OD_LOCK_SH: return VFS_LOCK_SHARED;
	case OD_LOCK_MW: return VFS_LOCK_MULTI_WRITER;
	}
	return VFS_LOCK_NONE;
}

uint32_t
vfs_file_block_bytes(const struct vfs_file *file)
{
	return file->vfs->g.block_bytes;
}
