/* SPDX-License-Identifier: MIT */
/*
 * The gateways of lab networks and the routed uplinks, in the data plane.
 *
 * A network's gateway sees the frames its switch hands it (datapath.c):
 * those addressed to the gateway's MAC, plus copies of broadcast ARP and
 * DHCP. It answers ARP and ping for its address, runs the network's DHCP
 * server, and routes everything else out of the network's NAT uplink:
 * source address and port translated to the uplink's (masquerade), a
 * connection tracked both ways (conntrack.c), TTL decremented, MACs
 * rewritten for the next hop (ARP, neigh.c). An uplink is a port with an
 * address: it is not switched; its frames come here, ARP and ping for
 * its address are answered, replies of tracked connections and new
 * connections to forwarded ports go back in, translated, and ICMP errors
 * about either are translated too. Nothing else crosses: no routing
 * between networks, nothing from the outside without a connection or a
 * forward, no fragments.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "vswitch/dhcp-server.h"
#include "vswitch/vsw-internal.h"

#include <rte_hash_crc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#define UPLINK_IF(slot) ((uint16_t)(VSW_NEIGH_IF_UPLINK | (slot)))
#define NAT_PORT_MIN 1024
#define NAT_PORT_MAX 65535
/* Ports tried before a NAT mapping gives up. */
#define PORT_TRIES 4096

static const char *const net_drop_names[VSW_NET_DROP_COUNT] = {
	[VSW_NET_DROP_MALFORMED] = "malformed",
	[VSW_NET_DROP_FRAGMENT] = "fragment",
	[VSW_NET_DROP_TTL] = "ttl_expired",
	[VSW_NET_DROP_NO_ROUTE] = "no_route",
	[VSW_NET_DROP_ISOLATION] = "isolation",
	[VSW_NET_DROP_TO_GATEWAY] = "to_gateway",
	[VSW_NET_DROP_PORTS] = "nat_ports_exhausted",
	[VSW_NET_DROP_CT_FULL] = "conntrack_full",
	[VSW_NET_DROP_TCP] = "tcp_invalid",
	[VSW_NET_DROP_UNRESOLVED] = "arp_unresolved",
	[VSW_NET_DROP_ICMP_ERROR] = "icmp_error_unmatched",
	[VSW_NET_DROP_NOT_IP] = "not_ip",
};

const char *
vsw_net_drop_name(enum vsw_net_drop reason)
{
	return (unsigned int)reason < VSW_NET_DROP_COUNT ? net_drop_names[reason]
							 : "?";
}

static inline unsigned int
net_index(const struct vsw_cfg *cfg, const struct vsw_dp_net *net)
{
	return (unsigned int)(net - cfg->net);
}

static inline void
net_drop(const struct vsw_dp_net *net, enum vsw_net_drop why,
	 struct rte_mbuf *m)
{
	net->rt->st.drops[why]++;
	rte_pktmbuf_free(m);
}

static inline void
port_drop(const struct vsw_dp_port *p, enum vsw_drop why, struct rte_mbuf *m)
{
	p->rt->st.drops[why]++;
	rte_pktmbuf_free(m);
}

bool
vsw_router_is_dhcp_server_frame(const uint8_t *f, uint32_t len)
{
	return vsw_dhcp_is_server_frame(f, len);
}

/* A fresh mbuf holding 'len' bytes of 'data', or NULL. */
static struct rte_mbuf *
frame_new(struct vsw *vsw, const uint8_t *data, uint32_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(vsw->pool);
	uint8_t *d;

	if (!m)
		return NULL;
	d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
	if (!d) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memcpy(d, data, len);
	return m;
}

/*
 * Makes 'm' 'len' bytes, but no shorter than the Ethernet minimum (a
 * rewritten frame never grows here; its padding stays).
 */
static void
frame_set_len(struct rte_mbuf *m, uint32_t len)
{
	len = MAX(len, (uint32_t)VSW_L3_FRAME_MIN);
	if (len < rte_pktmbuf_pkt_len(m))
		rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_pkt_len(m) - len));
}

/* ---- sending into a network and out of an uplink ---- */

static void
net_arp_request(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
		const struct vsw_dp_net *net, uint32_t ip)
{
	static const uint8_t zero[6];
	uint8_t f[VSW_L3_FRAME_MIN];
	struct rte_mbuf *m;
	uint32_t len = vsw_arp_build(f, 1, net->gw_mac, net->gw_ip, zero, ip);

	m = frame_new(vsw, f, len);
	if (m)
		vsw_dp_l2_inject(vsw, dp, cfg, net->sw, net->vid, m);
}

static void
uplink_arp_request(struct vsw *vsw, struct vsw_dp *dp,
		   const struct vsw_cfg *cfg, uint16_t slot, uint32_t ip)
{
	static const uint8_t zero[6];
	const struct vsw_dp_port *up = &cfg->port[slot];
	uint8_t f[VSW_L3_FRAME_MIN];
	struct rte_mbuf *m;
	uint32_t len = vsw_arp_build(f, 1, up->mac, up->addr, zero, ip);

	m = frame_new(vsw, f, len);
	if (m)
		vsw_dp_output(dp, cfg, slot, m);
}

