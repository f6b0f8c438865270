/* SPDX-License-Identifier: MIT */
/*
 * The consistency checker. It trusts nothing: every structure is checked
 * on its own (magic, checksum, self-references, ranges) and against the
 * others (each block and mblock reached exactly once, bitmaps and free
 * counts equal to what the tree uses, entry generations and types equal
 * to their inodes, parent links, entry and block counts).
 *
 * Journals that still hold records (a dead host's, or a live one's not
 * yet checkpointed) are applied in memory first, through an overlay on
 * every read, so the check sees the datastore as journal replay will make
 * it; --repair replays them for real (after making sure no host is alive)
 * and then rewrites what is wrong: bitmaps, counts, parent links, stale
 * locks, a damaged primary volume header.
 *
 * Results: 0 clean; 1 problems that were repaired or that --repair would
 * repair (leaks, counts, dirty journals); 2 corruption it cannot repair
 * (cross-linked blocks, damaged directories, inodes or pointer blocks).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "vfs-cluster/vfs-internal.h"

#define OV_BUCKETS 4096
#define MAX_TREE_DEPTH 256

struct ov_item {
	uint64_t off;
	uint32_t len;
	uint8_t *buf;
	struct ov_item *next;
};

struct fsck {
	struct lun *lun;
	struct vfs_geom g;
	unsigned int flags;
	struct vfs_fsck_report *rep;
	void (*msg)(void *arg, const char *line);
	void *arg;
	int result;              /* VFS_FSCK_* so far */
	struct ov_item **ov;     /* journal overlay */
	uint8_t *dused, *mused;  /* what the tree uses */
	struct io_piece *fix;    /* repair writes */
	unsigned int nfix, capfix;
	bool live_hosts;
};

static void printf_like(3, 4)
problem(struct fsck *f, int severity, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	f->rep->errors++;
	if (severity == VFS_FSCK_CORRUPT)
		f->rep->unrepairable++;
	if (severity > f->result)
		f->result = severity;
	if (f->msg)
		f->msg(f->arg, line);
}

static void printf_like(2, 3)
note(struct fsck *f, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!f->msg)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	f->msg(f->arg, line);
}

static bool
repairing(const struct fsck *f)
{
	return f->flags & VFS_FSCK_REPAIR;
}

/* ---- reads through the journal overlay ---- */

static unsigned int
ov_bucket(uint64_t off)
{
	return (unsigned int)((off >> 9) % OV_BUCKETS);
}

static int
ov_put(struct fsck *f, uint64_t off, uint32_t len, const uint8_t *data)
{
	struct ov_item *it;

	for (it = f->ov[ov_bucket(off)]; it; it = it->next)
		if (it->off == off)
			break;
	if (!it) {
		it = calloc(1, sizeof(*it));
		if (!it)
			return -ENOMEM;
		it->buf = malloc(VFS_MBLOCK);
		if (!it->buf) {
			free(it);
			return -ENOMEM;
		}
		it->off = off;
		it->next = f->ov[ov_bucket(off)];
		f->ov[ov_bucket(off)] = it;
	}
	it->len = len;
	memcpy(it->buf, data, len);
	return 0;
}

static int
fk_read(struct fsck *f, uint64_t off, void *buf, uint32_t len)
{
	uint8_t *tmp = vfs_alloc_buf(len);
	int rc;

	if (!tmp)
		return -ENOMEM;
	rc = lun_read(f->lun, off, tmp, len);
	if (rc == 0) {
		memcpy(buf, tmp, len);
		/* Overlay items inside [off, off+len). */
		for (uint64_t o = ALIGN_DOWN(off, VFS_SECTOR); o < off + len;
		     o += VFS_SECTOR) {
			for (struct ov_item *it = f->ov[ov_bucket(o)]; it;
			     it = it->next) {
				if (it->off != o)
					continue;
				uint64_t end = MIN(o + it->len, off + len);

				memcpy((uint8_t *)buf + (o - off), it->buf,
				       end - o);
			}
		}
	}
	free(tmp);
	return rc;
}

