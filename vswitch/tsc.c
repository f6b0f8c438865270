/* SPDX-License-Identifier: MIT */
/*
 * The TSC's real rate. DPDK estimates it (on this AMD host from a one
 * second sleep, rounded to 10 MHz: 2450 MHz for a 2445.4 MHz TSC, 0.2 %
 * off), and every rate the switch keeps in TSC cycles (shaping above
 * all, which must hold within 2 %) inherits the error. Measured here
 * against CLOCK_MONOTONIC_RAW over a short span, each end read between
 * two TSC reads and kept from the tightest of a few tries, so a
 * preempted read does not count.
 */
#include <inttypes.h>
#include <time.h>

#include "common/log.h"
#include "vswitch/vsw-internal.h"

#include <rte_cycles.h>

#define SPAN_NS 20000000ull   /* 20 ms: end errors of ~100 ns are 5 ppm */

struct stamp {
	uint64_t tsc, ns, width;
};

static struct stamp
stamp(void)
{
	struct stamp best = { .width = UINT64_MAX };

	for (int i = 0; i < 8; i++) {
		struct timespec ts;
		uint64_t a = rte_rdtsc_precise(), b;

		clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
		b = rte_rdtsc_precise();
		if (b - a < best.width) {
			best.width = b - a;
			best.tsc = a + (b - a) / 2;
			best.ns = (uint64_t)ts.tv_sec * 1000000000ull +
				  (uint64_t)ts.tv_nsec;
		}
	}
	return best;
}

uint64_t
vsw_tsc_hz(void)
{
	uint64_t dpdk = rte_get_tsc_hz(), hz;
	struct timespec pause = { 0, (long)SPAN_NS };
	struct stamp a, b;

	a = stamp();
	nanosleep(&pause, NULL);
	b = stamp();
	if (b.ns <= a.ns || b.tsc <= a.tsc)
		return dpdk;
	hz = (uint64_t)((unsigned __int128)(b.tsc - a.tsc) * 1000000000ull /
			(b.ns - a.ns));
	/* Far off DPDK's figure: the measurement went wrong, not DPDK. */
	if (hz < dpdk - dpdk / 20 || hz > dpdk + dpdk / 20) {
		log_warn("vswitch", "TSC measured at %" PRIu64 " Hz, DPDK says %"
			 PRIu64 " Hz: using DPDK's", hz, dpdk);
		return dpdk;
	}
	log_info("vswitch", "TSC %" PRIu64 " Hz (DPDK's estimate %" PRIu64 ")",
		 hz, dpdk);
	return hz;
}
