/* SPDX-License-Identifier: MIT */
/*
 * The virtio 1.x modern PCI transport (virtio spec 4.1): vendor 0x1af4,
 * device 0x1040 + id, one 16 KiB memory BAR holding the common config,
 * MSI-X table and PBA, ISR, device config and notify area, described by
 * vendor capabilities. Kick and interrupt eventfds per queue; masked
 * MSI-X vectors are emulated by unbinding the irqfd and watching the
 * eventfd from the event loop, setting the PBA bit, and injecting on
 * unmask.
 *
 * BAR0:  0x0000 common  0x0800 MSI-X table  0x0c00 PBA  0x1000 ISR
 *        0x2000 device config  0x3000 notify (queue q at 0x3000 + 4q)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#include "vmm/virtio/virtio.h"

#define BAR_SIZE 0x4000
#define OFF_COMMON 0x0000
#define OFF_MSIX_TABLE 0x0800
#define OFF_MSIX_PBA 0x0c00
#define OFF_ISR 0x1000
#define OFF_DEVICE 0x2000
#define OFF_NOTIFY 0x3000
#define NOTIFY_MULT 4

#define CAP_MSIX 0x40
#define CAP_COMMON 0x4c
#define CAP_NOTIFY 0x5c
#define CAP_ISR 0x70
#define CAP_DEVICE 0x80
#define CAP_PCICFG 0x90

#define MSIX_ENABLE 0x8000
#define MSIX_FMASK 0x4000

static void bar_access(struct vmm_virtio_dev *v, uint64_t off, uint8_t *data,
		       uint32_t len, bool is_write);

bool
vmm_virtio_has(const struct vmm_virtio_dev *v, unsigned int bit)
{
	return v->driver_features & (1ull << bit);
}

static uint16_t
msix_ctrl(const struct vmm_virtio_dev *v)
{
	return pci_get16(&v->pci.cfg[CAP_MSIX + 2]);
}

/* Whether MSI-X vector 'vec' can fire now (v->lock held). */
static bool
vector_live(const struct vmm_virtio_dev *v, uint16_t vec)
{
	uint16_t c = msix_ctrl(v);

	return vec < v->nvectors && (c & MSIX_ENABLE) && !(c & MSIX_FMASK) &&
	       !(v->msix_table[vec][3] & 1);
}

static uint64_t
vec_addr(const struct vmm_virtio_dev *v, uint16_t vec)
{
	return v->msix_table[vec][0] | ((uint64_t)v->msix_table[vec][1] << 32);
}

/* The loop callback gets the device; find which queue fired by fd. */
static void
masked_event(struct vmm_vm *vm, void *opaque, uint32_t events)
{
	struct vmm_virtio_dev *v = opaque;
	uint64_t n;

	pthread_mutex_lock(&v->lock);
	for (unsigned int q = 0; q < v->nqueues; q++) {
		struct vmm_vq *vq = &v->vq[q];

		if (!vq->mask_watched)
			continue;
		if (read(vq->call_fd, &n, sizeof(n)) == sizeof(n) &&
		    vq->vector < v->nvectors)
			v->msix_pba |= 1ull << vq->vector;
	}
	pthread_mutex_unlock(&v->lock);
}

static void
deliver_pending(struct vmm_virtio_dev *v)
{
	for (uint16_t vec = 0; vec < v->nvectors; vec++) {
		if (!(v->msix_pba & (1ull << vec)) || !vector_live(v, vec))
			continue;
		v->msix_pba &= ~(1ull << vec);
		vmm_irq_msi_signal(v->vm, vec_addr(v, vec), v->msix_table[vec][2]);
	}
}

static int
vector_gsi(struct vmm_virtio_dev *v, uint16_t vec)
{
	if (v->gsi[vec] < 0)
		v->gsi[vec] = vmm_irq_msi_alloc(v->vm);
	return v->gsi[vec];
}

