/* SPDX-License-Identifier: MIT */
/*
 * The switch in one process over ring ports: the test puts frames into a
 * port's "-in" ring, runs data-plane iterations (vsw_dp_poll) and reads
 * what each port sent from its "-out" ring. Real DPDK (EAL with
 * --no-huge, net_ring ethdevs, rte_hash); no daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/lib/testutil.h"
#include "vswitch/vsw-internal.h"

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#define MAC_TABLE 4096

static struct vsw *vsw;
static struct rte_mempool *tpool;
static char tmpdir[256];

/* ---- frames ---- */

static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void
mac_of(unsigned int n, uint8_t mac[6])
{
	mac[0] = 0x02;
	mac[1] = 0;
	mac[2] = (uint8_t)(n >> 24);
	mac[3] = (uint8_t)(n >> 16);
	mac[4] = (uint8_t)(n >> 8);
	mac[5] = (uint8_t)n;
}

/* Builds a frame; vid < 0: untagged. Returns its length. */
static size_t
frame(uint8_t *buf, const uint8_t *dst, const uint8_t *src, int vid,
      size_t len)
{
	size_t off = 12;

	memset(buf, 0xab, len);
	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	if (vid >= 0) {
		buf[12] = 0x81;
		buf[13] = 0x00;
		buf[14] = (uint8_t)(0x20 | (vid >> 8)); /* PCP 1 */
		buf[15] = (uint8_t)vid;
		off = 16;
	}
	buf[off] = 0x08;
	buf[off + 1] = 0x00;
	return len;
}

static struct rte_ring *
ring_of(const char *port, const char *dir)
{
	char name[RTE_RING_NAMESIZE];
	struct rte_ring *r;

	snprintf(name, sizeof(name), "vswr-%s-%s", port, dir);
	r = rte_ring_lookup(name);
	CHECK(r != NULL);
	return r;
}

static void
inject(const char *port, const uint8_t *data, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(tpool);

	CHECK(m != NULL);
	CHECK(rte_pktmbuf_append(m, (uint16_t)len) != NULL);
	memcpy(rte_pktmbuf_mtod(m, void *), data, len);
	CHECK_OK(rte_ring_enqueue(ring_of(port, "in"), m));
}

static void
run(void)
{
	for (int i = 0; i < 3; i++)
		vsw_dp_poll(vsw);
}

/* Takes one frame sent by 'port' into 'buf'; returns its length or -1. */
static int
take(const char *port, uint8_t *buf)
{
	struct rte_mbuf *m;
	int len;

	if (rte_ring_dequeue(ring_of(port, "out"), (void **)&m) < 0)
		return -1;
	len = (int)rte_pktmbuf_pkt_len(m);
	memcpy(buf, rte_pktmbuf_mtod(m, void *), (size_t)len);
	rte_pktmbuf_free(m);
	return len;
}

static unsigned int
drain(const char *port)
{
	uint8_t buf[10000];
	unsigned int n = 0;

	while (take(port, buf) >= 0)
		n++;
	return n;
}

static int
vid_of(const uint8_t *buf)
{
	if (buf[12] != 0x81 || buf[13] != 0x00)
		return -1;
	return (buf[14] & 0x0f) << 8 | buf[15];
}

/* ---- setup ---- */

static void
add_ring(const char *sw, const char *name, uint32_t tag, const char *trunks,
	 const char *mode)
{
	struct vsw_port_config c = { .type = VSW_PORT_RING };
	char err[128];

	snprintf(c.name, sizeof(c.name), "%s", name);
	CHECK_OK(vsw_vlan_config_build(tag, trunks, mode, &c.vlan, err,
				       sizeof(err)));
	CHECK_OK(vsw_port_add(vsw, sw, &c));
}

static void
del_all(void)
{
	for (int i = 0; i < VSW_MAX_PORTS; i++)
		if (vsw->port[i])
			CHECK_OK(vsw_port_del(vsw, vsw->port[i]->cfg.name));
	for (int i = 0; i < VSW_MAX_SWITCHES; i++)
		if (vsw->sw[i])
			CHECK_OK(vsw_switch_del(vsw, vsw->sw[i]->name));
	CHECK_EQ(vsw->dp->macs.count, 0);
}

static struct vsw_port_stats *
st(const char *port)
{
	struct vsw_port *p = vsw_port_find(vsw, port);

	CHECK(p != NULL);
	return &p->rt->st;
}

