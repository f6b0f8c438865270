/* SPDX-License-Identifier: MIT */
/*
 * Progress display for long operations: on stderr, only when stderr is a
 * terminal and progress is enabled, redrawn at most once a second. A NULL
 * handle is a no-op, so callers never branch on it.
 */
#ifndef COMMON_PROGRESS_H
#define COMMON_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress;

/* Tools call this with false for --json and --quiet. */
void progress_set_enabled(bool enabled);
/* Returns NULL when disabled or not on a terminal (or out of memory). */
struct progress *progress_start(const char *title, uint64_t total_bytes);
void progress_update(struct progress *p, uint64_t done_bytes);
/* Prints the final line and frees; NULL is a no-op. */
void progress_stop(struct progress *p);

#endif
