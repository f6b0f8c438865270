/* SPDX-License-Identifier: MIT */
/*
 * Golden packet tests of lab networks: each vswitch/golden/NAME.pcap (made
 * by make-golden.py, which builds the expected frames from the protocols
 * with its own code) is a script of frames to inject into the "lan" or
 * "wan" ring port and frames the switch must send, byte for byte; nothing
 * else may come out. Every case runs on a fresh switch with the topology
 * make-golden.py describes. A mismatch prints both frames in hex.
 *   golden-test GOLDEN-DIR
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/lib/testutil.h"
#include "vswitch/vsw-internal.h"

#include <rte_mbuf.h>
#include <rte_ring.h>

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static const uint8_t ph_gw[6] = { 0x02, 0x67, 0x77, 0, 0, 0 };
static const uint8_t ph_wan[6] = { 0x02, 0x77, 0x61, 0x6e, 0, 0 };
static const uint8_t router_mac[6] = { 0x02, 0xee, 0, 0, 0, 0x01 };
static struct vsw *vsw;
static struct rte_mempool *tpool;
static uint8_t gw_mac[6], wan_mac[6];

struct rec {
	uint32_t role;           /* 0/1 inject lan/wan, 2/3 expect lan/wan */
	uint32_t len;
	uint8_t f[2048];
};

static void
subst(uint8_t *p)
{
	if (!memcmp(p, ph_gw, 6))
		memcpy(p, gw_mac, 6);
	else if (!memcmp(p, ph_wan, 6))
		memcpy(p, wan_mac, 6);
}

/* Puts the real MACs in Ethernet and ARP address fields. */
static void
placeholders(struct rec *r)
{
	subst(r->f);
	subst(r->f + 6);
	if (r->len >= 42 && r->f[12] == 0x08 && r->f[13] == 0x06) {
		subst(r->f + 22);
		subst(r->f + 32);
	}
}

static struct rte_ring *
ring(const char *port, const char *dir)
{
	char name[RTE_RING_NAMESIZE];

	snprintf(name, sizeof(name), "vswr-%s-%s", port, dir);
	return rte_ring_lookup(name);
}

static void
setup(void)
{
	struct vsw_port_config c = { .type = VSW_PORT_RING };
	struct vsw_net_config n = { .subnet = IP(192, 168, 50, 0),
				    .prefix_len = 24, .dhcp = true,
				    .nat_uplink = "wan" };
	char err[128];

	CHECK_OK(vsw_switch_add(vsw, "br0"));
	snprintf(c.name, sizeof(c.name), "lan");
	CHECK_OK(vsw_port_add(vsw, "br0", &c));
	snprintf(c.name, sizeof(c.name), "wan");
	c.addr = IP(198, 51, 100, 2);
	c.addr_prefix = 24;
	c.gateway = IP(198, 51, 100, 1);
	memcpy(c.gateway_mac, router_mac, 6);
	CHECK_OK(vsw_port_add(vsw, "br0", &c));
	snprintf(n.name, sizeof(n.name), "lab");
	CHECK_OK(vsw_net_add(vsw, "br0", &n, err, sizeof(err)));
	memcpy(gw_mac, vsw_net_find(vsw, "lab")->gw_mac, 6);
	memcpy(wan_mac, vsw_port_find(vsw, "wan")->mac, 6);
}

static void
teardown(void)
{
	CHECK_OK(vsw_net_del(vsw, "lab"));
	CHECK_OK(vsw_port_del(vsw, "lan"));
	CHECK_OK(vsw_port_del(vsw, "wan"));
	CHECK_OK(vsw_switch_del(vsw, "br0"));
}

static void
hex(const char *what, const uint8_t *f, uint32_t len)
{
	fprintf(stderr, "%s (%u bytes):", what, len);
	for (uint32_t i = 0; i < len; i++)
		fprintf(stderr, "%s%02x", i % 16 ? " " : "\n  ", f[i]);
	fprintf(stderr, "\n");
}

