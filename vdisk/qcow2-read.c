/* SPDX-License-Identifier: MIT */
/*
 * qcow2 reader: versions 2 and 3, any cluster size, zero clusters,
 * zlib and zstd compressed clusters, and backing chains (raw, qcow2 or
 * vmdk parents, IMG_MAX_CHAIN deep at most). Images with encryption,
 * an external data file or extended L2 entries are refused by name.
 *
 * Every table and cluster offset from the file is checked against the
 * file's size before use: a qcow2 whose L2 entry points outside the file
 * gives -EUCLEAN and "L2 entry ... points outside the file".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "common/log.h"
#include "vdisk/image.h"
#include "vdisk/qcow2.h"
#include "vdisk/vdisk-internal.h"

#define L2_CACHE 32
/* Clusters classified per status() call, to bound the work. */
#define STATUS_MAX_CLUSTERS 65536

enum qclass { Q_UNALLOC, Q_ZERO, Q_DATA, Q_COMPRESSED };

struct l2_slot {
	uint64_t off;        /* 0: empty */
	uint64_t *tab;
};

struct qcow2_reader {
	struct img_reader base;
	struct img_src *src;
	struct img_reader *backing;  /* NULL: unallocated reads zeros */
	unsigned int version;
	unsigned int cluster_bits;
	uint64_t cluster_size;
	uint64_t l2_entries;
	uint32_t l1_size;
	uint64_t *l1;                /* host order */
	int compression;
	struct l2_slot l2c[L2_CACHE];
	uint64_t z_host;             /* host offset of the cluster in zbuf */
	unsigned char *zbuf, *cbuf;
	z_stream zs;
	bool zs_ready;
	ZSTD_DCtx *zd;
};

static int printf_like(2, 3)
bad(struct qcow2_reader *q, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vdisk_err("vdisk.qcow2", "%s: %s", q->src->path, msg);
	return -EUCLEAN;
}

static struct qcow2_reader *
to_q(struct img_reader *r)
{
	return container_of(r, struct qcow2_reader, base);
}

static int
load_l2(struct qcow2_reader *q, uint64_t off, uint64_t **tab)
{
	struct l2_slot *s = &q->l2c[(off >> q->cluster_bits) % L2_CACHE];
	unsigned char *raw;
	int rc;

	if (s->off == off) {
		*tab = s->tab;
		return 0;
	}
	if (!s->tab) {
		s->tab = malloc(q->cluster_size);
		if (!s->tab)
			return -ENOMEM;
	}
	s->off = 0;
	raw = (unsigned char *)s->tab;
	rc = q->src->pread(q->src, raw, q->cluster_size, off);
	if (rc < 0)
		return rc == -EUCLEAN ? bad(q, "L2 table at %#" PRIx64
					    " is cut off", off) : rc;
	for (uint64_t i = 0; i < q->l2_entries; i++)
		s->tab[i] = qcow2_be64(raw + i * 8);
	s->off = off;
	*tab = s->tab;
	return 0;
}