/*
 * Delivers an IPv4 frame into 'net' to 'dst_ip': from the gateway's MAC
 * to 'mac' if known (else resolved with ARP while the frame waits).
 */
static void
net_deliver(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
	    const struct vsw_dp_net *net, struct rte_mbuf *m, uint32_t dst_ip,
	    const uint8_t *mac)
{
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	uint16_t ifc = (uint16_t)net_index(cfg, net);
	int r;

	memcpy(f + 6, net->gw_mac, 6);
	if (!mac)
		mac = vsw_neigh_lookup(dp->neigh, ifc, dst_ip, dp->now);
	if (mac) {
		memcpy(f, mac, 6);
		vsw_dp_l2_inject(vsw, dp, cfg, net->sw, net->vid, m);
		return;
	}
	r = vsw_neigh_hold(dp->neigh, ifc, dst_ip, m, dp->now);
	if (r < 0) {
		net_drop(net, VSW_NET_DROP_UNRESOLVED, m);
		return;
	}
	if (r > 0)
		net_arp_request(vsw, dp, cfg, net, dst_ip);
}

/* Sends an IPv4 frame out of uplink 'slot' towards 'dst_ip'. */
static void
uplink_send(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
	    uint16_t slot, struct rte_mbuf *m, uint32_t dst_ip,
	    const struct vsw_dp_net *net)
{
	static const uint8_t zero[6];
	const struct vsw_dp_port *up = &cfg->port[slot];
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	uint32_t hop = dst_ip;
	const uint8_t *mac;
	int r;

	if ((dst_ip & up->mask) != (up->addr & up->mask)) {
		if (!up->gateway) {
			if (net)
				net_drop(net, VSW_NET_DROP_NO_ROUTE, m);
			else
				port_drop(up, VSW_DROP_NO_CONN, m);
			return;
		}
		hop = up->gateway;
	}
	memcpy(f + 6, up->mac, 6);
	if (hop == up->gateway && memcmp(up->gateway_mac, zero, 6))
		mac = up->gateway_mac;
	else
		mac = vsw_neigh_lookup(dp->neigh, UPLINK_IF(slot), hop, dp->now);
	if (mac) {
		memcpy(f, mac, 6);
		vsw_dp_output_buffered(dp, cfg, slot, m);
		return;
	}
	r = vsw_neigh_hold(dp->neigh, UPLINK_IF(slot), hop, m, dp->now);
	if (r < 0) {
		port_drop(up, VSW_DROP_UNRESOLVED, m);
		return;
	}
	if (r > 0)
		uplink_arp_request(vsw, dp, cfg, slot, hop);
}

void
vsw_router_uplink_send(struct vsw *vsw, struct vsw_dp *dp,
		       const struct vsw_cfg *cfg, uint16_t slot,
		       struct rte_mbuf *m, uint32_t dst_ip)
{
	if (!cfg->port[slot].addr) {
		port_drop(&cfg->port[slot], VSW_DROP_NO_CONN, m);
		return;
	}
	uplink_send(vsw, dp, cfg, slot, m, dst_ip, NULL);
}

/* ---- NAT ---- */

static bool
port_forwarded(const struct vsw_cfg *cfg, uint16_t uplink, uint8_t proto,
	       uint16_t port)
{
	for (unsigned int i = 0; i < cfg->nnets; i++) {
		const struct vsw_dp_net *n = &cfg->net[cfg->nets[i]];

		if (n->uplink != (int16_t)uplink)
			continue;
		for (unsigned int k = 0; k < n->nfwd; k++)
			if (n->fwd[k].proto == proto &&
			    n->fwd[k].outside_port == port)
				return true;
	}
	return false;
}

/*
 * Picks the uplink port (or ICMP identifier) of a new mapping: the
 * inside one if free, else a pseudo-random start and the next free ones.
 * Returns it, or -1 when the range is used up for this destination.
 */
static int
choose_port(struct vsw_dp *dp, const struct vsw_cfg *cfg,
	    const struct vsw_dp_net *net, struct vsw_ct_key *out_key,
	    uint16_t preferred, uint16_t uplink)
{
	uint32_t lo = net->port_min, hi = net->port_max, range = hi - lo + 1;
	uint32_t start, tries = MIN(range, (uint32_t)PORT_TRIES);
	bool icmp = out_key->proto == VSW_IPPROTO_ICMP;

	if (preferred >= lo && preferred <= hi)
		start = preferred;
	else
		start = lo + (rte_hash_crc_4byte(out_key->src ^ preferred,
						 (uint32_t)dp->now) % range);
	for (uint32_t i = 0; i < tries; i++) {
		uint16_t cand = (uint16_t)(lo + (start - lo + i) % range);

		if (!icmp && port_forwarded(cfg, uplink, out_key->proto, cand))
			continue;
		out_key->dport = cand;
		if (vsw_ct_key_free(dp->ct, out_key, dp->now))
			return cand;
		if (i == 0 && range > 1)
			start = lo + (rte_hash_crc_4byte(out_key->src ^ preferred,
							 (uint32_t)dp->now) % range);
	}
	return -1;
}

