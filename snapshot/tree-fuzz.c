/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the snapshot tree file (NAME.vsnap, JSON) through its
 * parser; what it accepts must format and parse again to the same text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/snap-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_tree *t, *t2;
	char err[256], *text, *text2;

	if (snap_tree_parse((const char *)data, size, &t, err, sizeof(err)) < 0)
		return 0;
	text = snap_tree_format(t);
	if (text) {
		if (snap_tree_parse(text, strlen(text), &t2, err,
				    sizeof(err)) < 0)
			abort();
		text2 = snap_tree_format(t2);
		if (text2 && strcmp(text, text2))
			abort();
		free(text2);
		snap_tree_free(t2);
	}
	free(text);
	snap_tree_free(t);
	return 0;
}
