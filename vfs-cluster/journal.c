/* SPDX-License-Identifier: MIT */
/*
 * The per-host redo journal and the transactions built on it.
 *
 * An operation changes cached metadata items in place between tx_begin()
 * and tx_end(); tx_dirty() keeps each item's pre-image so a failed op
 * restores them all. A successful op's items join the running group.
 * Committing a group writes one record (header sectors listing the items,
 * then their images, one crc32c over everything) with FUA at the head of
 * the ring: the record is durable and atomic (a torn one fails its crc and
 * ends the log). Ops of several threads that end while a commit is being
 * written share the next one: group commit.
 *
 * Committed images stay in the checkpoint set until a checkpoint writes
 * them home, flushes, and moves the journal header's tail past them. Locks
 * are released only after a checkpoint (lock.c), so the records between
 * tail and head only ever touch metadata under locks this host still
 * holds, and replaying them after its death (recover.c) overwrites
 * nothing anyone else may have changed. Items are whole inode bodies or
 * whole blocks, so replaying a record twice gives the same result.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "vfs-cluster/vfs-internal.h"

#define CP_BUCKETS 1024

static unsigned int
cp_bucket(uint64_t off)
{
	return (unsigned int)((off >> 9) * 0x9e3779b97f4a7c15ull >> 54) %
	       CP_BUCKETS;
}

static uint64_t
ring_bytes_of(const struct vfs_geom *g)
{
	return g->journal_bytes - VFS_MBLOCK;
}

/* ---- replay (shared with fsck) ---- */

struct replay_item {
	uint64_t off;
	uint32_t len;
	uint32_t order;
	const uint8_t *data;
};

static int
cmp_item(const void *a, const void *b)
{
	const struct replay_item *x = a, *y = b;

	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return x->order < y->order ? -1 : (x->order > y->order);
}

static int
replay_core(const struct vfs_geom *g, struct vfs *vfs, struct lun *lun,
	    uint32_t index, uint64_t writer_gen, bool dry_run)
{
	uint64_t base = vfs_journal_off(g, index), ring = ring_bytes_of(g);
	uint64_t seq, off, consumed = 0;
	struct replay_item *items = NULL;
	size_t nitems = 0, cap = 0, nuniq = 0;
	struct io_piece *pieces = NULL;
	uint8_t *hdr, *buf = NULL;
	struct od_jhdr h;
	int rc, nrec = 0;

	hdr = vfs_alloc_buf(VFS_SECTOR);
	if (!hdr)
		return -ENOMEM;
	rc = lun_read(lun, base, hdr, VFS_SECTOR);
	if (rc < 0)
		goto out;
	rc = od_jhdr_in(hdr, index, ring, &h);
	if (rc < 0)
		goto out;
	buf = vfs_alloc_buf(ring);
	rc = -ENOMEM;
	if (!buf)
		goto out;
	rc = vfs_io_read_long(lun, base + VFS_MBLOCK, buf, ring);
	if (rc < 0)
		goto out;
	seq = h.tail_seq;
	off = h.tail_off;
	while (consumed < ring) {
		uint64_t len = od_jrec_check(buf + off, ring - off, seq, g);
		const struct od_jitem *it;
		const uint8_t *data;
		uint32_t n;

		if (!len && off != 0) {
			/* The writer wraps to the start when a record does
			 * not fit in what is left of the ring. */
			len = od_jrec_check(buf, ring, seq, g);
			if (len) {
				consumed += ring - off;
				off = 0;
			}
		}
		if (!len || consumed + len > ring)
			break;
		it = od_jrec_items(buf + off);
		data = od_jrec_data(buf + off);
		n = le32(((const struct od_jrec *)(buf + off))->nitems);
		for (uint32_t i = 0; i < n; i++) {
			if (nitems == cap) {
				struct replay_item *bigger;

				cap = cap ? cap * 2 : 256;
				bigger = realloc(items, cap * sizeof(*items));
				if (!bigger) {
					rc = -ENOMEM;
					goto out;
				}
				items = bigger;
			}
			items[nitems].off = le64(it[i].off);
			items[nitems].len = le32(it[i].len);
			items[nitems].order = (uint32_t)nitems;
			items[nitems].data = data;
			data += le32(it[i].len);
			nitems++;
		}
		nrec++;
		seq++;
		consumed += len;
		off += len;
		if (off >= ring)
			off = 0;
	}
	rc = nrec;
	if (nrec == 0 || dry_run)
		goto out;
	/* Latest image of each item wins; items never overlap partially. */
	qsort(items, nitems, sizeof(*items), cmp_item);
	pieces = calloc(nitems, sizeof(*pieces));
	if (!pieces) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nitems; i++) {
		if (i + 1 < nitems && items[i + 1].off == items[i].off)
			continue;
		pieces[nuniq].off = items[i].off;
		pieces[nuniq].len = items[i].len;
		pieces[nuniq].buf = items[i].data;
		nuniq++;
	}
	rc = vfs_io_write_many(vfs, lun, pieces, (unsigned int)nuniq);
	if (rc == 0)
		rc = lun_flush(lun);
	if (rc == 0) {
		h.tail_seq = seq;
		h.tail_off = off;
		h.writer_gen = writer_gen;
		h.wall_ns = clock_wall_ns();
		od_jhdr_out(&h, hdr);
		rc = vfs ? vfs_io_write(vfs, lun, base, hdr, VFS_SECTOR,
					LUN_IO_FUA) :
			   lun_write(lun, base, hdr, VFS_SECTOR, LUN_IO_FUA);
	}
	if (rc == 0)
		rc = nrec;
