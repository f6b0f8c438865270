/* SPDX-License-Identifier: MIT */
/*
 * Control-socket requests (control.c), apart so the fuzzer reaches the
 * parser without a socket; and the per-process part of a snapshot over
 * disks of several processes (group.c), which control.c drives.
 */
#ifndef SNAPSHOT_CONTROL_H
#define SNAPSHOT_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/snapshot.h"

enum snap_ctl_op {
	CTL_PING = 1,
	CTL_CREATE,
	CTL_DELETE,
	CTL_COMMIT,
	/* A group create, phase by phase on one connection (group.c). */
	CTL_PREPARE,
	CTL_HOLD,
	CTL_DECIDE,
	CTL_SWITCH,
	CTL_ABORT,
	/* How a group this process coordinates ended (another holder). */
	CTL_RESOLVE,
};

#define SNAP_CTL_HOLD_MS_DEFAULT 5000u
#define SNAP_CTL_HOLD_MS_MAX 60000u

struct snap_ctl_req {
	enum snap_ctl_op op;
	unsigned int ndisks;
	char disks[SNAP_MAX_DISKS][4096];  /* disk identities */
	char name[128];
	char description[256];
	char group[40];                    /* hex */
	char coordinator[4096];            /* a disk identity */
	unsigned int hold_ms;              /* the hold's own deadline */
};

/* Parses one request (untrusted): 0, or -EINVAL with 'err'. */
int snap_control_parse(const char *text, size_t len, struct snap_ctl_req *r,
		       char *err, size_t errlen);
/* The socket of a disk identity (snap_disk_id()). */
int snap_control_socket_path(const char *disk_id, char *out, size_t len);
/*
 * One request to the process serving disk identity 'id', its reply line
 * in 'out' within 'timeout_ms'; -ENOENT when nobody serves it.
 */
int snap_control_call_id(const char *id, const char *request, char *out,
			 size_t len, int timeout_ms);

/* A connection for a session: -ENOENT when nobody serves 'id'. */
int snap_control_connect(const char *id, int *fd);
/* One request and its reply line on it (-ECONNRESET, -ETIMEDOUT). */
int snap_control_send(int fd, const char *request, char *out, size_t len,
		      int timeout_ms);
/* The two halves, to ask several holders at once. */
int snap_control_write(int fd, const char *request);
int snap_control_read(int fd, char *out, size_t len, int timeout_ms);

/* ---- group.c ---- */

struct snap_group_part;

/* Always sets '*out' (snap_group_end() it, also after a failure). */
int snap_group_prepare(struct vdisk *const *disks, unsigned int n,
		       const struct snap_ctl_req *r,
		       struct snap_group_part **out);
int snap_group_hold(struct snap_group_part *g);
/* The coordinator's holder: writes the decision (then switch). */
int snap_group_decide(struct snap_group_part *g);
int snap_group_switch(struct snap_group_part *g);
/* After decide/switch answered: the nodes join the trees. */
int snap_group_finish(struct snap_group_part *g);
/* "committed", "aborted" or "pending" (left to the next open). */
const char *snap_group_abort(struct snap_group_part *g);
/* CLOCK_MONOTONIC of the gates' closing and opening. */
void snap_group_times(const struct snap_group_part *g, uint64_t *t0,
		      uint64_t *t1);
uint64_t snap_group_deadline(const struct snap_group_part *g);
bool snap_group_holding(const struct snap_group_part *g);
bool snap_group_switched(const struct snap_group_part *g);
void snap_group_end(struct snap_group_part *g);
int snap_group_resolve(const char *group, const char *coordinator,
		       bool *commit);
/*
 * How group 'group' ended, asked of the holder of disk 'coordinator' (an
 * undecided group is aborted by the asking), or read from its tree when
 * nobody holds it: 1 committed, 0 aborted, negative when the holder
 * lives but does not answer.
 */
int snap_group_ask(const char *group, const char *coordinator);

#endif
