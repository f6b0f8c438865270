/* SPDX-License-Identifier: MIT */
/*
 * The uplink's DHCP client against the switch's own DHCP server, frame
 * by frame in one process, with the clocks stepped by hand: the full
 * exchange, the ARP probes of the ACKed address (silence: bound and
 * announced; an answer or another host's probe: DHCPDECLINE, 10 s, a new
 * DISCOVER and another address), retransmission waits, renewal (unicast)
 * and rebinding (broadcast), expiry, INIT-REBOOT accepted and refused
 * (NAK), replies that are not for us, RELEASE, and the saved-lease text.
 * The daemon side runs against udhcpd in vswitch-uplink-dhcp-test.sh.
 */
#include <string.h>

#include "tests/lib/testutil.h"
#include "vswitch/dhcp-client.h"
#include "vswitch/dhcp-server.h"
#include "vswitch/l3.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))
#define GW IP(198, 51, 100, 1)
#define WALL0 1700000000u

static const uint8_t mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x99 };
static const uint8_t other_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x55 };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static struct vsw_dhcp_server *
server(uint32_t subnet, uint32_t lease)
{
	struct vsw_dhcp_config c = {
		.subnet = subnet,
		.prefix_len = 24,
		.server_ip = subnet | 1,
		.router = subnet | 1,
		.pool_first = subnet | 100,
		.pool_last = subnet | 110,
		.lease_secs = lease,
		.server_mac = { 0x02, 0, 0, 0, 0, 1 },
	};
	struct vsw_dhcp_server *s = NULL;

	CHECK_OK(vsw_dhcp_create(&c, &s, NULL, 0));
	return s;
}

/* The DHCP message type of a frame we wrote. */
static int
msg_type(const uint8_t *f, size_t n)
{
	for (size_t i = 42 + 240; i + 2 < n; i += 2u + f[i + 1])
		if (f[i] == 53)
			return f[i + 2];
	return -1;
}

/* The value of option 'code' of a frame we wrote (length in *len), or NULL. */
static const uint8_t *
find_opt(const uint8_t *f, size_t n, uint8_t code, uint8_t *len)
{
	for (size_t i = 42 + 240; i + 1 < n && f[i] != 255; i += 2u + f[i + 1]) {
		if (f[i] == 0) {
			i -= 1; /* a pad is one byte */
			continue;
		}
		if (f[i] == code && i + 2u + f[i + 1] <= n) {
			*len = f[i + 1];
			return f + i + 2;
		}
	}
	return NULL;
}

/* Checks an ARP request we wrote: from our MAC, 'spa' asks for 'tpa'. */
static void
check_arp(const uint8_t *f, size_t n, uint32_t spa, uint32_t tpa)
{
	static const uint8_t zero[6];
	struct vsw_arp a;

	CHECK_EQ((int)n, VSW_L3_FRAME_MIN);
	CHECK(!memcmp(f, bcast, 6) && !memcmp(f + 6, mac, 6));
	CHECK_EQ(vsw_get16(f + 12), VSW_ETHERTYPE_ARP);
	CHECK_OK(vsw_arp_parse(f, (uint32_t)n, &a));
	CHECK_EQ(a.op, 1);
	CHECK(!memcmp(a.sha, mac, 6) && !memcmp(a.tha, zero, 6));
	CHECK_EQ(a.spa, spa);
	CHECK_EQ(a.tpa, tpa);
}

/* Server answers 'f'; the client takes the answer. Returns its output. */
static size_t
exchange(struct vsw_dhcp_server *s, struct vsw_dhcpc *c, const uint8_t *f,
	 size_t n, uint64_t now, uint64_t wall, uint8_t *out, bool *uni,
	 int *ev)
{
	uint8_t reply[VSW_DHCP_FRAME_MAX];
	int r = vsw_dhcp_handle_frame(s, f, n, wall, reply);

	CHECK(r > 0);
	CHECK(vsw_dhcpc_is_reply(reply, (size_t)r));
	return vsw_dhcpc_input(c, reply, (size_t)r, now, wall, out, uni, ev);
}

