/* SPDX-License-Identifier: MIT */
/*
 * Test guest virtio-blk: writes a position-dependent pattern over the
 * whole of every disk with 32 requests in flight, flushes, reads it all
 * back and checks it, then exercises discard, write-zeroes, GET_ID and
 * an out-of-range read. The host test checks the image file afterwards
 * against the same pattern (tg_pattern_word) and the CRC printed here.
 *
 * blkbench=OPS: 4 KiB random reads, 32 in flight (qd=N for fewer),
 * timed by the host from the "blkbench: start" and "blkbench: done"
 * lines; an interrupt once 1/coalesce (default 1/8) of what is in flight
 * has completed; "haltpoll=US" polls that long before halting to wait
 * for it; "blkspin" never halts (interrupts still come); "blkpoll"
 * polls with interrupts off.
 */
#include "virtio.h"

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define T_DISCARD 11
#define T_WRITE_ZEROES 13
#define CHUNK 65536u
#define DEPTH 32

struct req_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

struct slot {
	struct req_hdr hdr;
	uint64_t seg[2];      /* discard / write-zeroes segment */
	volatile uint8_t status;
	uint8_t *data;
	uint32_t len;         /* data bytes of a streaming request */
	uint64_t sector;
	bool busy;
};

struct disk {
	struct tg_virtio v;
	uint64_t sectors;
	struct slot *slot;    /* DEPTH of them, indexed by chain head map */
	int head_slot[1024];
	unsigned int inflight;
};

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/*
 * The word at byte 'off' of a disk: the same as common/pattern.c, so the
 * host (and vdisk) can check a disk the guest wrote with pattern_check().
 */
static uint64_t
pattern_word(uint64_t seed, uint64_t off)
{
	return mix(seed ^ mix(off / 8));
}

static void
fill(uint8_t *buf, uint64_t off, uint32_t len, uint64_t seed)
{
	for (uint32_t i = 0; i < len; i += 8)
		*(uint64_t *)(buf + i) = pattern_word(seed, off + i);
}

static bool
check(const uint8_t *buf, uint64_t off, uint32_t len, uint64_t seed)
{
	for (uint32_t i = 0; i < len; i += 8)
		if (*(const uint64_t *)(buf + i) != pattern_word(seed, off + i))
			return false;
	return true;
}

static int
submit(struct disk *d, unsigned int s, uint32_t type, uint64_t sector,
       uint32_t len)
{
	struct slot *sl = &d->slot[s];
	struct tg_buf b[3];
	unsigned int n = 0;
	int head;

	sl->hdr.type = type;
	sl->hdr.sector = sector;
	sl->sector = sector;
	sl->status = 0xff;
	b[n++] = (struct tg_buf){ (uint64_t)&sl->hdr, 16, false };
	if (type == T_DISCARD || type == T_WRITE_ZEROES) {
		sl->seg[0] = sector;
		sl->seg[1] = len / 512; /* num_sectors, flags = 0 */
		b[n++] = (struct tg_buf){ (uint64_t)sl->seg, 16, false };
	} else if (len) {
		b[n++] = (struct tg_buf){ (uint64_t)sl->data, len,
					  type == T_IN || type == T_GET_ID };
	}
	b[n++] = (struct tg_buf){ (uint64_t)&sl->status, 1, true };
	head = tg_vq_add(&d->v.vq[0], b, n);
	if (head < 0)
		return -1;
	d->head_slot[head] = (int)s;
	sl->busy = true;
	d->inflight++;
	return 0;
}

/* Waits for one completion; returns its slot or -1. */
static int
reap(struct disk *d)
{
	int head = tg_vq_wait(&d->v, &d->v.vq[0], NULL);
	int s;

	if (head < 0)
		return -1;
	s = d->head_slot[head];
	d->slot[s].busy = false;
	d->inflight--;
	return s;
}

/* A completion if one is ready, else -1. */
static int
reap_poll(struct disk *d)
{
	int head = tg_vq_used(&d->v.vq[0], NULL);
	int s;

	if (head < 0)
		return -1;
	s = d->head_slot[head];
	d->slot[s].busy = false;
	d->inflight--;
	return s;
}

