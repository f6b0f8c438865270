/* SPDX-License-Identifier: MIT */
/*
 * The data plane: one run-to-completion loop that polls every port for a
 * burst, classifies each frame (frame.c), learns its source, forwards it
 * to the learned port or floods it within its switch and VLAN, adds or
 * removes the 802.1Q tag each egress port wants, and transmits what each
 * port collected before polling the next one. Between polls it serves the
 * control thread's mailbox and ages a slice of the MAC table.
 *
 * The pipeline is ingress parse -> learn -> lookup -> egress edit; later
 * per-network stages (NAT, DHCP, shaping) slot in between lookup and
 * egress without changing the poll loop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vswitch/dhcp-server.h"
#include "vswitch/vsw-internal.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_net.h>
#include <rte_prefetch.h>

/* Age a slice every millisecond so the whole table is seen in ~1 s. */
#define AGE_SLICES_PER_SEC 1000

static const char *const drop_names[VSW_DROP_COUNT] = {
	[VSW_DROP_NONE] = "none",
	[VSW_DROP_RUNT] = "runt",
	[VSW_DROP_OVERSIZE] = "oversize",
	[VSW_DROP_BAD_VLAN] = "bad_vlan",
	[VSW_DROP_VLAN_FILTERED] = "vlan_filtered",
	[VSW_DROP_BAD_SRC] = "bad_src",
	[VSW_DROP_HAIRPIN] = "hairpin",
	[VSW_DROP_NO_EGRESS] = "no_egress",
	[VSW_DROP_TX_FULL] = "tx_full",
	[VSW_DROP_NO_MBUF] = "no_mbuf",
	[VSW_DROP_DHCP_SPOOF] = "dhcp_spoof",
	[VSW_DROP_SHAPER_FULL] = "shaper_full",
	[VSW_DROP_NOT_IPV4] = "not_ipv4",
	[VSW_DROP_NO_CONN] = "no_conn",
	[VSW_DROP_UNRESOLVED] = "arp_unresolved",
};

const char *
vsw_drop_name(enum vsw_drop reason)
{
	return (unsigned int)reason < VSW_DROP_COUNT ? drop_names[reason] : "?";
}

int
vsw_dp_create(struct vsw *vsw, struct vsw_dp **out)
{
	struct vsw_dp *dp;
	int err;

	dp = rte_zmalloc("vsw_dp", sizeof(*dp), RTE_CACHE_LINE_SIZE);
	if (!dp)
		return -ENOMEM;
	err = vsw_mac_init(&dp->macs, "vsw_macs", vsw->opts.mac_table_entries);
	if (err < 0)
		goto err_free;
	err = vsw_ct_create("vsw_ct", vsw->opts.conntrack_entries, vsw->tsc_hz,
			    &dp->ct);
	if (err < 0)
		goto err_macs;
	vsw_ct_set_timeouts(dp->ct, &vsw->ct_timeouts);
	err = vsw_neigh_create(vsw->tsc_hz, &dp->neigh);
	if (err < 0)
		goto err_ct;
	dp->age_period_tsc = vsw->tsc_hz / AGE_SLICES_PER_SEC;
	*out = dp;
	return 0;

err_ct:
	vsw_ct_destroy(dp->ct);
err_macs:
	vsw_mac_fini(&dp->macs);
err_free:
	rte_free(dp);
	return err;
}

void
vsw_dp_destroy(struct vsw_dp *dp)
{
	if (!dp)
		return;
	vsw_neigh_destroy(dp->neigh);
	vsw_ct_destroy(dp->ct);
	vsw_mac_fini(&dp->macs);
	rte_free(dp);
}

static inline void
drop(struct vsw_port_rt *rt, enum vsw_drop reason, struct rte_mbuf *m)
{
	rt->st.drops[reason]++;
	rte_pktmbuf_free(m);
}

static inline void
txbuf_add(struct vsw_dp *dp, uint16_t slot, struct rte_mbuf *m,
	  struct vsw_port_rt *out_rt)
{
	struct vsw_txbuf *b = &dp->tx[slot];

	if (b->n == 0)
		dp->touched[dp->ntouched++] = slot;
	if (unlikely(b->n >= ARRAY_SIZE(b->pkts))) {
		drop(out_rt, VSW_DROP_TX_FULL, m);
		return;
	}
	b->pkts[b->n++] = m;
}