/* Binds or unbinds one queue's irqfd to match its vector's state. */
static void
queue_irq_update(struct vmm_virtio_dev *v, struct vmm_vq *vq)
{
	bool want = vector_live(v, vq->vector);
	int gsi = want ? vector_gsi(v, vq->vector) : -1;

	if (want && gsi < 0)
		want = false;
	if (vq->irqfd_bound && (!want || vq->irqfd_gsi != gsi)) {
		if (vmm_irqfd(v->vm, vq->call_fd, vq->irqfd_gsi, false) < 0)
			log_warn("vmm.virtio", "irqfd unbind failed");
		vq->irqfd_bound = false;
	}
	if (want && !vq->irqfd_bound) {
		if (vq->mask_watched) {
			vmm_loop_del(v->vm, &vq->mask_ev);
			vq->mask_watched = false;
		}
		if (vmm_irqfd(v->vm, vq->call_fd, gsi, true) == 0) {
			vq->irqfd_bound = true;
			vq->irqfd_gsi = gsi;
		}
	}
	if (!want && !vq->mask_watched) {
		vq->mask_ev = (struct vmm_event){ vq->call_fd, masked_event, v };
		if (vmm_loop_add(v->vm, &vq->mask_ev, EPOLLIN) == 0)
			vq->mask_watched = true;
	}
}

static void
irqs_update(struct vmm_virtio_dev *v)
{
	for (uint16_t vec = 0; vec < v->nvectors; vec++) {
		int gsi;

		if (!vector_live(v, vec))
			continue;
		gsi = vector_gsi(v, vec);
		if (gsi >= 0 && vmm_irq_msi_route(v->vm, gsi, vec_addr(v, vec),
						  v->msix_table[vec][2], true) < 0)
			log_warn("vmm.virtio", "%s: MSI route failed",
				 v->ops->name);
	}
	for (unsigned int q = 0; q < v->nqueues; q++)
		queue_irq_update(v, &v->vq[q]);
	deliver_pending(v);
}

static void
config_irq_locked(struct vmm_virtio_dev *v)
{
	v->isr |= VIRTIO_PCI_ISR_CONFIG;
	v->config_generation++;
	if (v->msix_config >= v->nvectors)
		return;
	if (vector_live(v, v->msix_config))
		vmm_irq_msi_signal(v->vm, vec_addr(v, v->msix_config),
				   v->msix_table[v->msix_config][2]);
	else
		v->msix_pba |= 1ull << v->msix_config;
}

void
vmm_virtio_config_changed(struct vmm_virtio_dev *v)
{
	pthread_mutex_lock(&v->lock);
	config_irq_locked(v);
	pthread_mutex_unlock(&v->lock);
}

void
vmm_virtio_fail(struct vmm_virtio_dev *v, const char *why)
{
	pthread_mutex_lock(&v->lock);
	if (!(v->status & VIRTIO_CONFIG_S_NEEDS_RESET)) {
		log_err("vmm.virtio", "%s (pci 00:%02x.0): %s: device stopped "
			"until the guest resets it",
			v->ops->name, v->pci.slot, why);
		v->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
		config_irq_locked(v);
	}
	pthread_mutex_unlock(&v->lock);
}

static void
device_stop_locked(struct vmm_virtio_dev *v)
{
	if (!v->started)
		return;
	v->started = false;
	/* The model's threads may take v->lock to fail the device. */
	pthread_mutex_unlock(&v->lock);
	v->ops->stop(v);
	pthread_mutex_lock(&v->lock);
}

static void
device_reset_locked(struct vmm_virtio_dev *v)
{
	device_stop_locked(v);
	v->status = 0;
	v->driver_features = 0;
	v->dfselect = v->gfselect = 0;
	v->queue_select = 0;
	v->msix_config = VIRTIO_NO_VECTOR;
	v->isr = 0;
	for (unsigned int q = 0; q < v->nqueues; q++) {
		struct vmm_vq *vq = &v->vq[q];

		vq->size = v->queue_max;
		vq->enabled = false;
		vq->vector = VIRTIO_NO_VECTOR;
		vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
		vq->desc = NULL;
		vq->avail = NULL;
		vq->used = NULL;
		vq->broken = false;
		queue_irq_update(v, vq);
	}
}

static void
driver_ok(struct vmm_virtio_dev *v)
{
	int err;

	for (unsigned int q = 0; q < v->nqueues; q++) {
		struct vmm_vq *vq = &v->vq[q];

		if (!vq->enabled)
			continue;
		vq->event_idx = vmm_virtio_has(v, VIRTIO_RING_F_EVENT_IDX);
		if (vmm_vq_map(vq, &v->vm->mem) < 0) {
			log_err("vmm.virtio", "%s: queue %u: size %u or ring "
				"addresses invalid: device stopped",
				v->ops->name, q, vq->size);
			v->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
			config_irq_locked(v);
			return;
		}
	}
	v->started = true;
	pthread_mutex_unlock(&v->lock);
	err = v->ops->start(v);
	pthread_mutex_lock(&v->lock);
	if (err < 0) {
		v->started = false;
		log_err("vmm.virtio", "%s: start: %s", v->ops->name,
			strerror(-err));
		v->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
		config_irq_locked(v);
	}
}

