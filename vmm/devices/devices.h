/* SPDX-License-Identifier: MIT */
/*
 * The device models behind the virtio-pci transport: block, net (a
 * vhost-user front end) and balloon, plus what vm.c and control.c call
 * on all of them (periodic rate sampling, stop, stats).
 */
#ifndef VMM_DEVICES_H
#define VMM_DEVICES_H

#include "common/json.h"
#include "vmm/vmm-internal.h"

/* Counters and rates a device reports to vmctl stats. */
struct vmm_io_stats {
	uint64_t rd_ops, wr_ops, rd_bytes, wr_bytes, flush_ops, errors;
	double rd_ops_s, wr_ops_s, rd_bytes_s, wr_bytes_s; /* last interval */
};

/* virtio-blk on disk 'index' of the config. */
int vmm_blk_create(struct vmm_vm *vm, unsigned int index,
		   struct vmm_blk_dev **out) must_check;
void vmm_blk_destroy(struct vmm_blk_dev *d);
/* Drains in-flight requests; with 'flush', makes written data durable. */
void vmm_blk_stop(struct vmm_blk_dev *d, bool flush);
void vmm_blk_stats(struct vmm_blk_dev *d, struct vmm_io_stats *s);
const char *vmm_blk_path(const struct vmm_blk_dev *d);
/* What backs the disk: "raw image", "vdisk thin on the datastore"... */
const char *vmm_blk_kind(const struct vmm_blk_dev *d);
/* The engine's disk behind it (NULL for raw images). */
struct vdisk *vmm_blk_vdisk(const struct vmm_blk_dev *d);
/* Its diskN number in the config. */
unsigned int vmm_blk_index(const struct vmm_blk_dev *d);

/* virtio-net whose queues a vhost-user back end serves. */
int vmm_net_create(struct vmm_vm *vm, unsigned int index,
		   struct vmm_net_dev **out) must_check;
void vmm_net_destroy(struct vmm_net_dev *d);
void vmm_net_stop(struct vmm_net_dev *d);
/* rx = frames the guest received; tx = frames it sent. */
void vmm_net_stats(struct vmm_net_dev *d, struct vmm_io_stats *s,
		   bool *connected);
const char *vmm_net_socket(const struct vmm_net_dev *d);

int vmm_balloon_create(struct vmm_vm *vm, struct vmm_balloon **out)
	must_check;
void vmm_balloon_destroy(struct vmm_balloon *b);
/* Asks the guest to hold 'bytes' of its memory in the balloon. */
int vmm_balloon_set_target(struct vmm_balloon *b, uint64_t bytes);
/* Bytes the guest has given back so far, and the current target. */
void vmm_balloon_info(struct vmm_balloon *b, uint64_t *actual,
		      uint64_t *target);

/* virtio-console on the config's 'console' back end. */
int vmm_console_create(struct vmm_vm *vm, struct vmm_console **out)
	must_check;
void vmm_console_destroy(struct vmm_console *c);
/* Bytes given to the guest and taken from it so far. */
void vmm_console_stats(struct vmm_console *c, uint64_t *rx_bytes,
		       uint64_t *tx_bytes);

/* Every loop turn (at most once a second it samples rates). */
void vmm_devices_tick(struct vmm_vm *vm);
/* After the vCPUs stopped: quiesce every device. */
void vmm_devices_stop(struct vmm_vm *vm, bool flush);
void vmm_devices_destroy(struct vmm_vm *vm);

/* Rate bookkeeping shared by the models. */
struct vmm_rate {
	uint64_t last_ns;
	struct vmm_io_stats last;
	double rd_ops_s, wr_ops_s, rd_bytes_s, wr_bytes_s;
};
void vmm_rate_sample(struct vmm_rate *r, const struct vmm_io_stats *now,
		     uint64_t now_ns);

#endif
