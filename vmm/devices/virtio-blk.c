/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk device model: one request queue served by an I/O thread
 * that owns the queue and the block backend. The thread waits on the
 * queue's kick eventfd (a KVM ioeventfd) and the backend's completion
 * eventfd; it pops as many chains as it has request slots, submits them
 * in one batch, and completes them in any order, interrupting the guest
 * through the queue's irqfd once per batch. A malformed chain stops the
 * device (NEEDS_RESET), never the VMM.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "vmm/devices/virtio-blk.h"

struct blk_config {
	uint64_t capacity;
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads, sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp, alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback, unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors, max_discard_seg,
		discard_sector_alignment;
	uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap, unused1[3];
} __attribute__((packed));

static_assert(sizeof(struct blk_config) == 60, "virtio_blk_config layout");

static struct vmm_blk_dev *
to_blk(struct vmm_virtio_dev *v)
{
	return v->priv;
}

static void
config_read(struct vmm_virtio_dev *v, uint32_t off, uint8_t *data,
	    uint32_t len)
{
	struct vmm_blk_dev *d = to_blk(v);
	struct blk_config c = {
		.capacity = d->be->size_bytes / 512,
		.size_max = 1u << 20,
		.seg_max = BLK_SEG_MAX,
		.blk_size = d->be->sector_bytes,
		.num_queues = 1,
		.max_discard_sectors = 1u << 22,
		.max_discard_seg = 1,
		.discard_sector_alignment = 8,
		.max_write_zeroes_sectors = 1u << 22,
		.max_write_zeroes_seg = 1,
		.write_zeroes_may_unmap = 1,
	};

	if (off + len > sizeof(c)) {
		memset(data, 0, len);
		return;
	}
	memcpy(data, (uint8_t *)&c + off, len);
}

void
blk_req_finish(struct vmm_blk_dev *d, struct blk_req *r, uint8_t status)
{
	struct vmm_vq *vq = &d->vdev.vq[0];

	*r->status = status;
	vmm_vq_push(vq, r->elem.head, r->written + 1);
	d->need_notify = true;
	d->inflight--;
	r->next_free = d->free_reqs;
	d->free_reqs = r;
}

/*
 * Request slots are big (two iovec arrays of a chain's maximum length),
 * so they are taken from the array in order only when no used one is
 * free: slots a guest never needed at once are never touched and cost
 * no memory (the array is 2 MiB of mostly untouched calloc'ed pages).
 */
static bool
has_slot(const struct vmm_blk_dev *d)
{
	return d->free_reqs || d->nfresh < BLK_QUEUE_SIZE;
}

/* Pops and starts requests while slots last; false if the queue broke. */
static bool
process_queue(struct vmm_blk_dev *d)
{
	struct vmm_vq *vq = &d->vdev.vq[0];

	while (has_slot(d) && !vq->broken) {
		struct blk_req *r = d->free_reqs ? d->free_reqs
						 : &d->reqs[d->nfresh];
		int n = vmm_vq_pop(vq, &r->elem);

		if (n <= 0)
			break;
		if (r == d->free_reqs) {
			d->free_reqs = r->next_free;
		} else {
			d->nfresh++;
			r->dev = d;
		}
		d->inflight++;
		if (blk_req_start(d, r) < 0) {
			vq->broken = true;
			d->inflight--;
			r->next_free = d->free_reqs;
			d->free_reqs = r;
			break;
		}
	}
	if (vq->broken) {
		vmm_virtio_fail(&d->vdev, "malformed request chain");
		return false;
	}
	return true;
}

static void
flush_batch(struct vmm_blk_dev *d)
{
	int err = d->be->ops->kick(d->be);

	if (err < 0)
		log_warn("vmm.blk", "disk%u: submit: %s", d->index,
			 strerror(-err));
	if (d->need_notify) {
		d->need_notify = false;
		if (vmm_vq_notify(&d->vdev.vq[0]) && d->guest_poll_ns)
			d->interrupted_ns = clock_mono_ns();
	}
}

#define POLL_NS 10000

