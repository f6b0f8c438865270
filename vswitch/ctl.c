/* SPDX-License-Identifier: MIT */
/*
 * Runs parsed control requests (ctl-req.c) against the switch and writes
 * the JSON replies: show, stats, MAC listings, changes, capture. After a
 * change succeeds the config is saved (config.c) so a restart restores it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vswitch/vsw-internal.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>

void
vsw_port_config_json(const struct vsw_port_config *c, struct json_writer *w)
{
	json_str(w, "name", c->name);
	json_str(w, "type", vsw_port_type_name(c->type));
	if (c->type == VSW_PORT_TAP || c->type == VSW_PORT_AFPACKET)
		json_str(w, "iface", c->iface);
	if (c->type == VSW_PORT_VHOSTUSER || c->type == VSW_PORT_MEMIF)
		json_str(w, "path", c->path);
	vsw_group_policy_json(c, w);
	if (c->group[0])
		json_str(w, "group", c->group);
}

void
vsw_group_policy_json(const struct vsw_port_config *c, struct json_writer *w)
{
	char list[2048];

	json_str(w, "vlan_mode", vsw_vlan_mode_name(c->vlan.mode));
	if (c->vlan.mode == VSW_VLAN_PASSTHROUGH)
		json_u64(w, "vlan", VSW_VID_PASSTHROUGH);
	else if (c->vlan.tag)
		json_u64(w, "vlan", c->vlan.tag);
	if (c->vlan.mode == VSW_VLAN_TRUNK ||
	    c->vlan.mode == VSW_VLAN_NATIVE_TAGGED ||
	    c->vlan.mode == VSW_VLAN_NATIVE_UNTAGGED)
		json_str(w, "trunks",
			 vsw_vlan_list_format(c->vlan.trunks, list, sizeof(list)));
	json_u64(w, "mac_limit", c->mac_limit);
	json_u64(w, "mtu", c->mtu);
	vsw_port_l3_json(c, w);
}

static uint32_t
port_macs(struct vsw *vsw, const struct vsw_port *p)
{
	return __atomic_load_n(&vsw->dp->mac_count[p->slot], __ATOMIC_RELAXED);
}

void
vsw_show_json(struct vsw *vsw, struct json_writer *w)
{
	json_arr_begin(w, "switches");
	for (int i = 0; i < VSW_MAX_SWITCHES; i++) {
		struct vsw_switch *s = vsw->sw[i];

		if (!s)
			continue;
		json_obj_begin(w, NULL);
		json_str(w, "name", s->name);
		json_u64(w, "aging_s", s->aging_s);
		json_u64(w, "macs", s->rt->mac_count);
		json_arr_begin(w, "ports");
		for (int k = 0; k < VSW_MAX_PORTS; k++) {
			struct vsw_port *p = vsw->port[k];
			struct rte_eth_link link;

			if (!p || p->sw != s)
				continue;
			memset(&link, 0, sizeof(link));
			if (!p->missing)
				rte_eth_link_get_nowait(p->eth, &link);
			json_obj_begin(w, NULL);
			vsw_port_config_json(&p->cfg, w);
			/* A memif client without its server is just down, as a
			 * vhost-user one is. */
			json_str(w, "link", p->missing &&
				 p->cfg.type != VSW_PORT_MEMIF ? "missing"
				 : link.link_status ? "up" : "down");
			if (p->missing && p->cfg.type != VSW_PORT_MEMIF)
				json_str(w, "error", strerror(-p->missing_err));
			json_u64(w, "macs", port_macs(vsw, p));
			json_bool(w, "capturing", atomic_load(&p->rt->capture) != NULL);
			vsw_uplink_dhcp_json(p, w);
			json_obj_end(w);
		}
		json_arr_end(w);
		json_obj_end(w);
	}
	json_arr_end(w);
	json_u64(w, "mac_table_entries", vsw->dp->macs.count);
	json_u64(w, "mac_table_capacity", vsw->dp->macs.capacity);
}

