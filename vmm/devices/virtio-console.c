/* SPDX-License-Identifier: MIT */
/*
 * virtio-console with one port (no MULTIPORT): what the guest puts on
 * the transmit queue goes to the console's back end (chardev.c: stdio,
 * a file or a Unix socket client), and what comes from it is copied into
 * the buffers the guest posts on the receive queue. Linux drives it as
 * hvc0. Console traffic is small: both queues are served on the main
 * loop, as the balloon's are. Input that finds no receive buffer waits
 * in a small buffer; when that is full, reading from the back end pauses
 * until the guest posts buffers again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "vmm/devices/devices.h"
#include "vmm/virtio/virtio.h"

#define CONSOLE_QUEUE_SIZE 64
#define RXQ 0
#define TXQ 1
#define PENDING 4096

struct vmm_console {
	struct vmm_virtio_dev vdev;
	struct vmm_vm *vm;
	pthread_mutex_t lock;     /* 'active', 'pending', counters */
	bool active;              /* between start and stop */
	bool watching;
	struct vmm_event kick_ev[2];
	struct vmm_chardev cd;
	uint8_t pending[PENDING]; /* input not yet in a guest buffer */
	size_t pending_len;
	uint64_t rx_bytes, tx_bytes;
	struct vmm_vq_elem elem;
};

static void
config_read(struct vmm_virtio_dev *v, uint32_t off, uint8_t *data,
	    uint32_t len)
{
	/* cols, rows, max_nr_ports, emerg_wr: only meaningful with
	   features we do not offer; one port, no size. */
	const uint16_t c[6] = { 0, 0, 1, 0, 0, 0 };

	if (off + len > sizeof(c)) {
		memset(data, 0, len);
		return;
	}
	memcpy(data, (const uint8_t *)c + off, len);
}

/* Under c->lock: pending input into posted receive buffers. */
static bool
deliver(struct vmm_console *c)
{
	struct vmm_vq *vq = &c->vdev.vq[RXQ];
	bool any = false;
	int rc = 1;

	while (c->pending_len && (rc = vmm_vq_pop(vq, &c->elem)) == 1) {
		size_t n = vmm_vq_copy_in(&c->elem, 0, c->pending,
					  c->pending_len);

		memmove(c->pending, c->pending + n, c->pending_len - n);
		c->pending_len -= n;
		c->rx_bytes += n;
		vmm_vq_push(vq, c->elem.head, (uint32_t)n);
		any = true;
	}
	if (any)
		vmm_vq_notify(vq);
	return rc >= 0;
}

static void
fail_locked(struct vmm_console *c, const char *why)
{
	c->active = false;
	pthread_mutex_unlock(&c->lock);
	/* After unlocking: the transport lock is taken before ours. */
	vmm_virtio_fail(&c->vdev, why);
	pthread_mutex_lock(&c->lock);
}

/* The back end has bytes: take what fits, pass them on. */
static void
console_input(void *opaque)
{
	struct vmm_console *c = opaque;
	ssize_t n;

	pthread_mutex_lock(&c->lock);
	n = vmm_chardev_read(&c->cd, c->pending + c->pending_len,
			     PENDING - c->pending_len);
	if (n > 0)
		c->pending_len += (size_t)n;
	if (c->active && !deliver(c))
		fail_locked(c, "malformed receive chain");
	if (c->pending_len == PENDING)
		vmm_chardev_pause_input(&c->cd, true);
	pthread_mutex_unlock(&c->lock);
}

static void
serve_tx(struct vmm_console *c)
{
	struct vmm_vq *vq = &c->vdev.vq[TXQ];
	uint8_t buf[512];
	bool any = false;
	int rc;

	while ((rc = vmm_vq_pop(vq, &c->elem)) == 1) {
		uint64_t off = 0;
		size_t n;

		while ((n = vmm_vq_copy_out(&c->elem, off, buf, sizeof(buf)))) {
			vmm_chardev_write(&c->cd, buf, n);
			off += n;
		}
		c->tx_bytes += off;
		vmm_vq_push(vq, c->elem.head, 0);
		any = true;
	}
	if (any)
		vmm_vq_notify(vq);
	if (rc < 0)
		fail_locked(c, "malformed transmit chain");
}

