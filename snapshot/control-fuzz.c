/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: a control-socket request line (snap_control_parse), the
 * untrusted bytes a process serving disks reads from its socket: the
 * one-shot requests and a group create's session phases (prepare, hold,
 * decide, switch, abort, resolve).
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
		/* A group session's fields are there and sane. */
		if ((r->op == CTL_PREPARE || r->op == CTL_RESOLVE) &&
		    (!r->group[0] || !r->coordinator[0] ||
		     strnlen(r->group, sizeof(r->group)) == sizeof(r->group) ||
		     strspn(r->group, "0123456789abcdef") != strlen(r->group) ||
		     r->hold_ms < 1 || r->hold_ms > SNAP_CTL_HOLD_MS_MAX))
			abort();
		if (r->op == CTL_PREPARE && (r->ndisks == 0 || !r->name[0]))
			abort();
	}
	free(r);
	return 0;
}
