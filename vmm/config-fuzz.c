/* SPDX-License-Identifier: MIT */
/* libFuzzer target: vm.cfg parsing of arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "vmm/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmm_config *c = NULL;
	char err[256];

	if (vmm_config_parse((const char *)data, size, "fuzz.cfg", "/b", &c,
			     err, sizeof(err)) == 0) {
		char err2[256];

		/* A parsed config survives an override and frees cleanly. */
		if (vmm_config_set(c, "vcpus", "2", err2, sizeof(err2)) < 0)
			__builtin_trap();
		vmm_config_free(c);
	}
	return 0;
}
