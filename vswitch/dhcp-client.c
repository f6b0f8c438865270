/* SPDX-License-Identifier: MIT */
/*
 * The uplink's DHCP client (RFC 2131 section 4.4): DISCOVER, OFFER,
 * REQUEST, ACK; retransmission with doubling waits (4 s to 64 s, +-1 s);
 * renewal at T1 unicast to the server and rebinding at T2 by broadcast;
 * expiry; NAK starts over (at once the first time, then after 3-5 s);
 * INIT-REBOOT for a lease saved before a
 * restart; RELEASE. An ACK to a REQUEST for a new (or the saved) address
 * is followed by ARP probes for it (RFC 5227 2.1, fewer and shorter: see
 * dhcp-client.h) before it is used; a host that answers for it gets the
 * address declined (DHCPDECLINE) and DISCOVER starts again 10 s later,
 * while silence binds it with one ARP announcement. Replies are checked
 * completely before anything is believed: they come from the wire.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"
#include "vswitch/dhcp-client.h"
#include "vswitch/dhcp-wire.h"
#include "vswitch/l3.h"

#define RTO_FIRST_MS 4000
#define RTO_MAX_MS 64000
/* Transmissions of a REQUEST (for an offer, or INIT-REBOOT) before INIT. */
#define REQUEST_TRIES 4
#define REBOOT_TRIES 3
/* Least wait between REQUESTs while renewing or rebinding (RFC: 60 s,
 * shortened so that short lab leases still get several tries). */
#define RENEW_MIN_MS 2000

static const char *const state_names[VSW_DHCPC_STATE_COUNT] = {
	[VSW_DHCPC_INIT] = "init",
	[VSW_DHCPC_SELECTING] = "selecting",
	[VSW_DHCPC_REQUESTING] = "requesting",
	[VSW_DHCPC_REBOOTING] = "rebooting",
	[VSW_DHCPC_PROBING] = "probing",
	[VSW_DHCPC_BOUND] = "bound",
	[VSW_DHCPC_RENEWING] = "renewing",
	[VSW_DHCPC_REBINDING] = "rebinding",
};

const char *
vsw_dhcpc_state_name(enum vsw_dhcpc_state s)
{
	return (unsigned int)s < VSW_DHCPC_STATE_COUNT ? state_names[s] : "?";
}

static uint32_t
rnd(struct vsw_dhcpc *c)
{
	uint32_t x = c->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	c->rng = x ? x : 0x9e3779b9u;
	return c->rng;
}

/* The wait 'ms' randomized by +-1 s (RFC 2131 4.1). */
static uint64_t
jitter(struct vsw_dhcpc *c, uint32_t ms)
{
	return (uint64_t)ms - 1000 + rnd(c) % 2001;
}

static void
new_xid(struct vsw_dhcpc *c, uint64_t now)
{
	c->xid = rnd(c);
	c->start_ms = now;
	c->tries = 0;
	c->rto_ms = RTO_FIRST_MS;
}

static uint64_t
expiry_ms(const struct vsw_dhcpc_lease *l)
{
	return l->acquired_ms + (uint64_t)l->lease_s * 1000;
}

void
vsw_dhcpc_start(struct vsw_dhcpc *c, const uint8_t mac[6],
		const struct vsw_dhcpc_lease *saved, uint64_t now,
		uint64_t wall, uint32_t seed)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->mac, mac, 6);
	c->rng = seed ^ (uint32_t)mac[5] << 24 ^ (uint32_t)mac[4] << 16 ^
		 (uint32_t)now ^ 0x5bd1e995u;
	rnd(c);
	new_xid(c, now);
	c->next_ms = now;
	c->state = VSW_DHCPC_INIT;
	if (saved && saved->addr && saved->lease_s &&
	    saved->acquired_wall <= wall &&
	    wall - saved->acquired_wall < saved->lease_s) {
		/* What is left of it, on our monotonic clock. */
		c->lease = *saved;
		c->lease.acquired_ms = now - (wall - saved->acquired_wall) * 1000;
		c->state = VSW_DHCPC_REBOOTING;
	}
}