static uint64_t
rd(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

void
vsw_port_stats_json(struct vsw_port *p, struct json_writer *w)
{
	const struct vsw_port_stats *st = &p->rt->st;
	uint64_t total = 0;

	json_str(w, "name", p->cfg.name);
	json_str(w, "switch", p->sw->name);
	json_u64(w, "rx_packets", rd(&st->rx_packets));
	json_u64(w, "rx_bytes", rd(&st->rx_bytes));
	json_u64(w, "tx_packets", rd(&st->tx_packets));
	json_u64(w, "tx_bytes", rd(&st->tx_bytes));
	json_u64(w, "flooded", rd(&st->flooded));
	json_u64(w, "learn_limit", rd(&st->learn_limit));
	json_u64(w, "capture_lost", rd(&st->capture_lost));
	if (p->cfg.type == VSW_PORT_VHOSTUSER)
		json_u64(w, "guest_tx_stalls", p->guest_tx_stalls);
	vsw_uplink_dhcp_json(p, w);
	json_obj_begin(w, "drops");
	for (int r = 1; r < VSW_DROP_COUNT; r++) {
		json_u64(w, vsw_drop_name((enum vsw_drop)r), rd(&st->drops[r]));
		total += rd(&st->drops[r]);
	}
	json_obj_end(w);
	json_u64(w, "dropped", total);
	for (int dir = 0; dir < 2; dir++) {
		const struct vsw_shape_config *sc = dir ? &p->cfg.shape_out
							: &p->cfg.shape_in;
		struct vsw_shaper_account a;
		struct timespec ts;

		if (!sc->avg_bps || !p->rt->shaper[dir].q)
			continue;
		/* The switch's own account: rates checked against a clock
		 * need neither the sender's goodput nor this call's delay. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		vsw_shaper_account(&p->rt->shaper[dir], rte_rdtsc(), &a);
		json_obj_begin(w, dir ? "shaper_out" : "shaper_in");
		json_u64(w, "at_ns", (uint64_t)ts.tv_sec * 1000000000ull +
					     (uint64_t)ts.tv_nsec);
		json_u64(w, "sent_frames", a.sent_frames);
		json_u64(w, "sent_bytes", a.sent_bytes);
		json_u64(w, "unused_idle_bytes", a.unused_idle);
		json_u64(w, "unused_busy_bytes", a.unused_busy);
		json_u64(w, "queued", a.queued);
		json_obj_end(w);
	}
}

void
vsw_switch_stats_json(struct vsw *vsw, struct vsw_switch *s,
		      struct json_writer *w)
{
	const struct vsw_switch_stats *st = &s->rt->st;
	uint64_t rx = 0, tx = 0, dropped = 0;

	for (int k = 0; k < VSW_MAX_PORTS; k++) {
		struct vsw_port *p = vsw->port[k];

		if (!p || p->sw != s)
			continue;
		rx += rd(&p->rt->st.rx_packets);
		tx += rd(&p->rt->st.tx_packets);
		for (int r = 1; r < VSW_DROP_COUNT; r++)
			dropped += rd(&p->rt->st.drops[r]);
	}
	json_str(w, "name", s->name);
	json_u64(w, "rx_packets", rx);
	json_u64(w, "tx_packets", tx);
	json_u64(w, "dropped", dropped);
	json_u64(w, "unicast", rd(&st->unicast));
	json_u64(w, "flooded", rd(&st->flooded));
	json_u64(w, "learned", rd(&st->learned));
	json_u64(w, "moved", rd(&st->moved));
	json_u64(w, "aged", rd(&st->aged));
	json_u64(w, "flushed", rd(&st->flushed));
	json_u64(w, "table_full", rd(&st->table_full));
	json_u64(w, "macs", s->rt->mac_count);
}

int
vsw_macs_json(struct vsw *vsw, const char *sw, uint32_t max,
	      struct json_writer *w)
{
	struct vsw_switch *s = NULL;
	const struct vsw_mactable *t = &vsw->dp->macs;
	uint64_t now = rte_rdtsc();
	uint32_t n = 0;

	if (sw) {
		s = vsw_switch_find(vsw, sw);
		if (!s)
			return -ENOENT;
	}
	json_arr_begin(w, "macs");
	for (uint32_t pos = 0; pos < t->capacity && n < max; pos++) {
		struct vsw_mac_entry e;
		struct vsw_port *p;
		char mac[18];

		if (!__atomic_load_n(&t->e[pos].in_use, __ATOMIC_ACQUIRE))
			continue;
		e = t->e[pos];
		if ((s && e.key.sw != s->idx) || e.slot >= VSW_MAX_PORTS)
			continue;
		p = vsw->port[e.slot];
		if (!p || !vsw->sw[e.key.sw])
			continue;
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
			 e.key.mac[0], e.key.mac[1], e.key.mac[2], e.key.mac[3],
			 e.key.mac[4], e.key.mac[5]);
		json_obj_begin(w, NULL);
		json_str(w, "switch", vsw->sw[e.key.sw]->name);
		json_u64(w, "vlan", e.key.vid);
		json_str(w, "mac", mac);
		json_str(w, "port", p->cfg.name);
		json_u64(w, "age_s", now > e.seen_tsc ?
				     (now - e.seen_tsc) / vsw->tsc_hz : 0);
		if (e.is_static)
			json_bool(w, "static", true);
		json_obj_end(w);
		n++;
	}
	json_arr_end(w);
	return 0;
}

static void
help_json(struct json_writer *w)
{
	json_arr_begin(w, "commands");
	for (int op = 0; op < VSW_REQ_COUNT; op++)
		json_str(w, NULL, vsw_req_name((enum vsw_req_op)op));
	json_arr_end(w);
}

static int
stats_json(struct vsw *vsw, const struct vsw_req *req, struct json_writer *w)
{
	struct vsw_port *only = NULL;
	struct vsw_switch *only_sw = NULL;

	if (req->port[0] && !(only = vsw_port_find(vsw, req->port)))
		return -ENOENT;
	if (req->sw[0] && !(only_sw = vsw_switch_find(vsw, req->sw)))
		return -ENOENT;
	json_arr_begin(w, "ports");
	for (int k = 0; k < VSW_MAX_PORTS; k++) {
		struct vsw_port *p = vsw->port[k];

		if (!p || (only && p != only) || (only_sw && p->sw != only_sw))
			continue;
		json_obj_begin(w, NULL);
		vsw_port_stats_json(p, w);
		json_obj_end(w);
	}
	json_arr_end(w);
	json_arr_begin(w, "switches");
	for (int i = 0; i < VSW_MAX_SWITCHES; i++) {
		struct vsw_switch *s = vsw->sw[i];

		if (!s || (only && only->sw != s) || (only_sw && s != only_sw))
			continue;
		json_obj_begin(w, NULL);
		vsw_switch_stats_json(vsw, s, w);
		json_obj_end(w);
	}
	json_arr_end(w);
	return 0;
}

static int
port_set(struct vsw *vsw, struct vsw_req *req, char *err, size_t errlen)
{
	struct vsw_port *p = vsw_port_find(vsw, req->port);
	struct vsw_port_config c;
	int r;

	if (!p)
		return -ENOENT;
	c = p->cfg;
	if (req->has_vlan)
		c.vlan = req->pcfg.vlan;
	if (req->has_mac_limit)
		c.mac_limit = req->pcfg.mac_limit;
	if (req->has_mtu)
		c.mtu = req->pcfg.mtu;
	if (req->has_addr) {
		c.addr = req->pcfg.addr;
		c.addr_prefix = req->pcfg.addr_prefix;
		c.gateway = req->pcfg.gateway;
		memcpy(c.gateway_mac, req->pcfg.gateway_mac, 6);
	}
	if (req->has_dhcp) {
		if (!req->pcfg.dhcp && c.dhcp && !req->has_addr) {
			/* The leased address goes with the client. */
			c.addr = 0;
			c.addr_prefix = 0;
			c.gateway = 0;
			memset(c.gateway_mac, 0, 6);
		}
		c.dhcp = req->pcfg.dhcp;
	} else if (req->has_addr && c.dhcp) {
		snprintf(err, errlen, "port '%s' takes its address from DHCP: "
			 "give --no-dhcp with --address", p->cfg.name);
		return -EINVAL;
	}
	if (req->has_shape_in)
		c.shape_in = req->pcfg.shape_in;
	if (req->has_shape_out)
		c.shape_out = req->pcfg.shape_out;
	if (req->has_group)
		memcpy(c.group, req->pcfg.group, sizeof(c.group));
	if (c.group[0]) {
		r = vsw_group_apply(vsw, p->sw->name, req, &c, err, errlen);
		if (r < 0)
			return r;
	}
	return vsw_port_set_locked(vsw, &c);
}

