/* SPDX-License-Identifier: MIT */
/* Shared by the image fuzzers: walk a reader's status and read a bit. */
#ifndef VDISK_IMAGE_FUZZ_H
#define VDISK_IMAGE_FUZZ_H

#include <stdlib.h>

#include "vdisk/image.h"

/* Bounded work per input, whatever capacity the image claims. */
static inline void
fuzz_walk(struct img_reader *r)
{
	static unsigned char buf[1 << 16];
	uint64_t off = 0, n;
	int steps = 0;

	while (off < r->capacity && steps++ < 256) {
		int fl = r->ops->status(r, off, r->capacity - off, &n);

		if (fl < 0 || n == 0 || n > r->capacity - off)
			break;
		if (fl & VDISK_EXTENT_DATA) {
			size_t len = (size_t)(n < sizeof(buf) ? n : sizeof(buf));

			if (r->ops->read(r, buf, len, off) < 0)
				break;
		}
		off += n;
	}
}

#endif