static bool
in_other_net(const struct vsw_cfg *cfg, const struct vsw_dp_net *self,
	     uint32_t ip)
{
	unsigned int me = net_index(cfg, self);

	for (unsigned int i = 0; i < cfg->nnets; i++)
		if ((ip & cfg->net_prefix[i].mask) == cfg->net_prefix[i].subnet &&
		    cfg->nets[i] != me)
			return true;
	return false;
}

static inline bool
nat_proto_ok(const struct vsw_ip_pkt *p)
{
	return p->proto == VSW_IPPROTO_TCP || p->proto == VSW_IPPROTO_UDP ||
	       (p->proto == VSW_IPPROTO_ICMP && p->icmp_type == VSW_ICMP_ECHO);
}

static void
key_of(struct vsw_ct_key *k, const struct vsw_ip_pkt *p, uint16_t zone)
{
	memset(k, 0, sizeof(*k));
	k->src = p->src;
	k->dst = p->dst;
	k->sport = p->sport;
	k->dport = p->dport;
	k->proto = p->proto;
	k->zone = zone;
}

_Static_assert(VSW_MAX_NETS <= 256 && VSW_MAX_PORTS <= 256,
	       "a connection keeps its network and uplink in a byte each");

/*
 * The key 'f' (a received frame) would be looked up with, if it is a
 * NAT candidate: an untagged IPv4 TCP/UDP/ICMP-echo packet to a
 * network's gateway MAC from a switch port, or to the address of
 * uplink 'uplink'. Its parse goes to 'p' for the input path to reuse;
 * the input path still checks everything else again.
 */
static bool
hint_key(const struct vsw_cfg *cfg, const struct vsw_dp_port *in, int uplink,
	 const struct vsw_dp_net *net, uint8_t *f, uint32_t len,
	 struct vsw_ct_key *k, struct vsw_ip_pkt *p)
{
	if (len < VSW_ETH_HLEN + 20 || vsw_get16(f + 12) != VSW_ETHERTYPE_IPV4)
		return false;
	if (uplink < 0) {
		/*
		 * What vsw_frame_parse() would say of an untagged frame (the
		 * switch stage parses it anyway): a source that is no group
		 * address, a length within the port's limit, the port's
		 * untagged VLAN ('net' is that VLAN's network, if any).
		 */
		if (!net || (f[6] & 1) || len > in->max_frame ||
		    memcmp(f, net->gw_mac, 6))
			return false;
	}
	if (vsw_ip_parse(f, len, p) != VSW_L3_OK)
		return false;
	if (p->proto != VSW_IPPROTO_TCP && p->proto != VSW_IPPROTO_UDP &&
	    (p->proto != VSW_IPPROTO_ICMP || (p->icmp_type != VSW_ICMP_ECHO &&
					      p->icmp_type != VSW_ICMP_ECHO_REPLY)))
		return false;
	if (net) {
		if (p->dst == net->gw_ip)
			return false;
		key_of(k, p, (uint16_t)(net_index(cfg, net) + 1));
	} else {
		if (p->dst != in->addr)
			return false;
		key_of(k, p, (uint16_t)(VSW_CT_ZONE_UPLINK | uplink));
	}
	return true;
}

void
vsw_router_prefetch(struct vsw_dp *dp, const struct vsw_cfg *cfg,
		    const struct vsw_dp_port *in, int uplink,
		    struct rte_mbuf **pkts, uint16_t n)
{
	const struct vsw_ct_key *keys[VSW_BURST];
	struct vsw_ct_entry *e[VSW_BURST];
	int dirs[VSW_BURST];
	const struct vsw_dp_net *net = NULL;
	uint16_t k = 0;

	dp->ct_nhint = 0;
	dp->ct_hint_pos = 0;
	dp->ct_cur = NULL;
	/* A switch port's frames that can be hinted are in one network. */
	if (uplink < 0) {
		if (in->vlan.untag_in == VSW_VID_NONE)
			return;
		net = vsw_cfg_net(cfg, &cfg->sw[in->sw], in->vlan.untag_in);
		if (!net)
			return;
	}
	for (uint16_t i = 0; i < n && k < VSW_BURST; i++) {
		struct rte_mbuf *m = pkts[i];

		/* A driver's stripped tag changes the frame before input. */
		if (m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED)
			continue;
		if (!hint_key(cfg, in, uplink, net,
			      rte_pktmbuf_mtod(m, uint8_t *),
			      rte_pktmbuf_data_len(m), &dp->ct_hint_key[k],
			      &dp->ct_hint[k].p))
			continue;
		dp->ct_hint[k].m = m;
		keys[k] = &dp->ct_hint_key[k];
		k++;
	}
	if (!k)
		return;
	vsw_ct_lookup_bulk(dp->ct, keys, k, e, dirs);
	for (uint16_t i = 0; i < k; i++) {
		dp->ct_hint[i].e = e[i];
		dp->ct_hint[i].dir = e[i] ? dirs[i] : 0;
	}
	dp->ct_nhint = k;
	dp->ct_hint_created = vsw_ct_stats(dp->ct)->created;
}

/*
 * The burst's hint for frame 'm' (frames are input in burst order, and
 * only received frames, never copies, may have one), made the current
 * one; NULL when 'm' has none.
 */