out:
	free(pieces);
	free(items);
	free(buf);
	free(hdr);
	return rc;
}

int
journal_replay(struct vfs *vfs, struct lun *lun, uint32_t index,
	       uint64_t writer_gen)
{
	return replay_core(&vfs->g, vfs, lun, index, writer_gen, false);
}

int
journal_replay_geom(const struct vfs_geom *g, struct lun *lun, uint32_t index,
		    uint64_t writer_gen, bool dry_run)
{
	return replay_core(g, NULL, lun, index, writer_gen, dry_run);
}

/* ---- the session's own journal ---- */

int
journal_open(struct vfs *vfs, uint64_t now_ns)
{
	struct journal *j = &vfs->jn;
	uint8_t *hdr;
	struct od_jhdr h;
	int rc;

	j->index = (uint32_t)vfs->slot;
	j->base = vfs_journal_off(&vfs->g, j->index);
	j->ring_off = j->base + VFS_MBLOCK;
	j->ring_bytes = ring_bytes_of(&vfs->g);
	j->cp_hash = calloc(CP_BUCKETS, sizeof(*j->cp_hash));
	if (!j->cp_hash)
		return -ENOMEM;
	j->cp_buckets = CP_BUCKETS;
	j->grp_id = 1;
	j->durable_id = 0;
	/* A previous owner should have left it empty; make sure. */
	rc = journal_replay(vfs, vfs->lun, j->index, vfs->slot_gen);
	if (rc < 0)
		return rc;
	if (rc > 0)
		log_warn(VFS_LOG, "journal %u: replayed %d records left by a "
			 "previous owner", j->index, rc);
	hdr = vfs_alloc_buf(VFS_SECTOR);
	if (!hdr)
		return -ENOMEM;
	rc = vfs_io_read(vfs, vfs->lun, j->base, hdr, VFS_SECTOR);
	if (rc == 0)
		rc = od_jhdr_in(hdr, j->index, j->ring_bytes, &h);
	free(hdr);
	if (rc < 0)
		return rc;
	j->head_seq = j->tail_seq = h.tail_seq;
	j->head_off = j->tail_off = h.tail_off;
	j->used_bytes = 0;
	return 0;
}

static void
cp_clear(struct journal *j)
{
	struct cp_item *c, *next;

	for (c = j->cp_list; c; c = next) {
		next = c->next;
		free(c->buf);
		free(c);
	}
	j->cp_list = NULL;
	j->cp_count = 0;
	if (j->cp_hash)
		memset(j->cp_hash, 0, j->cp_buckets * sizeof(*j->cp_hash));
}

void
journal_fini(struct vfs *vfs)
{
	struct journal *j = &vfs->jn;

	cp_clear(j);
	free(j->cp_hash);
	j->cp_hash = NULL;
}

