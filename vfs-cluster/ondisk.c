/* SPDX-License-Identifier: MIT */
/*
 * Encoders and validators for the on-disk structures in ondisk.h. The
 * validators are the only code that looks at untrusted bytes first: they
 * check magic, checksum, self-references and ranges, and everything
 * after them may rely on what they checked (ondisk-fuzz.c drives them).
 */
#include <errno.h>
#include <string.h>

#include "common/crc32c.h"
#include "vfs-cluster/ondisk.h"
#include "vfs-cluster/vfs.h"

uint32_t
od_crc(const void *buf, size_t len, size_t crc_off)
{
	static const uint8_t zero[4];
	uint32_t crc;

	crc = crc32c(0, buf, crc_off);
	crc = crc32c(crc, zero, 4);
	return crc32c(crc, (const uint8_t *)buf + crc_off + 4,
		      len - crc_off - 4);
}

bool
od_is_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* ---- volume header ---- */

static bool
overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int
vfs_geom_check(const struct vfs_geom *g, uint64_t lun_bytes)
{
	uint64_t hb_len, j_len, dch_len, meta_len, data_len;

	if (!IS_POW2(g->block_bytes) || g->block_bytes < (64u << 10) ||
	    g->block_bytes > (64u << 20))
		return -EUCLEAN;
	if (g->lease_ms < 1000 || g->lease_ms > 300000)
		return -EUCLEAN;
	if (g->slots < 1 || g->slots > 65536 || g->journals < 1 ||
	    g->journals > g->slots)
		return -EUCLEAN;
	if (g->journal_bytes < (64u << 10) || g->journal_bytes > (64u << 20) ||
	    g->journal_bytes % VFS_MBLOCK)
		return -EUCLEAN;
	if (g->dclusters == 0 || g->dcluster_blocks == 0 ||
	    g->dcluster_blocks > OD_CLUSTER_BITS || g->mclusters == 0 ||
	    g->mcluster_blocks < 2 || g->mcluster_blocks > OD_CLUSTER_BITS)
		return -EUCLEAN;
	if (g->data_blocks == 0 ||
	    g->data_blocks > (uint64_t)g->dclusters * g->dcluster_blocks ||
	    g->data_blocks <=
		    (uint64_t)(g->dclusters - 1) * g->dcluster_blocks ||
	    g->data_blocks > OD_MAP_BLOCK_MASK)
		return -EUCLEAN;
	if (g->locks_off != VFS_GLOBAL_LOCKS_OFF || g->hb_off != VFS_HB_OFF)
		return -EUCLEAN;
	if (g->journal_off % VFS_MBLOCK || g->dchdr_off % VFS_MBLOCK ||
	    g->meta_off % VFS_MBLOCK || g->data_off % g->block_bytes)
		return -EUCLEAN;
	hb_len = (uint64_t)g->slots * VFS_SECTOR;
	j_len = (uint64_t)g->journals * g->journal_bytes;
	dch_len = (uint64_t)g->dclusters * VFS_MBLOCK;
	meta_len = (uint64_t)g->mclusters * (g->mcluster_blocks + 1) *
		   VFS_MBLOCK;
	data_len = g->data_blocks * g->block_bytes;
	/* In order, no overlaps, all inside the LUN. */
	if (g->journal_off < g->hb_off + hb_len ||
	    g->dchdr_off < g->journal_off + j_len ||
	    g->meta_off < g->dchdr_off + dch_len ||
	    g->data_off < g->meta_off + meta_len)
		return -EUCLEAN;
	if (g->data_off > lun_bytes || data_len > lun_bytes - g->data_off ||
	    overlaps(g->hb_off, hb_len, g->locks_off,
		     VFS_GLOBAL_LOCKS * VFS_SECTOR))
		return -EUCLEAN;
	if (g->lun_bytes > lun_bytes)
		return -EUCLEAN;
	if (g->mclusters < 2 || !vfs_ino_valid(g, g->root_ino))
		return -EUCLEAN;
	return 0;
}