static const struct vsw_ct_hint *
hint_take(struct vsw_dp *dp, const struct rte_mbuf *m)
{
	dp->ct_cur = NULL;
	for (uint16_t i = dp->ct_hint_pos; i < dp->ct_nhint; i++) {
		if (dp->ct_hint[i].m != m ||
		    dp->ct_hint[i].p.ip !=
			    rte_pktmbuf_mtod(m, const uint8_t *) + VSW_ETH_HLEN)
			continue;
		dp->ct_hint_pos = (uint16_t)(i + 1);
		dp->ct_cur = &dp->ct_hint[i];
		break;
	}
	return dp->ct_cur;
}

/*
 * The connection of key 'k' for frame 'm': from the burst's bulk lookup
 * when it covered 'm' and still holds (the entry in use, not expired and
 * still holding the key, or no connection made since a miss), else
 * looked up now (which also frees an expired entry).
 */
static inline struct vsw_ct_entry *
ct_find(struct vsw_dp *dp, const struct rte_mbuf *m, const struct vsw_ct_key *k,
	int *dir)
{
	const struct vsw_ct_hint *h = dp->ct_cur;

	if (h && h->m == m &&
	    vsw_ct_key_eq(&dp->ct_hint_key[h - dp->ct_hint], k)) {
		struct vsw_ct_entry *e = h->e;

		if (e && e->in_use && dp->now <= e->expires &&
		    vsw_ct_key_eq(&e->key[h->dir], k)) {
			*dir = h->dir;
			return e;
		}
		if (!e && vsw_ct_stats(dp->ct)->created == dp->ct_hint_created)
			return NULL;
	}
	return vsw_ct_lookup(dp->ct, k, dir, dp->now);
}

/* A new connection from inside 'net' for the packet 'p'; NULL if refused. */
static struct vsw_ct_entry *
nat_new(struct vsw_dp *dp, const struct vsw_cfg *cfg,
	const struct vsw_dp_net *net, const struct vsw_ip_pkt *p,
	const struct vsw_ct_key *in_key)
{
	const struct vsw_dp_port *up = &cfg->port[net->uplink];
	struct vsw_ct_key out_key;
	struct vsw_ct_entry *e;
	int port, err = 0;

	memset(&out_key, 0, sizeof(out_key));
	out_key.src = p->dst;
	out_key.dst = up->addr;
	out_key.sport = p->dport;
	out_key.proto = p->proto;
	out_key.zone = (uint16_t)(VSW_CT_ZONE_UPLINK | net->uplink);
	port = choose_port(dp, cfg, net, &out_key, p->sport,
			   (uint16_t)net->uplink);
	if (port < 0) {
		vsw_ct_count_ports_exhausted(dp->ct);
		net->rt->st.drops[VSW_NET_DROP_PORTS]++;
		return NULL;
	}
	e = vsw_ct_insert(dp->ct, in_key, &out_key, dp->now, &err);
	if (!e) {
		net->rt->st.drops[VSW_NET_DROP_CT_FULL]++;
		return NULL;
	}
	e->in_ip = p->src;
	e->in_port = p->sport;
	e->nat_ip = up->addr;
	e->nat_port = (uint16_t)port;
	e->proto = p->proto;
	e->net = (uint16_t)net_index(cfg, net);
	e->uplink = (uint16_t)net->uplink;
	e->state = p->proto == VSW_IPPROTO_TCP ? VSW_CT_STATE_COUNT
	       : p->proto == VSW_IPPROTO_UDP ? VSW_CT_UDP_UNREPLIED : VSW_CT_ICMP;
	return e;
}

/* An ICMP error from a VM about a connection: translate it outwards. */
static void
nat_out_icmp_error(struct vsw *vsw, struct vsw_dp *dp,
		   const struct vsw_cfg *cfg, const struct vsw_dp_net *net,
		   struct rte_mbuf *m, struct vsw_ip_pkt *p)
{
	struct vsw_icmp_quote q;
	struct vsw_ct_entry *e = NULL;
	struct vsw_ct_key k;
	int dir;

	if (vsw_icmp_quote_parse(p, &q) == 0 && q.has_ports) {
		/* The quoted packet went to the VM: its reverse is our key. */
		memset(&k, 0, sizeof(k));
		k.src = q.dst;
		k.dst = q.src;
		k.sport = q.dport;
		k.dport = q.sport;
		k.proto = q.proto;
		k.zone = (uint16_t)(net_index(cfg, net) + 1);
		e = vsw_ct_lookup(dp->ct, &k, &dir, dp->now);
	}
	if (!e || dir != VSW_CT_DIR_IN) {
		net_drop(net, VSW_NET_DROP_ICMP_ERROR, m);
		return;
	}
	vsw_icmp_quote_rewrite(p, &q, false, e->nat_ip, e->nat_port);
	vsw_ip_rewrite(p, true, e->nat_ip, -1);
	vsw_ip_dec_ttl(p);
	net->rt->st.icmp_errors_out++;
	uplink_send(vsw, dp, cfg, e->uplink, m, p->dst, net);
}

