/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: a delta disk's bytes (VSDELTA1) through the parser every
 * open uses, then everything a reader does with what it accepted:
 * lookups, walks over the entries, the cross-check of the tables.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "snapshot/delta.h"

struct mem {
	const uint8_t *data;
	size_t size;
};

static int
mem_pread(void *priv, void *buf, size_t len, uint64_t off)
{
	const struct mem *m = priv;

	/* Past the end reads as zeros, like a sparse file. */
	memset(buf, 0, len);
	if (off < m->size)
		memcpy(buf, m->data + off, len < m->size - off ? len :
					   m->size - off);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem m = { data, size };
	struct delta_src src = { mem_pread, &m, size };
	struct delta *d;
	char err[256];
	uint64_t g = 0, n = 0;

	if (delta_parse(&src, &d, err, sizeof(err)) < 0)
		return 0;
	while ((g = delta_next(d, g)) != UINT64_MAX && n++ < 100000) {
		(void)delta_get(d, g);
		g++;
	}
	(void)delta_count_range(d, 0, delta_ngrains(d));
	(void)delta_data_grains(d);
	(void)delta_verify(d, err, sizeof(err));
	delta_abandon(d);
	return 0;
}