/* Lets a shaper take up the parameters the snapshot carries. */
static inline struct vsw_shaper *
shaper_of(struct vsw *vsw, const struct vsw_dp_port *p, int dir, uint64_t now)
{
	struct vsw_port_rt *rt = p->rt;

	if (unlikely(rt->shaper_gen[dir] != p->shape_gen[dir])) {
		vsw_shaper_config(&rt->shaper[dir], &p->shape[dir], vsw->tsc_hz,
				  now, rt->shaper[dir].q ? NULL
							 : rt->shaper_q[dir]);
		rt->shaper_gen[dir] = p->shape_gen[dir];
	}
	return &rt->shaper[dir];
}

static inline void
tx_enqueue(struct vsw_dp *dp, const struct vsw_cfg *cfg, uint16_t slot,
	   struct rte_mbuf *m)
{
	const struct vsw_dp_port *p = &cfg->port[slot];

	if (unlikely(p->shaped[1])) {
		if (!vsw_shaper_enqueue(&p->rt->shaper[1], m, m->pkt_len))
			drop(p->rt, VSW_DROP_SHAPER_FULL, m);
		return;
	}
	txbuf_add(dp, slot, m, p->rt);
}

void
vsw_dp_output(struct vsw_dp *dp, const struct vsw_cfg *cfg, uint16_t slot,
	      struct rte_mbuf *m)
{
	tx_enqueue(dp, cfg, slot, m);
}

/* Makes 'm' carry a tag for 'vid' or none; 'm' must not be shared. */
static inline int
set_tag(struct rte_mbuf **m, bool tagged_now, bool want_tagged, uint16_t vid)
{
	if (tagged_now == want_tagged)
		return 0;
	if (want_tagged) {
		(*m)->vlan_tci = vid;
		return rte_vlan_insert(m);
	}
	return rte_vlan_strip(*m);
}

static void
del_entry(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
	  int32_t pos)
{
	struct vsw_mac_entry *e = &dp->macs.e[pos];
	struct vsw_switch_rt *srt = cfg->sw[e->key.sw].rt;

	if (dp->mac_count[e->slot])
		dp->mac_count[e->slot]--;
	if (srt && srt->mac_count)
		srt->mac_count--;
	vsw_mac_del(&dp->macs, pos);
}

static inline void
learn(struct vsw_dp *dp, const struct vsw_cfg *cfg,
      const struct vsw_dp_port *in, uint16_t slot, uint64_t w0, uint64_t w1,
      uint64_t now)
{
	struct vsw_switch_rt *srt = cfg->sw[in->sw].rt;
	struct vsw_mac_entry *e;
	struct vsw_mac_key key;
	int32_t pos;

	pos = vsw_mac_lookup_words(&dp->macs, w0, w1);
	if (likely(pos >= 0)) {
		e = &dp->macs.e[pos];
		e->seen_tsc = now;
		if (unlikely(e->slot != slot) && !e->is_static) {
			/* The station moved: follow it (even past the limit). */
			if (dp->mac_count[e->slot])
				dp->mac_count[e->slot]--;
			dp->mac_count[slot]++;
			e->slot = slot;
			srt->st.moved++;
		}
		return;
	}
	if (unlikely(dp->mac_count[slot] >= in->mac_limit)) {
		in->rt->st.learn_limit++;
		return;
	}
	memcpy(&key, (uint64_t[2]){ w0, w1 }, sizeof(key));
	if (vsw_mac_add(&dp->macs, &key, slot, now) < 0) {
		srt->st.table_full++;
		return;
	}
	dp->mac_count[slot]++;
	srt->mac_count++;
	srt->st.learned++;
}

/*
 * Sends 'm' to every port of switch 'swi' in the frame's VLAN but
 * 'in_slot' (VSW_MAX_PORTS: none, for frames the switch made itself),
 * tagged or not as each port wants. Routed uplinks take no part.
 */
