/* SPDX-License-Identifier: MIT */
/*
 * PCI host bridge and configuration space (see pci.h). Accesses come from
 * vCPU threads through the port bus (0xcf8/0xcfc, what Linux uses
 * without ACPI) or the ECAM window (what the test guest uses: its ring 3
 * can do MMIO but not port I/O under PVM); one mutex orders them. BAR and
 * command-register writes recompute what each BAR decodes and tell the
 * device model, which moves its MMIO range and ioeventfds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/pci.h"

#define PCI_SLOTS 32
#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2
#define PCI_BAR0 0x10

struct vmm_pci {
	struct vmm_vm *vm;
	pthread_mutex_t lock;
	uint32_t addr;                    /* 0xcf8 latch */
	struct vmm_pci_dev *dev[PCI_SLOTS];
	struct vmm_pci_dev bridge;
	uint64_t mmio_next;
};

static uint64_t
bar_decode(const struct vmm_pci_dev *d, int i)
{
	uint32_t v = pci_get32(&d->cfg[PCI_BAR0 + i * 4]) & ~0xfu;

	if (!d->bar_size[i] || !(pci_get16(&d->cfg[PCI_COMMAND]) &
				 PCI_COMMAND_MEMORY))
		return 0;
	/* Mid-sizing (all ones) or unassigned: decode nothing. */
	if (v == 0 || v == (~(d->bar_size[i] - 1) & ~0xfu))
		return 0;
	return v;
}

static void
bars_update(struct vmm_pci_dev *d)
{
	for (int i = 0; i < 6; i++) {
		uint64_t now = bar_decode(d, i);

		if (now == d->bar_mapped[i])
			continue;
		if (d->bar_moved)
			d->bar_moved(d, i, d->bar_mapped[i], now);
		d->bar_mapped[i] = now;
	}
}

static void
cfg_access(struct vmm_pci_dev *d, uint32_t off, uint8_t *data, uint32_t len,
	   bool is_write)
{
	bool bars = false;

	if (!is_write) {
		if (d->cfg_reading)
			d->cfg_reading(d, off, len);
		memcpy(data, &d->cfg[off], len);
		return;
	}
	for (uint32_t i = 0; i < len; i++) {
		uint32_t o = off + i;

		d->cfg[o] = (uint8_t)((d->cfg[o] & ~d->wmask[o]) |
				      (data[i] & d->wmask[o]));
		if ((o >= PCI_BAR0 && o < PCI_BAR0 + 24) || o == PCI_COMMAND)
			bars = true;
	}
	if (bars)
		bars_update(d);
	if (d->cfg_written)
		d->cfg_written(d, off, len);
}

static void
pci_io(void *opaque, uint64_t port, uint8_t *data, uint32_t len,
       bool is_write)
{
	struct vmm_pci *pci = opaque;
	struct vmm_pci_dev *d;
	uint32_t a, off;

	pthread_mutex_lock(&pci->lock);
	if (port < 4) {
		/* The address latch takes only 32-bit accesses. */
		if (port == 0 && len == 4) {
			if (is_write)
				pci->addr = pci_get32(data);
			else
				pci_put32(data, pci->addr);
		} else if (!is_write) {
			memset(data, 0xff, len);
		}
		goto out;
	}
	a = pci->addr;
	off = (a & 0xfc) + (uint32_t)(port - 4);
	d = NULL;
	/* Bus 0, function 0 only; everything else reads as absent. */
	if ((a & 0x80000000u) && ((a >> 16) & 0xff) == 0 &&
	    ((a >> 8) & 7) == 0)
		d = pci->dev[(a >> 11) & 31];
	if (!d || off + len > PCI_CFG_SIZE) {
		if (!is_write)
			memset(data, 0xff, len);
		goto out;
	}
	cfg_access(d, off, data, len, is_write);
out:
	pthread_mutex_unlock(&pci->lock);
}

/* ECAM (PCIe memory-mapped config) for bus 0: same space, MMIO path. */
static void
ecam_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	bool is_write)
{
	struct vmm_pci *pci = opaque;
	struct vmm_pci_dev *d = NULL;
	uint32_t reg = off & 0xfff;

	pthread_mutex_lock(&pci->lock);
	if (((off >> 12) & 7) == 0)
		d = pci->dev[(off >> 15) & 31];
	if (d && reg + len <= PCI_CFG_SIZE && len <= 4 && (reg & (len - 1)) == 0)
		cfg_access(d, reg, data, len, is_write);
	else if (!is_write)
		memset(data, d ? 0 : 0xff, len);
	pthread_mutex_unlock(&pci->lock);
}

int
vmm_pci_add(struct vmm_pci *pci, struct vmm_pci_dev *d)
{
	unsigned int slot;

	for (slot = 0; slot < PCI_SLOTS && pci->dev[slot]; slot++)
		;
	if (slot == PCI_SLOTS)
		return -ENOSPC;
	d->slot = slot;
	for (int i = 0; i < 6; i++) {
		uint64_t sz = d->bar_size[i];

		if (!sz)
			continue;
		pci->mmio_next = ALIGN_UP(pci->mmio_next, sz);
		if (pci->mmio_next + sz > VMM_PCI_MMIO_BASE + VMM_PCI_MMIO_SIZE)
			return -ENOSPC;
		pci_put32(&d->cfg[PCI_BAR0 + i * 4], (uint32_t)pci->mmio_next);
		pci_put32(&d->wmask[PCI_BAR0 + i * 4], ~(uint32_t)(sz - 1) & ~0xfu);
		pci->mmio_next += sz;
	}
	d->cfg[PCI_COMMAND] |= PCI_COMMAND_MEMORY;
	d->wmask[PCI_COMMAND] = 0x06;     /* memory, bus master */
	d->wmask[PCI_COMMAND + 1] = 0x04; /* INTx disable */
	pci->dev[slot] = d;
	bars_update(d);
	return 0;
}

int
vmm_pci_create(struct vmm_vm *vm, struct vmm_pci **out)
{
	struct vmm_pci *pci = calloc(1, sizeof(*pci));
	struct vmm_pci_dev *b;
	int err;

	if (!pci)
		return -ENOMEM;
	pci->vm = vm;
	pci->mmio_next = VMM_PCI_MMIO_BASE;
	pthread_mutex_init(&pci->lock, NULL);
	b = &pci->bridge;
	pci_put16(&b->cfg[0], 0x1b36);     /* Red Hat, Inc. */
	pci_put16(&b->cfg[2], 0x0008);     /* PCIe host bridge */
	pci_put32(&b->cfg[8], 0x06000000); /* class: host bridge, rev 0 */
	err = vmm_pci_add(pci, b);
	if (err == 0)
		err = vmm_bus_add(&vm->pio, 0xcf8, 8, pci_io, pci);
	if (err == 0)
		err = vmm_bus_add(&vm->mmio, VMM_PCI_ECAM_BASE, 1u << 20, ecam_io,
				  pci);
	if (err < 0) {
		vmm_pci_destroy(pci);
		return err;
	}
	*out = pci;
	return 0;
}

void
vmm_pci_destroy(struct vmm_pci *pci)
{
	if (!pci)
		return;
	pthread_mutex_destroy(&pci->lock);
	free(pci);
}