/* ---- frames we send ---- */

struct send_args {
	uint8_t type;
	uint32_t ciaddr;       /* also the IP source */
	uint32_t requested;    /* option 50 */
	uint32_t server_id;    /* option 54 */
	uint32_t unicast_to;   /* 0: broadcast */
};

static size_t
build(struct vsw_dhcpc *c, const struct send_args *a, uint64_t now,
      uint8_t *f, bool *unicast)
{
	static const uint8_t params[] = {
		DHCP_OPT_SUBNET_MASK, DHCP_OPT_ROUTER, DHCP_OPT_DNS,
		DHCP_OPT_DOMAIN, DHCP_OPT_LEASE_TIME, DHCP_OPT_SERVER_ID,
		DHCP_OPT_RENEWAL, DHCP_OPT_REBINDING,
	};
	/* Says why, as RFC 2131 table 5 suggests for a DECLINE. */
	static const char why[] = "address in use (ARP)";
	uint8_t *b = f + DHCP_BOOTP_OFF, *p;
	/* RFC 2131 table 5: 'secs' is 0 in a DECLINE. */
	uint64_t secs = a->type == DHCPDECLINE ? 0 : (now - c->start_ms) / 1000;

	memset(f, 0, DHCP_BOOTP_OFF + DHCP_BOOTP_FIXED + 4);
	if (!a->unicast_to)
		memset(f, 0xff, 6);
	memcpy(f + 6, c->mac, 6);
	b[0] = 1; /* BOOTREQUEST, Ethernet */
	b[1] = 1;
	b[2] = 6;
	vsw_put32(b + 4, c->xid);
	vsw_put16(b + 8, (uint16_t)(secs > 0xffff ? 0xffff : secs));
	vsw_put32(b + 12, a->ciaddr);
	memcpy(b + 28, c->mac, 6);
	vsw_put32(b + DHCP_BOOTP_FIXED, DHCP_MAGIC);
	p = b + DHCP_BOOTP_FIXED + 4;
	*p++ = DHCP_OPT_MSG_TYPE;
	*p++ = 1;
	*p++ = a->type;
	/* A stable client identifier: type 1 (Ethernet) and the MAC. */
	*p++ = DHCP_OPT_CLIENT_ID;
	*p++ = 7;
	*p++ = 1;
	memcpy(p, c->mac, 6);
	p += 6;
	if (a->requested)
		p = dhcp_opt_u32(p, DHCP_OPT_REQUESTED_IP, a->requested);
	if (a->server_id)
		p = dhcp_opt_u32(p, DHCP_OPT_SERVER_ID, a->server_id);
	if (a->type == DHCPDECLINE) {
		*p++ = DHCP_OPT_MESSAGE;
		*p++ = sizeof(why) - 1;
		memcpy(p, why, sizeof(why) - 1);
		p += sizeof(why) - 1;
	} else if (a->type != DHCPRELEASE) {
		*p++ = DHCP_OPT_PARAM_LIST;
		*p++ = sizeof(params);
		memcpy(p, params, sizeof(params));
		p += sizeof(params);
	}
	*p++ = DHCP_OPT_END;
	*unicast = a->unicast_to != 0;
	if (a->type == DHCPDISCOVER)
		c->st.discovers++;
	else if (a->type == DHCPREQUEST)
		c->st.requests++;
	else if (a->type == DHCPRELEASE)
		c->st.releases++;
	else if (a->type == DHCPDECLINE)
		c->st.declines++;
	return dhcp_frame_finish(f, a->ciaddr,
				 a->unicast_to ? a->unicast_to : 0xffffffffu,
				 DHCP_PORT_CLIENT, DHCP_PORT_SERVER,
				 (size_t)(p - b));
}