static void
status_write(struct vmm_virtio_dev *v, uint8_t s)
{
	uint8_t old = v->status;

	if (s == 0) {
		device_reset_locked(v);
		return;
	}
	if ((s & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    !(old & VIRTIO_CONFIG_S_FEATURES_OK)) {
		if ((v->driver_features & ~v->device_features) ||
		    !vmm_virtio_has(v, VIRTIO_F_VERSION_1))
			s &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
	}
	v->status = s | (old & VIRTIO_CONFIG_S_NEEDS_RESET);
	if ((s & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK))
		driver_ok(v);
}

static struct vmm_vq *
cur_vq(struct vmm_virtio_dev *v)
{
	return v->queue_select < v->nqueues ? &v->vq[v->queue_select] : NULL;
}

static uint64_t
common_read(struct vmm_virtio_dev *v, uint32_t off)
{
	struct vmm_vq *vq = cur_vq(v);

	switch (off) {
	case 0x00: return v->dfselect;
	case 0x04:
		return v->dfselect < 2 ? (uint32_t)(v->device_features >>
						   (32 * v->dfselect))
				       : 0;
	case 0x08: return v->gfselect;
	case 0x0c:
		return v->gfselect < 2 ? (uint32_t)(v->driver_features >>
						   (32 * v->gfselect))
				       : 0;
	case 0x10: return v->msix_config;
	case 0x12: return v->nqueues;
	case 0x14: return v->status;
	case 0x15: return v->config_generation;
	case 0x16: return v->queue_select;
	case 0x18: return vq ? vq->size : 0;
	case 0x1a: return vq ? vq->vector : VIRTIO_NO_VECTOR;
	case 0x1c: return vq ? vq->enabled : 0;
	case 0x1e: return vq ? v->queue_select : 0;
	case 0x20: return vq ? vq->desc_gpa : 0;
	case 0x24: return vq ? vq->desc_gpa >> 32 : 0;
	case 0x28: return vq ? vq->avail_gpa : 0;
	case 0x2c: return vq ? vq->avail_gpa >> 32 : 0;
	case 0x30: return vq ? vq->used_gpa : 0;
	case 0x34: return vq ? vq->used_gpa >> 32 : 0;
	default: return 0;
	}
}

static void
set_lo_hi(uint64_t *f, uint32_t off, uint64_t val)
{
	if (off & 4)
		*f = (*f & 0xffffffffull) | (val << 32);
	else
		*f = (*f & ~0xffffffffull) | (uint32_t)val;
}

static void
common_write(struct vmm_virtio_dev *v, uint32_t off, uint64_t val)
{
	struct vmm_vq *vq = cur_vq(v);
	bool live = v->status & VIRTIO_CONFIG_S_DRIVER_OK;

	switch (off) {
	case 0x00: v->dfselect = (uint32_t)val; return;
	case 0x08: v->gfselect = (uint32_t)val; return;
	case 0x0c:
		if (v->gfselect < 2 && !(v->status & VIRTIO_CONFIG_S_FEATURES_OK))
			set_lo_hi(&v->driver_features, v->gfselect * 4, val);
		return;
	case 0x10:
		v->msix_config = val < v->nvectors ? (uint16_t)val
						   : VIRTIO_NO_VECTOR;
		return;
	case 0x14: status_write(v, (uint8_t)val); return;
	case 0x16: v->queue_select = (uint16_t)val; return;
	}
	if (!vq)
		return;
	switch (off) {
	case 0x18:
		if (!live && !vq->enabled)
			vq->size = (uint16_t)val;
		return;
	case 0x1a:
		vq->vector = val < v->nvectors ? (uint16_t)val : VIRTIO_NO_VECTOR;
		queue_irq_update(v, vq);
		return;
	case 0x1c:
		if (!live && val == 1)
			vq->enabled = true;
		return;
	}
	if (live || vq->enabled)
		return; /* ring addresses are fixed once enabled */
	if (off >= 0x20 && off < 0x28)
		set_lo_hi(&vq->desc_gpa, off - 0x20, val);
	else if (off >= 0x28 && off < 0x30)
		set_lo_hi(&vq->avail_gpa, off - 0x28, val);
	else if (off >= 0x30 && off < 0x38)
		set_lo_hi(&vq->used_gpa, off - 0x30, val);
}

/* The field sizes of virtio_pci_common_cfg, for access checking. */
static uint32_t
common_field_size(uint32_t off)
{
	if (off < 0x10)
		return 4;
	if (off == 0x14 || off == 0x15)
		return 1;
	if (off < 0x20)
		return 2;
	return off < 0x38 ? 4 : 0;
}

static void
common_access(struct vmm_virtio_dev *v, uint32_t off, uint8_t *data,
	      uint32_t len, bool is_write)
{
	uint32_t fs = common_field_size(off);
	uint64_t val = 0;

	/* 64-bit ring addresses may be written as one 8-byte access. */
	if (len == 8 && off >= 0x20 && off < 0x38 && !(off & 7)) {
		common_access(v, off, data, 4, is_write);
		common_access(v, off + 4, data + 4, 4, is_write);
		return;
	}
	if (!fs || len != fs) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	if (is_write) {
		memcpy(&val, data, len);
		common_write(v, off, val);
	} else {
		val = common_read(v, off);
		memcpy(data, &val, len);
	}
}

static void
msix_access(struct vmm_virtio_dev *v, uint32_t off, uint8_t *data,
	    uint32_t len, bool is_write)
{
	uint32_t entry = off / 16, word = (off % 16) / 4;

	if (len == 8 && !(off & 7)) {
		msix_access(v, off, data, 4, is_write);
		msix_access(v, off + 4, data + 4, 4, is_write);
		return;
	}
	if (len != 4 || (off & 3) || entry >= v->nvectors) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	if (!is_write) {
		pci_put32(data, v->msix_table[entry][word]);
		return;
	}
	v->msix_table[entry][word] = pci_get32(data);
	if (word == 3)
		v->msix_table[entry][3] &= 1;
	irqs_update(v);
}

static void
notify_write(struct vmm_virtio_dev *v, uint32_t off)
{
	uint32_t q = off / NOTIFY_MULT;
	uint64_t one = 1;

	/* Only reached when the access missed the ioeventfd (odd size). */
	if (q < v->nqueues && write(v->vq[q].kick_fd, &one, sizeof(one)) < 0)
		log_debug("vmm.virtio", "kick: %s", strerror(errno));
}

static void
bar_access(struct vmm_virtio_dev *v, uint64_t off, uint8_t *data,
	   uint32_t len, bool is_write)
{
	if (off < OFF_COMMON + 0x38) {
		common_access(v, (uint32_t)off, data, len, is_write);
	} else if (off >= OFF_MSIX_TABLE &&
		   off < OFF_MSIX_TABLE + 16u * v->nvectors) {
		msix_access(v, (uint32_t)(off - OFF_MSIX_TABLE), data, len,
			    is_write);
	} else if (off >= OFF_MSIX_PBA && off < OFF_MSIX_PBA + 8) {
		if (!is_write) {
			uint64_t p = v->msix_pba >> ((off - OFF_MSIX_PBA) * 8);

			memcpy(data, &p, len);
		}
	} else if (off == OFF_ISR) {
		if (!is_write) {
			memset(data, 0, len);
			data[0] = v->isr;
			v->isr = 0;
		}
	} else if (off >= OFF_DEVICE && off < OFF_DEVICE + v->config_size) {
		uint32_t o = (uint32_t)(off - OFF_DEVICE);

		len = MIN(len, v->config_size - o);
		if (is_write) {
			if (v->ops->config_write)
				v->ops->config_write(v, o, data, len);
		} else {
			v->ops->config_read(v, o, data, len);
		}
	} else if (off >= OFF_NOTIFY &&
		   off < OFF_NOTIFY + NOTIFY_MULT * (uint64_t)v->nqueues) {
		if (is_write)
			notify_write(v, (uint32_t)(off - OFF_NOTIFY));
		else
			memset(data, 0, len);
	} else if (!is_write) {
		memset(data, 0, len);
	}
}

static void
bar_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct vmm_virtio_dev *v = opaque;

	pthread_mutex_lock(&v->lock);
	bar_access(v, off, data, len, is_write);
	pthread_mutex_unlock(&v->lock);
}

