/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the saved configuration file (vsw_config_parse). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "vswitch/vsw-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vsw_config_doc doc;
	char err[256];

	if (vsw_config_parse((const char *)data, size, &doc, err,
			     sizeof(err)) == 0) {
		if (doc.nswitches > VSW_MAX_SWITCHES || doc.nports > VSW_MAX_PORTS)
			__builtin_trap();
		for (unsigned int i = 0; i < doc.nports; i++)
			if (doc.port[i].sw >= doc.nswitches ||
			    !vsw_name_valid(doc.port[i].cfg.name))
				__builtin_trap();
	}
	return 0;
}