/* The transmission the current state makes (first or again). */
static size_t
transmit(struct vsw_dhcpc *c, uint64_t now, uint8_t *f, bool *unicast)
{
	struct send_args a = { .type = DHCPREQUEST };

	switch (c->state) {
	case VSW_DHCPC_INIT:
	case VSW_DHCPC_SELECTING:
		a.type = DHCPDISCOVER;
		break;
	case VSW_DHCPC_REQUESTING:
		a.requested = c->offered;
		a.server_id = c->offer_server;
		break;
	case VSW_DHCPC_REBOOTING:
		a.requested = c->lease.addr;
		break;
	case VSW_DHCPC_RENEWING:
		a.ciaddr = c->lease.addr;
		a.unicast_to = c->lease.server;
		break;
	case VSW_DHCPC_REBINDING:
		a.ciaddr = c->lease.addr;
		break;
	default:
		return 0;
	}
	c->tries++;
	return build(c, &a, now, f, unicast);
}

static void
lose(struct vsw_dhcpc *c, uint64_t now, int *ev)
{
	if (c->have_lease)
		*ev |= VSW_DHCPC_EV_LOST;
	c->have_lease = false;
	c->state = VSW_DHCPC_INIT;
	new_xid(c, now);
	c->next_ms = now;
}

/* ---- the ARP check of an ACKed address (RFC 5227 2.1) ---- */

/* An ARP probe: who has lease.addr? (sender address 0: we have none). */
static size_t
probe(struct vsw_dhcpc *c, uint64_t now, uint8_t *out, bool *unicast)
{
	c->tries++;
	c->st.probes++;
	c->next_ms = now + VSW_DHCPC_PROBE_INTERVAL_MS;
	*unicast = false;
	return vsw_arp_build(out, 1, c->mac, 0, NULL, c->lease.addr);
}

/* Nobody answered: the address is ours; say so once (an announcement:
 * a request with our address as sender and target). */
static size_t
bind_probed(struct vsw_dhcpc *c, uint8_t *out, bool *unicast, int *ev)
{
	const struct vsw_dhcpc_lease *l = &c->lease;

	c->have_lease = true;
	c->state = VSW_DHCPC_BOUND;
	c->next_ms = l->acquired_ms + (uint64_t)l->t1_s * 1000;
	*ev |= VSW_DHCPC_EV_BOUND;
	c->st.announcements++;
	*unicast = false;
	return vsw_arp_build(out, 1, c->mac, l->addr, NULL, l->addr);
}

/* Another host has the address: DECLINE it (broadcast, RFC 2131 4.4.4),
 * forget it, and DISCOVER again after the wait. */
static size_t
decline(struct vsw_dhcpc *c, const uint8_t *by, uint64_t now, uint8_t *out,
	bool *unicast, int *ev)
{
	struct send_args a = {
		.type = DHCPDECLINE,
		.requested = c->lease.addr,
		.server_id = c->lease.server,
	};
	size_t n;

	c->declined = c->lease.addr;
	memcpy(c->declined_by, by, 6);
	/* A transaction of its own (RFC 2131 table 5: xid chosen by the
	 * client). */
	c->xid = rnd(c);
	n = build(c, &a, now, out, unicast);
	memset(&c->lease, 0, sizeof(c->lease));
	c->have_lease = false;
	c->state = VSW_DHCPC_INIT;
	new_xid(c, now);
	c->next_ms = now + VSW_DHCPC_DECLINE_WAIT_MS;
	*ev |= VSW_DHCPC_EV_DECLINED;
	return n;
}

/*
 * An ARP frame while probing: a conflict when another MAC says it has
 * the address (any request or reply with it as sender) or is probing for
 * it too (sender 0, target it). Our own frames may come back: not one.
 */
static size_t
arp_input(struct vsw_dhcpc *c, const uint8_t *f, size_t len, uint64_t now,
	  uint8_t *out, bool *unicast, int *ev)
{
	uint32_t addr = c->lease.addr;
	struct vsw_arp a;

	if (c->state != VSW_DHCPC_PROBING || len > UINT32_MAX ||
	    vsw_arp_parse(f, (uint32_t)len, &a) < 0 ||
	    !memcmp(a.sha, c->mac, 6))
		return 0;
	if (a.spa == addr || (!a.spa && a.op == 1 && a.tpa == addr))
		return decline(c, a.sha, now, out, unicast, ev);
	return 0;
}

