/* SPDX-License-Identifier: MIT */
/*
 * hostile: the test guest turned adversary. Against the first virtio-blk
 * device it programs, one at a time, descriptors, rings and registers
 * that no correct driver would, and checks that the device answers the
 * way the VMM promises: a malformed queue sets NEEDS_RESET (the device
 * stops, the VMM goes on), an out-of-range sector gets an I/O error, and
 * after a reset the device works again. The host side of the test checks
 * that the VMM survived and that the disk image was not touched.
 */
#include "virtio.h"

#define T_IN 0
#define T_OUT 1

enum outcome { STOPPED, COMPLETED, NOTHING };


struct scenario {
	const char *name;
	enum outcome want;
};

static const struct scenario scenarios[] = {
	{ "desc-outside-ram", STOPPED },
	{ "desc-on-lapic-mmio", STOPPED },
	{ "len-overflow", STOPPED },
	{ "chain-loop", STOPPED },
	{ "next-out-of-range", STOPPED },
	{ "head-out-of-range", STOPPED },
	{ "avail-idx-jump", STOPPED },
	{ "nested-indirect", STOPPED },
	{ "indirect-bad-length", STOPPED },
	{ "readable-after-writable", STOPPED },
	{ "no-status-byte", STOPPED },
	{ "ring-outside-ram", STOPPED },
	{ "queue-size-not-pow2", STOPPED },
	{ "sector-past-end", COMPLETED },
	{ "msix-garbage", COMPLETED },
	{ "bar-and-config-garbage", COMPLETED },
};

struct hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

static struct hdr *hdr;
static volatile uint8_t *status;
static uint8_t *data;
static struct tg_desc *itable;

static void
set_desc(struct tg_vq *q, uint16_t i, uint64_t addr, uint32_t len,
	 uint16_t flags, uint16_t next)
{
	q->desc[i].addr = addr;
	q->desc[i].len = len;
	q->desc[i].flags = flags;
	q->desc[i].next = next;
}

static void
publish(struct tg_vq *q, uint16_t head, uint16_t bump)
{
	q->avail[2 + (q->avail[1] % q->size)] = head;
	barrier();
	q->avail[1] = (uint16_t)(q->avail[1] + bump);
	tg_vq_kick(q);
}

/* A well-formed 3-descriptor read of 'sector'. */
static void
good_read(struct tg_vq *q, uint64_t sector)
{
	hdr->type = T_IN;
	hdr->sector = sector;
	*status = 0xff;
	set_desc(q, 0, (uint64_t)hdr, 16, VRING_F_NEXT, 1);
	set_desc(q, 1, (uint64_t)data, 4096, VRING_F_NEXT | VRING_F_WRITE, 2);
	set_desc(q, 2, (uint64_t)status, 1, VRING_F_WRITE, 0);
}

static enum outcome
wait_outcome(struct tg_virtio *v, struct tg_vq *q)
{
	volatile uint16_t *uidx = (volatile uint16_t *)q->used + 1;
	uint64_t t0 = rdtsc();

	while (rdtsc() - t0 < 3000000000ull) {
		if (tg_virtio_status(v) & VIRTIO_STATUS_NEEDS_RESET)
			return STOPPED;
		if (*uidx != q->last_used)
			return COMPLETED;
		tg_idle();
	}
	return NOTHING;
}

/* Programs scenario 'n'; returns -1 if setup itself was refused. */
static int
provoke(struct tg_virtio *v, int n, uint64_t sectors)
{
	struct tg_vq *q = &v->vq[0];
	uint64_t ram_end = tg_info->low_mem_bytes;

	switch (n) {
	case 0:
	case 1:
	case 2:
		hdr->type = T_OUT;
		hdr->sector = 0;
		set_desc(q, 0, (uint64_t)hdr, 16, VRING_F_NEXT, 1);
		if (n == 0)
			set_desc(q, 1, 0x100000000000ull, 4096, VRING_F_NEXT, 2);
		else if (n == 1)
			set_desc(q, 1, 0xfee00000ull, 4096, VRING_F_NEXT, 2);
		else
			set_desc(q, 1, ram_end - 4096, 0xffffffffu, VRING_F_NEXT, 2);
		set_desc(q, 2, (uint64_t)status, 1, VRING_F_WRITE, 0);
		publish(q, 0, 1);
		return 0;
	case 3:
		hdr->type = T_OUT;
		set_desc(q, 0, (uint64_t)hdr, 16, VRING_F_NEXT, 1);
		set_desc(q, 1, (uint64_t)data, 512, VRING_F_NEXT, 0);
		publish(q, 0, 1);
		return 0;
	case 4:
		good_read(q, 0);
		q->desc[1].next = 5000;
		publish(q, 0, 1);
		return 0;
	case 5:
		good_read(q, 0);
		publish(q, (uint16_t)(q->size + 3), 1);
		return 0;
	case 6:
		good_read(q, 0);
		publish(q, 0, (uint16_t)(q->size + 7));
		return 0;
	case 7:
	case 8:
		good_read(q, 0);
		itable[0] = (struct tg_desc){ (uint64_t)hdr, 16, VRING_F_NEXT, 1 };
		itable[1] = (struct tg_desc){ (uint64_t)itable, 32,
					      VRING_F_INDIRECT, 0 };
		set_desc(q, 0, (uint64_t)itable, n == 7 ? 32 : 17,
			 VRING_F_INDIRECT, 0);
		publish(q, 0, 1);
		return 0;
	case 9:
		good_read(q, 0);
		q->desc[0].flags |= VRING_F_WRITE; /* header writable ... */
		q->desc[1].flags &= (uint16_t)~VRING_F_WRITE; /* ... data not */
		publish(q, 0, 1);
		return 0;
	case 10:
		hdr->type = T_IN;
		set_desc(q, 0, (uint64_t)hdr, 16, 0, 0);
		publish(q, 0, 1);
		return 0;
	default:
		return 0;
	}
}