/* ICMP time exceeded from 'src_ip' for the packet 'p' in 'm' (consumed). */
static struct rte_mbuf *
ttl_error(struct vsw *vsw, struct rte_mbuf *m, const struct vsw_ip_pkt *p,
	  uint32_t src_ip, const uint8_t *src_mac)
{
	uint8_t out[VSW_ETH_HLEN + 20 + 8 + 60 + 8];
	uint32_t len = vsw_icmp_error_build(out, sizeof(out),
					    rte_pktmbuf_mtod(m, uint8_t *), p,
					    VSW_ICMP_TIME_EXCEEDED, 0, src_ip,
					    src_mac);

	return len ? frame_new(vsw, out, len) : NULL;
}

/* A packet from inside 'net' to be routed out of its NAT uplink. */
static void
nat_out(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
	const struct vsw_dp_net *net, struct rte_mbuf *m, struct vsw_ip_pkt *p)
{
	const struct vsw_dp_port *up;
	struct vsw_ct_entry *e;
	struct vsw_ct_key k;
	bool created = false;
	int dir;

	if (net->isolated || net->uplink < 0 || !cfg->port[net->uplink].l3 ||
	    p->dst >= 0xe0000000u || (p->dst & net->mask) == net->subnet) {
		net_drop(net, VSW_NET_DROP_NO_ROUTE, m);
		return;
	}
	if (in_other_net(cfg, net, p->dst)) {
		net_drop(net, VSW_NET_DROP_ISOLATION, m);
		return;
	}
	if (p->ttl <= 1) {
		struct rte_mbuf *err = ttl_error(vsw, m, p, net->gw_ip,
						 net->gw_mac);

		if (err)
			vsw_dp_l2_inject(vsw, dp, cfg, net->sw, net->vid, err);
		net_drop(net, VSW_NET_DROP_TTL, m);
		return;
	}
	if (vsw_icmp_is_error(p)) {
		nat_out_icmp_error(vsw, dp, cfg, net, m, p);
		return;
	}
	if (!nat_proto_ok(p)) {
		net_drop(net, VSW_NET_DROP_NO_ROUTE, m);
		return;
	}
	up = &cfg->port[net->uplink];
	key_of(&k, p, (uint16_t)(net_index(cfg, net) + 1));
	e = ct_find(dp, m, &k, &dir);
	if (!e) {
		if (p->proto == VSW_IPPROTO_TCP &&
		    (p->tcp_flags & (VSW_TCP_SYN | VSW_TCP_ACK | VSW_TCP_RST)) !=
			    VSW_TCP_SYN) {
			/* Only a SYN opens a mapping (none survives a restart). */
			vsw_ct_count_not_syn(dp->ct);
			net_drop(net, VSW_NET_DROP_TCP, m);
			return;
		}
		e = nat_new(dp, cfg, net, p, &k);
		if (!e) {
			rte_pktmbuf_free(m);
			return;
		}
		created = true;
	}
	if (e->nat_ip != up->addr || e->uplink != (uint16_t)net->uplink) {
		/* The uplink changed address: the old mapping is void. */
		vsw_ct_delete(dp->ct, e);
		net_drop(net, VSW_NET_DROP_NO_ROUTE, m);
		return;
	}
	if (vsw_ct_update(dp->ct, e, VSW_CT_DIR_IN, p, dp->now) != VSW_TCP_OK) {
		if (created)
			vsw_ct_delete(dp->ct, e);
		net_drop(net, VSW_NET_DROP_TCP, m);
		return;
	}
	/* Replies go to whichever MAC the host sends from now. */
	memcpy(e->in_mac, rte_pktmbuf_mtod(m, uint8_t *) + 6, 6);
	vsw_ip_nat(p, true, e->nat_ip, e->nat_port);
	net->rt->st.nat_out++;
	uplink_send(vsw, dp, cfg, (uint16_t)net->uplink, m, p->dst, net);
}

/* ---- the gateway ---- */

static void
net_arp(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
	const struct vsw_dp_net *net, struct rte_mbuf *m)
{
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	struct rte_mbuf *out[8];
	struct vsw_arp a;
	unsigned int n;

	if (vsw_arp_parse(f, rte_pktmbuf_data_len(m), &a) < 0) {
		net_drop(net, VSW_NET_DROP_MALFORMED, m);
		return;
	}
	if ((a.spa & net->mask) == net->subnet && a.spa != net->gw_ip &&
	    !(a.sha[0] & 1)) {
		n = vsw_neigh_learn(dp->neigh, (uint16_t)net_index(cfg, net),
				    a.spa, a.sha, dp->now, out, 8);
		for (unsigned int i = 0; i < n; i++)
			vsw_dp_l2_inject(vsw, dp, cfg, net->sw, net->vid, out[i]);
	}
	if (a.op != 1 || a.tpa != net->gw_ip || !a.spa) {
		rte_pktmbuf_free(m);
		return;
	}
	frame_set_len(m, vsw_arp_build(f, 2, net->gw_mac, net->gw_ip, a.sha,
				       a.spa));
	net->rt->st.arp_replies++;
	vsw_dp_l2_inject(vsw, dp, cfg, net->sw, net->vid, m);
}