size_t
vsw_dhcpc_poll(struct vsw_dhcpc *c, uint64_t now, uint64_t wall,
	       uint8_t *out, bool *unicast, int *ev)
{
	const struct vsw_dhcpc_lease *l = &c->lease;
	uint64_t t1, t2, end, left;
	size_t n;

	(void)wall;
	if (c->have_lease && now >= expiry_ms(l)) {
		c->st.expiries++;
		lose(c, now, ev);
	}
	if (c->have_lease) {
		t1 = l->acquired_ms + (uint64_t)l->t1_s * 1000;
		t2 = l->acquired_ms + (uint64_t)l->t2_s * 1000;
		end = expiry_ms(l);
		if (c->state == VSW_DHCPC_BOUND && now >= t1) {
			c->state = VSW_DHCPC_RENEWING;
			new_xid(c, now);
			c->next_ms = now;
		}
		if (c->state == VSW_DHCPC_RENEWING && now >= t2) {
			c->state = VSW_DHCPC_REBINDING;
			c->tries = 0;
			c->next_ms = now;
		}
		if (c->state == VSW_DHCPC_BOUND) {
			c->next_ms = t1;
			return 0;
		}
		if (now < c->next_ms)
			return 0;
		n = transmit(c, now, out, unicast);
		/* Half the time left to T2 (renewing) or to expiry. */
		left = (c->state == VSW_DHCPC_RENEWING ? t2 : end) - now;
		c->next_ms = now + (left / 2 > RENEW_MIN_MS ? left / 2
							     : RENEW_MIN_MS);
		if (c->state == VSW_DHCPC_RENEWING && c->next_ms > t2)
			c->next_ms = t2;
		if (c->next_ms > end)
			c->next_ms = end;
		return n;
	}
	if (now < c->next_ms)
		return 0;
	if (c->state == VSW_DHCPC_PROBING) {
		if (c->tries < VSW_DHCPC_PROBE_NUM)
			return probe(c, now, out, unicast);
		return bind_probed(c, out, unicast, ev);
	}
	if (c->state == VSW_DHCPC_REQUESTING && c->tries >= REQUEST_TRIES) {
		/* The server went quiet after its offer: start over. */
		c->state = VSW_DHCPC_INIT;
		new_xid(c, now);
	}
	if (c->state == VSW_DHCPC_REBOOTING && c->tries >= REBOOT_TRIES) {
		c->state = VSW_DHCPC_INIT;
		new_xid(c, now);
	}
	if (c->state == VSW_DHCPC_INIT) {
		c->state = VSW_DHCPC_SELECTING;
		new_xid(c, now);
	}
	n = transmit(c, now, out, unicast);
	c->next_ms = now + jitter(c, c->rto_ms);
	if (c->rto_ms < RTO_MAX_MS)
		c->rto_ms *= 2;
	return n;
}

/* ---- replies ---- */

struct reply {
	uint8_t type;
	uint32_t yiaddr;
	uint32_t server_id, lease_s, t1_s, t2_s, mask, router;
	bool has_lease, has_mask, has_t1, has_t2;
};

static int
reply_option(uint8_t code, const uint8_t *v, uint8_t len, void *arg)
{
	struct reply *r = arg;

	switch (code) {
	case DHCP_OPT_MSG_TYPE:
		if (len != 1)
			return -EINVAL;
		r->type = v[0];
		break;
	case DHCP_OPT_SERVER_ID:
		if (len != 4)
			return -EINVAL;
		r->server_id = vsw_get32(v);
		break;
	case DHCP_OPT_LEASE_TIME:
		if (len != 4)
			return -EINVAL;
		r->lease_s = vsw_get32(v);
		r->has_lease = true;
		break;
	case DHCP_OPT_RENEWAL:
		if (len != 4)
			return -EINVAL;
		r->t1_s = vsw_get32(v);
		r->has_t1 = true;
		break;
	case DHCP_OPT_REBINDING:
		if (len != 4)
			return -EINVAL;
		r->t2_s = vsw_get32(v);
		r->has_t2 = true;
		break;
	case DHCP_OPT_SUBNET_MASK:
		if (len != 4)
			return -EINVAL;
		r->mask = vsw_get32(v);
		r->has_mask = true;
		break;
	case DHCP_OPT_ROUTER:
		/* A list: the first is the default route. */
		if (len < 4 || len % 4)
			return -EINVAL;
		r->router = vsw_get32(v);
		break;
	}
	return 0;
}

