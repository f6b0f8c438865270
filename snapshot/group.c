/* SPDX-License-Identifier: MIT */
/*
 * One process's part of a snapshot over disks of several processes (a
 * consistency group: the disks of several running VMs, `vsnap create`
 * coordinating them over their control sockets, group-client.c).
 *
 * It is the multi-disk create of ops.c cut into phases that arrive as
 * requests on one connection (control.c), with the same journal: every
 * disk's tree gets a create intent naming the group and the coordinator
 * disk, and the coordinator's intent 'committed' is the decision for all.
 *
 *   prepare  intents, node descriptors and empty deltas; dirty tables
 *            committed so the hold only has what arrives meanwhile
 *   hold     gates closed: requests in flight drained, new ones queued
 *   decide   (the process holding the coordinator disk) the decision is
 *            written, then as switch
 *   switch   every disk switches to its new delta, gates open, the nodes
 *            join the trees
 *   abort    the client gave up, went away, or the hold's own deadline
 *            passed: the coordinator's holder rolls back; any other asks
 *            the coordinator's holder which way the group went
 *            (snap_group_resolve), so it never rolls back what the
 *            coordinator committed, nor keeps what it will not
 *
 * A resolve marks an undecided group aborted in the coordinator's
 * process, so a decide that comes later is refused: a participant whose
 * hold ran out can decide on its own without racing the coordinator.
 * When the coordinator's holder is gone its tree file is read instead
 * (nobody will write that decision any more). Only when that holder
 * lives but does not answer does a participant open its gates with the
 * intent left for the next open of its disks (the guest's I/O is never
 * held beyond the deadline plus the resolve's timeout).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "snapshot/chain.h"
#include "snapshot/control.h"
#include "snapshot/snap-internal.h"

#define RESOLVE_TIMEOUT_MS 2000
#define MAX_DECISIONS 64

/* ---- decisions of groups this process coordinates ---- */

enum decision { D_PREPARED = 1, D_COMMITTED, D_ABORTED };

static pthread_mutex_t decisions_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char group[SNAP_GROUP_MAX + 1];
	enum decision d;
} decisions[MAX_DECISIONS];
static unsigned int decisions_next;

/* With decisions_mu held. */
static enum decision *
decision_find(const char *group)
{
	for (unsigned int i = 0; i < MAX_DECISIONS; i++)
		if (decisions[i].d && !strcmp(decisions[i].group, group))
			return &decisions[i].d;
	return NULL;
}

/* With decisions_mu held; the oldest entry makes room (long finished). */
static enum decision *
decision_add(const char *group, enum decision d)
{
	unsigned int i = decisions_next++ % MAX_DECISIONS;

	snprintf(decisions[i].group, sizeof(decisions[i].group), "%s", group);
	decisions[i].d = d;
	return &decisions[i].d;
}

int
snap_group_resolve(const char *group, const char *coordinator, bool *commit)
{
	struct snap_intent *in;
	enum decision *d;
	int rc;

	pthread_mutex_lock(&decisions_mu);
	d = decision_find(group);
	if (d) {
		if (*d == D_PREPARED)
			*d = D_ABORTED;
		*commit = *d == D_COMMITTED;
		pthread_mutex_unlock(&decisions_mu);
		return 0;
	}
	/* Not ours now (finished long ago, or this process never prepared
	   it): the coordinator's tree says, and an undecided group stays
	   aborted. */
	in = calloc(1, sizeof(*in));
	if (!in) {
		pthread_mutex_unlock(&decisions_mu);
		return -ENOMEM;
	}
	snprintf(in->coordinator, sizeof(in->coordinator), "%s", coordinator);
	snprintf(in->node.group, sizeof(in->node.group), "%s", group);
	rc = snap_coordinator_decision(in);
	*commit = rc == 1;
	if (rc == 0)
		decision_add(group, D_ABORTED);
	pthread_mutex_unlock(&decisions_mu);
	free(in);
	return rc < 0 ? rc : 0;
}

/* ---- one process's part ---- */

struct snap_group_part {
	unsigned int n;
	struct snap_ctx *xs;
	struct snap_create_plan *p;
	char group[SNAP_GROUP_MAX + 1];
	char coordinator[4096];
	int coord;                 /* our disk that is the coordinator, -1 */
	unsigned int hold_ms;
	unsigned int made, closed;
	bool prepared, decided, done, finished;
	int switch_rc;
	uint64_t hold_t0, hold_t1;
};

static void
gates_open(struct snap_group_part *g)
{
	for (unsigned int i = 0; i < g->closed; i++)
		vdisk_gate_open(g->xs[i].disk);
	if (g->closed)
		g->hold_t1 = clock_mono_ns();
	g->closed = 0;
}

static void
unprepare(struct snap_group_part *g)
{
	for (unsigned int i = 0; i < g->n; i++)
		snap_create_unprepare(&g->xs[i], &g->p[i]);
	g->prepared = false;
}