static void
flood(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
      uint8_t swi, uint16_t in_slot, struct rte_mbuf *m,
      const struct vsw_frame *fr)
{
	struct vsw_port_rt *in_rt = in_slot < VSW_MAX_PORTS
				    ? cfg->port[in_slot].rt : NULL;
	const struct vsw_dp_switch *sw = &cfg->sw[swi];
	uint16_t same[VSW_MAX_PORTS], alt[VSW_MAX_PORTS];
	unsigned int nsame = 0, nalt = 0;
	struct rte_mbuf *copy = NULL;

	for (unsigned int i = 0; i < sw->nports; i++) {
		uint16_t s = sw->ports[i];
		const struct vsw_dp_port *o = &cfg->port[s];

		if (s == in_slot || o->l3 || !vsw_vid_test(o->vlan.member, fr->vid))
			continue;
		if ((fr->vid != o->vlan.untag_out) == fr->tagged)
			same[nsame++] = s;
		else
			alt[nalt++] = s;
	}
	if (in_rt)
		in_rt->st.flooded++;
	sw->rt->st.flooded++;
	if (nsame + nalt == 0) {
		if (in_rt && !fr->heard)
			in_rt->st.drops[VSW_DROP_NO_EGRESS]++;
		rte_pktmbuf_free(m);
		return;
	}
	if (nalt) {
		copy = rte_pktmbuf_copy(m, vsw->pool, 0, UINT32_MAX);
		if (copy && set_tag(&copy, fr->tagged, !fr->tagged, fr->vid) < 0) {
			rte_pktmbuf_free(copy);
			copy = NULL;
		}
		if (!copy) {
			if (in_rt)
				in_rt->st.drops[VSW_DROP_NO_MBUF] += nalt;
		} else {
			rte_mbuf_refcnt_update(copy, (int16_t)(nalt - 1));
			for (unsigned int i = 0; i < nalt; i++)
				tx_enqueue(dp, cfg, alt[i], copy);
		}
	}
	if (!nsame) {
		rte_pktmbuf_free(m);
		return;
	}
	rte_mbuf_refcnt_update(m, (int16_t)(nsame - 1));
	for (unsigned int i = 0; i < nsame; i++)
		tx_enqueue(dp, cfg, same[i], m);
}

void
vsw_dp_l2_inject(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
		 uint8_t sw, uint16_t vid, struct rte_mbuf *m)
{
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	struct vsw_frame fr = { .dst = d, .src = d + 6, .vid = vid };
	const struct vsw_dp_port *out;
	int32_t pos = -1;
	uint16_t oslot;

	if (!(d[0] & 1))
		pos = vsw_mac_lookup_words(&dp->macs, vsw_mac_word(d, vid), sw);
	if (pos < 0) {
		flood(vsw, dp, cfg, sw, VSW_MAX_PORTS, m, &fr);
		return;
	}
	oslot = dp->macs.e[pos].slot;
	out = &cfg->port[oslot];
	if (!out->active || out->l3 || !vsw_vid_test(out->vlan.member, vid)) {
		flood(vsw, dp, cfg, sw, VSW_MAX_PORTS, m, &fr);
		return;
	}
	if (set_tag(&m, false, vid != out->vlan.untag_out, vid) < 0) {
		rte_pktmbuf_free(m);
		return;
	}
	cfg->sw[sw].rt->st.unicast++;
	tx_enqueue(dp, cfg, oslot, m);
}

/*
 * Frames of a switch with lab networks: DHCP server replies from ports
 * are dropped, frames for the gateway go to it, broadcast ARP and DHCP
 * are copied to it. Returns true when 'm' was consumed.
 */
static bool
net_stage(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
	  const struct vsw_dp_port *in, struct rte_mbuf **mp,
	  struct vsw_frame *fr)
{
	const struct vsw_dp_net *net = vsw_cfg_net(cfg, &cfg->sw[in->sw], fr->vid);
	struct rte_mbuf *m = *mp, *copy;
	const uint8_t *d;
	uint32_t len;