/* Classifies virtual cluster 'vc'; '*host' gets the entry's offset. */
static int
lookup(struct qcow2_reader *q, uint64_t vc, enum qclass *cls, uint64_t *ent)
{
	uint64_t l1i = vc / q->l2_entries, l2off, e, off, *tab = NULL;
	int rc;

	*ent = 0;
	*cls = Q_UNALLOC;
	if (l1i >= q->l1_size)
		return 0;
	l2off = q->l1[l1i] & QCOW2_OFFSET_MASK;
	if (!l2off)
		return 0;
	if (l2off & (q->cluster_size - 1))
		return bad(q, "L1 entry %" PRIu64 " is not cluster aligned",
			   l1i);
	if (l2off >= q->src->size || q->src->size - l2off < q->cluster_size)
		return bad(q, "L1 entry %" PRIu64 " points outside the file "
			   "(L2 table at %#" PRIx64 ", file %#" PRIx64 ")",
			   l1i, l2off, q->src->size);
	rc = load_l2(q, l2off, &tab);
	if (rc < 0)
		return rc;
	e = tab[vc % q->l2_entries];
	*ent = e;
	if (e & QCOW2_OFLAG_COMPRESSED) {
		*cls = Q_COMPRESSED;
		return 0;
	}
	off = e & QCOW2_OFFSET_MASK;
	if (q->version >= 3 && (e & QCOW2_OFLAG_ZERO)) {
		*cls = Q_ZERO;
		return 0;
	}
	if (!off)
		return 0;
	if (off & (q->cluster_size - 1))
		return bad(q, "L2 entry for cluster %" PRIu64 " is not cluster "
			   "aligned", vc);
	if (off >= q->src->size || q->src->size - off < q->cluster_size)
		return bad(q, "L2 entry for cluster %" PRIu64 " points outside "
			   "the file (%#" PRIx64 ", file %#" PRIx64 ")", vc,
			   off, q->src->size);
	*cls = Q_DATA;
	*ent = off;
	return 0;
}

static int
inflate_zlib(struct qcow2_reader *q, size_t clen)
{
	int ret;

	if (!q->zs_ready) {
		if (inflateInit2(&q->zs, -12) != Z_OK)
			return -ENOMEM;
		q->zs_ready = true;
	}
	inflateReset(&q->zs);
	q->zs.next_in = q->cbuf;
	q->zs.avail_in = (uInt)clen;
	q->zs.next_out = q->zbuf;
	q->zs.avail_out = (uInt)q->cluster_size;
	ret = inflate(&q->zs, Z_FINISH);
	if ((ret == Z_STREAM_END || ret == Z_BUF_ERROR) &&
	    q->zs.avail_out == 0)
		return 0;
	return -EUCLEAN;
}

static int
inflate_zstd(struct qcow2_reader *q, size_t clen)
{
	ZSTD_inBuffer in = { q->cbuf, clen, 0 };
	ZSTD_outBuffer out = { q->zbuf, q->cluster_size, 0 };

	if (!q->zd) {
		q->zd = ZSTD_createDCtx();
		if (!q->zd)
			return -ENOMEM;
	}
	ZSTD_DCtx_reset(q->zd, ZSTD_reset_session_only);
	while (out.pos < out.size) {
		size_t ret = ZSTD_decompressStream(q->zd, &out, &in);

		if (ZSTD_isError(ret))
			return -EUCLEAN;
		if (ret == 0 || in.pos == in.size)
			break;
	}
	return out.pos == out.size ? 0 : -EUCLEAN;
}

static int
load_compressed(struct qcow2_reader *q, uint64_t vc, uint64_t e)
{
	unsigned int x = 62 - (q->cluster_bits - 8);
	uint64_t host = e & ((1ull << x) - 1);
	uint64_t nsec = ((e & ~(QCOW2_OFLAG_COPIED | QCOW2_OFLAG_COMPRESSED)) >>
			 x) + 1;
	uint64_t clen = nsec * 512 - (host & 511);
	int rc;

	if (q->z_host == host + 1)
		return 0;
	if (host >= q->src->size)
		return bad(q, "compressed cluster %" PRIu64 " points outside "
			   "the file", vc);
	clen = MIN(clen, q->src->size - host);
	rc = q->src->pread(q->src, q->cbuf, clen, host);
	if (rc < 0)
		return rc;
	rc = q->compression == QCOW2_COMPRESS_ZSTD ? inflate_zstd(q, clen) :
						     inflate_zlib(q, clen);
	if (rc == -EUCLEAN)
		return bad(q, "compressed cluster %" PRIu64 " does not "
			   "decompress", vc);
	if (rc < 0)
		return rc;
	q->z_host = host + 1;
	return 0;
}