/* Loads a journal's records (between tail and head) into the overlay. */
static int
overlay_journal(struct fsck *f, uint32_t j)
{
	uint64_t base = vfs_journal_off(&f->g, j);
	uint64_t ring = f->g.journal_bytes - VFS_MBLOCK, seq, off, used = 0;
	uint8_t *hdr = vfs_alloc_buf(VFS_SECTOR), *buf = vfs_alloc_buf(ring);
	struct od_jhdr h;
	int rc, n = 0;

	if (!hdr || !buf) {
		rc = -ENOMEM;
		goto out;
	}
	rc = lun_read(f->lun, base, hdr, VFS_SECTOR);
	if (rc < 0)
		goto out;
	if (od_jhdr_in(hdr, j, ring, &h) < 0) {
		problem(f, VFS_FSCK_CORRUPT, "journal %u: header is corrupt",
			j);
		rc = 0;
		goto out;
	}
	rc = vfs_io_read_long(f->lun, base + VFS_MBLOCK, buf, ring);
	if (rc < 0)
		goto out;
	seq = h.tail_seq;
	off = h.tail_off;
	while (used < ring) {
		uint64_t len = od_jrec_check(buf + off, ring - off, seq, &f->g);
		const struct od_jitem *it;
		const uint8_t *data;
		uint32_t k;

		if (!len && off) {
			len = od_jrec_check(buf, ring, seq, &f->g);
			if (len) {
				used += ring - off;
				off = 0;
			}
		}
		if (!len || used + len > ring)
			break;
		it = od_jrec_items(buf + off);
		data = od_jrec_data(buf + off);
		k = le32(((const struct od_jrec *)(buf + off))->nitems);
		for (uint32_t i = 0; i < k && rc == 0; i++) {
			rc = ov_put(f, le64(it[i].off), le32(it[i].len), data);
			data += le32(it[i].len);
		}
		if (rc < 0)
			goto out;
		n++;
		seq++;
		used += len;
		off = (off + len) % ring;
	}
	rc = n;
out:
	free(hdr);
	free(buf);
	return rc;
}

/* ---- slots and journals ---- */

static int
watch_slots(struct fsck *f, uint8_t *a, uint64_t len)
{
	uint8_t *b = vfs_alloc_buf(len);
	struct timespec ts = { (time_t)(f->g.lease_ms / 1000) + 1,
			       (long)(f->g.lease_ms % 1000) * 1000000 };
	int rc;

	if (!b)
		return -ENOMEM;
	note(f, "slots in use: watching the heartbeats for %u ms",
	     f->g.lease_ms + 1000);
	nanosleep(&ts, NULL);
	rc = lun_read(f->lun, f->g.hb_off, b, len);
	if (rc == 0 && memcmp(a, b, len) != 0)
		rc = -EBUSY;
	free(b);
	return rc;
}

static int
check_slots(struct fsck *f)
{
	uint64_t len = (uint64_t)f->g.slots * VFS_SECTOR;
	uint8_t *a = vfs_alloc_buf(len);
	bool any = false;
	int rc;

	if (!a)
		return -ENOMEM;
	rc = lun_read(f->lun, f->g.hb_off, a, len);
	for (uint32_t s = 0; rc == 0 && s < f->g.slots; s++) {
		struct od_slot rec;
		uint8_t *sec = a + (uint64_t)s * VFS_SECTOR;

		if (od_slot_in(sec, s, &rec) < 0) {
			problem(f, VFS_FSCK_REPAIRABLE,
				"heartbeat slot %u is corrupt", s);
			if (repairing(f))
				memset(sec, 0, VFS_SECTOR);
			continue;
		}
		if (rec.state != OD_SLOT_FREE)
			any = true;
	}
	if (rc == 0 && any && repairing(f)) {
		/* Repair only what nobody else is changing. */
		rc = watch_slots(f, a, len);
		if (rc == -EBUSY)
			note(f, "a host is alive on this datastore: unmount "
			     "it everywhere before --repair");
	}
	if (rc == 0 && any && !repairing(f)) {
		f->live_hosts = true;
		note(f, "hosts have this datastore mounted: the check sees it "
		     "as their journals would leave it");
	}
	free(a);
	return rc;
}

