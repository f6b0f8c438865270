/* SPDX-License-Identifier: MIT */
/* The test guest's virtio 1.x PCI driver (modern transport, split rings). */
#ifndef TG_VIRTIO_H
#define TG_VIRTIO_H

#include "tg.h"

#define VIRTIO_STATUS_ACK 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_INDIRECT 28
#define VIRTIO_F_EVENT_IDX 29

#define VRING_F_NEXT 1
#define VRING_F_WRITE 2
#define VRING_F_INDIRECT 4

/* common config offsets */
#define VC_DFSELECT 0x00
#define VC_DF 0x04
#define VC_GFSELECT 0x08
#define VC_GF 0x0c
#define VC_MSIX_CONFIG 0x10
#define VC_NUMQ 0x12
#define VC_STATUS 0x14
#define VC_QSELECT 0x16
#define VC_QSIZE 0x18
#define VC_QVECTOR 0x1a
#define VC_QENABLE 0x1c
#define VC_QNOTIFY_OFF 0x1e
#define VC_QDESC 0x20
#define VC_QAVAIL 0x28
#define VC_QUSED 0x30

struct tg_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct tg_vq {
	uint16_t size, num_free, free_head, last_used, index;
	volatile struct tg_desc *desc;
	volatile uint16_t *avail; /* flags, idx, ring[] */
	volatile uint32_t *used;  /* flags|idx, then {id, len} pairs */
	uint64_t notify;
	unsigned int vector;
	bool event_idx;           /* VIRTIO_RING_F_EVENT_IDX negotiated */
	uint16_t kicked_avail;    /* avail index at the last kick */
	uint64_t kicks;           /* notifications actually written */
};

struct tg_buf {
	uint64_t addr;
	uint32_t len;
	bool write;
};

struct tg_virtio {
	struct tg_pci_dev *pci;
	uint64_t common, notify_base, isr, device;
	uint32_t notify_mult;
	uint64_t features;
	unsigned int nq, vec_base;
	struct tg_vq vq[4];
};

/* Finds the next function with virtio device id 'id' after index *pos. */
struct tg_pci_dev *tg_virtio_find(struct tg_pci_dev *devs, int n, uint16_t id,
				  int *pos);
/*
 * Resets and sets up 'd': features 'want' & offered, 'nq' queues of at
 * most 'qmax' entries, MSI-X vectors vec_base (config) and vec_base+1+q.
 * Returns 0 or -1 (message printed).
 */
int tg_virtio_init(struct tg_virtio *v, struct tg_pci_dev *d, uint64_t want,
		   unsigned int nq, uint16_t qmax, unsigned int vec_base);
/* Brings up the queues and sets DRIVER_OK. */
int tg_virtio_start(struct tg_virtio *v);
void tg_virtio_reset(struct tg_virtio *v);
uint8_t tg_virtio_status(struct tg_virtio *v);
/* Adds a chain; returns the head or -1 if the ring is full. */
int tg_vq_add(struct tg_vq *q, const struct tg_buf *b, unsigned int n);
void tg_vq_kick(struct tg_vq *q);
/* EVENT_IDX: ask for an interrupt only after 'n' more completions. */
void tg_vq_interrupt_after(struct tg_vq *q, uint16_t n);
/* True when a finished chain waits (nothing is taken). */
bool tg_vq_has_used(struct tg_vq *q);
/* A finished chain's head (and written length), or -1. */
int tg_vq_used(struct tg_vq *q, uint32_t *len);
/* Waits for a used chain (interrupt-driven); -1 on timeout/reset. */
int tg_vq_wait(struct tg_virtio *v, struct tg_vq *q, uint32_t *len);

#endif
