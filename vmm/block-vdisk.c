/* SPDX-License-Identifier: MIT */
/*
 * Disks through the vdisk I/O engine (block.h): vdisk descriptors on a
 * local filesystem and disks in the clustered datastore
 * ("LUN:/vm1/disk.vmdk"). The disk is opened, and its lock taken, when
 * the VM is built and held until the VM ends, so a second VM (on this
 * host or another one sharing the LUN) is refused with the holder's
 * name. Each I/O thread gets its own engine queue in attach(): the
 * engine's local rings accept submissions from their creating thread
 * only.
 *
 * Guest requests map one to one onto engine requests (read, write,
 * flush, discard, write-zeroes) with the guest's own buffers, except
 * when a buffer is not 512-byte aligned or sized, which the engine
 * refuses: such requests go through a bounce buffer (Linux never sends
 * them; a hostile or odd guest may).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "vdisk/vdisk.h"
#include "vmm/block.h"

/* Largest request that may be bounced; bigger unaligned ones fail. */
#define BOUNCE_MAX (4u << 20)
/* Bounce buffers up to this size are kept for the next request. */
#define BOUNCE_KEEP (256u << 10)

struct slot {
	struct vdisk_io vio;
	struct vmm_blk_io *io;
	struct iovec biov;        /* the bounce buffer, when used */
	void *bounce;
	size_t bounce_cap;
	struct slot *next_free;
};

struct blk_vdisk {
	struct vmm_blk_backend base;
	struct vdisk *disk;
	struct vdisk_queue *q;    /* while attached */
	unsigned int depth;
	struct slot *slots;
	struct slot *free;
};

static struct blk_vdisk *
to_bv(struct vmm_blk_backend *b)
{
	return container_of(b, struct blk_vdisk, base);
}

static bool
iov_aligned(const struct vmm_blk_io *io, uint64_t *total)
{
	bool ok = io->niov > 0;

	*total = 0;
	for (unsigned int i = 0; i < io->niov; i++) {
		if ((uintptr_t)io->iov[i].iov_base % VDISK_SECTOR ||
		    io->iov[i].iov_len % VDISK_SECTOR)
			ok = false;
		*total += io->iov[i].iov_len;
	}
	return ok;
}

static void
copy_iov(const struct vmm_blk_io *io, void *buf, bool to_buf)
{
	uint8_t *p = buf;

	for (unsigned int i = 0; i < io->niov; i++) {
		if (to_buf)
			memcpy(p, io->iov[i].iov_base, io->iov[i].iov_len);
		else
			memcpy(io->iov[i].iov_base, p, io->iov[i].iov_len);
		p += io->iov[i].iov_len;
	}
}

static void
slot_put(struct blk_vdisk *bv, struct slot *s)
{
	if (s->bounce && s->bounce_cap > BOUNCE_KEEP) {
		free(s->bounce);
		s->bounce = NULL;
		s->bounce_cap = 0;
	}
	s->io = NULL;
	s->next_free = bv->free;
	bv->free = s;
}

static void
vio_done(struct vdisk_io *vio)
{
	struct slot *s = container_of(vio, struct slot, vio);
	struct blk_vdisk *bv = vio->priv;
	struct vmm_blk_io *io = s->io;
	int64_t res = vio->result;

	if (res >= 0 && vio->iov == &s->biov && io->op == VMM_BLK_READ)
		copy_iov(io, s->bounce, false);
	/* Flush, discard and write-zeroes report 0 to the device model. */
	if (res >= 0 && io->op != VMM_BLK_READ && io->op != VMM_BLK_WRITE)
		res = 0;
	slot_put(bv, s);
	io->done(io, res);
}

/* Points the engine request at a bounce buffer holding 'len' bytes. */
static int
use_bounce(struct slot *s, const struct vmm_blk_io *io, uint64_t len)
{
	if (len == 0 || len % VDISK_SECTOR || len > BOUNCE_MAX)
		return -EINVAL;
	if (s->bounce_cap < len) {
		void *p;

		if (posix_memalign(&p, 4096, len))
			return -ENOMEM;
		free(s->bounce);
		s->bounce = p;
		s->bounce_cap = len;
	}
	if (io->op == VMM_BLK_WRITE)
		copy_iov(io, s->bounce, true);
	s->biov.iov_base = s->bounce;
	s->biov.iov_len = len;
	s->vio.iov = &s->biov;
	s->vio.iovcnt = 1;
	s->vio.len_bytes = len;
	return 0;
}

static int
prep_rw(struct slot *s, const struct vmm_blk_io *io)
{
	uint64_t len;

	if (io->op == VMM_BLK_READ)
		vdisk_io_prep_read(&s->vio, io->offset, NULL, 0);
	else
		vdisk_io_prep_write(&s->vio, io->offset, NULL, 0, 0);
	if (!iov_aligned(io, &len))
		return use_bounce(s, io, len);
	s->vio.iov = io->iov;
	s->vio.iovcnt = io->niov;
	s->vio.len_bytes = len;
	return 0;
}