static void
net_dhcp(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
	 const struct vsw_dp_net *net, struct rte_mbuf *m)
{
	uint8_t reply[VSW_DHCP_FRAME_MAX];
	struct rte_mbuf *r;
	int len;

	net->rt->st.dhcp_requests++;
	len = vsw_dhcp_handle_frame(net->rt->dhcp,
				    rte_pktmbuf_mtod(m, const uint8_t *),
				    rte_pktmbuf_data_len(m),
				    (uint64_t)time(NULL), reply);
	rte_pktmbuf_free(m);
	atomic_store_explicit(&net->rt->leases_dirty, true,
			      memory_order_relaxed);
	if (len <= 0)
		return;
	r = frame_new(vsw, reply, (uint32_t)len);
	if (!r)
		return;
	net->rt->st.dhcp_replies++;
	vsw_dp_l2_inject(vsw, dp, cfg, net->sw, net->vid, r);
}

void
vsw_router_net_input(struct vsw *vsw, struct vsw_dp *dp,
		     const struct vsw_cfg *cfg, const struct vsw_dp_net *net,
		     struct rte_mbuf *m, bool broadcast)
{
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(m);
	const struct vsw_ct_hint *h = NULL;
	struct vsw_ip_pkt p;
	enum vsw_l3_verdict v;

	/* A broadcast copy is a fresh mbuf that may reuse a hinted one's. */
	if (broadcast)
		dp->ct_cur = NULL;
	else
		h = hint_take(dp, m);
	if (h) {
		/* Parsed (and its header checksum checked) by the prefetch. */
		p = h->p;
		v = VSW_L3_OK;
		goto parsed;
	}
	if (len >= VSW_ETH_HLEN && vsw_get16(f + 12) == VSW_ETHERTYPE_ARP) {
		net_arp(vsw, dp, cfg, net, m);
		return;
	}
	v = vsw_ip_parse(f, len, &p);
	if (v == VSW_L3_NOT_IPV4) {
		if (broadcast)
			rte_pktmbuf_free(m);
		else
			net_drop(net, VSW_NET_DROP_NOT_IP, m);
		return;
	}
	if (v != VSW_L3_OK && v != VSW_L3_FRAGMENT) {
		net_drop(net, VSW_NET_DROP_MALFORMED, m);
		return;
	}
parsed:
	if (v == VSW_L3_OK && p.proto == VSW_IPPROTO_UDP && p.dport == 67 &&
	    (p.dst == net->gw_ip || p.dst == 0xffffffffu)) {
		if (net->rt->dhcp)
			net_dhcp(vsw, dp, cfg, net, m);
		else
			rte_pktmbuf_free(m); /* another server's business */
		return;
	}
	if (broadcast) {
		rte_pktmbuf_free(m);
		return;
	}
	if (p.dst == net->gw_ip) {
		if (v == VSW_L3_OK && p.proto == VSW_IPPROTO_ICMP &&
		    p.icmp_type == VSW_ICMP_ECHO && p.icmp_code == 0) {
			vsw_icmp_echo_reply(f, &p, net->gw_mac);
			frame_set_len(m, VSW_ETH_HLEN + p.ip_len);
			net->rt->st.echo_replies++;
			vsw_dp_l2_inject(vsw, dp, cfg, net->sw, net->vid, m);
			return;
		}
		net_drop(net, v == VSW_L3_FRAGMENT ? VSW_NET_DROP_FRAGMENT
						   : VSW_NET_DROP_TO_GATEWAY, m);
		return;
	}
	if (v == VSW_L3_FRAGMENT) {
		net_drop(net, VSW_NET_DROP_FRAGMENT, m);
		return;
	}
	nat_out(vsw, dp, cfg, net, m, &p);
}

/* ---- the uplink ---- */

static void
uplink_arp(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
	   uint16_t slot, struct rte_mbuf *m)
{
	const struct vsw_dp_port *up = &cfg->port[slot];
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	struct rte_mbuf *out[8];
	struct vsw_arp a;
	unsigned int n;

	if (vsw_arp_parse(f, rte_pktmbuf_data_len(m), &a) < 0) {
		port_drop(up, VSW_DROP_NOT_IPV4, m);
		return;
	}
	if (unlikely(up->dhcp) && !up->addr) {
		uint32_t t = atomic_load_explicit(&vsw->dhcpc_probe[slot],
						  memory_order_acquire);

		if (t && (a.spa == t || (!a.spa && a.op == 1 && a.tpa == t))) {
			/* Another host has the address the DHCP client
			 * probes for, or probes for it too (or it is our own
			 * probe back: the client tells). */
			vsw_uplink_dhcp_rx(vsw, slot, m);
			return;
		}
	}
	if (!up->addr) {
		/* A DHCP uplink without its lease yet: not ours to answer. */
		rte_pktmbuf_free(m);
		return;
	}
	if ((a.spa & up->mask) == (up->addr & up->mask) && a.spa != up->addr &&
	    !(a.sha[0] & 1)) {
		n = vsw_neigh_learn(dp->neigh, UPLINK_IF(slot), a.spa, a.sha,
				    dp->now, out, 8);
		for (unsigned int i = 0; i < n; i++)
			vsw_dp_output(dp, cfg, slot, out[i]);
	}
	if (a.op != 1 || a.tpa != up->addr || !a.spa) {
		rte_pktmbuf_free(m);
		return;
	}
	frame_set_len(m, vsw_arp_build(f, 2, up->mac, up->addr, a.sha, a.spa));
	vsw_dp_output(dp, cfg, slot, m);
}