static void
bar_moved(struct vmm_pci_dev *d, int bar, uint64_t old, uint64_t new)
{
	struct vmm_virtio_dev *v = d->opaque;

	if (bar != 0)
		return;
	pthread_mutex_lock(&v->lock);
	for (unsigned int q = 0; q < v->nqueues; q++) {
		uint64_t o = OFF_NOTIFY + q * NOTIFY_MULT;

		if (old && vmm_ioeventfd(v->vm, v->vq[q].kick_fd, old + o, false) < 0)
			log_warn("vmm.virtio", "ioeventfd unbind failed");
		if (new && vmm_ioeventfd(v->vm, v->vq[q].kick_fd, new + o, true) < 0)
			log_warn("vmm.virtio", "%s: ioeventfd: %s: kicks will "
				 "exit to the VMM", v->ops->name, strerror(errno));
	}
	v->bar = new;
	pthread_mutex_unlock(&v->lock);
	if (old)
		vmm_bus_del(&v->vm->mmio, old, v);
	if (new && vmm_bus_add(&v->vm->mmio, new, BAR_SIZE, bar_io, v) < 0)
		log_err("vmm.virtio", "%s: BAR0 at 0x%llx overlaps another "
			"device: not decoded", v->ops->name,
			(unsigned long long)new);
}