static struct vsw_switch_stats *
swst(const char *sw)
{
	struct vsw_switch *s = vsw_switch_find(vsw, sw);

	CHECK(s != NULL);
	return &s->rt->st;
}

/* ---- tests ---- */

static void
test_learning_unicast(void)
{
	uint8_t a[6], b[6], f[100], got[2000];

	mac_of(1, a);
	mac_of(2, b);
	CHECK_OK(vsw_switch_add(vsw, "br0"));
	add_ring("br0", "pa", 0, NULL, NULL);
	add_ring("br0", "pb", 0, NULL, NULL);
	add_ring("br0", "pc", 0, NULL, NULL);
	/* Unknown destination: flooded to every other port. */
	inject("pa", f, frame(f, BCAST, a, -1, 60));
	run();
	CHECK_EQ(drain("pa"), 0);
	CHECK_EQ(take("pb", got), 60);
	CHECK(memcmp(got, f, 60) == 0);
	CHECK_EQ(drain("pc"), 1);
	/* b answers a: a was learned, so only pa sends it. */
	inject("pb", f, frame(f, a, b, -1, 60));
	run();
	CHECK_EQ(drain("pa"), 1);
	CHECK_EQ(drain("pc"), 0);
	/* a to b: b was learned from its answer. */
	inject("pa", f, frame(f, b, a, -1, 60));
	run();
	CHECK_EQ(drain("pb"), 1);
	CHECK_EQ(drain("pc"), 0);
	CHECK_EQ(swst("br0")->learned, 2);
	CHECK_EQ(swst("br0")->unicast, 2);
	CHECK_EQ(st("pa")->rx_packets, 2);
	CHECK_EQ(st("pa")->tx_packets, 1);
	del_all();
}

static void
test_vlan_access_isolation(void)
{
	uint8_t a[6], b[6], f[100], got[2000];

	mac_of(1, a);
	mac_of(2, b);
	CHECK_OK(vsw_switch_add(vsw, "br0"));
	add_ring("br0", "a10", 10, NULL, NULL);
	add_ring("br0", "b20", 20, NULL, NULL);
	add_ring("br0", "c10", 10, NULL, NULL);
	inject("a10", f, frame(f, BCAST, a, -1, 60));
	run();
	CHECK_EQ(take("c10", got), 60);
	CHECK_EQ(vid_of(got), -1);
	CHECK_EQ(drain("b20"), 0);
	/* The same MAC in another VLAN is another station (VLAN-aware). */
	inject("b20", f, frame(f, b, a, -1, 60));
	run();
	CHECK_EQ(drain("a10") + drain("c10"), 0);
	CHECK_EQ(st("b20")->drops[VSW_DROP_NO_EGRESS], 1);
	CHECK_EQ(vsw->dp->macs.count, 2);
	/* Tagged frames are not accepted on access ports. */
	inject("a10", f, frame(f, BCAST, b, 10, 64));
	run();
	CHECK_EQ(st("a10")->drops[VSW_DROP_VLAN_FILTERED], 1);
	CHECK_EQ(drain("c10"), 0);
	del_all();
}

static void
test_vlan_trunk(void)
{
	uint8_t a[6], t[6], f[100], got[2000];

	mac_of(1, a);
	mac_of(9, t);
	CHECK_OK(vsw_switch_add(vsw, "br0"));
	add_ring("br0", "a10", 10, NULL, NULL);
	add_ring("br0", "a20", 20, NULL, NULL);
	add_ring("br0", "tr", 0, "10,20", NULL);
	/* Access 10 -> trunk: tagged 10. */
	inject("a10", f, frame(f, BCAST, a, -1, 60));
	run();
	CHECK_EQ(take("tr", got), 64);
	CHECK_EQ(vid_of(got), 10);
	CHECK(memcmp(got + 16, f + 12, 48) == 0);
	CHECK_EQ(drain("a20"), 0);
	/* Trunk tagged 20 -> access 20 untagged, not access 10. */
	inject("tr", f, frame(f, BCAST, t, 20, 64));
	run();
	CHECK_EQ(take("a20", got), 60);
	CHECK_EQ(vid_of(got), -1);
	CHECK_EQ(drain("a10"), 0);
	/* Unicast back to a: learned in VLAN 10 -> tag removed. */
	inject("tr", f, frame(f, a, t, 10, 64));
	run();
	CHECK_EQ(take("a10", got), 60);
	CHECK_EQ(vid_of(got), -1);
	/* Not in the list, or untagged on a trunk without VLAN 0: dropped. */
	inject("tr", f, frame(f, BCAST, t, 30, 64));
	inject("tr", f, frame(f, BCAST, t, -1, 60));
	run();
	CHECK_EQ(st("tr")->drops[VSW_DROP_VLAN_FILTERED], 2);
	CHECK_EQ(drain("a10") + drain("a20"), 0);
	del_all();
}

