/* SPDX-License-Identifier: MIT */
/*
 * Resource clusters: each data cluster covers dcluster_blocks file blocks,
 * each meta cluster mcluster_blocks mblocks, with a bitmap and a free
 * count in a header guarded by the cluster's own lock. A host keeps to
 * "its" clusters (affinity: it starts at a cluster derived from its slot
 * and stays while there is room), and since cluster locks are cached, a
 * host allocating steadily does no lock I/O at all. Another host's
 * cluster is only tried without waiting first; waiting comes last.
 *
 * The metadata pool is separate from the data blocks, so a full
 * datastore fails data allocations with -ENOSPC while every metadata
 * change that does not need a new mblock still goes through.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "vfs-cluster/vfs-internal.h"

struct cref {
	struct vlock *vl;
	struct mitem *it;
	struct od_cluster *c;
};

static uint64_t
lock_off(const struct vfs_geom *g, uint32_t type, uint32_t c)
{
	if (type == OD_CLUSTER_DATA)
		return vfs_dcluster_off(g, c);
	return vfs_mblock_off(g, vfs_mcluster_hdr(g, c));
}

static bool
bit_get(const uint8_t *map, uint32_t b)
{
	return map[b / 8] & (1u << (b % 8));
}

static void
bit_set(uint8_t *map, uint32_t b, bool v)
{
	if (v)
		map[b / 8] |= (uint8_t)(1u << (b % 8));
	else
		map[b / 8] &= (uint8_t)~(1u << (b % 8));
}

int
alloc_init(struct vfs *vfs)
{
	struct alloc_state *a = &vfs->al;
	const struct vfs_geom *g = &vfs->g;
	uint32_t s = vfs->slot < 0 ? 0 : (uint32_t)vfs->slot;
	uint32_t half = g->mclusters / 2;

	a->dfull = calloc(g->dclusters, 1);
	a->mfull = calloc(g->mclusters, 1);
	a->dresv = calloc(g->dclusters, sizeof(*a->dresv));
	if (!a->dfull || !a->mfull || !a->dresv)
		return -ENOMEM;
	/* Spread the hosts: golden-ratio steps never pile two slots onto
	 * neighbouring clusters until there are more hosts than clusters. */
	a->dcur = (uint32_t)(((uint64_t)s * 2654435761u) % g->dclusters);
	a->mcur[0] = 2 * (uint32_t)(((uint64_t)s * 2654435761u) %
				    MAX(half, 1u));
	a->mcur[1] = MIN(a->mcur[0] + 1, g->mclusters - 1);
	if (od_mcluster_type(a->mcur[1]) != OD_CLUSTER_MBLK)
		a->mcur[1] = 1;
	return 0;
}

void
alloc_fini(struct vfs *vfs)
{
	struct alloc_state *a = &vfs->al;

	if (a->dresv)
		for (uint32_t c = 0; c < vfs->g.dclusters; c++)
			free(a->dresv[c]);
	free(a->dresv);
	free(a->dfull);
	free(a->mfull);
	memset(a, 0, sizeof(*a));
}

static int
cluster_get(struct vfs *vfs, uint32_t type, uint32_t c, bool nowait,
	    struct cref *r)
{
	const struct lock_req req = { .mode = OD_LOCK_EX, .nowait = nowait,
				      .internal = true };
	uint64_t off = lock_off(&vfs->g, type, c);
	int rc;

	rc = lock_acquire(vfs, off, &req, &r->vl, NULL);
	if (rc < 0)
		return rc;
	rc = bc_get(vfs, off + VFS_SECTOR, VFS_MBLOCK - VFS_SECTOR, r->vl,
		    &r->it);
	if (rc == 0) {
		r->c = (struct od_cluster *)r->it->buf;
		rc = r->it->checked ? 0 : od_cluster_check(r->c, c, type,
							   &vfs->g);
		r->it->checked = rc == 0;
		if (rc < 0)
			log_err(VFS_LOG, "cluster %u (type %u) is corrupt", c,
				type);
	}
	if (rc < 0)
		lock_put(vfs, r->vl);
	return rc;
}

