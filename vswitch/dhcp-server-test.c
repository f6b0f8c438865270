/* SPDX-License-Identifier: MIT */
/*
 * The DHCP server's protocol behaviour, frame in, frame out: the
 * DISCOVER/OFFER/REQUEST/ACK exchange with checksums and destinations,
 * stickiness, reservations, exhaustion, other servers, NAK, RELEASE,
 * DECLINE, INFORM, expiry, persistence and malformed input.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tests/lib/testutil.h"
#include "vswitch/dhcp-frame-util.h"
#include "vswitch/dhcp-server.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))
#define GW IP(192, 168, 50, 2)
#define NOW 1700000000ull

static const uint8_t gw_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };

static struct vsw_dhcp_config
lab_config(void)
{
	struct vsw_dhcp_config c = {
		.subnet = IP(192, 168, 50, 0),
		.prefix_len = 24,
		.server_ip = GW,
		.router = GW,
		.dns = { GW, 0 },
		.domain = "lab.test",
		.pool_first = IP(192, 168, 50, 128),
		.pool_last = IP(192, 168, 50, 254),
		.lease_secs = 1800,
	};

	memcpy(c.server_mac, gw_mac, 6);
	return c;
}

static struct vsw_dhcp_server *
make(const struct vsw_dhcp_config *c)
{
	struct vsw_dhcp_server *s;
	char err[128];

	CHECK_OK(vsw_dhcp_create(c, &s, err, sizeof(err)));
	return s;
}

static int
ask(struct vsw_dhcp_server *s, const struct dhcp_client_req *req,
    uint64_t now, struct dhcp_test_reply *rep)
{
	uint8_t in[600], out[VSW_DHCP_FRAME_MAX];
	size_t n = dhcp_test_build_request(req, in);
	int rc;

	CHECK(vsw_dhcp_is_request_frame(in, n));
	rc = vsw_dhcp_handle_frame(s, in, n, now, out);
	if (rc > 0) {
		CHECK(rc <= VSW_DHCP_FRAME_MAX);
		CHECK(dhcp_test_parse_reply(out, (size_t)rc, rep));
		CHECK(rep->ip_csum_ok && rep->udp_csum_ok);
		CHECK(vsw_dhcp_is_server_frame(out, (size_t)rc));
		CHECK_EQ(rep->xid, req->xid);
		CHECK(!memcmp(rep->chaddr, req->mac, 6));
	}
	return rc;
}

static uint32_t
dora(struct vsw_dhcp_server *s, const uint8_t *mac, uint64_t now)
{
	struct dhcp_client_req req = { .type = 1, .xid = 7 };
	struct dhcp_test_reply rep;

	memcpy(req.mac, mac, 6);
	CHECK(ask(s, &req, now, &rep) > 0);
	CHECK_EQ(rep.type, 2);
	req.type = 3;
	req.requested_ip = rep.yiaddr;
	req.server_id = rep.server_id;
	CHECK(ask(s, &req, now, &rep) > 0);
	CHECK_EQ(rep.type, 5);
	return rep.yiaddr;
}

static void
test_config_checks(void)
{
	struct vsw_dhcp_config c = lab_config();
	struct vsw_dhcp_server *s;
	char err[128];

	c.prefix_len = 31;
	CHECK_EQ(vsw_dhcp_create(&c, &s, err, sizeof(err)), -EINVAL);
	c = lab_config();
	c.subnet |= 1;
	CHECK_EQ(vsw_dhcp_create(&c, &s, err, sizeof(err)), -EINVAL);
	c = lab_config();
	c.server_ip = IP(192, 168, 50, 200);
	CHECK_EQ(vsw_dhcp_create(&c, &s, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "pool"));
	c = lab_config();
	c.pool_last = IP(192, 168, 50, 255);
	CHECK_EQ(vsw_dhcp_create(&c, &s, err, sizeof(err)), -EINVAL);
	c = lab_config();
	c.pool_first = IP(10, 0, 0, 5);
	CHECK_EQ(vsw_dhcp_create(&c, &s, err, sizeof(err)), -EINVAL);
	c = lab_config();
	c.nreservations = 2;
	c.reservations[0].ip = IP(192, 168, 50, 10);
	c.reservations[1].ip = IP(192, 168, 50, 10);
	c.reservations[1].mac[5] = 1;
	CHECK_EQ(vsw_dhcp_create(&c, &s, err, sizeof(err)), -EINVAL);
}

static void
test_dora_and_reply_fields(void)
{
	struct vsw_dhcp_config c = lab_config();
	struct vsw_dhcp_server *s = make(&c);
	struct dhcp_client_req req = { .type = 1, .xid = 0x1234,
				       .mac = { 0x52, 0x54, 0, 0, 0, 1 },
				       .hostname = "vm1" };
	struct dhcp_test_reply rep;
	struct vsw_dhcp_lease leases[4];

	CHECK(ask(s, &req, NOW, &rep) > 0);
	CHECK_EQ(rep.type, 2);
	CHECK(rep.yiaddr >= c.pool_first && rep.yiaddr <= c.pool_last);
	CHECK_EQ(rep.server_id, GW);
	CHECK_EQ(rep.ip_src, GW);
	/* No broadcast flag, no ciaddr: unicast to the offered address. */
	CHECK_EQ(rep.ip_dst, rep.yiaddr);
	CHECK(!memcmp(rep.eth_dst, req.mac, 6));
	CHECK_EQ(rep.lease, 1800);
	CHECK_EQ(rep.mask, IP(255, 255, 255, 0));
	CHECK_EQ(rep.router, GW);
	CHECK_EQ(rep.broadcast, IP(192, 168, 50, 255));
	CHECK_EQ(rep.dns0, GW);
	CHECK(!strcmp(rep.domain, "lab.test"));
	/* An offer is held, not bound. */
	CHECK_EQ(vsw_dhcp_leases(s, leases, 4), 1);
	CHECK_EQ(leases[0].state, VSW_DHCP_OFFERED);
	req.type = 3;
	req.requested_ip = rep.yiaddr;
	req.server_id = GW;
	req.broadcast = true;
	CHECK(ask(s, &req, NOW, &rep) > 0);
	CHECK_EQ(rep.type, 5);
	CHECK_EQ(rep.ip_dst, 0xffffffffu);
	CHECK_EQ(rep.eth_dst[0], 0xff);
	CHECK_EQ(vsw_dhcp_leases(s, leases, 4), 1);
	CHECK_EQ(leases[0].state, VSW_DHCP_BOUND);
	CHECK_EQ(leases[0].expires, NOW + 1800);
	CHECK(!strcmp(leases[0].hostname, "vm1"));
	vsw_dhcp_destroy(s);
}

