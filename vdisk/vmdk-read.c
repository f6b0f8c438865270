/* SPDX-License-Identifier: MIT */
/*
 * VMDK reader: hosted sparse extents (monolithicSparse, and
 * streamOptimized with compressed grains, markers and the grain
 * directory in the footer), and descriptor files whose extents are flat
 * files, sparse files or zeros (monolithicFlat, twoGbMaxExtent*, ESX
 * "vmfs" disks, our own disks). Delta disks (a parent) are refused: only
 * a whole disk can be imported.
 *
 * Untrusted input: grain directory, grain tables, grains and extent
 * files are all checked against the file sizes before use.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/log.h"
#include "vdisk/image.h"
#include "vdisk/vdisk-internal.h"
#include "vdisk/vmdk.h"

#define GT_CACHE 64
#define MAX_GRAIN_SECTORS 2048u     /* 1 MiB */
#define MAX_GTES 4096u
#define MAX_GD_BYTES (64u << 20)
#define STATUS_MAX_GRAINS 65536

static int printf_like(2, 3)
bad(struct img_src *src, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vdisk_err("vdisk.vmdk", "%s: %s", src->path, msg);
	return -EUCLEAN;
}

/* ---- sparse extents ---- */

enum gclass { G_UNALLOC, G_ZERO, G_DATA };

struct gt_slot {
	uint64_t sector;     /* 0: empty */
	uint32_t *tab;
};

struct sparse {
	struct img_reader base;
	struct img_src *src;
	uint64_t grain_sectors, grain_bytes;
	uint32_t gtes;
	uint64_t gd_entries;
	uint32_t *gd;
	bool compressed, zero_grains;
	struct gt_slot gtc[GT_CACHE];
	unsigned char *zbuf, *cbuf;
	size_t cbuf_len;
	uint64_t z_sector;   /* grain held in zbuf, +1; 0: none */
	z_stream zs;
	bool zs_ready;
};

static struct sparse *
to_sp(struct img_reader *r)
{
	return container_of(r, struct sparse, base);
}

static int
load_gt(struct sparse *s, uint64_t sector, uint32_t **tab)
{
	struct gt_slot *g = &s->gtc[sector % GT_CACHE];
	uint64_t off = sector * 512, bytes = (uint64_t)s->gtes * 4;
	int rc;

	if (g->sector == sector && g->tab) {
		*tab = g->tab;
		return 0;
	}
	if (sector > s->src->size / 512 || off >= s->src->size ||
	    s->src->size - off < bytes)
		return bad(s->src, "grain table at sector %" PRIu64
			   " is outside the file", sector);
	if (!g->tab) {
		g->tab = malloc(bytes);
		if (!g->tab)
			return -ENOMEM;
	}
	g->sector = 0;
	rc = s->src->pread(s->src, g->tab, bytes, off);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < s->gtes; i++)
		g->tab[i] = le32toh(g->tab[i]);
	g->sector = sector;
	*tab = g->tab;
	return 0;
}

static int
lookup(struct sparse *s, uint64_t grain, enum gclass *cls, uint64_t *sector)
{
	uint64_t gdi = grain / s->gtes;
	uint32_t *gt = NULL, e;
	int rc;

	*cls = G_UNALLOC;
	*sector = 0;
	if (gdi >= s->gd_entries || s->gd[gdi] == 0)
		return 0;
	rc = load_gt(s, s->gd[gdi], &gt);
	if (rc < 0)
		return rc;
	e = gt[grain % s->gtes];
	if (e == 0)
		return 0;
	if (e == 1 && s->zero_grains) {
		*cls = G_ZERO;
		return 0;
	}
	if ((uint64_t)e * 512 >= s->src->size)
		return bad(s->src, "grain %" PRIu64 " points outside the "
			   "file (sector %u)", grain, e);
	if (!s->compressed && s->src->size - (uint64_t)e * 512 <
	    MIN(s->grain_bytes, s->base.capacity - grain * s->grain_bytes))
		return bad(s->src, "grain %" PRIu64 " is cut off by the end "
			   "of the file", grain);
	*cls = G_DATA;
	*sector = e;
	return 0;
}

