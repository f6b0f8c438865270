/* SPDX-License-Identifier: MIT */
/*
 * VMDK writer: a hosted sparse extent with its descriptor embedded, as
 * monolithicSparse (grain tables preallocated after the directory,
 * grains appended) or streamOptimized (deflated grains with markers;
 * grain tables, directory and footer written at the end, as a stream
 * consumer expects). 64 KiB grains, 512 entries per grain table; only
 * grains holding data are written.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "vdisk/image.h"
#include "vdisk/vdisk-internal.h"
#include "vdisk/vmdk.h"

#define GRAIN_SECTORS 128ull
#define GRAIN_BYTES (GRAIN_SECTORS * 512)
#define GTES 512u
#define GT_SECTORS (GTES * 4 / 512)
#define DESC_SECTORS 20ull
/* Sector numbers in grain tables are 32 bits. */
#define MAX_FILE_SECTORS 0xffffffffull

struct vmdk_writer {
	struct img_writer base;
	int fd;
	bool stream, finished;
	char path[4096];
	uint64_t gd_entries;
	uint64_t gd_sector;          /* sparse: where GD and GTs sit */
	uint32_t **gts;              /* [gd_entries], NULL until used */
	uint64_t next_sector;        /* where the next grain goes */
	unsigned char *zbuf;         /* stream: compressed grain */
	size_t zlen;
	unsigned char *pad;
};

static struct vmdk_writer *
to_vw(struct img_writer *w)
{
	return container_of(w, struct vmdk_writer, base);
}

static uint32_t *
gt_of(struct vmdk_writer *v, uint64_t grain)
{
	uint64_t gdi = grain / GTES;

	if (!v->gts[gdi])
		v->gts[gdi] = calloc(GTES, 4);
	return v->gts[gdi];
}

static int
put_grain_sparse(struct vmdk_writer *v, uint64_t grain, const void *buf)
{
	uint32_t *gt = gt_of(v, grain);
	int rc;

	if (!gt)
		return -ENOMEM;
	if (v->next_sector + GRAIN_SECTORS > MAX_FILE_SECTORS)
		return -EFBIG;
	rc = img_write_at(v->fd, buf, GRAIN_BYTES, v->next_sector * 512);
	if (rc < 0)
		return rc;
	gt[grain % GTES] = htole32((uint32_t)v->next_sector);
	v->next_sector += GRAIN_SECTORS;
	return 0;
}

static int
put_grain_stream(struct vmdk_writer *v, uint64_t grain, const void *buf)
{
	uint32_t *gt = gt_of(v, grain);
	uLongf clen = (uLongf)(v->zlen - 12);
	uint64_t lba = htole64(grain * GRAIN_SECTORS), bytes;
	uint32_t size;

	if (!gt)
		return -ENOMEM;
	if (compress2(v->zbuf + 12, &clen, buf, GRAIN_BYTES, 1) != Z_OK)
		return -EIO;
	size = htole32((uint32_t)clen);
	memcpy(v->zbuf, &lba, 8);
	memcpy(v->zbuf + 8, &size, 4);
	bytes = ALIGN_UP((uint64_t)clen + 12, 512ull);
	memset(v->zbuf + 12 + clen, 0, bytes - 12 - clen);
	if (v->next_sector + bytes / 512 > MAX_FILE_SECTORS)
		return -EFBIG;
	gt[grain % GTES] = htole32((uint32_t)v->next_sector);
	v->next_sector += bytes / 512;
	return img_write_at(v->fd, v->zbuf, bytes, (v->next_sector - bytes / 512) *
			 512);
}