static int
bv_submit(struct vmm_blk_backend *b, struct vmm_blk_io *io)
{
	struct blk_vdisk *bv = to_bv(b);
	struct slot *s = bv->free;
	int rc = 0;

	if (!s || !bv->q)
		return -EAGAIN;
	switch (io->op) {
	case VMM_BLK_READ:
	case VMM_BLK_WRITE:
		rc = prep_rw(s, io);
		break;
	case VMM_BLK_FLUSH:
		vdisk_io_prep_flush(&s->vio);
		break;
	case VMM_BLK_DISCARD:
		vdisk_io_prep_discard(&s->vio, io->offset, io->len);
		break;
	case VMM_BLK_WRITE_ZEROES:
		vdisk_io_prep_write_zeroes(&s->vio, io->offset, io->len,
					   io->unmap ? 0 : VDISK_IO_NO_UNMAP);
		break;
	default:
		rc = -EOPNOTSUPP;
	}
	if (rc < 0)
		return rc;
	s->vio.done = vio_done;
	s->vio.priv = bv;
	s->io = io;
	rc = vdisk_submit(bv->q, &s->vio);
	if (rc < 0) {
		slot_put(bv, s);
		return rc;
	}
	bv->free = s->next_free;
	return 0;
}

static int
bv_kick(struct vmm_blk_backend *b)
{
	struct blk_vdisk *bv = to_bv(b);

	return bv->q ? vdisk_kick(bv->q) : 0;
}

static int
bv_complete(struct vmm_blk_backend *b)
{
	struct blk_vdisk *bv = to_bv(b);

	return bv->q ? vdisk_poll(bv->q, 0, 0) : 0;
}

static int
bv_event_fd(struct vmm_blk_backend *b)
{
	struct blk_vdisk *bv = to_bv(b);

	return bv->q ? vdisk_queue_event_fd(bv->q) : -1;
}

static int
bv_attach(struct vmm_blk_backend *b)
{
	struct blk_vdisk *bv = to_bv(b);

	if (bv->q)
		return -EBUSY;
	return vdisk_queue_create(bv->disk, bv->depth, &bv->q);
}

static void
bv_detach(struct vmm_blk_backend *b)
{
	struct blk_vdisk *bv = to_bv(b);

	/* Waits for anything still in flight (their done() runs). */
	vdisk_queue_destroy(bv->q);
	bv->q = NULL;
}

static void
bv_close(struct vmm_blk_backend *b)
{
	struct blk_vdisk *bv = to_bv(b);

	if (bv->q)
		bv_detach(b);
	vdisk_close(bv->disk);
	for (unsigned int i = 0; i < bv->depth; i++)
		free(bv->slots[i].bounce);
	free(bv->slots);
	free(bv);
}

static const struct vmm_blk_ops vdisk_ops = {
	.name = "vdisk",
	.submit = bv_submit,
	.kick = bv_kick,
	.complete = bv_complete,
	.event_fd = bv_event_fd,
	.attach = bv_attach,
	.detach = bv_detach,
	.close = bv_close,
};

int
vmm_blk_vdisk_open(const char *path, bool readonly, unsigned int depth,
		   struct vmm_blk_backend **out, char *err, size_t errlen)
{
	/* A datastore path names no local file (vmm_blk_open's rule). */
	bool datastore = access(path, F_OK) < 0;
	struct vdisk_info info;
	struct blk_vdisk *bv;
	int rc;

	bv = calloc(1, sizeof(*bv));
	if (!bv)
		return -ENOMEM;
	bv->depth = depth;
	bv->slots = calloc(depth, sizeof(*bv->slots));
	if (!bv->slots) {
		rc = -ENOMEM;
		goto err_free;
	}
	for (unsigned int i = depth; i-- > 0;)
		slot_put(bv, &bv->slots[i]);
	vdisk_clear_error();
	rc = vdisk_open(path, readonly ? VDISK_OPEN_RDONLY : 0, &bv->disk);
	if (rc < 0) {
		const char *why = vdisk_last_error();

		if (rc == -ENOENT)
			snprintf(err, errlen, "%s: no such disk", path);
		else if (why[0])
			snprintf(err, errlen, "%s", why);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto err_free;
	}
	rc = vdisk_get_info(bv->disk, &info);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto err_close;
	}
	bv->base.ops = &vdisk_ops;
	bv->base.size_bytes = vdisk_capacity(bv->disk);
	bv->base.sector_bytes = VDISK_SECTOR;
	bv->base.readonly = readonly;
	bv->base.can_discard = true;
	bv->base.vdisk = bv->disk;
	snprintf(bv->base.desc, sizeof(bv->base.desc), "vdisk %s%s",
		 vdisk_type_name(info.type),
		 datastore ? " on the datastore" : "");
	*out = &bv->base;
	return 0;

err_close:
	vdisk_close(bv->disk);
err_free:
	free(bv->slots);
	free(bv);
	return rc;
}
