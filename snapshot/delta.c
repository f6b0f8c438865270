/* SPDX-License-Identifier: MIT */
/*
 * An open delta disk: loading and checking its tables, the grain tables
 * in memory, packed allocation, metadata commits, the dirty flag
 * (delta.h explains the rules). The asynchronous data path that uses it
 * is chain-io.c; this file does only synchronous I/O (open, close,
 * offline commits).
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "snapshot/delta.h"
#include "vdisk/vdisk-provider.h"

#define WINDOW (64u << 10)
/* Local filesystems (ext4) stop at 16 TiB per file. */
#define FILE_CAP ((16ull << 40) - (4ull << 20))

struct gt_page {
	uint64_t ent[DELTA_PAGE_ENTRIES]; /* raw entries, host order */
	uint64_t index;                   /* grain >> DELTA_GT_SHIFT */
	uint64_t sector;                  /* 0: not on disk yet */
	struct gt_page *dirty_next;
	bool dirty;
};

struct gd_page {
	struct gt_page *gt[DELTA_PAGE_ENTRIES];
	uint64_t ent[DELTA_PAGE_ENTRIES]; /* raw pointers to the GT pages */
	uint64_t index;                   /* grain >> DELTA_GD_SHIFT */
	uint64_t sector;
	struct gd_page *dirty_next;
	bool dirty;
};

struct delta {
	struct vdisk_store *st;
	struct store_file *f;
	char name[256];
	bool writable;
	struct delta_hdr h;
	unsigned int hdr_copy;        /* the copy written last */
	uint64_t ngrains;
	uint64_t limit;               /* file bytes entries may point into */
	uint64_t *root;               /* raw root entries, host order */
	struct gd_page **gd;          /* root_entries */
	uint8_t *root_dirty;          /* per root sector */
	uint32_t nroot_sectors;
	struct gt_page *dirty_gt;
	struct gd_page *dirty_gd;
	unsigned int dirty_roots;
	uint64_t alloc_end;
	uint64_t meta_block;          /* byte offset; 0: none open */
	unsigned int meta_used;       /* pages used in it */
	uint64_t data_grains;
};

uint64_t
delta_file_limit(uint64_t capacity)
{
	uint64_t grains = DIV_ROUND_UP(capacity, (uint64_t)DELTA_GRAIN);
	uint64_t pages = DIV_ROUND_UP(grains, (uint64_t)DELTA_PAGE_ENTRIES) +
			 delta_root_entries(capacity);
	uint64_t blocks = DIV_ROUND_UP(pages, (uint64_t)DELTA_PAGES_PER_BLOCK);
	/* Slack for meta blocks left half full across reopenings. */
	uint64_t limit = delta_data_start(capacity) +
			 (grains + blocks + 256) * DELTA_GRAIN;

	return MIN(limit, FILE_CAP);
}

/* ---- small helpers ---- */

static void *
aligned(size_t len)
{
	void *p;

	if (posix_memalign(&p, 4096, ALIGN_UP(len, (size_t)4096)))
		return NULL;
	memset(p, 0, ALIGN_UP(len, (size_t)4096));
	return p;
}

static struct delta *
delta_alloc_struct(uint32_t root_entries)
{
	struct delta *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->nroot_sectors = (uint32_t)DIV_ROUND_UP((uint64_t)root_entries * 8,
						  (uint64_t)DELTA_SECTOR);
	d->root = aligned((size_t)d->nroot_sectors * DELTA_SECTOR);
	d->gd = calloc(root_entries ? root_entries : 1, sizeof(*d->gd));
	d->root_dirty = calloc(d->nroot_sectors ? d->nroot_sectors : 1, 1);
	if (!d->root || !d->gd || !d->root_dirty) {
		free(d->root);
		free(d->gd);
		free(d->root_dirty);
		free(d);
		return NULL;
	}
	return d;
}

static void
free_tables(struct delta *d)
{
	for (uint32_t i = 0; d->gd && i < d->h.root_entries; i++) {
		if (!d->gd[i])
			continue;
		for (unsigned int j = 0; j < DELTA_PAGE_ENTRIES; j++)
			free(d->gd[i]->gt[j]);
		free(d->gd[i]);
	}
	free(d->gd);
	free(d->root);
	free(d->root_dirty);
}

