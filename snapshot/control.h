/* SPDX-License-Identifier: MIT */
/*
 * Control-socket requests (control.c), apart so the fuzzer reaches the
 * parser without a socket.
 */
#ifndef SNAPSHOT_CONTROL_H
#define SNAPSHOT_CONTROL_H

#include <stddef.h>

#include "snapshot/snapshot.h"

enum snap_ctl_op {
	CTL_PING = 1,
	CTL_CREATE,
	CTL_DELETE,
	CTL_COMMIT,
};

struct snap_ctl_req {
	enum snap_ctl_op op;
	unsigned int ndisks;
	char disks[SNAP_MAX_DISKS][4096];  /* disk identities */
	char name[128];
	char description[256];
};

/* Parses one request (untrusted): 0, or -EINVAL with 'err'. */
int snap_control_parse(const char *text, size_t len, struct snap_ctl_req *r,
		       char *err, size_t errlen);
/* The socket of a disk identity (snap_disk_id()). */
int snap_control_socket_path(const char *disk_id, char *out, size_t len);

#endif