static void
test_vlan_native(void)
{
	uint8_t a[6], n[6], f[100], got[2000];

	mac_of(1, a);
	mac_of(2, n);
	CHECK_OK(vsw_switch_add(vsw, "br0"));
	add_ring("br0", "a10", 10, NULL, NULL);
	add_ring("br0", "nu", 10, "20", "native-untagged");
	add_ring("br0", "nt", 10, "20", "native-tagged");
	add_ring("br0", "a20", 20, NULL, NULL);
	/* VLAN 10 leaves native-untagged untagged, native-tagged tagged. */
	inject("a10", f, frame(f, BCAST, a, -1, 60));
	run();
	CHECK_EQ(take("nu", got), 60);
	CHECK_EQ(vid_of(got), -1);
	CHECK_EQ(take("nt", got), 64);
	CHECK_EQ(vid_of(got), 10);
	CHECK_EQ(drain("a20"), 0);
	/* Untagged into a native port joins the native VLAN. */
	inject("nu", f, frame(f, BCAST, n, -1, 60));
	run();
	CHECK_EQ(take("a10", got), 60);
	CHECK_EQ(take("nt", got), 64);
	CHECK_EQ(vid_of(got), 10);
	CHECK_EQ(drain("a20"), 0);
	/* VLAN 20 crosses both native ports tagged. */
	inject("a20", f, frame(f, BCAST, a, -1, 60));
	run();
	CHECK_EQ(take("nu", got), 64);
	CHECK_EQ(vid_of(got), 20);
	CHECK_EQ(take("nt", got), 64);
	CHECK_EQ(vid_of(got), 20);
	CHECK_EQ(drain("a10"), 0);
	del_all();
}

static void
test_vlan_passthrough(void)
{
	uint8_t a[6], f[100], got[2000];

	mac_of(1, a);
	CHECK_OK(vsw_switch_add(vsw, "br0"));
	add_ring("br0", "p1", VSW_VID_PASSTHROUGH, NULL, NULL);
	add_ring("br0", "p2", VSW_VID_PASSTHROUGH, NULL, NULL);
	add_ring("br0", "a7", 7, NULL, NULL);
	inject("p1", f, frame(f, BCAST, a, 123, 64));
	inject("p1", f, frame(f, BCAST, a, -1, 60));
	inject("p1", f, frame(f, BCAST, a, 7, 64));
	run();
	CHECK_EQ(take("p2", got), 64);
	CHECK_EQ(vid_of(got), 123);
	CHECK(got[14] >> 5 == 1); /* priority bits kept */
	CHECK_EQ(take("p2", got), 60);
	CHECK_EQ(vid_of(got), -1);
	CHECK_EQ(take("p2", got), 64);
	CHECK_EQ(take("a7", got), 60);
	CHECK_EQ(drain("a7"), 0);
	del_all();
}

static void
test_mac_move_and_hairpin(void)
{
	uint8_t a[6], b[6], f[100];

	mac_of(1, a);
	mac_of(2, b);
	CHECK_OK(vsw_switch_add(vsw, "br0"));
	add_ring("br0", "pa", 0, NULL, NULL);
	add_ring("br0", "pb", 0, NULL, NULL);
	add_ring("br0", "pc", 0, NULL, NULL);
	inject("pa", f, frame(f, BCAST, a, -1, 60));
	run();
	drain("pb");
	drain("pc");
	/* a moves behind pc. */
	inject("pc", f, frame(f, BCAST, a, -1, 60));
	run();
	drain("pa");
	drain("pb");
	CHECK_EQ(swst("br0")->moved, 1);
	inject("pb", f, frame(f, a, b, -1, 60));
	run();
	CHECK_EQ(drain("pc"), 1);
	CHECK_EQ(drain("pa"), 0);
	/* A frame for a station behind its own ingress port is not sent back. */
	inject("pc", f, frame(f, a, b, -1, 60));
	run();
	CHECK_EQ(st("pc")->drops[VSW_DROP_HAIRPIN], 1);
	CHECK_EQ(drain("pa") + drain("pb") + drain("pc"), 0);
	del_all();
}