static void
derive(struct vfs_geom *g)
{
	g->meta_blocks = (uint64_t)g->mclusters * (g->mcluster_blocks + 1);
	g->meta_end = g->meta_off + g->meta_blocks * VFS_MBLOCK;
}

bool
vfs_mblock_valid(const struct vfs_geom *g, uint64_t mblock)
{
	uint64_t per = (uint64_t)g->mcluster_blocks + 1;

	if (mblock >= (uint64_t)g->mclusters * per)
		return false;
	return mblock % per != 0;
}

bool
vfs_ino_valid(const struct vfs_geom *g, uint64_t mblock)
{
	uint64_t per = (uint64_t)g->mcluster_blocks + 1;

	return vfs_mblock_valid(g, mblock) &&
	       od_mcluster_type((uint32_t)(mblock / per)) == OD_CLUSTER_INODE;
}

int
od_volume_in(const void *sector, struct vfs_geom *g)
{
	const struct od_volume *v = sector;
	uint64_t unknown;

	if (memcmp(v->magic, VFS_VOLUME_MAGIC, 8) != 0)
		return -EMEDIUMTYPE;
	if (le32(v->crc) != od_crc(v, VFS_SECTOR, offsetof(struct od_volume,
							     crc)))
		return -EUCLEAN;
	memset(g, 0, sizeof(*g));
	g->version = le32(v->version);
	g->incompat = le64(v->incompat);
	g->compat = le64(v->compat);
	g->autoclear = le64(v->autoclear);
	if (g->version == 0)
		return -EUCLEAN;
	unknown = g->incompat & ~VFS_INCOMPAT_SUPPORTED;
	if (g->version > VFS_FORMAT_VERSION || unknown)
		return -EPROTONOSUPPORT;
	memcpy(g->uuid, v->uuid, 16);
	memcpy(g->label, v->label, 64);
	g->label[63] = '\0';
	if (le32(v->sector_bytes) != VFS_SECTOR ||
	    le32(v->mblock_bytes) != VFS_MBLOCK)
		return -EUCLEAN;
	g->lun_bytes = le64(v->lun_bytes);
	g->created_wall_ns = le64(v->created_wall_ns);
	g->block_bytes = le32(v->block_bytes);
	g->lease_ms = le32(v->lease_ms);
	g->slots = le32(v->slots);
	g->journals = le32(v->journals);
	g->journal_bytes = le32(v->journal_bytes);
	g->locks_off = le64(v->locks_off);
	g->hb_off = le64(v->hb_off);
	g->journal_off = le64(v->journal_off);
	g->dchdr_off = le64(v->dchdr_off);
	g->dclusters = le32(v->dclusters);
	g->dcluster_blocks = le32(v->dcluster_blocks);
	g->meta_off = le64(v->meta_off);
	g->mclusters = le32(v->mclusters);
	g->mcluster_blocks = le32(v->mcluster_blocks);
	g->data_off = le64(v->data_off);
	g->data_blocks = le64(v->data_blocks);
	g->root_ino = le64(v->root_ino);
	derive(g);
	return vfs_geom_check(g, g->lun_bytes);
}