static int
check_journals(struct fsck *f)
{
	int rc = 0;

	for (uint32_t j = 0; j < f->g.journals && rc >= 0; j++) {
		uint8_t *s = vfs_alloc_buf(VFS_SECTOR);
		struct od_slot rec = { 0 };
		bool live;

		if (!s)
			return -ENOMEM;
		rc = lun_read(f->lun, vfs_slot_off(&f->g, j), s, VFS_SECTOR);
		if (rc == 0 && od_slot_in(s, j, &rec) < 0)
			memset(&rec, 0, sizeof(rec));
		free(s);
		if (rc < 0)
			return rc;
		live = rec.state == OD_SLOT_LIVE;
		if (repairing(f)) {
			rc = journal_replay_geom(&f->g, f->lun, j, rec.generation,
						 false);
			if (rc > 0) {
				f->rep->journals_replayed++;
				f->rep->repaired++;
				problem(f, VFS_FSCK_REPAIRABLE,
					"journal %u: replayed %d records", j,
					rc);
			}
			if (rc == -EUCLEAN) {
				problem(f, VFS_FSCK_CORRUPT,
					"journal %u: header is corrupt", j);
				rc = 0;
			}
			continue;
		}
		rc = overlay_journal(f, j);
		if (rc > 0 && !live)
			problem(f, VFS_FSCK_REPAIRABLE,
				"journal %u: %d records not yet replayed "
				"(host in slot %u is gone)", j, rc, j);
	}
	return rc < 0 ? rc : 0;
}

/* Frees the slots of dead hosts whose journals --repair replayed. */
static int
free_dead_slots(struct fsck *f)
{
	uint64_t len = (uint64_t)f->g.slots * VFS_SECTOR;
	uint8_t *a = vfs_alloc_buf(len);
	int rc;

	if (!a)
		return -ENOMEM;
	rc = lun_read(f->lun, f->g.hb_off, a, len);
	for (uint32_t s = 0; rc == 0 && s < f->g.slots; s++) {
		uint8_t *sec = a + (uint64_t)s * VFS_SECTOR;
		struct od_slot rec;

		if (od_slot_in(sec, s, &rec) == 0 && rec.state == OD_SLOT_FREE)
			continue;
		if (od_slot_in(sec, s, &rec) < 0)
			memset(&rec, 0, sizeof(rec));
		memset(&rec, 0, offsetof(struct od_slot, generation));
		rec.state = OD_SLOT_FREE;
		rec.generation++;
		rec.slot = s;
		memset(rec.host_name, 0, sizeof(rec.host_name));
		od_slot_out(&rec, sec);
		rc = lun_write(f->lun, vfs_slot_off(&f->g, s), sec, VFS_SECTOR,
			       LUN_IO_FUA);
		note(f, "slot %u: freed (its host is gone)", s);
	}
	free(a);
	return rc;
}

/* ---- the disk-paxos area ---- */

static void queue_fix(struct fsck *f, uint64_t off, uint32_t len,
		      const void *data);

/*
 * Damaged ballot blocks stop every disk-paxos host's ATS. With no host
 * alive (what --repair makes sure of) the whole area may start over
 * from zero: instance 0, nothing accepted.
 */
static void
check_paxos(struct fsck *f)
{
	uint32_t n = 1 + MIN(f->g.journals, VFS_PAXOS_MAX), bad = 0;
	uint64_t len = (uint64_t)n * VFS_SECTOR;
	uint8_t *buf = vfs_alloc_buf(len);
	struct od_pxleader l;
	struct od_pxblock b;

	if (!buf)
		return;
	if (fk_read(f, VFS_PAXOS_OFF, buf, (uint32_t)len) < 0) {
		problem(f, VFS_FSCK_CORRUPT, "disk-paxos area: unreadable");
		free(buf);
		return;
	}
	if (od_pxleader_in(buf, &l) < 0)
		bad++;
	for (uint32_t i = 0; i + 1 < n; i++)
		if (od_pxblock_in(buf + (uint64_t)(i + 1) * VFS_SECTOR, i,
				  &b) < 0)
			bad++;
	if (bad) {
		problem(f, VFS_FSCK_REPAIRABLE, "disk-paxos area: %u of %u "
			"sectors are corrupt", bad, n);
		memset(buf, 0, len);
		queue_fix(f, VFS_PAXOS_OFF, (uint32_t)len, buf);
	}
	free(buf);
}

/* ---- locks ---- */

static void
check_lock(struct fsck *f, uint64_t off, const uint8_t *sec, bool fresh_ok,
	   const char *what)
{
	struct od_lock rec;

	if (od_lock_in(sec, off, &rec) == 0)
		return;
	if (fresh_ok)
		return;
	problem(f, VFS_FSCK_REPAIRABLE, "%s: lock sector is corrupt", what);
	if (repairing(f)) {
		uint8_t *z = vfs_alloc_buf(VFS_SECTOR);

		if (z) {
			memset(z, 0, VFS_SECTOR);
			if (lun_write(f->lun, off, z, VFS_SECTOR, LUN_IO_FUA) == 0)
				f->rep->repaired++;
			free(z);
		}
	}
}