static int
load_compressed(struct sparse *s, uint64_t grain, uint64_t sector)
{
	unsigned char hdr[12];
	uint64_t off = sector * 512, need;
	uint32_t clen;
	int rc;

	if (s->z_sector == sector + 1)
		return 0;
	if (s->src->size - off < sizeof(hdr))
		return bad(s->src, "compressed grain %" PRIu64 " is cut off",
			   grain);
	rc = s->src->pread(s->src, hdr, sizeof(hdr), off);
	if (rc < 0)
		return rc;
	memcpy(&clen, hdr + 8, 4);
	clen = le32toh(clen);
	if (clen == 0 || clen > s->cbuf_len ||
	    s->src->size - off - sizeof(hdr) < clen)
		return bad(s->src, "compressed grain %" PRIu64 " has a bad "
			   "size %u", grain, clen);
	rc = s->src->pread(s->src, s->cbuf, clen, off + sizeof(hdr));
	if (rc < 0)
		return rc;
	if (!s->zs_ready) {
		if (inflateInit(&s->zs) != Z_OK)
			return -ENOMEM;
		s->zs_ready = true;
	}
	inflateReset(&s->zs);
	s->zs.next_in = s->cbuf;
	s->zs.avail_in = clen;
	s->zs.next_out = s->zbuf;
	s->zs.avail_out = (uInt)s->grain_bytes;
	rc = inflate(&s->zs, Z_FINISH);
	need = MIN(s->grain_bytes, s->base.capacity - grain * s->grain_bytes);
	if ((rc != Z_STREAM_END && rc != Z_BUF_ERROR && rc != Z_OK) ||
	    s->zs.total_out < need)
		return bad(s->src, "compressed grain %" PRIu64 " does not "
			   "decompress", grain);
	memset(s->zbuf + s->zs.total_out, 0,
	       s->grain_bytes - s->zs.total_out);
	s->z_sector = sector + 1;
	return 0;
}