static int
sync_req(struct disk *d, uint32_t type, uint64_t sector, uint32_t len)
{
	int s;

	if (submit(d, 0, type, sector, len) < 0)
		return -1;
	tg_vq_kick(&d->v.vq[0]);
	s = reap(d);
	return s < 0 ? -1 : d->slot[s].status;
}

/* Streams 'total' bytes with DEPTH requests in flight; 'write' or read+check. */
static int
stream(struct disk *d, bool write, uint64_t seed, uint64_t total)
{
	uint64_t next = 0, done = 0;
	int bad = 0, s;

	while (done < total) {
		for (unsigned int k = 0; k < DEPTH && next < total; k++) {
			uint32_t len;

			if (d->slot[k].busy)
				continue;
			len = (uint32_t)(total - next < CHUNK ? total - next : CHUNK);
			if (write)
				fill(d->slot[k].data, next, len, seed);
			d->slot[k].len = len;
			if (submit(d, k, write ? T_OUT : T_IN, next / 512, len) < 0)
				break;
			next += len;
		}
		tg_vq_kick(&d->v.vq[0]);
		s = reap(d);
		if (s < 0)
			return -1;
		for (; s >= 0; s = reap_poll(d)) {
			struct slot *sl = &d->slot[s];

			if (sl->status != 0)
				bad++;
			else if (!write && !check(sl->data, sl->sector * 512,
						  sl->len, seed))
				bad++;
			done += sl->len;
		}
	}
	return bad;
}

static int
disk_open(struct disk *d, struct tg_pci_dev *p, unsigned int vec)
{
	if (tg_virtio_init(&d->v, p, 1ull << VIRTIO_F_INDIRECT | (1ull << 9) |
			   (1ull << 13) | (1ull << 14) | (1ull << VIRTIO_F_EVENT_IDX),
			   1, 256, vec) < 0 ||
	    tg_virtio_start(&d->v) < 0)
		return -1;
	d->sectors = mmio_read64(d->v.device);
	d->slot = tg_alloc(sizeof(struct slot) * DEPTH);
	for (int s = 0; s < DEPTH; s++)
		d->slot[s].data = tg_alloc(CHUNK);
	d->inflight = 0;
	return 0;
}

/*
 * The first 4 KiB written and read back through buffers off the 512-byte
 * grid, split mid-sector (1000 + 3096 bytes): the device has to cope
 * (bounce or buffer) and the disk keeps the pattern.
 */
static int
unaligned(struct disk *d, uint64_t seed)
{
	struct slot *sl = &d->slot[1];
	uint8_t *buf = sl->data + 8;
	int bad = 0;

	for (int pass = 0; pass < 2; pass++) {
		bool rd = pass == 1;
		struct tg_buf b[4] = {
			{ (uint64_t)&sl->hdr, 16, false },
			{ (uint64_t)buf, 1000, rd },
			{ (uint64_t)buf + 1000, 3096, rd },
			{ (uint64_t)&sl->status, 1, true },
		};
		int head, s;

		if (rd)
			memset(buf, 0x55, 4096);
		else
			fill(buf, 0, 4096, seed);
		sl->hdr.type = rd ? T_IN : T_OUT;
		sl->hdr.sector = 0;
		sl->status = 0xff;
		head = tg_vq_add(&d->v.vq[0], b, 4);
		if (head < 0)
			return 1;
		d->head_slot[head] = 1;
		sl->busy = true;
		d->inflight++;
		tg_vq_kick(&d->v.vq[0]);
		s = reap(d);
		bad |= s != 1 || sl->status != 0;
	}
	return bad | !check(buf, 0, 4096, seed);
}

