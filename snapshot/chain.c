/* SPDX-License-Identifier: MIT */
/*
 * Opening a chain from descriptors (parent links, content IDs, shared
 * locks on frozen nodes), the layer cache, map, close. The data path is
 * chain-io.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "snapshot/chain.h"
#include "snapshot/snap-internal.h"

/* ---- layers ---- */

struct store_file *
chain_layer_file(const struct chain_layer *l)
{
	return l->delta ? delta_file(l->delta) : l->flat;
}

void
chain_layer_close(struct chain_layer *l)
{
	if (!l)
		return;
	if (l->delta)
		delta_close(l->delta);
	if (l->flat)
		l->st->ops->file_close(l->flat);
	if (l->lock)
		l->st->ops->unlock(l->lock);
	if (l->own_store)
		vdisk_store_close(l->st);
	free(l->desc);
	free(l);
}

/* Opens the data of a layer whose descriptor is loaded. */
static int
layer_open_data(struct chain_layer *l, bool writable)
{
	const struct desc_extent *e = &l->desc->ext[0];
	uint64_t cap = vdisk_desc_capacity(l->desc), size;
	int rc;

	if (l->desc->nextents != 1 || !snap_plain_name(e->file) ||
	    (e->kind != DESC_EXT_DELTA && e->kind != DESC_EXT_VMFS &&
	     e->kind != DESC_EXT_FLAT) || e->offset_sectors) {
		vdisk_err("snapshot", "%s: not a disk of a snapshot chain "
			  "(%u extents, %s)", l->path, l->desc->nextents,
			  vdisk_desc_kind_name(e->kind));
		return -EUCLEAN;
	}
	snprintf(l->data_name, sizeof(l->data_name), "%s", e->file);
	l->writable = writable;
	if (e->kind == DESC_EXT_DELTA) {
		rc = delta_open(l->st, e->file, writable ? DELTA_OPEN_WRITE : 0,
				&l->delta);
		if (rc == -ENOENT)
			vdisk_err("snapshot", "%s: delta %s is missing", l->path,
				  e->file);
		if (rc < 0)
			return rc;
		if (delta_capacity(l->delta) != cap) {
			vdisk_err("snapshot", "%s: delta %s has another "
				  "capacity than its descriptor", l->path,
				  e->file);
			return -EUCLEAN;
		}
		return 0;
	}
	rc = l->st->ops->file_open(l->st, e->file, STORE_DIRECT |
				   (writable ? 0 : STORE_RDONLY), &l->flat);
	if (rc < 0) {
		vdisk_err("snapshot", "%s: data file %s: %s", l->path, e->file,
			  rc == -ENOENT ? "missing" : strerror(-rc));
		return rc;
	}
	rc = l->st->ops->get_size(l->flat, &size);
	if (rc == 0 && size < cap) {
		vdisk_err("snapshot", "%s: data file %s is shorter than the "
			  "capacity", l->path, e->file);
		rc = -EUCLEAN;
	}
	return rc;
}

int
chain_layer_open(struct vdisk_store *st, const char *dir_path,
		 const char *desc_name, bool writable, bool lock,
		 struct chain_layer **out)
{
	struct chain_layer *l;
	int rc;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->desc = malloc(sizeof(*l->desc));
	if (!l->desc) {
		free(l);
		return -ENOMEM;
	}
	l->st = st;
	snprintf(l->desc_name, sizeof(l->desc_name), "%s", desc_name);
	snap_path_join(dir_path, desc_name, l->path, sizeof(l->path));
	if (lock) {
		rc = st->ops->lock(st, desc_name, writable, &l->lock);
		if (rc == -EBUSY)
			vdisk_err("snapshot", "%s: in use elsewhere (locked)",
				  l->path);
		if (rc < 0)
			goto err;
	}
	rc = vdisk_desc_load(st, desc_name, l->desc);
	if (rc == -ENOENT)
		vdisk_err("snapshot", "%s: descriptor is missing", l->path);
	if (rc < 0)
		goto err;
	rc = layer_open_data(l, writable);
	if (rc < 0)
		goto err;
	*out = l;
	return 0;
err:
	chain_layer_close(l);
	return rc;
}

int
chain_layer_from_desc(struct vdisk_store *st, const char *leaf,
		      const char *path, const struct vdisk_desc *d,
		      bool writable, struct chain_layer **out)
{
	struct chain_layer *l;
	int rc;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->desc = malloc(sizeof(*l->desc));
	if (!l->desc) {
		free(l);
		return -ENOMEM;
	}
	l->st = st;
	*l->desc = *d;
	snprintf(l->desc_name, sizeof(l->desc_name), "%s", leaf);
	snprintf(l->path, sizeof(l->path), "%s", path);
	rc = layer_open_data(l, writable);
	if (rc < 0) {
		chain_layer_close(l);
		return rc;
	}
	*out = l;
	return 0;
}

