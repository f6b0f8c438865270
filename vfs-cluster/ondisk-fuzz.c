/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the on-disk parsers (ondisk.c): the first byte
 * picks a structure, the rest is its bytes (zero-padded or cut to the
 * structure's size; journal records keep their length). Every validator
 * must return cleanly on anything, and whatever it accepts must be
 * self-consistent (checked again here).
 */
#include <stdlib.h>
#include <string.h>

#include "vfs-cluster/ondisk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A small valid geometry for the checks that need one. */
static void
geom(struct vfs_geom *g)
{
	memset(g, 0, sizeof(*g));
	g->version = 1;
	g->block_bytes = 1 << 20;
	g->lease_ms = 10000;
	g->slots = 1024;
	g->journals = 4;
	g->journal_bytes = 1 << 20;
	g->locks_off = VFS_GLOBAL_LOCKS_OFF;
	g->hb_off = VFS_HB_OFF;
	g->journal_off = 2 << 20;
	g->dchdr_off = 6 << 20;
	g->dclusters = 4;
	g->dcluster_blocks = 16;
	g->meta_off = 7 << 20;
	g->mclusters = 4;
	g->mcluster_blocks = 64;
	g->data_off = 8 << 20;
	g->data_blocks = 60;
	g->root_ino = 1;
	g->lun_bytes = 68 << 20;
	g->meta_blocks = (uint64_t)g->mclusters * (g->mcluster_blocks + 1);
	g->meta_end = g->meta_off + g->meta_blocks * VFS_MBLOCK;
	memset(g->uuid, 0x11, sizeof(g->uuid));
}

static void *
padded(const uint8_t *data, size_t size, size_t want)
{
	uint8_t *buf = aligned_alloc(4096, (want + 4095) & ~(size_t)4095);

	if (!buf)
		abort();
	memset(buf, 0, want);
	memcpy(buf, data, size < want ? size : want);
	return buf;
}

/* The disk-paxos leader and ballot blocks: decode, encode, decode. */
static int
fuzz_paxos(const uint8_t *data, size_t size)
{
	uint8_t *buf = padded(data + 1, size - 1, VFS_SECTOR), *out;
	struct od_pxleader l, l2;
	struct od_pxblock b, b2;

	out = malloc(VFS_SECTOR);
	if (!out) {
		free(buf);
		return 0;
	}
	if (data[0] & 1) {
		if (od_pxblock_in(buf, 3, &b) == 0) {
			if (b.bal > b.mbal || b.inp.slot >= VFS_PAXOS_MAX)
				abort();
			od_pxblock_out(&b, out);
			if (od_pxblock_in(out, 3, &b2) != 0 || b2.lver != b.lver ||
			    b2.mbal != b.mbal || b2.inp.key != b.inp.key)
				abort();
		}
	} else if (od_pxleader_in(buf, &l) == 0) {
		od_pxleader_out(&l, out);
		if (od_pxleader_in(out, &l2) != 0 || l2.lver != l.lver ||
		    l2.owner.gen != l.owner.gen)
			abort();
	}
	free(out);
	free(buf);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vfs_geom g, in;
	void *buf;

	if (size < 1)
		return 0;
	geom(&g);
	/* Selectors 0xf0.. (older seeds keep theirs): the paxos sectors. */
	if (data[0] >= 0xf0)
		return fuzz_paxos(data, size);
	switch (data[0] % 9) {
	case 0:
		buf = padded(data + 1, size - 1, VFS_SECTOR);
		if (od_volume_in(buf, &in) == 0) {
			uint8_t out[VFS_SECTOR];

			/* Accepted: it must describe a sane layout and
			 * encode back to the same bytes. */
			if (vfs_geom_check(&in, in.lun_bytes) != 0)
				abort();
			od_volume_out(&in, out);
			if (od_volume_in(out, &g) != 0)
				abort();
		}
		break;
	case 1: {
		struct od_slot s;

		buf = padded(data + 1, size - 1, VFS_SECTOR);
		if (od_slot_in(buf, 7, &s) == 0 && s.state > OD_SLOT_RECOVERING)
			abort();
		break;
	}
	case 2: {
		struct od_lock l;

		buf = padded(data + 1, size - 1, VFS_SECTOR);
		if (od_lock_in(buf, 4096, &l) == 0 &&
		    l.nholders > OD_LOCK_MAX_HOLDERS)
			abort();
		break;
	}
	case 3: {
		struct od_jhdr h;

		buf = padded(data + 1, size - 1, VFS_SECTOR);
		if (od_jhdr_in(buf, 2, (1 << 20) - 4096, &h) == 0 &&
		    h.tail_off >= (1 << 20) - 4096)
			abort();
		break;
	}
	case 4: {
		uint64_t len;

		buf = padded(data + 1, size - 1, size - 1 ? size - 1 : 1);
		len = od_jrec_check(buf, size - 1, 5, &g);
		if (len > size - 1)
			abort();
		if (len) {
			/* Walk the items the way replay does. */
			const struct od_jitem *it = od_jrec_items(buf);
			const uint8_t *d = od_jrec_data(buf);
			uint32_t n = le32(((struct od_jrec *)buf)->nitems);
			volatile uint8_t sink = 0;

			for (uint32_t i = 0; i < n; i++) {
				sink ^= d[le32(it[i].len) - 1];
				d += le32(it[i].len);
			}
			(void)sink;
		}
		break;
	}
	case 5:
		buf = padded(data + 1, size - 1, sizeof(struct od_cluster));
		(void)od_cluster_check(buf, 1, data[0] & 0x10 ?
				       OD_CLUSTER_DATA : OD_CLUSTER_MBLK, &g);
		break;
	case 6:
		buf = padded(data + 1, size - 1, sizeof(struct od_inode));
		(void)od_inode_check(buf, 1);
		break;
	case 7:
		buf = padded(data + 1, size - 1, sizeof(struct od_ptr));
		(void)od_ptr_check(buf, 70, 1);
		break;
	default:
		buf = padded(data + 1, size - 1, sizeof(struct od_dirblk));
		(void)od_dirblk_check(buf, 70, 1, &g);
		break;
	}
	free(buf);
	return 0;
}
