/* SPDX-License-Identifier: MIT */
/* Token-bucket shaper with a FIFO (see shaper.h). Pure code. */
#include <string.h>

#include "common/compiler.h"
#include "vswitch/shaper.h"

#define FP 32
/*
 * Peak bucket depth: this much time at peak rate (or two frames). Long
 * enough that a data plane held up for a few milliseconds (another
 * process on its CPU) catches up instead of losing the time for good,
 * short enough that the peak holds over anything longer.
 */
#define PEAK_WINDOW_US 10000
/* Queue length: about this much time at the average rate. */
#define QUEUE_WINDOW_MS 50

/* bytes/s -> bytes per TSC cycle, 32.32 fixed point */
static uint64_t
per_cycle(uint64_t bytes_per_s, uint64_t tsc_hz)
{
	return (uint64_t)(((unsigned __int128)bytes_per_s << FP) / tsc_hz);
}

void
vsw_shaper_config(struct vsw_shaper *s, const struct vsw_shape_config *c,
		  uint64_t tsc_hz, uint64_t now, struct vsw_shaper_item *q)
{
	uint64_t avg = c->avg_bps / 8, peak = MAX(c->peak_bps, c->avg_bps) / 8;
	uint64_t burst = MAX(c->burst_bytes, 2ull * VSW_SHAPER_FRAME_MAX);
	uint64_t pdepth = MAX(peak * PEAK_WINDOW_US / 1000000,
			      2ull * VSW_SHAPER_FRAME_MAX);
	uint64_t qframes = avg * QUEUE_WINDOW_MS / 1000 / 1024;

	if (q) {
		memset(s, 0, sizeof(*s));
		s->q = q;
	}
	s->rate_avg = per_cycle(avg, tsc_hz);
	s->rate_peak = per_cycle(peak, tsc_hz);
	s->depth_avg = (int64_t)(burst << FP);
	s->depth_peak = (int64_t)(pdepth << FP);
	/* Two frames short of the burst: a catch-up never meets the burst
	 * bound head on, so the bound keeps its margin. */
	s->depth_catchup = MAX(s->depth_peak,
			       s->depth_avg -
			       (int64_t)((2ull * VSW_SHAPER_FRAME_MAX) << FP));
	s->tok_avg = s->depth_avg;
	s->tok_peak = s->depth_peak;
	/* A gap this long fills any bucket (burst <= 1 GiB, rate >= 1 kB/s). */
	s->max_gap = tsc_hz * 1100000;
	s->last = now;
	s->qlimit = (uint32_t)MIN(MAX(qframes, 64u), (uint64_t)VSW_SHAPER_QMAX);
}

bool
vsw_shaper_enqueue(struct vsw_shaper *s, void *pkt, uint32_t len)
{
	if (s->count >= s->qlimit) {
		s->refused++;
		return false;
	}
	s->q[(s->head + s->count) % VSW_SHAPER_QMAX] =
		(struct vsw_shaper_item){ pkt, len };
	s->count++;
	return true;
}

static inline int64_t
refill(int64_t tok, uint64_t rate, uint64_t gap, int64_t depth)
{
	unsigned __int128 add = (unsigned __int128)rate * gap;

	/* tok >= -one frame, depth >= 0: depth - tok never overflows. */
	if (add >= (unsigned __int128)(depth - tok))
		return depth;
	return tok + (int64_t)add;
}

/* Whole bytes of tokens a refill of 'gap' would spill over 'depth'. */
static inline uint64_t
spill(int64_t tok, uint64_t rate, uint64_t gap, int64_t depth)
{
	unsigned __int128 add = (unsigned __int128)rate * gap;
	unsigned __int128 room = (unsigned __int128)(depth - tok);

	return add > room ? (uint64_t)((add - room) >> FP) : 0;
}

void
vsw_shaper_account(const struct vsw_shaper *s, uint64_t now,
		   struct vsw_shaper_account *a)
{
	uint64_t over = 0;

	if (now > s->last)
		over = spill(s->tok_avg, s->rate_avg,
			     MIN(now - s->last, s->max_gap), s->depth_avg);
	a->sent_frames = s->sent_frames;
	a->sent_bytes = s->sent_bytes;
	a->unused_idle = s->unused_idle + (s->backlogged ? 0 : over);
	a->unused_busy = s->unused_busy + (s->backlogged ? over : 0);
	a->queued = s->count;
}

unsigned int
vsw_shaper_dequeue(struct vsw_shaper *s, uint64_t now, void **out,
		   unsigned int max)
{
	unsigned int n = 0;
	uint64_t gap;

	if (now > s->last) {
		gap = MIN(now - s->last, s->max_gap);
		uint64_t over = spill(s->tok_avg, s->rate_avg, gap,
				      s->depth_avg);

		if (unlikely(over)) {
			if (s->backlogged)
				s->unused_busy += over;
			else
				s->unused_idle += over;
		}
		s->tok_avg = refill(s->tok_avg, s->rate_avg, gap, s->depth_avg);
		/*
		 * While frames waited, the peak bucket may fill up to the
		 * burst: time the data plane lost (its CPU taken for longer
		 * than the 10 ms window) is made up instead of lost, so the
		 * long-run average holds. After an idle spell it holds 10 ms
		 * at peak as usual, so a new burst never outruns the peak.
		 */
		if (s->backlogged) {
			s->tok_peak = refill(s->tok_peak, s->rate_peak, gap,
					     s->depth_catchup);
		} else if (s->tok_peak > s->depth_peak) {
			/*
			 * Catch-up credit left when the queue ran dry: kept
			 * across the moment until the next frames arrive (a
			 * catch-up often empties the queue faster than the port
			 * refills it), spent by idle time at the peak rate, so
			 * after a real idle spell the bucket holds 10 ms again.
			 */
			unsigned __int128 idle = (unsigned __int128)s->rate_peak * gap;

			s->tok_peak = idle >= (unsigned __int128)(s->tok_peak -
								  s->depth_peak)
				? s->depth_peak : s->tok_peak - (int64_t)idle;
		} else {
			s->tok_peak = refill(s->tok_peak, s->rate_peak, gap,
					     s->depth_peak);
		}
		s->last = now;
	}
	while (n < max && s->count) {
		struct vsw_shaper_item *it = &s->q[s->head];
		int64_t cost = (int64_t)it->len << FP;

		/*
		 * A frame leaves only when both buckets hold its whole
		 * length (or are full, for a frame longer than a bucket):
		 * no overdraft, so over any span the port sends at most
		 * burst + avg * t, and a capture's timestamps (taken when
		 * the burst is handed to the port) keep a frame of margin.
		 */
		if (s->tok_avg < MIN(cost, s->depth_avg) ||
		    s->tok_peak < MIN(cost, s->depth_peak))
			break;

		s->tok_avg -= cost;
		s->tok_peak -= cost;
		out[n++] = it->pkt;
		s->sent_frames++;
		s->sent_bytes += it->len;
		s->head = (s->head + 1) % VSW_SHAPER_QMAX;
		s->count--;
	}
	s->backlogged = s->count > 0;
	return n;
}

unsigned int
vsw_shaper_drain(struct vsw_shaper *s, void **out, unsigned int max)
{
	unsigned int n = 0;

	while (n < max && s->count) {
		out[n++] = s->q[s->head].pkt;
		s->head = (s->head + 1) % VSW_SHAPER_QMAX;
		s->count--;
	}
	return n;
}