/* From PROBING, no ARP answer: the probes until BOUND (announced). */
static void
probe_silence(struct vsw_dhcpc *c, uint64_t now)
{
	uint8_t f[VSW_DHCPC_FRAME_MAX];
	bool uni = true;
	size_t n;
	int ev = 0;

	for (int i = 1; i < VSW_DHCPC_PROBE_NUM; i++) {
		now += VSW_DHCPC_PROBE_INTERVAL_MS;
		CHECK_EQ((int)vsw_dhcpc_poll(c, now - 1, WALL0, f, &uni, &ev),
			 0);
		n = vsw_dhcpc_poll(c, now, WALL0, f, &uni, &ev);
		check_arp(f, n, 0, c->lease.addr);
		CHECK(!uni);
		CHECK_EQ(c->state, VSW_DHCPC_PROBING);
		CHECK(!c->have_lease);
	}
	CHECK_EQ(ev, 0);
	now += VSW_DHCPC_PROBE_INTERVAL_MS;
	CHECK_EQ((int)vsw_dhcpc_poll(c, now - 1, WALL0, f, &uni, &ev), 0);
	n = vsw_dhcpc_poll(c, now, WALL0, f, &uni, &ev);
	/* The announcement: our address as sender and target. */
	check_arp(f, n, c->lease.addr, c->lease.addr);
	CHECK(!uni);
	CHECK_EQ(ev, VSW_DHCPC_EV_BOUND);
	CHECK_EQ(c->state, VSW_DHCPC_BOUND);
	CHECK(c->have_lease);
}

/* From INIT to PROBING at time 'now' (the first probe checked). */
static void
ack(struct vsw_dhcp_server *s, struct vsw_dhcpc *c, uint64_t now)
{
	uint8_t f[VSW_DHCPC_FRAME_MAX], g[VSW_DHCPC_FRAME_MAX];
	bool uni = true;
	size_t n;
	int ev = 0;

	n = vsw_dhcpc_poll(c, now, WALL0, f, &uni, &ev);
	CHECK(n > 0 && !uni);
	CHECK_EQ(msg_type(f, n), 1);
	CHECK(f[0] == 0xff && !memcmp(f + 6, mac, 6));
	n = exchange(s, c, f, n, now, WALL0, g, &uni, &ev);
	CHECK(n > 0 && !uni);
	CHECK_EQ(msg_type(g, n), 3);
	CHECK_EQ(c->state, VSW_DHCPC_REQUESTING);
	n = exchange(s, c, g, n, now, WALL0, f, &uni, &ev);
	/* Not used yet: first the ARP probe for it (RFC 5227). */
	CHECK_EQ(ev, VSW_DHCPC_EV_PROBING);
	CHECK_EQ(c->state, VSW_DHCPC_PROBING);
	CHECK(!c->have_lease);
	check_arp(f, n, 0, c->lease.addr);
	CHECK(!uni);
}

/* From INIT to BOUND at time 'now' (probes no one answers). */
static void
bind(struct vsw_dhcp_server *s, struct vsw_dhcpc *c, uint64_t now)
{
	uint64_t probes = c->st.probes;

	ack(s, c, now);
	probe_silence(c, now);
	CHECK_EQ(c->st.probes - probes, VSW_DHCPC_PROBE_NUM);
}