static int
sp_read(struct img_reader *r, void *buf, size_t len, uint64_t off)
{
	struct sparse *s = to_sp(r);
	unsigned char *out = buf;
	int rc;

	if (off > r->capacity || len > r->capacity - off)
		return -ERANGE;
	while (len) {
		uint64_t g = off / s->grain_bytes, in = off % s->grain_bytes;
		size_t n = (size_t)MIN((uint64_t)len, s->grain_bytes - in);
		enum gclass cls;
		uint64_t sec;

		rc = lookup(s, g, &cls, &sec);
		if (rc < 0)
			return rc;
		if (cls != G_DATA) {
			memset(out, 0, n);
		} else if (s->compressed) {
			rc = load_compressed(s, g, sec);
			if (rc < 0)
				return rc;
			memcpy(out, s->zbuf + in, n);
		} else {
			rc = s->src->pread(s->src, out, n, sec * 512 + in);
			if (rc < 0)
				return rc;
		}
		out += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int
sp_status(struct img_reader *r, uint64_t off, uint64_t len, uint64_t *n)
{
	struct sparse *s = to_sp(r);
	uint64_t g = off / s->grain_bytes, end;
	enum gclass cls, c2;
	uint64_t sec;
	int rc;

	rc = lookup(s, g, &cls, &sec);
	if (rc < 0)
		return rc;
	end = (g + 1) * s->grain_bytes;
	for (unsigned int i = 0; i < STATUS_MAX_GRAINS && end < off + len;
	     i++) {
		rc = lookup(s, end / s->grain_bytes, &c2, &sec);
		if (rc < 0)
			return rc;
		if (c2 != cls)
			break;
		end += s->grain_bytes;
	}
	*n = MIN(end, off + len) - off;
	if (cls == G_DATA)
		return VDISK_EXTENT_DATA | VDISK_EXTENT_ALLOCATED;
	return VDISK_EXTENT_ZERO | (cls == G_ZERO ? VDISK_EXTENT_ALLOCATED : 0);
}

static void
sp_close(struct img_reader *r)
{
	struct sparse *s = to_sp(r);

	for (unsigned int i = 0; i < GT_CACHE; i++)
		free(s->gtc[i].tab);
	if (s->zs_ready)
		inflateEnd(&s->zs);
	free(s->zbuf);
	free(s->cbuf);
	free(s->gd);
	s->src->close(s->src);
	free(s);
}

static const struct img_reader_ops sparse_ops = {
	.read = sp_read,
	.status = sp_status,
	.close = sp_close,
};

static void
header_in(struct vmdk_header *h)
{
	h->magic = le32toh(h->magic);
	h->version = le32toh(h->version);
	h->flags = le32toh(h->flags);
	h->capacity = le64toh(h->capacity);
	h->grain_size = le64toh(h->grain_size);
	h->desc_offset = le64toh(h->desc_offset);
	h->desc_size = le64toh(h->desc_size);
	h->num_gtes_per_gt = le32toh(h->num_gtes_per_gt);
	h->rgd_offset = le64toh(h->rgd_offset);
	h->gd_offset = le64toh(h->gd_offset);
	h->overhead = le64toh(h->overhead);
	h->compress_algorithm = le16toh(h->compress_algorithm);
}

/* streamOptimized keeps the real header in the footer at the end. */
static int
read_footer(struct sparse *s, struct vmdk_header *h)
{
	struct vmdk_marker m;
	int rc;

	if (s->src->size < 1536)
		return bad(s->src, "grain directory at the end, but the file "
			   "is too short for a footer");
	rc = s->src->pread(s->src, &m, sizeof(m), s->src->size - 1536);
	if (rc == 0)
		rc = s->src->pread(s->src, h, sizeof(*h), s->src->size - 1024);
	if (rc < 0)
		return rc;
	header_in(h);
	if ((h->flags & VMDK_FLAG_MARKERS) &&
	    (le32toh(m.size) != 0 || le32toh(m.type) != VMDK_MARKER_FOOTER))
		return bad(s->src, "footer marker missing (truncated "
			   "streamOptimized image?)");
	if (h->magic != VMDK_MAGIC || h->gd_offset == VMDK_GD_AT_END)
		return bad(s->src, "bad footer (truncated streamOptimized "
			   "image?)");
	return 0;
}

/* A sparse extent with a parent is a delta disk: refused. */
static int
check_embedded_descriptor(struct sparse *s, const struct vmdk_header *h)
{
	struct vdisk_desc *d;
	char *text;
	uint64_t bytes;
	int rc = 0;

	if (!h->desc_offset || !h->desc_size)
		return 0;
	bytes = MIN(h->desc_size * 512, (uint64_t)DESC_MAX_BYTES);
	if (h->desc_offset > s->src->size / 512 ||
	    s->src->size - h->desc_offset * 512 < bytes)
		return bad(s->src, "embedded descriptor is outside the file");
	text = malloc(bytes + 1);
	d = malloc(sizeof(*d));
	if (!text || !d) {
		rc = -ENOMEM;
		goto out;
	}
	rc = s->src->pread(s->src, text, bytes, h->desc_offset * 512);
	if (rc < 0)
		goto out;
	/* The header is authoritative; a descriptor that does not parse
	 * only loses us the parent check, so look for the key itself. */
	if ((vdisk_desc_parse(text, bytes, d, NULL, 0) == 0 &&
	     (d->parent_cid != DESC_NO_PARENT || d->parent_hint[0])) ||
	    memmem(text, strnlen(text, bytes), "parentFileNameHint", 18))
		rc = bad(s->src, "a delta disk (it has a parent); import "
			 "the parent, or flatten the chain first");
out:
	free(text);
	free(d);
	return rc;
}

static int
check_header(struct sparse *s, const struct vmdk_header *h)
{
	if (h->version < 1 || h->version > 3)
		return bad(s->src, "unsupported sparse VMDK version %u",
			   h->version);
	if (!h->grain_size || h->grain_size > MAX_GRAIN_SECTORS ||
	    !IS_POW2(h->grain_size))
		return bad(s->src, "bad grain size %" PRIu64 " sectors",
			   h->grain_size);
	if (!h->num_gtes_per_gt || h->num_gtes_per_gt > MAX_GTES)
		return bad(s->src, "bad grain table size %u",
			   h->num_gtes_per_gt);
	if (!h->capacity || h->capacity > VDISK_MAX_CAPACITY / 512)
		return bad(s->src, "bad capacity %" PRIu64 " sectors",
			   h->capacity);
	if ((h->flags & VMDK_FLAG_COMPRESSED) &&
	    h->compress_algorithm != VMDK_COMPRESS_DEFLATE)
		return bad(s->src, "unknown compression %u",
			   h->compress_algorithm);
	return 0;
}

static int
load_gd(struct sparse *s, const struct vmdk_header *h)
{
	uint64_t span = s->grain_sectors * s->gtes;
	uint64_t gd_sector = h->gd_offset, bytes;
	int rc;

	if ((h->flags & VMDK_FLAG_RGD) && !gd_sector)
		gd_sector = h->rgd_offset;
	s->gd_entries = DIV_ROUND_UP(h->capacity, span);
	bytes = s->gd_entries * 4;
	if (bytes > MAX_GD_BYTES)
		return bad(s->src, "grain directory too large");
	if (!gd_sector || gd_sector > s->src->size / 512 ||
	    s->src->size - gd_sector * 512 < bytes)
		return bad(s->src, "grain directory at sector %" PRIu64
			   " is outside the file", gd_sector);
	s->gd = malloc(bytes);
	if (!s->gd)
		return -ENOMEM;
	rc = s->src->pread(s->src, s->gd, bytes, gd_sector * 512);
	for (uint64_t i = 0; rc == 0 && i < s->gd_entries; i++)
		s->gd[i] = le32toh(s->gd[i]);
	return rc;
}

static int
sparse_open(struct img_src *src, struct img_reader **out)
{
	struct vmdk_header h;
	struct sparse *s;
	int rc;

	s = calloc(1, sizeof(*s));
	if (!s) {
		src->close(src);
		return -ENOMEM;
	}
	s->src = src;
	s->base.ops = &sparse_ops;
	s->base.fmt = VDISK_FMT_VMDK;
	if (src->size < sizeof(h)) {
		rc = bad(src, "truncated sparse VMDK header");
		goto err;
	}
	rc = src->pread(src, &h, sizeof(h), 0);
	if (rc < 0)
		goto err;
	header_in(&h);
	if (h.magic != VMDK_MAGIC) {
		rc = bad(src, "not a sparse VMDK");
		goto err;
	}
	rc = check_embedded_descriptor(s, &h);
	if (rc == 0 && h.gd_offset == VMDK_GD_AT_END)
		rc = read_footer(s, &h);
	if (rc == 0)
		rc = check_header(s, &h);
	if (rc < 0)
		goto err;
	s->grain_sectors = h.grain_size;
	s->grain_bytes = h.grain_size * 512;
	s->gtes = h.num_gtes_per_gt;
	s->compressed = h.flags & VMDK_FLAG_COMPRESSED;
	s->zero_grains = h.flags & VMDK_FLAG_ZERO_GRAIN;
	s->base.capacity = h.capacity * 512;
	rc = load_gd(s, &h);
	if (rc < 0)
		goto err;
	s->zbuf = malloc(s->grain_bytes);
	s->cbuf_len = compressBound((uLong)s->grain_bytes) + 1024;
	s->cbuf = malloc(s->cbuf_len);
	if (!s->zbuf || !s->cbuf) {
		rc = -ENOMEM;
		goto err;
	}
	*out = &s->base;
	return 0;

err:
	sp_close(&s->base);
	return rc;
}

/* ---- descriptor files ---- */

struct part {
	uint64_t start, len;        /* in the virtual disk */
	uint64_t file_off;          /* FLAT: start inside the file */
	struct img_reader *r;       /* NULL: zeros */
};

struct composite {
	struct img_reader base;
	unsigned int n;
	struct part p[DESC_MAX_EXTENTS];
};

static struct composite *
to_co(struct img_reader *r)
{
	return container_of(r, struct composite, base);
}

static struct part *
find_part(struct composite *c, uint64_t off)
{
	for (unsigned int i = 0; i < c->n; i++)
		if (off >= c->p[i].start && off - c->p[i].start < c->p[i].len)
			return &c->p[i];
	return NULL;
}

static int
co_read(struct img_reader *r, void *buf, size_t len, uint64_t off)
{
	struct composite *c = to_co(r);
	unsigned char *out = buf;

	if (off > r->capacity || len > r->capacity - off)
		return -ERANGE;
	while (len) {
		struct part *p = find_part(c, off);
		uint64_t in;
		size_t n;
		int rc;

		if (!p)
			return -EIO;
		in = off - p->start;
		n = (size_t)MIN((uint64_t)len, p->len - in);
		if (!p->r)
			memset(out, 0, n);
		else if ((rc = p->r->ops->read(p->r, out, n, p->file_off + in)))
			return rc;
		out += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int
co_status(struct img_reader *r, uint64_t off, uint64_t len, uint64_t *n)
{
	struct part *p = find_part(to_co(r), off);
	uint64_t in;
	int rc;

	if (!p)
		return -EIO;
	in = off - p->start;
	len = MIN(len, p->len - in);
	if (!p->r) {
		*n = len;
		return VDISK_EXTENT_ZERO;
	}
	rc = p->r->ops->status(p->r, p->file_off + in, len, n);
	if (rc >= 0 && (*n == 0 || *n > len))
		*n = len;
	return rc;
}

static void
co_close(struct img_reader *r)
{
	struct composite *c = to_co(r);

	for (unsigned int i = 0; i < c->n; i++)
		img_close(c->p[i].r);
	free(c);
}

static const struct img_reader_ops composite_ops = {
	.read = co_read,
	.status = co_status,
	.close = co_close,
};

static int
open_extent(struct img_src *dsrc, const struct desc_extent *e,
	    struct part *p)
{
	char path[4096 + DESC_NAME_MAX + 2];
	const char *slash = strrchr(dsrc->path, '/');
	struct img_src *src;
	int rc;

	if (e->kind == DESC_EXT_ZERO)
		return 0;
	if (e->access == DESC_NOACCESS)
		return bad(dsrc, "extent %s has no access", e->file);
	if (e->kind != DESC_EXT_FLAT && e->kind != DESC_EXT_VMFS &&
	    e->kind != DESC_EXT_SPARSE)
		return bad(dsrc, "extent type %s is a delta; import the "
			   "parent or flatten the chain first",
			   vdisk_desc_kind_name(e->kind));
	if (img_src_fd(dsrc) < 0)
		return bad(dsrc, "extent files are not followed here");
	if (e->file[0] == '/' || !slash)
		snprintf(path, sizeof(path), "%s", e->file);
	else
		snprintf(path, sizeof(path), "%.*s/%s",
			 (int)(slash - dsrc->path), dsrc->path, e->file);
	rc = img_src_file_open(path, &src);
	if (rc < 0) {
		vdisk_err("vdisk.vmdk", "%s: extent %s: %s", dsrc->path, path,
			  strerror(-rc));
		return rc;
	}
	if (e->kind == DESC_EXT_SPARSE) {
		rc = sparse_open(src, &p->r);
		if (rc == 0 && p->r->capacity < p->len)
			rc = bad(dsrc, "sparse extent %s is smaller than the "
				 "descriptor says", e->file);
		return rc;
	}
	p->file_off = e->offset_sectors * 512;
	rc = img_raw_open(src, &p->r);
	if (rc == 0 && (p->r->capacity < p->file_off ||
			p->r->capacity - p->file_off < p->len))
		rc = bad(dsrc, "extent file %s is shorter than the descriptor "
			 "says", e->file);
	return rc;
}

int
img_vmdk_desc_open(struct img_src *src, struct img_reader **out)
{
	struct vdisk_desc *d = NULL;
	struct composite *c;
	char err[200], *text = NULL;
	uint64_t pos = 0;
	int rc;

	c = calloc(1, sizeof(*c));
	if (!c) {
		src->close(src);
		return -ENOMEM;
	}
	c->base.ops = &composite_ops;
	c->base.fmt = VDISK_FMT_VMDK;
	d = malloc(sizeof(*d));
	text = malloc(DESC_MAX_BYTES + 1);
	if (!d || !text) {
		rc = -ENOMEM;
		goto out;
	}
	if (src->size > DESC_MAX_BYTES) {
		rc = bad(src, "descriptor file larger than %u bytes",
			 DESC_MAX_BYTES);
		goto out;
	}
	rc = src->pread(src, text, src->size, 0);
	if (rc < 0)
		goto out;
	rc = vdisk_desc_parse(text, src->size, d, err, sizeof(err));
	if (rc < 0) {
		rc = bad(src, "bad descriptor: %s", err);
		goto out;
	}
	if (d->parent_cid != DESC_NO_PARENT || d->parent_hint[0]) {
		rc = bad(src, "a delta disk (it has a parent); import the "
			 "parent, or flatten the chain first");
		goto out;
	}
	for (unsigned int i = 0; i < d->nextents; i++) {
		struct part *p = &c->p[c->n];

		p->start = pos;
		p->len = d->ext[i].sectors * 512;
		rc = open_extent(src, &d->ext[i], p);
		if (rc < 0)
			goto out;
		c->n++;
		pos += p->len;
	}
	c->base.capacity = pos;
	*out = &c->base;
	rc = 0;
out:
	free(d);
	free(text);
	src->close(src);
	if (rc < 0)
		co_close(&c->base);
	return rc;
}

int
img_vmdk_open(struct img_src *src, struct img_reader **out)
{
	unsigned char magic[4] = { 0 };
	int rc;

	if (src->size >= 4) {
		rc = src->pread(src, magic, 4, 0);
		if (rc < 0) {
			src->close(src);
			return rc;
		}
	}
	if (!memcmp(magic, "KDMV", 4))
		return sparse_open(src, out);
	return img_vmdk_desc_open(src, out);
}