static void
kick(struct vmm_console *c, unsigned int q)
{
	uint64_t n;

	if (read(c->vdev.vq[q].kick_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	/* 'lock' keeps a guest reset from unmapping the rings meanwhile. */
	pthread_mutex_lock(&c->lock);
	if (c->active && q == TXQ) {
		serve_tx(c);
	} else if (c->active) {
		if (!deliver(c))
			fail_locked(c, "malformed receive chain");
		else if (c->pending_len < PENDING)
			vmm_chardev_pause_input(&c->cd, false);
	}
	pthread_mutex_unlock(&c->lock);
}

static void
kick_rx(struct vmm_vm *vm, void *opaque, uint32_t events)
{
	kick(opaque, RXQ);
}

static void
kick_tx(struct vmm_vm *vm, void *opaque, uint32_t events)
{
	kick(opaque, TXQ);
}

static int
console_start(struct vmm_virtio_dev *v)
{
	struct vmm_console *c = v->priv;
	int err = 0;

	if (!c->watching) {
		c->kick_ev[RXQ] = (struct vmm_event){ v->vq[RXQ].kick_fd,
						      kick_rx, c };
		c->kick_ev[TXQ] = (struct vmm_event){ v->vq[TXQ].kick_fd,
						      kick_tx, c };
		err = vmm_loop_add(c->vm, &c->kick_ev[RXQ], EPOLLIN);
		if (err == 0)
			err = vmm_loop_add(c->vm, &c->kick_ev[TXQ], EPOLLIN);
		c->watching = err == 0;
	}
	pthread_mutex_lock(&c->lock);
	c->active = err == 0;
	pthread_mutex_unlock(&c->lock);
	return err;
}

static void
console_stop(struct vmm_virtio_dev *v)
{
	struct vmm_console *c = v->priv;

	pthread_mutex_lock(&c->lock);
	c->active = false;
	pthread_mutex_unlock(&c->lock);
}

static const struct vmm_virtio_ops console_ops = {
	.name = "virtio-console",
	.device_id = 3,
	.pci_class = 0x0780, /* communication controller, other */
	.config_read = config_read,
	.start = console_start,
	.stop = console_stop,
};

int
vmm_console_create(struct vmm_vm *vm, struct vmm_console **out)
{
	const struct vmm_config *cfg = vm->cfg;
	struct vmm_console *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return -ENOMEM;
	c->vm = vm;
	pthread_mutex_init(&c->lock, NULL);
	err = vmm_chardev_open(&c->cd, vm, cfg->console, cfg->console_path,
			       console_input, c);
	if (err < 0) {
		log_err("vmm.console", "console %s: %s",
			cfg->console_path ? cfg->console_path : "stdio",
			strerror(-err));
		goto err_free;
	}
	err = vmm_virtio_init(&c->vdev, vm, &console_ops, c, 2,
			      CONSOLE_QUEUE_SIZE, 0, 12);
	if (err < 0)
		goto err_close;
	*out = c;
	return 0;

err_close:
	vmm_chardev_close(&c->cd);
err_free:
	pthread_mutex_destroy(&c->lock);
	free(c);
	return err;
}

void
vmm_console_stats(struct vmm_console *c, uint64_t *rx_bytes,
		  uint64_t *tx_bytes)
{
	pthread_mutex_lock(&c->lock);
	*rx_bytes = c->rx_bytes;
	*tx_bytes = c->tx_bytes;
	pthread_mutex_unlock(&c->lock);
}

void
vmm_console_destroy(struct vmm_console *c)
{
	if (!c)
		return;
	if (c->watching) {
		vmm_loop_del(c->vm, &c->kick_ev[RXQ]);
		vmm_loop_del(c->vm, &c->kick_ev[TXQ]);
	}
	vmm_virtio_fini(&c->vdev);
	vmm_chardev_close(&c->cd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
