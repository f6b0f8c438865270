/* SPDX-License-Identifier: MIT */
/*
 * Packet capture built into the switch (dpdk-pdump cannot attach to a
 * --no-huge process): the data plane copies a port's received and sent
 * frames with rte_pcapng_copy() into a ring, and a writer thread of the
 * control side drains the ring into a pcapng file. One capture at a time;
 * it ends after 'count' frames (0 = until stopped). Copies that find no
 * buffer or no ring space are counted as the port's capture_lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "vswitch/vsw-internal.h"

#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_pcapng.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#define CAP_RING 4096
#define CAP_MBUFS 8191

struct vsw_capture {
	struct vsw_port *port;
	struct rte_ring *ring;
	struct rte_mempool *pool;
	rte_pcapng_t *pcapng;
	uint64_t limit;             /* frames; 0 = no limit */
	uint32_t snaplen;
	/* rte_pcapng turns TSC into time with DPDK's rounded TSC rate:
	 * stamps are rescaled around 'tsc_base' so the switch's measured
	 * rate holds (a 0.2 % slow clock shows a shaper 0.2 % fast). */
	uint64_t tsc_base;
	uint64_t tsc_scale;         /* DPDK's Hz / ours, 32.32 */
	uint64_t queued;            /* data plane: frames handed to the ring */
	uint64_t written;           /* writer thread */
	pthread_t thread;
	atomic_bool stop;
	atomic_bool done;           /* writer finished (limit reached or stop) */
	int write_err;
	char file[VSW_PATH_MAX * 2];
};

void
vsw_capture_frames(struct vsw_capture *c, struct vsw_port_rt *rt, uint16_t eth,
		   struct rte_mbuf **pkts, uint16_t n, int dir, uint64_t tsc)
{
	uint64_t ts = c->tsc_base +
		      (uint64_t)(((unsigned __int128)(tsc - c->tsc_base) *
				  c->tsc_scale) >> 32);

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *copy;

		if (c->limit && c->queued >= c->limit)
			return;
		copy = rte_pcapng_copy(eth, 0, pkts[i], c->pool, c->snaplen, ts,
				       dir == 1 ? RTE_PCAPNG_DIRECTION_IN
						: RTE_PCAPNG_DIRECTION_OUT);
		if (!copy) {
			rt->st.capture_lost++;
			continue;
		}
		if (rte_ring_sp_enqueue(c->ring, copy) < 0) {
			rte_pktmbuf_free(copy);
			rt->st.capture_lost++;
			continue;
		}
		__atomic_store_n(&c->queued, c->queued + 1, __ATOMIC_RELEASE);
	}
}

static void *
writer_main(void *arg)
{
	struct vsw_capture *c = arg;
	struct rte_mbuf *pkts[VSW_BURST];

	for (;;) {
		unsigned int n = rte_ring_sc_dequeue_burst(c->ring, (void **)pkts,
							   VSW_BURST, NULL);

		if (n) {
			if (rte_pcapng_write_packets(c->pcapng, pkts,
						     (uint16_t)n) < 0 &&
			    !c->write_err) {
				c->write_err = errno ? errno : EIO;
				log_err("vswitch.capture", "%s: write failed: %s",
					c->file, strerror(c->write_err));
			}
			rte_pktmbuf_free_bulk(pkts, n);
			__atomic_store_n(&c->written, c->written + n,
					 __ATOMIC_RELEASE);
			continue;
		}
		if (c->limit && c->written >= c->limit)
			break;
		if (atomic_load(&c->stop))
			break;
		usleep(1000);
	}
	atomic_store(&c->done, true);
	return NULL;
}