static int
cp_put(struct journal *j, uint64_t off, uint32_t len, const uint8_t *data)
{
	unsigned int b = cp_bucket(off);
	struct cp_item *c;

	for (c = j->cp_hash[b]; c; c = c->hnext)
		if (c->off == off)
			break;
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		c->buf = vfs_alloc_buf(VFS_MBLOCK);
		if (!c->buf) {
			free(c);
			return -ENOMEM;
		}
		c->off = off;
		c->hnext = j->cp_hash[b];
		j->cp_hash[b] = c;
		c->next = j->cp_list;
		j->cp_list = c;
		j->cp_count++;
	}
	c->len = len;
	memcpy(c->buf, data, len);
	return 0;
}

static void
poison(struct vfs *vfs, int err)
{
	if (vfs->jn.error)
		return;
	vfs->jn.error = err;
	/* Stop renewing: the others will find us dead, fence us and replay
	 * the journal up to its last good record. */
	atomic_store(&vfs->fenced, true);
	log_err(VFS_LOG, "slot %d: journal write failed (%s): session "
		"stopped; other hosts will replay its journal", vfs->slot,
		strerror(-err));
}

static int
write_header(struct vfs *vfs, uint64_t seq, uint64_t off)
{
	struct journal *j = &vfs->jn;
	uint8_t *hdr = vfs_alloc_buf(VFS_SECTOR);
	struct od_jhdr h = {
		.index = j->index,
		.tail_seq = seq,
		.tail_off = off,
		.writer_gen = vfs->slot_gen,
		.wall_ns = clock_wall_ns(),
	};
	int rc;

	if (!hdr)
		return -ENOMEM;
	od_jhdr_out(&h, hdr);
	rc = vfs_io_write(vfs, vfs->lun, j->base, hdr, VFS_SECTOR, LUN_IO_FUA);
	free(hdr);
	return rc;
}