static int
vw_put(struct img_writer *w, uint64_t off, const void *buf, size_t len)
{
	struct vmdk_writer *v = to_vw(w);
	const unsigned char *p = buf;
	int rc;

	if (off % GRAIN_BYTES || off >= w->capacity || len > w->capacity - off)
		return -EINVAL;
	while (len) {
		size_t n = (size_t)MIN((uint64_t)len, GRAIN_BYTES);
		const void *g = p;

		if (n < GRAIN_BYTES) {
			memset(v->pad, 0, GRAIN_BYTES);
			memcpy(v->pad, p, n);
			g = v->pad;
		}
		rc = v->stream ? put_grain_stream(v, off / GRAIN_BYTES, g) :
				 put_grain_sparse(v, off / GRAIN_BYTES, g);
		if (rc == -EFBIG)
			vdisk_err("vdisk.vmdk", "%s: a sparse VMDK extent holds "
				  "at most 2 TiB", v->path);
		if (rc < 0)
			return rc;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static void
fill_header(struct vmdk_writer *v, struct vmdk_header *h, uint64_t gd_sector,
	    uint64_t overhead)
{
	memset(h, 0, sizeof(*h));
	h->magic = htole32(VMDK_MAGIC);
	h->version = htole32(v->stream ? 3 : 1);
	h->flags = htole32(VMDK_FLAG_NL_TEST |
			   (v->stream ? VMDK_FLAG_COMPRESSED |
					VMDK_FLAG_MARKERS : 0));
	h->capacity = htole64(v->base.capacity / 512);
	h->grain_size = htole64(GRAIN_SECTORS);
	h->desc_offset = htole64(1);
	h->desc_size = htole64(DESC_SECTORS);
	h->num_gtes_per_gt = htole32(GTES);
	h->gd_offset = htole64(gd_sector);
	h->overhead = htole64(overhead);
	h->nl_single = '\n';
	h->nl_non = ' ';
	h->nl_double1 = '\r';
	h->nl_double2 = '\n';
	h->compress_algorithm = htole16(v->stream ? VMDK_COMPRESS_DEFLATE : 0);
}

static int
write_descriptor(struct vmdk_writer *v)
{
	char *text = calloc(1, DESC_SECTORS * 512);
	const char *base = strrchr(v->path, '/');
	uint64_t sectors = v->base.capacity / 512;
	uint64_t cyl = MIN(sectors / (16 * 63), 16383ull);
	int rc;

	if (!text)
		return -ENOMEM;
	base = base ? base + 1 : v->path;
	snprintf(text, DESC_SECTORS * 512,
		 "# Disk DescriptorFile\nversion=1\nCID=%08" PRIx32 "\n"
		 "parentCID=ffffffff\ncreateType=\"%s\"\n\n"
		 "# Extent description\nRW %" PRIu64 " SPARSE \"%s\"\n\n"
		 "# The Disk Data Base\n#DDB\n\n"
		 "ddb.virtualHWVersion = \"4\"\n"
		 "ddb.geometry.cylinders = \"%" PRIu64 "\"\n"
		 "ddb.geometry.heads = \"16\"\nddb.geometry.sectors = \"63\"\n"
		 "ddb.adapterType = \"ide\"\n",
		 vdisk_new_cid(), v->stream ? "streamOptimized" :
		 "monolithicSparse", sectors, base, cyl);
	rc = img_write_at(v->fd, text, DESC_SECTORS * 512, 512);
	free(text);
	return rc;
}

static int
finish_sparse(struct vmdk_writer *v)
{
	uint64_t gd_sectors = DIV_ROUND_UP(v->gd_entries * 4, 512ull);
	uint64_t gt0 = v->gd_sector + gd_sectors;
	uint32_t *gd, *zero_gt;
	int rc = 0;

	gd = calloc(gd_sectors, 512);
	zero_gt = calloc(GTES, 4);
	if (!gd || !zero_gt) {
		rc = -ENOMEM;
		goto out;
	}
	/* Every grain table exists (preallocated), used or not. */
	for (uint64_t i = 0; i < v->gd_entries && rc == 0; i++) {
		gd[i] = htole32((uint32_t)(gt0 + i * GT_SECTORS));
		rc = img_write_at(v->fd, v->gts[i] ? v->gts[i] : zero_gt,
			       GTES * 4, (gt0 + i * GT_SECTORS) * 512);
	}
	if (rc == 0)
		rc = img_write_at(v->fd, gd, gd_sectors * 512, v->gd_sector * 512);
out:
	free(gd);
	free(zero_gt);
	return rc;
}

static int
write_marker(struct vmdk_writer *v, uint64_t val, uint32_t type)
{
	struct vmdk_marker m;

	memset(&m, 0, sizeof(m));
	m.val = htole64(val);
	m.type = htole32(type);
	v->next_sector++;
	return img_write_at(v->fd, &m, sizeof(m), (v->next_sector - 1) * 512);
}

static int
finish_stream(struct vmdk_writer *v)
{
	uint64_t gd_sectors = DIV_ROUND_UP(v->gd_entries * 4, 512ull);
	struct vmdk_header h;
	uint32_t *gd;
	int rc = 0;

	gd = calloc(gd_sectors, 512);
	if (!gd)
		return -ENOMEM;
	/* Grain tables only where grains are; an absent one reads zeros. */
	for (uint64_t i = 0; i < v->gd_entries && rc == 0; i++) {
		if (!v->gts[i])
			continue;
		rc = write_marker(v, GT_SECTORS, VMDK_MARKER_GT);
		gd[i] = htole32((uint32_t)v->next_sector);
		if (rc == 0)
			rc = img_write_at(v->fd, v->gts[i], GTES * 4,
				       v->next_sector * 512);
		v->next_sector += GT_SECTORS;
	}
	if (rc == 0)
		rc = write_marker(v, gd_sectors, VMDK_MARKER_GD);
	if (rc == 0) {
		uint64_t gd_at = v->next_sector;

		rc = img_write_at(v->fd, gd, gd_sectors * 512, gd_at * 512);
		v->next_sector += gd_sectors;
		if (rc == 0)
			rc = write_marker(v, 1, VMDK_MARKER_FOOTER);
		fill_header(v, &h, gd_at, GRAIN_SECTORS);
		if (rc == 0)
			rc = img_write_at(v->fd, &h, sizeof(h),
				       v->next_sector * 512);
		v->next_sector++;
		if (rc == 0)
			rc = write_marker(v, 0, VMDK_MARKER_EOS);
	}
	free(gd);
	return rc;
}

static int
vw_finish(struct img_writer *w)
{
	struct vmdk_writer *v = to_vw(w);
	struct vmdk_header h;
	int rc;

	rc = v->stream ? finish_stream(v) : finish_sparse(v);
	if (rc < 0)
		return rc;
	fill_header(v, &h, v->stream ? VMDK_GD_AT_END : v->gd_sector,
		    v->stream ? GRAIN_SECTORS :
		    ALIGN_UP(v->gd_sector + DIV_ROUND_UP(v->gd_entries * 4,
							 512ull) +
			     v->gd_entries * GT_SECTORS, GRAIN_SECTORS));
	rc = img_write_at(v->fd, &h, sizeof(h), 0);
	if (rc == 0)
		rc = write_descriptor(v);
	if (rc == 0 && ftruncate(v->fd, (off_t)(v->next_sector * 512)) < 0)
		rc = -errno;
	if (rc == 0 && fdatasync(v->fd) < 0)
		rc = -errno;
	if (rc == 0)
		v->finished = true;
	return rc;
}

static void
vw_close(struct img_writer *w)
{
	struct vmdk_writer *v = to_vw(w);

	close(v->fd);
	if (!v->finished)
		unlink(v->path);
	for (uint64_t i = 0; v->gts && i < v->gd_entries; i++)
		free(v->gts[i]);
	free(v->gts);
	free(v->zbuf);
	free(v->pad);
	free(v);
}

static const struct img_writer_ops vmdk_writer_ops = {
	.put = vw_put,
	.finish = vw_finish,
	.close = vw_close,
};

int
img_vmdk_create(const char *path, uint64_t capacity, bool stream,
		struct img_writer **out)
{
	struct vmdk_writer *v;
	uint64_t gd_sectors;
	int err;

	if (capacity / 512 > MAX_FILE_SECTORS / 2) {
		vdisk_err("vdisk.vmdk", "%s: a sparse VMDK extent holds at most "
			  "2 TiB", path);
		return -EFBIG;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (v->fd < 0) {
		err = -errno;
		vdisk_err("vdisk.vmdk", "%s: %s", path, strerror(-err));
		free(v);
		return err;
	}
	snprintf(v->path, sizeof(v->path), "%s", path);
	v->base.ops = &vmdk_writer_ops;
	v->base.capacity = capacity;
	v->base.unit = GRAIN_BYTES;
	v->stream = stream;
	v->gd_entries = DIV_ROUND_UP(DIV_ROUND_UP(capacity, GRAIN_BYTES),
				     (uint64_t)GTES);
	gd_sectors = DIV_ROUND_UP(v->gd_entries * 4, 512ull);
	v->gd_sector = 1 + DESC_SECTORS;
	v->next_sector = stream ? GRAIN_SECTORS :
			 ALIGN_UP(v->gd_sector + gd_sectors +
				  v->gd_entries * GT_SECTORS, GRAIN_SECTORS);
	v->gts = calloc(v->gd_entries, sizeof(*v->gts));
	v->pad = malloc(GRAIN_BYTES);
	v->zlen = compressBound(GRAIN_BYTES) + 512 + 12;
	v->zbuf = stream ? malloc(v->zlen) : NULL;
	if (!v->gts || !v->pad || (stream && !v->zbuf)) {
		vw_close(&v->base);
		return -ENOMEM;
	}
	*out = &v->base;
	return 0;
}
