/* SPDX-License-Identifier: MIT */
/*
 * Position-dependent data patterns: the bytes at an offset depend on
 * (seed, offset), so a block read back from the wrong place, a stale
 * block or a torn write never passes a check. Used by tools, tests and
 * the test guest's host-side checks.
 */
#ifndef COMMON_PATTERN_H
#define COMMON_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 'offset' is the byte position of buf[0]; multiples of 8 keep runs equal. */
void pattern_fill(void *buf, size_t len, uint64_t seed, uint64_t offset);
bool pattern_check(const void *buf, size_t len, uint64_t seed,
		   uint64_t offset);

#endif