/* Spins up to POLL_NS for work; true (work done) or false (go to sleep). */
static bool
poll_briefly(struct vmm_blk_dev *d)
{
	struct vmm_vq *vq = &d->vdev.vq[0];
	uint64_t end = clock_mono_ns() + POLL_NS;
	bool cq = false, avail = false;

	if (!d->be->ops->has_completions)
		return false;
	do {
		cq = d->be->ops->has_completions(d->be);
		avail = has_slot(d) && vmm_vq_has_work(vq);
	} while (!cq && !avail && clock_mono_ns() < end);
	if (!cq && !avail)
		return false;
	if (cq)
		d->be->ops->complete(d->be);
	if (!process_queue(d))
		return false;
	flush_batch(d);
	return true;
}

/*
 * cpu.latency = high: a guest usually answers an interrupt with new
 * requests within about 100 us. For that long after each interrupt the
 * thread watches the ring instead of sleeping, with kicks off, so the
 * guest need not exit to kick and the thread need not be woken; that
 * is two of the three hand-offs per batch a guest at a fixed queue depth
 * waits for. It yields between looks, since the vCPU it waits for may be
 * queued on this very CPU, and checks its fds without blocking, so a
 * completion or a stop ends the watch. True when the guest has new
 * requests (and a slot is free for them).
 */
#define GUEST_POLL_NS 400000

static bool
poll_guest(struct vmm_blk_dev *d)
{
	struct vmm_vq *vq = &d->vdev.vq[0];
	uint64_t end = d->interrupted_ns + d->guest_poll_ns;
	struct epoll_event ev;

	/* Kicks are off already: the loop turns them on only to sleep. */
	if (!d->interrupted_ns)
		return false;
	d->interrupted_ns = 0;
	do {
		if (has_slot(d) && vmm_vq_has_work(vq))
			return true;
		if (epoll_wait(d->epfd, &ev, 1, 0) != 0)
			return false;
		sched_yield();
	} while (clock_mono_ns() < end);
	return false;
}

/* Binds the backend to this thread and watches its completion fd. */
static int
backend_attach(struct vmm_blk_dev *d)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int err = 0;

	if (d->be->ops->attach)
		err = d->be->ops->attach(d->be);
	if (err < 0)
		return err;
	ev.data.fd = d->be->ops->event_fd(d->be);
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0) {
		err = -errno;
		if (d->be->ops->detach)
			d->be->ops->detach(d->be);
	}
	return err;
}

static void
backend_detach(struct vmm_blk_dev *d)
{
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->be->ops->event_fd(d->be), NULL);
	if (d->be->ops->detach)
		d->be->ops->detach(d->be);
}

static void *
io_thread(void *arg)
{
	struct vmm_blk_dev *d = arg;
	struct vmm_vq *vq = &d->vdev.vq[0];
	bool stopping = false, ok = true, attached;
	struct epoll_event evs[4];
	uint64_t n;
	int err;

	err = backend_attach(d);
	attached = err == 0;
	if (!attached) {
		log_err("vmm.blk", "disk%u: %s: cannot start I/O: %s", d->index,
			d->path, strerror(-err));
		vmm_virtio_fail(&d->vdev, "disk I/O could not start");
		ok = false;
	}
	while (!stopping || d->inflight) {
		int cnt;

		/* While requests are in flight, poll briefly before sleeping:
		   a completion or a new request usually comes within
		   microseconds, and a wakeup costs more than that. */
		if (ok && !stopping && d->inflight && poll_briefly(d))
			continue;
		if (ok && !stopping && poll_guest(d)) {
			ok = process_queue(d);
			flush_batch(d);
			continue;
		}
		/* Kicks are suppressed while we work; before sleeping, allow
		   them again and look once more (a kick may have been saved). */
		if (ok && !stopping) {
			vmm_vq_set_notify(vq, true);
			if (vmm_vq_has_work(vq) && has_slot(d)) {
				vmm_vq_set_notify(vq, false);
				ok = process_queue(d);
				flush_batch(d);
				continue;
			}
		}
		cnt = epoll_wait(d->epfd, evs, 4, -1);
		if (ok && !stopping)
			vmm_vq_set_notify(vq, false);

		for (int i = 0; i < cnt; i++) {
			int fd = evs[i].data.fd;

			if (fd == d->stop_fd) {
				stopping = true;
			} else if (fd == vq->kick_fd) {
				if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
					log_debug("vmm.blk", "kick read: %s",
						  strerror(errno));
			} else {
				d->be->ops->complete(d->be);
			}
		}
		if (!stopping && ok)
			ok = process_queue(d);
		if (attached)
			flush_batch(d);
	}
	if (attached)
		backend_detach(d);
	return NULL;
}