	if (!net)
		return false;
	if (fr->tagged) {
		/* The gateway sees frames as its network's hosts send them. */
		if (rte_vlan_strip(m) < 0) {
			drop(in->rt, VSW_DROP_BAD_VLAN, m);
			return true;
		}
		fr->tagged = false;
	}
	d = rte_pktmbuf_mtod(m, const uint8_t *);
	len = rte_pktmbuf_data_len(m);
	fr->dst = d;
	fr->src = d + 6;
	if (net->rt->dhcp && vsw_router_is_dhcp_server_frame(d, len)) {
		drop(in->rt, VSW_DROP_DHCP_SPOOF, m);
		return true;
	}
	if (!memcmp(d, net->gw_mac, 6)) {
		vsw_router_net_input(vsw, dp, cfg, net, m, false);
		return true;
	}
	if ((d[0] & 1) && len >= 14 &&
	    (vsw_get16(d + 12) == VSW_ETHERTYPE_ARP ||
	     vsw_dhcp_is_request_frame(d, len))) {
		copy = rte_pktmbuf_copy(m, vsw->pool, 0, UINT32_MAX);
		if (copy)
			vsw_router_net_input(vsw, dp, cfg, net, copy, true);
		/* The gateway heard it: no other port is no loss. */
		fr->heard = true;
	}
	return false;
}

/*
 * A burst's frames mostly repeat the same addresses and tag: once one
 * was forwarded to a learned port, a frame whose first 16 bytes (both
 * MACs, the type or tag) are the same and whose length passes the same
 * checks takes the same decision, without parsing, learning or lookups
 * again. Valid within one burst only (the configuration stays, and only
 * learning changes the MAC table: it drops the shortcut).
 */
struct fast_path {
	uint64_t w[2];           /* first 16 bytes of the frame decided */
	uint32_t max_len;        /* 0: no decision to reuse */
	uint16_t oslot;
	uint16_t vid;
	bool tagged, want_tagged;
	/* Tag edit: +1 add, -1 remove, 0 none; 'hdr' is the edited frame's
	 * first 16 (add) or 12 (remove) bytes, the same for every repeat. */
	int8_t edit;
	uint8_t hdr[16];
	/* The output's buffer, already holding a frame (so listed in
	 * dp->touched); NULL when a shaper takes the output's frames. */
	struct vsw_txbuf *buf;
};

static inline void
frame_words(const struct rte_mbuf *m, uint64_t w[2])
{
	__builtin_memcpy(w, rte_pktmbuf_mtod(m, const uint8_t *), 16);
}

static inline void
fast_path_set_edit(struct fast_path *fp)
{
	__builtin_memcpy(fp->hdr, fp->w, 12);
	fp->edit = fp->tagged == fp->want_tagged ? 0 : fp->want_tagged ? 1 : -1;
	fp->hdr[12] = 0x81;
	fp->hdr[13] = 0x00;
	fp->hdr[14] = (uint8_t)(fp->vid >> 8);
	fp->hdr[15] = (uint8_t)fp->vid;
}

/*
 * The repeat's tag edit as stores of a header made once: what
 * rte_vlan_insert()/rte_vlan_strip() do, without moving the MACs byte by
 * byte each time. Falls back to them for shared or cramped mbufs.
 */
static inline int
fast_retag(struct rte_mbuf **mp, const struct fast_path *fp)
{
	struct rte_mbuf *m = *mp;

	if (unlikely(!RTE_MBUF_DIRECT(m) || rte_mbuf_refcnt_read(m) != 1 ||
		     (fp->edit > 0 && rte_pktmbuf_headroom(m) < 4)))
		return set_tag(mp, fp->tagged, fp->want_tagged, fp->vid);
	if (fp->edit > 0) {
		m->data_off -= 4;
		m->data_len += 4;
		m->pkt_len += 4;
		__builtin_memcpy(rte_pktmbuf_mtod(m, uint8_t *), fp->hdr, 16);
	} else {
		__builtin_memcpy(rte_pktmbuf_mtod(m, uint8_t *) + 4, fp->hdr, 12);
		m->data_off += 4;
		m->data_len -= 4;
		m->pkt_len -= 4;
	}
	return 0;
}

