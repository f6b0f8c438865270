/* SPDX-License-Identifier: MIT */
/*
 * vhost-user ports on the fast path. The net_vhost ethdev (port.c) still
 * owns the connection: it registers the socket as a vhost-user client,
 * reconnects, negotiates, reports link state, and gives the port an
 * ethdev id for capture. Frames, though, go straight through the vhost
 * library (rte_vhost_dequeue_burst / rte_vhost_enqueue_burst) on the
 * device id, as Open vSwitch does, skipping the PMD's per-packet
 * accounting and its queuing flags: about a tenth of the forwarding cost
 * of a 64-byte frame here. The switch counts frames itself.
 *
 * The device id comes from net_vhost's link-state event, which the PMD
 * raises at the end of its new_device and destroy_device callbacks. On
 * destroy the vhost library frees the device only after the callback
 * returns, so the callback withdraws the id and waits (RCU) until the
 * data plane has passed a quiescent state: no call on a dead device.
 */
#include <errno.h>

#include "common/log.h"
#include "vswitch/vsw-internal.h"

#include <rte_eth_vhost.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_vhost.h>

/* Queue ids seen from the switch: 0 is the guest's receive queue. */
#define GUEST_RXQ 0
#define GUEST_TXQ 1

/* Reads the link state and (re)sets the device id under the port's lock. */
static void
vid_refresh(struct vsw_port *p)
{
	struct rte_eth_link link;
	int vid = -1, old;

	pthread_mutex_lock(&p->vid_lock);
	if (rte_eth_link_get_nowait(p->eth, &link) == 0 && link.link_status)
		vid = rte_eth_vhost_get_vid_from_port_id(p->eth);
	old = atomic_exchange(&p->rt->vid, vid < 0 ? -1 : vid);
	pthread_mutex_unlock(&p->vid_lock);
	if (old >= 0 && old != vid) {
		/* The data plane may still be inside a call on 'old'. */
		rte_rcu_qsbr_synchronize(p->vsw->rcu, RTE_QSBR_THRID_INVALID);
	}
	if (old != vid)
		log_info("vswitch.port", "%s: vhost-user peer %s", p->cfg.name,
			 vid >= 0 ? "connected" : "gone");
}

/* Runs in the vhost event thread (or whoever closes the device). */
static int
on_link_change(uint16_t port_id, enum rte_eth_event_type type, void *arg,
	       void *ret_param)
{
	vid_refresh(arg);
	return 0;
}

int
vsw_vhost_attach(struct vsw_port *p)
{
	int err;

	atomic_store(&p->rt->vid, -1);
	pthread_mutex_init(&p->vid_lock, NULL);
	err = rte_eth_dev_callback_register(p->eth, RTE_ETH_EVENT_INTR_LSC,
					    on_link_change, p);
	if (err < 0)
		return err;
	p->lsc_registered = true;
	/* The peer may have connected before the callback was in place. */
	vid_refresh(p);
	return 0;
}

void
vsw_vhost_detach(struct vsw_port *p)
{
	if (!p->lsc_registered)
		return;
	rte_eth_dev_callback_unregister(p->eth, RTE_ETH_EVENT_INTR_LSC,
					on_link_change, p);
	p->lsc_registered = false;
	atomic_store(&p->rt->vid, -1);
	pthread_mutex_destroy(&p->vid_lock);
}

/*
 * DPDK's vhost library stops at a guest transmit descriptor it cannot use
 * (outside the guest's memory, a loop, a head past the queue) and tells
 * nobody: the queue is dead until the guest resets it. Housekeeping
 * (every <= 200 ms, switch lock held) notices frames the guest posted
 * that the library has not moved past for 1 s, counts the stall
 * (guest_tx_stalls) and logs it once. The port lock keeps the device
 * from being destroyed meanwhile.
 */
void
vsw_vhost_check(struct vsw_port *p, uint64_t now_ms)
{
	struct rte_vhost_vring vr;
	uint16_t last_avail, last_used, avail;
	int vid;

	if (!p->lsc_registered)
		return;
	pthread_mutex_lock(&p->vid_lock);
	vid = atomic_load(&p->rt->vid);
	if (vid < 0 ||
	    rte_vhost_get_vring_base(vid, GUEST_TXQ, &last_avail,
				     &last_used) < 0 ||
	    rte_vhost_get_vhost_vring(vid, GUEST_TXQ, &vr) < 0 || !vr.avail) {
		p->txq_stuck_since_ms = 0;
		p->txq_stalled = false;
		goto out;
	}
	avail = __atomic_load_n(&vr.avail->idx, __ATOMIC_ACQUIRE);
	if (avail == last_avail || last_avail != p->txq_last_avail ||
	    !p->txq_stuck_since_ms) {
		/* Nothing waiting, the library moved on, or a first look. */
		p->txq_last_avail = last_avail;
		p->txq_stuck_since_ms = avail == last_avail ? 0 : now_ms;
		p->txq_stalled = false;
		goto out;
	}
	if (!p->txq_stalled && now_ms - p->txq_stuck_since_ms >= 1000) {
		p->txq_stalled = true;
		p->guest_tx_stalls++;
		log_warn("vswitch.port", "%s: the guest's transmit queue is "
			 "stuck at entry %u (%u frames waiting): a descriptor "
			 "the vhost library cannot use; the guest must reset "
			 "the device", p->cfg.name, last_avail,
			 (uint16_t)(avail - last_avail));
	}
out:
	pthread_mutex_unlock(&p->vid_lock);
}

uint16_t
vsw_vhost_rx(struct vsw *vsw, struct vsw_port_rt *rt, struct rte_mbuf **pkts,
	     uint16_t n)
{
	int vid = atomic_load_explicit(&rt->vid, memory_order_relaxed);

	if (unlikely(vid < 0))
		return 0;
	return rte_vhost_dequeue_burst(vid, GUEST_TXQ, vsw->pool, pkts, n);
}

/* Copies 'pkts' into the guest and frees them all; returns how many went. */
uint16_t
vsw_vhost_tx(struct vsw_port_rt *rt, struct rte_mbuf **pkts, uint16_t n)
{
	int vid = atomic_load_explicit(&rt->vid, memory_order_relaxed);
	uint16_t sent = 0;

	if (likely(vid >= 0))
		sent = rte_vhost_enqueue_burst(vid, GUEST_RXQ, pkts, n);
	rte_pktmbuf_free_bulk(pkts, n);
	return sent;
}