static void
test_aging(void)
{
	uint8_t a[6], f[100];
	uint64_t t0;

	mac_of(1, a);
	CHECK_OK(vsw_switch_add(vsw, "br0"));
	CHECK_OK(vsw_switch_set_aging(vsw, "br0", 1));
	add_ring("br0", "pa", 0, NULL, NULL);
	add_ring("br0", "pb", 0, NULL, NULL);
	inject("pa", f, frame(f, BCAST, a, -1, 60));
	run();
	CHECK_EQ(vsw->dp->macs.count, 1);
	t0 = rte_rdtsc();
	while (vsw->dp->macs.count && rte_rdtsc() - t0 < 3 * rte_get_tsc_hz()) {
		vsw_dp_poll(vsw);
		usleep(1000);
	}
	CHECK_EQ(vsw->dp->macs.count, 0);
	CHECK(rte_rdtsc() - t0 >= rte_get_tsc_hz() * 9 / 10);
	CHECK_EQ(swst("br0")->aged, 1);
	del_all();
}

/* Sends 'n' broadcasts from sources base.. base+n-1 into 'port'. */
static void
flood_sources(const char *port, unsigned int base, unsigned int n)
{
	uint8_t s[6], f[64];

	for (unsigned int i = 0; i < n; i++) {
		mac_of(base + i, s);
		inject(port, f, frame(f, BCAST, s, -1, 60));
		if (i % 32 == 31) {
			run();
			drain("out");
			drain("lim");
		}
	}
	run();
	drain("out");
	drain("lim");
}

static void
test_mac_limit_and_table_full(void)
{
	struct vsw_port_config c = { .type = VSW_PORT_RING, .mac_limit = 10 };
	uint8_t s[6], f[100];

	CHECK_OK(vsw_switch_add(vsw, "br0"));
	snprintf(c.name, sizeof(c.name), "lim");
	CHECK_OK(vsw_port_add(vsw, "br0", &c));
	c.mac_limit = 1u << 20;
	snprintf(c.name, sizeof(c.name), "big");
	CHECK_OK(vsw_port_add(vsw, "br0", &c));
	add_ring("br0", "out", 0, NULL, NULL);
	for (unsigned int i = 0; i < 100; i++) {
		mac_of(1000 + i, s);
		inject("lim", f, frame(f, BCAST, s, -1, 60));
		if (i % 32 == 31)
			run();
	}
	run();
	CHECK_EQ(drain("out"), 100); /* still forwarded, just not learned */
	CHECK_EQ(st("lim")->learn_limit, 90);
	CHECK_EQ(vsw->dp->mac_count[vsw_port_find(vsw, "lim")->slot], 10);
	/* A flood of sources fills the table and stops there. */
	flood_sources("big", 100000, MAC_TABLE + 500);
	CHECK_EQ(vsw->dp->macs.count, MAC_TABLE);
	CHECK(swst("br0")->table_full >= 500);
	del_all();
}

/*
 * One burst repeating a frame takes the fast path of datapath.c: a
 * repeat that is too long, a station move in the middle of the burst and
 * a tag to add must still be decided as for a lone frame.
 */
