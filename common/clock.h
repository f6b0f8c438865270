/* SPDX-License-Identifier: MIT */
/*
 * Clock reads in one place, so timing code elsewhere takes 'now_ns' as an
 * argument and tests can inject time.
 */
#ifndef COMMON_CLOCK_H
#define COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

#define NS_PER_US 1000ull
#define NS_PER_MS 1000000ull
#define NS_PER_SEC 1000000000ull

/* Monotonic nanoseconds: for leases, timeouts and rates. */
static inline uint64_t
clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* The same in milliseconds: for timeouts in tests and protocol timers. */
static inline uint64_t
clock_mono_ms(void)
{
	return clock_mono_ns() / NS_PER_MS;
}

/* Wall-clock nanoseconds since the epoch: only for display and records. */
static inline uint64_t
clock_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

#endif