/* Completes a packet translated back into its network. */
static void
nat_in_deliver(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
	       const struct vsw_dp_net *net, struct vsw_ct_entry *e,
	       struct rte_mbuf *m)
{
	static const uint8_t zero[6];
	const uint8_t *mac = NULL;

	if (memcmp(e->in_mac, zero, 6))
		mac = e->in_mac;
	net_deliver(vsw, dp, cfg, net, m, e->in_ip, mac);
}

static void
uplink_icmp_error(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
		  uint16_t slot, struct rte_mbuf *m, struct vsw_ip_pkt *p)
{
	const struct vsw_dp_port *up = &cfg->port[slot];
	struct vsw_ct_entry *e = NULL;
	struct vsw_icmp_quote q;
	struct vsw_ct_key k;
	int dir;

	if (vsw_icmp_quote_parse(p, &q) == 0 && q.has_ports &&
	    q.src == up->addr) {
		memset(&k, 0, sizeof(k));
		k.src = q.dst;
		k.dst = q.src;
		k.sport = q.dport;
		k.dport = q.sport;
		k.proto = q.proto;
		k.zone = (uint16_t)(VSW_CT_ZONE_UPLINK | slot);
		e = vsw_ct_lookup(dp->ct, &k, &dir, dp->now);
	}
	if (!e || dir != VSW_CT_DIR_OUT || !cfg->net[e->net].active) {
		port_drop(up, VSW_DROP_NO_CONN, m);
		return;
	}
	vsw_icmp_quote_rewrite(p, &q, true, e->in_ip, e->in_port);
	vsw_ip_rewrite(p, false, e->in_ip, -1);
	vsw_ip_dec_ttl(p);
	cfg->net[e->net].rt->st.icmp_errors_in++;
	nat_in_deliver(vsw, dp, cfg, &cfg->net[e->net], e, m);
}

/* A new connection from outside to a forwarded port; NULL if none. */
static struct vsw_ct_entry *
forward_new(struct vsw_dp *dp, const struct vsw_cfg *cfg, uint16_t slot,
	    const struct vsw_ip_pkt *p, const struct vsw_ct_key *out_key,
	    const struct vsw_dp_net **net_out)
{
	for (unsigned int j = 0; j < cfg->nnets; j++) {
		unsigned int i = cfg->nets[j];
		const struct vsw_dp_net *n = &cfg->net[i];
		struct vsw_ct_key in_key;
		struct vsw_ct_entry *e;
		int err = 0;

		if (!n->active || n->uplink != (int16_t)slot)
			continue;
		for (unsigned int f = 0; f < n->nfwd; f++) {
			const struct vsw_forward_config *fw = &n->fwd[f];

			if (fw->proto != p->proto || fw->outside_port != p->dport)
				continue;
			memset(&in_key, 0, sizeof(in_key));
			in_key.src = fw->inside_ip;
			in_key.dst = p->src;
			in_key.sport = fw->inside_port;
			in_key.dport = p->sport;
			in_key.proto = p->proto;
			in_key.zone = (uint16_t)(i + 1);
			e = vsw_ct_insert(dp->ct, &in_key, out_key, dp->now, &err);
			if (!e) {
				n->rt->st.drops[VSW_NET_DROP_CT_FULL]++;
				return NULL;
			}
			e->in_ip = fw->inside_ip;
			e->in_port = fw->inside_port;
			e->nat_ip = p->dst;
			e->nat_port = p->dport;
			e->proto = p->proto;
			e->net = (uint16_t)i;
			e->uplink = slot;
			e->flags = VSW_CT_F_FORWARD;
			e->state = p->proto == VSW_IPPROTO_TCP ? VSW_CT_STATE_COUNT
								: VSW_CT_UDP_UNREPLIED;
			*net_out = n;
			return e;
		}
	}
	return NULL;
}

