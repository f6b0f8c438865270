/* SPDX-License-Identifier: MIT */
/*
 * Import, export and the copy loop under them (and under clone): walk
 * the source's allocation status, read only what holds data, and hand the
 * writer only IMG_UNIT pieces that are not all zeros. Zero and
 * unallocated ranges are never written. Also the byte sources parsers
 * read from and format probing.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/progress.h"
#include "vdisk/image.h"
#include "vdisk/vdisk-internal.h"

#define COPY_CHUNK (4u << 20)

/* ---- byte sources ---- */

struct file_src {
	struct img_src base;
	int fd;
};

static int
file_src_pread(struct img_src *s, void *buf, size_t len, uint64_t off)
{
	struct file_src *f = container_of(s, struct file_src, base);
	size_t done = 0;

	if (off > s->size || len > s->size - off)
		return -EUCLEAN;
	while (done < len) {
		ssize_t n = pread(f->fd, (char *)buf + done, len - done,
				  (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EUCLEAN; /* shrank under us */
		done += (size_t)n;
	}
	return 0;
}

static void
file_src_close(struct img_src *s)
{
	struct file_src *f = container_of(s, struct file_src, base);

	close(f->fd);
	free(f);
}

int
img_src_fd(struct img_src *s)
{
	if (s->pread != file_src_pread)
		return -1;
	return container_of(s, struct file_src, base)->fd;
}

int
img_src_file_open(const char *path, struct img_src **out)
{
	struct file_src *f;
	struct stat st;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0 || fstat(f->fd, &st) < 0) {
		int err = -errno;

		if (f->fd >= 0)
			close(f->fd);
		free(f);
		return err;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		close(f->fd);
		free(f);
		return -EINVAL;
	}
	f->base.size = (uint64_t)st.st_size;
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(f->fd, 0, SEEK_END);

		f->base.size = end > 0 ? (uint64_t)end : 0;
	}
	f->base.pread = file_src_pread;
	f->base.close = file_src_close;
	snprintf(f->base.path, sizeof(f->base.path), "%s", path);
	*out = &f->base;
	return 0;
}

struct mem_src {
	struct img_src base;
	const unsigned char *buf;
};

static int
mem_src_pread(struct img_src *s, void *buf, size_t len, uint64_t off)
{
	struct mem_src *m = container_of(s, struct mem_src, base);

	if (off > s->size || len > s->size - off)
		return -EUCLEAN;
	memcpy(buf, m->buf + off, len);
	return 0;
}

static void
mem_src_close(struct img_src *s)
{
	free(container_of(s, struct mem_src, base));
}

int
img_src_mem_open(const void *buf, size_t len, struct img_src **out)
{
	struct mem_src *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->buf = buf;
	m->base.size = len;
	m->base.pread = mem_src_pread;
	m->base.close = mem_src_close;
	snprintf(m->base.path, sizeof(m->base.path), "<memory>");
	*out = &m->base;
	return 0;
}

/* ---- probing ---- */

static bool
looks_like_descriptor(const unsigned char *b, size_t n)
{
	size_t printable = 0;

	if (n >= 21 && !memcmp(b, "# Disk DescriptorFile", 21))
		return true;
	for (size_t i = 0; i < n; i++)
		if ((b[i] >= 0x20 && b[i] < 0x7f) || b[i] == '\n' ||
		    b[i] == '\r' || b[i] == '\t')
			printable++;
	return printable == n && memmem(b, n, "createType", 10) != NULL;
}

int
img_probe_src(struct img_src *src, enum vdisk_format *out)
{
	unsigned char b[1024];
	size_t n = (size_t)MIN(src->size, (uint64_t)sizeof(b));
	int rc;

	rc = src->pread(src, b, n, 0);
	if (rc < 0)
		return rc;
	if (n >= 4 && !memcmp(b, "QFI\xfb", 4))
		*out = VDISK_FMT_QCOW2;
	else if (n >= 4 && !memcmp(b, "KDMV", 4))
		*out = VDISK_FMT_VMDK;
	else if (n > 0 && looks_like_descriptor(b, n))
		*out = VDISK_FMT_VMDK;
	else
		*out = VDISK_FMT_RAW;
	return 0;
}

int
vdisk_image_probe(const char *path, enum vdisk_format *out)
{
	struct img_src *src;
	int rc;

	rc = img_src_file_open(path, &src);
	if (rc < 0)
		return rc;
	rc = img_probe_src(src, out);
	src->close(src);
	return rc;
}

static const char *const fmt_names[] = {
	[VDISK_FMT_AUTO] = "auto",
	[VDISK_FMT_RAW] = "raw",
	[VDISK_FMT_QCOW2] = "qcow2",
	[VDISK_FMT_VMDK] = "vmdk",
	[VDISK_FMT_VMDK_STREAM] = "vmdk-stream",
};

const char *
vdisk_format_name(enum vdisk_format fmt)
{
	if ((unsigned int)fmt >= ARRAY_SIZE(fmt_names))
		return "?";
	return fmt_names[fmt];
}