static void
test_same_client_same_address(void)
{
	struct vsw_dhcp_config c = lab_config();
	struct vsw_dhcp_server *s = make(&c);
	const uint8_t a[6] = { 2, 0, 0, 0, 0, 0xa }, b[6] = { 2, 0, 0, 0, 0, 0xb };
	uint32_t ipa = dora(s, a, NOW), ipb = dora(s, b, NOW);

	CHECK(ipa != ipb);
	CHECK_EQ(dora(s, a, NOW + 10), ipa);
	/* After expiry the address waits for its old client. */
	CHECK_EQ(dora(s, a, NOW + 5000), ipa);
	vsw_dhcp_destroy(s);
}

static void
test_reservation(void)
{
	struct vsw_dhcp_config c = lab_config();
	struct vsw_dhcp_server *s;
	const uint8_t mac[6] = { 2, 0, 0, 0, 0x77, 0x77 };

	c.nreservations = 1;
	memcpy(c.reservations[0].mac, mac, 6);
	c.reservations[0].ip = IP(192, 168, 50, 10);
	s = make(&c);
	CHECK_EQ(dora(s, mac, NOW), IP(192, 168, 50, 10));
	vsw_dhcp_destroy(s);
}

static void
test_pool_exhaustion(void)
{
	struct vsw_dhcp_config c = lab_config();
	struct vsw_dhcp_server *s;
	struct dhcp_client_req req = { .type = 1, .mac = { 2, 0, 0, 0, 0, 3 } };
	struct dhcp_test_reply rep;
	struct vsw_dhcp_stats st;

	c.pool_last = c.pool_first + 1;
	s = make(&c);
	dora(s, (const uint8_t[6]){ 2, 0, 0, 0, 0, 1 }, NOW);
	dora(s, (const uint8_t[6]){ 2, 0, 0, 0, 0, 2 }, NOW);
	CHECK_EQ(ask(s, &req, NOW, &rep), 0);
	vsw_dhcp_get_stats(s, &st);
	CHECK_EQ(st.pool_exhausted, 1);
	/* Leases lapse, the pool refills. */
	CHECK(ask(s, &req, NOW + 1801, &rep) > 0);
	vsw_dhcp_destroy(s);
}