static const char *
err_text(const struct vsw_req *req, int err, char *buf, size_t len)
{
	const char *what = req->port[0] ? req->port : req->sw;

	switch (err) {
	case -ENOENT:
		if (req->op == VSW_REQ_PORT_ADD || req->op == VSW_REQ_NET_ADD)
			snprintf(buf, len, "no switch '%s'", req->sw);
		else if (req->op == VSW_REQ_FWD_DEL)
			snprintf(buf, len, "no network '%s' or no such forward",
				 req->net);
		else if (req->net[0])
			snprintf(buf, len, "no network '%s'", req->net);
		else if (req->port[0])
			snprintf(buf, len, "no port '%s'", req->port);
		else
			snprintf(buf, len, "no switch '%s'", req->sw);
		break;
	case -EEXIST:
		snprintf(buf, len, "'%s' (or its interface or socket) is in use",
			 what);
		break;
	case -ENOTEMPTY:
		snprintf(buf, len, "switch '%s' still has ports or networks",
			 req->sw);
		break;
	case -ENODATA:
		snprintf(buf, len, "network '%s' has no DHCP server", req->net);
		break;
	case -ENOSPC:
		snprintf(buf, len, "limit reached (%d switches, %d ports)",
			 VSW_MAX_SWITCHES, VSW_MAX_PORTS);
		break;
	case -ENODEV:
		snprintf(buf, len, "port '%s': the device did not come up "
			 "(see the daemon log)", req->port);
		break;
	default:
		snprintf(buf, len, "%s: %s", vsw_req_name(req->op),
			 strerror(-err));
	}
	return buf;
}