void
od_volume_out(const struct vfs_geom *g, void *sector)
{
	struct od_volume *v = sector;

	memset(v, 0, sizeof(*v));
	memcpy(v->magic, VFS_VOLUME_MAGIC, 8);
	v->version = to_le32(g->version);
	v->incompat = to_le64(g->incompat);
	v->compat = to_le64(g->compat);
	v->autoclear = to_le64(g->autoclear);
	memcpy(v->uuid, g->uuid, 16);
	memcpy(v->label, g->label, strnlen(g->label, sizeof(v->label) - 1));
	v->lun_bytes = to_le64(g->lun_bytes);
	v->created_wall_ns = to_le64(g->created_wall_ns);
	v->sector_bytes = to_le32(VFS_SECTOR);
	v->mblock_bytes = to_le32(VFS_MBLOCK);
	v->block_bytes = to_le32(g->block_bytes);
	v->lease_ms = to_le32(g->lease_ms);
	v->slots = to_le32(g->slots);
	v->journals = to_le32(g->journals);
	v->journal_bytes = to_le32(g->journal_bytes);
	v->locks_off = to_le64(g->locks_off);
	v->hb_off = to_le64(g->hb_off);
	v->journal_off = to_le64(g->journal_off);
	v->dchdr_off = to_le64(g->dchdr_off);
	v->dclusters = to_le32(g->dclusters);
	v->dcluster_blocks = to_le32(g->dcluster_blocks);
	v->meta_off = to_le64(g->meta_off);
	v->mclusters = to_le32(g->mclusters);
	v->mcluster_blocks = to_le32(g->mcluster_blocks);
	v->data_off = to_le64(g->data_off);
	v->data_blocks = to_le64(g->data_blocks);
	v->root_ino = to_le64(g->root_ino);
	v->crc = to_le32(od_crc(v, VFS_SECTOR, offsetof(struct od_volume, crc)));
}

/* ---- heartbeat slot ---- */

int
od_slot_in(const void *sector, uint32_t index, struct od_slot *out)
{
	const struct od_slot *s = sector;

	if (od_is_zero(sector, VFS_SECTOR)) {
		memset(out, 0, sizeof(*out));
		out->slot = index;
		return 0;
	}
	if (le32(s->magic) != VFS_SLOT_MAGIC ||
	    le32(s->crc) != od_crc(s, VFS_SECTOR, offsetof(struct od_slot, crc)))
		return -EUCLEAN;
	memcpy(out, s, sizeof(*out));
	out->generation = le64(s->generation);
	out->counter = le64(s->counter);
	out->state = le32(s->state);
	out->flags = le32(s->flags);
	out->pr_key = le64(s->pr_key);
	out->wall_ns = le64(s->wall_ns);
	out->mounted_wall_ns = le64(s->mounted_wall_ns);
	out->pid = le32(s->pid);
	out->lease_ms = le32(s->lease_ms);
	out->slot = le32(s->slot);
	out->recoverer_slot = le32(s->recoverer_slot);
	out->recoverer_gen = le64(s->recoverer_gen);
	out->dead_gen = le64(s->dead_gen);
	out->host_name[63] = '\0';
	if (out->slot != index || out->state > OD_SLOT_RECOVERING)
		return -EUCLEAN;
	return 0;
}

void
od_slot_out(const struct od_slot *in, void *sector)
{
	struct od_slot *s = sector;

	memset(s, 0, sizeof(*s));
	memcpy(s->host_uuid, in->host_uuid, 16);
	memcpy(s->host_name, in->host_name, sizeof(s->host_name));
	s->host_name[63] = '\0';
	memcpy(s->session, in->session, 16);
	s->magic = to_le32(VFS_SLOT_MAGIC);
	s->generation = to_le64(in->generation);
	s->counter = to_le64(in->counter);
	s->state = to_le32(in->state);
	s->flags = to_le32(in->flags);
	s->pr_key = to_le64(in->pr_key);
	s->wall_ns = to_le64(in->wall_ns);
	s->mounted_wall_ns = to_le64(in->mounted_wall_ns);
	s->pid = to_le32(in->pid);
	s->lease_ms = to_le32(in->lease_ms);
	s->slot = to_le32(in->slot);
	s->recoverer_slot = to_le32(in->recoverer_slot);
	s->recoverer_gen = to_le64(in->recoverer_gen);
	s->dead_gen = to_le64(in->dead_gen);
	s->crc = to_le32(od_crc(s, VFS_SECTOR, offsetof(struct od_slot, crc)));
}

/* ---- disk-paxos mutex ---- */

static void
owner_in(const struct od_pxowner *in, struct od_pxowner *out)
{
	out->slot = le32(in->slot);
	out->pad = 0;
	out->gen = le64(in->gen);
	out->key = le64(in->key);
}

