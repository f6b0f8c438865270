/* SPDX-License-Identifier: MIT */
/* libFuzzer target: control-socket requests from arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "vmm/control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmm_ctl_req req;
	char err[200];

	if (vmm_control_parse((const char *)data, size, &req, err,
			      sizeof(err)) == 0 &&
	    (unsigned int)req.cmd > VMM_CTL_BALLOON)
		__builtin_trap();
	return 0;
}
