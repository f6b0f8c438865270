/* SPDX-License-Identifier: MIT */
/*
 * JSON views of lab networks for requests, telemetry and the saved config:
 * a network's settings and counters, its DHCP leases and its connections
 * (both copied out by the data plane, which owns them), and the uplink
 * and shaping fields of a port.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vswitch/dhcp-server.h"
#include "vswitch/l3.h"
#include "vswitch/vsw-internal.h"

#include <rte_cycles.h>

static const char *
proto_name(uint8_t proto)
{
	switch (proto) {
	case VSW_IPPROTO_TCP: return "tcp";
	case VSW_IPPROTO_UDP: return "udp";
	case VSW_IPPROTO_ICMP: return "icmp";
	default: return "?";
	}
}

static void
shape_json(struct json_writer *w, const char *key,
	   const struct vsw_shape_config *c)
{
	if (!c->avg_bps)
		return;
	json_obj_begin(w, key);
	json_u64(w, "avg", c->avg_bps);
	json_u64(w, "peak", c->peak_bps);
	json_u64(w, "burst", c->burst_bytes);
	json_obj_end(w);
}

void
vsw_port_l3_json(const struct vsw_port_config *c, struct json_writer *w)
{
	static const uint8_t zero[6];
	char buf[32], ip[16];

	/* A leased address is the client's state, shown with its lease. */
	if (c->dhcp) {
		json_bool(w, "dhcp", true);
	} else if (c->addr) {
		snprintf(buf, sizeof(buf), "%s/%u", vsw_ipv4_format(c->addr, ip),
			 c->addr_prefix);
		json_str(w, "address", buf);
		if (c->gateway)
			json_str(w, "gateway", vsw_ipv4_format(c->gateway, ip));
		if (memcmp(c->gateway_mac, zero, 6))
			json_str(w, "gateway_mac",
				 vsw_mac_format(c->gateway_mac, buf));
	}
	shape_json(w, "shape_in", &c->shape_in);
	shape_json(w, "shape_out", &c->shape_out);
}

/* The settings, as net/add takes them (the saved config reuses this). */
void
vsw_net_config_json(const struct vsw_net_config *c, struct json_writer *w)
{
	char buf[40], a[16], b[24]; /* b also holds a MAC (18 bytes) */

	json_str(w, "name", c->name);
	json_u64(w, "vlan", c->vlan);
	snprintf(buf, sizeof(buf), "%s/%u", vsw_ipv4_format(c->subnet, a),
		 c->prefix_len);
	json_str(w, "subnet", buf);
	json_str(w, "gateway", vsw_ipv4_format(c->gateway, a));
	json_bool(w, "dhcp", c->dhcp);
	if (c->dhcp) {
		snprintf(buf, sizeof(buf), "%s-%s",
			 vsw_ipv4_format(c->pool_first, a),
			 vsw_ipv4_format(c->pool_last, b));
		json_str(w, "dhcp_range", buf);
		json_u64(w, "lease", c->lease_secs);
	}
	if (c->dns[0]) {
		snprintf(buf, sizeof(buf), "%s%s%s", vsw_ipv4_format(c->dns[0], a),
			 c->dns[1] ? "," : "",
			 c->dns[1] ? vsw_ipv4_format(c->dns[1], b) : "");
		json_str(w, "dns", buf);
	}
	if (c->domain[0])
		json_str(w, "domain", c->domain);
	if (c->nat_uplink[0])
		json_str(w, "nat", c->nat_uplink);
	json_bool(w, "isolated", c->isolated);
	if (c->gateway_mac[0] | c->gateway_mac[1] | c->gateway_mac[2] |
	    c->gateway_mac[3] | c->gateway_mac[4] | c->gateway_mac[5])
		json_str(w, "gateway_mac", vsw_mac_format(c->gateway_mac, b));
	snprintf(buf, sizeof(buf), "%u-%u", c->nat_port_min, c->nat_port_max);
	json_str(w, "nat_ports", buf);
	if (c->nreserve) {
		char list[VSW_NET_MAX_RESERVE * 36] = "";
		size_t at = 0;

		for (unsigned int i = 0; i < c->nreserve; i++)
			at += (size_t)snprintf(list + at, sizeof(list) - at,
					       "%s%s=%s", i ? "," : "",
					       vsw_mac_format(c->reserve[i].mac, b),
					       vsw_ipv4_format(c->reserve[i].ip, a));
		json_str(w, "reserve", list);
	}
}

void
vsw_forwards_json(const struct vsw_forward_config *f, unsigned int n,
		  struct json_writer *w)
{
	char buf[32], ip[16];

	json_arr_begin(w, "forwards");
	for (unsigned int i = 0; i < n; i++) {
		json_obj_begin(w, NULL);
		json_str(w, "proto", proto_name(f[i].proto));
		json_u64(w, "outside_port", f[i].outside_port);
		snprintf(buf, sizeof(buf), "%s:%u",
			 vsw_ipv4_format(f[i].inside_ip, ip), f[i].inside_port);
		json_str(w, "to", buf);
		json_obj_end(w);
	}
	json_arr_end(w);
}

