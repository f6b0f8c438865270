/* SPDX-License-Identifier: MIT */
/*
 * Byte ranges of a request's buffers, for whoever splits a request over
 * several files or extents (the datastore store, the snapshot chain).
 */
#include <string.h>

#include "vdisk/vdisk-internal.h"

/* Calls fn() on each piece of [from, from+len); returns their count. */
static unsigned int
walk(const struct vdisk_io *io, uint64_t from, uint64_t len,
     void (*fn)(void *base, uint64_t len, unsigned int n, void *arg),
     void *arg)
{
	unsigned int n = 0;
	uint64_t pos = 0;

	for (uint32_t i = 0; i < io->iovcnt && len; i++) {
		uint64_t l = io->iov[i].iov_len;

		if (pos + l > from) {
			uint64_t skip = from > pos ? from - pos : 0;
			uint64_t take = MIN(l - skip, len);

			if (fn)
				fn((char *)io->iov[i].iov_base + skip, take, n,
				   arg);
			n++;
			len -= take;
			from += take;
		}
		pos += l;
	}
	return n;
}

static void
point(void *base, uint64_t len, unsigned int n, void *arg)
{
	struct iovec *out = arg;

	out[n].iov_base = base;
	out[n].iov_len = len;
}

static void
zero(void *base, uint64_t len, unsigned int n, void *arg)
{
	memset(base, 0, len);
}

unsigned int
vdisk_io_slice(const struct vdisk_io *io, uint64_t from, uint64_t len,
	       struct iovec *out)
{
	return walk(io, from, len, out ? point : NULL, out);
}

void
vdisk_io_zero(const struct vdisk_io *io, uint64_t from, uint64_t len)
{
	walk(io, from, len, zero, NULL);
}