/* Switches one received burst; frames end up in transmit buffers or freed. */
static void
switch_burst(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
	     uint16_t slot, struct rte_mbuf **pkts, uint16_t n, uint64_t now)
{
	const struct vsw_dp_port *in = &cfg->port[slot];
	struct vsw_port_rt *rt = in->rt;
	struct vsw_switch_rt *srt = cfg->sw[in->sw].rt;
	/* Keys as words (vsw_mac_word()); one switch, so word 1 is fixed. */
	const uint64_t w1 = in->sw;
	const unsigned int nnets = cfg->sw[in->sw].nnets;
	uint64_t last_s = 0, last_d = 0;
	int32_t last_dpos = -1;
	bool have_s = false, have_d = false;
	uint64_t bytes = 0, unicast = 0;
	struct fast_path fp = { .max_len = 0 };

	if (unlikely(nnets))
		vsw_router_prefetch(dp, cfg, in, -1, pkts, n);
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct vsw_frame fr;
		const struct vsw_dp_port *out;
		uint64_t sw0, dw0, w[2] = { 0, 0 };
		uint32_t len = rte_pktmbuf_data_len(m);
		/* 18 bytes: a tagged header, so the 16 compared are data; a
		 * driver's stripped tag is not among them. */
		bool plain = len >= 18 &&
			     !(m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED);
		uint16_t oslot;
		int32_t pos;
		int r;

		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		bytes += m->pkt_len;
		if (likely(plain)) {
			frame_words(m, w);
			if (((w[0] ^ fp.w[0]) | (w[1] ^ fp.w[1])) == 0 &&
			    len <= fp.max_len) {
				if (unlikely(fp.edit) &&
				    unlikely(fast_retag(&m, &fp) < 0)) {
					drop(rt, VSW_DROP_NO_MBUF, m);
					continue;
				}
				unicast++;
				if (likely(fp.buf && fp.buf->n < ARRAY_SIZE(fp.buf->pkts)))
					fp.buf->pkts[fp.buf->n++] = m;
				else
					tx_enqueue(dp, cfg, fp.oslot, m);
				continue;
			}
		}
		if (unlikely(m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED)) {
			/* A driver took the tag off: put it back to switch on it. */
			if (rte_vlan_insert(&m) < 0) {
				drop(rt, VSW_DROP_NO_MBUF, m);
				continue;
			}
		}
		r = vsw_frame_parse(rte_pktmbuf_mtod(m, const uint8_t *),
				    rte_pktmbuf_data_len(m), &in->vlan,
				    in->max_frame, &fr);
		if (unlikely(r)) {
			drop(rt, (enum vsw_drop)r, m);
			continue;
		}
		if (unlikely(fr.priority_tagged)) {
			rte_vlan_strip(m);
			fr.tagged = false;
			fr.dst = rte_pktmbuf_mtod(m, const uint8_t *);
			fr.src = fr.dst + 6;
		}
		if (unlikely(nnets) &&
		    net_stage(vsw, dp, cfg, in, &m, &fr)) {
			/* Learn the host anyway: replies come back to it. */
			sw0 = vsw_mac_word(fr.src, fr.vid);
			if (!have_s || sw0 != last_s) {
				learn(dp, cfg, in, slot, sw0, w1, now);
				last_s = sw0;
				have_s = true;
				have_d = false;
			}
			continue;
		}
		sw0 = vsw_mac_word(fr.src, fr.vid);
		if (!have_s || sw0 != last_s) {
			uint32_t before = srt->mac_count;

			learn(dp, cfg, in, slot, sw0, w1, now);
			last_s = sw0;
			have_s = true;
			if (srt->mac_count != before)
				have_d = false; /* a new MAC may be a cached miss */
			fp.max_len = 0; /* an entry may have moved */
		}
		if (fr.dst[0] & 1) {
			flood(vsw, dp, cfg, in->sw, slot, m, &fr);
			continue;
		}
		dw0 = vsw_mac_word(fr.dst, fr.vid);
		if (have_d && dw0 == last_d) {
			pos = last_dpos;
		} else {
			pos = vsw_mac_lookup_words(&dp->macs, dw0, w1);
			last_d = dw0;
			last_dpos = pos;
			have_d = true;
		}
		if (pos < 0) {
			flood(vsw, dp, cfg, in->sw, slot, m, &fr);
			continue;
		}
		oslot = dp->macs.e[pos].slot;
		out = &cfg->port[oslot];
		if (unlikely(!out->active || out->l3)) {
			flood(vsw, dp, cfg, in->sw, slot, m, &fr);
			continue;
		}
		if (unlikely(oslot == slot)) {
			drop(rt, VSW_DROP_HAIRPIN, m);
			continue;
		}
		if (unlikely(!vsw_vid_test(out->vlan.member, fr.vid))) {
			drop(rt, VSW_DROP_NO_EGRESS, m);
			continue;
		}
		if (unlikely(set_tag(&m, fr.tagged, fr.vid != out->vlan.untag_out,
				     fr.vid) < 0)) {
			drop(rt, VSW_DROP_NO_MBUF, m);
			continue;
		}
		unicast++;
		tx_enqueue(dp, cfg, oslot, m);
		/* Frames like this one go the same way (struct fast_path). */
		if (likely(plain && !nnets && !fr.priority_tagged)) {
			fp.w[0] = w[0];
			fp.w[1] = w[1];
			fp.max_len = in->max_frame;
			fp.oslot = oslot;
			fp.vid = fr.vid;
			fp.tagged = fr.tagged;
			fp.want_tagged = fr.vid != out->vlan.untag_out;
			fast_path_set_edit(&fp);
			fp.buf = out->shaped[1] ? NULL : &dp->tx[oslot];
		}
	}
	srt->st.unicast += unicast;
	rt->st.rx_packets += n;
	rt->st.rx_bytes += bytes;
}

