/* SPDX-License-Identifier: MIT */
/*
 * virtio-net as a vhost-user front end. The VMM emulates only the PCI
 * transport and the config space (MAC, link status); frames never pass
 * through it. It listens on the NIC's socket; when a back end (the
 * switch, or dpdk-testpmd in the tests) connects and the guest driver is
 * ready, it hands over the guest memory (memfd, one fd per region), the
 * ring addresses and the queue eventfds: guest kicks (KVM ioeventfds) go
 * straight to the back end and its completions (irqfds) straight to the
 * guest. If the back end goes away the link goes down; when it comes
 * back the rings are handed over again from where the guest is.
 *
 * Locking: 'lock' orders the main loop (accept, hangup) against the
 * transport's start/stop on a vCPU thread; both talk on the socket.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/virtio_net.h>

#include "common/clock.h"
#include "vmm/devices/devices.h"
#include "vmm/devices/vhost-user.h"
#include "vmm/virtio/virtio.h"

#define NET_QUEUE_SIZE 256
#define NET_RX 0
#define NET_TX 1

/* Handled here, never sent to the back end. */
#define FRONT_END_FEATURES \
	((1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS))
#define OFFERED_FEATURES \
	(FRONT_END_FEATURES | (1ull << VIRTIO_NET_F_MRG_RXBUF) | \
	 (1ull << VIRTIO_RING_F_INDIRECT_DESC) | (1ull << VIRTIO_F_VERSION_1))

struct vmm_net_dev {
	struct vmm_virtio_dev vdev;
	struct vmm_vm *vm;
	unsigned int index;
	char *path;
	uint8_t mac[6];
	pthread_mutex_t lock;
	int listen_fd;
	int conn_fd;                 /* -1: no back end */
	struct vmm_event listen_ev, conn_ev;
	uint64_t backend_features;
	bool started;                /* guest driver is up (DRIVER_OK) */
	bool rings_live;             /* the back end serves the rings */
	uint16_t link;               /* VIRTIO_NET_S_LINK_UP or 0 */
	/* frame counters from the used rings (main thread) */
	uint16_t last_used[2];
	uint64_t frames[2];
	struct vmm_rate rate;
};

static void
net_log(struct vmm_net_dev *d, const char *what)
{
	log_info("vmm.net", "nic%u (%s): %s", d->index, d->path, what);
}

static void
set_link(struct vmm_net_dev *d, bool up)
{
	uint16_t want = up ? VIRTIO_NET_S_LINK_UP : 0;

	if (d->link == want)
		return;
	d->link = want;
	vmm_virtio_config_changed(&d->vdev);
}

static int
send_simple(struct vmm_net_dev *d, uint32_t req, const void *payload,
	    uint32_t len, int fd)
{
	struct vhu_msg m = { .request = req };

	if (len)
		memcpy(&m.payload, payload, len);
	return vhu_send(d->conn_fd, &m, len, fd >= 0 ? &fd : NULL, fd >= 0);
}

static int
send_mem_table(struct vmm_net_dev *d)
{
	const struct vmm_mem *mem = &d->vm->mem;
	struct vhu_msg m = { .request = VHU_SET_MEM_TABLE };
	int fds[VHU_MAX_REGIONS];

	m.payload.mem.nregions = mem->nregions;
	for (unsigned int i = 0; i < mem->nregions; i++) {
		m.payload.mem.region[i] = (struct vhu_region){
			.gpa = mem->region[i].gpa,
			.size = mem->region[i].size,
			.uaddr = (uintptr_t)mem->region[i].hva,
			.mmap_offset = mem->region[i].fd_offset,
		};
		fds[i] = mem->fd;
	}
	return vhu_send(d->conn_fd, &m,
			8 + mem->nregions * sizeof(struct vhu_region), fds,
			mem->nregions);
}

static int
start_ring(struct vmm_net_dev *d, unsigned int q)
{
	struct vmm_vq *vq = &d->vdev.vq[q];
	struct vhu_vring_addr addr = {
		.index = q,
		.desc = (uintptr_t)vq->desc,
		.used = (uintptr_t)vq->used,
		.avail = (uintptr_t)vq->avail,
	};
	uint32_t state[2] = { q, vq->size };
	uint64_t idx = q;
	int err;

	err = send_simple(d, VHU_SET_VRING_NUM, state, sizeof(state), -1);
	if (err == 0)
		err = send_simple(d, VHU_SET_VRING_ADDR, &addr, sizeof(addr), -1);
	/* Resume where the device left off: the used index in guest RAM. */
	state[1] = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	if (err == 0)
		err = send_simple(d, VHU_SET_VRING_BASE, state, sizeof(state), -1);
	if (err == 0)
		err = send_simple(d, VHU_SET_VRING_KICK, &idx, 8, vq->kick_fd);
	if (err == 0)
		err = send_simple(d, VHU_SET_VRING_CALL, &idx, 8, vq->call_fd);
	state[1] = 1;
	if (err == 0 && (d->backend_features & (1ull << VHU_F_PROTOCOL_FEATURES)))
		err = send_simple(d, VHU_SET_VRING_ENABLE, state, sizeof(state), -1);
	return err;
}

