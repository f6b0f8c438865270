/* SPDX-License-Identifier: MIT */
/*
 * Formatting: plans the layout (docs/ON-DISK-FORMAT.md "Layout") and
 * writes it. The old volume header is destroyed first and the new one
 * written last, after a flush, so a crash half way leaves a LUN that is
 * no datastore at all rather than a half-made one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "vfs-cluster/vfs-internal.h"

#define MIB (1ull << 20)

static uint64_t
clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

int
vfs_geom_plan(uint64_t lun_bytes, const struct vfs_mkfs_opts *o,
	      struct vfs_geom *g)
{
	uint64_t bs, jb, rest, meta_bytes, nmb, mcb, mcl, est, dcb, dcl;

	memset(g, 0, sizeof(*g));
	bs = o->block_bytes ? o->block_bytes : MIB;
	jb = o->journal_bytes ? o->journal_bytes : MIB;
	g->lease_ms = o->lease_ms ? o->lease_ms : 10000;
	g->slots = o->slots ? o->slots : 1024;
	if (!IS_POW2(bs) || bs < (64u << 10) || bs > (64u << 20) ||
	    jb < (64u << 10) || jb > (64u << 20) || jb % VFS_MBLOCK ||
	    g->lease_ms < 1000 || g->lease_ms > 300000 || g->slots < 1024 ||
	    g->slots > 65536 || o->meta_percent > 50)
		return -EINVAL;
	g->journals = o->journals ? o->journals :
		(uint32_t)clamp_u64(lun_bytes / 16 / jb, 4, 64);
	if (g->journals > g->slots)
		return -EINVAL;
	g->block_bytes = (uint32_t)bs;
	g->journal_bytes = (uint32_t)jb;
	g->locks_off = VFS_GLOBAL_LOCKS_OFF;
	g->hb_off = VFS_HB_OFF;
	g->journal_off = ALIGN_UP(g->hb_off + (uint64_t)g->slots * VFS_SECTOR,
				  MIB);
	g->dchdr_off = g->journal_off + (uint64_t)g->journals * jb;
	if (g->dchdr_off >= lun_bytes)
		return -ENOSPC;
	rest = lun_bytes - g->dchdr_off;
	meta_bytes = o->meta_percent ? rest / 100 * o->meta_percent :
		clamp_u64(rest / 64, 2 * MIB, 16ull << 30);
	meta_bytes = MIN(meta_bytes, rest / 2);
	nmb = meta_bytes / VFS_MBLOCK;
	mcb = clamp_u64(nmb / 32, 64, OD_CLUSTER_BITS);
	mcl = nmb / (mcb + 1);
	if (mcl < 2) {
		mcl = 2;
		mcb = nmb / 2 - 1;
		if (nmb < 8)
			return -ENOSPC;
	}
	est = (rest - meta_bytes) / bs;
	if (est == 0)
		return -ENOSPC;
	dcb = clamp_u64(DIV_ROUND_UP(est, 64), 16, OD_CLUSTER_BITS);
	dcl = DIV_ROUND_UP(est, dcb);
	g->meta_off = ALIGN_UP(g->dchdr_off + dcl * VFS_MBLOCK, MIB);
	g->mclusters = (uint32_t)mcl;
	g->mcluster_blocks = (uint32_t)mcb;
	g->meta_blocks = mcl * (mcb + 1);
	g->meta_end = g->meta_off + g->meta_blocks * VFS_MBLOCK;
	g->data_off = ALIGN_UP(g->meta_end, bs);
	if (g->data_off >= lun_bytes)
		return -ENOSPC;
	g->data_blocks = MIN((lun_bytes - g->data_off) / bs,
			     OD_MAP_BLOCK_MASK);
	if (g->data_blocks == 0)
		return -ENOSPC;
	g->dcluster_blocks = (uint32_t)dcb;
	g->dclusters = (uint32_t)DIV_ROUND_UP(g->data_blocks, dcb);
	g->root_ino = 1;
	g->version = VFS_FORMAT_VERSION;
	g->incompat = VFS_INCOMPAT_INLINE;
	g->lun_bytes = lun_bytes;
	g->created_wall_ns = clock_wall_ns();
	if (getrandom(g->uuid, sizeof(g->uuid), 0) != sizeof(g->uuid))
		return -EIO;
	g->uuid[6] = (uint8_t)((g->uuid[6] & 0x0f) | 0x40);  /* UUID v4 */
	g->uuid[8] = (uint8_t)((g->uuid[8] & 0x3f) | 0x80);
	if (o->label) {
		if (strlen(o->label) > VFS_LABEL_MAX)
			return -ENAMETOOLONG;
		strcpy(g->label, o->label);
	}
	return vfs_geom_check(g, lun_bytes);
}

