/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk internals shared by the device model (virtio-blk.c) and
 * request parsing (virtio-blk-req.c).
 */
#ifndef VMM_VIRTIO_BLK_H
#define VMM_VIRTIO_BLK_H

#include <linux/virtio_blk.h>

#include "vmm/block.h"
#include "vmm/devices/devices.h"
#include "vmm/virtio/virtio.h"

#define BLK_QUEUE_SIZE 256
#define BLK_SEG_MAX 254

/* The small fields first: a short chain touches two pages of a slot. */
struct blk_req {
	struct vmm_blk_io io;
	struct vmm_blk_dev *dev;
	uint8_t *status;            /* the last writable byte of the chain */
	uint32_t type;
	uint32_t written;           /* bytes reported in the used ring */
	struct blk_req *next_free;
	struct vmm_vq_elem elem;
	struct iovec data[VQ_MAX_IOV];
};

struct vmm_blk_dev {
	struct vmm_virtio_dev vdev;
	struct vmm_vm *vm;
	unsigned int index;
	char *path;
	struct vmm_blk_backend *be;
	char serial[VIRTIO_BLK_ID_BYTES];
	/* I/O thread */
	pthread_t thread;
	bool running;
	int epfd;
	int stop_fd;
	struct blk_req *reqs;
	struct blk_req *free_reqs;  /* slots used before and free again */
	unsigned int nfresh;        /* reqs[nfresh..] never used yet */
	unsigned int inflight;
	bool need_notify;
	uint64_t guest_poll_ns;     /* cpu.latency = high: see poll_guest() */
	uint64_t interrupted_ns;    /* when the last interrupt was sent */
	/* counters, written by the I/O thread */
	_Atomic uint64_t rd_ops, wr_ops, rd_bytes, wr_bytes, flush_ops, errors;
	struct vmm_rate rate;
	pthread_mutex_t stats_lock;
};

/*
 * Parses the chain in 'r->elem' into 'r->io' and submits it, or
 * completes it at once (GET_ID, bad sector range, unsupported type).
 * Returns 0, or -EIO when the chain has no room for a header or status
 * byte (a malformed queue: the caller stops the device).
 */
int blk_req_start(struct vmm_blk_dev *d, struct blk_req *r) must_check;
/* Writes the status byte, returns the chain, counts. */
void blk_req_finish(struct vmm_blk_dev *d, struct blk_req *r, uint8_t status);

#endif
