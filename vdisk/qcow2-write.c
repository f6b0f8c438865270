/* SPDX-License-Identifier: MIT */
/*
 * qcow2 writer: version 3, 64 KiB clusters, 16-bit refcounts, no
 * compression. Data arrives in increasing offsets, so the file is laid
 * out in one pass: header, L1 table, then each L2 table followed by the
 * data clusters it maps; the refcount table and blocks go at the end,
 * when every cluster is known. Only clusters with data are written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vdisk/image.h"
#include "vdisk/qcow2.h"
#include "vdisk/vdisk-internal.h"

#define CBITS 16
#define CSIZE (1ull << CBITS)
#define L2_ENTRIES (CSIZE / 8)
#define RC_PER_BLOCK (CSIZE / 2)    /* 16-bit refcounts */

struct qcow2_writer {
	struct img_writer base;
	int fd;
	bool finished;
	char path[4096];
	uint32_t l1_size;
	uint64_t *l1;                 /* host order, offsets */
	uint64_t l1_off;
	uint64_t next;                /* next free host offset */
	uint64_t l2_index;            /* which L2 'l2' holds; UINT64_MAX none */
	uint64_t l2_off;
	uint64_t *l2;
	unsigned char *pad;           /* one zeroed cluster for tails */
	char backing[1024];           /* "" without a backing file */
};

static struct qcow2_writer *
to_qw(struct img_writer *w)
{
	return container_of(w, struct qcow2_writer, base);
}

static int
flush_l2(struct qcow2_writer *q)
{
	unsigned char *raw;
	int rc;

	if (q->l2_index == UINT64_MAX)
		return 0;
	raw = malloc(CSIZE);
	if (!raw)
		return -ENOMEM;
	for (uint64_t i = 0; i < L2_ENTRIES; i++)
		qcow2_put64(raw + i * 8, q->l2[i] ? q->l2[i] |
				QCOW2_OFLAG_COPIED : 0);
	rc = img_write_at(q->fd, raw, CSIZE, q->l2_off);
	free(raw);
	q->l2_index = UINT64_MAX;
	return rc;
}

/* Makes the L2 table for virtual cluster 'vc' current. */
static int
l2_for(struct qcow2_writer *q, uint64_t vc)
{
	uint64_t idx = vc / L2_ENTRIES;
	int rc;

	if (idx == q->l2_index)
		return 0;
	if (q->l1[idx])
		return -EINVAL; /* offsets must increase */
	rc = flush_l2(q);
	if (rc < 0)
		return rc;
	memset(q->l2, 0, CSIZE);
	q->l2_index = idx;
	q->l2_off = q->next;
	q->l1[idx] = q->l2_off;
	q->next += CSIZE;
	return 0;
}