static void
owner_out(const struct od_pxowner *in, struct od_pxowner *out)
{
	out->slot = to_le32(in->slot);
	out->pad = 0;
	out->gen = to_le64(in->gen);
	out->key = to_le64(in->key);
}

int
od_pxleader_in(const void *sector, struct od_pxleader *out)
{
	const struct od_pxleader *l = sector;

	memset(out, 0, sizeof(*out));
	if (od_is_zero(sector, VFS_SECTOR))
		return 0;
	if (le32(l->magic) != VFS_PXLEADER_MAGIC ||
	    le32(l->crc) != od_crc(l, VFS_SECTOR,
				   offsetof(struct od_pxleader, crc)))
		return -EUCLEAN;
	out->magic = VFS_PXLEADER_MAGIC;
	out->lver = le64(l->lver);
	owner_in(&l->owner, &out->owner);
	out->wall_ns = le64(l->wall_ns);
	if (out->owner.slot >= VFS_PAXOS_MAX)
		return -EUCLEAN;
	return 0;
}

void
od_pxleader_out(const struct od_pxleader *in, void *sector)
{
	struct od_pxleader *l = sector;

	memset(l, 0, sizeof(*l));
	l->magic = to_le32(VFS_PXLEADER_MAGIC);
	l->lver = to_le64(in->lver);
	owner_out(&in->owner, &l->owner);
	l->wall_ns = to_le64(in->wall_ns);
	l->crc = to_le32(od_crc(l, VFS_SECTOR,
				offsetof(struct od_pxleader, crc)));
}

int
od_pxblock_in(const void *sector, uint32_t index, struct od_pxblock *out)
{
	const struct od_pxblock *b = sector;

	memset(out, 0, sizeof(*out));
	out->self = index;
	if (od_is_zero(sector, VFS_SECTOR))
		return 0;
	if (le32(b->magic) != VFS_PXBLOCK_MAGIC ||
	    le32(b->crc) != od_crc(b, VFS_SECTOR,
				   offsetof(struct od_pxblock, crc)))
		return -EUCLEAN;
	out->magic = VFS_PXBLOCK_MAGIC;
	out->self = le32(b->self);
	out->lver = le64(b->lver);
	out->mbal = le64(b->mbal);
	out->bal = le64(b->bal);
	owner_in(&b->inp, &out->inp);
	/* A value is accepted under a ballot no higher than the block's
	 * highest; a ballot belongs to one instance. */
	if (out->self != index || out->bal > out->mbal ||
	    (out->bal && !out->lver) || out->inp.slot >= VFS_PAXOS_MAX)
		return -EUCLEAN;
	return 0;
}

void
od_pxblock_out(const struct od_pxblock *in, void *sector)
{
	struct od_pxblock *b = sector;

	memset(b, 0, sizeof(*b));
	b->magic = to_le32(VFS_PXBLOCK_MAGIC);
	b->self = to_le32(in->self);
	b->lver = to_le64(in->lver);
	b->mbal = to_le64(in->mbal);
	b->bal = to_le64(in->bal);
	owner_out(&in->inp, &b->inp);
	b->crc = to_le32(od_crc(b, VFS_SECTOR,
				offsetof(struct od_pxblock, crc)));
}

/* ---- lock ---- */

int
od_lock_in(const void *sector, uint64_t off, struct od_lock *out)
{
	const struct od_lock *l = sector;

	memset(out, 0, sizeof(*out));
	if (od_is_zero(sector, VFS_SECTOR))
		return 0;
	if (le32(l->magic) != VFS_LOCK_MAGIC ||
	    le32(l->crc) != od_crc(l, VFS_SECTOR, offsetof(struct od_lock, crc)))
		return -EUCLEAN;
	out->self_off = le64(l->self_off);
	out->lock_generation = le64(l->lock_generation);
	out->since_wall_ns = le64(l->since_wall_ns);
	out->mode = l->mode;
	out->nholders = l->nholders;
	out->flags = l->flags;
	out->wanted_slot = le32(l->wanted_slot);
	if (out->self_off != off || out->mode > OD_LOCK_MW ||
	    out->nholders > OD_LOCK_MAX_HOLDERS)
		return -EUCLEAN;
	if ((out->mode == OD_LOCK_FREE) != (out->nholders == 0) ||
	    (out->mode == OD_LOCK_EX && out->nholders != 1))
		return -EUCLEAN;
	for (unsigned int i = 0; i < out->nholders; i++) {
		out->holders[i].slot = le32(l->holders[i].slot);
		out->holders[i].generation = le64(l->holders[i].generation);
	}
	return 0;
}