/* VIRTIO_PCI_CAP_PCI_CFG: a window into the BARs through config space. */
static bool
pcicfg_window(struct vmm_virtio_dev *v, uint32_t *off, uint32_t *len)
{
	const uint8_t *c = &v->pci.cfg[CAP_PCICFG];

	*len = pci_get32(c + 12);
	*off = pci_get32(c + 8);
	return c[4] == 0 && (*len == 1 || *len == 2 || *len == 4) &&
	       *off < BAR_SIZE && *off + *len <= BAR_SIZE;
}

static void
cfg_reading(struct vmm_pci_dev *d, uint32_t off, uint32_t len)
{
	struct vmm_virtio_dev *v = d->opaque;
	uint32_t o, l;

	if (off + len <= CAP_PCICFG + 16 || off >= CAP_PCICFG + 20)
		return;
	if (!pcicfg_window(v, &o, &l))
		return;
	pthread_mutex_lock(&v->lock);
	bar_access(v, o, &d->cfg[CAP_PCICFG + 16], l, false);
	pthread_mutex_unlock(&v->lock);
}

static void
cfg_written(struct vmm_pci_dev *d, uint32_t off, uint32_t len)
{
	struct vmm_virtio_dev *v = d->opaque;
	uint32_t o, l;

	if (off < CAP_MSIX + 4 && off + len > CAP_MSIX + 2) {
		pthread_mutex_lock(&v->lock);
		irqs_update(v);
		pthread_mutex_unlock(&v->lock);
	}
	if (off + len > CAP_PCICFG + 16 && off < CAP_PCICFG + 20 &&
	    pcicfg_window(v, &o, &l)) {
		pthread_mutex_lock(&v->lock);
		bar_access(v, o, &d->cfg[CAP_PCICFG + 16], l, true);
		pthread_mutex_unlock(&v->lock);
	}
}

static void
put_cap(uint8_t *cfg, uint8_t at, uint8_t next, uint8_t len, uint8_t type,
	uint32_t off, uint32_t size)
{
	cfg[at] = 0x09; /* vendor specific */
	cfg[at + 1] = next;
	cfg[at + 2] = len;
	cfg[at + 3] = type;
	cfg[at + 4] = 0; /* BAR0 */
	pci_put32(&cfg[at + 8], off);
	pci_put32(&cfg[at + 12], size);
}