static void
test_exchange_and_lease(void)
{
	struct vsw_dhcp_server *s = server(IP(198, 51, 100, 0), 20);
	struct vsw_dhcpc c;

	vsw_dhcpc_start(&c, mac, NULL, 1000, WALL0, 1);
	bind(s, &c, 1000);
	CHECK(c.lease.addr >= IP(198, 51, 100, 100) &&
	      c.lease.addr <= IP(198, 51, 100, 110));
	CHECK_EQ(c.lease.prefix_len, 24);
	CHECK_EQ(c.lease.router, GW);
	CHECK_EQ(c.lease.server, GW);
	CHECK_EQ(c.lease.lease_s, 20);
	CHECK_EQ(c.lease.t1_s, 10);
	CHECK_EQ(c.lease.t2_s, 14); /* the server's 20 / 8 * 7 */
	CHECK_EQ(vsw_dhcpc_next(&c, 1000), 10000);
	CHECK_EQ(c.st.announcements, 1);
	CHECK_EQ(c.st.declines, 0);
	vsw_dhcp_destroy(s);
}

/* ARP while probing that is no conflict: ours back, other addresses,
 * broken frames; then the address is bound all the same. */
static void
test_probe_no_conflict(void)
{
	struct vsw_dhcp_server *s = server(IP(198, 51, 100, 0), 60);
	uint8_t f[VSW_DHCPC_FRAME_MAX], g[VSW_DHCPC_FRAME_MAX];
	struct vsw_dhcpc c;
	uint32_t addr;
	bool uni;
	size_t n;
	int ev = 0;

	vsw_dhcpc_start(&c, mac, NULL, 0, WALL0, 21);
	ack(s, &c, 0);
	addr = c.lease.addr;
	/* Our own probe, looped back by the link. */
	n = vsw_arp_build(f, 1, mac, 0, NULL, addr);
	CHECK_EQ((int)vsw_dhcpc_input(&c, f, n, 10, WALL0, g, &uni, &ev), 0);
	/* Another host asking for, or answering about, another address. */
	n = vsw_arp_build(f, 1, other_mac, GW, NULL, addr + 1);
	CHECK_EQ((int)vsw_dhcpc_input(&c, f, n, 20, WALL0, g, &uni, &ev), 0);
	n = vsw_arp_build(f, 2, other_mac, addr + 1, mac, 0);
	CHECK_EQ((int)vsw_dhcpc_input(&c, f, n, 30, WALL0, g, &uni, &ev), 0);
	/* The gateway asking who has our address (sender not 0): only a
	 * conflict if it said it was its own; here it asks for it. */
	n = vsw_arp_build(f, 1, other_mac, GW, NULL, addr);
	CHECK_EQ((int)vsw_dhcpc_input(&c, f, n, 35, WALL0, g, &uni, &ev), 0);
	/* A conflicting reply cut short, and one of another hardware type. */
	n = vsw_arp_build(f, 2, other_mac, addr, mac, 0);
	CHECK_EQ((int)vsw_dhcpc_input(&c, f, VSW_ARP_FRAME_LEN - 1, 40, WALL0,
				      g, &uni, &ev), 0);
	f[15] = 6;
	CHECK_EQ((int)vsw_dhcpc_input(&c, f, n, 50, WALL0, g, &uni, &ev), 0);
	CHECK_EQ((int)vsw_dhcpc_input(&c, f, 13, 50, WALL0, g, &uni, &ev), 0);
	CHECK_EQ(ev, 0);
	CHECK_EQ(c.state, VSW_DHCPC_PROBING);
	probe_silence(&c, 0);
	CHECK_EQ(c.lease.addr, addr);
	CHECK_EQ(c.st.probes, VSW_DHCPC_PROBE_NUM);
	CHECK_EQ(c.st.announcements, 1);
	CHECK_EQ(c.st.declines, 0);
	/* Bound, a late "conflict" is not the probe's business. */
	n = vsw_arp_build(f, 2, other_mac, addr, mac, 0);
	CHECK_EQ((int)vsw_dhcpc_input(&c, f, n, 500, WALL0, g, &uni, &ev), 0);
	CHECK_EQ(c.state, VSW_DHCPC_BOUND);
	vsw_dhcp_destroy(s);
}

