/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: DHCP frames from VMs into the server, then the lease
 * file parser. One server lives across inputs so state builds up.
 * Inputs starting with 'C' are replies from an upstream server into the
 * uplink's client, in the state the next byte picks (the xid and MAC are
 * patched to the client's, so that the options get parsed); 'A' ARP
 * frames into the client while it probes an ACKed address (or is bound,
 * or in INIT: the next byte says, and whether the frame's sender or
 * target address is patched to the probed one); 'P' the client's
 * saved-lease text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vswitch/dhcp-client.h"
#include "vswitch/dhcp-server.h"
#include "vswitch/l3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vsw_dhcp_server *srv;

static void
setup(void)
{
	struct vsw_dhcp_config c = {
		.subnet = 0xc0a83200, .prefix_len = 24,
		.server_ip = 0xc0a83202, .router = 0xc0a83202,
		.pool_first = 0xc0a83280, .pool_last = 0xc0a83290,
		.nreservations = 1,
		.reservations = { { { 2, 0, 0, 0, 0, 1 }, 0xc0a8320a } },
	};

	vsw_dhcp_create(&c, &srv, NULL, 0);
}

/* The uplink client's MAC, and the lease it holds or is offered. */
static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 0x42 };
static const struct vsw_dhcpc_lease saved = {
	.addr = 0xc0a80164, .prefix_len = 24, .router = 0xc0a80101,
	.server = 0xc0a80101, .lease_s = 60, .t1_s = 30, .t2_s = 52,
	.acquired_wall = 1000,
};

static void
client_input(const uint8_t *data, size_t size)
{
	uint8_t out[VSW_DHCPC_FRAME_MAX], *f;
	struct vsw_dhcpc c;
	uint64_t now = 5000;
	unsigned int state;
	bool uni;
	int ev = 0;

	if (size < 2)
		return;
	state = data[1] % 5;
	data += 2;
	size -= 2;
	vsw_dhcpc_start(&c, mac, state == 2 ? &saved : NULL, now, 1010, 7);
	vsw_dhcpc_poll(&c, now, 1010, out, &uni, &ev);
	if (state == 1 || state >= 3) {
		/* Through an offer (and an ACK) built by the test helpers. */
		c.state = VSW_DHCPC_REQUESTING;
		c.offered = saved.addr;
		c.offer_server = saved.server;
	}
	if (state >= 3) {
		c.lease = saved;
		c.lease.acquired_ms = now;
		c.have_lease = true;
		c.state = VSW_DHCPC_BOUND;
		now += state == 3 ? 31000 : 53000;
		vsw_dhcpc_poll(&c, now, 1010, out, &uni, &ev);
	}
	f = malloc(size ? size : 1);
	if (!f)
		return;
	memcpy(f, data, size);
	if (size >= 14 + 20 + 8 + 34 && (f[14] >> 4) == 4) {
		size_t b = 14 + (size_t)(f[14] & 15) * 4 + 8;

		if (b + 34 <= size) {
			vsw_put32(f + b + 4, c.xid);
			memcpy(f + b + 28, mac, 6);
		}
	}
	vsw_dhcpc_is_reply(f, size);
	vsw_dhcpc_input(&c, f, size, now + 10, 1010, out, &uni, &ev);
	/* Whatever it holds now must make sense to the timers. */
	vsw_dhcpc_poll(&c, now + 100000, 1110, out, &uni, &ev);
	vsw_dhcpc_release(&c, out, &uni);
	free(f);
}

static void
arp_input(const uint8_t *data, size_t size)
{
	struct vsw_dhcpc_lease l = saved;
	uint8_t out[VSW_DHCPC_FRAME_MAX], *f;
	uint64_t now = 5000;
	struct vsw_dhcpc c;
	unsigned int how;
	bool uni;
	int ev = 0;

	if (size < 2)
		return;
	how = data[1];
	data += 2;
	size -= 2;
	l.acquired_ms = now;
	vsw_dhcpc_start(&c, mac, NULL, now, 1010, 11);
	if (how % 3 == 0) {
		/* As an ACK leaves it: one probe out. */
		c.lease = l;
		c.state = VSW_DHCPC_PROBING;
		c.tries = 1;
		c.next_ms = now + VSW_DHCPC_PROBE_INTERVAL_MS;
	} else if (how % 3 == 1) {
		c.lease = l;
		c.have_lease = true;
		c.state = VSW_DHCPC_BOUND;
		c.next_ms = now + 30000;
	}
	f = malloc(size ? size : 1);
	if (!f)
		return;
	memcpy(f, data, size);
	/* Arbitrary bytes seldom name the probed address: help them. */
	if (size >= 14 + 28) {
		if (how & 4)
			vsw_put32(f + 14 + 14, l.addr);
		if (how & 8)
			vsw_put32(f + 14 + 24, l.addr);
	}
	vsw_dhcpc_input(&c, f, size, now + 10, 1010, out, &uni, &ev);
	if (c.state == VSW_DHCPC_PROBING && (ev & VSW_DHCPC_EV_DECLINED))
		abort(); /* a DECLINE leaves PROBING */
	while (vsw_dhcpc_poll(&c, now + 1000, 1011, out, &uni, &ev))
		;
	vsw_dhcpc_poll(&c, now + 100000, 1110, out, &uni, &ev);
	vsw_dhcpc_release(&c, out, &uni);
	free(f);
}

static void
lease_text(const uint8_t *data, size_t size)
{
	struct vsw_dhcpc_lease l;
	char *t = malloc(size + 1);

	if (!t)
		return;
	memcpy(t, data, size);
	t[size] = '\0';
	if (vsw_dhcpc_lease_parse(t, &l) == 0) {
		char buf[256];

		if (vsw_dhcpc_lease_format(&l, buf, sizeof(buf)) < 0 ||
		    vsw_dhcpc_lease_parse(buf, &l) < 0)
			abort(); /* what it wrote it must read back */
	}
	free(t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t now = 1700000000;
	uint8_t reply[VSW_DHCP_FRAME_MAX];
	struct vsw_dhcp_lease leases[8];
	FILE *f;

	if (size && data[0] == 'C') {
		client_input(data, size);
		return 0;
	}
	if (size && data[0] == 'A') {
		arp_input(data, size);
		return 0;
	}
	if (size && data[0] == 'P') {
		lease_text(data + 1, size - 1);
		return 0;
	}
	if (!srv)
		setup();
	if (size && data[0] == 'L') {
		/* A lease file. */
		f = fmemopen((void *)(data + 1), size - 1, "r");
		if (f) {
			vsw_dhcp_load(srv, f, now, NULL);
			fclose(f);
		}
		return 0;
	}
	vsw_dhcp_is_server_frame(data, size);
	vsw_dhcp_handle_frame(srv, data, size, now, reply);
	vsw_dhcp_leases(srv, leases, 8);
	now += 7;
	return 0;
}