/* Peeks at a cluster's free count without its lock. */
static int
peek_free(struct vfs *vfs, uint32_t type, uint32_t c, uint32_t *nfree)
{
	uint8_t *buf = vfs_alloc_buf(VFS_MBLOCK - VFS_SECTOR);
	const struct od_cluster *cl = (const struct od_cluster *)buf;
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = bc_read_any(vfs, lock_off(&vfs->g, type, c) + VFS_SECTOR, buf,
			 VFS_MBLOCK - VFS_SECTOR);
	if (rc == 0)
		rc = od_cluster_check(cl, c, type, &vfs->g);
	if (rc == 0)
		*nfree = le32(cl->nfree);
	free(buf);
	return rc;
}

/*
 * Finds up to 'want' free bits in a row, starting at 'start' if it is
 * free, else at the first free bit after it. Returns the count.
 */
static uint32_t
find_run(const struct od_cluster *c, const uint8_t *resv, uint32_t start,
	 uint64_t want, uint32_t *bit)
{
	uint32_t nbits = le32(c->nbits), b, n;

	if (start >= nbits)
		start = 0;
	for (uint32_t k = 0; k < nbits; k++) {
		b = (start + k) % nbits;
		if (bit_get(c->bitmap, b) || (resv && bit_get(resv, b)))
			continue;
		for (n = 0; b + n < nbits && n < want; n++)
			if (bit_get(c->bitmap, b + n) ||
			    (resv && bit_get(resv, b + n)))
				break;
		*bit = b;
		return n;
	}
	return 0;
}

static void
mark(struct od_cluster *c, uint32_t bit, uint32_t n, bool used)
{
	for (uint32_t i = 0; i < n; i++)
		bit_set(c->bitmap, bit + i, used);
	if (used)
		c->nfree = to_le32(le32(c->nfree) - n);
	else
		c->nfree = to_le32(le32(c->nfree) + n);
}

/*
 * Walks the clusters of 'type' from 'c0': first only those not known
 * full and without waiting for other hosts, then all of them, waiting.
 * Calls 'fn' with each cluster obtained; 'fn' returns > 0 when done.
 */
static int
scan(struct vfs *vfs, uint32_t type, uint32_t c0, uint8_t *full,
     int (*fn)(struct vfs *, struct cref *, uint32_t, void *), void *arg)
{
	uint32_t n = type == OD_CLUSTER_DATA ? vfs->g.dclusters :
					       vfs->g.mclusters;

	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t k = 0; k < n; k++) {
			uint32_t c = (c0 + k) % n, nfree;
			struct cref r;
			int rc;

			if (type != OD_CLUSTER_DATA &&
			    od_mcluster_type(c) != type)
				continue;
			if (pass == 0 && full[c])
				continue;
			if (pass == 1) {
				rc = peek_free(vfs, type, c, &nfree);
				if (rc == 0 && nfree == 0)
					continue;
			}
			rc = cluster_get(vfs, type, c, pass == 0, &r);
			if (rc == -EBUSY)
				continue;
			if (rc < 0)
				return rc;
			rc = fn(vfs, &r, c, arg);
			if (rc >= 0)
				full[c] = rc == 0;
			if (rc != 0)
				return rc;
		}
	}
	return -ENOSPC;
}

struct mb_arg {
	uint64_t out;
	const uint64_t *avoid;
	unsigned int navoid;
};

static bool
avoided(const struct mb_arg *a, uint64_t m)
{
	for (unsigned int i = 0; i < a->navoid; i++)
		if (a->avoid[i] == m)
			return true;
	return false;
}

static int
mb_take(struct vfs *vfs, struct cref *r, uint32_t c, void *arg)
{
	struct mb_arg *a = arg;
	uint32_t bit = 0, nbits = le32(r->c->nbits);
	bool found = false;
	int rc;

	for (; bit < nbits; bit++) {
		if (bit_get(r->c->bitmap, bit) ||
		    avoided(a, le64(r->c->first) + bit))
			continue;
		found = true;
		break;
	}
	if (!found) {
		lock_put(vfs, r->vl);
		return 0;
	}
	rc = tx_dirty(vfs, r->it);
	if (rc == 0) {
		mark(r->c, bit, 1, true);
		a->out = le64(r->c->first) + bit;
	}
	lock_put(vfs, r->vl);
	return rc < 0 ? rc : 1;
}