static int
q_read(struct img_reader *r, void *buf, size_t len, uint64_t off)
{
	struct qcow2_reader *q = to_q(r);
	unsigned char *out = buf;
	int rc;

	if (off > r->capacity || len > r->capacity - off)
		return -ERANGE;
	while (len) {
		uint64_t vc = off >> q->cluster_bits;
		uint64_t in = off & (q->cluster_size - 1);
		size_t n = (size_t)MIN((uint64_t)len, q->cluster_size - in);
		enum qclass cls;
		uint64_t ent;

		rc = lookup(q, vc, &cls, &ent);
		if (rc < 0)
			return rc;
		switch (cls) {
		case Q_DATA: {
			/* Extend over host-contiguous data clusters. */
			uint64_t host = ent + in;

			while (n < len) {
				enum qclass c2;
				uint64_t e2;
				size_t more = (size_t)MIN((uint64_t)(len - n),
							  q->cluster_size);

				rc = lookup(q, (off + n) >> q->cluster_bits,
					    &c2, &e2);
				if (rc < 0)
					return rc;
				if (c2 != Q_DATA || e2 != host + n)
					break;
				n += more;
			}
			rc = q->src->pread(q->src, out, n, host);
			if (rc < 0)
				return rc;
			break;
		}
		case Q_COMPRESSED:
			rc = load_compressed(q, vc, ent);
			if (rc < 0)
				return rc;
			memcpy(out, q->zbuf + in, n);
			break;
		case Q_ZERO:
			memset(out, 0, n);
			break;
		case Q_UNALLOC:
			if (q->backing && off < q->backing->capacity) {
				size_t b = (size_t)MIN((uint64_t)n,
						       q->backing->capacity -
						       off);

				rc = q->backing->ops->read(q->backing, out, b,
							   off);
				if (rc < 0)
					return rc;
				memset(out + b, 0, n - b);
			} else {
				memset(out, 0, n);
			}
			break;
		}
		out += n;
		off += n;
		len -= n;
	}
	return 0;
}

static bool
same_kind(enum qclass a, enum qclass b)
{
	bool da = a == Q_DATA || a == Q_COMPRESSED;
	bool db = b == Q_DATA || b == Q_COMPRESSED;

	return a == b || (da && db);
}

static int
q_status(struct img_reader *r, uint64_t off, uint64_t len, uint64_t *n)
{
	struct qcow2_reader *q = to_q(r);
	uint64_t vc = off >> q->cluster_bits, end, run;
	enum qclass cls, c2;
	uint64_t ent;
	int rc;

	rc = lookup(q, vc, &cls, &ent);
	if (rc < 0)
		return rc;
	end = (vc + 1) << q->cluster_bits;
	for (unsigned int i = 0; i < STATUS_MAX_CLUSTERS && end < off + len;
	     i++) {
		rc = lookup(q, end >> q->cluster_bits, &c2, &ent);
		if (rc < 0)
			return rc;
		if (!same_kind(cls, c2))
			break;
		end += q->cluster_size;
	}
	run = MIN(end, off + len) - off;
	*n = run;
	switch (cls) {
	case Q_DATA:
	case Q_COMPRESSED:
		return VDISK_EXTENT_DATA | VDISK_EXTENT_ALLOCATED;
	case Q_ZERO:
		return VDISK_EXTENT_ZERO | VDISK_EXTENT_ALLOCATED;
	case Q_UNALLOC:
		break;
	}
	if (!q->backing || off >= q->backing->capacity)
		return VDISK_EXTENT_ZERO;
	rc = q->backing->ops->status(q->backing, off,
				     MIN(run, q->backing->capacity - off), n);
	/* What the parent allocated is the child's data too. */
	return rc;
}

static void
q_close(struct img_reader *r)
{
	struct qcow2_reader *q = to_q(r);

	img_close(q->backing);
	for (unsigned int i = 0; i < L2_CACHE; i++)
		free(q->l2c[i].tab);
	if (q->zs_ready)
		inflateEnd(&q->zs);
	ZSTD_freeDCtx(q->zd);
	free(q->zbuf);
	free(q->cbuf);
	free(q->l1);
	q->src->close(q->src);
	free(q);
}