int
chain_layer_make_writable(struct chain *c, unsigned int idx)
{
	struct chain_layer *l = c->l[idx];
	struct store_lock *lk = NULL;
	int rc;

	if (l->writable)
		return 0;
	if (l->lock) {
		l->st->ops->unlock(l->lock);
		l->lock = NULL;
		rc = l->st->ops->lock(l->st, l->desc_name, true, &lk);
		if (rc < 0) {
			vdisk_err("snapshot", "%s: in use elsewhere (a linked "
				  "clone or another host)", l->path);
			if (l->st->ops->lock(l->st, l->desc_name, false,
					     &l->lock) < 0)
				l->lock = NULL;
			return rc;
		}
		l->lock = lk;
	}
	if (l->delta) {
		rc = delta_make_writable(l->delta);
	} else {
		struct store_file *f;

		l->st->ops->file_close(l->flat);
		l->flat = NULL;
		rc = l->st->ops->file_open(l->st, l->data_name, STORE_DIRECT, &f);
		if (rc == 0)
			l->flat = f;
		else if (l->st->ops->file_open(l->st, l->data_name,
					       STORE_DIRECT | STORE_RDONLY,
					       &l->flat) < 0)
			l->flat = NULL;
	}
	if (rc == 0)
		l->writable = true;
	return rc;
}

int
chain_find(const struct chain *c, const char *desc_name)
{
	for (unsigned int i = 0; i < c->n; i++)
		if (!strcmp(c->l[i]->desc_name, desc_name))
			return (int)i;
	return -1;
}

/* ---- opening a chain ---- */

static struct chain *
chain_new(struct vdisk_store *st)
{
	struct chain *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	pthread_mutex_init(&c->mu, NULL);
	c->st = st;
	return c;
}

/*
 * The parent of layer 'child' from its parent link: the same folder for
 * a plain name, else a path relative to the child's folder (linked
 * clones of a template elsewhere in the same store).
 */
static int
open_parent(struct chain *c, struct chain_layer *child, struct chain_layer **out)
{
	const char *hint = child->desc->parent_hint;
	char dir[4096], full[4096 + 512], leaf[DESC_NAME_MAX + 1];
	struct vdisk_store *pst = child->st;
	bool own = false;
	int rc;

	snap_path_dir(child->path, dir, sizeof(dir));
	if (!snap_plain_name(hint)) {
		snap_path_join(dir, hint, full, sizeof(full));
		rc = vdisk_store_open(full, &pst, leaf, sizeof(leaf));
		if (rc < 0) {
			vdisk_err("snapshot", "%s: broken parent link '%s'",
				  child->path, hint);
			return rc == -ENOENT ? -ENOENT : -EUCLEAN;
		}
		own = true;
		snap_path_dir(full, dir, sizeof(dir));
		hint = leaf;
	}
	rc = chain_layer_open(pst, dir, hint, false, true, out);
	if (rc < 0) {
		/* Only when the parent itself is gone: a missing delta of
		 * a parent that is there has been named already. */
		if (rc == -ENOENT && pst->ops->exists(pst, hint) <= 0)
			vdisk_err("snapshot", "%s: broken parent link: %s is "
				  "missing", child->path, child->desc->parent_hint);
		if (own)
			vdisk_store_close(pst);
		return rc;
	}
	(*out)->own_store = own;
	return 0;
}