static bool
unicast_ip(uint32_t ip)
{
	return ip && (ip >> 24) != 127 && (ip >> 28) < 14 && ip != 0xffffffffu;
}

bool
vsw_dhcpc_is_reply(const uint8_t *f, size_t len)
{
	return dhcp_udp_ports(f, len) == DHCP_SERVER_TO_CLIENT;
}

/* The prefix length of a contiguous netmask, or -1. */
static int
mask_prefix(uint32_t mask)
{
	int n = __builtin_popcount(mask);

	return mask == vsw_prefix_mask((uint8_t)n) ? n : -1;
}

/* Turns an ACK into the lease; false when it cannot be one. */
static bool
ack_lease(const struct reply *r, uint64_t req_ms, uint64_t now, uint64_t wall,
	  struct vsw_dhcpc_lease *l)
{
	int prefix;

	if (!unicast_ip(r->yiaddr) || !r->has_lease || !r->lease_s ||
	    !unicast_ip(r->server_id))
		return false;
	if (r->has_mask) {
		prefix = mask_prefix(r->mask);
		if (prefix < 1 || prefix > 30)
			return false;
	} else {
		/* No mask: the address's class, as old clients assume. */
		prefix = r->yiaddr < 0x80000000u ? 8 : r->yiaddr < 0xc0000000u ? 16 : 24;
	}
	memset(l, 0, sizeof(*l));
	l->addr = r->yiaddr;
	l->prefix_len = (uint8_t)prefix;
	l->server = r->server_id;
	if (unicast_ip(r->router) && r->router != r->yiaddr &&
	    (r->router & vsw_prefix_mask(l->prefix_len)) ==
		    (r->yiaddr & vsw_prefix_mask(l->prefix_len)))
		l->router = r->router;
	/* "Infinite" (0xffffffff) and anything over ten years: ten years. */
	l->lease_s = r->lease_s > 315360000u ? 315360000u : r->lease_s;
	l->t1_s = r->has_t1 ? r->t1_s : l->lease_s / 2;
	l->t2_s = r->has_t2 ? r->t2_s : (uint32_t)((uint64_t)l->lease_s * 7 / 8);
	if (l->t2_s > l->lease_s || l->t2_s == 0)
		l->t2_s = (uint32_t)((uint64_t)l->lease_s * 7 / 8);
	if (l->t1_s > l->t2_s || l->t1_s == 0)
		l->t1_s = MIN(l->lease_s / 2, l->t2_s);
	/* Times count from the REQUEST the ACK answers. */
	l->acquired_ms = req_ms;
	l->acquired_wall = wall - (now - req_ms) / 1000;
	return true;
}