static void
test_burst_fast_path(void)
{
	uint8_t a[6], b[6], c[6], d[6], e[6], f[2000];

	mac_of(1, a);
	mac_of(2, b);
	mac_of(3, c);
	mac_of(4, d);
	mac_of(5, e);
	CHECK_OK(vsw_switch_add(vsw, "br0"));
	add_ring("br0", "pa", 0, NULL, NULL);
	add_ring("br0", "pb", 0, NULL, NULL);
	add_ring("br0", "pc", 0, NULL, NULL);
	add_ring("br0", "pd", 10, NULL, NULL);
	add_ring("br0", "pe", 0, "10", NULL);
	inject("pa", f, frame(f, BCAST, a, -1, 60));
	inject("pb", f, frame(f, BCAST, b, -1, 60));
	inject("pe", f, frame(f, BCAST, e, 10, 64));
	run();
	drain("pa");
	drain("pb");
	drain("pc");
	drain("pd");
	drain("pe");
	inject("pa", f, frame(f, b, a, -1, 60));
	inject("pa", f, frame(f, b, a, -1, 60));
	inject("pa", f, frame(f, b, a, -1, 1600));  /* same header, too long */
	inject("pa", f, frame(f, c, b, -1, 60));    /* b moves behind pa */
	inject("pa", f, frame(f, b, a, -1, 60));    /* now a hairpin */
	run();
	CHECK_EQ(st("pa")->drops[VSW_DROP_OVERSIZE], 1);
	CHECK_EQ(st("pa")->drops[VSW_DROP_HAIRPIN], 1);
	CHECK_EQ(swst("br0")->moved, 1);
	CHECK_EQ(swst("br0")->unicast, 2);
	CHECK_EQ(drain("pb"), 3);                   /* two, and the flood */
	CHECK_EQ(drain("pc"), 1);
	CHECK_EQ(drain("pa") + drain("pd") + drain("pe"), 0);
	/* Tags added and removed on repeats: MACs and type where they belong. */
	for (int i = 0; i < 3; i++)
		inject("pd", f, frame(f, e, d, -1, 60));
	run();
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(take("pe", f), 64);
		CHECK_EQ(vid_of(f), 10);
		CHECK(!memcmp(f, e, 6) && !memcmp(f + 6, d, 6));
		CHECK(f[16] == 0x08 && f[17] == 0x00 && f[18] == 0xab);
	}
	for (int i = 0; i < 3; i++)
		inject("pe", f, frame(f, d, e, 10, 64));
	run();
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(take("pd", f), 60);
		CHECK_EQ(vid_of(f), -1);
		CHECK(!memcmp(f, d, 6) && !memcmp(f + 6, e, 6));
		CHECK(f[12] == 0x08 && f[13] == 0x00 && f[14] == 0xab);
	}
	CHECK_EQ(drain("pe") + drain("pd") + drain("pa") + drain("pb") +
		 drain("pc"), 0);
	del_all();
}

static void
test_malformed(void)
{
	uint8_t a[6], mc[6] = { 0x01, 0, 0x5e, 0, 0, 1 }, f[2000];

	mac_of(1, a);
	CHECK_OK(vsw_switch_add(vsw, "br0"));
	add_ring("br0", "pa", 0, NULL, NULL);
	add_ring("br0", "pb", 10, NULL, NULL);
	add_ring("br0", "pc", 0, NULL, NULL);
	inject("pa", f, 10);                              /* runt */
	inject("pa", f, frame(f, BCAST, a, -1, 1600));    /* oversize */
	inject("pa", f, frame(f, BCAST, a, 5, 16));       /* truncated tag */
	inject("pa", f, frame(f, BCAST, a, 4095, 64));    /* reserved VID */
	inject("pa", f, frame(f, BCAST, mc, -1, 60));     /* group source */
	run();
	CHECK_EQ(st("pa")->drops[VSW_DROP_RUNT], 1);
	CHECK_EQ(st("pa")->drops[VSW_DROP_OVERSIZE], 1);
	CHECK_EQ(st("pa")->drops[VSW_DROP_BAD_VLAN], 2);
	CHECK_EQ(st("pa")->drops[VSW_DROP_BAD_SRC], 1);
	CHECK_EQ(drain("pb") + drain("pc"), 0);
	/* 1518 bytes fit an MTU of 1500; a priority tag means untagged. */
	inject("pa", f, frame(f, BCAST, a, -1, 1514));
	inject("pb", f, frame(f, BCAST, a, 0, 64));
	run();
	CHECK_EQ(take("pc", f), 1514);
	CHECK_EQ(vid_of(f), -1);
	/* Pass-through ports carry VLAN 10 too: tagged with 10, not 0. */
	CHECK_EQ(take("pc", f), 64);
	CHECK_EQ(vid_of(f), 10);
	CHECK_EQ(drain("pa"), 1);
	CHECK_EQ(drain("pb"), 0);
	CHECK_EQ(st("pb")->drops[VSW_DROP_VLAN_FILTERED], 0);
	CHECK_EQ(vsw->dp->macs.count, 2);
	del_all();
}

static void *
churn_main(void *arg)
{
	volatile bool *stop = arg;
	struct vsw_port_config c = { .type = VSW_PORT_RING };
	int i = 0;

	/* Adds and removes a port over and over while traffic flows. */
	while (!*stop) {
		snprintf(c.name, sizeof(c.name), "churn");
		if (vsw_port_add(vsw, "br0", &c) == 0) {
			usleep(2000);
			if (vsw_port_del(vsw, "churn") < 0)
				return arg;
		}
		c.vlan.mode = (i++ & 1) ? VSW_VLAN_ACCESS : VSW_VLAN_PASSTHROUGH;
		c.vlan.tag = c.vlan.mode == VSW_VLAN_ACCESS ? 1 : 0;
	}
	return NULL;
}

