/* SPDX-License-Identifier: MIT */
/*
 * Ports as DPDK ethdevs: each kind maps to a virtual device created at run
 * time (rte_vdev_init), configured with one rx and one tx queue and
 * started; closing stops, closes and removes the device.
 *
 *   null       net_null, a sink (its receive side is never polled)
 *   ring       net_ring over two rte_rings "vswr-NAME-in" (frames the
 *              switch receives) and "vswr-NAME-out" (frames it sends), for
 *              tests in the same process
 *   tap        net_tap: a host interface named 'iface'
 *   afpacket   net_af_packet on the existing interface 'iface'
 *   vhostuser  net_vhost as a client of the server socket 'path';
 *              DPDK's vhost library reconnects when the server goes away;
 *              frames bypass the PMD (vhost-port.c)
 *   memif      net_memif as a client of the memif socket 'path' (id 0);
 *              the peer (a VM's or test's net_memif, or libmemif) is the
 *              server, as with vhost-user, so a switch restart leaves it
 *              running
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "vswitch/vsw-internal.h"

#include <rte_bus_vdev.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ring.h>

#define RX_DESC 512
#define TX_DESC 512

static int
create_rings(struct vsw_port *p)
{
	char name[RTE_RING_NAMESIZE];

	snprintf(name, sizeof(name), "vswr-%s-in", p->cfg.name);
	p->rings[0] = rte_ring_create(name, 1024, SOCKET_ID_ANY,
				      RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "vswr-%s-out", p->cfg.name);
	p->rings[1] = rte_ring_create(name, 1024, SOCKET_ID_ANY,
				      RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!p->rings[0] || !p->rings[1])
		return -rte_errno;
	return 0;
}

static void
free_rings(struct vsw_port *p)
{
	struct rte_mbuf *m;

	for (int i = 0; i < 2; i++) {
		if (!p->rings[i])
			continue;
		while (rte_ring_dequeue(p->rings[i], (void **)&m) == 0)
			rte_pktmbuf_free(m);
		rte_ring_free(p->rings[i]);
		p->rings[i] = NULL;
	}
}

/* Creates the ethdev of 'p' and sets p->eth and p->devname. */
static int
create_dev(struct vsw *vsw, struct vsw_port *p, bool quiet)
{
	const struct vsw_port_config *c = &p->cfg;
	/* Process-wide: a device name is never reused, even by a new vsw. */
	static atomic_uint next_seq;
	unsigned int seq = atomic_fetch_add(&next_seq, 1);
	char args[256] = "";
	int err;

	switch (c->type) {
	case VSW_PORT_NULL:
		snprintf(p->devname, sizeof(p->devname), "net_null_vsw%u", seq);
		snprintf(args, sizeof(args), "copy=0");
		break;
	case VSW_PORT_RING:
		snprintf(p->devname, sizeof(p->devname), "vsw_ring%u", seq);
		err = create_rings(p);
		if (err < 0)
			return err;
		err = rte_eth_from_rings(p->devname, &p->rings[0], 1,
					 &p->rings[1], 1, SOCKET_ID_ANY);
		if (err < 0)
			return -rte_errno;
		p->eth = (uint16_t)err;
		return 0;
	case VSW_PORT_TAP:
		snprintf(p->devname, sizeof(p->devname), "net_tap_vsw%u", seq);
		if (p->tap_mac[0])
			snprintf(args, sizeof(args), "iface=%s,mac=%s", c->iface,
				 p->tap_mac);
		else
			snprintf(args, sizeof(args), "iface=%s", c->iface);
		break;
	case VSW_PORT_MEMIF:
		snprintf(p->devname, sizeof(p->devname), "net_memif_vsw%u", seq);
		snprintf(args, sizeof(args), "role=client,id=0,socket=%s",
			 c->path);
		break;
	case VSW_PORT_AFPACKET:
		snprintf(p->devname, sizeof(p->devname), "net_af_packet_vsw%u",
			 seq);
		snprintf(args, sizeof(args), "iface=%s,qpairs=1", c->iface);
		break;
	case VSW_PORT_VHOSTUSER:
		snprintf(p->devname, sizeof(p->devname), "net_vhost_vsw%u", seq);
		snprintf(args, sizeof(args), "iface=%s,client=1,queues=1",
			 c->path);
		break;
	default:
		return -EINVAL;
	}
	err = rte_vdev_init(p->devname, args);
	if (err < 0) {
		if (quiet)
			return -ENODEV;
		log_err("vswitch.port", "%s: cannot create %s device (%s): %s",
			c->name, vsw_port_type_name(c->type), args,
			strerror(-err));
		return -ENODEV;
	}
	err = rte_eth_dev_get_port_by_name(p->devname, &p->eth);
	if (err < 0) {
		rte_vdev_uninit(p->devname);
		return -ENODEV;
	}
	return 0;
}