/* Under 'lock', connected and started: hand the rings over. */
static int
rings_start(struct vmm_net_dev *d)
{
	uint64_t want = d->vdev.driver_features & ~FRONT_END_FEATURES;
	uint64_t f;
	int err;

	if (want & ~d->backend_features) {
		log_err("vmm.net", "nic%u: the back end lacks features 0x%llx the "
			"guest negotiated: not connected", d->index,
			(unsigned long long)(want & ~d->backend_features));
		return -EPROTO;
	}
	f = want | (d->backend_features & (1ull << VHU_F_PROTOCOL_FEATURES));
	err = send_simple(d, VHU_SET_FEATURES, &f, 8, -1);
	if (err == 0)
		err = send_mem_table(d);
	for (unsigned int q = 0; err == 0 && q < 2; q++)
		err = start_ring(d, q);
	if (err == 0) {
		d->rings_live = true;
		set_link(d, true);
		net_log(d, "back end serving the rings");
	}
	return err;
}

/* Under 'lock': forgets the back end (it left, or misbehaved). */
static void
drop_conn(struct vmm_net_dev *d, const char *why)
{
	if (d->conn_fd < 0)
		return;
	vmm_loop_del(d->vm, &d->conn_ev);
	close(d->conn_fd);
	d->conn_fd = -1;
	d->rings_live = false;
	set_link(d, false);
	log_warn("vmm.net", "nic%u (%s): switch disconnected (%s); waiting for "
		 "it to reconnect", d->index, d->path, why);
}

static void
conn_event(struct vmm_vm *vm, void *opaque, uint32_t events)
{
	struct vmm_net_dev *d = opaque;
	char c;

	pthread_mutex_lock(&d->lock);
	/* The back end never speaks first (no slave channel): anything
	   readable here is a hangup or a protocol violation. */
	if (d->conn_fd >= 0 &&
	    (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP) ||
	     recv(d->conn_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0))
		drop_conn(d, events & (EPOLLHUP | EPOLLRDHUP) ? "hangup"
							      : "unexpected message");
	pthread_mutex_unlock(&d->lock);
}

static int
handshake(struct vmm_net_dev *d)
{
	uint64_t pf, zero = 0;
	int err;

	err = vhu_get_u64(d->conn_fd, VHU_GET_FEATURES, &d->backend_features);
	if (err == 0 && (d->backend_features & (1ull << VHU_F_PROTOCOL_FEATURES))) {
		err = vhu_get_u64(d->conn_fd, VHU_GET_PROTOCOL_FEATURES, &pf);
		/* No optional protocol features needed. */
		if (err == 0)
			err = send_simple(d, VHU_SET_PROTOCOL_FEATURES, &zero, 8, -1);
	}
	if (err == 0)
		err = send_simple(d, VHU_SET_OWNER, NULL, 0, -1);
	return err;
}

static void
accept_event(struct vmm_vm *vm, void *opaque, uint32_t events)
{
	struct vmm_net_dev *d = opaque;
	int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	int err;

	if (fd < 0)
		return;
	pthread_mutex_lock(&d->lock);
	if (d->conn_fd >= 0) {
		pthread_mutex_unlock(&d->lock);
		close(fd); /* one back end per NIC */
		return;
	}
	d->conn_fd = fd;
	err = handshake(d);
	if (err == 0 && d->started)
		err = rings_start(d);
	if (err == 0) {
		d->conn_ev = (struct vmm_event){ fd, conn_event, d };
		err = vmm_loop_add(vm, &d->conn_ev, EPOLLRDHUP);
	}
	if (err < 0) {
		log_err("vmm.net", "nic%u (%s): back end handshake failed: %s",
			d->index, d->path, strerror(-err));
		close(fd);
		d->conn_fd = -1;
		d->rings_live = false;
	} else {
		net_log(d, "switch connected");
	}
	pthread_mutex_unlock(&d->lock);
}

static int
net_start(struct vmm_virtio_dev *v)
{
	struct vmm_net_dev *d = v->priv;
	int err = 0;

	pthread_mutex_lock(&d->lock);
	d->started = true;
	d->last_used[0] = d->last_used[1] = 0;
	if (d->conn_fd >= 0) {
		err = rings_start(d);
		if (err < 0)
			drop_conn(d, "ring setup failed");
	}
	pthread_mutex_unlock(&d->lock);
	/* No back end yet is fine: the rings start when it connects. */
	return err == -EPROTO ? err : 0;
}