static int
extras(struct disk *d, int idx, uint64_t seed)
{
	uint64_t last = d->sectors - CHUNK / 512;
	int st, bad = 0;

	st = sync_req(d, T_GET_ID, 0, 20);
	d->slot[0].data[20] = 0;
	tg_printf("blk%d: id '%s' status %d\n", idx, (char *)d->slot[0].data, st);
	bad |= st != 0;
	/* Last chunk: discard, then write zeroes, then read zeros back. */
	bad |= sync_req(d, T_DISCARD, last, CHUNK) != 0;
	bad |= sync_req(d, T_WRITE_ZEROES, last, CHUNK) != 0;
	memset(d->slot[0].data, 0xaa, CHUNK);
	bad |= sync_req(d, T_IN, last, CHUNK) != 0;
	for (uint32_t i = 0; i < CHUNK; i++)
		bad |= d->slot[0].data[i] != 0;
	bad |= sync_req(d, T_FLUSH, 0, 0) != 0;
	/* Past the end: an I/O error, and the device keeps working. */
	st = sync_req(d, T_IN, d->sectors - 1, 4096);
	tg_printf("blk%d: read past the end: status %d (want 1)\n", idx, st);
	bad |= st != 1;
	bad |= sync_req(d, T_IN, 0, 4096) != 0;
	bad |= !check(d->slot[0].data, 0, 4096, seed);
	st = unaligned(d, seed);
	tg_printf("blk%d: unaligned buffers %s\n", idx, st ? "FAILED" : "ok");
	return bad | st;
}

int
tg_blk_test(struct tg_pci_dev *devs, int n)
{
	uint64_t seed = tg_arg_u64("seed", 1);
	int pos = -1, idx = 0, rc = 0;
	struct tg_pci_dev *p;

	while ((p = tg_virtio_find(devs, n, 2, &pos))) {
		struct disk *d = tg_alloc(sizeof(*d));
		uint64_t irq0;
		int bad;

		if (disk_open(d, p, 0x40 + 0x10 * (unsigned int)idx) < 0) {
			tg_printf("blk%d: setup failed\n", idx);
			rc = 1;
			break;
		}
		irq0 = tg_irq_count(d->v.vq[0].vector);
		tg_printf("blk%d: %lu sectors, writing pattern seed %lu\n", idx,
			  d->sectors, seed + (uint64_t)idx);
		bad = stream(d, true, seed + (uint64_t)idx, d->sectors * 512);
		bad += sync_req(d, T_FLUSH, 0, 0) != 0;
		tg_printf("blk%d: wrote %lu MiB, %d errors; reading back\n", idx,
			  d->sectors >> 11, bad);
		bad += stream(d, false, seed + (uint64_t)idx, d->sectors * 512);
		tg_printf("blk%d: verify %s, msix interrupts %lu\n", idx,
			  bad ? "FAILED" : "ok",
			  tg_irq_count(d->v.vq[0].vector) - irq0);
		if (tg_irq_count(d->v.vq[0].vector) == irq0)
			bad++;
		bad += extras(d, idx, seed + (uint64_t)idx);
		tg_printf("blk%d: %s\n", idx, bad ? "FAILED" : "passed");
		rc |= bad != 0;
		idx++;
	}
	if (!idx) {
		tg_printf("blk: no virtio-blk device\n");
		return 1;
	}
	return rc;
}

/*
 * blkcheck seed=N: reads every disk and checks the pattern 'blk' left
 * there (seed N + disk index; the last 64 KiB, zeroed by 'blk', are not
 * checked), without writing: a disk cloned from a template, or reverted.
 */
int
tg_blk_check(struct tg_pci_dev *devs, int n)
{
	uint64_t seed = tg_arg_u64("seed", 1);
	int pos = -1, idx = 0, rc = 0;
	struct tg_pci_dev *p;

	while ((p = tg_virtio_find(devs, n, 2, &pos))) {
		struct disk *d = tg_alloc(sizeof(*d));
		int bad;

		if (disk_open(d, p, 0x40 + 0x10 * (unsigned int)idx) < 0 ||
		    d->sectors * 512 <= CHUNK) {
			tg_printf("blk%d: setup failed\n", idx);
			rc = 1;
			break;
		}
		bad = stream(d, false, seed + (uint64_t)idx,
			     d->sectors * 512 - CHUNK);
		tg_printf("blk%d: %lu MiB hold pattern seed %lu: %s\n", idx,
			  (d->sectors * 512 - CHUNK) >> 20, seed + (uint64_t)idx,
			  bad ? "NO" : "yes");
		rc |= bad != 0;
		tg_virtio_reset(&d->v);
		idx++;
	}
	if (!idx) {
		tg_printf("blk: no virtio-blk device\n");
		return 1;
	}
	return rc;
}