static void
test_changes_while_traffic_flows(void)
{
	uint8_t a[6], b[6], f[100];
	unsigned int lcore = rte_get_next_lcore(-1, 1, 0);
	struct vsw_port_config pc;
	uint64_t sent = 0, got = 0;
	volatile bool stop = false;
	pthread_t th;

	if (lcore >= RTE_MAX_LCORE)
		test_skip("needs a second lcore");
	mac_of(1, a);
	mac_of(2, b);
	CHECK_OK(vsw_switch_add(vsw, "br0"));
	add_ring("br0", "pa", 0, NULL, NULL);
	add_ring("br0", "pb", 0, NULL, NULL);
	CHECK_OK(vsw_dp_start(vsw, lcore, 0));
	CHECK_OK(pthread_create(&th, NULL, churn_main, (void *)&stop));
	for (int round = 0; round < 20000; round++) {
		uint8_t buf[2000];

		inject("pa", f, frame(f, b, a, -1, 60));
		sent++;
		while (take("pb", buf) >= 0)
			got++;
		if (round % 1000 == 0) {
			/* Changing the egress port on the fly loses nothing. */
			pc = vsw_port_find(vsw, "pb")->cfg;
			pc.mtu = round % 2000 ? 1500 : 9000;
			CHECK_OK(vsw_port_set(vsw, &pc));
		}
		if (round % 64 == 0)
			usleep(100);
	}
	void *res;

	stop = true;
	pthread_join(th, &res);
	CHECK(res == NULL);
	usleep(20000);
	vsw_dp_stop(vsw);
	{
		uint8_t buf[2000];

		while (take("pb", buf) >= 0)
			got++;
	}
	/* Every frame went to pb (sometimes also the churn port): none lost. */
	CHECK_EQ(got + st("pa")->drops[VSW_DROP_TX_FULL], sent);
	CHECK_EQ(st("pa")->rx_packets, sent);
	del_all();
}

static void
req(const char *text, bool want_ok, const char *want_substr)
{
	char *out = vsw_request(vsw, text, strlen(text));
	bool ok;

	CHECK(out != NULL);
	ok = strstr(out, "\"ok\":true") != NULL;
	if (ok != want_ok || (want_substr && !strstr(out, want_substr))) {
		fprintf(stderr, "request %s\n  replied %s\n", text, out);
		exit(1);
	}
	free(out);
}

static void
test_control_requests(void)
{
	req("", false, "bad JSON");
	req("[1,2]", false, "JSON object");
	req("{\"cmd\":\"nope\"}", false, "unknown command");
	req("{\"cmd\":\"switch/add\"}", false, "missing 'switch'");
	req("{\"cmd\":\"switch/add\",\"switch\":\"bad name!\"}", false, "bad switch");
	req("{\"cmd\":\"switch/add\",\"switch\":\"br0\"}", true, NULL);
	req("{\"cmd\":\"switch/add\",\"switch\":\"br0\"}", false, "in use");
	req("{\"cmd\":\"port/add\",\"switch\":\"br9\",\"port\":\"p\",\"type\":\"ring\"}",
	    false, "no switch 'br9'");
	req("{\"cmd\":\"port/add\",\"switch\":\"br0\",\"port\":\"p\",\"type\":\"tap\"}",
	    false, "needs 'iface'");
	req("{\"cmd\":\"port/add\",\"switch\":\"br0\",\"port\":\"p\",\"type\":\"ring\","
	    "\"vlan\":5000}", false, "'vlan'");
	req("{\"cmd\":\"port/add\",\"switch\":\"br0\",\"port\":\"p\",\"type\":\"ring\","
	    "\"trunks\":\"10-2\"}", false, "bad VLAN list");
	req("{\"cmd\":\"port/add\",\"switch\":\"br0\",\"port\":\"p\",\"type\":\"ring\","
	    "\"vlan\":10,\"trunks\":\"20\"}", false, "need a mode");
	req("{\"cmd\":\"port/add\",\"switch\":\"br0\",\"port\":\"p\",\"type\":\"ring\","
	    "\"vlan\":10,\"trunks\":\"20\",\"vlan_mode\":\"native-untagged\"}", true,
	    NULL);
	req("{\"cmd\":\"port/set\",\"port\":\"p\",\"mac_limit\":5}", true, NULL);
	req("{\"cmd\":\"show\"}", true, "\"trunks\":\"20\",\"mac_limit\":5");
	req("{\"cmd\":\"port/set\",\"port\":\"zz\",\"mtu\":1000}", false,
	    "no port 'zz'");
	req("{\"cmd\":\"stats\",\"port\":\"p\"}", true, "\"drops\":{\"runt\":0");
	req("{\"cmd\":\"mac/list\",\"switch\":\"br0\"}", true, "\"macs\":[]");
	req("{\"cmd\":\"switch/del\",\"switch\":\"br0\"}", false, "still has ports");
	req("{\"cmd\":\"capture/start\",\"port\":\"p\",\"file\":\"rel\"}", false,
	    "absolute");
	req("{\"cmd\":\"port/del\",\"port\":\"p\"}", true, NULL);
	req("{\"cmd\":\"switch/del\",\"switch\":\"br0\"}", true, NULL);
	req("{\"cmd\":\"help\"}", true, "capture/start");
}

