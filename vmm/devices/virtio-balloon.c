/* SPDX-License-Identifier: MIT */
/*
 * virtio-balloon: the host sets a target (num_pages), the guest puts
 * that many 4 KiB pages on the inflate queue and reports 'actual'. Each
 * inflated page is given back to the host at once (a hole punched in
 * the memfd, or MADV_DONTNEED for private memory); deflated pages simply
 * fault back in when the guest touches them. Queues are served on the
 * main loop: balloon traffic is rare and small.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <linux/virtio_balloon.h>

#include "vmm/devices/devices.h"
#include "vmm/virtio/virtio.h"

#define BALLOON_QUEUE_SIZE 128
#define PAGE 4096ull

struct vmm_balloon {
	struct vmm_virtio_dev vdev;
	struct vmm_vm *vm;
	pthread_mutex_t lock;
	uint32_t num_pages;       /* target */
	uint32_t actual;          /* as the guest reports it */
	uint64_t inflated, deflated;
	struct vmm_event kick_ev[2];
	bool watching;
	bool active;              /* between start and stop, under 'lock' */
	struct vmm_vq_elem elem;
};

static void
config_read(struct vmm_virtio_dev *v, uint32_t off, uint8_t *data,
	    uint32_t len)
{
	struct vmm_balloon *b = v->priv;
	uint32_t c[2];

	pthread_mutex_lock(&b->lock);
	c[0] = b->num_pages;
	c[1] = b->actual;
	pthread_mutex_unlock(&b->lock);
	if (off + len > sizeof(c)) {
		memset(data, 0, len);
		return;
	}
	memcpy(data, (uint8_t *)c + off, len);
}

static void
config_write(struct vmm_virtio_dev *v, uint32_t off, const uint8_t *data,
	     uint32_t len)
{
	struct vmm_balloon *b = v->priv;
	uint32_t c[2];

	pthread_mutex_lock(&b->lock);
	c[0] = b->num_pages;
	c[1] = b->actual;
	if (off + len <= sizeof(c) && off >= 4) {
		memcpy((uint8_t *)c + off, data, len);
		b->actual = c[1];
	}
	pthread_mutex_unlock(&b->lock);
}

/* Pages of one element: an array of 32-bit page frame numbers. */
static void
take_pages(struct vmm_balloon *b, bool inflate)
{
	uint64_t off = 0;
	uint32_t pfn;

	while (vmm_vq_copy_out(&b->elem, off, &pfn, 4) == 4) {
		off += 4;
		if (!inflate) {
			b->deflated++;
			continue;
		}
		if (vmm_mem_discard(&b->vm->mem, (uint64_t)pfn * PAGE, PAGE) < 0) {
			log_warn("vmm.balloon", "guest offered page 0x%x outside "
				 "RAM: ignored", pfn);
			continue;
		}
		b->inflated++;
	}
}

static void
serve(struct vmm_balloon *b, unsigned int q)
{
	struct vmm_vq *vq = &b->vdev.vq[q];
	bool any = false;
	uint64_t n;
	int rc;

	if (read(vq->kick_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	/* 'lock' keeps a guest reset from unmapping the rings meanwhile. */
	pthread_mutex_lock(&b->lock);
	if (!b->active) {
		pthread_mutex_unlock(&b->lock);
		return;
	}
	while ((rc = vmm_vq_pop(vq, &b->elem)) == 1) {
		take_pages(b, q == 0);
		vmm_vq_push(vq, b->elem.head, 0);
		any = true;
	}
	if (rc < 0)
		b->active = false;
	if (any)
		vmm_vq_notify(vq);
	pthread_mutex_unlock(&b->lock);
	/* After unlocking: the transport lock is taken before ours. */
	if (rc < 0)
		vmm_virtio_fail(&b->vdev, "malformed balloon chain");
}

static void
kick_inflate(struct vmm_vm *vm, void *opaque, uint32_t events)
{
	serve(opaque, 0);
}

static void
kick_deflate(struct vmm_vm *vm, void *opaque, uint32_t events)
{
	serve(opaque, 1);
}

static int
balloon_start(struct vmm_virtio_dev *v)
{
	struct vmm_balloon *b = v->priv;
	int err = 0;

	if (!b->watching) {
		b->kick_ev[0] = (struct vmm_event){ v->vq[0].kick_fd,
						    kick_inflate, b };
		b->kick_ev[1] = (struct vmm_event){ v->vq[1].kick_fd,
						    kick_deflate, b };
		err = vmm_loop_add(b->vm, &b->kick_ev[0], EPOLLIN);
		if (err == 0)
			err = vmm_loop_add(b->vm, &b->kick_ev[1], EPOLLIN);
		b->watching = err == 0;
	}
	pthread_mutex_lock(&b->lock);
	b->active = err == 0;
	pthread_mutex_unlock(&b->lock);
	return err;
}

static void
balloon_stop(struct vmm_virtio_dev *v)
{
	struct vmm_balloon *b = v->priv;

	pthread_mutex_lock(&b->lock);
	b->active = false;
	pthread_mutex_unlock(&b->lock);
}

static const struct vmm_virtio_ops balloon_ops = {
	.name = "virtio-balloon",
	.device_id = 5,
	.pci_class = 0x0500, /* memory controller */
	.config_read = config_read,
	.config_write = config_write,
	.start = balloon_start,
	.stop = balloon_stop,
};

int
vmm_balloon_create(struct vmm_vm *vm, struct vmm_balloon **out)
{
	struct vmm_balloon *b = calloc(1, sizeof(*b));
	int err;

	if (!b)
		return -ENOMEM;
	b->vm = vm;
	pthread_mutex_init(&b->lock, NULL);
	err = vmm_virtio_init(&b->vdev, vm, &balloon_ops, b, 2,
			      BALLOON_QUEUE_SIZE, 0, 8);
	if (err < 0) {
		free(b);
		return err;
	}
	*out = b;
	return 0;
}

int
vmm_balloon_set_target(struct vmm_balloon *b, uint64_t bytes)
{
	if (bytes > b->vm->mem.size)
		return -ERANGE;
	pthread_mutex_lock(&b->lock);
	b->num_pages = (uint32_t)(bytes / PAGE);
	pthread_mutex_unlock(&b->lock);
	vmm_virtio_config_changed(&b->vdev);
	return 0;
}

void
vmm_balloon_info(struct vmm_balloon *b, uint64_t *actual, uint64_t *target)
{
	pthread_mutex_lock(&b->lock);
	*actual = (uint64_t)b->actual * PAGE;
	*target = (uint64_t)b->num_pages * PAGE;
	pthread_mutex_unlock(&b->lock);
}

void
vmm_balloon_destroy(struct vmm_balloon *b)
{
	if (!b)
		return;
	if (b->watching) {
		vmm_loop_del(b->vm, &b->kick_ev[0]);
		vmm_loop_del(b->vm, &b->kick_ev[1]);
	}
	vmm_virtio_fini(&b->vdev);
	pthread_mutex_destroy(&b->lock);
	free(b);
}
