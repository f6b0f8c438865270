/* SPDX-License-Identifier: MIT */
/*
 * Snapshot chains as qcow2 backing chains, both ways.
 *
 * Export: one qcow2 per layer, the base written whole (zero clusters
 * skipped), each layer above as an overlay holding the 64 KiB clusters
 * in which it has any grain, filled with what the chain reads there at
 * that layer (qcow2 clusters are larger than our 4 KiB grains, so a
 * cluster carries its neighbours from below too).
 *
 * Import: the backing files are walked without following them
 * (img_qcow2_open_layer()); the base becomes the disk, then for each
 * overlay a snapshot named after the file below it is taken and the
 * overlay's allocated clusters are written on top.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/progress.h"
#include "snapshot/chain.h"
#include "snapshot/snap-internal.h"

#define CLUSTER (64u << 10)
#define GRAINS_PER_CLUSTER (CLUSTER / DELTA_GRAIN)

/* Reads 'len' bytes at 'off' of the disk as layer 'from' sees it. */
static int
read_view(struct chain *c, unsigned int from, unsigned char *buf, uint64_t off,
	  uint64_t len)
{
	for (uint64_t pos = 0; pos < len;) {
		uint64_t g = (off + pos) / DELTA_GRAIN;
		uint64_t n = MIN((uint64_t)DELTA_GRAIN, len - pos);
		struct chain_where w, w2;
		int rc;

		pthread_mutex_lock(&c->mu);
		chain_resolve_below(c, from, g, &w);
		/* Merge the grains that follow in the same file. */
		while (w.layer >= 0 && pos + n < len) {
			chain_resolve_below(c, from, g + n / DELTA_GRAIN, &w2);
			if (w2.layer != w.layer || w2.off != w.off + n)
				break;
			n += MIN((uint64_t)DELTA_GRAIN, len - pos - n);
		}
		pthread_mutex_unlock(&c->mu);
		if (w.layer < 0) {
			memset(buf + pos, 0, n);
		} else {
			const struct chain_layer *l = c->l[w.layer];

			rc = l->st->ops->pread(chain_layer_file(l), buf + pos,
					       n, w.off);
			if (rc < 0)
				return rc;
		}
		pos += n;
	}
	return 0;
}

static bool
all_zero(const unsigned char *b, size_t n)
{
	return b[0] == 0 && memcmp(b, b + 1, n - 1) == 0;
}