static void
test_capture(void)
{
	uint8_t a[6], f[100], hdr[4];
	char file[512], json[700];
	int fd;

	mac_of(1, a);
	snprintf(file, sizeof(file), "%s/cap.pcapng", tmpdir);
	CHECK_OK(vsw_switch_add(vsw, "br0"));
	add_ring("br0", "pa", 0, NULL, NULL);
	add_ring("br0", "pb", 0, NULL, NULL);
	snprintf(json, sizeof(json),
		 "{\"cmd\":\"capture/start\",\"port\":\"pa\",\"file\":\"%s\","
		 "\"count\":3}", file);
	req(json, true, NULL);
	req(json, false, "is running");
	for (int i = 0; i < 5; i++)
		inject("pa", f, frame(f, BCAST, a, -1, 60));
	run();
	for (int i = 0; i < 100; i++) {
		char *out = vsw_request(vsw, "{\"cmd\":\"capture/status\"}", 24);
		bool done = strstr(out, "\"running\":false") != NULL;

		free(out);
		if (done)
			break;
		usleep(10000);
	}
	req("{\"cmd\":\"capture/stop\"}", true, "\"written\":3");
	fd = open(file, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(read(fd, hdr, 4), 4);
	close(fd);
	CHECK(hdr[0] == 0x0a && hdr[1] == 0x0d && hdr[2] == 0x0d && hdr[3] == 0x0a);
	if (test_have_program("tcpdump"))
		CHECK_EQ(test_sh("tcpdump -e -r %s 2>/dev/null | grep -c Broadcast"
				 " | grep -qx 3", file), 0);
	drain("pb");
	del_all();
}

static void
test_config_restore(void)
{
	char path[512];
	struct vsw *saved = vsw;
	struct vsw_options o = { .mac_table_entries = MAC_TABLE,
				 .mbufs = 4095 };
	char *out;

	snprintf(path, sizeof(path), "%s/vswitchd.json", tmpdir);
	o.config_path = path;
	del_all();
	vsw_destroy(vsw);
	CHECK_OK(vsw_create(&o, &vsw));
	req("{\"cmd\":\"switch/add\",\"switch\":\"br1\"}", true, NULL);
	req("{\"cmd\":\"switch/set\",\"switch\":\"br1\",\"aging\":42}", true, NULL);
	req("{\"cmd\":\"port/add\",\"switch\":\"br1\",\"port\":\"r1\","
	    "\"type\":\"ring\",\"vlan\":10,\"trunks\":\"20,30-40\","
	    "\"vlan_mode\":\"native-tagged\",\"mtu\":9000}", true, NULL);
	req("{\"cmd\":\"port/add\",\"switch\":\"br1\",\"port\":\"r2\","
	    "\"type\":\"ring\",\"vlan\":4095}", true, NULL);
	vsw_destroy(vsw);
	CHECK_OK(vsw_create(&o, &vsw));
	CHECK_OK(vsw_config_restore(vsw, path));
	out = vsw_request(vsw, "{\"cmd\":\"show\"}", 14);
	CHECK(strstr(out, "\"aging_s\":42") != NULL);
	CHECK(strstr(out, "\"name\":\"r1\",\"type\":\"ring\",\"vlan_mode\":"
			  "\"native-tagged\",\"vlan\":10,\"trunks\":\"20,30-40\","
			  "\"mac_limit\":65536,\"mtu\":9000") != NULL);
	CHECK(strstr(out, "\"vlan_mode\":\"passthrough\",\"vlan\":4095") != NULL);
	free(out);
	/* A damaged file is moved aside; the daemon starts empty. */
	CHECK_OK(test_sh("echo '{\"version\":1,\"switches\":[{' > %s", path));
	del_all();
	CHECK_EQ(vsw_config_restore(vsw, path), -EINVAL);
	CHECK_OK(test_sh("test -f %s.bad && ! test -f %s", path, path));
	vsw_destroy(vsw);
	o.config_path = NULL;
	CHECK_OK(vsw_create(&o, &vsw));
	(void)saved;
}

/* Resident set size in KiB (/proc/self/statm, second field, in pages). */
static long
rss_kib(void)
{
	long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/*
 * The daemon's default table at full scale (slow suite: "mac-1m"): a
 * port's default limit stops it at 65,536 MACs; a port without a
 * practical limit fills all 1,048,576 entries, then the rest is counted
 * as table_full and the process does not grow.
 */
static void
test_mac_table_1m(void)
{
	struct vsw_port_config c = { .type = VSW_PORT_RING };
	unsigned int cap = VSW_MAC_ENTRIES_DEFAULT;
	long rss_full;

	CHECK_OK(vsw_switch_add(vsw, "br0"));
	snprintf(c.name, sizeof(c.name), "lim");
	CHECK_OK(vsw_port_add(vsw, "br0", &c)); /* the default limit */
	c.mac_limit = 4u << 20;
	snprintf(c.name, sizeof(c.name), "big");
	CHECK_OK(vsw_port_add(vsw, "br0", &c));
	add_ring("br0", "out", 0, NULL, NULL);
	CHECK_EQ(vsw->dp->macs.capacity, cap);
	flood_sources("lim", 1u << 24, VSW_MAC_LIMIT_DEFAULT + 1000);
	CHECK_EQ(vsw->dp->mac_count[vsw_port_find(vsw, "lim")->slot],
		 VSW_MAC_LIMIT_DEFAULT);
	CHECK_EQ(st("lim")->learn_limit, 1000);
	flood_sources("big", 0, cap - VSW_MAC_LIMIT_DEFAULT);
	CHECK_EQ(vsw->dp->macs.count, cap);
	CHECK_EQ(swst("br0")->table_full, 0);
	rss_full = rss_kib();
	flood_sources("big", 2u << 24, 100000);
	CHECK_EQ(vsw->dp->macs.count, cap);
	CHECK_EQ(swst("br0")->table_full, 100000);
	/* 100,000 more sources past the limit: no growth (1 MiB of slack
	 * for the allocator's own bookkeeping). */
	CHECK(rss_kib() - rss_full < 1024);
	printf("MAC table: %u entries learned, 100000 more refused, RSS %ld "
	       "MiB -> %ld MiB\n", vsw->dp->macs.count, rss_full / 1024,
	       rss_kib() / 1024);
	del_all();
}

int
main(int argc, char **argv)
{
	struct vsw_options o = { .mac_table_entries = MAC_TABLE, .mbufs = 4095 };
	bool big = argc > 1 && !strcmp(argv[1], "mac-1m");
	char prefix[64];
	int err;

	if (!test_is_root())
		test_skip("DPDK ports need root here");
	snprintf(tmpdir, sizeof(tmpdir), "%s", test_tmpdir());
	snprintf(prefix, sizeof(prefix), "vswtest%d", getpid());
	err = vsw_eal_init("vswitch-test", prefix, 0, NULL, &o);
	if (err < 0)
		test_skip("DPDK EAL does not start here: %s", strerror(-err));
	tpool = rte_pktmbuf_pool_create("test_pool", 8191, 0, 0, 10240,
					SOCKET_ID_ANY);
	CHECK(tpool != NULL);
	if (big)
		o.mac_table_entries = 0; /* the daemon's default */
	CHECK_OK(vsw_create(&o, &vsw));
	if (big) {
		RUN_TEST(test_mac_table_1m);
		goto out;
	}
	RUN_TEST(test_learning_unicast);
	RUN_TEST(test_vlan_access_isolation);
	RUN_TEST(test_vlan_trunk);
	RUN_TEST(test_vlan_native);
	RUN_TEST(test_vlan_passthrough);
	RUN_TEST(test_mac_move_and_hairpin);
	RUN_TEST(test_aging);
	RUN_TEST(test_mac_limit_and_table_full);
	RUN_TEST(test_malformed);
	RUN_TEST(test_burst_fast_path);
	RUN_TEST(test_control_requests);
	RUN_TEST(test_capture);
	RUN_TEST(test_changes_while_traffic_flows);
	RUN_TEST(test_config_restore);
out:
	vsw_destroy(vsw);
	rte_mempool_free(tpool);
	vsw_eal_fini();
	test_tmpdir_remove();
	return 0;
}