/* ---- the tree ---- */

static bool
bit(const uint8_t *m, uint64_t b)
{
	return m[b / 8] & (1u << (b % 8));
}

static void
set_bit(uint8_t *m, uint64_t b)
{
	m[b / 8] |= (uint8_t)(1u << (b % 8));
}

/* Claims an mblock for the tree; false if already claimed. */
static bool
claim_mblock(struct fsck *f, uint64_t m, const char *what, uint64_t ino)
{
	if (!vfs_mblock_valid(&f->g, m)) {
		problem(f, VFS_FSCK_CORRUPT, "inode %llu: %s %llu is outside "
			"the metadata pool", (unsigned long long)ino, what,
			(unsigned long long)m);
		return false;
	}
	if (bit(f->mused, m)) {
		problem(f, VFS_FSCK_CORRUPT, "inode %llu: %s %llu is used "
			"twice", (unsigned long long)ino, what,
			(unsigned long long)m);
		return false;
	}
	set_bit(f->mused, m);
	f->rep->meta_blocks_used++;
	return true;
}

struct walk {
	struct fsck *f;
	uint64_t ino;
	bool dir;
	uint64_t leaves;
	uint64_t max_leaf;
	/* directories */
	uint64_t entries;
	uint64_t *children;      /* ino, type pairs to visit */
	uint32_t *gens;
	uint8_t *types;
	size_t nchildren, capchildren;
	char **names;
};

static int add_child(struct walk *w, uint64_t ino, uint32_t gen,
		     uint8_t type, const char *name, size_t len);

static void
check_dirblk(struct walk *w, uint64_t m)
{
	struct fsck *f = w->f;
	struct od_dirblk *d = vfs_alloc_buf(VFS_MBLOCK);
	uint32_t pos = 0;

	if (!d)
		return;
	if (fk_read(f, vfs_mblock_off(&f->g, m), d, VFS_MBLOCK) < 0 ||
	    od_dirblk_check(d, m, w->ino, &f->g) < 0) {
		problem(f, VFS_FSCK_CORRUPT, "directory %llu: block %llu is "
			"corrupt", (unsigned long long)w->ino,
			(unsigned long long)m);
		free(d);
		return;
	}
	while (pos < le16(d->used)) {
		const struct od_dirent *e =
			(const struct od_dirent *)(d->data + pos);

		w->entries++;
		add_child(w, le64(e->ino), le32(e->generation), e->type,
			  (const char *)(e + 1), e->name_len);
		pos += le16(e->rec_len);
	}
	free(d);
}

static int
map_leaf(struct walk *w, uint64_t lblk, uint64_t e)
{
	struct fsck *f = w->f;
	uint64_t b = e & OD_MAP_BLOCK_MASK;

	w->leaves++;
	w->max_leaf = MAX(w->max_leaf, lblk + 1);
	if (w->dir) {
		if (e & OD_MAP_TBZ)
			problem(f, VFS_FSCK_CORRUPT, "directory %llu: block "
				"flagged to-be-zeroed",
				(unsigned long long)w->ino);
		if (claim_mblock(f, b, "directory block", w->ino))
			check_dirblk(w, b);
		return 0;
	}
	if (b >= f->g.data_blocks) {
		problem(f, VFS_FSCK_CORRUPT, "inode %llu: block %llu is "
			"outside the datastore", (unsigned long long)w->ino,
			(unsigned long long)b);
		return 0;
	}
	if (bit(f->dused, b)) {
		problem(f, VFS_FSCK_CORRUPT, "inode %llu: block %llu is used "
			"twice", (unsigned long long)w->ino,
			(unsigned long long)b);
		return 0;
	}
	set_bit(f->dused, b);
	f->rep->data_blocks_used++;
	return 0;
}

static uint64_t
span(uint32_t level)
{
	uint64_t s = 1;

	while (level--)
		s *= OD_PTR_ENTRIES;
	return s;
}