uint64_t
delta_capacity(const struct delta *d)
{
	return d->h.capacity;
}

uint64_t
delta_ngrains(const struct delta *d)
{
	return d->ngrains;
}

struct store_file *
delta_file(const struct delta *d)
{
	return d->f;
}

bool
delta_writable(const struct delta *d)
{
	return d->writable;
}

const struct delta_hdr *
delta_header(const struct delta *d)
{
	return &d->h;
}

uint64_t
delta_data_grains(const struct delta *d)
{
	return d->data_grains;
}

uint64_t
delta_alloc_end(const struct delta *d)
{
	return d->alloc_end;
}

/* ---- lookups and updates ---- */

uint64_t
delta_get(const struct delta *d, uint64_t grain)
{
	const struct gd_page *gd;
	const struct gt_page *gt;

	if (grain >= d->ngrains)
		return 0;
	gd = d->gd[grain >> DELTA_GD_SHIFT];
	if (!gd)
		return 0;
	gt = gd->gt[(grain >> DELTA_GT_SHIFT) & (DELTA_PAGE_ENTRIES - 1)];
	return gt ? gt->ent[grain & (DELTA_PAGE_ENTRIES - 1)] : 0;
}

uint64_t
delta_next(const struct delta *d, uint64_t grain)
{
	while (grain < d->ngrains) {
		const struct gd_page *gd = d->gd[grain >> DELTA_GD_SHIFT];
		const struct gt_page *gt;

		if (!gd) {
			grain = ALIGN_DOWN(grain, (uint64_t)DELTA_GD_GRAINS) +
				DELTA_GD_GRAINS;
			continue;
		}
		gt = gd->gt[(grain >> DELTA_GT_SHIFT) &
			    (DELTA_PAGE_ENTRIES - 1)];
		if (!gt) {
			grain = ALIGN_DOWN(grain, (uint64_t)DELTA_PAGE_ENTRIES) +
				DELTA_PAGE_ENTRIES;
			continue;
		}
		for (unsigned int i = grain & (DELTA_PAGE_ENTRIES - 1);
		     i < DELTA_PAGE_ENTRIES; i++, grain++)
			if (gt->ent[i] && grain < d->ngrains)
				return grain;
	}
	return UINT64_MAX;
}

uint64_t
delta_count_range(const struct delta *d, uint64_t first, uint64_t count)
{
	uint64_t n = 0, g = first;

	while ((g = delta_next(d, g)) != UINT64_MAX && g < first + count) {
		n++;
		g++;
	}
	return n;
}

int
delta_alloc(struct delta *d, unsigned int n, uint64_t *first_slot)
{
	uint64_t bytes = (uint64_t)n * DELTA_GRAIN;

	if (d->alloc_end + bytes > d->limit)
		return -ENOSPC;
	*first_slot = d->alloc_end / DELTA_GRAIN;
	d->alloc_end += bytes;
	return 0;
}

/* A sector for a new page, from the open meta block. */
static int
alloc_page_sector(struct delta *d, uint64_t *sector)
{
	uint64_t slot;
	int rc;

	if (!d->meta_block || d->meta_used == DELTA_PAGES_PER_BLOCK) {
		rc = delta_alloc(d, 1, &slot);
		if (rc < 0)
			return rc;
		d->meta_block = slot * DELTA_GRAIN;
		d->meta_used = 0;
	}
	*sector = d->meta_block / DELTA_SECTOR + d->meta_used++;
	return 0;
}

static void
dirty_gt(struct delta *d, struct gt_page *gt)
{
	if (gt->dirty)
		return;
	gt->dirty = true;
	gt->dirty_next = d->dirty_gt;
	d->dirty_gt = gt;
}

static void
dirty_gd(struct delta *d, struct gd_page *gd)
{
	if (gd->dirty)
		return;
	gd->dirty = true;
	gd->dirty_next = d->dirty_gd;
	d->dirty_gd = gd;
}

static void
dirty_root(struct delta *d, uint32_t sector)
{
	if (d->root_dirty[sector])
		return;
	d->root_dirty[sector] = 1;
	d->dirty_roots++;
}