static int
zero_range(struct lun *lun, uint64_t off, uint64_t len)
{
	uint64_t chunk = 1 * MIB;
	uint8_t *z = vfs_alloc_buf(chunk);
	int rc = 0;

	if (!z)
		return -ENOMEM;
	memset(z, 0, chunk);
	while (len && rc == 0) {
		uint64_t n = MIN(len, chunk);

		rc = lun_write(lun, off, z, n, 0);
		off += n;
		len -= n;
	}
	free(z);
	return rc;
}

/* Any live host on an old datastore? Watches the heartbeats a lease. */
static int
check_no_live_hosts(struct lun *lun, const struct vfs_geom *old)
{
	uint64_t len = (uint64_t)old->slots * VFS_SECTOR;
	uint8_t *a = vfs_alloc_buf(len), *b = vfs_alloc_buf(len);
	bool any = false;
	int rc;

	rc = a && b ? lun_read(lun, old->hb_off, a, len) : -ENOMEM;
	for (uint32_t i = 0; rc == 0 && i < old->slots; i++) {
		struct od_slot s;

		if (od_slot_in(a + (uint64_t)i * VFS_SECTOR, i, &s) == 0 &&
		    s.state != OD_SLOT_FREE)
			any = true;
	}
	if (rc == 0 && any) {
		struct timespec ts = { (time_t)(old->lease_ms / 1000) + 1, 0 };

		log_warn(VFS_LOG, "%s: slots in use; watching them for %u s",
			 lun_uri(lun), old->lease_ms / 1000 + 1);
		nanosleep(&ts, NULL);
		rc = lun_read(lun, old->hb_off, b, len);
		if (rc == 0 && memcmp(a, b, len) != 0)
			rc = -EBUSY;
	}
	free(a);
	free(b);
	return rc;
}

static void
cluster_init(struct od_cluster *c, uint32_t index, uint32_t type,
	     uint32_t nbits, uint64_t first)
{
	memset(c, 0, sizeof(*c));
	c->index = to_le32(index);
	c->type = to_le32(type);
	c->nbits = to_le32(nbits);
	c->nfree = to_le32(nbits);
	c->first = to_le64(first);
}

/* Writes 'n' cluster header mblocks built by 'fill' in batches. */
static int
write_headers(struct lun *lun, const struct vfs_geom *g, bool data)
{
	const uint32_t batch = 256;
	uint32_t n = data ? g->dclusters : g->mclusters;
	uint8_t *buf = vfs_alloc_buf((size_t)batch * VFS_MBLOCK);
	struct io_piece *p = calloc(batch, sizeof(*p));
	int rc = 0;

	if (!buf || !p) {
		free(buf);
		free(p);
		return -ENOMEM;
	}
	for (uint32_t c0 = 0; c0 < n && rc == 0; c0 += batch) {
		uint32_t k = MIN(batch, n - c0);

		memset(buf, 0, (size_t)k * VFS_MBLOCK);
		for (uint32_t i = 0; i < k; i++) {
			uint32_t c = c0 + i;
			uint8_t *mb = buf + (size_t)i * VFS_MBLOCK;
			struct od_cluster *cl =
				(struct od_cluster *)(mb + VFS_SECTOR);

			if (data) {
				uint64_t first = (uint64_t)c * g->dcluster_blocks;

				cluster_init(cl, c, OD_CLUSTER_DATA,
					     (uint32_t)MIN((uint64_t)g->dcluster_blocks,
							   g->data_blocks - first),
					     first);
				p[i].off = vfs_dcluster_off(g, c);
			} else {
				cluster_init(cl, c, od_mcluster_type(c),
					     g->mcluster_blocks,
					     vfs_mcluster_hdr(g, c) + 1);
				if (c == 0) {
					/* The root directory's inode. */
					cl->bitmap[0] = 1;
					cl->nfree = to_le32(g->mcluster_blocks - 1);
				}
				p[i].off = vfs_mblock_off(g,
							  vfs_mcluster_hdr(g, c));
			}
			od_cluster_seal(cl);
			p[i].len = VFS_MBLOCK;
			p[i].buf = mb;
		}
		rc = vfs_io_write_many(NULL, lun, p, k);
	}
	free(buf);
	free(p);
	return rc;
}