int
alloc_mblock(struct vfs *vfs, enum mblock_kind kind, uint64_t *out)
{
	return alloc_mblock_avoid(vfs, kind, NULL, 0, out);
}

int
alloc_mblock_avoid(struct vfs *vfs, enum mblock_kind kind,
		   const uint64_t *avoid, unsigned int navoid, uint64_t *out)
{
	struct alloc_state *a = &vfs->al;
	unsigned int k = kind == MBLOCK_INODE ? 0 : 1;
	struct mb_arg arg = { .avoid = avoid, .navoid = navoid };
	int rc;

	rc = scan(vfs, kind, a->mcur[k], a->mfull, mb_take, &arg);
	if (rc < 0)
		return rc;
	*out = arg.out;
	a->mcur[k] = (uint32_t)(arg.out / (vfs->g.mcluster_blocks + 1));
	return 0;
}

int
free_mblock(struct vfs *vfs, uint64_t mblock)
{
	uint64_t per = (uint64_t)vfs->g.mcluster_blocks + 1;
	uint32_t c = (uint32_t)(mblock / per), bit;
	struct cref r;
	int rc;

	if (!vfs_mblock_valid(&vfs->g, mblock))
		return -EUCLEAN;
	bit = (uint32_t)(mblock % per) - 1;
	rc = cluster_get(vfs, od_mcluster_type(c), c, false, &r);
	if (rc < 0)
		return rc;
	if (!bit_get(r.c->bitmap, bit)) {
		log_err(VFS_LOG, "freeing free mblock %llu",
			(unsigned long long)mblock);
		rc = -EUCLEAN;
	} else {
		rc = tx_dirty(vfs, r.it);
		if (rc == 0)
			mark(r.c, bit, 1, false);
	}
	lock_put(vfs, r.vl);
	if (rc == 0)
		vfs->al.mfull[c] = 0;
	return rc;
}

struct blk_arg {
	uint64_t hint, want, first;
	uint64_t count;
	bool reserve;
	struct vlock *vl;
};

static int
blk_take(struct vfs *vfs, struct cref *r, uint32_t c, void *arg)
{
	struct blk_arg *a = arg;
	uint64_t first = le64(r->c->first);
	uint32_t start = 0, bit, n;
	uint8_t **resv = &vfs->al.dresv[c];
	int rc = 0;

	if (a->hint >= first && a->hint < first + le32(r->c->nbits))
		start = (uint32_t)(a->hint - first);
	if (a->reserve && !*resv) {
		*resv = calloc(1, OD_CLUSTER_BITS / 8);
		if (!*resv) {
			lock_put(vfs, r->vl);
			return -ENOMEM;
		}
	}
	n = find_run(r->c, *resv, start, a->want, &bit);
	if (n == 0) {
		lock_put(vfs, r->vl);
		return 0;
	}
	if (a->reserve) {
		for (uint32_t i = 0; i < n; i++)
			bit_set(*resv, bit + i, true);
		a->vl = r->vl;          /* keeps the user: pinned */
	} else {
		rc = tx_dirty(vfs, r->it);
		if (rc == 0)
			mark(r->c, bit, n, true);
		lock_put(vfs, r->vl);
	}
	a->first = first + bit;
	a->count = n;
	vfs->al.dcur = c;
	return rc < 0 ? rc : 1;
}

static int
blocks(struct vfs *vfs, struct blk_arg *a)
{
	uint32_t c0 = vfs->al.dcur;
	int rc;

	if (a->hint < vfs->g.data_blocks)
		c0 = (uint32_t)(a->hint / vfs->g.dcluster_blocks);
	if (a->want == 0)
		return -EINVAL;
	rc = scan(vfs, OD_CLUSTER_DATA, c0, vfs->al.dfull, blk_take, a);
	return rc < 0 ? rc : (int)a->count;
}

int
alloc_blocks(struct vfs *vfs, uint64_t hint, uint64_t want, uint64_t *first)
{
	struct blk_arg a = { .hint = hint, .want = want };
	int rc = blocks(vfs, &a);

	if (rc > 0)
		*first = a.first;
	return rc;
}