static void
test_request_for_other_server_and_nak(void)
{
	struct vsw_dhcp_config c = lab_config();
	struct vsw_dhcp_server *s = make(&c);
	struct dhcp_client_req req = { .type = 1, .mac = { 2, 0, 0, 0, 1, 1 } };
	struct dhcp_test_reply rep;
	struct vsw_dhcp_lease l[2];
	uint32_t taken;

	CHECK(ask(s, &req, NOW, &rep) > 0);
	req.type = 3;
	req.requested_ip = rep.yiaddr;
	req.server_id = IP(192, 168, 50, 99);
	CHECK_EQ(ask(s, &req, NOW, &rep), 0);
	CHECK_EQ(vsw_dhcp_leases(s, l, 2), 0);
	/* INIT-REBOOT asking for someone else's address: NAK, broadcast. */
	taken = dora(s, (const uint8_t[6]){ 2, 0, 0, 0, 2, 2 }, NOW);
	req.server_id = 0;
	req.requested_ip = taken;
	CHECK(ask(s, &req, NOW, &rep) > 0);
	CHECK_EQ(rep.type, 6);
	CHECK_EQ(rep.ip_dst, 0xffffffffu);
	CHECK(!rep.has_lease);
	/* An address outside the subnet: NAK. */
	req.requested_ip = IP(10, 1, 1, 1);
	CHECK(ask(s, &req, NOW, &rep) > 0);
	CHECK_EQ(rep.type, 6);
	/* A free pool address after a switch restart: granted. */
	req.requested_ip = IP(192, 168, 50, 200);
	CHECK(ask(s, &req, NOW, &rep) > 0);
	CHECK_EQ(rep.type, 5);
	CHECK_EQ(rep.yiaddr, IP(192, 168, 50, 200));
	vsw_dhcp_destroy(s);
}

static void
test_renew_release_decline_inform(void)
{
	struct vsw_dhcp_config c = lab_config();
	struct vsw_dhcp_server *s = make(&c);
	const uint8_t mac[6] = { 2, 0, 0, 0, 3, 3 };
	struct dhcp_client_req req = { .xid = 9 };
	struct dhcp_test_reply rep;
	struct vsw_dhcp_lease l[2];
	uint32_t ip = dora(s, mac, NOW);

	memcpy(req.mac, mac, 6);
	/* RENEWING: unicast from ciaddr, answered to ciaddr. */
	req.type = 3;
	req.ciaddr = ip;
	CHECK(ask(s, &req, NOW + 900, &rep) > 0);
	CHECK_EQ(rep.type, 5);
	CHECK_EQ(rep.ip_dst, ip);
	CHECK_EQ(vsw_dhcp_leases(s, l, 2), 1);
	CHECK_EQ(l[0].expires, NOW + 900 + 1800);
	/* RELEASE frees it. */
	req.type = 7;
	CHECK_EQ(ask(s, &req, NOW + 901, &rep), 0);
	CHECK_EQ(vsw_dhcp_leases(s, l, 2), 0);
	/* DECLINE keeps an address out of the pool. */
	ip = dora(s, mac, NOW + 902);
	req.type = 4;
	req.ciaddr = 0;
	req.requested_ip = ip;
	CHECK_EQ(ask(s, &req, NOW + 903, &rep), 0);
	CHECK_EQ(vsw_dhcp_leases(s, l, 2), 1);
	CHECK_EQ(l[0].state, VSW_DHCP_DECLINED);
	CHECK(dora(s, mac, NOW + 904) != ip);
	/* INFORM: configuration only, no lease. */
	req.type = 8;
	req.ciaddr = IP(192, 168, 50, 20);
	req.requested_ip = 0;
	CHECK(ask(s, &req, NOW + 905, &rep) > 0);
	CHECK_EQ(rep.type, 5);
	CHECK_EQ(rep.yiaddr, 0);
	CHECK_EQ(rep.ciaddr, IP(192, 168, 50, 20));
	CHECK(!rep.has_lease);
	CHECK_EQ(rep.router, GW);
	vsw_dhcp_destroy(s);
}