void
od_lock_out(const struct od_lock *in, uint64_t off, void *sector)
{
	struct od_lock *l = sector;

	memset(l, 0, sizeof(*l));
	l->magic = to_le32(VFS_LOCK_MAGIC);
	l->self_off = to_le64(off);
	l->lock_generation = to_le64(in->lock_generation);
	l->since_wall_ns = to_le64(in->since_wall_ns);
	l->mode = in->mode;
	l->nholders = in->nholders;
	l->flags = in->flags;
	l->wanted_slot = to_le32(in->wanted_slot);
	for (unsigned int i = 0; i < in->nholders; i++) {
		l->holders[i].slot = to_le32(in->holders[i].slot);
		l->holders[i].generation = to_le64(in->holders[i].generation);
	}
	l->crc = to_le32(od_crc(l, VFS_SECTOR, offsetof(struct od_lock, crc)));
}

/* ---- journal ---- */

int
od_jhdr_in(const void *sector, uint32_t index, uint64_t ring_bytes,
	   struct od_jhdr *out)
{
	const struct od_jhdr *h = sector;

	if (le32(h->magic) != VFS_JHDR_MAGIC ||
	    le32(h->crc) != od_crc(h, VFS_SECTOR, offsetof(struct od_jhdr, crc)))
		return -EUCLEAN;
	memset(out, 0, sizeof(*out));
	out->index = le32(h->index);
	out->tail_seq = le64(h->tail_seq);
	out->tail_off = le64(h->tail_off);
	out->writer_gen = le64(h->writer_gen);
	out->wall_ns = le64(h->wall_ns);
	if (out->index != index || out->tail_off >= ring_bytes ||
	    out->tail_off % VFS_SECTOR || out->tail_seq == 0)
		return -EUCLEAN;
	return 0;
}

void
od_jhdr_out(const struct od_jhdr *in, void *sector)
{
	struct od_jhdr *h = sector;

	memset(h, 0, sizeof(*h));
	h->magic = to_le32(VFS_JHDR_MAGIC);
	h->index = to_le32(in->index);
	h->tail_seq = to_le64(in->tail_seq);
	h->tail_off = to_le64(in->tail_off);
	h->writer_gen = to_le64(in->writer_gen);
	h->wall_ns = to_le64(in->wall_ns);
	h->crc = to_le32(od_crc(h, VFS_SECTOR, offsetof(struct od_jhdr, crc)));
}

/* May a journal item be written at [off, off+len)? Only metadata. */
static bool
jitem_valid(const struct vfs_geom *g, uint64_t off, uint32_t len)
{
	if (len == 0 || len > VFS_MBLOCK || len % VFS_SECTOR ||
	    off % VFS_SECTOR)
		return false;
	/* Inside one mblock of the cluster-header or metadata areas. */
	if (off / VFS_MBLOCK != (off + len - 1) / VFS_MBLOCK)
		return false;
	if (off >= g->dchdr_off &&
	    off + len <= g->dchdr_off + (uint64_t)g->dclusters * VFS_MBLOCK)
		return off % VFS_MBLOCK != 0; /* never a lock sector */
	return off >= g->meta_off && off + len <= g->meta_end;
}