static void
uplink_ip(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
	  uint16_t slot, struct rte_mbuf *m, struct vsw_ip_pkt *p)
{
	const struct vsw_dp_port *up = &cfg->port[slot];
	const struct vsw_dp_net *net = NULL;
	struct vsw_ct_entry *e;
	struct vsw_ct_key k;
	bool created = false;
	int dir;

	if (p->proto == VSW_IPPROTO_ICMP && p->icmp_type == VSW_ICMP_ECHO &&
	    p->icmp_code == 0) {
		/* A ping of the uplink's own address. */
		vsw_icmp_echo_reply(rte_pktmbuf_mtod(m, uint8_t *), p, up->mac);
		frame_set_len(m, VSW_ETH_HLEN + p->ip_len);
		vsw_dp_output(dp, cfg, slot, m);
		return;
	}
	if (vsw_icmp_is_error(p)) {
		uplink_icmp_error(vsw, dp, cfg, slot, m, p);
		return;
	}
	key_of(&k, p, (uint16_t)(VSW_CT_ZONE_UPLINK | slot));
	e = ct_find(dp, m, &k, &dir);
	if (e) {
		net = &cfg->net[e->net];
		if (!net->active || net->uplink != (int16_t)slot) {
			vsw_ct_delete(dp->ct, e);
			e = NULL;
		}
	}
	if (!e && (p->proto == VSW_IPPROTO_TCP || p->proto == VSW_IPPROTO_UDP)) {
		e = forward_new(dp, cfg, slot, p, &k, &net);
		created = e != NULL;
	}
	if (!e) {
		port_drop(up, VSW_DROP_NO_CONN, m);
		return;
	}
	if (p->ttl <= 1) {
		struct rte_mbuf *err = ttl_error(vsw, m, p, up->addr, up->mac);

		if (created)
			vsw_ct_delete(dp->ct, e);
		if (err)
			uplink_send(vsw, dp, cfg, slot, err, p->src, NULL);
		net_drop(net, VSW_NET_DROP_TTL, m);
		return;
	}
	if (vsw_ct_update(dp->ct, e, VSW_CT_DIR_OUT, p, dp->now) != VSW_TCP_OK) {
		if (created)
			vsw_ct_delete(dp->ct, e);
		net_drop(net, VSW_NET_DROP_TCP, m);
		return;
	}
	vsw_ip_nat(p, false, e->in_ip, e->in_port);
	net->rt->st.nat_in++;
	if (created)
		net->rt->st.forwarded_in++;
	nat_in_deliver(vsw, dp, cfg, net, e, m);
}

void
vsw_router_uplink_input(struct vsw *vsw, struct vsw_dp *dp,
			const struct vsw_cfg *cfg, uint16_t slot,
			struct rte_mbuf *m)
{
	const struct vsw_dp_port *up = &cfg->port[slot];
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(m);
	const struct vsw_ct_hint *h = hint_take(dp, m);
	struct vsw_ip_pkt p;
	enum vsw_l3_verdict v;

	if (h) {
		/* Parsed by the prefetch: OK, and to our address. */
		p = h->p;
		v = VSW_L3_OK;
	} else {
		if (len >= VSW_ETH_HLEN &&
		    vsw_get16(f + 12) == VSW_ETHERTYPE_ARP) {
			uplink_arp(vsw, dp, cfg, slot, m);
			return;
		}
		v = vsw_ip_parse(f, len, &p);
		if (v == VSW_L3_NOT_IPV4 || v == VSW_L3_MALFORMED ||
		    v == VSW_L3_TRUNCATED_L4) {
			port_drop(up, VSW_DROP_NOT_IPV4, m);
			return;
		}
	}
	if (unlikely(up->dhcp) && v == VSW_L3_OK &&
	    p.proto == VSW_IPPROTO_UDP && p.sport == 67 && p.dport == 68 &&
	    (p.dst == 0xffffffffu || p.dst == up->addr || !up->addr)) {
		/* For the port's DHCP client, in the control thread. */
		vsw_uplink_dhcp_rx(vsw, slot, m);
		return;
	}
	if (!up->addr || p.dst != up->addr || v == VSW_L3_FRAGMENT || (f[0] & 1)) {
		port_drop(up, VSW_DROP_NO_CONN, m);
		return;
	}
	uplink_ip(vsw, dp, cfg, slot, m, &p);
}

/* ---- timers ---- */

struct tick_ctx {
	struct vsw *vsw;
	struct vsw_dp *dp;
	const struct vsw_cfg *cfg;
};

static void
tick_probe(void *arg, uint16_t ifc, uint32_t ip)
{
	struct tick_ctx *c = arg;

	if (ifc & VSW_NEIGH_IF_UPLINK) {
		uint16_t slot = ifc & ~VSW_NEIGH_IF_UPLINK;

		if (slot < VSW_MAX_PORTS && c->cfg->port[slot].l3)
			uplink_arp_request(c->vsw, c->dp, c->cfg, slot, ip);
	} else if (ifc < VSW_MAX_NETS && c->cfg->net[ifc].active) {
		net_arp_request(c->vsw, c->dp, c->cfg, &c->cfg->net[ifc], ip);
	}
}

static void
tick_dropped(void *arg, uint16_t ifc, unsigned int n)
{
	struct tick_ctx *c = arg;

	if (ifc & VSW_NEIGH_IF_UPLINK) {
		uint16_t slot = ifc & ~VSW_NEIGH_IF_UPLINK;

		if (slot < VSW_MAX_PORTS && c->cfg->port[slot].active)
			c->cfg->port[slot].rt->st.drops[VSW_DROP_UNRESOLVED] += n;
	} else if (ifc < VSW_MAX_NETS && c->cfg->net[ifc].active) {
		c->cfg->net[ifc].rt->st.drops[VSW_NET_DROP_UNRESOLVED] += n;
	}
}

void
vsw_router_tick(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
		uint64_t now)
{
	struct tick_ctx c = { vsw, dp, cfg };

	if (unlikely(!rte_ring_empty(vsw->dhcpc_tx)))
		vsw_uplink_dhcp_tx(vsw, dp, cfg);
	/* The whole table about once a second at one call per millisecond. */
	vsw_ct_expire(dp->ct, now, vsw_ct_capacity(dp->ct) / 1000 + 64);
	vsw_neigh_tick(dp->neigh, now, tick_probe, tick_dropped, &c);
}
