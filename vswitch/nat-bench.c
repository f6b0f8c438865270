/* SPDX-License-Identifier: MIT */
/*
 * Data-plane cost of NAT against plain switching, measured inside one
 * process on ring ports, so a loaded machine changes little: frames of
 * FLOWS UDP flows (64 bytes, taken round-robin like testpmd's flowgen)
 * go in bursts of 32 into port "lan"; the switch either forwards them to
 * a static MAC on port "wan" (l2), or its network's gateway NATs them
 * out of "wan" as an uplink (nat: every flow an established session
 * after a first pass; new: every frame a new session). Only the switch's
 * own poll is timed (TSC around vsw_dp_poll), and the median burst is
 * taken: a burst during which the process lost its CPU is an outlier,
 * not a slow burst.
 *   vswitch-nat-bench l2|nat|new FLOWS [BURSTS]
 * prints "MODE FLOWS ns_per_frame Mpps_per_core sessions".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "vswitch/vsw-internal.h"
#include "vswitch/l3.h"

#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))
#define FRAME 60

static const uint8_t sink_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0b };
static const uint8_t host_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a };

/* A UDP frame from the host to flow 'i''s destination, checksums right. */
static void
frame(uint8_t *f, const uint8_t *dst_mac, uint32_t i)
{
	uint32_t sum = 0;

	memset(f, 0, FRAME);
	memcpy(f, dst_mac, 6);
	memcpy(f + 6, host_mac, 6);
	vsw_put16(f + 12, 0x0800);
	f[14] = 0x45;
	vsw_put16(f + 16, 46);
	f[22] = 64;
	f[23] = 17;
	vsw_put32(f + 26, IP(192, 168, 50, 10));
	vsw_put32(f + 30, IP(10, 0, 0, 0) + i);
	for (int k = 14; k < 34; k += 2)
		sum += (uint32_t)f[k] << 8 | f[k + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	vsw_put16(f + 24, (uint16_t)~sum);
	vsw_put16(f + 34, 1000);
	vsw_put16(f + 36, 1001);
	vsw_put16(f + 38, 26);
	/* UDP checksum 0: none, as flowgen sends */
}

static int
by_value(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct vsw_options o = { .mac_table_entries = 4096, .mbufs = 8191 };
	struct vsw_port_config c = { .type = VSW_PORT_RING };
	struct vsw_net_config n = { .subnet = IP(192, 168, 50, 0),
				    .prefix_len = 24, .nat_uplink = "wan" };
	struct rte_ring *in, *out;
	struct rte_mempool *pool;
	struct rte_mbuf *m[VSW_BURST];
	uint8_t dst_mac[6];
	uint64_t *cyc, next = 0;
	uint32_t flows, bursts;
	char prefix[64], err[128];
	const char *mode;
	struct vsw *vsw;
	double ns;

	if (argc < 3 || (strcmp(argv[1], "l2") && strcmp(argv[1], "nat") &&
			 strcmp(argv[1], "new"))) {
		fprintf(stderr, "usage: %s l2|nat|new FLOWS [BURSTS]\n", argv[0]);
		return 2;
	}
	mode = argv[1];
	flows = (uint32_t)strtoul(argv[2], NULL, 0);
	bursts = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 0) : 20000;
	if (!flows || flows > (1u << 24) || !bursts) {
		fprintf(stderr, "%s: FLOWS 1..16M, BURSTS > 0\n", argv[0]);
		return 2;
	}
	o.conntrack_entries = MAX(2 * flows, 1024u);
	if (!strcmp(mode, "new"))
		o.conntrack_entries = MAX(bursts * VSW_BURST + 1024, 1024u);
	log_set_level(LOG_LVL_INFO);
	snprintf(prefix, sizeof(prefix), "vswnb%d", getpid());
	if (vsw_eal_init("nat-bench", prefix, 0, NULL, &o) < 0 ||
	    vsw_create(&o, &vsw) < 0) {
		fprintf(stderr, "%s: cannot start the switch\n", argv[0]);
		return 1;
	}
	pool = rte_pktmbuf_pool_create("nb", 4095, 256, 0, 2048, SOCKET_ID_ANY);
	cyc = calloc(bursts, sizeof(*cyc));
	if (!pool || !cyc || vsw_switch_add(vsw, "br0") < 0)
		return 1;
	snprintf(c.name, sizeof(c.name), "lan");
	if (vsw_port_add(vsw, "br0", &c) < 0)
		return 1;
	snprintf(c.name, sizeof(c.name), "wan");
	if (strcmp(mode, "l2")) {
		c.addr = IP(198, 51, 100, 2);
		c.addr_prefix = 24;
		c.gateway = IP(198, 51, 100, 1);
		memcpy(c.gateway_mac, sink_mac, 6);
	}
	if (vsw_port_add(vsw, "br0", &c) < 0)
		return 1;
	if (!strcmp(mode, "l2")) {
		if (vsw_mac_add_static(vsw, "wan", sink_mac, 0) < 0)
			return 1;
		memcpy(dst_mac, sink_mac, 6);
	} else {
		snprintf(n.name, sizeof(n.name), "lab");
		if (vsw_net_add(vsw, "br0", &n, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: %s\n", argv[0], err);
			return 1;
		}
		memcpy(dst_mac, vsw_net_find(vsw, "lab")->gw_mac, 6);
	}
	in = rte_ring_lookup("vswr-lan-in");
	out = rte_ring_lookup("vswr-wan-out");
	if (!in || !out)
		return 1;
	/* A first pass makes every session (nat); 'new' never repeats a flow. */
	for (uint32_t pass = strcmp(mode, "nat") ? 1 : 0; pass < 2; pass++) {
		uint32_t total = pass ? bursts : (flows + VSW_BURST - 1) / VSW_BURST;

		for (uint32_t b = 0; b < total; b++) {
			unsigned int got;
			uint64_t t0;

			if (rte_pktmbuf_alloc_bulk(pool, m, VSW_BURST) < 0)
				return 1;
			for (int k = 0; k < VSW_BURST; k++) {
				uint32_t f = !strcmp(mode, "new") ? (uint32_t)next++
								  : (uint32_t)(next++ % flows);

				frame(rte_pktmbuf_mtod(m[k], uint8_t *), dst_mac, f);
				m[k]->data_len = m[k]->pkt_len = FRAME;
			}
			rte_ring_enqueue_burst(in, (void **)m, VSW_BURST, NULL);
			t0 = rte_rdtsc();
			vsw_dp_poll(vsw);
			if (pass)
				cyc[b] = rte_rdtsc() - t0;
			got = rte_ring_dequeue_burst(out, (void **)m, VSW_BURST, NULL);
			if (pass && got != VSW_BURST) {
				fprintf(stderr, "%s: %u of %d frames came out\n",
					argv[0], got, VSW_BURST);
				return 1;
			}
			rte_pktmbuf_free_bulk(m, got);
		}
	}
	qsort(cyc, bursts, sizeof(*cyc), by_value);
	ns = (double)cyc[bursts / 2] * 1e9 / (double)vsw->tsc_hz / VSW_BURST;
	printf("%s %u %.1f %.3f %u\n", mode, flows, ns, 1e3 / ns,
	       vsw->dp->ct ? vsw_ct_count(vsw->dp->ct) : 0);
	free(cyc);
	vsw_destroy(vsw);
	rte_mempool_free(pool);
	vsw_eal_fini();
	return 0;
}
