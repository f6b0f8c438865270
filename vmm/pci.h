/* SPDX-License-Identifier: MIT */
/*
 * The PCI host bridge: bus 0 through configuration mechanism #1 (ports
 * 0xcf8-0xcff), one function per slot, 32-bit memory BARs placed by the
 * VMM in the window at 0xc0000000 (as firmware would) and movable by
 * the guest. Device models (virtio-pci) fill a vmm_pci_dev.
 */
#ifndef VMM_PCI_H
#define VMM_PCI_H

#include "vmm/vmm-internal.h"

#define PCI_CFG_SIZE 256

struct vmm_pci_dev {
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];  /* bits the guest may write */
	uint32_t bar_size[6];         /* 0: no BAR; power of two */
	uint64_t bar_mapped[6];       /* address decoded now, 0: off */
	unsigned int slot;
	void *opaque;
	/* BAR 'bar' moved from 'old' to 'new' (0: not decoded). */
	void (*bar_moved)(struct vmm_pci_dev *d, int bar, uint64_t old,
			  uint64_t new);
	/* After a guest write to [off, off+len) of config space; may be NULL. */
	void (*cfg_written)(struct vmm_pci_dev *d, uint32_t off, uint32_t len);
	/* Before a guest read; may be NULL. */
	void (*cfg_reading)(struct vmm_pci_dev *d, uint32_t off, uint32_t len);
};

int vmm_pci_create(struct vmm_vm *vm, struct vmm_pci **out) must_check;
void vmm_pci_destroy(struct vmm_pci *pci);
/*
 * Plugs 'd' into the next free slot, giving its BARs addresses in the
 * MMIO window and decoding on. Call before the vCPUs start.
 */
int vmm_pci_add(struct vmm_pci *pci, struct vmm_pci_dev *d) must_check;

static inline void
pci_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void
pci_put32(uint8_t *p, uint32_t v)
{
	pci_put16(p, (uint16_t)v);
	pci_put16(p + 2, (uint16_t)(v >> 16));
}

static inline uint16_t
pci_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t
pci_get32(const uint8_t *p)
{
	return pci_get16(p) | ((uint32_t)pci_get16(p + 2) << 16);
}

#endif