static int
blk_start(struct vmm_virtio_dev *v)
{
	struct vmm_blk_dev *d = to_blk(v);
	struct epoll_event ev = { .events = EPOLLIN };
	char name[16];
	uint64_t n;
	int err;

	if (read(d->stop_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return -errno;
	d->free_reqs = NULL;
	d->nfresh = 0;
	d->inflight = 0;
	ev.data.fd = d->vdev.vq[0].kick_fd;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0 &&
	    errno != EEXIST)
		return -errno;
	err = pthread_create(&d->thread, NULL, io_thread, d);
	if (err)
		return -err;
	snprintf(name, sizeof(name), "blk%u", d->index);
	pthread_setname_np(d->thread, name);
	d->running = true;
	/* Requests queued before DRIVER_OK: look once. */
	n = 1;
	if (write(d->vdev.vq[0].kick_fd, &n, sizeof(n)) < 0)
		return -errno;
	return 0;
}

static void
blk_stop_thread(struct vmm_blk_dev *d)
{
	uint64_t one = 1;

	if (!d->running)
		return;
	if (write(d->stop_fd, &one, sizeof(one)) < 0)
		log_warn("vmm.blk", "stop: %s", strerror(errno));
	pthread_join(d->thread, NULL);
	d->running = false;
}

static void
blk_stop(struct vmm_virtio_dev *v)
{
	blk_stop_thread(to_blk(v));
}

static const struct vmm_virtio_ops blk_ops = {
	.name = "virtio-blk",
	.device_id = 2,
	.pci_class = 0x0180, /* mass storage, other */
	.config_read = config_read,
	.start = blk_start,
	.stop = blk_stop,
};

int
vmm_blk_create(struct vmm_vm *vm, unsigned int index, struct vmm_blk_dev **out)
{
	const struct vmm_disk_cfg *dc = &vm->cfg->disk[index];
	struct epoll_event ev = { .events = EPOLLIN };
	struct vmm_blk_dev *d;
	uint64_t features;
	char msg[256] = "";
	int err;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->vm = vm;
	d->index = index;
	d->guest_poll_ns = vm->cfg->latency_high ? GUEST_POLL_NS : 0;
	d->epfd = d->stop_fd = -1;
	pthread_mutex_init(&d->stats_lock, NULL);
	d->path = strdup(dc->path);
	d->reqs = calloc(BLK_QUEUE_SIZE, sizeof(*d->reqs));
	if (!d->path || !d->reqs) {
		err = -ENOMEM;
		goto err;
	}
	err = vmm_disk_mode_prepare(vm, index, msg, sizeof(msg));
	if (err == 0)
		err = vmm_blk_open(dc->path, dc->readonly, BLK_QUEUE_SIZE,
				   &d->be, msg, sizeof(msg));
	if (err == 0 && d->be->vdisk)
		err = vmm_disk_mode_opened(vm, index, msg, sizeof(msg));
	if (err < 0) {
		log_err("vmm.blk", "disk%u: %s", index, msg[0] ? msg : strerror(-err));
		goto err;
	}
	snprintf(d->serial, sizeof(d->serial), "vstack-%s-%u",
		 vmm_config_name(vm->cfg), index);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->epfd < 0 || d->stop_fd < 0) {
		err = -errno;
		goto err;
	}
	ev.data.fd = d->stop_fd;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->stop_fd, &ev) < 0) {
		err = -errno;
		goto err;
	}
	log_info("vmm.blk", "disk%u: %s: %s", index, dc->path, d->be->desc);
	features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_SIZE_MAX) |
		   (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |
		   (1ull << VIRTIO_BLK_F_DISCARD) |
		   (1ull << VIRTIO_BLK_F_WRITE_ZEROES) |
		   (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
		   (1ull << VIRTIO_RING_F_EVENT_IDX);
	if (dc->readonly)
		features |= 1ull << VIRTIO_BLK_F_RO;
	err = vmm_virtio_init(&d->vdev, vm, &blk_ops, d, 1, BLK_QUEUE_SIZE,
			      features, sizeof(struct blk_config));
	if (err < 0)
		goto err;
	*out = d;
	return 0;
err:
	if (d->be)
		d->be->ops->close(d->be);
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->stop_fd >= 0)
		close(d->stop_fd);
	free(d->reqs);
	free(d->path);
	free(d);
	return err;
}

