/* SPDX-License-Identifier: MIT */
/* Terminal progress line: percentage, bytes done and rate. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/clock.h"
#include "common/progress.h"

struct progress {
	const char *title;
	uint64_t total, done;
	uint64_t start_ns, last_ns;
};

static bool progress_enabled = true;

void
progress_set_enabled(bool enabled)
{
	progress_enabled = enabled;
}

struct progress *
progress_start(const char *title, uint64_t total_bytes)
{
	struct progress *p;

	if (!progress_enabled || !isatty(STDERR_FILENO))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->title = title;
	p->total = total_bytes;
	p->start_ns = p->last_ns = clock_mono_ns();
	return p;
}

static void
draw(struct progress *p, uint64_t now, const char *end)
{
	char done[32], rate[32];
	double secs = (double)(now - p->start_ns) / NS_PER_SEC;
	unsigned pct = p->total ? (unsigned)(p->done * 100 / p->total) : 100;

	cli_format_size(p->done, done, sizeof(done));
	cli_format_size(secs > 0 ? (uint64_t)(p->done / secs) : 0, rate,
			sizeof(rate));
	fprintf(stderr, "\r%s: %3u%% (%s, %s/s)%s", p->title, pct, done, rate,
		end);
}

void
progress_update(struct progress *p, uint64_t done_bytes)
{
	uint64_t now;

	if (!p)
		return;
	p->done = done_bytes;
	now = clock_mono_ns();
	if (now - p->last_ns < NS_PER_SEC)
		return;
	p->last_ns = now;
	draw(p, now, "");
}

void
progress_stop(struct progress *p)
{
	if (!p)
		return;
	draw(p, clock_mono_ns(), ", done.\n");
	free(p);
}