size_t
vsw_dhcpc_input(struct vsw_dhcpc *c, const uint8_t *f, size_t len,
		uint64_t now, uint64_t wall, uint8_t *out, bool *unicast,
		int *ev)
{
	struct vsw_dhcpc_lease l;
	struct reply r;
	const uint8_t *b;
	size_t blen;
	bool changed;

	if (len >= VSW_ETH_HLEN && vsw_get16(f + 12) == VSW_ETHERTYPE_ARP)
		return arp_input(c, f, len, now, out, unicast, ev);
	memset(&r, 0, sizeof(r));
	b = dhcp_bootp_find(f, len, DHCP_PORT_SERVER, DHCP_PORT_CLIENT, &blen);
	if (!b || b[0] != 2 || b[1] != 1 || b[2] != 6 ||
	    vsw_get32(b + 4) != c->xid || memcmp(b + 28, c->mac, 6) ||
	    dhcp_options_walk(b + DHCP_BOOTP_FIXED + 4,
			      blen - DHCP_BOOTP_FIXED - 4, reply_option, &r) < 0)
		goto bad;
	r.yiaddr = vsw_get32(b + 16);
	switch (r.type) {
	case DHCPOFFER:
		if (c->state != VSW_DHCPC_SELECTING || !unicast_ip(r.yiaddr) ||
		    !unicast_ip(r.server_id))
			goto bad;
		c->st.offers++;
		/* The first offer is as good as any: request it now. */
		c->offered = r.yiaddr;
		c->offer_server = r.server_id;
		c->state = VSW_DHCPC_REQUESTING;
		c->tries = 0;
		c->rto_ms = RTO_FIRST_MS;
		c->next_ms = now + jitter(c, c->rto_ms);
		c->rto_ms *= 2;
		return transmit(c, now, out, unicast);
	case DHCPACK:
		if (c->state != VSW_DHCPC_REQUESTING &&
		    c->state != VSW_DHCPC_REBOOTING &&
		    c->state != VSW_DHCPC_RENEWING &&
		    c->state != VSW_DHCPC_REBINDING)
			goto bad;
		if ((c->state == VSW_DHCPC_REQUESTING && r.yiaddr != c->offered) ||
		    (c->state == VSW_DHCPC_REBOOTING && r.yiaddr != c->lease.addr))
			goto bad;
		/* The REQUEST this answers went out at start_ms at the
		 * earliest; counting from there is on the safe side. */
		if (!ack_lease(&r, c->start_ms, now, wall, &l))
			goto bad;
		c->st.acks++;
		c->naks_in_row = 0;
		if (c->state == VSW_DHCPC_RENEWING)
			c->st.renewals++;
		else if (c->state == VSW_DHCPC_REBINDING)
			c->st.rebinds++;
		else if (c->state == VSW_DHCPC_REBOOTING)
			c->st.reboots++;
		if (c->state == VSW_DHCPC_REQUESTING ||
		    c->state == VSW_DHCPC_REBOOTING) {
			/* Not in use before nobody answers ARP for it. */
			c->lease = l;
			c->state = VSW_DHCPC_PROBING;
			c->tries = 0;
			*ev |= VSW_DHCPC_EV_PROBING;
			return probe(c, now, out, unicast);
		}
		changed = !c->have_lease || l.addr != c->lease.addr ||
			  l.prefix_len != c->lease.prefix_len ||
			  l.router != c->lease.router;
		c->lease = l;
		c->have_lease = true;
		c->state = VSW_DHCPC_BOUND;
		c->next_ms = l.acquired_ms + (uint64_t)l.t1_s * 1000;
		*ev |= changed ? VSW_DHCPC_EV_BOUND : VSW_DHCPC_EV_RENEWED;
		return 0;
	case DHCPNAK:
		if (c->state != VSW_DHCPC_REQUESTING &&
		    c->state != VSW_DHCPC_REBOOTING &&
		    c->state != VSW_DHCPC_RENEWING &&
		    c->state != VSW_DHCPC_REBINDING)
			goto bad;
		if (c->state == VSW_DHCPC_REQUESTING && r.server_id &&
		    r.server_id != c->offer_server)
			goto bad;
		c->st.naks++;
		lose(c, now, ev);
		/* Once at once; a server that keeps saying no (or a forged
		 * NAK stream) gets a DISCOVER only every 3-5 s. */
		if (c->naks_in_row++)
			c->next_ms = now + jitter(c, RTO_FIRST_MS);
		return 0;
	default:
		goto bad;
	}
bad:
	c->st.bad_replies++;
	return 0;
}

size_t
vsw_dhcpc_release(struct vsw_dhcpc *c, uint8_t *out, bool *unicast)
{
	struct send_args a = { .type = DHCPRELEASE };
	uint64_t now = c->start_ms;
	size_t n = 0;

	if (c->have_lease) {
		a.ciaddr = c->lease.addr;
		a.server_id = c->lease.server;
		a.unicast_to = c->lease.server;
		/* A new xid, as RFC 2131 asks of each message exchange. */
		c->xid = rnd(c);
		n = build(c, &a, now, out, unicast);
	}
	c->have_lease = false;
	c->state = VSW_DHCPC_INIT;
	memset(&c->lease, 0, sizeof(c->lease));
	return n;
}