int
chain_open(struct vdisk_store *st, const char *leaf, const char *path,
	   const struct vdisk_desc *d, bool top_writable, struct chain **out)
{
	struct chain_layer *top;
	struct chain *c;
	int rc;

	c = chain_new(st);
	if (!c)
		return -ENOMEM;
	top = calloc(1, sizeof(*top));
	if (!top) {
		rc = -ENOMEM;
		goto err;
	}
	top->st = st;
	top->desc = malloc(sizeof(*top->desc));
	if (!top->desc) {
		free(top);
		rc = -ENOMEM;
		goto err;
	}
	*top->desc = *d;
	snprintf(top->desc_name, sizeof(top->desc_name), "%s", leaf);
	snprintf(top->path, sizeof(top->path), "%s", path);
	c->l[c->n++] = top;
	/* Read-only until the whole chain checks out: a chain that fails
	 * to open leaves every file as it was (no dirty flag set). */
	rc = layer_open_data(top, false);
	if (rc < 0)
		goto err;
	c->capacity = vdisk_desc_capacity(d);
	c->ngrains = DIV_ROUND_UP(c->capacity, (uint64_t)DELTA_GRAIN);
	while (c->l[c->n - 1]->desc->parent_hint[0]) {
		struct chain_layer *child = c->l[c->n - 1], *p;

		if (c->n == CHAIN_MAX) {
			vdisk_err("snapshot", "%s: chain deeper than %d (or a "
				  "loop of parent links)", path, CHAIN_MAX);
			rc = -EUCLEAN;
			goto err;
		}
		if (!child->delta) {
			vdisk_err("snapshot", "%s: a flat disk with a parent "
				  "link", child->path);
			rc = -EUCLEAN;
			goto err;
		}
		rc = open_parent(c, child, &p);
		if (rc < 0)
			goto err;
		c->l[c->n++] = p;
		if (child->desc->parent_cid != p->desc->cid) {
			vdisk_err("snapshot", "%s: content ID mismatch: it was "
				  "made from another state of %s (parentCID "
				  "%08x, CID %08x)", child->path, p->path,
				  child->desc->parent_cid, p->desc->cid);
			rc = -EUCLEAN;
			goto err;
		}
		if (vdisk_desc_capacity(p->desc) != c->capacity) {
			vdisk_err("snapshot", "%s: capacity differs from its "
				  "child's", p->path);
			rc = -EUCLEAN;
			goto err;
		}
	}
	if (!c->l[0]->delta && c->n > 1) {
		rc = -EUCLEAN;
		goto err;
	}
	if (top_writable) {
		rc = chain_layer_make_writable(c, 0);
		if (rc < 0)
			goto err;
	}
	c->cache_roots = (uint32_t)DIV_ROUND_UP(c->ngrains,
						(uint64_t)DELTA_GD_GRAINS);
	c->cache = calloc(c->cache_roots ? c->cache_roots : 1,
			  sizeof(*c->cache));
	if (!c->cache) {
		rc = -ENOMEM;
		goto err;
	}
	*out = c;
	return 0;
err:
	chain_close(c);
	return rc;
}

int
chain_close(struct chain *c)
{
	int rc = 0;

	if (!c)
		return 0;
	for (unsigned int i = 0; i < c->n; i++) {
		struct chain_layer *l = c->l[i];

		if (l && l->delta && l->writable) {
			int r = delta_close(l->delta);

			l->delta = NULL;
			if (r < 0 && rc == 0)
				rc = r;
		}
		chain_layer_close(l);
	}
	if (c->cache)
		chain_cache_clear(c);
	free(c->cache);
	if (c->mirror) {
		free(c->mirror->copied);
		free(c->mirror);
	}
	pthread_mutex_destroy(&c->mu);
	free(c);
	return rc;
}

/* ---- resolution and the layer cache ---- */

/*
 * Cache words: 0 not yet known; else bits 62-63 kind (1 data, 2 zeros),
 * bits 56-61 layer, bits 0-55 byte offset / 512.
 */
#define CW_DATA (1ull << 62)
#define CW_ZERO (2ull << 62)

static uint64_t
cw_make(const struct chain_where *w)
{
	if (w->layer < 0)
		return CW_ZERO;
	return CW_DATA | (uint64_t)w->layer << 56 | (w->off >> 9);
}

static void
cw_read(uint64_t cw, struct chain_where *w)
{
	if ((cw >> 62) != 1) {
		w->layer = -1;
		w->off = 0;
		return;
	}
	w->layer = (int)((cw >> 56) & 63);
	w->off = (cw & ((1ull << 56) - 1)) << 9;
}

void
chain_resolve_below(struct chain *c, unsigned int from, uint64_t g,
		    struct chain_where *w)
{
	for (unsigned int i = from; i < c->n; i++) {
		const struct chain_layer *l = c->l[i];
		uint64_t e;

		if (!l->delta) {
			w->layer = (int)i;
			w->off = g * DELTA_GRAIN;
			return;
		}
		e = delta_get(l->delta, g);
		if (!e)
			continue;
		if (delta_gte_kind(e) == DELTA_ZERO)
			break;
		w->layer = (int)i;
		w->off = delta_gte_slot(e) * DELTA_GRAIN;
		return;
	}
	w->layer = -1;
	w->off = 0;
}

/* The cache page for grain 'g', built on first use; NULL without memory. */
static uint64_t *
cache_page(struct chain *c, uint64_t g)
{
	uint64_t ri = g >> DELTA_GD_SHIFT;
	unsigned int pi = (g >> DELTA_GT_SHIFT) & (DELTA_PAGE_ENTRIES - 1);
	uint64_t first = g & ~(uint64_t)(DELTA_PAGE_ENTRIES - 1);
	uint64_t *page;

	if (!c->cache[ri]) {
		c->cache[ri] = calloc(DELTA_PAGE_ENTRIES, sizeof(uint64_t *));
		if (!c->cache[ri])
			return NULL;
	}
	page = c->cache[ri][pi];
	if (page)
		return page;
	page = malloc(DELTA_PAGE_ENTRIES * sizeof(*page));
	if (!page)
		return NULL;
	for (unsigned int i = 0; i < DELTA_PAGE_ENTRIES; i++) {
		struct chain_where w;

		if (first + i >= c->ngrains) {
			page[i] = CW_ZERO;
			continue;
		}
		chain_resolve_below(c, 1, first + i, &w);
		page[i] = cw_make(&w);
	}
	c->cache[ri][pi] = page;
	return page;
}