static void
walk_entries(struct walk *w, const uint64_t *entries, unsigned int n,
	     uint32_t level, uint64_t base)
{
	struct fsck *f = w->f;

	for (unsigned int i = 0; i < n; i++) {
		uint64_t e = le64(entries[i]), p = e & OD_MAP_BLOCK_MASK;
		struct od_ptr *ptr;

		if (!(e & OD_MAP_PRESENT))
			continue;
		if (level == 0) {
			map_leaf(w, base + i, e);
			continue;
		}
		if (!claim_mblock(f, p, "pointer block", w->ino))
			continue;
		ptr = vfs_alloc_buf(VFS_MBLOCK);
		if (!ptr)
			return;
		if (fk_read(f, vfs_mblock_off(&f->g, p), ptr, VFS_MBLOCK) < 0 ||
		    od_ptr_check(ptr, p, w->ino) < 0 ||
		    le32(ptr->level) != level) {
			problem(f, VFS_FSCK_CORRUPT, "inode %llu: pointer "
				"block %llu is corrupt",
				(unsigned long long)w->ino,
				(unsigned long long)p);
		} else {
			walk_entries(w, ptr->entries, OD_PTR_ENTRIES,
				     level - 1, base + i * span(level));
		}
		free(ptr);
	}
}

static int
add_child(struct walk *w, uint64_t ino, uint32_t gen, uint8_t type,
	  const char *name, size_t len)
{
	if (w->nchildren == w->capchildren) {
		size_t cap = w->capchildren ? w->capchildren * 2 : 64;
		uint64_t *c = realloc(w->children, cap * sizeof(*c));
		uint32_t *g = c ? realloc(w->gens, cap * sizeof(*g)) : NULL;
		uint8_t *t = g ? realloc(w->types, cap) : NULL;
		char **nm = t ? realloc(w->names, cap * sizeof(*nm)) : NULL;

		if (c)
			w->children = c;
		if (g)
			w->gens = g;
		if (t)
			w->types = t;
		if (!nm)
			return -ENOMEM;
		w->names = nm;
		w->capchildren = cap;
	}
	w->children[w->nchildren] = ino;
	w->gens[w->nchildren] = gen;
	w->types[w->nchildren] = type;
	w->names[w->nchildren] = strndup(name, len);
	w->nchildren++;
	return 0;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
queue_fix(struct fsck *f, uint64_t off, uint32_t len, const void *data)
{
	uint8_t *copy;

	if (!repairing(f))
		return;
	if (f->nfix == f->capfix) {
		unsigned int cap = f->capfix ? f->capfix * 2 : 64;
		struct io_piece *bigger = realloc(f->fix, cap * sizeof(*bigger));

		if (!bigger)
			return;
		f->fix = bigger;
		f->capfix = cap;
	}
	copy = vfs_alloc_buf(len);
	if (!copy)
		return;
	memcpy(copy, data, len);
	f->fix[f->nfix].off = off;
	f->fix[f->nfix].len = len;
	f->fix[f->nfix].buf = copy;
	f->nfix++;
	f->rep->repaired++;
}

static void check_inode(struct fsck *f, uint64_t ino, uint32_t gen,
			uint8_t type, uint64_t parent, unsigned int depth);

static void
visit_children(struct fsck *f, struct walk *w, unsigned int depth)
{
	/* Duplicate names in one directory. */
	char **sorted = malloc(w->nchildren * sizeof(*sorted) + 1);

	if (sorted && w->nchildren) {
		memcpy(sorted, w->names, w->nchildren * sizeof(*sorted));
		qsort(sorted, w->nchildren, sizeof(*sorted), cmp_name);
		for (size_t i = 1; i < w->nchildren; i++)
			if (sorted[i] && sorted[i - 1] &&
			    !strcmp(sorted[i], sorted[i - 1]))
				problem(f, VFS_FSCK_CORRUPT, "directory %llu: "
					"name '%s' appears twice",
					(unsigned long long)w->ino, sorted[i]);
	}
	free(sorted);
	for (size_t i = 0; i < w->nchildren; i++)
		check_inode(f, w->children[i], w->gens[i], w->types[i], w->ino,
			    depth + 1);
}

static void
free_walk(struct walk *w)
{
	for (size_t i = 0; i < w->nchildren; i++)
		free(w->names[i]);
	free(w->names);
	free(w->children);
	free(w->gens);
	free(w->types);
}

static void
check_inode(struct fsck *f, uint64_t ino, uint32_t gen, uint8_t type,
	    uint64_t parent, unsigned int depth)
{
	uint8_t *mb = vfs_alloc_buf(VFS_MBLOCK);
	struct od_inode *b = (struct od_inode *)(mb + VFS_SECTOR);
	struct walk w = { .f = f, .ino = ino };
	bool changed = false;

	if (!mb)
		return;
	if (depth > MAX_TREE_DEPTH) {
		problem(f, VFS_FSCK_CORRUPT, "tree deeper than %d: a loop?",
			MAX_TREE_DEPTH);
		goto out;
	}
	if (!vfs_ino_valid(&f->g, ino)) {
		problem(f, VFS_FSCK_CORRUPT, "directory %llu names inode %llu,"
			" which is not an inode", (unsigned long long)parent,
			(unsigned long long)ino);
		goto out;
	}
	if (!claim_mblock(f, ino, "inode", parent))
		goto out;
	if (fk_read(f, vfs_mblock_off(&f->g, ino), mb, VFS_MBLOCK) < 0 ||
	    od_inode_check(b, ino) < 0 || !le32(b->magic)) {
		problem(f, VFS_FSCK_CORRUPT, "inode %llu is corrupt",
			(unsigned long long)ino);
		goto out;
	}
	if (od_inode_inline(b) && !(f->g.incompat & VFS_INCOMPAT_INLINE)) {
		problem(f, VFS_FSCK_CORRUPT, "inode %llu keeps its data inline"
			" on a volume without that feature",
			(unsigned long long)ino);
		goto out;
	}
	check_lock(f, vfs_mblock_off(&f->g, ino), mb, false, "inode");
	if (le16(b->type) != type || le32(b->generation) != gen) {
		problem(f, VFS_FSCK_CORRUPT, "directory %llu: entry for inode "
			"%llu says type %u generation %u, the inode has type "
			"%u generation %u", (unsigned long long)parent,
			(unsigned long long)ino, type, gen, le16(b->type),
			le32(b->generation));
		goto out;
	}
	f->rep->inodes++;
	w.dir = type == OD_INODE_DIR;
	if (w.dir)
		f->rep->dirs++;
	else
		f->rep->files++;
	/* An inline file's map area is its data (checked above). */
	if (!od_inode_inline(b))
		walk_entries(&w, b->map, OD_MAP_ROOT, le32(b->map_depth), 0);
	if (le64(b->blocks) != w.leaves) {
		problem(f, VFS_FSCK_REPAIRABLE, "inode %llu: block count %llu,"
			" counted %llu", (unsigned long long)ino,
			(unsigned long long)le64(b->blocks),
			(unsigned long long)w.leaves);
		b->blocks = to_le64(w.leaves);
		changed = true;
	}
	if (w.dir) {
		if (w.max_leaf != w.leaves)
			problem(f, VFS_FSCK_CORRUPT, "directory %llu: blocks "
				"are not contiguous", (unsigned long long)ino);
		if (le32(b->nentries) != w.entries) {
			problem(f, VFS_FSCK_REPAIRABLE, "directory %llu: %u "
				"entries recorded, %llu found",
				(unsigned long long)ino, le32(b->nentries),
				(unsigned long long)w.entries);
			b->nentries = to_le32((uint32_t)w.entries);
			changed = true;
		}
		if (le64(b->parent) != parent) {
			problem(f, VFS_FSCK_REPAIRABLE, "directory %llu: parent "
				"link %llu, actual parent %llu",
				(unsigned long long)ino,
				(unsigned long long)le64(b->parent),
				(unsigned long long)parent);
			b->parent = to_le64(parent);
			changed = true;
		}
	}
	if (changed) {
		od_inode_seal(b);
		queue_fix(f, vfs_mblock_off(&f->g, ino) + VFS_SECTOR,
			  VFS_MBLOCK - VFS_SECTOR, b);
	}
	if (w.dir)
		visit_children(f, &w, depth);
out:
	free_walk(&w);
	free(mb);
}

/* ---- bitmaps ---- */

static void
check_cluster(struct fsck *f, uint32_t type, uint32_t c)
{
	bool data = type == OD_CLUSTER_DATA;
	uint64_t off = data ? vfs_dcluster_off(&f->g, c) :
		vfs_mblock_off(&f->g, vfs_mcluster_hdr(&f->g, c));
	uint8_t *mb = vfs_alloc_buf(VFS_MBLOCK);
	struct od_cluster *cl = (struct od_cluster *)(mb + VFS_SECTOR);
	uint64_t first, nbits;
	uint32_t used = 0, unmarked = 0, leaked = 0;
	bool bad_hdr, differ;

	if (!mb)
		return;
	if (fk_read(f, off, mb, VFS_MBLOCK) < 0) {
		problem(f, VFS_FSCK_CORRUPT, "cluster %u: unreadable", c);
		free(mb);
		return;
	}
	check_lock(f, off, mb, false, "cluster");
	first = data ? (uint64_t)c * f->g.dcluster_blocks :
		       vfs_mcluster_hdr(&f->g, c) + 1;
	nbits = data ? MIN((uint64_t)f->g.dcluster_blocks,
			   f->g.data_blocks - first) : f->g.mcluster_blocks;
	bad_hdr = od_cluster_check(cl, c, type, &f->g) < 0;
	if (bad_hdr) {
		problem(f, VFS_FSCK_REPAIRABLE, "%s cluster %u: header is "
			"corrupt; rebuilding it from the tree",
			data ? "data" : "meta", c);
		memset(cl, 0, sizeof(*cl));
		cl->index = to_le32(c);
		cl->type = to_le32(type);
		cl->nbits = to_le32((uint32_t)nbits);
		cl->first = to_le64(first);
	}
	for (uint64_t i = 0; i < nbits; i++) {
		bool in_use = bit(data ? f->dused : f->mused, first + i);
		bool marked = cl->bitmap[i / 8] & (1u << (i % 8));

		used += in_use;
		if (in_use != marked && !bad_hdr) {
			if (in_use)
				unmarked++;
			else
				leaked++;
		}
		if (in_use)
			cl->bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
		else
			cl->bitmap[i / 8] &= (uint8_t)~(1u << (i % 8));
	}
	if (unmarked)
		problem(f, VFS_FSCK_REPAIRABLE, "%s cluster %u: %u %s in use "
			"but marked free", data ? "data" : "meta", c, unmarked,
			data ? "blocks" : "mblocks");
	if (leaked)
		problem(f, VFS_FSCK_REPAIRABLE, "%s cluster %u: %u %s marked "
			"in use but unreachable (leaked)",
			data ? "data" : "meta", c, leaked,
			data ? "blocks" : "mblocks");
	differ = unmarked || leaked;
	if (le32(cl->nfree) != nbits - used) {
		if (!bad_hdr && !differ)
			problem(f, VFS_FSCK_REPAIRABLE, "cluster %u: free count "
				"%u, counted %llu", c, le32(cl->nfree),
				(unsigned long long)(nbits - used));
		differ = true;
		cl->nfree = to_le32((uint32_t)(nbits - used));
	}
	if (differ || bad_hdr) {
		od_cluster_seal(cl);
		queue_fix(f, off + VFS_SECTOR, VFS_MBLOCK - VFS_SECTOR, cl);
	}
	free(mb);
}

static void
check_bitmaps(struct fsck *f)
{
	for (uint32_t c = 0; c < f->g.dclusters; c++)
		check_cluster(f, OD_CLUSTER_DATA, c);
	for (uint32_t c = 0; c < f->g.mclusters; c++)
		check_cluster(f, od_mcluster_type(c), c);
}

/* ---- entry points ---- */

static int
check_volume(struct fsck *f)
{
	uint8_t *s = vfs_alloc_buf(VFS_SECTOR), *b = vfs_alloc_buf(VFS_SECTOR);
	struct vfs_geom g2;
	int rc, rc2;

	if (!s || !b) {
		free(s);
		free(b);
		return -ENOMEM;
	}
	if (lun_get_info(f->lun)->logical_sector_bytes != VFS_SECTOR) {
		free(s);
		free(b);
		return -EOPNOTSUPP;
	}
	rc = lun_read(f->lun, VFS_VOLUME_OFF, s, VFS_SECTOR);
	if (rc == 0)
		rc = od_volume_in(s, &f->g);
	rc2 = lun_read(f->lun, VFS_VOLUME_BACKUP_OFF, b, VFS_SECTOR);
	if (rc2 == 0)
		rc2 = od_volume_in(b, &g2);
	if (rc == -EUCLEAN && rc2 == 0) {
		problem(f, VFS_FSCK_REPAIRABLE, "primary volume header is "
			"corrupt; the backup is good");
		f->g = g2;
		queue_fix(f, VFS_VOLUME_OFF, VFS_SECTOR, b);
		rc = 0;
	} else if (rc == 0 && rc2 != 0) {
		problem(f, VFS_FSCK_REPAIRABLE, "backup volume header is "
			"corrupt");
		queue_fix(f, VFS_VOLUME_BACKUP_OFF, VFS_SECTOR, s);
	} else if (rc == 0 && memcmp(s, b, VFS_SECTOR) != 0) {
		problem(f, VFS_FSCK_REPAIRABLE, "backup volume header differs");
		queue_fix(f, VFS_VOLUME_BACKUP_OFF, VFS_SECTOR, s);
	}
	if (rc == 0 && f->g.lun_bytes > lun_get_info(f->lun)->size_bytes) {
		note(f, "the LUN is smaller than the datastore");
		rc = -EUCLEAN;
	}
	free(s);
	free(b);
	return rc;
}

int
vfs_fsck_lun(struct lun *lun, unsigned int flags, struct vfs_fsck_report *rep,
	     void (*msg)(void *arg, const char *line), void *arg)
{
	struct vfs_fsck_report dummy;
	struct fsck f = { .lun = lun, .flags = flags, .msg = msg, .arg = arg };
	uint8_t *root = NULL;
	int rc;

	f.rep = rep ? rep : &dummy;
	memset(f.rep, 0, sizeof(*f.rep));
	rc = check_volume(&f);
	if (rc == -EUCLEAN) {
		problem(&f, VFS_FSCK_CORRUPT, "volume header is corrupt and "
			"has no good backup");
		return VFS_FSCK_CORRUPT;
	}
	if (rc < 0)
		return rc;
	f.ov = calloc(OV_BUCKETS, sizeof(*f.ov));
	f.dused = calloc(1, f.g.data_blocks / 8 + 1);
	f.mused = calloc(1, f.g.meta_blocks / 8 + 1);
	if (!f.ov || !f.dused || !f.mused) {
		rc = -ENOMEM;
		goto out;
	}
	rc = check_slots(&f);
	if (rc == 0)
		rc = check_journals(&f);
	if (rc == 0 && repairing(&f))
		rc = free_dead_slots(&f);
	if (rc < 0)
		goto out;
	/* The global locks. */
	root = vfs_alloc_buf(VFS_SECTOR);
	if (!root) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < 2; i++) {
		uint64_t off = f.g.locks_off + i * VFS_SECTOR;

		if (fk_read(&f, off, root, VFS_SECTOR) == 0)
			check_lock(&f, off, root, false, "global lock");
	}
	check_paxos(&f);
	check_inode(&f, f.g.root_ino, 1, OD_INODE_DIR, f.g.root_ino, 0);
	check_bitmaps(&f);
	if (repairing(&f) && f.nfix) {
		rc = vfs_io_write_many(NULL, lun, f.fix, f.nfix);
		if (rc == 0)
			rc = lun_flush(lun);
		if (rc < 0)
			goto out;
	}
	rc = f.result;
	if (repairing(&f) && rc == VFS_FSCK_REPAIRABLE)
		rc = VFS_FSCK_REPAIRABLE;
out:
	for (unsigned int i = 0; i < f.nfix; i++)
		free((void *)f.fix[i].buf);
	free(f.fix);
	if (f.ov) {
		for (unsigned int b = 0; b < OV_BUCKETS; b++) {
			struct ov_item *it = f.ov[b], *next;

			for (; it; it = next) {
				next = it->next;
				free(it->buf);
				free(it);
			}
		}
	}
	free(f.ov);
	free(f.dused);
	free(f.mused);
	free(root);
	return rc;
}

int
vfs_fsck(const char *uri, unsigned int flags, struct vfs_fsck_report *rep,
	 void (*msg)(void *arg, const char *line), void *arg)
{
	struct lun_config cfg = { .read_only = !(flags & VFS_FSCK_REPAIR) };
	struct lun *lun;
	uint64_t key = 0;
	int rc = lun_open(uri, &cfg, &lun);

	if (rc < 0)
		return rc;
	/* Repairs write: under a fencing reservation only registrants can. */
	if (flags & VFS_FSCK_REPAIR)
		rc = fence_join(lun, &key);
	if (rc == 0)
		rc = vfs_fsck_lun(lun, flags, rep, msg, arg);
	fence_leave(lun, key);
	lun_close(lun);
	return rc;
}
