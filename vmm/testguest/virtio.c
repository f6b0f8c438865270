/* SPDX-License-Identifier: MIT */
/*
 * The test guest's virtio-pci driver: finds the capabilities, negotiates
 * features, lays out split rings in its own memory, enables MSI-X and
 * waits for used buffers with sti; hlt, so every completion it sees has
 * come through an MSI-X interrupt (or the device's NEEDS_RESET).
 */
#include "virtio.h"

struct tg_pci_dev *
tg_virtio_find(struct tg_pci_dev *devs, int n, uint16_t id, int *pos)
{
	for (int i = *pos + 1; i < n; i++) {
		if (devs[i].vendor == 0x1af4 && devs[i].device == 0x1040 + id) {
			*pos = i;
			return &devs[i];
		}
	}
	return NULL;
}

static void
find_caps(struct tg_virtio *v)
{
	struct tg_pci_dev *d = v->pci;
	int guard = 48;

	for (uint8_t c = tg_pci_read8(d, 0x34) & 0xfc; c && guard--;
	     c = tg_pci_read8(d, c + 1) & 0xfc) {
		uint8_t type = tg_pci_read8(d, c + 3);
		uint64_t a;

		if (tg_pci_read8(d, c) != 0x09)
			continue;
		a = d->bar[tg_pci_read8(d, c + 4)] + tg_pci_read32(d, c + 8);
		if (type == 1)
			v->common = a;
		else if (type == 2) {
			v->notify_base = a;
			v->notify_mult = tg_pci_read32(d, c + 16);
		} else if (type == 3)
			v->isr = a;
		else if (type == 4)
			v->device = a;
	}
}

uint8_t
tg_virtio_status(struct tg_virtio *v)
{
	return mmio_read8(v->common + VC_STATUS);
}

void
tg_virtio_reset(struct tg_virtio *v)
{
	mmio_write8(v->common + VC_STATUS, 0);
	while (mmio_read8(v->common + VC_STATUS))
		barrier();
}