static int
qw_put(struct img_writer *w, uint64_t off, const void *buf, size_t len)
{
	struct qcow2_writer *q = to_qw(w);
	const unsigned char *p = buf;
	int rc;

	if (off % CSIZE || off >= w->capacity || len > w->capacity - off)
		return -EINVAL;
	while (len) {
		uint64_t vc = off / CSIZE;
		/* Clusters until the end of this L2 table's range. */
		uint64_t room = (L2_ENTRIES - vc % L2_ENTRIES) * CSIZE;
		size_t n = (size_t)MIN((uint64_t)len, room), full;

		rc = l2_for(q, vc);
		if (rc < 0)
			return rc;
		for (uint64_t i = 0; i < DIV_ROUND_UP(n, CSIZE); i++)
			q->l2[(vc + i) % L2_ENTRIES] = q->next + i * CSIZE;
		full = ALIGN_DOWN(n, (size_t)CSIZE);
		rc = img_write_at(q->fd, p, full, q->next);
		if (rc == 0 && n > full) {
			/* The disk's last, short cluster: pad with zeros. */
			memset(q->pad, 0, CSIZE);
			memcpy(q->pad, p + full, n - full);
			rc = img_write_at(q->fd, q->pad, CSIZE, q->next + full);
		}
		if (rc < 0)
			return rc;
		q->next += ALIGN_UP((uint64_t)n, CSIZE);
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int
write_refcounts(struct qcow2_writer *q, uint64_t *rt_off, uint32_t *rt_clusters)
{
	uint64_t data_clusters = q->next / CSIZE, blocks = 0, rtc = 0, total;
	unsigned char *blk = NULL, *rt = NULL;
	int rc = 0;

	/* Refcount blocks and table count themselves: iterate to fit. */
	for (;;) {
		total = data_clusters + blocks + rtc;
		uint64_t nb = DIV_ROUND_UP(total, RC_PER_BLOCK);
		uint64_t nt = DIV_ROUND_UP(nb * 8, CSIZE);

		if (nb == blocks && nt == rtc)
			break;
		blocks = nb;
		rtc = nt;
	}
	*rt_off = q->next + blocks * CSIZE;
	*rt_clusters = (uint32_t)rtc;
	blk = malloc(CSIZE);
	rt = calloc(rtc, CSIZE);
	if (!blk || !rt) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint64_t b = 0; b < blocks && rc == 0; b++) {
		uint64_t first = b * RC_PER_BLOCK;

		memset(blk, 0, CSIZE);
		for (uint64_t i = 0; i < RC_PER_BLOCK && first + i < total; i++) {
			blk[i * 2] = 0;
			blk[i * 2 + 1] = 1;
		}
		rc = img_write_at(q->fd, blk, CSIZE, q->next + b * CSIZE);
		qcow2_put64(rt + b * 8, q->next + b * CSIZE);
	}
	if (rc == 0)
		rc = img_write_at(q->fd, rt, rtc * CSIZE, *rt_off);
	q->next = *rt_off + rtc * CSIZE;
out:
	free(blk);
	free(rt);
	return rc;
}

/*
 * An overlay: the backing format extension ("qcow2") in place of the end
 * marker, then the end marker, and the backing name at BACKING_AT, all
 * inside the header cluster.
 */
#define BACKING_AT 1024u

static int
write_backing(struct qcow2_writer *q)
{
	unsigned char ext[32], hdr[12];
	size_t n = strlen(q->backing);
	int rc;

	memset(ext, 0, sizeof(ext));
	qcow2_put32(ext, QCOW2_EXT_BACKING_FORMAT);
	qcow2_put32(ext + 4, 5);
	memcpy(ext + 8, "qcow2", 5);
	/* ext + 16: the end marker (zeros). */
	rc = img_write_at(q->fd, ext, 24, QCOW2_HDR_V3_BYTES);
	if (rc == 0)
		rc = img_write_at(q->fd, q->backing, n, BACKING_AT);
	qcow2_put64(hdr, BACKING_AT);
	qcow2_put32(hdr + 8, (uint32_t)n);
	if (rc == 0)
		rc = img_write_at(q->fd, hdr, 12, QH_BACKING_OFFSET);
	return rc;
}

static int
qw_finish(struct img_writer *w)
{
	struct qcow2_writer *q = to_qw(w);
	unsigned char *l1raw, hdr[QCOW2_HDR_V3_BYTES + 8];
	uint32_t rt_clusters = 0;
	uint64_t rt_off = 0;
	int rc;

	rc = flush_l2(q);
	if (rc < 0)
		return rc;
	l1raw = calloc(q->l1_size ? q->l1_size : 1, 8);
	if (!l1raw)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->l1_size; i++)
		qcow2_put64(l1raw + (size_t)i * 8,
			    q->l1[i] ? q->l1[i] | QCOW2_OFLAG_COPIED : 0);
	rc = img_write_at(q->fd, l1raw, (size_t)q->l1_size * 8, q->l1_off);
	free(l1raw);
	if (rc == 0)
		rc = write_refcounts(q, &rt_off, &rt_clusters);
	if (rc < 0)
		return rc;
	memset(hdr, 0, sizeof(hdr));
	qcow2_put32(hdr + QH_MAGIC, QCOW2_MAGIC);
	qcow2_put32(hdr + QH_VERSION, 3);
	qcow2_put32(hdr + QH_CLUSTER_BITS, CBITS);
	qcow2_put64(hdr + QH_SIZE, w->capacity);
	qcow2_put32(hdr + QH_L1_SIZE, q->l1_size);
	qcow2_put64(hdr + QH_L1_OFFSET, q->l1_off);
	qcow2_put64(hdr + QH_REFCOUNT_OFFSET, rt_off);
	qcow2_put32(hdr + QH_REFCOUNT_CLUSTERS, rt_clusters);
	qcow2_put32(hdr + QH_REFCOUNT_ORDER, 4);
	qcow2_put32(hdr + QH_HEADER_LENGTH, QCOW2_HDR_V3_BYTES);
	/* Then 8 zero bytes: the end-of-extensions marker. */
	rc = img_write_at(q->fd, hdr, sizeof(hdr), 0);
	if (rc == 0 && q->backing[0])
		rc = write_backing(q);
	if (rc == 0 && ftruncate(q->fd, (off_t)q->next) < 0)
		rc = -errno;
	if (rc == 0 && fdatasync(q->fd) < 0)
		rc = -errno;
	if (rc == 0)
		q->finished = true;
	return rc;
}

static void
qw_close(struct img_writer *w)
{
	struct qcow2_writer *q = to_qw(w);

	close(q->fd);
	if (!q->finished)
		unlink(q->path);
	free(q->l1);
	free(q->l2);
	free(q->pad);
	free(q);
}

static const struct img_writer_ops qcow2_writer_ops = {
	.put = qw_put,
	.finish = qw_finish,
	.close = qw_close,
};

int
img_qcow2_create_backed(const char *path, uint64_t capacity,
			const char *backing, struct img_writer **out)
{
	struct qcow2_writer *q;
	int rc;

	if (strlen(backing) >= sizeof(q->backing) ||
	    strlen(backing) > CSIZE - BACKING_AT)
		return -ENAMETOOLONG;
	rc = img_qcow2_create(path, capacity, out);
	if (rc < 0)
		return rc;
	q = to_qw(*out);
	snprintf(q->backing, sizeof(q->backing), "%s", backing);
	return 0;
}

int
img_qcow2_create(const char *path, uint64_t capacity, struct img_writer **out)
{
	struct qcow2_writer *q;
	uint64_t l1_size = DIV_ROUND_UP(capacity, CSIZE * L2_ENTRIES);
	int err;

	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (q->fd < 0) {
		err = -errno;
		vdisk_err("vdisk.qcow2", "%s: %s", path, strerror(-err));
		free(q);
		return err;
	}
	snprintf(q->path, sizeof(q->path), "%s", path);
	q->base.ops = &qcow2_writer_ops;
	q->base.capacity = capacity;
	q->base.unit = CSIZE;
	q->l1_size = (uint32_t)l1_size;
	q->l1 = calloc(l1_size ? l1_size : 1, 8);
	q->l2 = malloc(CSIZE);
	q->pad = malloc(CSIZE);
	q->l2_index = UINT64_MAX;
	q->l1_off = CSIZE;
	q->next = CSIZE + ALIGN_UP(l1_size * 8, CSIZE);
	if (!q->l1 || !q->l2 || !q->pad) {
		qw_close(&q->base);
		return -ENOMEM;
	}
	*out = &q->base;
	return 0;
}
