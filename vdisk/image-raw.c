/* SPDX-License-Identifier: MIT */
/*
 * Raw images: reader (holes found with SEEK_DATA/SEEK_HOLE, so a sparse
 * file's holes are skipped without reading them) and writer (a sparse
 * file; only data is written, the size is set up front).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "vdisk/image.h"
#include "vdisk/vdisk-internal.h"

struct raw_reader {
	struct img_reader base;
	struct img_src *src;
	int fd;
};

static struct raw_reader *
to_raw(struct img_reader *r)
{
	return container_of(r, struct raw_reader, base);
}

static int
raw_read(struct img_reader *r, void *buf, size_t len, uint64_t off)
{
	struct raw_reader *rr = to_raw(r);

	return rr->src->pread(rr->src, buf, len, off);
}

static int
raw_status(struct img_reader *r, uint64_t off, uint64_t len, uint64_t *n)
{
	struct raw_reader *rr = to_raw(r);
	off_t data, hole;

	if (rr->fd < 0) {
		*n = len;
		return VDISK_EXTENT_DATA | VDISK_EXTENT_ALLOCATED;
	}
	data = lseek(rr->fd, (off_t)off, SEEK_DATA);
	if (data < 0 && errno != ENXIO) {
		/* No hole support: everything is data. */
		*n = len;
		return VDISK_EXTENT_DATA | VDISK_EXTENT_ALLOCATED;
	}
	if (data < 0 || (uint64_t)data >= off + len) {
		*n = len;
		return VDISK_EXTENT_ZERO;
	}
	if ((uint64_t)data > off) {
		*n = (uint64_t)data - off;
		return VDISK_EXTENT_ZERO;
	}
	hole = lseek(rr->fd, (off_t)off, SEEK_HOLE);
	if (hole < 0 || (uint64_t)hole > off + len)
		hole = (off_t)(off + len);
	*n = (uint64_t)hole - off;
	if (*n == 0)
		*n = len;
	return VDISK_EXTENT_DATA | VDISK_EXTENT_ALLOCATED;
}

static void
raw_close(struct img_reader *r)
{
	struct raw_reader *rr = to_raw(r);

	rr->src->close(rr->src);
	free(rr);
}

static const struct img_reader_ops raw_reader_ops = {
	.read = raw_read,
	.status = raw_status,
	.close = raw_close,
};

int
img_raw_open(struct img_src *src, struct img_reader **out)
{
	struct raw_reader *rr = calloc(1, sizeof(*rr));

	if (!rr) {
		src->close(src);
		return -ENOMEM;
	}
	rr->src = src;
	rr->fd = img_src_fd(src);
	rr->base.ops = &raw_reader_ops;
	rr->base.capacity = src->size;
	rr->base.fmt = VDISK_FMT_RAW;
	*out = &rr->base;
	return 0;
}

/* ---- writer ---- */

int
img_write_at(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done,
				   (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	sync_file_range(fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
	return 0;
}

struct raw_writer {
	struct img_writer base;
	int fd;
	bool finished;
	char path[4096];
};

static struct raw_writer *
to_raww(struct img_writer *w)
{
	return container_of(w, struct raw_writer, base);
}

static int
raw_put(struct img_writer *w, uint64_t off, const void *buf, size_t len)
{
	return img_write_at(to_raww(w)->fd, buf, len, off);
}

static int
raw_finish(struct img_writer *w)
{
	struct raw_writer *rw = to_raww(w);

	if (fdatasync(rw->fd) < 0)
		return -errno;
	rw->finished = true;
	return 0;
}

static void
raw_wclose(struct img_writer *w)
{
	struct raw_writer *rw = to_raww(w);

	close(rw->fd);
	if (!rw->finished)
		unlink(rw->path);
	free(rw);
}

static const struct img_writer_ops raw_writer_ops = {
	.put = raw_put,
	.finish = raw_finish,
	.close = raw_wclose,
};

int
img_raw_create(const char *path, uint64_t capacity, struct img_writer **out)
{
	struct raw_writer *rw = calloc(1, sizeof(*rw));
	int err;

	if (!rw)
		return -ENOMEM;
	rw->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (rw->fd < 0) {
		err = -errno;
		free(rw);
		vdisk_err("vdisk", "%s: %s", path, strerror(-err));
		return err;
	}
	snprintf(rw->path, sizeof(rw->path), "%s", path);
	if (ftruncate(rw->fd, (off_t)capacity) < 0) {
		err = -errno;
		close(rw->fd);
		unlink(path);
		free(rw);
		return err;
	}
	rw->base.ops = &raw_writer_ops;
	rw->base.capacity = capacity;
	rw->base.unit = 4096;
	*out = &rw->base;
	return 0;
}