int
tg_blk_bench(struct tg_pci_dev *devs, int n)
{
	uint64_t ops = tg_arg_u64("blkbench", 10000), rnd = 12345, done = 0;
	uint64_t issued = 0, pages, errors = 0, depth_sum = 0, rounds = 0;
	uint64_t irq0, kick0;
	bool poll = tg_arg("blkpoll") != NULL;
	bool spin = tg_arg("blkspin") != NULL;
	/* haltpoll=US: poll that long before halting, as Linux guests
	   with cpuidle-haltpoll do (a halt is costly under PVM). */
	uint64_t haltpoll = tg_arg_u64("haltpoll", 0), poll_end;
	unsigned int depth = (unsigned int)tg_arg_u64("qd", DEPTH);
	/* Completions per interrupt: a share of what is in flight. */
	unsigned int coalesce = (unsigned int)tg_arg_u64("coalesce", 8);
	int s;
	int pos = -1;
	struct tg_pci_dev *p = tg_virtio_find(devs, n, 2, &pos);
	struct disk *d;

	if (!p)
		return 1;
	d = tg_alloc(sizeof(*d));
	if (disk_open(d, p, 0x40) < 0)
		return 1;
	pages = d->sectors / 8;
	/*
	 * Completions arrive by MSI-X through the irqfd and the guest waits
	 * in hlt; with "blkpoll" it polls the used ring with interrupts
	 * suppressed instead, as polling drivers do (under PVM this guest's
	 * ring-0 interrupt path is emulated, which polling leaves out).
	 */
	if (poll)
		d->v.vq[0].avail[0] = 1; /* VRING_AVAIL_F_NO_INTERRUPT */
	if (depth < 1 || depth > DEPTH)
		depth = DEPTH;
	if (haltpoll)
		haltpoll = haltpoll * tg_tsc_per_ms() / 1000;
	if (coalesce < 1)
		coalesce = 1;
	tg_printf("blkbench: start %lu ops depth %u, poll %lu tsc\n", ops, depth, haltpoll);
	irq0 = tg_irq_count(d->v.vq[0].vector);
	kick0 = d->v.vq[0].kicks;
	while (done < ops) {
		bool added = false;

		for (unsigned int k = 0; k < depth && issued < ops; k++) {
			if (d->slot[k].busy)
				continue;
			if (submit(d, k, T_IN, (tg_rand(&rnd) % pages) * 8, 4096) < 0)
				break;
			issued++;
			added = true;
		}
		if (added)
			tg_vq_kick(&d->v.vq[0]);
		while ((s = reap_poll(d)) < 0) {
			if (poll)
				continue;
			/* One interrupt per 1/coalesce of what is in flight. */
			tg_vq_interrupt_after(&d->v.vq[0],
					      (uint16_t)(d->inflight > coalesce ?
							 d->inflight / coalesce : 1));
			s = reap_poll(d);
			if (s >= 0)
				break;
			poll_end = rdtsc() + haltpoll;
			while (haltpoll && (s = reap_poll(d)) < 0 &&
			       rdtsc() < poll_end)
				barrier();
			if (s >= 0)
				break;
			if (!spin)
				tg_idle();
		}
		depth_sum += d->inflight + 1;
		rounds++;
		do {
			errors += d->slot[s].status != 0;
			done++;
		} while ((s = reap_poll(d)) >= 0);
	}
	tg_printf("blkbench: done %lu ops, %lu errors, %lu in flight on "
		  "average when a completion arrived, %lu kicks, %lu "
		  "interrupts\n", done, errors, depth_sum / (rounds ? rounds : 1),
		  d->v.vq[0].kicks - kick0,
		  tg_irq_count(d->v.vq[0].vector) - irq0);
	return errors != 0;
}