static void
destroy_dev(struct vsw_port *p)
{
	if (p->cfg.type == VSW_PORT_RING) {
		rte_eth_dev_close(p->eth);
		free_rings(p);
		return;
	}
	rte_eth_dev_close(p->eth);
	rte_vdev_uninit(p->devname);
}

static int
port_open(struct vsw *vsw, struct vsw_port *p, bool quiet)
{
	struct rte_eth_conf conf;
	int err;

	memset(&conf, 0, sizeof(conf));
	err = create_dev(vsw, p, quiet);
	if (err < 0) {
		if (p->cfg.type == VSW_PORT_RING)
			free_rings(p);
		return err;
	}
	err = rte_eth_dev_configure(p->eth, 1, 1, &conf);
	if (err < 0)
		goto err_dev;
	err = rte_eth_rx_queue_setup(p->eth, 0, RX_DESC,
				     rte_eth_dev_socket_id(p->eth), NULL,
				     vsw->pool);
	if (err < 0)
		goto err_dev;
	err = rte_eth_tx_queue_setup(p->eth, 0, TX_DESC,
				     rte_eth_dev_socket_id(p->eth), NULL);
	if (err < 0)
		goto err_dev;
	err = rte_eth_dev_start(p->eth);
	if (err < 0)
		goto err_dev;
	/* Best effort: some drivers have no promiscuous switch. */
	rte_eth_promiscuous_enable(p->eth);
	/* An uplink speaks from the device's own MAC. */
	rte_eth_macaddr_get(p->eth, (struct rte_ether_addr *)p->mac);
	p->vsw = vsw;
	if (p->cfg.type == VSW_PORT_VHOSTUSER) {
		err = vsw_vhost_attach(p);
		if (err < 0) {
			rte_eth_dev_stop(p->eth);
			goto err_dev;
		}
	}
	log_info("vswitch.port", "%s: %s port up (%s, ethdev %u)", p->cfg.name,
		 vsw_port_type_name(p->cfg.type), p->devname, p->eth);
	return 0;

err_dev:
	if (!quiet)
		log_err("vswitch.port", "%s: cannot set up %s: %s", p->cfg.name,
			p->devname, strerror(-err));
	destroy_dev(p);
	return -ENODEV;
}

int
vsw_port_open(struct vsw *vsw, struct vsw_port *p, bool quiet)
{
	int home = -1, err;

	if (p->cfg.type == VSW_PORT_TAP) {
		err = vsw_tap_enter(p->cfg.iface, &home, p->tap_mac,
				    sizeof(p->tap_mac));
		if (err < 0) {
			if (!quiet)
				log_err("vswitch.port", "%s: cannot create TAP "
					"interface %s: %s", p->cfg.name,
					p->cfg.iface, strerror(-err));
			return -ENODEV;
		}
	}
	err = port_open(vsw, p, quiet);
	vsw_tap_leave(home);
	return err;
}

void
vsw_port_close(struct vsw *vsw, struct vsw_port *p, bool forget)
{
	if (p->missing)
		return;
	if (p->cfg.type == VSW_PORT_VHOSTUSER)
		vsw_vhost_detach(p);
	rte_eth_dev_stop(p->eth);
	destroy_dev(p);
	if (forget && p->cfg.type == VSW_PORT_TAP)
		vsw_tap_forget(p->cfg.iface);
	log_info("vswitch.port", "%s: port removed", p->cfg.name);
}