int
delta_set(struct delta *d, uint64_t grain, enum delta_kind kind, uint64_t slot)
{
	uint64_t ri = grain >> DELTA_GD_SHIFT;
	unsigned int gi = (grain >> DELTA_GT_SHIFT) & (DELTA_PAGE_ENTRIES - 1);
	unsigned int ei = grain & (DELTA_PAGE_ENTRIES - 1);
	struct gd_page *gd;
	struct gt_page *gt;
	uint64_t old;

	if (grain >= d->ngrains)
		return -ERANGE;
	gd = d->gd[ri];
	if (!gd) {
		gd = calloc(1, sizeof(*gd));
		if (!gd)
			return -ENOMEM;
		gd->index = ri;
		d->gd[ri] = gd;
	}
	gt = gd->gt[gi];
	if (!gt) {
		gt = calloc(1, sizeof(*gt));
		if (!gt)
			return -ENOMEM;
		gt->index = grain >> DELTA_GT_SHIFT;
		gd->gt[gi] = gt;
	}
	old = gt->ent[ei];
	if (old && delta_gte_kind(old) == DELTA_DATA)
		d->data_grains--;
	if (kind == DELTA_DATA)
		d->data_grains++;
	gt->ent[ei] = delta_gte_make(grain, kind, slot);
	dirty_gt(d, gt);
	return 0;
}

bool
delta_dirty(const struct delta *d)
{
	return d->dirty_gt || d->dirty_gd || d->dirty_roots;
}

/* ---- commits ---- */

static int
add_write(struct delta_commit *c, unsigned int level, uint64_t off,
	  const uint64_t *ent, unsigned char *buf)
{
	struct delta_pw *pw = &c->pw[level][c->n[level]++];

	for (unsigned int i = 0; i < DELTA_PAGE_ENTRIES; i++) {
		uint64_t v = htole64(ent[i]);

		memcpy(buf + i * 8, &v, 8);
	}
	pw->off = off;
	pw->len = DELTA_SECTOR;
	pw->buf = buf;
	return 0;
}