static void
build_config_space(struct vmm_virtio_dev *v)
{
	struct vmm_pci_dev *p = &v->pci;
	uint8_t *c = p->cfg;

	pci_put16(&c[0x00], 0x1af4);
	pci_put16(&c[0x02], (uint16_t)(0x1040 + v->ops->device_id));
	pci_put16(&c[0x06], 0x10); /* capability list */
	c[0x08] = 1;               /* revision: modern only */
	c[0x0a] = (uint8_t)v->ops->pci_class;
	c[0x0b] = (uint8_t)(v->ops->pci_class >> 8);
	pci_put16(&c[0x2c], 0x1af4);
	pci_put16(&c[0x2e], v->ops->device_id);
	c[0x34] = CAP_MSIX;
	c[0x3d] = 1;               /* INTA#, never raised: MSI-X only */
	p->bar_size[0] = BAR_SIZE;

	c[CAP_MSIX] = 0x11;
	c[CAP_MSIX + 1] = CAP_COMMON;
	pci_put16(&c[CAP_MSIX + 2], (uint16_t)(v->nvectors - 1));
	pci_put32(&c[CAP_MSIX + 4], OFF_MSIX_TABLE);
	pci_put32(&c[CAP_MSIX + 8], OFF_MSIX_PBA);
	p->wmask[CAP_MSIX + 3] = 0xc0; /* enable, function mask */

	put_cap(c, CAP_COMMON, CAP_NOTIFY, 16, VIRTIO_PCI_CAP_COMMON_CFG,
		OFF_COMMON, 0x38);
	put_cap(c, CAP_NOTIFY, CAP_ISR, 20, VIRTIO_PCI_CAP_NOTIFY_CFG,
		OFF_NOTIFY, NOTIFY_MULT * v->nqueues);
	pci_put32(&c[CAP_NOTIFY + 16], NOTIFY_MULT);
	put_cap(c, CAP_ISR, CAP_DEVICE, 16, VIRTIO_PCI_CAP_ISR_CFG, OFF_ISR, 4);
	put_cap(c, CAP_DEVICE, CAP_PCICFG, 16, VIRTIO_PCI_CAP_DEVICE_CFG,
		OFF_DEVICE, v->config_size);
	put_cap(c, CAP_PCICFG, 0, 20, VIRTIO_PCI_CAP_PCI_CFG, 0, 0);
	memset(&p->wmask[CAP_PCICFG + 4], 0xff, 1);
	memset(&p->wmask[CAP_PCICFG + 8], 0xff, 12);
}

int
vmm_virtio_init(struct vmm_virtio_dev *v, struct vmm_vm *vm,
		const struct vmm_virtio_ops *ops, void *priv, uint16_t nqueues,
		uint16_t queue_max, uint64_t features, uint32_t config_size)
{
	int err;

	if (nqueues > VIRTIO_MAX_QUEUES || config_size > 0x1000)
		return -EINVAL;
	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->ops = ops;
	v->priv = priv;
	v->nqueues = nqueues;
	v->queue_max = queue_max;
	v->nvectors = (uint16_t)(nqueues + 1);
	v->config_size = config_size;
	v->device_features = features | (1ull << VIRTIO_F_VERSION_1);
	pthread_mutex_init(&v->lock, NULL);
	for (int i = 0; i < VIRTIO_MAX_VECTORS; i++) {
		v->gsi[i] = -1;
		v->msix_table[i][3] = 1; /* masked at reset */
	}
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		v->vq[q].kick_fd = v->vq[q].call_fd = -1;
	for (unsigned int q = 0; q < nqueues; q++) {
		v->vq[q].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		v->vq[q].call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (v->vq[q].kick_fd < 0 || v->vq[q].call_fd < 0) {
			err = -errno;
			goto err;
		}
	}
	v->pci.opaque = v;
	v->pci.bar_moved = bar_moved;
	v->pci.cfg_written = cfg_written;
	v->pci.cfg_reading = cfg_reading;
	build_config_space(v);
	pthread_mutex_lock(&v->lock);
	device_reset_locked(v);
	pthread_mutex_unlock(&v->lock);
	err = vmm_pci_add(vm->pci, &v->pci);
	if (err < 0)
		goto err;
	return 0;
err:
	vmm_virtio_fini(v);
	return err;
}

void
vmm_virtio_shutdown(struct vmm_virtio_dev *v)
{
	pthread_mutex_lock(&v->lock);
	device_stop_locked(v);
	pthread_mutex_unlock(&v->lock);
}

void
vmm_virtio_fini(struct vmm_virtio_dev *v)
{
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (v->vq[q].mask_watched)
			vmm_loop_del(v->vm, &v->vq[q].mask_ev);
		if (v->vq[q].kick_fd >= 0)
			close(v->vq[q].kick_fd);
		if (v->vq[q].call_fd >= 0)
			close(v->vq[q].call_fd);
		v->vq[q].kick_fd = v->vq[q].call_fd = -1;
	}
	pthread_mutex_destroy(&v->lock);
}
