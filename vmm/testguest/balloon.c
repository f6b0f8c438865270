/* SPDX-License-Identifier: MIT */
/*
 * Test guest virtio-balloon driver: keeps a pool of pages in the upper
 * half of its RAM, touched once so the host has really backed them, and
 * follows the host's target: inflating hands page numbers to the host
 * (which frees them), deflating takes them back. Prints each target it
 * reaches; runs until the host stops the VM.
 */
#include "virtio.h"

#define BATCH 256

struct balloon {
	struct tg_virtio v;
	uint32_t *pfns;       /* BATCH page numbers per request */
	uint64_t pool_first;  /* page number of the pool's first page */
	uint32_t pool_pages;
	uint32_t actual;      /* pages in the balloon: pool_first.. + actual */
};

static int
send(struct balloon *b, unsigned int q, uint32_t first, uint32_t n)
{
	struct tg_buf buf = { (uint64_t)b->pfns, n * 4, false };

	for (uint32_t i = 0; i < n; i++)
		b->pfns[i] = (uint32_t)(b->pool_first + first + i);
	if (tg_vq_add(&b->v.vq[q], &buf, 1) < 0)
		return -1;
	tg_vq_kick(&b->v.vq[q]);
	return tg_vq_wait(&b->v, &b->v.vq[q], NULL) < 0 ? -1 : 0;
}

static int
step(struct balloon *b, uint32_t target)
{
	uint32_t n;

	if (target > b->actual) {
		n = target - b->actual < BATCH ? target - b->actual : BATCH;
		if (send(b, 0, b->actual, n) < 0)
			return -1;
		b->actual += n;
	} else {
		n = b->actual - target < BATCH ? b->actual - target : BATCH;
		if (send(b, 1, b->actual - n, n) < 0)
			return -1;
		b->actual -= n;
		/* Deflated pages are ours again: use them. */
		for (uint32_t i = 0; i < n; i++)
			*(volatile uint8_t *)((b->pool_first + b->actual + i) << 12) = 1;
	}
	mmio_write32(b->v.device + 4, b->actual);
	return 0;
}

int
tg_balloon_run(struct tg_pci_dev *devs, int n)
{
	int pos = -1;
	struct tg_pci_dev *p = tg_virtio_find(devs, n, 5, &pos);
	struct balloon *b;
	uint32_t shown = 0;

	if (!p) {
		tg_printf("balloon: no virtio-balloon device\n");
		return 1;
	}
	b = tg_alloc(sizeof(*b));
	b->pfns = tg_alloc(BATCH * 4);
	if (tg_virtio_init(&b->v, p, 0, 2, 64, 0x60) < 0 ||
	    tg_virtio_start(&b->v) < 0)
		return 1;
	b->pool_first = (tg_info->low_mem_bytes / 2) >> 12;
	b->pool_pages = (uint32_t)((tg_info->low_mem_bytes >> 12) - b->pool_first);
	tg_heap_limit(b->pool_first << 12);
	for (uint32_t i = 0; i < b->pool_pages; i++)
		*(volatile uint8_t *)((b->pool_first + i) << 12) = 1;
	tg_printf("balloon: ready, pool %u pages\n", b->pool_pages);
	for (;;) {
		uint32_t target = mmio_read32(b->v.device);

		if (target > b->pool_pages)
			target = b->pool_pages;
		if (target != b->actual) {
			if (step(b, target) < 0) {
				tg_printf("balloon: device failed\n");
				return 1;
			}
			continue;
		}
		if (target != shown || !target) {
			if (target != shown)
				tg_printf("balloon: actual %u pages\n", target);
			shown = target;
		}
		tg_idle();
	}
}
