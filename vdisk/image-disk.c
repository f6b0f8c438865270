/* SPDX-License-Identifier: MIT */
/*
 * Our own disks as image reader (export, clone) and writer (import,
 * clone), on the synchronous helpers of an open disk.
 */
#include <errno.h>
#include <stdlib.h>

#include "vdisk/image.h"
#include "vdisk/vdisk-internal.h"

/* Status is asked extent by extent; a bounded window keeps it cheap. */
#define STATUS_WINDOW (1ull << 30)

struct disk_reader {
	struct img_reader base;
	struct vdisk *disk;
};

struct first_extent {
	uint64_t len;
	unsigned int flags;
};

static int
take_first(void *priv, uint64_t off, uint64_t len, unsigned int flags)
{
	struct first_extent *fe = priv;

	fe->len = len;
	fe->flags = flags;
	return 1; /* stop after one */
}

static int
dr_read(struct img_reader *r, void *buf, size_t len, uint64_t off)
{
	return vdisk_pread(container_of(r, struct disk_reader, base)->disk, buf,
			   len, off);
}

static int
dr_status(struct img_reader *r, uint64_t off, uint64_t len, uint64_t *n)
{
	struct disk_reader *dr = container_of(r, struct disk_reader, base);
	struct first_extent fe = { 0, 0 };
	int rc;

	rc = vdisk_map(dr->disk, off, MIN(len, STATUS_WINDOW), take_first, &fe);
	if (rc < 0)
		return rc;
	if (fe.len == 0)
		return -EIO;
	*n = fe.len;
	return (int)fe.flags;
}

static void
dr_close(struct img_reader *r)
{
	free(container_of(r, struct disk_reader, base));
}

static const struct img_reader_ops disk_reader_ops = {
	.read = dr_read,
	.status = dr_status,
	.close = dr_close,
};

int
img_disk_reader(struct vdisk *disk, struct img_reader **out)
{
	struct disk_reader *dr = calloc(1, sizeof(*dr));

	if (!dr)
		return -ENOMEM;
	dr->disk = disk;
	dr->base.ops = &disk_reader_ops;
	dr->base.capacity = vdisk_capacity(disk);
	*out = &dr->base;
	return 0;
}

struct disk_writer {
	struct img_writer base;
	struct vdisk *disk;
};

static int
dw_put(struct img_writer *w, uint64_t off, const void *buf, size_t len)
{
	struct vdisk *disk = container_of(w, struct disk_writer, base)->disk;
	int rc = vdisk_pwrite(disk, buf, len, off);

	/* Overlap the device writes with the rest of the copy. */
	if (rc == 0 && disk->data_cached && disk->store->ops->writeback)
		disk->store->ops->writeback(disk->data_cached, off, len);
	return rc;
}

static int
dw_finish(struct img_writer *w)
{
	return vdisk_sync(container_of(w, struct disk_writer, base)->disk);
}

static void
dw_close(struct img_writer *w)
{
	free(container_of(w, struct disk_writer, base));
}

static const struct img_writer_ops disk_writer_ops = {
	.put = dw_put,
	.finish = dw_finish,
	.close = dw_close,
};

int
img_disk_writer(struct vdisk *disk, struct img_writer **out)
{
	struct disk_writer *dw = calloc(1, sizeof(*dw));

	if (!dw)
		return -ENOMEM;
	dw->disk = disk;
	dw->base.ops = &disk_writer_ops;
	dw->base.capacity = vdisk_capacity(disk);
	dw->base.unit = 4096;
	*out = &dw->base;
	return 0;
}