/* Runs one case; returns true when everything matched. */
static bool
run_case(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t hdr[24], rh[16];
	struct rec r;
	bool ok = true;
	int n = 0;

	CHECK(f != NULL);
	CHECK(fread(hdr, 1, 24, f) == 24);
	setup();
	while (ok && fread(rh, 1, 16, f) == 16) {
		struct rte_mbuf *m = NULL;
		const char *port;

		memcpy(&r.role, rh + 4, 4);
		memcpy(&r.len, rh + 8, 4);
		CHECK(r.len <= sizeof(r.f) && r.role <= 3);
		CHECK(fread(r.f, 1, r.len, f) == r.len);
		placeholders(&r);
		port = r.role % 2 ? "wan" : "lan";
		n++;
		if (r.role < 2) {
			m = rte_pktmbuf_alloc(tpool);
			CHECK(m && rte_pktmbuf_append(m, (uint16_t)r.len));
			memcpy(rte_pktmbuf_mtod(m, void *), r.f, r.len);
			CHECK_OK(rte_ring_enqueue(ring(port, "in"), m));
			for (int i = 0; i < 4; i++)
				vsw_dp_poll(vsw);
			continue;
		}
		if (rte_ring_dequeue(ring(port, "out"), (void **)&m) < 0) {
			fprintf(stderr, "%s: record %d: nothing sent on %s\n", path,
				n, port);
			hex("expected", r.f, r.len);
			ok = false;
			break;
		}
		if (rte_pktmbuf_pkt_len(m) != r.len ||
		    memcmp(rte_pktmbuf_mtod(m, void *), r.f, r.len)) {
			fprintf(stderr, "%s: record %d: frame on %s differs\n", path,
				n, port);
			hex("expected", r.f, r.len);
			hex("got", rte_pktmbuf_mtod(m, uint8_t *),
			    rte_pktmbuf_pkt_len(m));
			ok = false;
		}
		rte_pktmbuf_free(m);
	}
	fclose(f);
	for (int p = 0; p < 2; p++) {
		const char *port = p ? "wan" : "lan";
		struct rte_mbuf *m = NULL;

		while (rte_ring_dequeue(ring(port, "out"), (void **)&m) == 0) {
			if (ok)
				fprintf(stderr, "%s: unexpected frame on %s\n", path,
					port);
			hex("extra", rte_pktmbuf_mtod(m, uint8_t *),
			    rte_pktmbuf_pkt_len(m));
			rte_pktmbuf_free(m);
			ok = false;
		}
	}
	teardown();
	return ok;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
main(int argc, char **argv)
{
	struct vsw_options o = { .mac_table_entries = 4096, .mbufs = 4095,
				 .conntrack_entries = 1024 };
	char prefix[64], *names[256], path[1024];
	unsigned int count = 0, failed = 0;
	struct dirent *d;
	DIR *dir;

	if (argc != 2)
		return 2;
	if (!test_is_root())
		test_skip("DPDK ports need root here");
	dir = opendir(argv[1]);
	CHECK(dir != NULL);
	while ((d = readdir(dir)) && count < 256)
		if (strstr(d->d_name, ".pcap"))
			names[count++] = strdup(d->d_name);
	closedir(dir);
	CHECK(count > 0);
	qsort(names, count, sizeof(names[0]), by_name);
	snprintf(prefix, sizeof(prefix), "vswgold%d", getpid());
	if (vsw_eal_init("golden-test", prefix, 0, NULL, &o) < 0)
		test_skip("DPDK EAL does not start here");
	tpool = rte_pktmbuf_pool_create("golden", 1023, 0, 0, 4096,
					SOCKET_ID_ANY);
	CHECK(tpool != NULL);
	CHECK_OK(vsw_create(&o, &vsw));
	for (unsigned int i = 0; i < count; i++) {
		bool ok;

		snprintf(path, sizeof(path), "%s/%s", argv[1], names[i]);
		ok = run_case(path);
		printf("%-4s %s\n", ok ? "ok" : "FAIL", names[i]);
		failed += !ok;
		free(names[i]);
	}
	vsw_destroy(vsw);
	rte_mempool_free(tpool);
	vsw_eal_fini();
	printf("%u of %u golden cases matched\n", count - failed, count);
	return failed ? 1 : 0;
}