/* The DECLINE for 'addr' from server 'srv', field by field (RFC 2131
 * table 5 and 4.4.4: broadcast, ciaddr 0, secs 0, options 50 and 54,
 * no parameter list). */
static void
check_decline(const uint8_t *f, size_t n, uint32_t addr, uint32_t srv,
	      uint32_t old_xid)
{
	const uint8_t *b = f + 42, *v;
	uint8_t len;

	CHECK(n >= 42 + 300);
	CHECK(!memcmp(f, bcast, 6) && !memcmp(f + 6, mac, 6));
	CHECK_EQ(vsw_get16(f + 12), 0x0800);
	CHECK_EQ(vsw_get32(f + 14 + 12), 0);          /* IP source */
	CHECK_EQ(vsw_get32(f + 14 + 16), 0xffffffffu); /* IP destination */
	CHECK_EQ(f[14 + 9], 17);
	CHECK_EQ(vsw_get16(f + 34), 68);
	CHECK_EQ(vsw_get16(f + 36), 67);
	CHECK_EQ(b[0], 1);                 /* BOOTREQUEST */
	CHECK_EQ(b[1], 1);
	CHECK_EQ(b[2], 6);
	CHECK_EQ(b[3], 0);                 /* hops */
	CHECK(vsw_get32(b + 4) != old_xid); /* a transaction of its own */
	CHECK_EQ(vsw_get16(b + 8), 0);     /* secs */
	CHECK_EQ(vsw_get16(b + 10), 0);    /* flags */
	CHECK_EQ(vsw_get32(b + 12), 0);    /* ciaddr */
	CHECK_EQ(vsw_get32(b + 16), 0);    /* yiaddr */
	CHECK_EQ(vsw_get32(b + 20), 0);    /* siaddr */
	CHECK_EQ(vsw_get32(b + 24), 0);    /* giaddr */
	CHECK(!memcmp(b + 28, mac, 6));    /* chaddr */
	CHECK_EQ(vsw_get32(b + 236), 0x63825363u);
	CHECK_EQ(msg_type(f, n), 4);
	v = find_opt(f, n, 50, &len);
	CHECK(v && len == 4 && vsw_get32(v) == addr);
	v = find_opt(f, n, 54, &len);
	CHECK(v && len == 4 && vsw_get32(v) == srv);
	CHECK(!find_opt(f, n, 55, &len));  /* MUST NOT: parameter list */
	CHECK(!find_opt(f, n, 51, &len));  /* MUST NOT: lease time */
	v = find_opt(f, n, 56, &len);      /* SHOULD: a message */
	CHECK(v && len > 0);
}

/*
 * Conflicts: another host answers the probe (a reply with the address as
 * sender), or probes for it at the same time. DECLINE, nothing applied,
 * 10 s of quiet, DISCOVER, and the server hands out another address.
 */