static int
cmp_pw(const void *a, const void *b)
{
	const struct delta_pw *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/*
 * Sorts a level's page writes and merges neighbours into one write (pages
 * of one meta block are usually made together), copying the pages into
 * 'out' in order so each merged run is contiguous there.
 */
static unsigned char *
coalesce(struct delta_commit *c, unsigned int level, unsigned char *out)
{
	struct delta_pw *pw = c->pw[level];
	unsigned int n = c->n[level], m = 0;

	qsort(pw, n, sizeof(*pw), cmp_pw);
	for (unsigned int i = 0; i < n; i++) {
		struct delta_pw cur = pw[i];

		memcpy(out, cur.buf, DELTA_SECTOR);
		if (m && pw[m - 1].off + pw[m - 1].len == cur.off &&
		    pw[m - 1].len < (64u << 10)) {
			pw[m - 1].len += DELTA_SECTOR;
		} else {
			pw[m] = cur;
			pw[m].buf = out;
			pw[m].len = DELTA_SECTOR;
			m++;
		}
		out += DELTA_SECTOR;
	}
	c->n[level] = m;
	return out;
}

static void
remember(struct delta_commit *c, void *page, uint8_t level)
{
	c->pages[c->npages] = page;
	c->page_level[c->npages++] = level;
}

static unsigned int
count_list_gt(const struct gt_page *p)
{
	unsigned int n = 0;

	for (; p; p = p->dirty_next)
		n++;
	return n;
}

/* Gives new GT pages sectors, which dirties their GD pages (and so on). */
static int
place_new_pages(struct delta *d)
{
	int rc;

	for (struct gt_page *gt = d->dirty_gt; gt; gt = gt->dirty_next) {
		struct gd_page *gd = d->gd[gt->index / DELTA_PAGE_ENTRIES];

		if (gt->sector)
			continue;
		rc = alloc_page_sector(d, &gt->sector);
		if (rc < 0)
			return rc;
		gd->ent[gt->index % DELTA_PAGE_ENTRIES] =
			delta_ptr_make(DELTA_LEVEL_GD, gt->index, gt->sector);
		dirty_gd(d, gd);
	}
	for (struct gd_page *gd = d->dirty_gd; gd; gd = gd->dirty_next) {
		if (gd->sector)
			continue;
		rc = alloc_page_sector(d, &gd->sector);
		if (rc < 0)
			return rc;
		d->root[gd->index] = delta_ptr_make(DELTA_LEVEL_ROOT, gd->index,
						    gd->sector);
		dirty_root(d, (uint32_t)(gd->index / DELTA_PAGE_ENTRIES));
	}
	return 0;
}

int
delta_commit_begin(struct delta *d, struct delta_commit **out)
{
	unsigned int ngt, ngd = 0, total;
	struct delta_commit *c;
	unsigned char *buf, *merged;
	int rc;

	*out = NULL;
	if (!delta_dirty(d))
		return 0;
	rc = place_new_pages(d);
	if (rc < 0)
		return rc;
	ngt = count_list_gt(d->dirty_gt);
	for (struct gd_page *p = d->dirty_gd; p; p = p->dirty_next)
		ngd++;
	total = ngt + ngd + d->dirty_roots;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->d = d;
	/* Per page: its encoded copy, and its place in the merged runs. */
	c->mem = aligned((size_t)total * DELTA_SECTOR * 2);
	c->pages = calloc(total ? total : 1, sizeof(*c->pages));
	c->page_level = calloc(total ? total : 1, 1);
	for (unsigned int l = 0; l < 3; l++)
		c->pw[l] = calloc(total ? total : 1, sizeof(struct delta_pw));
	if (!c->mem || !c->pages || !c->page_level || !c->pw[0] || !c->pw[1] ||
	    !c->pw[2]) {
		delta_commit_end(c, 0);
		return -ENOMEM;
	}
	buf = c->mem;
	merged = buf + (size_t)total * DELTA_SECTOR;
	for (struct gt_page *p = d->dirty_gt, *next; p; p = next) {
		next = p->dirty_next;
		add_write(c, 0, p->sector * DELTA_SECTOR, p->ent, buf);
		buf += DELTA_SECTOR;
		p->dirty = false;
		p->dirty_next = NULL;
		remember(c, p, 0);
	}
	d->dirty_gt = NULL;
	for (struct gd_page *p = d->dirty_gd, *next; p; p = next) {
		next = p->dirty_next;
		add_write(c, 1, p->sector * DELTA_SECTOR, p->ent, buf);
		buf += DELTA_SECTOR;
		p->dirty = false;
		p->dirty_next = NULL;
		remember(c, p, 1);
	}
	d->dirty_gd = NULL;
	for (uint32_t s = 0; s < d->nroot_sectors; s++) {
		if (!d->root_dirty[s])
			continue;
		add_write(c, 2, d->h.root_offset + (uint64_t)s * DELTA_SECTOR,
			  d->root + (size_t)s * DELTA_PAGE_ENTRIES, buf);
		buf += DELTA_SECTOR;
		d->root_dirty[s] = 0;
		remember(c, (void *)(uintptr_t)s, 2);
	}
	d->dirty_roots = 0;
	for (unsigned int l = 0; l < 3; l++)
		merged = coalesce(c, l, merged);
	*out = c;
	return 0;
}

void
delta_commit_end(struct delta_commit *c, int result)
{
	struct delta *d;

	if (!c)
		return;
	d = c->d;
	for (unsigned int i = 0; result < 0 && i < c->npages; i++) {
		switch (c->page_level[i]) {
		case 0:
			dirty_gt(d, c->pages[i]);
			break;
		case 1:
			dirty_gd(d, c->pages[i]);
			break;
		default:
			dirty_root(d, (uint32_t)(uintptr_t)c->pages[i]);
		}
	}
	for (unsigned int l = 0; l < 3; l++)
		free(c->pw[l]);
	free(c->pages);
	free(c->page_level);
	free(c->mem);
	free(c);
}

int
delta_commit_sync(struct delta *d)
{
	const struct store_ops *ops = d->st->ops;
	struct delta_commit *c;
	int rc;

	rc = delta_commit_begin(d, &c);
	if (rc < 0 || !c)
		return rc;
	rc = ops->sync(d->f);
	for (unsigned int l = 0; l < 3 && rc == 0; l++) {
		if (!c->n[l])
			continue;
		for (unsigned int i = 0; i < c->n[l] && rc == 0; i++)
			rc = ops->pwrite(d->f, c->pw[l][i].buf, c->pw[l][i].len,
					 c->pw[l][i].off);
		if (rc == 0)
			rc = ops->sync(d->f);
	}
	delta_commit_end(c, rc);
	return rc;
}

int
delta_write_header(struct delta *d, bool dirty)
{
	struct delta_hdr h = d->h;
	unsigned int copy = d->hdr_copy ^ 1;
	void *buf;
	int rc;

	buf = aligned(DELTA_HDR_BYTES);
	if (!buf)
		return -ENOMEM;
	h.seq++;
	h.flags = dirty ? (h.flags | DELTA_FLAG_DIRTY) :
			  (h.flags & ~DELTA_FLAG_DIRTY);
	h.alloc_end = d->alloc_end;
	h.grains = d->data_grains;
	delta_hdr_out(&h, buf);
	rc = d->st->ops->pwrite(d->f, buf, DELTA_HDR_BYTES,
				(uint64_t)copy * DELTA_HDR_SLOT);
	if (rc == 0)
		rc = d->st->ops->sync(d->f);
	free(buf);
	if (rc == 0) {
		d->h = h;
		d->hdr_copy = copy;
	}
	return rc;
}

/* ---- loading ---- */

struct loader {
	const struct delta_src *src;
	struct delta *d;
	unsigned char *win;
	uint64_t win_off, win_len;
	uint64_t max_end;             /* highest byte referenced */
	char *err;
	size_t errlen;
};

static int printf_like(2, 3)
lbad(struct loader *l, const char *fmt, ...)
{
	va_list ap;

	if (l->err && l->errlen) {
		va_start(ap, fmt);
		vsnprintf(l->err, l->errlen, fmt, ap);
		va_end(ap);
	}
	return -EUCLEAN;
}

/* The 512 bytes at 'sector', through a read window. */
static int
page_at(struct loader *l, uint64_t sector, const unsigned char **out)
{
	uint64_t off = sector * DELTA_SECTOR;
	int rc;

	if (off < l->win_off || off + DELTA_SECTOR > l->win_off + l->win_len) {
		l->win_off = ALIGN_DOWN(off, (uint64_t)DELTA_GRAIN);
		l->win_len = MIN((uint64_t)WINDOW, l->src->size - l->win_off);
		l->win_len = ALIGN_DOWN(l->win_len, (uint64_t)DELTA_SECTOR);
		rc = l->src->pread(l->src->priv, l->win, l->win_len, l->win_off);
		if (rc < 0) {
			l->win_len = 0;
			return rc;
		}
	}
	*out = l->win + (off - l->win_off);
	return 0;
}

static uint64_t
get_le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

/* A pointer to a page: inside the packed area and the file. */
static int
check_sector(struct loader *l, uint64_t sector, const char *what,
	     uint64_t index)
{
	uint64_t off = sector * DELTA_SECTOR;

	if (off < l->d->h.data_start || off + DELTA_SECTOR > l->d->limit)
		return lbad(l, "%s %" PRIu64 " points outside the file "
			    "(sector %" PRIu64 ")", what, index, sector);
	l->max_end = MAX(l->max_end, ALIGN_UP(off + DELTA_SECTOR,
					      (uint64_t)DELTA_GRAIN));
	return 0;
}

struct ptr {
	uint64_t sector;
	uint64_t index;
};

static int
cmp_ptr(const void *a, const void *b)
{
	const struct ptr *x = a, *y = b;

	if (x->sector != y->sector)
		return x->sector < y->sector ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static int
load_gt(struct loader *l, const struct ptr *p)
{
	struct delta *d = l->d;
	struct gd_page *gd = d->gd[p->index / DELTA_PAGE_ENTRIES];
	const unsigned char *raw;
	struct gt_page *gt;
	int rc;

	rc = page_at(l, p->sector, &raw);
	if (rc < 0)
		return rc;
	gt = calloc(1, sizeof(*gt));
	if (!gt)
		return -ENOMEM;
	gt->sector = p->sector;
	gt->index = p->index;
	gd->gt[p->index % DELTA_PAGE_ENTRIES] = gt;
	for (unsigned int i = 0; i < DELTA_PAGE_ENTRIES; i++) {
		uint64_t grain = p->index * DELTA_PAGE_ENTRIES + i;
		uint64_t e = get_le64(raw + i * 8), slot;
		int kind = delta_gte_parse(grain, e, &slot);

		if (kind < 0)
			return lbad(l, "grain table entry of grain %" PRIu64
				    " is corrupt", grain);
		if (kind == DELTA_ABSENT)
			continue;
		if (grain >= d->ngrains)
			return lbad(l, "grain table entry beyond the "
				    "capacity (grain %" PRIu64 ")", grain);
		if (kind == DELTA_DATA) {
			if (slot * DELTA_GRAIN < d->h.data_start ||
			    (slot + 1) * DELTA_GRAIN > d->limit)
				return lbad(l, "grain %" PRIu64 " points outside "
					    "the file (slot %" PRIu64 ")",
					    grain, slot);
			l->max_end = MAX(l->max_end,
					 (slot + 1) * DELTA_GRAIN);
			d->data_grains++;
		}
		gt->ent[i] = e;
	}
	return 0;
}

static int
load_tables(struct loader *l)
{
	struct delta *d = l->d;
	struct ptr *gdp = NULL, *gtp = NULL;
	size_t ngd = 0, ngt = 0;
	int rc = 0;

	gdp = calloc(d->h.root_entries ? d->h.root_entries : 1, sizeof(*gdp));
	if (!gdp)
		return -ENOMEM;
	for (uint32_t ri = 0; ri < d->h.root_entries; ri++) {
		uint64_t sector;
		int k = delta_ptr_parse(DELTA_LEVEL_ROOT, ri, d->root[ri],
					&sector);

		if (k < 0) {
			rc = lbad(l, "root entry %u is corrupt", ri);
			goto out;
		}
		if (k == 0)
			continue;
		rc = check_sector(l, sector, "root entry", ri);
		if (rc < 0)
			goto out;
		gdp[ngd++] = (struct ptr){ sector, ri };
	}
	qsort(gdp, ngd, sizeof(*gdp), cmp_ptr);
	gtp = calloc(ngd * DELTA_PAGE_ENTRIES + 1, sizeof(*gtp));
	if (!gtp) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ngd; i++) {
		const unsigned char *raw;
		struct gd_page *gd;

		if (i && gdp[i].sector == gdp[i - 1].sector) {
			rc = lbad(l, "two directory pages at sector %" PRIu64,
				  gdp[i].sector);
			goto out;
		}
		rc = page_at(l, gdp[i].sector, &raw);
		if (rc < 0)
			goto out;
		gd = calloc(1, sizeof(*gd));
		if (!gd) {
			rc = -ENOMEM;
			goto out;
		}
		gd->sector = gdp[i].sector;
		gd->index = gdp[i].index;
		d->gd[gdp[i].index] = gd;
		for (unsigned int j = 0; j < DELTA_PAGE_ENTRIES; j++) {
			uint64_t idx = gdp[i].index * DELTA_PAGE_ENTRIES + j;
			uint64_t e = get_le64(raw + j * 8), sector;
			int k = delta_ptr_parse(DELTA_LEVEL_GD, idx, e, &sector);

			if (k < 0) {
				rc = lbad(l, "directory entry %" PRIu64
					  " is corrupt", idx);
				goto out;
			}
			if (k == 0)
				continue;
			rc = check_sector(l, sector, "directory entry", idx);
			if (rc < 0)
				goto out;
			gd->ent[j] = e;
			gtp[ngt++] = (struct ptr){ sector, idx };
		}
	}
	qsort(gtp, ngt, sizeof(*gtp), cmp_ptr);
	for (size_t i = 0; i < ngt && rc == 0; i++) {
		if (i && gtp[i].sector == gtp[i - 1].sector)
			rc = lbad(l, "two grain tables at sector %" PRIu64,
				  gtp[i].sector);
		else
			rc = load_gt(l, &gtp[i]);
	}
out:
	free(gdp);
	free(gtp);
	return rc;
}

static int
load(const struct delta_src *src, struct delta **out, char *err,
     size_t errlen)
{
	struct loader l = { .src = src, .err = err, .errlen = errlen };
	unsigned char *hb;
	struct delta_hdr h;
	unsigned int copy;
	struct delta *d;
	int rc;

	if (src->size < 2 * DELTA_HDR_SLOT)
		return lbad(&l, "file too short for a delta disk");
	hb = aligned(2 * DELTA_HDR_SLOT);
	if (!hb)
		return -ENOMEM;
	rc = src->pread(src->priv, hb, DELTA_HDR_BYTES, 0);
	if (rc == 0)
		rc = src->pread(src->priv, hb + DELTA_HDR_SLOT, DELTA_HDR_BYTES,
				DELTA_HDR_SLOT);
	if (rc == 0)
		rc = delta_hdr_pick(hb, hb + DELTA_HDR_SLOT, &h, &copy, err,
				    errlen);
	free(hb);
	if (rc < 0)
		return rc;
	d = delta_alloc_struct(h.root_entries);
	if (!d)
		return -ENOMEM;
	d->h = h;
	d->hdr_copy = copy;
	d->ngrains = DIV_ROUND_UP(h.capacity, (uint64_t)DELTA_GRAIN);
	d->limit = MIN(ALIGN_DOWN(src->size, (uint64_t)DELTA_GRAIN),
		       delta_file_limit(h.capacity));
	l.d = d;
	l.max_end = h.data_start;
	if (h.data_start > d->limit) {
		rc = lbad(&l, "root table runs past the end of the file");
		goto err;
	}
	rc = src->pread(src->priv, d->root, (size_t)d->nroot_sectors *
			DELTA_SECTOR, h.root_offset);
	if (rc < 0)
		goto err;
	for (uint32_t i = 0; i < h.root_entries; i++)
		d->root[i] = le64toh(d->root[i]);
	l.win = aligned(WINDOW);
	if (!l.win) {
		rc = -ENOMEM;
		goto err;
	}
	rc = load_tables(&l);
	free(l.win);
	if (rc < 0)
		goto err;
	/* After a crash the header's end may be stale: trust the tables. */
	d->alloc_end = l.max_end;
	if (!(h.flags & DELTA_FLAG_DIRTY))
		d->alloc_end = MAX(d->alloc_end, h.alloc_end);
	if (d->alloc_end > d->limit)
		d->alloc_end = d->limit;
	*out = d;
	return 0;
err:
	free_tables(d);
	free(d);
	return rc;
}

int
delta_parse(const struct delta_src *src, struct delta **out, char *err,
	    size_t errlen)
{
	return load(src, out, err, errlen);
}

/* ---- files ---- */

struct file_src {
	struct vdisk_store *st;
	struct store_file *f;
};

static int
file_pread(void *priv, void *buf, size_t len, uint64_t off)
{
	struct file_src *fs = priv;

	return fs->st->ops->pread(fs->f, buf, len, off);
}

int
delta_create(struct vdisk_store *st, const char *name, uint64_t capacity,
	     const uint8_t parent_uuid[16])
{
	struct store_file *f;
	struct delta_hdr h;
	void *buf;
	int rc;

	buf = aligned(DELTA_HDR_BYTES);
	if (!buf)
		return -ENOMEM;
	delta_hdr_init(&h, capacity);
	if (parent_uuid)
		memcpy(h.parent_uuid, parent_uuid, 16);
	delta_hdr_out(&h, buf);
	rc = st->ops->file_open(st, name, STORE_CREATE, &f);
	if (rc < 0)
		goto out;
	rc = st->ops->set_size(f, delta_file_limit(capacity));
	if (rc == 0)
		rc = st->ops->pwrite(f, buf, DELTA_HDR_BYTES, 0);
	if (rc == 0)
		rc = st->ops->sync(f);
	st->ops->file_close(f);
	if (rc < 0)
		st->ops->unlink(st, name);
out:
	free(buf);
	return rc;
}

int
delta_open(struct vdisk_store *st, const char *name, unsigned int flags,
	   struct delta **out)
{
	bool wr = flags & DELTA_OPEN_WRITE;
	struct file_src fs = { .st = st };
	struct delta_src src = { .pread = file_pread, .priv = &fs };
	char err[200];
	struct delta *d;
	int rc;

	rc = st->ops->file_open(st, name, STORE_DIRECT |
				(wr ? 0 : STORE_RDONLY), &fs.f);
	if (rc < 0) {
		vdisk_err("snapshot", "%s: cannot open the delta: %s", name,
			  strerror(-rc));
		return rc;
	}
	rc = st->ops->get_size(fs.f, &src.size);
	if (rc == 0)
		rc = load(&src, &d, err, sizeof(err));
	if (rc < 0) {
		if (rc == -EUCLEAN)
			vdisk_err("snapshot", "%s: corrupt delta disk: %s", name,
				  err);
		st->ops->file_close(fs.f);
		return rc;
	}
	d->st = st;
	d->f = fs.f;
	d->writable = wr;
	snprintf(d->name, sizeof(d->name), "%s", name);
	if (wr) {
		if (d->h.flags & DELTA_FLAG_DIRTY)
			log_info("snapshot", "%s: not closed cleanly; "
				 "allocation end recomputed", name);
		rc = delta_write_header(d, true);
		if (rc < 0) {
			delta_abandon(d);
			return rc;
		}
		if (st->ops->set_alloc_chunk)
			st->ops->set_alloc_chunk(d->f, 1u << 20, d->limit);
	}
	*out = d;
	return 0;
}

int
delta_freeze(struct delta *d)
{
	int rc;

	if (!d->writable)
		return 0;
	rc = delta_commit_sync(d);
	if (rc == 0)
		rc = delta_write_header(d, false);
	if (rc == 0)
		d->writable = false;
	return rc;
}

int
delta_make_writable(struct delta *d)
{
	struct store_file *f;
	int rc;

	if (d->writable)
		return 0;
	/* One handle per file (datastore sessions refuse a second). */
	d->st->ops->file_close(d->f);
	d->f = NULL;
	rc = d->st->ops->file_open(d->st, d->name, STORE_DIRECT, &f);
	if (rc < 0) {
		if (d->st->ops->file_open(d->st, d->name, STORE_DIRECT |
					  STORE_RDONLY, &d->f) < 0)
			d->f = NULL;
		return rc;
	}
	d->f = f;
	d->writable = true;
	rc = delta_write_header(d, true);
	if (rc < 0)
		return rc;
	if (d->st->ops->set_alloc_chunk)
		d->st->ops->set_alloc_chunk(d->f, 1u << 20, d->limit);
	return 0;
}

int
delta_close(struct delta *d)
{
	int rc = 0;

	if (!d)
		return 0;
	if (d->writable) {
		rc = delta_commit_sync(d);
		if (rc == 0)
			rc = delta_write_header(d, false);
		if (rc < 0)
			log_warn("snapshot", "%s: closing: %s", d->name,
				 strerror(-rc));
	}
	delta_abandon(d);
	return rc;
}

void
delta_abandon(struct delta *d)
{
	if (!d)
		return;
	if (d->f)
		d->st->ops->file_close(d->f);
	free_tables(d);
	free(d);
}

/* ---- verification ---- */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
delta_verify(struct delta *d, char *err, size_t errlen)
{
	uint64_t n = 0, cap = d->data_grains + 1;
	uint64_t *used;
	int rc = 0;

	/* Everything in 512-byte units: grains take 8, pages 1. */
	for (uint32_t ri = 0; ri < d->h.root_entries; ri++)
		if (d->gd[ri])
			cap += 1 + DELTA_PAGE_ENTRIES;
	used = malloc(cap * 8 * sizeof(*used));
	if (!used)
		return -ENOMEM;
	for (uint32_t ri = 0; ri < d->h.root_entries; ri++) {
		struct gd_page *gd = d->gd[ri];

		if (!gd)
			continue;
		if (gd->sector)
			used[n++] = gd->sector;
		for (unsigned int j = 0; j < DELTA_PAGE_ENTRIES; j++) {
			struct gt_page *gt = gd->gt[j];

			if (!gt)
				continue;
			if (gt->sector)
				used[n++] = gt->sector;
			for (unsigned int k = 0; k < DELTA_PAGE_ENTRIES; k++) {
				uint64_t e = gt->ent[k];

				if (!e || delta_gte_kind(e) != DELTA_DATA)
					continue;
				for (unsigned int s = 0; s < 8; s++)
					used[n++] = delta_gte_slot(e) * 8 + s;
			}
		}
	}
	qsort(used, n, sizeof(*used), cmp_u64);
	for (uint64_t i = 1; i < n && rc == 0; i++)
		if (used[i] == used[i - 1]) {
			snprintf(err, errlen, "sector %" PRIu64 " is used "
				 "twice (a grain or a table page)", used[i]);
			rc = -EUCLEAN;
		}
	if (rc == 0 && n && (used[n - 1] + 1) * DELTA_SECTOR > d->alloc_end) {
		snprintf(err, errlen, "something lies past the allocation end");
		rc = -EUCLEAN;
	}
	free(used);
	return rc;
}