/* Writes the checkpoint set home and empties the journal; mu held. */
static int
checkpoint_locked(struct vfs *vfs)
{
	struct journal *j = &vfs->jn;
	struct io_piece *p;
	unsigned int n = 0;
	int rc;

	if (j->tail_seq == j->head_seq)
		return 0;
	p = calloc(j->cp_count ? j->cp_count : 1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (struct cp_item *c = j->cp_list; c; c = c->next) {
		p[n].off = c->off;
		p[n].len = c->len;
		p[n].buf = c->buf;
		n++;
	}
	rc = vfs_io_write_many(vfs, vfs->lun, p, n);
	free(p);
	if (rc == 0)
		rc = vfs_io_flush(vfs, vfs->lun);
	if (rc == 0)
		rc = write_header(vfs, j->head_seq, j->head_off);
	if (rc < 0) {
		poison(vfs, rc);
		return rc;
	}
	cp_clear(j);
	j->tail_seq = j->head_seq;
	j->tail_off = j->head_off;
	j->used_bytes = 0;
	j->checkpoints++;
	return 0;
}

static uint8_t *
build_record(struct vfs *vfs, struct mitem *head, unsigned int n,
	     uint64_t *bytes)
{
	uint32_t hsec = od_jrec_header_sectors(n);
	uint64_t total = (uint64_t)hsec * VFS_SECTOR, pos;
	struct od_jitem *items;
	struct od_jrec *r;
	uint8_t *buf;
	unsigned int i = 0;

	for (struct mitem *it = head; it; it = it->grp_next)
		total += it->len;
	buf = vfs_alloc_buf(total);
	if (!buf)
		return NULL;
	memset(buf, 0, (size_t)hsec * VFS_SECTOR);
	r = (struct od_jrec *)buf;
	items = (struct od_jitem *)(buf + sizeof(*r));
	pos = (uint64_t)hsec * VFS_SECTOR;
	for (struct mitem *it = head; it; it = it->grp_next, i++) {
		items[i].off = to_le64(it->off);
		items[i].len = to_le32(it->len);
		memcpy(buf + pos, it->buf, it->len);
		pos += it->len;
	}
	r->magic = to_le32(VFS_JREC_MAGIC);
	r->seq = to_le64(vfs->jn.head_seq);
	r->nitems = to_le32(n);
	r->sectors = to_le32((uint32_t)(total / VFS_SECTOR));
	r->writer_gen = to_le64(vfs->slot_gen);
	memcpy(r->vol_tag, vfs->g.uuid, 8);
	r->crc = to_le32(od_crc(buf, total, offsetof(struct od_jrec, crc)));
	*bytes = total;
	return buf;
}

/* Commits the running group; mu held, no commit in flight. Drops mu for
 * the record write. */
static int
do_commit(struct vfs *vfs)
{
	struct journal *j = &vfs->jn;
	uint64_t total, waste, woff, id;
	struct mitem *head = j->grp_head, *it;
	unsigned int n = j->grp_items;
	uint8_t *rec;
	int rc;

	if (n == 0) {
		j->durable_id = j->grp_id - 1;
		return 0;
	}
	rec = build_record(vfs, head, n, &total);
	if (!rec) {
		poison(vfs, -ENOMEM);
		return -ENOMEM;
	}
	id = j->grp_id++;
	for (it = head; it; it = it->grp_next)
		it->in_group = false;
	j->grp_head = NULL;
	j->grp_items = 0;
	j->grp_bytes = 0;
	j->grp_first_ns = 0;
	j->committing = true;
	waste = j->head_off + total > j->ring_bytes ?
			j->ring_bytes - j->head_off : 0;
	if (j->used_bytes + waste + total > j->ring_bytes) {
		rc = checkpoint_locked(vfs);
		if (rc < 0)
			goto fail;
		waste = j->head_off + total > j->ring_bytes ?
				j->ring_bytes - j->head_off : 0;
	}
	if (waste + total > j->ring_bytes) {
		rc = -EFBIG;
		goto fail;
	}
	woff = waste ? 0 : j->head_off;
	pthread_mutex_unlock(&vfs->mu);
	rc = vfs_io_write(vfs, vfs->jn_lun, j->ring_off + woff, rec, total,
			  LUN_IO_FUA);
	pthread_mutex_lock(&vfs->mu);
	if (rc < 0)
		goto fail;
	/* Now durable: its images wait for the next checkpoint. */
	{
		const struct od_jitem *items = od_jrec_items(rec);
		const uint8_t *data = od_jrec_data(rec);

		for (unsigned int i = 0; i < n && rc == 0; i++) {
			uint32_t len = le32(items[i].len);

			rc = cp_put(j, le64(items[i].off), len, data);
			data += len;
		}
	}
	if (rc < 0)
		goto fail;
	j->head_seq++;
	j->head_off = woff + total;
	if (j->head_off >= j->ring_bytes)
		j->head_off = 0;
	j->used_bytes += waste + total;
	j->records_bytes += total;
	j->commits++;
	j->durable_id = id;
	j->committing = false;
	pthread_cond_broadcast(&j->cond);
	free(rec);
	return 0;
fail:
	poison(vfs, rc);
	j->committing = false;
	pthread_cond_broadcast(&j->cond);
	free(rec);
	return rc;
}

static int
wait_durable(struct vfs *vfs, uint64_t id)
{
	struct journal *j = &vfs->jn;

	while (j->durable_id < id && !j->error) {
		if (!j->committing)
			do_commit(vfs);
		else
			pthread_cond_wait(&j->cond, &vfs->mu);
	}
	return j->error;
}

int
journal_commit(struct vfs *vfs)
{
	struct journal *j = &vfs->jn;

	if (!vfs_writable(vfs) || vfs->slot < 0)
		return 0;
	return wait_durable(vfs, j->grp_items ? j->grp_id : j->grp_id - 1);
}

int
journal_checkpoint(struct vfs *vfs)
{
	struct journal *j = &vfs->jn;
	int rc;

	if (!vfs_writable(vfs) || vfs->slot < 0)
		return 0;
	for (;;) {
		while (j->committing)
			pthread_cond_wait(&j->cond, &vfs->mu);
		if (j->error)
			return j->error;
		if (!j->grp_items)
			break;
		rc = do_commit(vfs);
		if (rc < 0)
			return rc;
	}
	return checkpoint_locked(vfs);
}

/* ---- transactions ---- */

void
tx_begin(struct vfs *vfs)
{
	struct journal *j = &vfs->jn;

	assert(!j->op_open);
	j->op_open = true;
	j->op_yields = false;
	j->op_head = NULL;
	j->op_items = 0;
	j->op_bytes = 0;
}

void
tx_begin_yielding(struct vfs *vfs)
{
	tx_begin(vfs);
	vfs->jn.op_yields = true;
}

bool
tx_retry(struct vfs *vfs, int rc, uint64_t start_ns)
{
	if (rc != -EDEADLK || vfs_now(vfs) - start_ns > vfs->lock_timeout_ns)
		return false;
	lock_yield(vfs);
	return true;
}

int
tx_dirty(struct vfs *vfs, struct mitem *it)
{
	struct journal *j = &vfs->jn;

	assert(j->op_open);
	if (j->error)
		return j->error;
	if (it->undo)
		return 0;
	/* One op must fit a record well inside the ring; refuse (the op is
	 * undone) rather than fail the commit and stop the session. */
	if (j->op_bytes + it->len > j->ring_bytes / 2)
		return -EFBIG;
	it->undo = malloc(it->len);
	if (!it->undo)
		return -ENOMEM;
	memcpy(it->undo, it->buf, it->len);
	it->op_next = j->op_head;
	j->op_head = it;
	j->op_items++;
	j->op_bytes += it->len;
	return 0;
}

uint64_t
tx_step_blocks(const struct vfs *vfs)
{
	/* Freeing or provisioning n blocks touches at most n/cluster + 1
	 * cluster headers and n/508 + 1 pointer blocks: keep an op at
	 * about an eighth of the ring. */
	uint64_t items = MAX(vfs->jn.ring_bytes / 8 / VFS_MBLOCK, 4) - 2;
	uint64_t per = MIN((uint64_t)vfs->g.dcluster_blocks, OD_PTR_ENTRIES);

	return MAX(items / 2 * per, 1);
}

bool
tx_modified(const struct vfs *vfs)
{
	return vfs->jn.op_open && vfs->jn.op_items > 0;
}

void
item_seal(uint8_t *buf)
{
	switch (le32(*(const uint32_t *)buf)) {
	case VFS_INODE_MAGIC:
		od_inode_seal((struct od_inode *)buf);
		break;
	case VFS_CLUSTER_MAGIC:
		od_cluster_seal((struct od_cluster *)buf);
		break;
	case VFS_PTR_MAGIC:
		od_ptr_seal((struct od_ptr *)buf);
		break;
	case VFS_DIR_MAGIC:
		od_dirblk_seal((struct od_dirblk *)buf);
		break;
	default:
		assert(!"journaled item without a known magic");
	}
}

void
tx_seal(struct vfs *vfs)
{
	for (struct mitem *it = vfs->jn.op_head; it; it = it->op_next)
		item_seal(it->buf);
}

int
tx_end(struct vfs *vfs, int err, bool nowait)
{
	struct journal *j = &vfs->jn;
	struct mitem *it, *next;
	uint64_t id;

	assert(j->op_open);
	j->op_open = false;
	if (err < 0 || j->error) {
		for (it = j->op_head; it; it = next) {
			next = it->op_next;
			memcpy(it->buf, it->undo, it->len);
			free(it->undo);
			it->undo = NULL;
			if (it->fresh && !it->in_group)
				bc_forget(vfs, it);
		}
		j->op_head = NULL;
		return err < 0 ? err : j->error;
	}
	tx_seal(vfs);
	for (it = j->op_head; it; it = next) {
		next = it->op_next;
		free(it->undo);
		it->undo = NULL;
		it->fresh = false;
		if (it->in_group)
			continue;
		it->in_group = true;
		it->grp_next = j->grp_head;
		j->grp_head = it;
		j->grp_items++;
		j->grp_bytes += it->len;
	}
	if (j->op_items && !j->grp_first_ns)
		j->grp_first_ns = vfs_now(vfs) | 1;
	j->op_head = NULL;
	if (!j->op_items)
		return 0;
	id = j->grp_id;
	/* A group may not outgrow a quarter of the ring. */
	if (j->grp_bytes >= j->ring_bytes / 4 || j->grp_items >= 512)
		return wait_durable(vfs, id);
	if ((vfs->flags & VFS_MOUNT_ASYNC_COMMIT) || nowait)
		return 0;
	return wait_durable(vfs, id);
}