static void
test_probe_conflict(void)
{
	struct vsw_dhcp_server *s = server(IP(198, 51, 100, 0), 60);
	uint8_t f[VSW_DHCPC_FRAME_MAX], g[VSW_DHCPC_FRAME_MAX];
	struct vsw_dhcp_stats st;
	struct vsw_dhcpc c;
	uint32_t addr, xid;
	uint64_t t;
	bool uni = true;
	size_t n;
	int ev = 0;

	vsw_dhcpc_start(&c, mac, NULL, 0, WALL0, 22);
	ack(s, &c, 0);
	addr = c.lease.addr;
	xid = c.xid;
	/* The holder's answer to the probe (to our MAC, its address). */
	n = vsw_arp_build(f, 2, other_mac, addr, mac, 0);
	n = vsw_dhcpc_input(&c, f, n, 150, WALL0, g, &uni, &ev);
	CHECK(!uni);
	check_decline(g, n, addr, GW, xid);
	CHECK_EQ(ev, VSW_DHCPC_EV_DECLINED);
	CHECK_EQ(c.state, VSW_DHCPC_INIT);
	CHECK(!c.have_lease);
	CHECK_EQ(c.lease.addr, 0);
	CHECK_EQ(c.st.declines, 1);
	CHECK_EQ(c.declined, addr);
	CHECK(!memcmp(c.declined_by, other_mac, 6));
	/* The server (ours, as a stand-in) takes the DECLINE. */
	CHECK_EQ(vsw_dhcp_handle_frame(s, g, n, WALL0, f), 0);
	vsw_dhcp_get_stats(s, &st);
	CHECK_EQ(st.declines, 1);
	/* Quiet for VSW_DHCPC_DECLINE_WAIT_MS (no more probes, no
	 * announcement), then DISCOVER. */
	ev = 0;
	CHECK_EQ(vsw_dhcpc_next(&c, 150), VSW_DHCPC_DECLINE_WAIT_MS);
	for (t = 150; t < 150 + VSW_DHCPC_DECLINE_WAIT_MS; t += 50)
		CHECK_EQ((int)vsw_dhcpc_poll(&c, t, WALL0, f, &uni, &ev), 0);
	CHECK_EQ(c.st.probes, 1);
	CHECK_EQ(c.st.announcements, 0);
	/* DISCOVER again: the declined address is not offered again. */
	ack(s, &c, t);
	CHECK(c.lease.addr != addr);
	CHECK_EQ(c.st.discovers, 2);
	probe_silence(&c, t);
	CHECK_EQ(ev, 0);
	CHECK_EQ(c.st.declines, 1);

	/* Another host probing for the same address at the same time
	 * (sender 0, target it), in INIT-REBOOT after the restart. */
	{
		struct vsw_dhcpc_lease saved = c.lease;

		vsw_dhcpc_start(&c, mac, &saved, 60000, WALL0 + 20, 23);
		n = vsw_dhcpc_poll(&c, 60000, WALL0 + 20, f, &uni, &ev);
		CHECK_EQ(msg_type(f, n), 3);
		/* A slow server: the ACK 2.5 s after the REQUEST (whose
		 * 'secs' counted from 60 s; the DECLINE's must be 0). */
		n = exchange(s, &c, f, n, 62500, WALL0 + 22, g, &uni, &ev);
		CHECK_EQ(ev, VSW_DHCPC_EV_PROBING);
		check_arp(g, n, 0, saved.addr);
		xid = c.xid;
		ev = 0;
		n = vsw_arp_build(f, 1, other_mac, 0, NULL, saved.addr);
		n = vsw_dhcpc_input(&c, f, n, 62600, WALL0 + 22, g, &uni, &ev);
		check_decline(g, n, saved.addr, GW, xid);
		CHECK_EQ(ev, VSW_DHCPC_EV_DECLINED);
		CHECK_EQ(c.state, VSW_DHCPC_INIT);
		CHECK_EQ(c.st.reboots, 1);
	}
	vsw_dhcp_destroy(s);
}

static void
test_retransmission_backoff(void)
{
	uint8_t f[VSW_DHCPC_FRAME_MAX];
	struct vsw_dhcpc c;
	uint64_t t = 0, last = 0, gap[4];
	bool uni;
	int ev = 0;

	vsw_dhcpc_start(&c, mac, NULL, 0, WALL0, 2);
	CHECK(vsw_dhcpc_poll(&c, 0, WALL0, f, &uni, &ev) > 0);
	for (int i = 0; i < 4; i++) {
		/* Step 100 ms at a time until the next DISCOVER. */
		do
			t += 100;
		while (!vsw_dhcpc_poll(&c, t, WALL0, f, &uni, &ev));
		CHECK_EQ(msg_type(f, VSW_DHCPC_FRAME_MAX), 1);
		gap[i] = t - last;
		last = t;
	}
	/* 4, 8, 16, 32 s, each +-1 s (and the 100 ms step). */
	for (int i = 0; i < 4; i++) {
		uint64_t want = 4000u << i;

		CHECK(gap[i] >= want - 1000 && gap[i] <= want + 1100);
	}
	CHECK_EQ(c.st.discovers, 5);
	CHECK_EQ(ev, 0);
}