static const struct img_reader_ops qcow2_ops = {
	.read = q_read,
	.status = q_status,
	.close = q_close,
};

/* ---- open ---- */

struct qhdr {
	unsigned int version, cluster_bits, refcount_order, hdr_len;
	uint64_t backing_off, size, l1_off, incompat;
	uint32_t backing_size, crypt, l1_size;
	int compression;
};

static int
parse_header(struct qcow2_reader *q, const unsigned char *h, size_t n,
	     struct qhdr *x)
{
	uint64_t known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT |
			 QCOW2_INCOMPAT_DATA_FILE | QCOW2_INCOMPAT_COMPRESSION |
			 QCOW2_INCOMPAT_EXTL2;

	if (n < QCOW2_HDR_V2_BYTES || qcow2_be32(h) != QCOW2_MAGIC)
		return bad(q, "not a qcow2 image (truncated header)");
	memset(x, 0, sizeof(*x));
	x->version = qcow2_be32(h + QH_VERSION);
	if (x->version != 2 && x->version != 3)
		return bad(q, "unsupported qcow2 version %u", x->version);
	x->backing_off = qcow2_be64(h + QH_BACKING_OFFSET);
	x->backing_size = qcow2_be32(h + QH_BACKING_SIZE);
	x->cluster_bits = qcow2_be32(h + QH_CLUSTER_BITS);
	x->size = qcow2_be64(h + QH_SIZE);
	x->crypt = qcow2_be32(h + QH_CRYPT);
	x->l1_size = qcow2_be32(h + QH_L1_SIZE);
	x->l1_off = qcow2_be64(h + QH_L1_OFFSET);
	x->hdr_len = QCOW2_HDR_V2_BYTES;
	x->refcount_order = 4;
	if (x->version == 3) {
		if (n < QCOW2_HDR_V3_BYTES)
			return bad(q, "truncated qcow2 v3 header");
		x->incompat = qcow2_be64(h + QH_INCOMPAT);
		x->refcount_order = qcow2_be32(h + QH_REFCOUNT_ORDER);
		x->hdr_len = qcow2_be32(h + QH_HEADER_LENGTH);
		if (x->hdr_len < QCOW2_HDR_V3_BYTES || x->hdr_len > n)
			return bad(q, "bad header length %u", x->hdr_len);
		if ((x->incompat & QCOW2_INCOMPAT_COMPRESSION) &&
		    x->hdr_len > QH_COMPRESSION_TYPE)
			x->compression = h[QH_COMPRESSION_TYPE];
	}
	if (x->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    x->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return bad(q, "bad cluster size 2^%u", x->cluster_bits);
	if (x->crypt)
		return bad(q, "encrypted qcow2 images are not supported");
	if (x->incompat & ~known)
		return bad(q, "unknown incompatible features %#" PRIx64,
			   x->incompat & ~known);
	if (x->incompat & QCOW2_INCOMPAT_DATA_FILE)
		return bad(q, "qcow2 with an external data file is not "
			   "supported");
	if (x->incompat & QCOW2_INCOMPAT_EXTL2)
		return bad(q, "qcow2 with extended L2 entries (subclusters) "
			   "is not supported");
	if (x->incompat & QCOW2_INCOMPAT_CORRUPT)
		return bad(q, "image is marked corrupt; repair it with "
			   "'qemu-img check -r all' first");
	if (x->compression != QCOW2_COMPRESS_ZLIB &&
	    x->compression != QCOW2_COMPRESS_ZSTD)
		return bad(q, "unknown compression type %d", x->compression);
	if (x->size > VDISK_MAX_CAPACITY)
		return bad(q, "virtual size %" PRIu64 " is larger than 64 TiB",
			   x->size);
	return 0;
}

static int
load_l1(struct qcow2_reader *q, const struct qhdr *x)
{
	uint64_t span = q->cluster_size * q->l2_entries;
	uint64_t need = DIV_ROUND_UP(x->size, span);
	unsigned char *raw;
	int rc;

	if ((uint64_t)x->l1_size * 8 > QCOW2_MAX_L1_BYTES)
		return bad(q, "L1 table of %u entries is too large",
			   x->l1_size);
	if (x->l1_size < need)
		return bad(q, "L1 table of %u entries is too small for the "
			   "virtual size", x->l1_size);
	q->l1_size = x->l1_size;
	q->l1 = calloc(MAX(x->l1_size, 1u), 8);
	if (!q->l1)
		return -ENOMEM;
	if (!x->l1_size)
		return 0;
	if (x->l1_off & (q->cluster_size - 1))
		return bad(q, "L1 table offset is not cluster aligned");
	if (x->l1_off >= q->src->size ||
	    q->src->size - x->l1_off < (uint64_t)x->l1_size * 8)
		return bad(q, "L1 table at %#" PRIx64 " is outside the file",
			   x->l1_off);
	raw = malloc((size_t)x->l1_size * 8);
	if (!raw)
		return -ENOMEM;
	rc = q->src->pread(q->src, raw, (size_t)x->l1_size * 8, x->l1_off);
	for (uint32_t i = 0; rc == 0 && i < x->l1_size; i++)
		q->l1[i] = qcow2_be64(raw + (size_t)i * 8);
	free(raw);
	return rc;
}

/* Header extensions: only the backing file's format matters here. */
static int
parse_extensions(struct qcow2_reader *q, const unsigned char *h, size_t n,
		 const struct qhdr *x, char *fmt, size_t fmtlen)
{
	size_t pos = x->hdr_len;

	fmt[0] = '\0';
	while (pos + 8 <= n) {
		uint32_t type = qcow2_be32(h + pos);
		uint32_t len = qcow2_be32(h + pos + 4);

		pos += 8;
		if (type == QCOW2_EXT_END)
			return 0;
		if (len > n - pos)
			return bad(q, "header extension %#x runs past the "
				   "header cluster", type);
		if (type == QCOW2_EXT_BACKING_FORMAT && len < fmtlen) {
			memcpy(fmt, h + pos, len);
			fmt[len] = '\0';
		}
		pos += ALIGN_UP((size_t)len, (size_t)8);
	}
	return 0;
}

static int
open_backing(struct qcow2_reader *q, const unsigned char *h, size_t n,
	     const struct qhdr *x, const char *fmt, unsigned int depth)
{
	char name[1024], path[4096 + 1024];
	struct img_src *bsrc;
	enum vdisk_format bf = VDISK_FMT_AUTO;
	const char *slash;
	int rc;

	if (x->backing_size == 0 || x->backing_size >= sizeof(name) ||
	    x->backing_off >= n || n - x->backing_off < x->backing_size)
		return bad(q, "bad backing file name field");
	memcpy(name, h + x->backing_off, x->backing_size);
	name[x->backing_size] = '\0';
	if (strlen(name) != x->backing_size)
		return bad(q, "backing file name holds a NUL");
	if (img_src_fd(q->src) < 0)
		return bad(q, "backing files are not followed here");
	if (depth + 1 >= IMG_MAX_CHAIN)
		return bad(q, "backing chain deeper than %d", IMG_MAX_CHAIN);
	if (strchr(name, ':') && !strchr(name, '/'))
		return bad(q, "backing file '%s' is not a local file", name);
	if (!strncmp(name, "json:", 5) || strstr(name, "://"))
		return bad(q, "backing file '%s' is not a local file", name);
	slash = strrchr(q->src->path, '/');
	if (name[0] == '/' || !slash)
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "%.*s/%s",
			 (int)(slash - q->src->path), q->src->path, name);
	if (fmt[0] && vdisk_format_parse(fmt, &bf) < 0)
		return bad(q, "backing format '%s' is not supported", fmt);
	rc = img_src_file_open(path, &bsrc);
	if (rc < 0) {
		vdisk_err("vdisk.qcow2", "%s: backing file %s: %s",
			  q->src->path, path, strerror(-rc));
		return rc;
	}
	if (bf == VDISK_FMT_AUTO) {
		rc = img_probe_src(bsrc, &bf);
		if (rc < 0) {
			bsrc->close(bsrc);
			return rc;
		}
	}
	switch (bf) {
	case VDISK_FMT_QCOW2:
		return img_qcow2_open(bsrc, depth + 1, &q->backing);
	case VDISK_FMT_VMDK:
		return img_vmdk_open(bsrc, &q->backing);
	default:
		return img_raw_open(bsrc, &q->backing);
	}
}

