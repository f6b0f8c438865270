/* SPDX-License-Identifier: MIT */
/* Patterns: each 8-byte word is a hash of (seed, its word index). */
#include <string.h>

#include "common/pattern.h"

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

void
pattern_fill(void *buf, size_t len, uint64_t seed, uint64_t offset)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = mix(seed ^ mix((offset + i) / 8));
		size_t n = len - i < 8 ? len - i : 8;

		memcpy(p + i, &v, n);
	}
}

bool
pattern_check(const void *buf, size_t len, uint64_t seed, uint64_t offset)
{
	uint8_t tmp[4096];

	for (size_t i = 0; i < len; i += sizeof(tmp)) {
		size_t n = len - i < sizeof(tmp) ? len - i : sizeof(tmp);

		pattern_fill(tmp, n, seed, offset + i);
		if (memcmp(tmp, (const uint8_t *)buf + i, n) != 0)
			return false;
	}
	return true;
}