/* A routed uplink: nothing is switched, everything goes to the router. */
static void
uplink_burst(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
	     uint16_t slot, struct rte_mbuf **pkts, uint16_t n)
{
	struct vsw_port_rt *rt = cfg->port[slot].rt;
	uint64_t bytes = 0;

	vsw_router_prefetch(dp, cfg, &cfg->port[slot], slot, pkts, n);
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];

		bytes += m->pkt_len;
		if (unlikely(rte_pktmbuf_data_len(m) < 14)) {
			drop(rt, VSW_DROP_RUNT, m);
			continue;
		}
		if (unlikely(m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) ||
		    vsw_get16(rte_pktmbuf_mtod(m, uint8_t *) + 12) == 0x8100) {
			/* An uplink carries untagged frames only. */
			drop(rt, VSW_DROP_VLAN_FILTERED, m);
			continue;
		}
		vsw_router_uplink_input(vsw, dp, cfg, slot, m);
	}
	rt->st.rx_packets += n;
	rt->st.rx_bytes += bytes;
}

void
vsw_dp_flush_tx(struct vsw *vsw, const struct vsw_cfg *cfg, struct vsw_dp *dp)
{
	for (uint16_t i = 0; i < dp->ntouched; i++) {
		uint16_t s = dp->touched[i];
		struct vsw_txbuf *b = &dp->tx[s];
		const struct vsw_dp_port *p = &cfg->port[s];
		struct vsw_capture *cap;
		uint64_t bytes = 0;
		uint16_t sent;

		cap = atomic_load_explicit(&p->rt->capture, memory_order_relaxed);
		if (unlikely(cap != NULL))
			vsw_capture_frames(cap, p->rt, p->eth, b->pkts, b->n, 2,
					   dp->now);
		if (p->vhost) {
			/* The vhost library copies; the frames are freed here. */
			for (uint16_t k = 0; k < b->n; k++)
				bytes += b->pkts[k]->pkt_len;
			sent = vsw_vhost_tx(p->rt, b->pkts, b->n);
			if (unlikely(sent < b->n)) {
				for (uint16_t k = sent; k < b->n; k++)
					bytes -= b->pkts[k]->pkt_len;
				p->rt->st.drops[VSW_DROP_TX_FULL] += b->n - sent;
			}
		} else {
			for (uint16_t k = 0; k < b->n; k++)
				bytes += b->pkts[k]->pkt_len;
			sent = rte_eth_tx_burst(p->eth, 0, b->pkts, b->n);
			if (unlikely(sent < b->n)) {
				for (uint16_t k = sent; k < b->n; k++) {
					bytes -= b->pkts[k]->pkt_len;
					rte_pktmbuf_free(b->pkts[k]);
				}
				p->rt->st.drops[VSW_DROP_TX_FULL] += b->n - sent;
			}
		}
		p->rt->st.tx_packets += sent;
		p->rt->st.tx_bytes += bytes;
		b->n = 0;
	}
	dp->ntouched = 0;
}

