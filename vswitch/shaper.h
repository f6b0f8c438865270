/* SPDX-License-Identifier: MIT */
/*
 * A traffic shaper for one direction of a port: two token buckets (the
 * average rate with the burst as its depth, the peak rate with a depth of
 * 10 ms at peak or two full frames, whichever is more) in front of a FIFO.
 * While frames wait the peak bucket may fill up to the burst, so time a
 * held-up data plane lost is made up (credit left when the queue runs
 * dry is spent by idle time). A frame leaves when both buckets hold its
 * length (a frame longer than a bucket: when it is full) and takes it
 * from both: over any span t the port sends at most burst + avg * t
 * (+ one frame only for frames longer than the burst). Frames that find
 * the FIFO full are refused (the caller drops and counts them).
 *
 * Pure: frames are opaque pointers with a length; time is TSC cycles
 * passed in. Token amounts are bytes in 32.32 fixed point, which keeps
 * 5 Gbit/s and 1 Mbit/s alike exact to better than a millionth.
 *
 * Worked example: avg 8 Mbit/s (10^6 B/s), peak 16 Mbit/s, burst 10000
 * bytes, 1500-byte frames queued after a long pause. The average bucket
 * holds 10000 B, the peak bucket 20000 B (10 ms at peak): the first six
 * frames leave at once (1000 B are left in the average bucket), from
 * then on one frame per 1.5 ms (average rate). With burst 100000 B the
 * peak bucket would empty first: 13 frames at once, then one every
 * 0.75 ms (peak rate) until the average bucket, losing 1 B/us net, runs
 * out after about 80 ms; then the average rate.
 */
#ifndef VSWITCH_SHAPER_H
#define VSWITCH_SHAPER_H

#include <stdbool.h>
#include <stdint.h>

#include "vswitch/vswitch.h"

#define VSW_SHAPER_QMAX 4096        /* frames a queue can hold */
#define VSW_SHAPER_FRAME_MAX 1518   /* a full frame, for depths */

struct vsw_shaper_item {
	void *pkt;
	uint32_t len;
};

struct vsw_shaper {
	uint64_t rate_avg, rate_peak;   /* bytes per cycle, 32.32; peak 0 = none */
	int64_t depth_avg, depth_peak;  /* bytes, 32.32 */
	int64_t depth_catchup;          /* peak depth while frames wait */
	bool backlogged;                /* frames waited after the last dequeue */
	int64_t tok_avg, tok_peak;      /* bytes, 32.32; >= -one frame */
	uint64_t last;                  /* TSC of the last refill */
	uint64_t max_gap;               /* cycles of refill credited at most */
	uint32_t qlimit;                /* frames */
	uint32_t head, count;
	struct vsw_shaper_item *q;      /* VSW_SHAPER_QMAX items, caller memory */
	uint64_t sent_frames, sent_bytes;
	uint64_t refused;               /* queue full */
	/*
	 * Average-bucket tokens (bytes) that overflowed its depth: while
	 * nothing waited (the port had less to send than the rate), or while
	 * frames waited (the data plane was away longer than the burst
	 * lasts). Over any span, rate * span = sent + both + the change of
	 * the bucket (within burst + one frame): what a test of the rate
	 * checks without trusting the sender to keep up.
	 */
	uint64_t unused_idle, unused_busy;
};

/* The counters as of 'now' (what a dequeue then would have accounted). */
struct vsw_shaper_account {
	uint64_t sent_frames, sent_bytes, unused_idle, unused_busy;
	uint32_t queued;
};
void vsw_shaper_account(const struct vsw_shaper *s, uint64_t now,
			struct vsw_shaper_account *a);

/*
 * Sets the shaper's parameters from 'c' (avg_bps > 0), keeping what is
 * queued, with full buckets. 'q' is the queue storage (VSW_SHAPER_QMAX
 * items) for a fresh shaper, NULL to keep the current one.
 */
void vsw_shaper_config(struct vsw_shaper *s, const struct vsw_shape_config *c,
		       uint64_t tsc_hz, uint64_t now, struct vsw_shaper_item *q);
/* Queues a frame; false when the queue is full (counted as refused). */
bool vsw_shaper_enqueue(struct vsw_shaper *s, void *pkt, uint32_t len);
/* Moves up to 'max' frames that may leave at 'now' into 'out'. */
unsigned int vsw_shaper_dequeue(struct vsw_shaper *s, uint64_t now,
				void **out, unsigned int max);
/* Frames queued. */
static inline uint32_t
vsw_shaper_backlog(const struct vsw_shaper *s)
{
	return s->count;
}
/* Room left in the queue. */
static inline uint32_t
vsw_shaper_room(const struct vsw_shaper *s)
{
	return s->qlimit - s->count;
}
/* Takes every queued frame out (to free them), ignoring the buckets. */
unsigned int vsw_shaper_drain(struct vsw_shaper *s, void **out,
			      unsigned int max);

#endif