int
vsw_capture_start(struct vsw *vsw, const char *port, const char *file,
		  uint64_t count, uint32_t snaplen, char *err, size_t errlen)
{
	static unsigned int seq;
	struct vsw_port *p = vsw_port_find(vsw, port);
	struct vsw_capture *c;
	char name[RTE_RING_NAMESIZE];
	int fd, r = -ENOMEM;

	if (!p)
		return -ENOENT;
	if (p->missing) {
		snprintf(err, errlen, "port '%s' has no device yet", port);
		return -ENODEV;
	}
	if (vsw->capture) {
		if (!atomic_load(&vsw->capture->done)) {
			snprintf(err, errlen, "a capture of '%s' is running",
				 vsw->capture->port->cfg.name);
			return -EBUSY;
		}
		vsw_capture_stop(vsw);
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->port = p;
	c->limit = count;
	/* Packet buffers hold < 64 KiB: the largest frame (MTU 9600) is enough. */
	c->snaplen = MIN(snaplen, VSW_MTU_MAX + 22);
	c->tsc_base = vsw->tsc_base;
	c->tsc_scale = (uint64_t)(((unsigned __int128)rte_get_tsc_hz() << 32) /
				  vsw->tsc_hz);
	snprintf(c->file, sizeof(c->file), "%s", file);
	snprintf(name, sizeof(name), "vsw_capr%u", seq);
	c->ring = rte_ring_create(name, CAP_RING, SOCKET_ID_ANY,
				  RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "vsw_capm%u", seq++);
	c->pool = rte_pktmbuf_pool_create(name, CAP_MBUFS, 0, 0,
					  rte_pcapng_mbuf_size(c->snaplen),
					  SOCKET_ID_ANY);
	if (!c->ring || !c->pool)
		goto err_free;
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create %s: %s", file, strerror(errno));
		goto err_free;
	}
	c->pcapng = rte_pcapng_fdopen(fd, NULL, NULL, "vswitchd", NULL);
	if (!c->pcapng) {
		close(fd);
		r = -EIO;
		snprintf(err, errlen, "cannot start pcapng in %s", file);
		goto err_free;
	}
	r = -pthread_create(&c->thread, NULL, writer_main, c);
	if (r < 0)
		goto err_close;
	vsw->capture = c;
	atomic_store_explicit(&p->rt->capture, c, memory_order_release);
	log_info("vswitch.capture", "capturing %s to %s", port, file);
	return 0;

err_close:
	rte_pcapng_close(c->pcapng);
err_free:
	rte_ring_free(c->ring);
	rte_mempool_free(c->pool);
	free(c);
	return r;
}

int
vsw_capture_stop(struct vsw *vsw)
{
	struct vsw_capture *c = vsw->capture;
	struct rte_mbuf *m;

	if (!c)
		return -ENOENT;
	atomic_store(&c->port->rt->capture, NULL);
	/* After this the data plane holds no reference to 'c'. */
	rte_rcu_qsbr_synchronize(vsw->rcu, RTE_QSBR_THRID_INVALID);
	atomic_store(&c->stop, true);
	pthread_join(c->thread, NULL);
	while (rte_ring_sc_dequeue(c->ring, (void **)&m) == 0)
		rte_pktmbuf_free(m);
	rte_pcapng_close(c->pcapng);
	rte_ring_free(c->ring);
	rte_mempool_free(c->pool);
	log_info("vswitch.capture", "capture of %s ended: %llu frames in %s",
		 c->port->cfg.name, (unsigned long long)c->written, c->file);
	vsw->last_capture_written = c->written;
	free(c);
	vsw->capture = NULL;
	return 0;
}

void
vsw_capture_status(struct vsw *vsw, struct json_writer *w)
{
	struct vsw_capture *c = vsw->capture;

	json_obj_begin(w, "capture");
	if (!c) {
		json_bool(w, "running", false);
		json_u64(w, "written", vsw->last_capture_written);
	} else {
		json_bool(w, "running", !atomic_load(&c->done));
		json_str(w, "port", c->port->cfg.name);
		json_str(w, "file", c->file);
		json_u64(w, "limit", c->limit);
		json_u64(w, "written", __atomic_load_n(&c->written,
						       __ATOMIC_ACQUIRE));
		json_u64(w, "lost", c->port->rt->st.capture_lost);
	}
	json_obj_end(w);
}