static uint64_t
flush_macs(struct vsw_dp *dp, const struct vsw_cfg *cfg, struct vsw *vsw,
	   int sw, int slot)
{
	uint64_t n = 0;

	for (uint32_t pos = 0; pos < dp->macs.capacity; pos++) {
		const struct vsw_mac_entry *e = &dp->macs.e[pos];

		if (!e->in_use)
			continue;
		if ((sw >= 0 && e->key.sw != (uint32_t)sw) ||
		    (slot >= 0 && e->slot != slot))
			continue;
		del_entry(vsw, dp, cfg, (int32_t)pos);
		n++;
	}
	if (slot >= 0)
		dp->mac_count[slot] = 0;
	return n;
}

/* A static entry: replaces a learned one; 0, or 1 if the table is full. */
static uint64_t
static_mac_add(struct vsw *vsw, const struct vsw_cfg *cfg, int sw, int slot)
{
	struct vsw_dp *dp = vsw->dp;
	struct vsw_mac_key key = { .vid = dp->op_vid, .sw = (uint32_t)sw };
	int32_t pos;

	memcpy(key.mac, dp->op_mac, 6);
	pos = vsw_mac_lookup(&dp->macs, &key);
	if (pos >= 0)
		del_entry(vsw, dp, cfg, pos);
	pos = vsw_mac_add(&dp->macs, &key, (uint16_t)slot, rte_rdtsc());
	if (pos < 0)
		return 1;
	dp->macs.e[pos].is_static = 1;
	dp->mac_count[slot]++;
	if (cfg->sw[sw].rt)
		cfg->sw[sw].rt->mac_count++;
	return 0;
}

uint64_t
vsw_dp_exec(struct vsw *vsw, enum vsw_dp_op op, int sw, int slot)
{
	const struct vsw_cfg *cfg = atomic_load(&vsw->cfg);
	uint64_t n;

	switch (op) {
	case VSW_DP_OP_FLUSH:
		n = flush_macs(vsw->dp, cfg, vsw, sw, slot);
		if (sw >= 0 && cfg->sw[sw].rt)
			cfg->sw[sw].rt->st.flushed += n;
		return n;
	case VSW_DP_OP_CT_FLUSH:
		n = vsw_ct_flush(vsw->dp->ct, sw, slot);
		if (sw >= 0)
			vsw_neigh_flush(vsw->dp->neigh, (uint16_t)sw);
		if (slot >= 0)
			vsw_neigh_flush(vsw->dp->neigh,
					(uint16_t)(VSW_NEIGH_IF_UPLINK | slot));
		return n;
	case VSW_DP_OP_CALL:
		return vsw->dp->op_fn(vsw, vsw->dp->op_arg);
	case VSW_DP_OP_MAC_ADD:
		return static_mac_add(vsw, cfg, sw, slot);
	default:
		return 0;
	}
}

static void
age_slice(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
	  uint64_t now)
{
	struct vsw_mactable *t = &dp->macs;
	uint32_t chunk = t->capacity / AGE_SLICES_PER_SEC + 64;

	if (!t->count) {
		t->scan_pos = 0;
		return;
	}
	for (uint32_t i = 0; i < chunk; i++) {
		struct vsw_mac_entry *e = &t->e[t->scan_pos];
		const struct vsw_dp_switch *sw;

		if (++t->scan_pos >= t->capacity)
			t->scan_pos = 0;
		if (!e->in_use)
			continue;
		sw = &cfg->sw[e->key.sw];
		if (!sw->active || !cfg->port[e->slot].active) {
			del_entry(vsw, dp, cfg, (int32_t)(e - t->e));
			continue;
		}
		if (now - e->seen_tsc > sw->aging_tsc && !e->is_static) {
			sw->rt->st.aged++;
			del_entry(vsw, dp, cfg, (int32_t)(e - t->e));
		}
	}
}

static inline uint16_t
port_rx(struct vsw *vsw, const struct vsw_dp_port *p, struct rte_mbuf **pkts,
	uint16_t max)
{
	if (p->vhost)
		return vsw_vhost_rx(vsw, p->rt, pkts, max);
	return rte_eth_rx_burst(p->eth, 0, pkts, max);
}

/*
 * Ingress shaping: receive only what the queue has room for (the rest
 * waits in the port's own ring, pushing back on the sender), queue it,
 * and pass on what the buckets allow. Returns frames received.
 */