static void
test_renew_rebind_expire(void)
{
	struct vsw_dhcp_server *s = server(IP(198, 51, 100, 0), 20);
	uint8_t f[VSW_DHCPC_FRAME_MAX], g[VSW_DHCPC_FRAME_MAX];
	struct vsw_dhcpc c;
	uint32_t addr;
	bool uni = false;
	size_t n;
	int ev = 0;

	vsw_dhcpc_start(&c, mac, NULL, 0, WALL0, 3);
	bind(s, &c, 0);
	addr = c.lease.addr;
	CHECK_EQ((int)vsw_dhcpc_poll(&c, 9999, WALL0 + 9, f, &uni, &ev), 0);
	/* T1: REQUEST unicast to the server, from the leased address. */
	n = vsw_dhcpc_poll(&c, 10000, WALL0 + 10, f, &uni, &ev);
	CHECK(n > 0 && uni);
	CHECK_EQ(msg_type(f, n), 3);
	CHECK_EQ(vsw_get32(f + 14 + 12), addr);
	CHECK_EQ(vsw_get32(f + 14 + 16), GW);
	CHECK_EQ(vsw_get32(f + 42 + 12), addr); /* ciaddr */
	CHECK_EQ(c.state, VSW_DHCPC_RENEWING);
	ev = 0;
	n = exchange(s, &c, f, n, 10000, WALL0 + 10, g, &uni, &ev);
	CHECK_EQ(ev, VSW_DHCPC_EV_RENEWED);
	CHECK_EQ(c.st.renewals, 1);
	CHECK_EQ(c.lease.addr, addr);
	/* T1 again (10 s on); no answer; T2 (14 s after the renewal):
	 * broadcast REQUEST. */
	CHECK(vsw_dhcpc_poll(&c, 20000, WALL0 + 20, f, &uni, &ev) > 0 && uni);
	n = vsw_dhcpc_poll(&c, 24000, WALL0 + 24, f, &uni, &ev);
	CHECK(n > 0 && !uni);
	CHECK_EQ(c.state, VSW_DHCPC_REBINDING);
	CHECK_EQ(vsw_get32(f + 14 + 16), 0xffffffffu);
	ev = 0;
	exchange(s, &c, f, n, 24000, WALL0 + 24, g, &uni, &ev);
	CHECK_EQ(ev, VSW_DHCPC_EV_RENEWED);
	CHECK_EQ(c.st.rebinds, 1);
	/* Now nobody answers: at expiry (20 s from the REQUEST at 20 s that
	 * began the exchange) the address goes and DISCOVER starts again. */
	ev = 0;
	for (uint64_t t = 24000; t < 40000; t += 500) {
		vsw_dhcpc_poll(&c, t, WALL0 + t / 1000, f, &uni, &ev);
		CHECK_EQ(ev, 0);
		CHECK(c.have_lease);
	}
	n = vsw_dhcpc_poll(&c, 40000, WALL0 + 40, f, &uni, &ev);
	CHECK_EQ(ev, VSW_DHCPC_EV_LOST);
	CHECK(!c.have_lease);
	CHECK_EQ(msg_type(f, n), 1);
	CHECK_EQ(c.st.expiries, 1);
	vsw_dhcp_destroy(s);
}

