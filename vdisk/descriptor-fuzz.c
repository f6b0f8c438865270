/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the descriptor parser, and format/parse round trips. */
#include <stdlib.h>
#include <string.h>

#include "vdisk/vdisk-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vdisk_desc d, d2;
	static char text[DESC_MAX_BYTES];
	char err[256];
	int n;

	if (vdisk_desc_parse((const char *)data, size, &d, err,
			     sizeof(err)) < 0)
		return 0;
	/* Whatever parsed must write out and parse back the same. */
	n = vdisk_desc_format(&d, text, sizeof(text));
	if (n < 0)
		return 0;
	if (vdisk_desc_parse(text, (size_t)n, &d2, err, sizeof(err)) < 0)
		abort();
	if (vdisk_desc_capacity(&d) != vdisk_desc_capacity(&d2) ||
	    d.nextents != d2.nextents || d.type != d2.type)
		abort();
	return 0;
}
