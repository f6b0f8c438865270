/* SPDX-License-Identifier: MIT */
/*
 * The client side of a snapshot over disks held by several processes
 * (group.c has the holders' side): one crash-consistent point over the
 * disks of several running VMs, and of disks nobody holds.
 *
 *   prepare  each holder, then the free disks here (all with the same
 *            group and coordinator: the first disk of the first holder)
 *   hold     each holder drains and holds its guest I/O
 *   decide   the coordinator's holder writes the decision, switches and
 *            lets its guest go on (all others still hold: the point in
 *            time is while every gate was closed)
 *   switch   the free disks here, then every other holder
 * A failure before the decision aborts everyone; a decide that fails
 * without an answer leaves it to the coordinator (the others and we ask
 * it, group.c); after the decision, a holder that is gone has its disks
 * finished here when its lock is free, or at their next open.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "snapshot/chain.h"
#include "snapshot/control.h"
#include "snapshot/snap-internal.h"

#define PREPARE_TIMEOUT_MS 30000

static unsigned int hold_limit_ms = SNAP_CTL_HOLD_MS_DEFAULT;

void
snap_set_hold_limit_ms(unsigned int ms)
{
	if (ms >= 1 && ms <= SNAP_CTL_HOLD_MS_MAX)
		hold_limit_ms = ms;
}

struct holder {
	int pid;
	unsigned int n;
	unsigned int idx[SNAP_MAX_DISKS];
	int fd;
	bool prepared, gone;       /* gone: lost without a last word */
	bool ended;                /* it ended the session itself */
	const char *outcome;       /* how it ended there, when it said */
	uint64_t t0, t1;
};

struct answer {
	bool ok;
	int err;
	char error[512];
	char outcome[16];
	uint64_t t0, t1;
};

struct run {
	const char *const *disks;
	unsigned int n;
	char (*ids)[4096];
	struct holder h[SNAP_MAX_DISKS];
	unsigned int nh;
	struct snap_ctx *off;       /* disks nobody holds, held here */
	struct snap_create_plan *offp;
	unsigned int noff, offheld;
	unsigned int offidx[SNAP_MAX_DISKS];
	char group[SNAP_GROUP_MAX + 1];
	const char *coordinator;
	int rc;
	bool decided;
	char why[768];              /* the first failure */
};

/* Test hook: VSTACK_SNAP_TEST_STOP=PHASE stops vsnap after that phase. */
static void
test_stop(const char *phase)
{
	const char *e = getenv("VSTACK_SNAP_TEST_STOP");

	if (e && !strcmp(e, phase))
		raise(SIGSTOP);
}