static void
sync_done(struct vmm_blk_io *io, int64_t result)
{
	*(int64_t *)io->opaque = result;
}

/* A flush on the calling thread, once the I/O thread has stopped. */
static int
blk_flush_sync(struct vmm_blk_dev *d)
{
	int64_t result = 1;
	struct vmm_blk_io io = { .op = VMM_BLK_FLUSH, .done = sync_done,
				 .opaque = &result };
	struct epoll_event ev;
	int err, ep, fd;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -errno;
	if (d->be->ops->attach) {
		err = d->be->ops->attach(d->be);
		if (err < 0)
			goto out;
	}
	err = d->be->ops->submit(d->be, &io);
	if (err == 0)
		err = d->be->ops->kick(d->be);
	if (err < 0)
		goto out_detach;
	ev.events = EPOLLIN;
	ev.data.fd = fd = d->be->ops->event_fd(d->be);
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		fd = -1;
	while (result == 1) {
		if (fd >= 0)
			epoll_wait(ep, &ev, 1, 1000);
		else
			usleep(1000);
		d->be->ops->complete(d->be);
	}
	err = (int)result;
out_detach:
	if (d->be->ops->detach)
		d->be->ops->detach(d->be);
out:
	close(ep);
	return err;
}

void
vmm_blk_stop(struct vmm_blk_dev *d, bool flush)
{
	int err;

	vmm_virtio_shutdown(&d->vdev);
	if (!flush || d->be->readonly)
		return;
	err = blk_flush_sync(d);
	if (err < 0)
		log_err("vmm.blk", "disk%u: %s: flush at stop: %s", d->index,
			d->path, strerror(-err));
}

void
vmm_blk_stats(struct vmm_blk_dev *d, struct vmm_io_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->rd_ops = d->rd_ops;
	s->wr_ops = d->wr_ops;
	s->rd_bytes = d->rd_bytes;
	s->wr_bytes = d->wr_bytes;
	s->flush_ops = d->flush_ops;
	s->errors = d->errors;
	pthread_mutex_lock(&d->stats_lock);
	vmm_rate_sample(&d->rate, s, clock_mono_ns());
	s->rd_ops_s = d->rate.rd_ops_s;
	s->wr_ops_s = d->rate.wr_ops_s;
	s->rd_bytes_s = d->rate.rd_bytes_s;
	s->wr_bytes_s = d->rate.wr_bytes_s;
	pthread_mutex_unlock(&d->stats_lock);
}

const char *
vmm_blk_path(const struct vmm_blk_dev *d)
{
	return d->path;
}

const char *
vmm_blk_kind(const struct vmm_blk_dev *d)
{
	return d->be->desc;
}

struct vdisk *
vmm_blk_vdisk(const struct vmm_blk_dev *d)
{
	return d->be->vdisk;
}

unsigned int
vmm_blk_index(const struct vmm_blk_dev *d)
{
	return d->index;
}

void
vmm_blk_destroy(struct vmm_blk_dev *d)
{
	if (!d)
		return;
	blk_stop_thread(d);
	vmm_virtio_fini(&d->vdev);
	d->be->ops->close(d->be);
	close(d->epfd);
	close(d->stop_fd);
	pthread_mutex_destroy(&d->stats_lock);
	free(d->reqs);
	free(d->path);
	free(d);
}
