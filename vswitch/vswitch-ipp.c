/* SPDX-License-Identifier: MIT */
/*
 * Instructions per packet of the data plane, counted without noise: two
 * ring ports, two learned stations, bursts of 32 64-byte frames switched
 * by vsw_dp_poll() a fixed number of times. Run under
 *   valgrind --tool=callgrind --toggle-collect=vsw_dp_poll vswitch-ipp
 * the instruction total of vsw_dp_poll divided by the frames printed here
 * is the figure; vswitch-ipp-check.sh compares it with the budget.
 *   vswitch-ipp [ROUNDS] [--vlan]    (--vlan: access -> trunk, tag added)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vswitch/vsw-internal.h"

#include <rte_mbuf.h>
#include <rte_ring.h>

static void
fill_tagged(struct rte_mempool *pool, struct rte_ring *r, const uint8_t *dst,
	    const uint8_t *src, unsigned int n, int vid)
{
	for (unsigned int i = 0; i < n; i++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
		uint8_t *d;

		if (!m)
			exit(1);
		d = (uint8_t *)rte_pktmbuf_append(m, 60);
		if (!d)
			exit(1);
		memset(d, 0, 60);
		memcpy(d, dst, 6);
		memcpy(d + 6, src, 6);
		d[12] = 0x08;
		if (vid > 0) {
			d[12] = 0x81;
			d[15] = (uint8_t)vid;
			d[16] = 0x08;
		}
		if (rte_ring_enqueue(r, m) < 0)
			exit(1);
	}
}

static void
fill(struct rte_mempool *pool, struct rte_ring *r, const uint8_t *dst,
     const uint8_t *src, unsigned int n)
{
	fill_tagged(pool, r, dst, src, n, 0);
}

/* Moves what port 'from' sent back into port 'to' for the next round. */
static unsigned int
recycle(struct rte_ring *from, struct rte_ring *to)
{
	void *m[64];
	unsigned int n = rte_ring_dequeue_burst(from, m, 64, NULL);

	if (rte_ring_enqueue_bulk(to, m, n, NULL) != n)
		exit(1);
	return n;
}

int
main(int argc, char **argv)
{
	struct vsw_options o = { .mac_table_entries = 4096, .mbufs = 2047 };
	static const uint8_t a[6] = { 2, 0, 0, 0, 0, 1 }, b[6] = { 2, 0, 0, 0, 0, 2 };
	struct vsw_port_config pc = { .type = VSW_PORT_RING };
	struct rte_ring *ain, *aout, *bin, *bout;
	unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 0) : 2000;
	bool vlan = argc > 2 && !strcmp(argv[2], "--vlan");
	unsigned long frames = 0;
	struct rte_mempool *pool;
	struct vsw *vsw;
	char prefix[32], err[64];

	snprintf(prefix, sizeof(prefix), "vswipp%d", getpid());
	if (vsw_eal_init("vswitch-ipp", prefix, 0, NULL, &o) < 0)
		return 77;
	pool = rte_pktmbuf_pool_create("ipp", 1023, 0, 0, 2048, SOCKET_ID_ANY);
	if (!pool || vsw_create(&o, &vsw) < 0 || vsw_switch_add(vsw, "br0") < 0)
		return 1;
	snprintf(pc.name, sizeof(pc.name), "a");
	if (vlan && vsw_vlan_config_build(10, NULL, NULL, &pc.vlan, err,
					  sizeof(err)) < 0)
		return 1;
	if (vsw_port_add(vsw, "br0", &pc) < 0)
		return 1;
	snprintf(pc.name, sizeof(pc.name), "b");
	if (vlan && vsw_vlan_config_build(0, "10", NULL, &pc.vlan, err,
					  sizeof(err)) < 0)
		return 1;
	if (vsw_port_add(vsw, "br0", &pc) < 0)
		return 1;
	ain = rte_ring_lookup("vswr-a-in");
	aout = rte_ring_lookup("vswr-a-out");
	bin = rte_ring_lookup("vswr-b-in");
	bout = rte_ring_lookup("vswr-b-out");
	/* b speaks first so both stations are learned before counting. */
	fill_tagged(pool, bin, a, b, 1, vlan ? 10 : 0);
	vsw_dp_poll(vsw);
	{
		void *m[4];
		unsigned int n = rte_ring_dequeue_burst(aout, m, 4, NULL);

		rte_pktmbuf_free_bulk((struct rte_mbuf **)m, n);
	}
	fill(pool, ain, b, a, VSW_BURST);
	fill(pool, bin, a, b, vlan ? 0 : VSW_BURST);
	for (unsigned long i = 0; i < rounds; i++) {
		frames += vsw_dp_poll(vsw);
		/* Frames go round: what port b sent re-enters at a, and back. */
		if (vlan) {
			/* Tagged frames return to a untouched: one direction. */
			void *m[64];
			unsigned int n = rte_ring_dequeue_burst(bout, m, 64, NULL);

			rte_pktmbuf_free_bulk((struct rte_mbuf **)m, n);
			fill(pool, ain, b, a, n);
		} else {
			recycle(bout, ain);
			recycle(aout, bin);
		}
	}
	printf("frames %lu\n", frames);
	vsw_destroy(vsw);
	rte_mempool_free(pool);
	vsw_eal_fini();
	return 0;
}