void
chain_resolve(struct chain *c, uint64_t g, struct chain_where *w)
{
	const struct chain_layer *top = c->l[0];
	uint64_t e, *page;

	if (!top->delta) {
		w->layer = 0;
		w->off = g * DELTA_GRAIN;
		return;
	}
	e = delta_get(top->delta, g);
	if (e) {
		if (delta_gte_kind(e) == DELTA_ZERO) {
			w->layer = -1;
			w->off = 0;
		} else {
			w->layer = 0;
			w->off = delta_gte_slot(e) * DELTA_GRAIN;
		}
		return;
	}
	page = cache_page(c, g);
	if (!page) {
		chain_resolve_below(c, 1, g, w);
		return;
	}
	cw_read(page[g & (DELTA_PAGE_ENTRIES - 1)], w);
}

void
chain_cache_clear(struct chain *c)
{
	for (uint32_t ri = 0; ri < c->cache_roots; ri++) {
		if (!c->cache[ri])
			continue;
		for (unsigned int i = 0; i < DELTA_PAGE_ENTRIES; i++)
			free(c->cache[ri][i]);
		free(c->cache[ri]);
		c->cache[ri] = NULL;
	}
	c->gen++;
}

/* ---- map ---- */

struct map_run {
	vdisk_extent_fn fn;
	void *priv;
};

/* Re-bases a flat layer's extents onto the disk (offsets are the same). */
static int
flat_extent(void *priv, uint64_t off, uint64_t len, unsigned int flags)
{
	struct map_run *m = priv;

	return m->fn(m->priv, off, len, flags & (VDISK_EXTENT_DATA |
						  VDISK_EXTENT_ZERO));
}

int
chain_map(struct chain *c, uint64_t off, uint64_t len, vdisk_extent_fn fn,
	  void *priv)
{
	struct map_run m = { fn, priv };
	uint64_t end = off + len;

	while (off < end) {
		uint64_t g = off / DELTA_GRAIN, run_end;
		struct chain_where w, w2;
		int rc;

		pthread_mutex_lock(&c->mu);
		chain_resolve(c, g, &w);
		/* Extend over grains read from the same place. */
		run_end = MIN((g + 1) * DELTA_GRAIN, end);
		while (run_end < end && run_end - off < (256ull << 20)) {
			chain_resolve(c, run_end / DELTA_GRAIN, &w2);
			if (w2.layer != w.layer)
				break;
			run_end = MIN(run_end + DELTA_GRAIN, end);
		}
		pthread_mutex_unlock(&c->mu);
		if (w.layer < 0)
			rc = fn(priv, off, run_end - off, VDISK_EXTENT_ZERO);
		else if (c->l[w.layer]->delta)
			rc = fn(priv, off, run_end - off,
				VDISK_EXTENT_DATA | VDISK_EXTENT_ALLOCATED);
		else
			rc = c->st->ops->map(c->l[w.layer]->flat, off,
					     run_end - off, flat_extent, &m);
		if (rc)
			return rc;
		off = run_end;
	}
	return 0;
}

uint64_t
chain_allocated(struct chain *c)
{
	const struct chain_layer *top = c->l[0];

	return top->st->ops->allocated_bytes(chain_layer_file(top));
}

int
chain_commit_layer(struct chain *c, unsigned int idx)
{
	struct delta *d = c->l[idx]->delta;
	const struct store_ops *ops = c->l[idx]->st->ops;
	struct store_file *f;
	struct delta_commit *cm;
	int rc;

	if (!d)
		return ops->sync(c->l[idx]->flat);
	f = delta_file(d);
	pthread_mutex_lock(&c->mu);
	rc = delta_commit_begin(d, &cm);
	pthread_mutex_unlock(&c->mu);
	if (rc < 0 || !cm)
		return rc;
	rc = ops->sync(f);
	for (unsigned int lv = 0; lv < 3 && rc == 0; lv++) {
		if (!cm->n[lv])
			continue;
		for (unsigned int i = 0; i < cm->n[lv] && rc == 0; i++)
			rc = ops->pwrite(f, cm->pw[lv][i].buf, cm->pw[lv][i].len,
					 cm->pw[lv][i].off);
		if (rc == 0)
			rc = ops->sync(f);
	}
	pthread_mutex_lock(&c->mu);
	delta_commit_end(cm, rc);
	pthread_mutex_unlock(&c->mu);
	return rc;
}