/* The backing file name in the header, without opening it. */
static int
backing_name(struct qcow2_reader *q, const unsigned char *h, size_t n,
	     const struct qhdr *x, char *out, size_t len)
{
	if (x->backing_size == 0 || x->backing_size >= len ||
	    x->backing_off >= n || n - x->backing_off < x->backing_size)
		return bad(q, "bad backing file name field");
	memcpy(out, h + x->backing_off, x->backing_size);
	out[x->backing_size] = '\0';
	if (strlen(out) != x->backing_size)
		return bad(q, "backing file name holds a NUL");
	return 0;
}

static int
open_impl(struct img_src *src, unsigned int depth, char *backing,
	  size_t backing_len, struct img_reader **out);

int
img_qcow2_open(struct img_src *src, unsigned int depth,
	       struct img_reader **out)
{
	return open_impl(src, depth, NULL, 0, out);
}

int
img_qcow2_open_layer(struct img_src *src, char *backing, size_t len,
		     struct img_reader **out)
{
	backing[0] = '\0';
	return open_impl(src, 0, backing, len, out);
}

/* 'backing' NULL: open the backing chain; else only name it there. */
static int
open_impl(struct img_src *src, unsigned int depth, char *backing,
	  size_t backing_len, struct img_reader **out)
{
	struct qcow2_reader *q;
	unsigned char *h = NULL;
	char fmt[32];
	struct qhdr x;
	size_t n;
	int rc;

	q = calloc(1, sizeof(*q));
	if (!q) {
		src->close(src);
		return -ENOMEM;
	}
	q->src = src;
	q->base.ops = &qcow2_ops;
	q->base.fmt = VDISK_FMT_QCOW2;
	/* The header, its extensions and the backing name sit in the
	 * first cluster; read as much of it as the file has. */
	n = (size_t)MIN(src->size, (uint64_t)1 << QCOW2_MAX_CLUSTER_BITS);
	h = malloc(n + 1);
	if (!h) {
		rc = -ENOMEM;
		goto err;
	}
	rc = src->pread(src, h, n, 0);
	if (rc < 0)
		goto err;
	rc = parse_header(q, h, n, &x);
	if (rc < 0)
		goto err;
	q->version = x.version;
	q->cluster_bits = x.cluster_bits;
	q->cluster_size = 1ull << x.cluster_bits;
	q->l2_entries = q->cluster_size / 8;
	q->compression = x.compression;
	q->base.capacity = x.size;
	n = (size_t)MIN((uint64_t)n, q->cluster_size);
	rc = load_l1(q, &x);
	if (rc < 0)
		goto err;
	rc = parse_extensions(q, h, n, &x, fmt, sizeof(fmt));
	if (rc < 0)
		goto err;
	if (x.backing_off && backing)
		rc = backing_name(q, h, n, &x, backing, backing_len);
	else if (x.backing_off)
		rc = open_backing(q, h, n, &x, fmt, depth);
	if (rc < 0)
		goto err;
	q->zbuf = malloc(q->cluster_size);
	q->cbuf = malloc(2 * q->cluster_size + 512);
	if (!q->zbuf || !q->cbuf) {
		rc = -ENOMEM;
		goto err;
	}
	free(h);
	*out = &q->base;
	return 0;

err:
	free(h);
	q_close(&q->base);
	return rc;
}