static int
execute(struct vsw *vsw, struct vsw_req *req, struct json_writer *w,
	char *err, size_t errlen, bool *changed)
{
	int r = 0;

	switch (req->op) {
	case VSW_REQ_HELP:
		help_json(w);
		return 0;
	case VSW_REQ_SHOW:
		pthread_mutex_lock(&vsw->lock);
		vsw_show_json(vsw, w);
		pthread_mutex_unlock(&vsw->lock);
		return 0;
	case VSW_REQ_SWITCH_ADD:
		r = vsw_switch_add(vsw, req->sw);
		break;
	case VSW_REQ_SWITCH_DEL:
		r = vsw_switch_del(vsw, req->sw);
		break;
	case VSW_REQ_SWITCH_SET:
		r = vsw_switch_set_aging(vsw, req->sw, req->aging_s);
		break;
	case VSW_REQ_PORT_ADD:
		if (req->pcfg.group[0]) {
			pthread_mutex_lock(&vsw->lock);
			r = vsw_group_apply(vsw, req->sw, req, &req->pcfg, err,
					    errlen);
			pthread_mutex_unlock(&vsw->lock);
			if (r < 0)
				return r;
		}
		r = vsw_port_add(vsw, req->sw, &req->pcfg);
		break;
	case VSW_REQ_PORT_SET:
		pthread_mutex_lock(&vsw->lock);
		r = port_set(vsw, req, err, errlen);
		pthread_mutex_unlock(&vsw->lock);
		break;
	case VSW_REQ_GROUP_ADD:
		r = vsw_group_add(vsw, req->sw, &req->pcfg, err, errlen);
		break;
	case VSW_REQ_GROUP_SET:
		r = vsw_group_set(vsw, req, err, errlen);
		break;
	case VSW_REQ_GROUP_DEL:
		r = vsw_group_del(vsw, req->pcfg.group, err, errlen);
		break;
	case VSW_REQ_GROUP_LIST:
		pthread_mutex_lock(&vsw->lock);
		if (req->sw[0] && !vsw_switch_find(vsw, req->sw))
			r = -ENOENT;
		else
			vsw_groups_json(vsw, req->sw[0] ? req->sw : NULL, w);
		pthread_mutex_unlock(&vsw->lock);
		return r;
	case VSW_REQ_PORT_DEL:
		r = vsw_port_del(vsw, req->port);
		break;
	case VSW_REQ_MAC_LIST:
		pthread_mutex_lock(&vsw->lock);
		r = vsw_macs_json(vsw, req->sw[0] ? req->sw : NULL,
				  req->max_entries, w);
		pthread_mutex_unlock(&vsw->lock);
		return r;
	case VSW_REQ_MAC_FLUSH: {
		struct vsw_switch *s;

		pthread_mutex_lock(&vsw->lock);
		s = vsw_switch_find(vsw, req->sw);
		if (s)
			json_u64(w, "flushed",
				 vsw_dp_call(vsw, VSW_DP_OP_FLUSH, (int)s->idx, -1));
		pthread_mutex_unlock(&vsw->lock);
		return s ? 0 : -ENOENT;
	}
	case VSW_REQ_STATS:
		pthread_mutex_lock(&vsw->lock);
		r = stats_json(vsw, req, w);
		pthread_mutex_unlock(&vsw->lock);
		return r;
	case VSW_REQ_CAPTURE_START:
		pthread_mutex_lock(&vsw->lock);
		r = vsw_capture_start(vsw, req->port, req->file, req->count,
				      req->snaplen, err, errlen);
		pthread_mutex_unlock(&vsw->lock);
		return r;
	case VSW_REQ_CAPTURE_STOP:
	case VSW_REQ_CAPTURE_STATUS:
		pthread_mutex_lock(&vsw->lock);
		if (req->op == VSW_REQ_CAPTURE_STOP && vsw->capture)
			r = vsw_capture_stop(vsw);
		vsw_capture_status(vsw, w);
		pthread_mutex_unlock(&vsw->lock);
		return r;
	case VSW_REQ_CONFIG_SAVE:
		return vsw_config_save(vsw);
	case VSW_REQ_NET_ADD:
		r = vsw_net_add(vsw, req->sw, &req->ncfg, err, errlen);
		break;
	case VSW_REQ_NET_DEL:
		r = vsw_net_del(vsw, req->net);
		break;
	case VSW_REQ_NET_LIST:
		pthread_mutex_lock(&vsw->lock);
		if (req->net[0] && !vsw_net_find(vsw, req->net))
			r = -ENOENT;
		else
			vsw_nets_json(vsw, req->net[0] ? req->net : NULL, w);
		pthread_mutex_unlock(&vsw->lock);
		return r;
	case VSW_REQ_NET_LEASES:
		pthread_mutex_lock(&vsw->lock);
		r = vsw_leases_json(vsw, req->net, w);
		pthread_mutex_unlock(&vsw->lock);
		return r;
	case VSW_REQ_NET_CONNTRACK:
		pthread_mutex_lock(&vsw->lock);
		r = vsw_conntrack_json(vsw, req->net,
				       req->max_entries == UINT32_MAX
				       ? 10000 : req->max_entries, w);
		pthread_mutex_unlock(&vsw->lock);
		return r;
	case VSW_REQ_FWD_ADD:
		r = vsw_forward_add(vsw, req->net, &req->fwd, err, errlen);
		break;
	case VSW_REQ_MAC_ADD:
		return vsw_mac_add_static(vsw, req->port, req->mac, req->mac_vid);
	case VSW_REQ_FWD_DEL:
		r = vsw_forward_del(vsw, req->net, req->fwd.proto,
				    req->fwd.outside_port);
		break;
	default:
		return -EINVAL;
	}
	if (r == 0)
		*changed = true;
	return r;
}

