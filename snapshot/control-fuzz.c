/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: a control-socket request line (snap_control_parse), the
 * untrusted bytes a process serving disks reads from its socket.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_ctl_req *r = malloc(sizeof(*r));
	char err[256];

	if (!r)
		return 0;
	if (snap_control_parse((const char *)data, size, r, err,
			       sizeof(err)) == 0) {
		if (r->ndisks > SNAP_MAX_DISKS ||
		    strnlen(r->name, sizeof(r->name)) == sizeof(r->name))
			abort();
	}
	free(r);
	return 0;
}