int
vdisk_format_parse(const char *name, enum vdisk_format *out)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(fmt_names); i++) {
		if (!strcmp(name, fmt_names[i])) {
			*out = (enum vdisk_format)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Opens an image from an already open source (which it then owns). */
static int
open_src(struct img_src *src, enum vdisk_format fmt, struct img_reader **out)
{
	int rc;

	if (fmt == VDISK_FMT_AUTO) {
		rc = img_probe_src(src, &fmt);
		if (rc < 0)
			goto err;
	}
	switch (fmt) {
	case VDISK_FMT_RAW:
		return img_raw_open(src, out);
	case VDISK_FMT_QCOW2:
		return img_qcow2_open(src, 0, out);
	case VDISK_FMT_VMDK:
	case VDISK_FMT_VMDK_STREAM:
		return img_vmdk_open(src, out);
	default:
		rc = -EINVAL;
	}
err:
	src->close(src);
	return rc;
}

int
img_open(const char *path, enum vdisk_format fmt, struct img_reader **out)
{
	struct img_src *src;
	int rc;

	rc = img_src_file_open(path, &src);
	if (rc < 0) {
		vdisk_err("vdisk", "%s: %s", path, strerror(-rc));
		return rc;
	}
	return open_src(src, fmt, out);
}

void
img_close(struct img_reader *r)
{
	if (r)
		r->ops->close(r);
}

int
vdisk_image_capacity(const char *path, enum vdisk_format fmt, uint64_t *out)
{
	struct img_reader *r;
	int rc;

	rc = img_open(path, fmt, &r);
	if (rc < 0)
		return rc;
	*out = r->capacity;
	img_close(r);
	return 0;
}

/* ---- the copy loop ---- */

struct copier {
	struct img_reader *r;
	struct img_writer *w;
	unsigned char *buf;
	uint64_t written;
};

/* Hands the writer the non-zero units of buf = [pos, pos+len). */
static int
emit(struct copier *c, uint64_t pos, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t run_start, u;

		u = (size_t)MIN((uint64_t)c->w->unit, len - i);
		if (vdisk_buf_is_zero(c->buf + i, u)) {
			i += u;
			continue;
		}
		run_start = i;
		while (i < len) {
			u = (size_t)MIN((uint64_t)c->w->unit, len - i);
			if (vdisk_buf_is_zero(c->buf + i, u))
				break;
			i += u;
		}
		int rc = c->w->ops->put(c->w, pos + run_start,
					c->buf + run_start, i - run_start);
		if (rc < 0)
			return rc;
		c->written += i - run_start;
	}
	return 0;
}

int
img_copy(struct img_reader *r, struct img_writer *w,
	 struct progress *progress, struct vdisk_convert_stats *stats)
{
	struct copier c = { .r = r, .w = w };
	uint64_t cap = r->capacity, off = 0, done_upto = 0;
	int rc = 0;

	if (posix_memalign((void **)&c.buf, 4096, COPY_CHUNK))
		return -ENOMEM;
	while (off < cap && rc == 0) {
		uint64_t n, s, e;
		int fl = r->ops->status(r, off, cap - off, &n);

		if (fl < 0) {
			rc = fl;
			break;
		}
		if (n == 0 || n > cap - off) {
			rc = -EUCLEAN;
			break;
		}
		if (!(fl & VDISK_EXTENT_DATA) || (fl & VDISK_EXTENT_ZERO)) {
			off += n;
			continue;
		}
		/* Whole units around the data, each read once. */
		s = MAX(ALIGN_DOWN(off, (uint64_t)IMG_UNIT), done_upto);
		e = MIN(ALIGN_UP(off + n, (uint64_t)IMG_UNIT), cap);
		while (s < e && rc == 0) {
			size_t len = (size_t)MIN((uint64_t)COPY_CHUNK, e - s);

			rc = r->ops->read(r, c.buf, len, s);
			if (rc == 0)
				rc = emit(&c, s, len);
			s += len;
			progress_update(progress, s);
		}
		done_upto = MAX(done_upto, e);
		off += n;
	}
	free(c.buf);
	if (stats) {
		stats->bytes_written = c.written;
		stats->bytes_skipped = cap - c.written;
	}
	return rc;
}

/* ---- import and export ---- */

int
vdisk_import(const char *src, enum vdisk_format fmt, const char *dst,
	     enum vdisk_type type, struct progress *progress,
	     struct vdisk_convert_stats *stats)
{
	struct img_reader *r;
	int rc;

	rc = img_open(src, fmt, &r);
	if (rc < 0)
		return rc;
	rc = vdisk_fill_new(r, dst, type, false, progress, stats);
	img_close(r);
	return rc;
}

int
vdisk_export(const char *src, const char *dst, enum vdisk_format fmt,
	     struct progress *progress, struct vdisk_convert_stats *stats)
{
	struct img_writer *w = NULL;
	struct img_reader *r;
	struct vdisk *disk;
	uint64_t cap;
	int rc;

	rc = vdisk_open(src, VDISK_OPEN_RDONLY, &disk);
	if (rc < 0)
		return rc;
	cap = vdisk_capacity(disk);
	switch (fmt) {
	case VDISK_FMT_RAW:
		rc = img_raw_create(dst, cap, &w);
		break;
	case VDISK_FMT_QCOW2:
		rc = img_qcow2_create(dst, cap, &w);
		break;
	case VDISK_FMT_VMDK:
	case VDISK_FMT_VMDK_STREAM:
		rc = img_vmdk_create(dst, cap, fmt == VDISK_FMT_VMDK_STREAM, &w);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc < 0)
		goto out_disk;
	rc = img_disk_reader(disk, &r);
	if (rc < 0)
		goto out_w;
	rc = img_copy(r, w, progress, stats);
	if (rc == 0)
		rc = w->ops->finish(w);
	img_close(r);
out_w:
	w->ops->close(w);
out_disk:
	vdisk_close(disk);
	return rc;
}
