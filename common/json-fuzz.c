/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the JSON parser reads control-socket messages. */
#include <stdint.h>
#include <stdlib.h>

#include "common/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_doc *doc;
	char err[128];

	if (json_parse((const char *)data, size, &doc, err, sizeof(err)) == 0) {
		const struct json_node *root = json_root(doc);
		int64_t v;

		/* Walk the typed getters over whatever came in. */
		json_get_str(root, "cmd", NULL);
		json_get_int(root, "n", INT64_MIN, INT64_MAX, &v);
		json_get_bool(root, "b", false);
		json_free(doc);
	}
	return 0;
}