uint64_t
od_jrec_check(const void *buf, uint64_t avail, uint64_t seq,
	      const struct vfs_geom *g)
{
	const struct od_jrec *r = buf;
	const struct od_jitem *it;
	uint64_t bytes, data = 0;
	uint32_t n, hsec;

	if (avail < VFS_SECTOR || le32(r->magic) != VFS_JREC_MAGIC ||
	    le64(r->seq) != seq || memcmp(r->vol_tag, g->uuid, 8) != 0)
		return 0;
	n = le32(r->nitems);
	if (n == 0 || n > OD_JREC_MAX_ITEMS)
		return 0;
	hsec = od_jrec_header_sectors(n);
	bytes = (uint64_t)le32(r->sectors) * VFS_SECTOR;
	if (bytes < (uint64_t)hsec * VFS_SECTOR || bytes > avail)
		return 0;
	it = od_jrec_items(r);
	for (uint32_t i = 0; i < n; i++) {
		if (!jitem_valid(g, le64(it[i].off), le32(it[i].len)))
			return 0;
		data += le32(it[i].len);
	}
	if ((uint64_t)hsec * VFS_SECTOR + data != bytes)
		return 0;
	if (le32(r->crc) != od_crc(r, bytes, offsetof(struct od_jrec, crc)))
		return 0;
	return bytes;
}

const struct od_jitem *
od_jrec_items(const void *rec)
{
	return (const struct od_jitem *)((const uint8_t *)rec +
					 sizeof(struct od_jrec));
}

const uint8_t *
od_jrec_data(const void *rec)
{
	const struct od_jrec *r = rec;

	return (const uint8_t *)rec +
	       (size_t)od_jrec_header_sectors(le32(r->nitems)) * VFS_SECTOR;
}

/* ---- cluster header ---- */

int
od_cluster_check(const struct od_cluster *c, uint32_t index, uint32_t type,
		 const struct vfs_geom *g)
{
	uint32_t nbits, nfree, used = 0;
	uint64_t first;

	if (le32(c->magic) != VFS_CLUSTER_MAGIC ||
	    le32(c->crc) != od_crc(c, sizeof(*c),
				   offsetof(struct od_cluster, crc)))
		return -EUCLEAN;
	nbits = le32(c->nbits);
	nfree = le32(c->nfree);
	first = le64(c->first);
	if (le32(c->index) != index || le32(c->type) != type ||
	    nbits == 0 || nbits > OD_CLUSTER_BITS || nfree > nbits)
		return -EUCLEAN;
	if (type == OD_CLUSTER_DATA) {
		if (index >= g->dclusters || nbits > g->dcluster_blocks ||
		    first != (uint64_t)index * g->dcluster_blocks ||
		    first + nbits > g->data_blocks)
			return -EUCLEAN;
	} else if (index >= g->mclusters || type != od_mcluster_type(index) ||
		   nbits != g->mcluster_blocks ||
		   first != vfs_mcluster_hdr(g, index) + 1) {
		return -EUCLEAN;
	}
	for (uint32_t i = 0; i < OD_CLUSTER_BITS / 8; i++)
		used += (uint32_t)__builtin_popcount(c->bitmap[i]);
	/* Bits past nbits must be clear and the count must agree. */
	for (uint32_t b = nbits; b < OD_CLUSTER_BITS; b++)
		if (c->bitmap[b / 8] & (1u << (b % 8)))
			return -EUCLEAN;
	if (used != nbits - nfree)
		return -EUCLEAN;
	return 0;
}

void
od_cluster_seal(struct od_cluster *c)
{
	c->magic = to_le32(VFS_CLUSTER_MAGIC);
	c->crc = to_le32(od_crc(c, sizeof(*c), offsetof(struct od_cluster, crc)));
}

/* ---- inode ---- */

static_assert(OD_INLINE_MAX == VFS_SMALL_FILE_BYTES, "small file size");
static_assert(VFS_INCOMPAT_INLINE == VFS_FEATURE_SMALL_FILES, "feature");