int
tg_virtio_init(struct tg_virtio *v, struct tg_pci_dev *d, uint64_t want,
	       unsigned int nq, uint16_t qmax, unsigned int vec_base)
{
	uint64_t offered;

	v->pci = d;
	v->nq = nq;
	v->vec_base = vec_base;
	find_caps(v);
	if (!v->common || !v->notify_base || !v->device) {
		tg_printf("virtio %04x: capabilities missing\n", d->device);
		return -1;
	}
	tg_virtio_reset(v);
	mmio_write8(v->common + VC_STATUS, VIRTIO_STATUS_ACK);
	mmio_write8(v->common + VC_STATUS,
		    VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER);
	mmio_write32(v->common + VC_DFSELECT, 0);
	offered = mmio_read32(v->common + VC_DF);
	mmio_write32(v->common + VC_DFSELECT, 1);
	offered |= (uint64_t)mmio_read32(v->common + VC_DF) << 32;
	v->features = offered & (want | (1ull << VIRTIO_F_VERSION_1));
	mmio_write32(v->common + VC_GFSELECT, 0);
	mmio_write32(v->common + VC_GF, (uint32_t)v->features);
	mmio_write32(v->common + VC_GFSELECT, 1);
	mmio_write32(v->common + VC_GF, (uint32_t)(v->features >> 32));
	mmio_write8(v->common + VC_STATUS, VIRTIO_STATUS_ACK |
		    VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	if (!(tg_virtio_status(v) & VIRTIO_STATUS_FEATURES_OK)) {
		tg_printf("virtio %04x: features refused\n", d->device);
		return -1;
	}
	tg_pci_msix_enable(d, vec_base);
	mmio_write16(v->common + VC_MSIX_CONFIG, 0);
	for (unsigned int i = 0; i < nq; i++) {
		struct tg_vq *q = &v->vq[i];
		uint16_t size;

		mmio_write16(v->common + VC_QSELECT, (uint16_t)i);
		size = mmio_read16(v->common + VC_QSIZE);
		if (size > qmax)
			size = qmax;
		mmio_write16(v->common + VC_QSIZE, size);
		q->index = (uint16_t)i;
		q->size = size;
		q->desc = tg_alloc(16ull * size);
		q->avail = tg_alloc(6 + 2ull * size);
		q->used = tg_alloc(6 + 8ull * size);
		q->event_idx = v->features & (1ull << VIRTIO_F_EVENT_IDX);
		q->kicked_avail = 0;
		q->num_free = size;
		q->free_head = 0;
		q->last_used = 0;
		for (uint16_t k = 0; k < size; k++)
			q->desc[k].next = (uint16_t)(k + 1);
		q->vector = vec_base + 1 + i;
		q->notify = v->notify_base +
			    (uint64_t)mmio_read16(v->common + VC_QNOTIFY_OFF) *
				    v->notify_mult;
		mmio_write16(v->common + VC_QVECTOR, (uint16_t)(1 + i));
		mmio_write64(v->common + VC_QDESC, (uint64_t)q->desc);
		mmio_write64(v->common + VC_QAVAIL, (uint64_t)q->avail);
		mmio_write64(v->common + VC_QUSED, (uint64_t)q->used);
	}
	return 0;
}

int
tg_virtio_start(struct tg_virtio *v)
{
	for (unsigned int i = 0; i < v->nq; i++) {
		mmio_write16(v->common + VC_QSELECT, (uint16_t)i);
		mmio_write16(v->common + VC_QENABLE, 1);
	}
	mmio_write8(v->common + VC_STATUS, VIRTIO_STATUS_ACK |
		    VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		    VIRTIO_STATUS_DRIVER_OK);
	if (tg_virtio_status(v) & VIRTIO_STATUS_NEEDS_RESET)
		return -1;
	return 0;
}

int
tg_vq_add(struct tg_vq *q, const struct tg_buf *b, unsigned int n)
{
	uint16_t head, idx, last = 0;

	if (n == 0 || q->num_free < n)
		return -1;
	head = idx = q->free_head;
	for (unsigned int i = 0; i < n; i++) {
		volatile struct tg_desc *d = &q->desc[idx];

		d->addr = b[i].addr;
		d->len = b[i].len;
		d->flags = (uint16_t)((b[i].write ? VRING_F_WRITE : 0) |
				      (i + 1 < n ? VRING_F_NEXT : 0));
		last = idx;
		idx = d->next;
	}
	q->free_head = q->desc[last].next;
	q->num_free = (uint16_t)(q->num_free - n);
	q->avail[2 + (q->avail[1] % q->size)] = head;
	barrier();
	q->avail[1] = (uint16_t)(q->avail[1] + 1);
	return head;
}

static volatile uint16_t *
avail_event(struct tg_vq *q)
{
	return (volatile uint16_t *)((uint8_t *)q->used + 4 + 8u * q->size);
}

static volatile uint16_t *
used_event(struct tg_vq *q)
{
	return &q->avail[2 + q->size];
}

void
tg_vq_kick(struct tg_vq *q)
{
	uint16_t now = q->avail[1], old = q->kicked_avail;

	mb();
	/* The device may say it is busy anyway: kick only if it asked. */
	if (q->event_idx) {
		q->kicked_avail = now;
		if ((uint16_t)(now - *avail_event(q) - 1) >= (uint16_t)(now - old))
			return;
	} else if (*(volatile uint16_t *)q->used & 1) {
		return;
	}
	q->kicks++;
	mmio_write16(q->notify, q->index);
}

void
tg_vq_interrupt_after(struct tg_vq *q, uint16_t n)
{
	*used_event(q) = (uint16_t)(q->last_used + n - 1);
	mb();
}

bool
tg_vq_has_used(struct tg_vq *q)
{
	return ((volatile uint16_t *)q->used)[1] != q->last_used;
}

int
tg_vq_used(struct tg_vq *q, uint32_t *len)
{
	volatile uint16_t *uidx = (volatile uint16_t *)q->used + 1;
	uint16_t head, idx, n = 1;
	uint32_t slot;

	if (*uidx == q->last_used)
		return -1;
	barrier();
	slot = 1 + 2u * (q->last_used % q->size);
	head = (uint16_t)q->used[slot];
	if (len)
		*len = q->used[slot + 1];
	q->last_used++;
	/* Put the chain back on the free list. */
	for (idx = head; q->desc[idx].flags & VRING_F_NEXT; idx = q->desc[idx].next)
		n++;
	q->desc[idx].next = q->free_head;
	q->free_head = head;
	q->num_free = (uint16_t)(q->num_free + n);
	return head;
}

int
tg_vq_wait(struct tg_virtio *v, struct tg_vq *q, uint32_t *len)
{
	uint64_t t0 = rdtsc();

	for (;;) {
		int h = tg_vq_used(q, len);

		if (h >= 0)
			return h;
		if (tg_virtio_status(v) & VIRTIO_STATUS_NEEDS_RESET)
			return -1;
		if (q->event_idx) {
			/* Interrupt at the next completion; look once more
			   after saying so, then sleep. */
			tg_vq_interrupt_after(q, 1);
			h = tg_vq_used(q, len);
			if (h >= 0)
				return h;
		}
		/* ~20 s at a few GHz: the device is gone. */
		if (rdtsc() - t0 > 60000000000ull)
			return -1;
		tg_idle();
	}
}