int
alloc_reserve(struct vfs *vfs, uint64_t hint, uint64_t want, uint64_t *first,
	      struct vlock **lock)
{
	struct blk_arg a = { .hint = hint, .want = want, .reserve = true };
	int rc = blocks(vfs, &a);

	if (rc > 0) {
		*first = a.first;
		*lock = a.vl;
	}
	return rc;
}

static uint32_t
dcluster_of(const struct vfs *vfs, uint64_t block)
{
	return (uint32_t)(block / vfs->g.dcluster_blocks);
}

int
alloc_commit_reserved(struct vfs *vfs, uint64_t first, uint64_t count,
		      struct vlock *lock)
{
	uint32_t c = dcluster_of(vfs, first);
	struct mitem *it;
	struct od_cluster *cl;
	uint32_t bit;
	int rc;

	rc = bc_get(vfs, lock->off + VFS_SECTOR, VFS_MBLOCK - VFS_SECTOR, lock,
		    &it);
	if (rc < 0)
		return rc;
	cl = (struct od_cluster *)it->buf;
	rc = it->checked ? 0 : od_cluster_check(cl, c, OD_CLUSTER_DATA, &vfs->g);
	if (rc < 0)
		return rc;
	it->checked = true;
	bit = (uint32_t)(first - le64(cl->first));
	for (uint64_t i = 0; i < count; i++)
		if (bit_get(cl->bitmap, bit + (uint32_t)i))
			return -EUCLEAN;
	rc = tx_dirty(vfs, it);
	if (rc == 0)
		mark(cl, bit, (uint32_t)count, true);
	return rc;
}

void
alloc_unreserve(struct vfs *vfs, uint64_t first, uint64_t count,
		struct vlock *lock)
{
	uint32_t c = dcluster_of(vfs, first);
	uint8_t *resv = vfs->al.dresv[c];
	uint64_t base = (uint64_t)c * vfs->g.dcluster_blocks;

	if (resv)
		for (uint64_t i = 0; i < count; i++)
			bit_set(resv, (uint32_t)(first - base + i), false);
	lock_put(vfs, lock);
}

int
free_blocks(struct vfs *vfs, uint64_t first, uint64_t count)
{
	while (count) {
		uint32_t c = dcluster_of(vfs, first), bit, n;
		struct cref r;
		int rc;

		if (first + count > vfs->g.data_blocks || first + count < first)
			return -EUCLEAN;
		rc = cluster_get(vfs, OD_CLUSTER_DATA, c, false, &r);
		if (rc < 0)
			return rc;
		bit = (uint32_t)(first - le64(r.c->first));
		n = (uint32_t)MIN(count, (uint64_t)le32(r.c->nbits) - bit);
		for (uint32_t i = 0; i < n; i++) {
			if (!bit_get(r.c->bitmap, bit + i)) {
				log_err(VFS_LOG, "freeing free block %llu",
					(unsigned long long)(first + i));
				lock_put(vfs, r.vl);
				return -EUCLEAN;
			}
		}
		rc = tx_dirty(vfs, r.it);
		if (rc == 0)
			mark(r.c, bit, n, false);
		lock_put(vfs, r.vl);
		if (rc < 0)
			return rc;
		vfs->al.dfull[c] = 0;
		first += n;
		count -= n;
	}
	return 0;
}

int
alloc_count_free(struct vfs *vfs, uint64_t *free_blocks_out,
		 uint64_t *free_meta, uint64_t *free_inodes)
{
	uint64_t fb = 0, fm = 0, fi = 0;
	uint32_t nfree;
	int rc;

	for (uint32_t c = 0; c < vfs->g.dclusters; c++) {
		rc = peek_free(vfs, OD_CLUSTER_DATA, c, &nfree);
		if (rc < 0)
			return rc;
		fb += nfree;
	}
	for (uint32_t c = 0; c < vfs->g.mclusters; c++) {
		rc = peek_free(vfs, od_mcluster_type(c), c, &nfree);
		if (rc < 0)
			return rc;
		fm += nfree;
		if (od_mcluster_type(c) == OD_CLUSTER_INODE)
			fi += nfree;
	}
	*free_blocks_out = fb;
	*free_meta = fm;
	*free_inodes = fi;
	return 0;
}
