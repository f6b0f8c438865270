/* SPDX-License-Identifier: MIT */
/* libFuzzer target: control requests (vsw_req_parse), untrusted socket bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vswitch/vsw-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vsw_req req;
	char err[256];
	int r;

	r = vsw_req_parse((const char *)data, size, &req, err, sizeof(err));
	if (r < 0 && (!err[0] || strchr(err, '\n')))
		__builtin_trap(); /* every refusal says why, on one line */
	if (r == 0 && (unsigned int)req.op >= VSW_REQ_COUNT)
		__builtin_trap();
	return 0;
}