int
snap_group_prepare(struct vdisk *const *disks, unsigned int n,
		   const struct snap_ctl_req *r, struct snap_group_part **out)
{
	struct snap_group_part *g;
	enum decision *d;
	char id[4096];
	int rc = 0;

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->xs = calloc(n, sizeof(*g->xs));
	g->p = calloc(n, sizeof(*g->p));
	if (!g->xs || !g->p) {
		free(g->xs);
		free(g->p);
		free(g);
		return -ENOMEM;
	}
	g->n = n;
	g->coord = -1;
	g->hold_ms = r->hold_ms;
	snprintf(g->group, sizeof(g->group), "%s", r->group);
	snprintf(g->coordinator, sizeof(g->coordinator), "%s",
		 r->coordinator);
	*out = g;
	snap_online_lock();
	for (unsigned int i = 0; i < n && rc == 0; i++) {
		rc = snap_ctx_from_disk(disks[i], &g->xs[i]);
		if (rc == 0) {
			g->made++;
			rc = snap_check_persistent(&g->xs[i]);
		}
		if (rc == 0 && snap_disk_id(disks[i]->path, id, sizeof(id)) == 0 &&
		    !strcmp(id, r->coordinator))
			g->coord = (int)i;
	}
	if (rc == 0)
		rc = snap_create_check(g->xs, n, r->name, r->description);
	if (rc < 0)
		return rc;
	if (g->coord >= 0) {
		pthread_mutex_lock(&decisions_mu);
		d = decision_find(g->group);
		if (d)
			rc = -EALREADY;
		else
			decision_add(g->group, D_PREPARED);
		pthread_mutex_unlock(&decisions_mu);
		if (rc < 0) {
			vdisk_err("snapshot", "group %s was seen before",
				  g->group);
			return rc;
		}
	}
	g->prepared = true;
	for (unsigned int i = 0; i < n && rc == 0; i++)
		rc = snap_create_prepare(&g->xs[i], r->name, r->description,
					 g->group, (int)i == g->coord ? NULL :
					 g->coordinator, &g->p[i]);
	if (rc < 0) {
		unprepare(g);
		if (g->coord >= 0) {
			pthread_mutex_lock(&decisions_mu);
			d = decision_find(g->group);
			if (d)
				*d = D_ABORTED;
			pthread_mutex_unlock(&decisions_mu);
		}
		return rc;
	}
	/* Commit what the tops hold now, so the hold only has what
	   arrives meanwhile. */
	for (unsigned int i = 0; i < n; i++)
		if (g->xs[i].chain && g->xs[i].chain->l[0]->delta)
			chain_commit_layer(g->xs[i].chain, 0);
	return 0;
}

int
snap_group_hold(struct snap_group_part *g)
{
	g->hold_t0 = clock_mono_ns();
	for (unsigned int i = 0; i < g->n; i++) {
		int rc = vdisk_gate_close(g->xs[i].disk, (int)g->hold_ms);

		if (rc < 0) {
			vdisk_err("snapshot", "%s: requests in flight did not "
				  "finish within %u ms", g->xs[i].path,
				  g->hold_ms);
			gates_open(g);
			return rc;
		}
		g->closed = i + 1;
	}
	return 0;
}

/*
 * Switches every disk and opens the gates; the nodes join the trees in
 * snap_group_finish(), after the answer, so another holder still holding
 * does not wait for those writes.
 */
static int
switch_all(struct snap_group_part *g)
{
	int rc = 0;

	for (unsigned int i = 0; i < g->n && rc == 0; i++)
		rc = snap_create_switch(&g->xs[i], &g->p[i]);
	gates_open(g);
	g->done = true;
	g->switch_rc = rc;
	if (rc < 0)
		/* Past the decision: the next open finishes it. */
		log_warn("snapshot", "group %s: a switch failed after the "
			 "decision: %s; the next open of the disk finishes it",
			 g->group, strerror(-rc));
	return rc;
}

int
snap_group_finish(struct snap_group_part *g)
{
	int rc = 0, rc2;

	if (!g->done || g->switch_rc < 0 || g->finished)
		return g->switch_rc;
	g->finished = true;
	/* Members first: the coordinator's intent is their decision. */
	for (unsigned int i = g->n; i-- > 0;) {
		if ((int)i == g->coord)
			continue;
		rc2 = snap_create_finish(&g->xs[i]);
		rc = rc ? rc : rc2;
	}
	if (g->coord >= 0) {
		rc2 = snap_create_finish(&g->xs[g->coord]);
		rc = rc ? rc : rc2;
	}
	if (rc < 0)
		log_warn("snapshot", "group %s: the tree could not be updated "
			 "(%s); the next open of the disk finishes it",
			 g->group, strerror(-rc));
	return rc;
}