char *
vsw_request(struct vsw *vsw, const char *text, size_t len)
{
	struct json_writer head, body;
	struct vsw_req req;
	char err[256] = "", buf[256];
	bool changed = false;
	char *h, *b, *out = NULL;
	int r;

	json_writer_init_mem(&head);
	json_obj_begin(&head, NULL);
	json_writer_init_mem(&body);
	json_obj_begin(&body, NULL);
	r = vsw_req_parse(text, len, &req, err, sizeof(err));
	if (r == 0)
		r = execute(vsw, &req, &body, err, sizeof(err), &changed);
	json_obj_end(&body);
	if (r < 0) {
		json_bool(&head, "ok", false);
		json_str(&head, "error",
			 err[0] ? err : err_text(&req, r, buf, sizeof(buf)));
		json_i64(&head, "errno", -r);
	} else {
		if (changed && vsw->opts.config_path &&
		    vsw_config_save(vsw) < 0)
			json_str(&head, "warning", "change applied but the "
				 "config file could not be written");
		json_bool(&head, "ok", true);
		json_str(&head, "cmd", vsw_req_name(req.op));
	}
	json_obj_end(&head);
	h = json_writer_take(&head);
	b = json_writer_take(&body);
	/* Reply = head's members, then the body's (a failure has no body). */
	if (h && b) {
		size_t hl = strlen(h), bl = strlen(b);

		out = malloc(hl + bl + 2);
		if (out) {
			memcpy(out, h, hl - 1);
			if (r >= 0 && bl > 2) {
				out[hl - 1] = ',';
				memcpy(out + hl, b + 1, bl - 1);
				out[hl + bl - 1] = '\0';
			} else {
				memcpy(out + hl - 1, "}", 2);
			}
		}
	}
	free(h);
	free(b);
	return out;
}
