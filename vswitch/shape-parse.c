/* SPDX-License-Identifier: MIT */
/*
 * The shaping parameters as people write them: "avg=100M,peak=200M,
 * burst=1M" (rates in bit/s with SI multipliers, the burst in bytes with
 * binary ones, as VMware and tc use them), checked against the limits the
 * shaper supports. Pure; reached by the control-request fuzzer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"
#include "vswitch/vswitch.h"

/* 100 ms of the average rate, at least two full frames. */
#define BURST_DEFAULT_MS 100
#define FRAME_BYTES 1518

static int
number(const char *s, const char *key, bool rate, uint64_t *out, char *err,
       size_t errlen)
{
	uint64_t mult = 1, v;
	char *end;

	if (*s < '0' || *s > '9')
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		goto bad;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mult = rate ? 1000ull : 1024ull; end++; break;
	case 'm': case 'M': mult = rate ? 1000000ull : 1ull << 20; end++; break;
	case 'g': case 'G': mult = rate ? 1000000000ull : 1ull << 30; end++; break;
	default: break;
	}
	/* Optional unit words, for people who write them. */
	if (rate && (!strcmp(end, "bit") || !strcmp(end, "bps")))
		end += strlen(end);
	if (!rate && (!strcmp(end, "B") || !strcmp(end, "iB")))
		end += strlen(end);
	if (*end || (v && mult > UINT64_MAX / v))
		goto bad;
	*out = v * mult;
	return 0;
bad:
	snprintf(err, errlen, "%s: bad %s '%.32s' (e.g. %s)", key,
		 rate ? "rate" : "size", s, rate ? "100M = 100 Mbit/s" : "64K");
	return -EINVAL;
}

int
vsw_shape_parse(const char *s, struct vsw_shape_config *out, char *err,
		size_t errlen)
{
	char buf[256], *save = NULL, *item;
	bool have_avg = false, have_peak = false, have_burst = false;

	memset(out, 0, sizeof(*out));
	if (!strcmp(s, "off") || !*s)
		return 0;
	if (strlen(s) >= sizeof(buf)) {
		snprintf(err, errlen, "shaping parameters too long");
		return -EINVAL;
	}
	strcpy(buf, s);
	for (item = strtok_r(buf, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		int r;

		if (!eq) {
			snprintf(err, errlen, "'%.32s': want avg=RATE, peak=RATE "
				 "or burst=BYTES", item);
			return -EINVAL;
		}
		*eq = '\0';
		if (!strcmp(item, "avg")) {
			r = number(eq + 1, "avg", true, &out->avg_bps, err, errlen);
			have_avg = true;
		} else if (!strcmp(item, "peak")) {
			r = number(eq + 1, "peak", true, &out->peak_bps, err, errlen);
			have_peak = true;
		} else if (!strcmp(item, "burst")) {
			r = number(eq + 1, "burst", false, &out->burst_bytes, err,
				   errlen);
			have_burst = true;
		} else {
			snprintf(err, errlen, "unknown shaping parameter '%.32s' "
				 "(avg, peak, burst)", item);
			return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	if (!have_avg) {
		snprintf(err, errlen, "shaping needs avg=RATE");
		return -EINVAL;
	}
	if (out->avg_bps < VSW_SHAPE_MIN_BPS || out->avg_bps > VSW_SHAPE_MAX_BPS) {
		snprintf(err, errlen, "avg must be 8k..100G bit/s");
		return -EINVAL;
	}
	if (!have_peak)
		out->peak_bps = out->avg_bps;
	if (out->peak_bps < out->avg_bps || out->peak_bps > VSW_SHAPE_MAX_BPS) {
		snprintf(err, errlen, "peak must be avg..100G bit/s");
		return -EINVAL;
	}
	if (!have_burst)
		out->burst_bytes = MAX(out->avg_bps / 8 * BURST_DEFAULT_MS / 1000,
				       2ull * FRAME_BYTES);
	if (out->burst_bytes > VSW_SHAPE_MAX_BURST) {
		snprintf(err, errlen, "burst must be at most 1G bytes");
		return -EINVAL;
	}
	return 0;
}

const char *
vsw_shape_format(const struct vsw_shape_config *c, char *buf, size_t len)
{
	if (!c->avg_bps)
		snprintf(buf, len, "off");
	else
		snprintf(buf, len, "avg=%" PRIu64 ",peak=%" PRIu64 ",burst=%" PRIu64,
			 c->avg_bps, c->peak_bps, c->burst_bytes);
	return buf;
}