uint64_t
vsw_dhcpc_next(const struct vsw_dhcpc *c, uint64_t now)
{
	uint64_t t = c->next_ms;

	if (c->have_lease && expiry_ms(&c->lease) < t)
		t = expiry_ms(&c->lease);
	return t > now ? t - now : 0;
}

/* ---- the saved lease ---- */

int
vsw_dhcpc_lease_format(const struct vsw_dhcpc_lease *l, char *buf, size_t len)
{
	char a[16], r[16], s[16];
	int n;

	n = snprintf(buf, len,
		     "address=%s/%u router=%s server=%s lease=%" PRIu32
		     " t1=%" PRIu32 " t2=%" PRIu32 " acquired=%" PRIu64 "\n",
		     vsw_ipv4_format(l->addr, a), l->prefix_len,
		     vsw_ipv4_format(l->router, r), vsw_ipv4_format(l->server, s),
		     l->lease_s, l->t1_s, l->t2_s, l->acquired_wall);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

static int
get_u64(const char *v, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t x = 0;

	if (!n || n > 20)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -EINVAL;
		if (x > (max - (uint64_t)(v[i] - '0')) / 10)
			return -EINVAL;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return 0;
}

int
vsw_dhcpc_lease_parse(const char *text, struct vsw_dhcpc_lease *l)
{
	unsigned int seen = 0;
	const char *p = text;

	memset(l, 0, sizeof(*l));
	while (*p) {
		const char *k = p, *eq, *v;
		char val[24];
		size_t kn, vn;
		uint64_t x;

		while (*p && *p != ' ' && *p != '\n')
			p++;
		eq = memchr(k, '=', (size_t)(p - k));
		if (!eq)
			return -EINVAL;
		kn = (size_t)(eq - k);
		v = eq + 1;
		vn = (size_t)(p - v);
		if (vn >= sizeof(val))
			return -EINVAL;
		memcpy(val, v, vn);
		val[vn] = '\0';
		if (kn == 7 && !memcmp(k, "address", 7)) {
			if (vsw_cidr_parse(val, &l->addr, &l->prefix_len) < 0 ||
			    !unicast_ip(l->addr) || l->prefix_len < 1 ||
			    l->prefix_len > 30)
				return -EINVAL;
			seen |= 1;
		} else if (kn == 6 && !memcmp(k, "router", 6)) {
			if (vsw_ipv4_parse(val, &l->router) < 0)
				return -EINVAL;
		} else if (kn == 6 && !memcmp(k, "server", 6)) {
			if (vsw_ipv4_parse(val, &l->server) < 0 ||
			    !unicast_ip(l->server))
				return -EINVAL;
			seen |= 2;
		} else if ((kn == 5 && !memcmp(k, "lease", 5)) ||
			   (kn == 2 && !memcmp(k, "t1", 2)) ||
			   (kn == 2 && !memcmp(k, "t2", 2))) {
			if (get_u64(val, vn, UINT32_MAX, &x) < 0)
				return -EINVAL;
			if (k[0] == 'l') {
				l->lease_s = (uint32_t)x;
				seen |= 4;
			} else if (k[1] == '1') {
				l->t1_s = (uint32_t)x;
			} else {
				l->t2_s = (uint32_t)x;
			}
		} else if (kn == 8 && !memcmp(k, "acquired", 8)) {
			if (get_u64(val, vn, UINT64_MAX / 2, &l->acquired_wall) < 0)
				return -EINVAL;
			seen |= 8;
		} else {
			return -EINVAL;
		}
		while (*p == ' ' || *p == '\n')
			p++;
	}
	if (seen != 15 || !l->lease_s || l->t2_s > l->lease_s ||
	    l->t1_s > l->t2_s ||
	    (l->router && (l->router & vsw_prefix_mask(l->prefix_len)) !=
				  (l->addr & vsw_prefix_mask(l->prefix_len))))
		return -EINVAL;
	return 0;
}