static void
test_init_reboot(void)
{
	struct vsw_dhcp_server *s = server(IP(198, 51, 100, 0), 60);
	struct vsw_dhcp_server *other = server(IP(203, 0, 113, 0), 60);
	uint8_t f[VSW_DHCPC_FRAME_MAX], g[VSW_DHCPC_FRAME_MAX];
	struct vsw_dhcpc_lease saved;
	struct vsw_dhcpc c;
	bool uni;
	size_t n;
	int ev = 0;

	vsw_dhcpc_start(&c, mac, NULL, 0, WALL0, 4);
	bind(s, &c, 0);
	saved = c.lease;
	/* A restart 30 s later: REQUEST for the saved address, no server id. */
	vsw_dhcpc_start(&c, mac, &saved, 500, WALL0 + 30, 5);
	CHECK_EQ(c.state, VSW_DHCPC_REBOOTING);
	n = vsw_dhcpc_poll(&c, 500, WALL0 + 30, f, &uni, &ev);
	CHECK(n > 0 && !uni);
	CHECK_EQ(msg_type(f, n), 3);
	CHECK_EQ(vsw_get32(f + 42 + 12), 0); /* no ciaddr */
	n = exchange(s, &c, f, n, 500, WALL0 + 30, g, &uni, &ev);
	/* INIT-REBOOT's ACK is probed too. */
	CHECK_EQ(ev, VSW_DHCPC_EV_PROBING);
	check_arp(g, n, 0, saved.addr);
	probe_silence(&c, 500);
	CHECK_EQ(c.lease.addr, saved.addr);
	CHECK_EQ(c.st.reboots, 1);
	CHECK_EQ(c.st.discovers, 0);
	/* Moved to another network: that server says NAK; start over. */
	vsw_dhcpc_start(&c, mac, &saved, 0, WALL0 + 40, 6);
	n = vsw_dhcpc_poll(&c, 0, WALL0 + 40, f, &uni, &ev);
	ev = 0;
	exchange(other, &c, f, n, 0, WALL0 + 40, g, &uni, &ev);
	CHECK_EQ(c.st.naks, 1);
	CHECK_EQ(ev, 0); /* nothing was in use yet */
	n = vsw_dhcpc_poll(&c, 0, WALL0 + 40, f, &uni, &ev);
	CHECK_EQ(msg_type(f, n), 1);
	/* Bound, then moved to another network while renewing: that
	 * server's NAK takes the address away, DISCOVER starts at once. */
	vsw_dhcpc_start(&c, mac, NULL, 0, WALL0, 10);
	bind(s, &c, 0);
	n = vsw_dhcpc_poll(&c, 30000, WALL0 + 30, f, &uni, &ev);
	CHECK(n > 0 && uni);
	ev = 0;
	exchange(other, &c, f, n, 30000, WALL0 + 30, g, &uni, &ev);
	CHECK_EQ(ev, VSW_DHCPC_EV_LOST);
	CHECK(!c.have_lease);
	CHECK_EQ(c.st.naks, 1);
	n = vsw_dhcpc_poll(&c, 30000, WALL0 + 30, f, &uni, &ev);
	CHECK_EQ(msg_type(f, n), 1);
	/* A second NAK in a row: the next DISCOVER waits 3-5 s. */
	c.state = VSW_DHCPC_REQUESTING;
	c.offered = saved.addr;
	c.offer_server = IP(203, 0, 113, 1);
	c.next_ms = 31000;
	n = vsw_dhcpc_poll(&c, 31000, WALL0 + 31, f, &uni, &ev);
	CHECK(n > 0);
	ev = 0;
	exchange(other, &c, f, n, 31000, WALL0 + 31, g, &uni, &ev);
	CHECK_EQ(c.st.naks, 2);
	CHECK_EQ((int)vsw_dhcpc_poll(&c, 33999, WALL0 + 33, f, &uni, &ev), 0);
	CHECK(vsw_dhcpc_next(&c, 31000) >= 3000);
	/* An expired saved lease is not asked for. */
	vsw_dhcpc_start(&c, mac, &saved, 0, WALL0 + 61, 7);
	CHECK_EQ(c.state, VSW_DHCPC_INIT);
	vsw_dhcp_destroy(s);
	vsw_dhcp_destroy(other);
}