/* Does layer 'i' hold any grain of cluster 'k'? */
static bool
layer_touches(struct chain *c, unsigned int i, uint64_t k)
{
	uint64_t first = k * GRAINS_PER_CLUSTER, g;
	bool yes;

	if (!c->l[i]->delta)
		return true;
	pthread_mutex_lock(&c->mu);
	g = delta_next(c->l[i]->delta, first);
	yes = g != UINT64_MAX && g < first + GRAINS_PER_CLUSTER;
	pthread_mutex_unlock(&c->mu);
	return yes;
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* DST, DST-1.qcow2 (the base) ... DST-(n-1).qcow2 (below the top). */
static void
layer_file(const char *dst, unsigned int n, unsigned int i, char *out,
	   size_t len)
{
	size_t l = strlen(dst);

	if (i == 0) {
		snprintf(out, len, "%s", dst);
		return;
	}
	if (l > 6 && !strcmp(dst + l - 6, ".qcow2"))
		l -= 6;
	snprintf(out, len, "%.*s-%u.qcow2", (int)l, dst, n - i);
}

static int
export_layer(struct chain *c, unsigned int i, const char *file,
	     const char *backing, unsigned char *buf, struct progress *p,
	     uint64_t *done)
{
	struct img_writer *w;
	uint64_t clusters = DIV_ROUND_UP(c->capacity, (uint64_t)CLUSTER);
	bool base = i == c->n - 1;
	int rc;

	rc = backing ? img_qcow2_create_backed(file, c->capacity, backing, &w) :
		       img_qcow2_create(file, c->capacity, &w);
	if (rc < 0)
		return rc;
	for (uint64_t k = 0; k < clusters && rc == 0; k++) {
		uint64_t off = k * CLUSTER;
		uint64_t n = MIN((uint64_t)CLUSTER, c->capacity - off);

		*done += n;
		progress_update(p, *done / c->n);
		if (!base && !layer_touches(c, i, k))
			continue;
		rc = read_view(c, i, buf, off, n);
		if (rc < 0)
			break;
		/* The base skips zeros; an overlay must mask its backing. */
		if (base && all_zero(buf, n))
			continue;
		rc = w->ops->put(w, off, buf, n);
	}
	if (rc == 0)
		rc = w->ops->finish(w);
	w->ops->close(w);
	return rc;
}

int
snap_export_qcow2(const char *disk, const char *snapshot, const char *dst,
		  bool chain, struct progress *p)
{
	char src[4096], file[4096], below[4096];
	unsigned char *buf = NULL;
	struct vdisk *d;
	struct chain *c;
	uint64_t done = 0;
	int rc;

	vdisk_clear_error();
	if (snapshot) {
		rc = snap_point_path(disk, snapshot, src, sizeof(src));
		if (rc < 0)
			return rc;
	} else {
		snprintf(src, sizeof(src), "%s", disk);
	}
	if (!chain)
		return vdisk_export(src, dst, VDISK_FMT_QCOW2, p, NULL);
	rc = vdisk_open(src, VDISK_OPEN_RDONLY, &d);
	if (rc < 0)
		return rc;
	c = snap_disk_chain(d);
	if (!c) {
		vdisk_close(d);
		return vdisk_export(src, dst, VDISK_FMT_QCOW2, p, NULL);
	}
	if (posix_memalign((void **)&buf, 4096, CLUSTER)) {
		rc = -ENOMEM;
		goto out;
	}
	/* Bottom first, so each overlay's backing file exists. */
	for (unsigned int i = c->n; i-- > 0 && rc == 0;) {
		layer_file(dst, c->n, i, file, sizeof(file));
		if (i + 1 < c->n)
			layer_file(dst, c->n, i + 1, below, sizeof(below));
		rc = export_layer(c, i, file, i + 1 < c->n ? base_name(below) :
				  NULL, buf, p, &done);
	}
	if (rc < 0) {
		for (unsigned int i = 0; i < c->n; i++) {
			layer_file(dst, c->n, i, file, sizeof(file));
			unlink(file);
		}
	}
out:
	free(buf);
	vdisk_close(d);
	return rc;
}

/* ---- import ---- */

#define MAX_FILES 16

struct layer_src {
	char path[4096];
	struct img_reader *r;
};

/* Opens 'top' and its backing files one by one, top first. */
static int
open_chain(const char *top, struct layer_src *ls, unsigned int *n)
{
	char backing[1024], dir[4096];
	int rc = 0;

	*n = 0;
	snprintf(ls[0].path, sizeof(ls[0].path), "%s", top);
	for (unsigned int i = 0; i < MAX_FILES; i++) {
		struct img_src *src;
		enum vdisk_format f;

		rc = img_src_file_open(ls[i].path, &src);
		if (rc < 0) {
			vdisk_err("snapshot", "%s: %s", ls[i].path,
				  strerror(-rc));
			return rc;
		}
		rc = img_probe_src(src, &f);
		if (rc == 0 && f != VDISK_FMT_QCOW2 && i > 0) {
			/* A raw base at the bottom. */
			rc = img_raw_open(src, &ls[i].r);
			backing[0] = '\0';
		} else if (rc == 0 && f != VDISK_FMT_QCOW2) {
			src->close(src);
			vdisk_err("snapshot", "%s: not a qcow2 image",
				  ls[i].path);
			return -EINVAL;
		} else if (rc == 0) {
			rc = img_qcow2_open_layer(src, backing, sizeof(backing),
						  &ls[i].r);
		} else {
			src->close(src);
		}
		if (rc < 0)
			return rc;
		*n = i + 1;
		if (ls[i].r->capacity != ls[0].r->capacity) {
			vdisk_err("snapshot", "%s: another size than %s",
				  ls[i].path, top);
			return -EINVAL;
		}
		if (!backing[0])
			return 0;
		if (strstr(backing, "://") || !strncmp(backing, "json:", 5)) {
			vdisk_err("snapshot", "%s: backing file '%s' is not a "
				  "local file", ls[i].path, backing);
			return -EINVAL;
		}
		if (i + 1 == MAX_FILES)
			break;
		snap_path_dir(ls[i].path, dir, sizeof(dir));
		if (backing[0] == '/')
			snprintf(ls[i + 1].path, sizeof(ls[i + 1].path), "%s",
				 backing);
		else
			snap_path_join(dir, backing, ls[i + 1].path,
				       sizeof(ls[i + 1].path));
	}
	vdisk_err("snapshot", "%s: backing chain deeper than %d", top,
		  MAX_FILES);
	return -EINVAL;
}

/* Writes what layer 'r' allocates (data, or zero clusters) into 'd'. */
static int
copy_layer(struct img_reader *r, struct vdisk *d, unsigned char *buf)
{
	uint64_t off = 0, cap = r->capacity;
	int rc = 0;

	while (off < cap && rc == 0) {
		uint64_t n;
		int fl = r->ops->status(r, off, cap - off, &n);

		if (fl < 0)
			return fl;
		if (n == 0 || n > cap - off)
			return -EUCLEAN;
		if (!(fl & VDISK_EXTENT_ALLOCATED)) {
			off += n;
			continue;
		}
		for (uint64_t pos = off; pos < off + n && rc == 0;) {
			uint64_t k = MIN((uint64_t)CLUSTER, off + n - pos);

			if (fl & VDISK_EXTENT_DATA)
				rc = r->ops->read(r, buf, k, pos);
			else
				memset(buf, 0, k);
			if (rc == 0)
				rc = vdisk_pwrite(d, buf, k, pos);
			pos += k;
		}
		off += n;
	}
	return rc;
}

int
snap_import_qcow2(const char *src, const char *dst, struct progress *p)
{
	struct layer_src *ls;
	unsigned char *buf = NULL;
	unsigned int n = 0;
	bool created = false;
	struct vdisk *d;
	int rc;

	vdisk_clear_error();
	ls = calloc(MAX_FILES, sizeof(*ls));
	if (!ls)
		return -ENOMEM;
	rc = open_chain(src, ls, &n);
	if (rc < 0)
		goto out;
	if (posix_memalign((void **)&buf, 4096, CLUSTER)) {
		rc = -ENOMEM;
		goto out;
	}
	/* The base: an ordinary import (nothing below it). */
	rc = vdisk_import(ls[n - 1].path, VDISK_FMT_AUTO, dst, VDISK_THIN, p,
			  NULL);
	created = rc == 0;
	for (unsigned int i = n - 1; i-- > 0 && rc == 0;) {
		const char *below = base_name(ls[i + 1].path);

		rc = snap_create(&dst, 1, below, "imported", NULL);
		if (rc < 0)
			break;
		rc = vdisk_open(dst, 0, &d);
		if (rc < 0)
			break;
		rc = copy_layer(ls[i].r, d, buf);
		if (rc == 0)
			rc = vdisk_sync(d);
		vdisk_close(d);
	}
	if (rc < 0 && created && vdisk_remove(dst) < 0)
		vdisk_err("snapshot", "%s: could not remove the partial import",
			  dst);
out:
	for (unsigned int i = 0; i < n; i++)
		img_close(ls[i].r);
	free(buf);
	free(ls);
	return rc;
}