static void
test_persistence(void)
{
	struct vsw_dhcp_config c = lab_config();
	struct vsw_dhcp_server *s = make(&c), *t;
	const uint8_t a[6] = { 2, 0, 0, 0, 4, 1 }, b[6] = { 2, 0, 0, 0, 4, 2 };
	uint32_t ipa = dora(s, a, NOW), ipb = dora(s, b, NOW + 1000);
	struct vsw_dhcp_lease l[4];
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int bad = 0;

	CHECK(f);
	CHECK_OK(vsw_dhcp_save(s, f));
	fclose(f);
	t = make(&c);
	f = fmemopen(text, len, "r");
	/* At NOW + 1900, a's lease has expired and only b's comes back. */
	CHECK_EQ(vsw_dhcp_load(t, f, NOW + 1900, &bad), 1);
	fclose(f);
	CHECK_EQ(vsw_dhcp_leases(t, l, 4), 1);
	CHECK_EQ(l[0].ip, ipb);
	CHECK(ipa != ipb);
	CHECK_EQ(dora(t, b, NOW + 1901), ipb);
	f = fmemopen("02:00:00:00:04:01 192.168.50.300 99999999999\n", 46, "r");
	CHECK_EQ(vsw_dhcp_load(t, f, NOW, &bad), -EINVAL);
	CHECK_EQ(bad, 1);
	fclose(f);
	free(text);
	vsw_dhcp_destroy(s);
	vsw_dhcp_destroy(t);
}

static void
test_malformed_frames(void)
{
	struct vsw_dhcp_config c = lab_config();
	struct vsw_dhcp_server *s = make(&c);
	struct dhcp_client_req req = { .type = 1, .mac = { 2, 0, 0, 0, 5, 5 } };
	uint8_t in[600], out[VSW_DHCP_FRAME_MAX];
	struct vsw_dhcp_stats st;
	size_t n = dhcp_test_build_request(&req, in);
	uint8_t bad[600];

	/* Every truncation is refused without reading past the end. */
	for (size_t cut = 0; cut < n - 50; cut++)
		CHECK(vsw_dhcp_handle_frame(s, in, cut, NOW, out) < 0 ||
		      cut >= 14 + 28 + 244);
	memcpy(bad, in, n);
	bad[14 + 28 + 236] ^= 1; /* magic cookie */
	CHECK_EQ(vsw_dhcp_handle_frame(s, bad, n, NOW, out), -EINVAL);
	memcpy(bad, in, n);
	bad[14 + 28 + 241] = 200; /* option length runs off the end */
	CHECK_EQ(vsw_dhcp_handle_frame(s, bad, n, NOW, out), -EINVAL);
	memcpy(bad, in, n);
	bad[14 + 6] = 0x20; /* more fragments */
	CHECK_EQ(vsw_dhcp_handle_frame(s, bad, n, NOW, out), -EINVAL);
	memcpy(bad, in, n);
	bad[14 + 28] = 2; /* a BOOTREPLY sent to the server */
	CHECK_EQ(vsw_dhcp_handle_frame(s, bad, n, NOW, out), -EINVAL);
	memcpy(bad, in, n);
	bad[14 + 28 + 242] = 9; /* unknown message type */
	CHECK_EQ(vsw_dhcp_handle_frame(s, bad, n, NOW, out), -EINVAL);
	vsw_dhcp_get_stats(s, &st);
	CHECK(st.malformed >= 5);
	CHECK(!vsw_dhcp_is_server_frame(in, n));
	vsw_dhcp_destroy(s);
}

int
main(void)
{
	RUN_TEST(test_config_checks);
	RUN_TEST(test_dora_and_reply_fields);
	RUN_TEST(test_same_client_same_address);
	RUN_TEST(test_reservation);
	RUN_TEST(test_pool_exhaustion);
	RUN_TEST(test_request_for_other_server_and_nak);
	RUN_TEST(test_renew_release_decline_inform);
	RUN_TEST(test_persistence);
	RUN_TEST(test_malformed_frames);
	return 0;
}