static uint16_t
shaped_rx(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_dp_port *p,
	  struct rte_mbuf **pkts, uint16_t *n_out, uint64_t now)
{
	struct vsw_shaper *sh = shaper_of(vsw, p, 0, now);
	uint16_t room = (uint16_t)MIN(vsw_shaper_room(sh), (uint32_t)VSW_BURST);
	uint16_t n = room ? port_rx(vsw, p, pkts, room) : 0;
	struct vsw_capture *cap;

	if (n) {
		cap = atomic_load_explicit(&p->rt->capture, memory_order_relaxed);
		if (unlikely(cap != NULL))
			vsw_capture_frames(cap, p->rt, p->eth, pkts, n, 1, now);
	}
	for (uint16_t i = 0; i < n; i++)
		vsw_shaper_enqueue(sh, pkts[i], pkts[i]->pkt_len);
	*n_out = (uint16_t)vsw_shaper_dequeue(sh, now, (void **)pkts, VSW_BURST);
	return n;
}

/* Egress shaping: moves what the buckets allow into transmit buffers. */
static unsigned int
shaped_tx(struct vsw *vsw, struct vsw_dp *dp, const struct vsw_cfg *cfg,
	  uint64_t now)
{
	unsigned int backlog = 0;

	for (uint16_t i = 0; i < cfg->nshaped_out; i++) {
		uint16_t slot = cfg->shaped_out[i];
		const struct vsw_dp_port *p = &cfg->port[slot];
		struct vsw_shaper *sh = shaper_of(vsw, p, 1, now);
		struct vsw_txbuf *b = &dp->tx[slot];
		struct rte_mbuf *out[2 * VSW_BURST];
		unsigned int room = ARRAY_SIZE(b->pkts) - b->n, k;

		if (!vsw_shaper_backlog(sh))
			continue;
		k = vsw_shaper_dequeue(sh, now, (void **)out, room);
		for (unsigned int j = 0; j < k; j++)
			txbuf_add(dp, slot, out[j], p->rt);
		backlog += vsw_shaper_backlog(sh);
	}
	return backlog;
}

unsigned int
vsw_dp_iter(struct vsw *vsw, struct vsw_dp *dp, uint64_t now)
{
	const struct vsw_cfg *cfg = atomic_load_explicit(&vsw->cfg,
							 memory_order_acquire);
	struct rte_mbuf *pkts[VSW_BURST];
	unsigned int total = 0;

	dp->now = now;
	for (uint16_t i = 0; i < cfg->nrx; i++) {
		uint16_t slot = cfg->rx[i];
		const struct vsw_dp_port *p = &cfg->port[slot];
		struct vsw_capture *cap;
		uint16_t n;

		if (unlikely(p->shaped[0])) {
			total += shaped_rx(vsw, dp, p, pkts, &n, now);
			if (vsw_shaper_backlog(&p->rt->shaper[0]))
				total++; /* keep polling: frames are waiting */
		} else {
			n = port_rx(vsw, p, pkts, VSW_BURST);
			total += n;
			if (n) {
				cap = atomic_load_explicit(&p->rt->capture,
							   memory_order_relaxed);
				if (unlikely(cap != NULL))
					vsw_capture_frames(cap, p->rt, p->eth,
							   pkts, n, 1, now);
			}
		}
		if (!n)
			continue;
		if (unlikely(p->l3))
			uplink_burst(vsw, dp, cfg, slot, pkts, n);
		else
			switch_burst(vsw, dp, cfg, slot, pkts, n, now);
		dp->ct_nhint = 0; /* the hints were for this burst only */
		vsw_dp_flush_tx(vsw, cfg, dp);
	}
	if (unlikely(cfg->nshaped_out)) {
		total += shaped_tx(vsw, dp, cfg, now);
		vsw_dp_flush_tx(vsw, cfg, dp);
	}
	if (atomic_load_explicit(&dp->pending, memory_order_acquire)) {
		dp->op_result = vsw_dp_exec(vsw, dp->op, dp->op_sw, dp->op_slot);
		atomic_store_explicit(&dp->pending, 0, memory_order_release);
	}
	if (now >= dp->next_age_tsc) {
		age_slice(vsw, dp, cfg, now);
		vsw_router_tick(vsw, dp, cfg, now);
		/* ARP retries and timers may have produced frames. */
		vsw_dp_flush_tx(vsw, cfg, dp);
		dp->next_age_tsc = now + dp->age_period_tsc;
	}
	return total;
}
