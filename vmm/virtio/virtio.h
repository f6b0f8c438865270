/* SPDX-License-Identifier: MIT */
/*
 * virtio 1.x for device models: split virtqueues with every guest value
 * checked (virtqueue.c) and the modern PCI transport with MSI-X
 * (virtio-pci.c). Kicks arrive on an eventfd per queue (a KVM ioeventfd
 * on the queue's notify address); interrupts leave on an eventfd per
 * queue bound to the vector's GSI with a KVM irqfd, so neither path
 * enters the VMM's vCPU threads. Device models read the kick eventfds on
 * their own threads (or hand both fds to a vhost-user back end).
 */
#ifndef VMM_VIRTIO_H
#define VMM_VIRTIO_H

#include <linux/virtio_ring.h>
#include <sys/uio.h>

#include "vmm/pci.h"

#define VQ_MAX_SIZE 1024
#define VQ_MAX_IOV 260      /* data segments per request, plus headers */
#define VIRTIO_MAX_QUEUES 8
#define VIRTIO_MAX_VECTORS 9
#define VIRTIO_NO_VECTOR 0xffff

struct vmm_vq {
	/* set by the driver through the common config */
	uint16_t size;
	bool enabled;
	uint16_t vector;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	/* mapped at DRIVER_OK by vmm_vq_map() */
	const struct vmm_mem *mem;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail;
	uint16_t used_idx;
	uint16_t signalled_used;  /* used_idx at the last interrupt (EVENT_IDX) */
	bool broken;            /* the guest put garbage in it: no more I/O */
	bool event_idx;         /* VIRTIO_RING_F_EVENT_IDX negotiated */
	/* eventfds */
	int kick_fd;            /* ioeventfd on the notify address */
	int call_fd;            /* irqfd to the vector's GSI */
	bool irqfd_bound;
	int irqfd_gsi;
	struct vmm_event mask_ev; /* watches call_fd while the vector is masked */
	bool mask_watched;
};

struct vmm_vq_elem {
	uint16_t head;
	unsigned int nout, nin;    /* device-readable, then device-writable */
	uint64_t out_len, in_len;
	struct iovec iov[VQ_MAX_IOV];
};

/*
 * Checks the ring addresses and size and maps them. Returns 0 or -EINVAL
 * (size not a power of two or too large, misaligned, outside RAM).
 */
int vmm_vq_map(struct vmm_vq *vq, const struct vmm_mem *mem) must_check;
/*
 * Takes the next available chain. Returns 1 with '*e' filled, 0 when the
 * ring is empty, -EIO when the guest wrote something invalid (the queue
 * is then marked broken and stays so until reset).
 */
int vmm_vq_pop(struct vmm_vq *vq, struct vmm_vq_elem *e) must_check;
/* Returns chain 'head' with 'len' bytes written to the used ring. */
void vmm_vq_push(struct vmm_vq *vq, uint16_t head, uint32_t len);
/*
 * Tells the guest whether to kick (VRING_USED_F_NO_NOTIFY): a device
 * that is busy anyway suppresses kicks, then re-enables them and must
 * look at the ring once more (vmm_vq_has_work) before sleeping.
 */
void vmm_vq_set_notify(struct vmm_vq *vq, bool enable);
/* Whether the guest made chains available that were not popped yet. */
bool vmm_vq_has_work(struct vmm_vq *vq);
/* Interrupts the guest unless it asked not to be; true if it did. */
bool vmm_vq_notify(struct vmm_vq *vq);
/* Copies up to 'len' bytes from the chain's readable part at 'off'. */
size_t vmm_vq_copy_out(const struct vmm_vq_elem *e, uint64_t off, void *buf,
		       size_t len);
/* Copies into the chain's writable part at 'off'. */
size_t vmm_vq_copy_in(const struct vmm_vq_elem *e, uint64_t off,
		      const void *buf, size_t len);

struct vmm_virtio_dev;

struct vmm_virtio_ops {
	const char *name;              /* "virtio-blk" ... for messages */
	uint16_t device_id;            /* VIRTIO_ID_* */
	uint16_t pci_class;            /* class << 8 | subclass */
	/* Device config space reads and writes; 'off' within config_size. */
	void (*config_read)(struct vmm_virtio_dev *v, uint32_t off,
			    uint8_t *data, uint32_t len);
	void (*config_write)(struct vmm_virtio_dev *v, uint32_t off,
			     const uint8_t *data, uint32_t len); /* may be NULL */
	/* DRIVER_OK: queues are mapped; start serving. 0 or -errno. */
	int (*start)(struct vmm_virtio_dev *v);
	/* Reset or VM stop: stop serving; no queue access after return. */
	void (*stop)(struct vmm_virtio_dev *v);
};

struct vmm_virtio_dev {
	struct vmm_vm *vm;
	struct vmm_pci_dev pci;
	const struct vmm_virtio_ops *ops;
	void *priv;                    /* the device model's state */
	pthread_mutex_t lock;          /* transport state below */
	uint64_t device_features, driver_features;
	uint32_t dfselect, gfselect;
	uint8_t status;
	uint8_t config_generation;
	uint8_t isr;
	uint16_t msix_config;
	uint16_t queue_select;
	uint16_t nqueues, queue_max;
	uint32_t config_size;
	bool started;
	struct vmm_vq vq[VIRTIO_MAX_QUEUES];
	/* MSI-X */
	uint16_t nvectors;
	uint32_t msix_table[VIRTIO_MAX_VECTORS][4];
	uint64_t msix_pba;
	int gsi[VIRTIO_MAX_VECTORS];   /* -1: none yet */
	uint64_t bar;                  /* BAR0 address decoded now, 0: off */
	/* VIRTIO_PCI_CAP_PCI_CFG window */
	uint8_t pcicfg_cap;
};

/*
 * Sets up the transport for a device model and plugs it into the PCI
 * bus: 'nqueues' queues of at most 'queue_max' entries, 'features'
 * offered (VERSION_1 is added), 'config_size' bytes of device config.
 */
int vmm_virtio_init(struct vmm_virtio_dev *v, struct vmm_vm *vm,
		    const struct vmm_virtio_ops *ops, void *priv,
		    uint16_t nqueues, uint16_t queue_max, uint64_t features,
		    uint32_t config_size) must_check;
void vmm_virtio_fini(struct vmm_virtio_dev *v);
/* Raises the configuration-change interrupt (balloon target, link). */
void vmm_virtio_config_changed(struct vmm_virtio_dev *v);
/* A device model found the guest's queue state invalid: stop it. */
void vmm_virtio_fail(struct vmm_virtio_dev *v, const char *why);
/* Stops the device as the guest would by resetting it (VM shutdown). */
void vmm_virtio_shutdown(struct vmm_virtio_dev *v);
bool vmm_virtio_has(const struct vmm_virtio_dev *v, unsigned int bit);

#endif