static void
test_foreign_replies_and_release(void)
{
	struct vsw_dhcp_server *s = server(IP(198, 51, 100, 0), 60);
	uint8_t f[VSW_DHCPC_FRAME_MAX], reply[VSW_DHCP_FRAME_MAX];
	struct vsw_dhcpc c;
	bool uni;
	size_t n;
	int r, ev = 0;

	vsw_dhcpc_start(&c, mac, NULL, 0, WALL0, 8);
	n = vsw_dhcpc_poll(&c, 0, WALL0, f, &uni, &ev);
	r = vsw_dhcp_handle_frame(s, f, n, WALL0, reply);
	CHECK(r > 0);
	/* Another transaction, another client, cut short: ignored. */
	reply[42 + 4] ^= 1;
	CHECK_EQ((int)vsw_dhcpc_input(&c, reply, (size_t)r, 0, WALL0, f, &uni,
				      &ev), 0);
	reply[42 + 4] ^= 1;
	reply[42 + 28 + 5] ^= 1;
	vsw_dhcpc_input(&c, reply, (size_t)r, 0, WALL0, f, &uni, &ev);
	reply[42 + 28 + 5] ^= 1;
	vsw_dhcpc_input(&c, reply, 200, 0, WALL0, f, &uni, &ev);
	CHECK_EQ(c.st.bad_replies, 3);
	CHECK_EQ(c.state, VSW_DHCPC_SELECTING);
	vsw_dhcp_destroy(s);

	s = server(IP(198, 51, 100, 0), 60);
	vsw_dhcpc_start(&c, mac, NULL, 0, WALL0, 9);
	bind(s, &c, 0);
	n = vsw_dhcpc_release(&c, f, &uni);
	CHECK(n > 0 && uni);
	CHECK_EQ(msg_type(f, n), 7);
	CHECK(!c.have_lease);
	/* The server frees it: nothing to answer. */
	CHECK_EQ(vsw_dhcp_handle_frame(s, f, n, WALL0 + 1, reply), 0);
	CHECK_EQ((int)vsw_dhcpc_release(&c, f, &uni), 0);
	vsw_dhcp_destroy(s);
}

static void
test_lease_text(void)
{
	struct vsw_dhcpc_lease l = {
		.addr = IP(198, 51, 100, 104), .prefix_len = 24, .router = GW,
		.server = GW, .lease_s = 20, .t1_s = 10, .t2_s = 17,
		.acquired_wall = WALL0,
	}, back;
	char buf[256];

	CHECK(vsw_dhcpc_lease_format(&l, buf, sizeof(buf)) > 0);
	CHECK_OK(vsw_dhcpc_lease_parse(buf, &back));
	CHECK_EQ(back.addr, l.addr);
	CHECK_EQ(back.router, GW);
	CHECK_EQ(back.acquired_wall, WALL0);
	CHECK_EQ(vsw_dhcpc_lease_parse("address=1.2.3.4/24", &back), -EINVAL);
	CHECK_EQ(vsw_dhcpc_lease_parse("address=1.2.3.4/24 router=9.9.9.9 "
				       "server=1.2.3.1 lease=5 t1=2 t2=4 "
				       "acquired=1", &back), -EINVAL);
	CHECK_EQ(vsw_dhcpc_lease_parse("address=1.2.3.4/24 server=1.2.3.1 "
				       "lease=5 t1=4 t2=2 acquired=1", &back),
		 -EINVAL);
}

int
main(void)
{
	RUN_TEST(test_exchange_and_lease);
	RUN_TEST(test_probe_no_conflict);
	RUN_TEST(test_probe_conflict);
	RUN_TEST(test_retransmission_backoff);
	RUN_TEST(test_renew_rebind_expire);
	RUN_TEST(test_init_reboot);
	RUN_TEST(test_foreign_replies_and_release);
	RUN_TEST(test_lease_text);
	return 0;
}