static void
net_stop(struct vmm_virtio_dev *v)
{
	struct vmm_net_dev *d = v->priv;
	struct vhu_msg m;

	pthread_mutex_lock(&d->lock);
	d->started = false;
	if (d->rings_live) {
		/* GET_VRING_BASE stops the ring in the back end. */
		for (uint32_t q = 0; q < 2; q++) {
			uint32_t st[2] = { q, 0 };
			int err = send_simple(d, VHU_GET_VRING_BASE, st, sizeof(st), -1);

			if (err == 0)
				err = vhu_recv_reply(d->conn_fd, VHU_GET_VRING_BASE,
						     &m, 2000);
			if (err < 0) {
				drop_conn(d, "no answer to GET_VRING_BASE");
				break;
			}
		}
		d->rings_live = false;
	}
	set_link(d, false);
	pthread_mutex_unlock(&d->lock);
}

static void
config_read(struct vmm_virtio_dev *v, uint32_t off, uint8_t *data,
	    uint32_t len)
{
	struct vmm_net_dev *d = v->priv;
	uint8_t c[10];

	memcpy(c, d->mac, 6);
	memcpy(c + 6, &d->link, 2);
	c[8] = 1; /* max_virtqueue_pairs */
	c[9] = 0;
	if (off + len > sizeof(c)) {
		memset(data, 0, len);
		return;
	}
	memcpy(data, c + off, len);
}

static const struct vmm_virtio_ops net_ops = {
	.name = "virtio-net",
	.device_id = 1,
	.pci_class = 0x0200, /* ethernet */
	.config_read = config_read,
	.start = net_start,
	.stop = net_stop,
};

static int
net_listen(struct vmm_net_dev *d)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	if (strlen(d->path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, d->path);
	d->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (d->listen_fd < 0)
		return -errno;
	unlink(d->path);
	if (bind(d->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(d->listen_fd, 1) < 0)
		return -errno;
	d->listen_ev = (struct vmm_event){ d->listen_fd, accept_event, d };
	return vmm_loop_add(d->vm, &d->listen_ev, EPOLLIN);
}

int
vmm_net_create(struct vmm_vm *vm, unsigned int index, struct vmm_net_dev **out)
{
	const struct vmm_nic_cfg *nc = &vm->cfg->nic[index];
	struct vmm_net_dev *d;
	int err;

	if (vm->mem.fd < 0) {
		log_err("vmm.net", "nic%u: vhost-user needs shareable guest memory "
			"(a memfd); this VM has private memory", index);
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->vm = vm;
	d->index = index;
	d->conn_fd = d->listen_fd = -1;
	memcpy(d->mac, nc->mac, 6);
	pthread_mutex_init(&d->lock, NULL);
	d->path = strdup(nc->socket);
	if (!d->path) {
		free(d);
		return -ENOMEM;
	}
	err = net_listen(d);
	if (err < 0) {
		log_err("vmm.net", "nic%u: %s: %s", index, d->path, strerror(-err));
		goto err;
	}
	err = vmm_virtio_init(&d->vdev, vm, &net_ops, d, 2, NET_QUEUE_SIZE,
			      OFFERED_FEATURES, 10);
	if (err < 0)
		goto err;
	*out = d;
	return 0;
err:
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	free(d->path);
	free(d);
	return err;
}

void
vmm_net_stats(struct vmm_net_dev *d, struct vmm_io_stats *s, bool *connected)
{
	/* Frames are counted from the used rings the back end updates:
	   sampled often enough (every loop turn) not to miss a wrap. */
	for (int q = 0; q < 2; q++) {
		/* Read once: a guest reset may clear it meanwhile. */
		struct vring_used *u = __atomic_load_n(&d->vdev.vq[q].used,
						       __ATOMIC_ACQUIRE);
		uint16_t now;

		if (!u)
			continue;
		now = __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
		d->frames[q] += (uint16_t)(now - d->last_used[q]);
		d->last_used[q] = now;
	}
	memset(s, 0, sizeof(*s));
	s->rd_ops = d->frames[NET_RX];
	s->wr_ops = d->frames[NET_TX];
	vmm_rate_sample(&d->rate, s, clock_mono_ns());
	s->rd_ops_s = d->rate.rd_ops_s;
	s->wr_ops_s = d->rate.wr_ops_s;
	*connected = d->conn_fd >= 0;
}

const char *
vmm_net_socket(const struct vmm_net_dev *d)
{
	return d->path;
}

void
vmm_net_stop(struct vmm_net_dev *d)
{
	vmm_virtio_shutdown(&d->vdev);
}

void
vmm_net_destroy(struct vmm_net_dev *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	if (d->conn_fd >= 0) {
		vmm_loop_del(d->vm, &d->conn_ev);
		close(d->conn_fd);
	}
	pthread_mutex_unlock(&d->lock);
	vmm_loop_del(d->vm, &d->listen_ev);
	close(d->listen_fd);
	unlink(d->path);
	vmm_virtio_fini(&d->vdev);
	free(d->path);
	free(d);
}