static uint64_t
rd(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

static void
net_stats_json(const struct vsw_net_stats *st, struct json_writer *w)
{
	uint64_t total = 0;

	json_obj_begin(w, "stats");
	json_u64(w, "arp_replies", rd(&st->arp_replies));
	json_u64(w, "echo_replies", rd(&st->echo_replies));
	json_u64(w, "dhcp_requests", rd(&st->dhcp_requests));
	json_u64(w, "dhcp_replies", rd(&st->dhcp_replies));
	json_u64(w, "nat_out", rd(&st->nat_out));
	json_u64(w, "nat_in", rd(&st->nat_in));
	json_u64(w, "forwarded_in", rd(&st->forwarded_in));
	json_u64(w, "icmp_errors_out", rd(&st->icmp_errors_out));
	json_u64(w, "icmp_errors_in", rd(&st->icmp_errors_in));
	json_obj_begin(w, "drops");
	for (int r = 0; r < VSW_NET_DROP_COUNT; r++) {
		json_u64(w, vsw_net_drop_name((enum vsw_net_drop)r),
			 rd(&st->drops[r]));
		total += rd(&st->drops[r]);
	}
	json_obj_end(w);
	json_u64(w, "dropped", total);
	json_obj_end(w);
}

void
vsw_nets_json(struct vsw *vsw, const char *only, struct json_writer *w)
{
	char mac[18];

	json_arr_begin(w, "networks");
	for (int i = 0; i < VSW_MAX_NETS; i++) {
		struct vsw_net *n = vsw->net[i];
		struct vsw_port *up;
		const char *status = "none";

		if (!n || (only && strcmp(only, n->cfg.name)))
			continue;
		json_obj_begin(w, NULL);
		vsw_net_config_json(&n->cfg, w);
		json_str(w, "switch", n->sw->name);
		if (!(n->cfg.gateway_mac[0] | n->cfg.gateway_mac[1] |
		      n->cfg.gateway_mac[2] | n->cfg.gateway_mac[3] |
		      n->cfg.gateway_mac[4] | n->cfg.gateway_mac[5]))
			json_str(w, "gateway_mac", vsw_mac_format(n->gw_mac, mac));
		if (n->cfg.nat_uplink[0]) {
			up = vsw_port_find(vsw, n->cfg.nat_uplink);
			status = !up ? "missing" : !up->cfg.addr ? "no address"
								   : "up";
		}
		json_str(w, "nat_status", status);
		vsw_forwards_json(n->fwd, n->nfwd, w);
		net_stats_json(&n->rt->st, w);
		json_obj_end(w);
	}
	json_arr_end(w);
}

/* ---- leases ---- */

struct leases_copy {
	const struct vsw_net *net;
	struct vsw_dhcp_lease *out;
	size_t max, n;
	struct vsw_dhcp_stats st;
};

static uint64_t
dp_leases(struct vsw *vsw, void *arg)
{
	struct leases_copy *lc = arg;

	vsw_dhcp_expire(lc->net->rt->dhcp, (uint64_t)time(NULL));
	lc->n = vsw_dhcp_leases(lc->net->rt->dhcp, lc->out, lc->max);
	vsw_dhcp_get_stats(lc->net->rt->dhcp, &lc->st);
	return 0;
}

static const char *
lease_state(enum vsw_dhcp_lease_state s)
{
	switch (s) {
	case VSW_DHCP_OFFERED: return "offered";
	case VSW_DHCP_BOUND: return "bound";
	case VSW_DHCP_DECLINED: return "declined";
	default: return "free";
	}
}

int
vsw_leases_json(struct vsw *vsw, const char *name, struct json_writer *w)
{
	struct vsw_net *n = vsw_net_find(vsw, name);
	struct leases_copy lc = { 0 };
	uint64_t now = (uint64_t)time(NULL);
	char ip[16], mac[18];

	if (!n)
		return -ENOENT;
	if (!n->rt->dhcp)
		return -ENODATA;
	lc.net = n;
	lc.max = n->cfg.pool_last - n->cfg.pool_first + 1 +
		 VSW_DHCP_MAX_RESERVATIONS;
	lc.out = calloc(lc.max, sizeof(*lc.out));
	if (!lc.out)
		return -ENOMEM;
	vsw_dp_run(vsw, dp_leases, &lc);
	json_str(w, "network", n->cfg.name);
	json_arr_begin(w, "leases");
	for (size_t i = 0; i < MIN(lc.n, lc.max); i++) {
		const struct vsw_dhcp_lease *l = &lc.out[i];

		json_obj_begin(w, NULL);
		json_str(w, "ip", vsw_ipv4_format(l->ip, ip));
		json_str(w, "mac", vsw_mac_format(l->mac, mac));
		json_str(w, "state", lease_state(l->state));
		json_u64(w, "expires_in", l->expires > now ? l->expires - now : 0);
		json_u64(w, "expires", l->expires);
		if (l->hostname[0])
			json_str(w, "hostname", l->hostname);
		json_bool(w, "reserved", l->reserved);
		json_obj_end(w);
	}
	json_arr_end(w);
	json_obj_begin(w, "dhcp");
	json_u64(w, "discovers", lc.st.discovers);
	json_u64(w, "offers", lc.st.offers);
	json_u64(w, "requests", lc.st.requests);
	json_u64(w, "acks", lc.st.acks);
	json_u64(w, "naks", lc.st.naks);
	json_u64(w, "releases", lc.st.releases);
	json_u64(w, "declines", lc.st.declines);
	json_u64(w, "informs", lc.st.informs);
	json_u64(w, "malformed", lc.st.malformed);
	json_u64(w, "pool_exhausted", lc.st.pool_exhausted);
	json_obj_end(w);
	free(lc.out);
	return 0;
}

/* ---- connections ---- */

struct ct_copy {
	int net;
	uint32_t max, n, total;
	uint64_t now;
	struct vsw_ct_entry *out;
	uint64_t *ttl;
	struct vsw_ct_stats st;
	uint32_t count, capacity;
	struct vsw_ct *ct;
};

static void
ct_one(const struct vsw_ct_entry *e, void *arg)
{
	struct ct_copy *c = arg;

	if (e->net != c->net)
		return;
	c->total++;
	if (c->n >= c->max)
		return;
	c->ttl[c->n] = vsw_ct_ttl_s(c->ct, e, c->now);
	c->out[c->n++] = *e;
}

static uint64_t
dp_conntrack(struct vsw *vsw, void *arg)
{
	struct ct_copy *c = arg;

	c->ct = vsw->dp->ct;
	c->now = rte_rdtsc();
	vsw_ct_walk(c->ct, ct_one, c);
	c->st = *vsw_ct_stats(c->ct);
	c->count = vsw_ct_count(c->ct);
	c->capacity = vsw_ct_capacity(c->ct);
	return 0;
}

static void
endpoint(struct json_writer *w, const char *key, uint32_t ip, uint16_t port,
	 uint8_t proto)
{
	char buf[32], a[16];

	if (proto == VSW_IPPROTO_ICMP)
		snprintf(buf, sizeof(buf), "%s", vsw_ipv4_format(ip, a));
	else
		snprintf(buf, sizeof(buf), "%s:%u", vsw_ipv4_format(ip, a), port);
	json_str(w, key, buf);
}

int
vsw_conntrack_json(struct vsw *vsw, const char *name, uint32_t max,
		   struct json_writer *w)
{
	struct vsw_net *n = vsw_net_find(vsw, name);
	struct ct_copy c = { 0 };

	if (!n)
		return -ENOENT;
	c.net = (int)n->idx;
	c.max = MIN(max, 100000u);
	c.out = calloc(MAX(c.max, 1u), sizeof(*c.out));
	c.ttl = calloc(MAX(c.max, 1u), sizeof(*c.ttl));
	if (!c.out || !c.ttl) {
		free(c.out);
		free(c.ttl);
		return -ENOMEM;
	}
	vsw_dp_run(vsw, dp_conntrack, &c);
	json_str(w, "network", n->cfg.name);
	json_u64(w, "count", c.total);
	json_arr_begin(w, "connections");
	for (uint32_t i = 0; i < c.n; i++) {
		const struct vsw_ct_entry *e = &c.out[i];

		json_obj_begin(w, NULL);
		json_str(w, "proto", proto_name(e->proto));
		json_str(w, "state", vsw_ct_state_name(e->state));
		endpoint(w, "inside", e->in_ip, e->in_port, e->proto);
		endpoint(w, "outside", e->nat_ip, e->nat_port, e->proto);
		endpoint(w, "remote", e->key[VSW_CT_DIR_IN].dst,
			 e->key[VSW_CT_DIR_IN].dport, e->proto);
		if (e->proto == VSW_IPPROTO_ICMP) {
			json_u64(w, "id", e->in_port);
			json_u64(w, "outside_id", e->nat_port);
		}
		json_bool(w, "forward", e->flags & VSW_CT_F_FORWARD);
		json_u64(w, "expires_in", c.ttl[i]);
		json_u64(w, "packets_out", e->pkts[VSW_CT_DIR_IN]);
		json_u64(w, "packets_in", e->pkts[VSW_CT_DIR_OUT]);
		json_u64(w, "bytes_out", e->bytes[VSW_CT_DIR_IN]);
		json_u64(w, "bytes_in", e->bytes[VSW_CT_DIR_OUT]);
		json_obj_end(w);
	}
	json_arr_end(w);
	json_obj_begin(w, "table");
	json_u64(w, "connections", c.count);
	json_u64(w, "capacity", c.capacity);
	json_u64(w, "created", c.st.created);
	json_u64(w, "expired", c.st.expired);
	json_u64(w, "deleted", c.st.deleted);
	json_u64(w, "table_full", c.st.table_full);
	json_u64(w, "ports_exhausted", c.st.ports_exhausted);
	json_u64(w, "tcp_bad_flags", c.st.tcp_bad_flags);
	json_u64(w, "tcp_out_of_window", c.st.tcp_out_of_window);
	json_u64(w, "tcp_not_syn", c.st.tcp_not_syn);
	json_obj_end(w);
	free(c.out);
	free(c.ttl);
	return 0;
}