/* Scenarios that break the setup rather than a request. */
static int
setup_garbage(struct tg_virtio *v, int n)
{
	mmio_write16(v->common + VC_QSELECT, 0);
	if (n == 11)
		mmio_write64(v->common + VC_QDESC, 0x200000000000ull);
	else
		mmio_write16(v->common + VC_QSIZE, 3);
	return tg_virtio_start(v);
}

static void
msix_garbage(struct tg_virtio *v)
{
	uint64_t e = v->pci->msix_table + 16;

	/* Queue 0's vector now points at no APIC; completions still land
	   in the used ring, which wait_outcome polls. */
	mmio_write32(e, 0xdead0000u);
	mmio_write32(e + 8, 0xffffffffu);
	mmio_write32(v->pci->msix_table + 16 * 40, 0x12345678u); /* past the table */
}

static void
config_garbage(struct tg_virtio *v)
{
	struct tg_pci_dev *p = v->pci;
	uint32_t bar = tg_pci_read32(p, 0x10);

	/* Scribble over config space, move BAR0 onto the APIC, back again. */
	for (uint8_t off = 0x40; off < 0xfc; off += 4)
		if (off != 0x40 && off != 0x90)
			tg_pci_write32(p, off, 0xa5a5a5a5u);
	tg_pci_write32(p, 0x10, 0xfee00000u);
	tg_pci_write32(p, 0x10, 0xffffffffu);
	tg_pci_write32(p, 0x10, bar);
	mmio_write16(v->common + VC_QSELECT, 999);
	mmio_write16(v->common + VC_QSIZE, 7);
	mmio_write64(v->common + VC_QDESC, 0x1234);
	mmio_write16(v->common + VC_QSELECT, 0);
}

static int
run_one(struct tg_pci_dev *p, int n, uint64_t *sectors)
{
	struct tg_virtio *v = tg_alloc(sizeof(*v));
	enum outcome got;
	int rc;

	if (tg_virtio_init(v, p, 1ull << VIRTIO_F_INDIRECT, 1, 64, 0x40) < 0)
		return 1;
	*sectors = mmio_read64(v->device);
	if (n == 11 || n == 12) {
		rc = setup_garbage(v, n);
		got = (rc < 0 || tg_virtio_status(v) & VIRTIO_STATUS_NEEDS_RESET)
			      ? STOPPED
			      : NOTHING;
	} else {
		if (tg_virtio_start(v) < 0)
			return 1;
		if (n == 13) {
			good_read(&v->vq[0], *sectors + 10);
		} else if (n == 14) {
			msix_garbage(v);
			good_read(&v->vq[0], 0);
		} else if (n == 15) {
			config_garbage(v);
			good_read(&v->vq[0], 0);
		} else {
			provoke(v, n, *sectors);
		}
		if (n >= 13)
			publish(&v->vq[0], 0, 1);
		got = wait_outcome(v, &v->vq[0]);
	}
	rc = got == scenarios[n].want;
	if (rc && n == 13)
		rc = *status == 1; /* VIRTIO_BLK_S_IOERR */
	if (rc && n >= 14)
		rc = *status == 0;
	tg_printf("hostile %d %s: %s -> %s\n", n, scenarios[n].name,
		  got == STOPPED ? "device stopped" :
		  got == COMPLETED ? "completed" : "no answer",
		  rc ? "ok" : "FAILED");
	tg_virtio_reset(v);
	return !rc;
}

/* After all that, a clean setup must read sector 0 again. */
static int
recovers(struct tg_pci_dev *p)
{
	struct tg_virtio *v = tg_alloc(sizeof(*v));

	if (tg_virtio_init(v, p, 0, 1, 64, 0x40) < 0 || tg_virtio_start(v) < 0)
		return 1;
	good_read(&v->vq[0], 0);
	publish(&v->vq[0], 0, 1);
	if (wait_outcome(v, &v->vq[0]) != COMPLETED || *status != 0)
		return 1;
	tg_printf("hostile: device works after reset\n");
	return 0;
}

int
tg_hostile(struct tg_pci_dev *devs, int n)
{
	const char *which = tg_arg("hostile");
	int pos = -1, bad = 0, only = -1;
	struct tg_pci_dev *p = tg_virtio_find(devs, n, 2, &pos);
	uint64_t sectors;

	if (!p) {
		tg_printf("hostile: no virtio-blk device\n");
		return 1;
	}
	if (which && *which >= '0' && *which <= '9')
		only = (int)tg_parse_u64(which, NULL);
	hdr = tg_alloc(4096);
	status = (volatile uint8_t *)hdr + 64;
	data = tg_alloc(4096);
	itable = tg_alloc(4096);
	for (int i = 0; i < (int)(sizeof(scenarios) / sizeof(scenarios[0])); i++)
		if (only < 0 || only == i)
			bad += run_one(p, i, &sectors);
	bad += recovers(p);
	tg_printf("hostile: %d scenario(s) failed\n", bad);
	return bad != 0;
}