static void
fail(struct run *r, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
fail(struct run *r, int rc, const char *fmt, ...)
{
	va_list ap;

	if (r->rc)
		return;
	r->rc = rc < 0 ? rc : -EIO;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
}

static const char *
first_disk(struct run *r, struct holder *h)
{
	return r->disks[h->idx[0]];
}

static void
parse_answer(const char *buf, struct answer *a)
{
	const struct json_node *root;
	struct json_doc *doc;
	char err[64];
	int64_t v;

	memset(a, 0, sizeof(*a));
	if (json_parse(buf, strlen(buf), &doc, err, sizeof(err)) < 0) {
		a->err = -EPROTO;
		snprintf(a->error, sizeof(a->error), "a bad answer");
		return;
	}
	root = json_root(doc);
	a->ok = json_get_bool(root, "ok", false);
	if (!a->ok) {
		a->err = json_get_int(root, "errno", 1, 4095, &v) == 0 ?
			 -(int)v : -EIO;
		snprintf(a->error, sizeof(a->error), "%s",
			 json_get_str(root, "error", "failed"));
	}
	snprintf(a->outcome, sizeof(a->outcome), "%s",
		 json_get_str(root, "outcome", ""));
	if (json_get_int(root, "hold_start_ns", 0, INT64_MAX, &v) == 0)
		a->t0 = (uint64_t)v;
	if (json_get_int(root, "hold_end_ns", 0, INT64_MAX, &v) == 0)
		a->t1 = (uint64_t)v;
	json_free(doc);
}

/* Sends a request to a holder (its answer: answer()). */
static void
tell(struct holder *h, const char *req)
{
	if (!h->gone && !h->ended)
		snap_control_write(h->fd, req);
}

/* A holder's answer; false with a->error set on any failure. */
static bool
answer(struct holder *h, int timeout_ms, struct answer *a)
{
	char buf[2048];
	int rc;

	memset(a, 0, sizeof(*a));
	if (h->gone || h->ended) {
		a->err = -ECONNRESET;
		snprintf(a->error, sizeof(a->error), "%s", h->ended ?
			 "it had ended the snapshot itself" :
			 "the connection is lost");
		return false;
	}
	rc = snap_control_read(h->fd, buf, sizeof(buf), timeout_ms);
	if (rc < 0) {
		/* Closing tells a holder still waiting to end on its own. */
		h->gone = true;
		close(h->fd);
		h->fd = -1;
		a->err = rc;
		snprintf(a->error, sizeof(a->error), "%s",
			 rc == -ETIMEDOUT ? "no answer in time" :
			 "the connection was lost (the process died?)");
		return false;
	}
	parse_answer(buf, a);
	if (a->outcome[0]) {
		h->ended = true;
		close(h->fd);
		h->fd = -1;
	}
	if (a->outcome[0])
		h->outcome = !strcmp(a->outcome, "committed") ? "committed" :
			     !strcmp(a->outcome, "aborted") ? "aborted" :
			     "pending";
	if (a->t1) {
		h->t0 = a->t0;
		h->t1 = a->t1;
	}
	return a->ok;
}

static bool
ask(struct holder *h, const char *req, int timeout_ms, struct answer *a)
{
	tell(h, req);
	return answer(h, timeout_ms, a);
}

static char *
prepare_request(struct run *r, struct holder *h, const char *name,
		const char *description)
{
	struct json_writer w;

	json_writer_init_mem(&w);
	json_obj_begin(&w, NULL);
	json_str(&w, "op", "prepare");
	json_arr_begin(&w, "disks");
	for (unsigned int i = 0; i < h->n; i++)
		json_str(&w, NULL, r->ids[h->idx[i]]);
	json_arr_end(&w);
	json_str(&w, "name", name);
	json_str(&w, "description", description ? description : "");
	json_str(&w, "group", r->group);
	json_str(&w, "coordinator", r->coordinator);
	json_u64(&w, "hold_ms", hold_limit_ms);
	json_obj_end(&w);
	return json_writer_take(&w);
}

static void
holder_fail(struct run *r, struct holder *h, const char *phase,
	    const struct answer *a)
{
	fail(r, a->err, "%s (held by pid %d%s): %s: %s", first_disk(r, h),
	     h->pid, h->n > 1 ? " with other disks" : "", phase, a->error);
}

static void
prepare_all(struct run *r, const char *name, const char *description)
{
	struct answer a;
	char *req;
	int rc;

	for (unsigned int k = 0; k < r->nh && !r->rc; k++) {
		struct holder *h = &r->h[k];

		rc = snap_control_connect(r->ids[h->idx[0]], &h->fd);
		if (rc < 0) {
			fail(r, rc, "%s (held by pid %d): cannot reach its "
			     "control socket: %s", first_disk(r, h), h->pid,
			     strerror(-rc));
			break;
		}
		req = prepare_request(r, h, name, description);
		if (!req) {
			fail(r, -ENOMEM, "out of memory");
			break;
		}
		if (ask(h, req, PREPARE_TIMEOUT_MS, &a))
			h->prepared = true;
		else
			holder_fail(r, h, "prepare", &a);
		free(req);
	}
	if (r->rc || !r->noff)
		return;
	/* The free disks, held here. */
	rc = snap_create_check(r->off, r->noff, name, description);
	for (unsigned int i = 0; i < r->noff && rc == 0; i++)
		rc = snap_create_prepare(&r->off[i], name, description,
					 r->group, r->coordinator,
					 &r->offp[i]);
	if (rc < 0)
		fail(r, rc, "%s", vdisk_last_error()[0] ? vdisk_last_error() :
		     strerror(-rc));
}

/*
 * Without a decision: every holder rolls back (or finds out how the
 * coordinator ended); the free disks here roll back when 'c' is 0, roll
 * forward when 1, and stay for their next open when unknown (< 0).
 */
static void
abort_all(struct run *r, int c)
{
	struct answer a;

	for (unsigned int k = 0; k < r->nh; k++)
		if (r->h[k].prepared && !r->h[k].gone && !r->h[k].ended)
			ask(&r->h[k], "{\"op\":\"abort\"}", (int)hold_limit_ms +
			    5000, &a);
	for (unsigned int i = 0; i < r->noff; i++) {
		if (c == 1) {
			if (snap_create_switch(&r->off[i], &r->offp[i]) == 0)
				snap_create_finish(&r->off[i]);
		} else if (c == 0) {
			snap_create_unprepare(&r->off[i], &r->offp[i]);
		}
	}
}

/*
 * The disks of a holder that went away after the decision: finish them
 * here if their lock is free (its open finishes the create), else their
 * next open does.
 */
static const char *
finish_orphans(struct run *r, struct holder *h)
{
	static char why[600];
	bool all = true;

	snprintf(why, sizeof(why), "finished here");
	for (unsigned int i = 0; i < h->n; i++) {
		struct snap_ctx x;

		if (snap_hold(r->disks[h->idx[i]], &x) == 0) {
			snap_ctx_release(&x);
		} else if (all) {
			all = false;
			snprintf(why, sizeof(why), "left to the next open of "
				 "its disks (%s)", vdisk_last_error());
		}
	}
	return why;
}

static void
report(struct run *r, struct snap_op_stats *stats)
{
	if (!stats)
		return;
	stats->pause_ns = 0;
	stats->nholds = 0;
	for (unsigned int k = 0; k < r->nh; k++) {
		struct snap_hold *o = &stats->holds[stats->nholds++];
		struct holder *h = &r->h[k];

		o->pid = h->pid;
		o->ndisks = h->n;
		memcpy(o->disk, h->idx, sizeof(o->disk));
		o->start_ns = h->t0;
		o->end_ns = h->t1;
		o->hold_ns = h->t1 > h->t0 ? h->t1 - h->t0 : 0;
		if (o->hold_ns > stats->pause_ns)
			stats->pause_ns = o->hold_ns;
	}
}

static int
run_group(struct run *r, const char *name, const char *description)
{
	struct holder *co = &r->h[0];
	int step_ms = (int)hold_limit_ms + 5000;
	struct answer a;
	const char *state;

	prepare_all(r, name, description);
	if (r->rc) {
		abort_all(r, 0);
		return r->rc;
	}
	test_stop("prepare");
	/* All at once: the holds start together. */
	for (unsigned int k = 0; k < r->nh; k++)
		tell(&r->h[k], "{\"op\":\"hold\"}");
	for (unsigned int k = 0; k < r->nh; k++)
		if (!answer(&r->h[k], step_ms, &a))
			holder_fail(r, &r->h[k], "hold", &a);
	if (r->rc) {
		abort_all(r, 0);
		return r->rc;
	}
	test_stop("hold");
	if (!ask(co, "{\"op\":\"decide\"}", step_ms, &a)) {
		int c = !strcmp(a.outcome, "committed") ? 1 :
			!strcmp(a.outcome, "aborted") ? 0 :
			snap_group_ask(r->group, r->coordinator);

		if (c != 1) {
			holder_fail(r, co, "decide", &a);
			abort_all(r, c);
			if (co->gone)
				finish_orphans(r, co);
			return r->rc;
		}
		/* Decided there, though the answer was lost or a switch
		   there failed: the rest goes on. */
		log_warn("snapshot", "%s (held by pid %d): %s, but the "
			 "snapshot is decided", first_disk(r, co), co->pid,
			 a.error);
	}
	r->decided = true;
	test_stop("decide");
	/* The coordinator switches meanwhile; its second answer says. */
	for (unsigned int k = 1; k < r->nh; k++)
		tell(&r->h[k], "{\"op\":\"switch\"}");
	if (!answer(co, step_ms, &a) &&
	    !(co->outcome && !strcmp(co->outcome, "committed")))
		fail(r, a.err, "%s (held by pid %d): switch: %s; the snapshot "
		     "is decided there too: %s", first_disk(r, co), co->pid,
		     a.error, co->gone ? finish_orphans(r, co) :
		     "left to the next open of its disks");
	for (unsigned int k = 1; k < r->nh; k++) {
		struct holder *h = &r->h[k];

		if (answer(h, step_ms, &a) ||
		    (h->outcome && !strcmp(h->outcome, "committed")))
			continue;
		state = h->gone ? finish_orphans(r, h) :
			"left to the next open of its disks";
		fail(r, a.err, "%s (held by pid %d): switch: %s; the "
		     "snapshot is decided there too: %s", first_disk(r, h),
		     h->pid, a.error, state);
	}
	/* The free disks (no guest waits on them). */
	for (unsigned int i = 0; i < r->noff; i++) {
		int rc = snap_create_switch(&r->off[i], &r->offp[i]);

		if (rc == 0)
			rc = snap_create_finish(&r->off[i]);
		if (rc < 0)
			fail(r, rc, "%s: %s (the snapshot is decided: its next "
			     "open finishes it)", r->off[i].path,
			     strerror(-rc));
	}
	return r->rc;
}

int
snap_group_create(const char *const *disks, unsigned int n, const int *pids,
		  const char *name, const char *description,
		  struct snap_op_stats *stats)
{
	uint64_t t0 = clock_mono_ns();
	struct run *r;
	int rc = 0;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ids = calloc(n, sizeof(*r->ids));
	r->off = calloc(n, sizeof(*r->off));
	r->offp = calloc(n, sizeof(*r->offp));
	if (!r->ids || !r->off || !r->offp) {
		rc = -ENOMEM;
		goto out;
	}
	r->disks = disks;
	r->n = n;
	for (unsigned int i = 0; i < n; i++) {
		unsigned int k;

		rc = snap_disk_id(disks[i], r->ids[i], sizeof(r->ids[i]));
		if (rc < 0) {
			vdisk_err("snapshot", "%s: %s", disks[i],
				  strerror(-rc));
			goto out;
		}
		for (unsigned int j = 0; j < i; j++) {
			if (!strcmp(r->ids[i], r->ids[j])) {
				vdisk_err("snapshot", "%s given twice",
					  disks[i]);
				rc = -EINVAL;
				goto out;
			}
		}
		if (pids[i] == 0) {
			r->offidx[r->noff++] = i;
			continue;
		}
		for (k = 0; k < r->nh && r->h[k].pid != pids[i]; k++)
			;
		if (k == r->nh) {
			r->h[r->nh].pid = pids[i];
			r->h[r->nh].fd = -1;
			r->nh++;
		}
		r->h[k].idx[r->h[k].n++] = i;
	}
	/* The free disks: held here for the whole create. */
	for (unsigned int i = 0; i < r->noff; i++) {
		rc = snap_hold(disks[r->offidx[i]], &r->off[i]);
		if (rc < 0)
			goto out;
		r->offheld++;
		rc = snap_check_persistent(&r->off[i]);
		if (rc < 0)
			goto out;
	}
	r->coordinator = r->ids[r->h[0].idx[0]];
	snap_random_group(r->group, sizeof(r->group));
	rc = run_group(r, name, description);
	if (rc < 0)
		vdisk_err("snapshot", "create '%s' over %u disks: %s; %s", name,
			  n, r->why, r->decided ? "the snapshot is decided and "
			  "taken on the others" : "nothing was taken (every disk "
			  "as before)");
	report(r, stats);
out:
	for (unsigned int k = 0; k < r->nh; k++)
		if (r->h[k].fd >= 0)
			close(r->h[k].fd);
	for (unsigned int i = 0; i < r->noff; i++)
		chain_layer_close(r->offp ? r->offp[i].new_layer : NULL);
	for (unsigned int i = 0; i < r->offheld; i++)
		snap_ctx_release(&r->off[i]);
	free(r->ids);
	free(r->off);
	free(r->offp);
	free(r);
	if (stats)
		stats->total_ns = clock_mono_ns() - t0;
	return rc;
}