int
od_inode_check(const struct od_inode *ino, uint64_t expect_ino)
{
	uint32_t type, depth;

	if (od_is_zero(ino, sizeof(*ino)))
		return 0;
	if (le32(ino->magic) != VFS_INODE_MAGIC ||
	    le32(ino->crc) != od_crc(ino, sizeof(*ino),
				     offsetof(struct od_inode, crc)))
		return -EUCLEAN;
	type = le16(ino->type);
	depth = le32(ino->map_depth);
	if (le64(ino->ino) != expect_ino || type > OD_INODE_DIR ||
	    depth > OD_MAP_MAX_DEPTH || le32(ino->alloc) > VFS_ALLOC_EAGER_ZEROED)
		return -EUCLEAN;
	if (le16(ino->flags) & ~OD_INODE_INLINE)
		return -EUCLEAN;
	if (od_inode_inline(ino)) {
		uint64_t size = le64(ino->size);
		const uint8_t *d = (const uint8_t *)ino->map;

		/* Data past the size is zero, so growing reads zeros. */
		if (type != OD_INODE_FILE || depth || le64(ino->blocks) ||
		    le32(ino->alloc) != VFS_ALLOC_THIN ||
		    size > OD_INLINE_MAX ||
		    !od_is_zero(d + size, OD_INLINE_MAX - size))
			return -EUCLEAN;
	}
	return 0;
}

void
od_inode_seal(struct od_inode *ino)
{
	ino->magic = to_le32(VFS_INODE_MAGIC);
	ino->crc = to_le32(od_crc(ino, sizeof(*ino),
				  offsetof(struct od_inode, crc)));
}

/* ---- pointer block ---- */

int
od_ptr_check(const struct od_ptr *p, uint64_t self, uint64_t owner)
{
	if (le32(p->magic) != VFS_PTR_MAGIC ||
	    le32(p->crc) != od_crc(p, sizeof(*p), offsetof(struct od_ptr, crc)))
		return -EUCLEAN;
	if (le64(p->self) != self || le64(p->owner) != owner ||
	    le32(p->level) < 1 || le32(p->level) > OD_MAP_MAX_DEPTH)
		return -EUCLEAN;
	return 0;
}

void
od_ptr_seal(struct od_ptr *p)
{
	p->magic = to_le32(VFS_PTR_MAGIC);
	p->crc = to_le32(od_crc(p, sizeof(*p), offsetof(struct od_ptr, crc)));
}

/* ---- directory block ---- */

bool
od_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > VFS_NAME_MAX)
		return false;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == '\0')
			return false;
	return true;
}

int
od_dirblk_check(const struct od_dirblk *d, uint64_t self, uint64_t owner,
		const struct vfs_geom *g)
{
	uint32_t used, pos = 0, n = 0;

	if (le32(d->magic) != VFS_DIR_MAGIC ||
	    le32(d->crc) != od_crc(d, sizeof(*d), offsetof(struct od_dirblk, crc)))
		return -EUCLEAN;
	used = le16(d->used);
	if (le64(d->self) != self || le64(d->owner) != owner ||
	    used > sizeof(d->data))
		return -EUCLEAN;
	while (pos < used) {
		const struct od_dirent *e;
		uint32_t rec;

		if (used - pos < sizeof(*e))
			return -EUCLEAN;
		e = (const struct od_dirent *)(d->data + pos);
		rec = le16(e->rec_len);
		if (rec != od_dirent_len(e->name_len) || rec > used - pos ||
		    !od_name_valid((const char *)(e + 1), e->name_len) ||
		    (e->type != OD_INODE_FILE && e->type != OD_INODE_DIR) ||
		    !vfs_ino_valid(g, le64(e->ino)))
			return -EUCLEAN;
		pos += rec;
		n++;
	}
	if (n != le16(d->nentries))
		return -EUCLEAN;
	return 0;
}

void
od_dirblk_seal(struct od_dirblk *d)
{
	d->magic = to_le32(VFS_DIR_MAGIC);
	d->crc = to_le32(od_crc(d, sizeof(*d), offsetof(struct od_dirblk, crc)));
}