int
snap_group_decide(struct snap_group_part *g)
{
	struct snap_ctx *x;
	enum decision *d;
	int rc;

	if (g->coord < 0 || g->closed != g->n) {
		vdisk_err("snapshot", "decide: not the coordinator, or not "
			  "holding");
		return -EPROTO;
	}
	x = &g->xs[g->coord];
	pthread_mutex_lock(&decisions_mu);
	d = decision_find(g->group);
	if (!d || *d != D_PREPARED) {
		pthread_mutex_unlock(&decisions_mu);
		vdisk_err("snapshot", "group %s was given up by a participant "
			  "whose hold deadline passed", g->group);
		return -ECANCELED;
	}
	x->tree->intent.committed = true;
	rc = snap_ctx_store_tree(x);
	if (rc < 0) {
		/* Whether it reached the disk is unknown: the next open of
		   the coordinator's disk sees. Stay undecided here. */
		x->tree->intent.committed = false;
		pthread_mutex_unlock(&decisions_mu);
		vdisk_err("snapshot", "%s: writing the decision: %s", x->path,
			  strerror(-rc));
		return rc;
	}
	*d = D_COMMITTED;
	pthread_mutex_unlock(&decisions_mu);
	g->decided = true;
	return 0;
}

int
snap_group_switch(struct snap_group_part *g)
{
	if (g->coord >= 0 && !g->decided) {
		vdisk_err("snapshot", "switch: the coordinator decides first");
		return -EPROTO;
	}
	if (g->closed != g->n) {
		vdisk_err("snapshot", "switch: not holding");
		return -EPROTO;
	}
	return switch_all(g);
}

int
snap_group_ask(const char *group, const char *coordinator)
{
	struct snap_intent *in;
	struct json_writer w;
	char buf[512], *req;
	int rc;

	json_writer_init_mem(&w);
	json_obj_begin(&w, NULL);
	json_str(&w, "op", "resolve");
	json_str(&w, "group", group);
	json_str(&w, "coordinator", coordinator);
	json_obj_end(&w);
	req = json_writer_take(&w);
	if (!req)
		return -ENOMEM;
	rc = snap_control_call_id(coordinator, req, buf, sizeof(buf),
				  RESOLVE_TIMEOUT_MS);
	free(req);
	if (rc == 0) {
		if (strstr(buf, "\"decision\":\"commit\""))
			return 1;
		if (strstr(buf, "\"decision\":\"abort\""))
			return 0;
		return -EPROTO;
	}
	if (rc != -ENOENT)
		return rc;
	/* Nobody serves the coordinator disk: its tree is final. */
	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	snprintf(in->coordinator, sizeof(in->coordinator), "%s",
		 coordinator);
	snprintf(in->node.group, sizeof(in->node.group), "%s", group);
	rc = snap_coordinator_decision(in);
	free(in);
	return rc;
}

const char *
snap_group_abort(struct snap_group_part *g)
{
	enum decision *d;
	int rc;

	if (g->done || !g->prepared) {
		snap_group_finish(g);
		gates_open(g);
		return g->done ? "committed" : "aborted";
	}
	if (g->decided) {
		switch_all(g);
		snap_group_finish(g);
		return "committed";
	}
	if (g->coord >= 0) {
		pthread_mutex_lock(&decisions_mu);
		d = decision_find(g->group);
		if (d && *d == D_PREPARED)
			*d = D_ABORTED;
		pthread_mutex_unlock(&decisions_mu);
		unprepare(g);
		gates_open(g);
		return "aborted";
	}
	rc = snap_group_ask(g->group, g->coordinator);
	if (rc == 1 && g->closed == g->n) {
		switch_all(g);
		snap_group_finish(g);
		return "committed";
	}
	if (rc == 0) {
		unprepare(g);
		gates_open(g);
		return "aborted";
	}
	gates_open(g);
	log_warn("snapshot", "group %s: the coordinator's holder did not "
		 "say how it ended (%s); the next open of the disks finishes "
		 "or rolls it back", g->group, strerror(rc < 0 ? -rc : EPROTO));
	return "pending";
}

void
snap_group_times(const struct snap_group_part *g, uint64_t *t0, uint64_t *t1)
{
	*t0 = g->hold_t0;
	*t1 = g->hold_t1;
}

uint64_t
snap_group_deadline(const struct snap_group_part *g)
{
	return g->hold_t0 + (uint64_t)g->hold_ms * 1000000ull;
}

bool
snap_group_switched(const struct snap_group_part *g)
{
	return g->done;
}

bool
snap_group_holding(const struct snap_group_part *g)
{
	return g->closed != 0;
}

void
snap_group_end(struct snap_group_part *g)
{
	if (!g)
		return;
	gates_open(g);
	snap_group_finish(g);
	for (unsigned int i = 0; i < g->n; i++)
		chain_layer_close(g->p[i].new_layer);
	for (unsigned int i = 0; i < g->made; i++)
		snap_ctx_release(&g->xs[i]);
	snap_online_unlock();
	free(g->xs);
	free(g->p);
	free(g);
}