static int
write_root(struct lun *lun, const struct vfs_geom *g)
{
	uint8_t *mb = vfs_alloc_buf(VFS_MBLOCK);
	struct od_inode *b = (struct od_inode *)(mb + VFS_SECTOR);
	uint64_t now = clock_wall_ns();
	int rc;

	if (!mb)
		return -ENOMEM;
	memset(mb, 0, VFS_MBLOCK);
	b->ino = to_le64(g->root_ino);
	b->generation = to_le32(1);
	b->type = to_le16(OD_INODE_DIR);
	b->ctime_ns = to_le64(now);
	b->mtime_ns = to_le64(now);
	b->parent = to_le64(g->root_ino);
	od_inode_seal(b);
	rc = lun_write(lun, vfs_mblock_off(g, g->root_ino), mb, VFS_MBLOCK, 0);
	free(mb);
	return rc;
}

static int
write_journals(struct lun *lun, const struct vfs_geom *g)
{
	uint8_t *s = vfs_alloc_buf(VFS_SECTOR);
	int rc = 0;

	if (!s)
		return -ENOMEM;
	for (uint32_t j = 0; j < g->journals && rc == 0; j++) {
		struct od_jhdr h = { .index = j, .tail_seq = 1 };

		od_jhdr_out(&h, s);
		rc = lun_write(lun, vfs_journal_off(g, j), s, VFS_SECTOR, 0);
	}
	free(s);
	return rc;
}

int
vfs_mkfs_lun(struct lun *lun, const struct vfs_mkfs_opts *opts)
{
	const struct lun_info *info = lun_get_info(lun);
	struct vfs_mkfs_opts o = { 0 };
	struct vfs_geom g, old;
	uint64_t key;
	uint8_t *hdr;
	int rc;

	if (opts)
		o = *opts;
	if (info->logical_sector_bytes != VFS_SECTOR) {
		log_err(VFS_LOG, "%s: %u-byte sectors: the datastore needs "
			"512-byte logical sectors", lun_uri(lun),
			info->logical_sector_bytes);
		return -EOPNOTSUPP;
	}
	rc = vfs_read_volume(lun, &old);
	if (rc == 0 || rc == -EPROTONOSUPPORT || rc == -EUCLEAN) {
		if (!o.force)
			return -EEXIST;
		if (rc == 0) {
			rc = check_no_live_hosts(lun, &old);
			if (rc < 0)
				return rc;
		}
	} else if (rc != -EMEDIUMTYPE) {
		return rc;
	}
	rc = vfs_geom_plan(info->size_bytes, &o, &g);
	if (rc < 0)
		return rc;
	hdr = vfs_alloc_buf(VFS_SECTOR);
	if (!hdr)
		return -ENOMEM;
	/* A fencing reservation an earlier datastore left refuses the
	 * writes of unregistered initiators. */
	rc = fence_join(lun, &key);
	if (rc == 0)
		rc = zero_range(lun, 0, g.journal_off);
	if (rc == 0)
		rc = write_journals(lun, &g);
	if (rc == 0)
		rc = write_headers(lun, &g, true);
	if (rc == 0)
		rc = write_headers(lun, &g, false);
	if (rc == 0)
		rc = write_root(lun, &g);
	if (rc == 0)
		rc = lun_flush(lun);
	if (rc == 0) {
		od_volume_out(&g, hdr);
		rc = lun_write(lun, VFS_VOLUME_BACKUP_OFF, hdr, VFS_SECTOR,
			       LUN_IO_FUA);
	}
	if (rc == 0)
		rc = lun_write(lun, VFS_VOLUME_OFF, hdr, VFS_SECTOR, LUN_IO_FUA);
	if (rc == 0)
		rc = lun_flush(lun);
	fence_leave(lun, key);
	free(hdr);
	return rc;
}

int
vfs_mkfs(const char *uri, const struct vfs_mkfs_opts *opts)
{
	struct lun *lun;
	int rc = lun_open(uri, NULL, &lun);

	if (rc < 0)
		return rc;
	rc = vfs_mkfs_lun(lun, opts);
	lun_close(lun);
	return rc;
}
