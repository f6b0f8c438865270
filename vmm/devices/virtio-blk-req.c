/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk request parsing (virtio spec 5.2.6): a 16-byte header the
 * device reads, data, and a status byte the device writes last. Every
 * length and sector range is checked against the disk before anything
 * reaches the backend; a range past the end gets VIRTIO_BLK_S_IOERR,
 * an unknown type VIRTIO_BLK_S_UNSUPP.
 */
#include <errno.h>
#include <string.h>

#include "vmm/devices/virtio-blk.h"

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

static void
req_done(struct vmm_blk_io *io, int64_t result)
{
	struct blk_req *r = container_of(io, struct blk_req, io);
	struct vmm_blk_dev *d = r->dev;
	uint64_t want = 0;

	if (io->op == VMM_BLK_READ || io->op == VMM_BLK_WRITE)
		for (unsigned int i = 0; i < io->niov; i++)
			want += io->iov[i].iov_len;
	if (result < 0 || (uint64_t)result != want) {
		if (io->op != VMM_BLK_READ && io->op != VMM_BLK_WRITE &&
		    result == 0) {
			blk_req_finish(d, r, VIRTIO_BLK_S_OK);
			return;
		}
		log_warn("vmm.blk", "disk%u: %s at %llu: %s", d->index,
			 io->op == VMM_BLK_READ ? "read" : "write",
			 (unsigned long long)io->offset,
			 result < 0 ? strerror((int)-result) : "short transfer");
		d->errors++;
		blk_req_finish(d, r, VIRTIO_BLK_S_IOERR);
		return;
	}
	if (io->op == VMM_BLK_READ) {
		r->written += (uint32_t)want;
		d->rd_ops++;
		d->rd_bytes += want;
	} else if (io->op == VMM_BLK_WRITE) {
		d->wr_ops++;
		d->wr_bytes += want;
	} else if (io->op == VMM_BLK_FLUSH) {
		d->flush_ops++;
	}
	blk_req_finish(d, r, VIRTIO_BLK_S_OK);
}

/* Collects 'len' bytes of iovecs starting 'off' bytes into [from, to). */
static unsigned int
slice(const struct vmm_vq_elem *e, unsigned int from, unsigned int to,
      uint64_t off, uint64_t len, struct iovec *out)
{
	unsigned int n = 0;

	for (unsigned int i = from; i < to && len; i++) {
		uint64_t l = e->iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		out[n].iov_base = (uint8_t *)e->iov[i].iov_base + off;
		out[n].iov_len = MIN(l - off, len);
		len -= out[n].iov_len;
		off = 0;
		n++;
	}
	return n;
}

static bool
range_ok(const struct vmm_blk_dev *d, uint64_t sector, uint64_t bytes)
{
	uint64_t cap = d->be->size_bytes / 512;

	return bytes % 512 == 0 && sector <= cap && bytes / 512 <= cap - sector;
}

static int
start_rw(struct vmm_blk_dev *d, struct blk_req *r, const struct blk_hdr *h)
{
	struct vmm_vq_elem *e = &r->elem;
	bool rd = h->type == VIRTIO_BLK_T_IN;
	uint64_t len = rd ? e->in_len - 1 : e->out_len - sizeof(*h);

	if (!rd && d->be->readonly)
		return VIRTIO_BLK_S_IOERR;
	if (!len || !range_ok(d, h->sector, len))
		return VIRTIO_BLK_S_IOERR;
	r->io.op = rd ? VMM_BLK_READ : VMM_BLK_WRITE;
	r->io.offset = h->sector * 512;
	r->io.iov = r->data;
	r->io.niov = rd ? slice(e, e->nout, e->nout + e->nin, 0, len, r->data)
			: slice(e, 0, e->nout, sizeof(*h), len, r->data);
	return -1;
}

static int
start_discard(struct vmm_blk_dev *d, struct blk_req *r,
	      const struct blk_hdr *h)
{
	struct virtio_blk_discard_write_zeroes seg;
	bool zero = h->type == VIRTIO_BLK_T_WRITE_ZEROES;

	/* One segment per request (max_*_seg = 1 in the config). */
	if (r->elem.out_len != sizeof(*h) + sizeof(seg))
		return VIRTIO_BLK_S_UNSUPP;
	vmm_vq_copy_out(&r->elem, sizeof(*h), &seg, sizeof(seg));
	if (d->be->readonly || !range_ok(d, seg.sector, (uint64_t)seg.num_sectors * 512))
		return VIRTIO_BLK_S_IOERR;
	if (seg.flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
		return VIRTIO_BLK_S_UNSUPP;
	if (!zero && !d->be->can_discard)
		return VIRTIO_BLK_S_OK; /* discard is only a hint */
	r->io.op = zero ? VMM_BLK_WRITE_ZEROES : VMM_BLK_DISCARD;
	r->io.offset = seg.sector * 512;
	r->io.len = (uint64_t)seg.num_sectors * 512;
	r->io.unmap = seg.flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	r->io.niov = 0;
	if (!r->io.len)
		return VIRTIO_BLK_S_OK;
	return -1;
}

int
blk_req_start(struct vmm_blk_dev *d, struct blk_req *r)
{
	struct vmm_vq_elem *e = &r->elem;
	const struct iovec *last;
	struct blk_hdr h;
	int st;

	if (e->out_len < sizeof(h) || e->in_len < 1)
		return -EIO;
	last = &e->iov[e->nout + e->nin - 1];
	for (unsigned int i = e->nout + e->nin; !last->iov_len && i > e->nout; i--)
		last = &e->iov[i - 1];
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	r->written = 0;
	vmm_vq_copy_out(e, 0, &h, sizeof(h));
	r->type = h.type;
	r->io.done = req_done;
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		st = start_rw(d, r, &h);
		break;
	case VIRTIO_BLK_T_FLUSH:
		r->io.op = VMM_BLK_FLUSH;
		r->io.niov = 0;
		st = -1;
		break;
	case VIRTIO_BLK_T_GET_ID:
		r->written = (uint32_t)vmm_vq_copy_in(
			e, 0, d->serial, MIN(sizeof(d->serial), e->in_len - 1));
		st = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		st = start_discard(d, r, &h);
		break;
	default:
		st = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	if (st < 0) {
		int err = d->be->ops->submit(d->be, &r->io);

		if (err == 0)
			return 0;
		st = VIRTIO_BLK_S_IOERR;
	}
	if (st == VIRTIO_BLK_S_IOERR)
		d->errors++;
	blk_req_finish(d, r, (uint8_t)st);
	return 0;
}
