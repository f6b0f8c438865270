/* SPDX-License-Identifier: MIT */
/*
 * Test guest PCI: configuration through the ECAM window, a scan
 * of bus 0 that reads the BARs the VMM assigned, and MSI-X setup.
 */
#include "tg.h"

#define PCI_CAP_MSIX 0x11

/* ECAM: MMIO config access, which ring 3 can do (ports it cannot). */
static uint64_t
addr(const struct tg_pci_dev *d, uint8_t off)
{
	return TG_ECAM + ((uint64_t)d->bus << 20) + ((uint64_t)d->dev << 15) +
	       ((uint64_t)d->fn << 12) + (off & 0xfc);
}

uint32_t
tg_pci_read32(const struct tg_pci_dev *d, uint8_t off)
{
	return mmio_read32(addr(d, off));
}

void
tg_pci_write32(const struct tg_pci_dev *d, uint8_t off, uint32_t v)
{
	mmio_write32(addr(d, off), v);
}

uint16_t
tg_pci_read16(const struct tg_pci_dev *d, uint8_t off)
{
	return (uint16_t)(tg_pci_read32(d, off) >> ((off & 2) * 8));
}

uint8_t
tg_pci_read8(const struct tg_pci_dev *d, uint8_t off)
{
	return (uint8_t)(tg_pci_read32(d, off) >> ((off & 3) * 8));
}

void
tg_pci_write16(const struct tg_pci_dev *d, uint8_t off, uint16_t v)
{
	uint32_t old = tg_pci_read32(d, off);
	unsigned int sh = (off & 2) * 8;

	tg_pci_write32(d, off, (old & ~(0xffffu << sh)) | ((uint32_t)v << sh));
}

static void
read_bars(struct tg_pci_dev *d)
{
	for (int i = 0; i < 6; i++) {
		uint32_t lo = tg_pci_read32(d, (uint8_t)(0x10 + i * 4));

		if (lo & 1) {
			d->bar[i] = lo & ~3u;
			continue;
		}
		d->bar[i] = lo & ~0xfu;
		if ((lo & 6) == 4 && i < 5) {
			d->bar[i] |= (uint64_t)tg_pci_read32(
					     d, (uint8_t)(0x14 + i * 4))
				     << 32;
			i++;
		}
	}
}

static void
find_msix(struct tg_pci_dev *d)
{
	uint8_t cap;
	int guard = 48;

	if (!(tg_pci_read16(d, 0x06) & 0x10))
		return;
	for (cap = tg_pci_read8(d, 0x34) & 0xfc; cap && guard--;
	     cap = tg_pci_read8(d, cap + 1) & 0xfc) {
		if (tg_pci_read8(d, cap) == PCI_CAP_MSIX) {
			uint32_t t = tg_pci_read32(d, cap + 4);

			d->msix_cap = cap;
			d->msix_size = (tg_pci_read16(d, cap + 2) & 0x7ff) + 1;
			d->msix_table = d->bar[t & 7] + (t & ~7u);
			return;
		}
	}
}

int
tg_pci_scan(struct tg_pci_dev *out, int max, bool print)
{
	int n = 0;

	for (uint8_t dev = 0; dev < 32 && n < max; dev++) {
		struct tg_pci_dev d = { .bus = 0, .dev = dev, .fn = 0 };
		uint32_t id = tg_pci_read32(&d, 0);

		if ((id & 0xffff) == 0xffff || (id & 0xffff) == 0)
			continue; /* absent (0 where there is no ECAM at all) */
		d.vendor = (uint16_t)id;
		d.device = (uint16_t)(id >> 16);
		read_bars(&d);
		find_msix(&d);
		/* Memory decoding and bus mastering on. */
		tg_pci_write16(&d, 0x04, tg_pci_read16(&d, 0x04) | 0x6);
		if (print)
			tg_printf("pci 00:%02x.0 %04x:%04x class %06x bar0 0x%lx "
				  "msix %u\n",
				  dev, d.vendor, d.device,
				  tg_pci_read32(&d, 8) >> 8, d.bar[0],
				  d.msix_size);
		out[n++] = d;
	}
	return n;
}

int
tg_pci_msix_enable(struct tg_pci_dev *d, unsigned int vector_base)
{
	if (!d->msix_cap)
		return -1;
	for (unsigned int i = 0; i < d->msix_size; i++) {
		uint64_t e = d->msix_table + i * 16;

		mmio_write32(e, TG_MSI_ADDR);
		mmio_write32(e + 4, 0);
		mmio_write32(e + 8, vector_base + i);
		mmio_write32(e + 12, 0); /* unmasked */
	}
	/* Enable, function mask off. */
	tg_pci_write16(d, d->msix_cap + 2,
		       (tg_pci_read16(d, d->msix_cap + 2) & 0x3fff) | 0x8000);
	return 0;
}
