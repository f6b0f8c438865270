/* SPDX-License-Identifier: MIT */
/*
 * The public entry points (snapshot.h): path-level calls hold the disk
 * themselves, or hand the request to the process that holds it through
 * its control socket; *_open calls work on disks this process has open;
 * listing reads the tree without a lock.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "snapshot/chain.h"
#include "snapshot/snap-internal.h"

/* Online operations of this process, one at a time. */
static pthread_mutex_t online_mu = PTHREAD_MUTEX_INITIALIZER;

/* Holds a disk and finishes whatever a crash left behind. */
int
snap_hold(const char *path, struct snap_ctx *x)
{
	int rc = snap_ctx_hold(path, x);

	if (rc < 0)
		return rc;
	if (x->tree->intent.op != INTENT_NONE) {
		rc = snap_recover(x);
		if (rc < 0)
			snap_ctx_release(x);
	}
	return rc;
}

void
snap_online_lock(void)
{
	pthread_mutex_lock(&online_mu);
}

void
snap_online_unlock(void)
{
	pthread_mutex_unlock(&online_mu);
}

int
snap_check_persistent(struct snap_ctx *x)
{
	if (x->tree->mode == MODE_PERSISTENT)
		return 0;
	vdisk_err("snapshot", "%s: the disk is %s; snapshots need a "
		  "persistent disk", x->path, snap_mode_name(x->tree->mode));
	return -EOPNOTSUPP;
}

/* ---- the control socket fallback ---- */

struct reply {
	int err;
	uint64_t pause_ns, total_ns, bytes;
};

/*
 * Asks the process holding 'disk' to run 'req'. -ENOENT when no process
 * of this host answers (then the caller's -EBUSY and message stand).
 */
static int
remote(const char *disk, const char *req, struct reply *r)
{
	char buf[1024], err[128];
	const struct json_node *root;
	struct json_doc *doc;
	int64_t v;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = snap_control_call(disk, req, buf, sizeof(buf));
	if (rc < 0)
		return rc;
	if (json_parse(buf, strlen(buf), &doc, err, sizeof(err)) < 0) {
		vdisk_err("snapshot", "%s: bad answer from the holder", disk);
		r->err = -EPROTO;
		return 0;
	}
	root = json_root(doc);
	if (!json_get_bool(root, "ok", false)) {
		if (json_get_int(root, "errno", 1, 4095, &v) == 0)
			r->err = -(int)v;
		else
			r->err = -EIO;
		vdisk_err("snapshot", "%s", json_get_str(root, "error",
							   "failed"));
	}
	if (json_get_int(root, "pause_ns", 0, INT64_MAX, &v) == 0)
		r->pause_ns = (uint64_t)v;
	if (json_get_int(root, "total_ns", 0, INT64_MAX, &v) == 0)
		r->total_ns = (uint64_t)v;
	if (json_get_int(root, "bytes", 0, INT64_MAX, &v) == 0)
		r->bytes = (uint64_t)v;
	json_free(doc);
	return 0;
}

static void
stats_from(const struct reply *r, struct snap_op_stats *stats)
{
	if (!stats)
		return;
	stats->pause_ns = r->pause_ns;
	stats->total_ns = r->total_ns;
	stats->bytes_copied = r->bytes;
}

/* Builds {"op":OP,"disks":[ids],...} for the control socket. */
static char *
request(const char *op, const char *const *disks, unsigned int n,
	const char *name, const char *description)
{
	struct json_writer w;
	char id[4096];

	json_writer_init_mem(&w);
	json_obj_begin(&w, NULL);
	json_str(&w, "op", op);
	json_arr_begin(&w, "disks");
	for (unsigned int i = 0; i < n; i++) {
		if (snap_disk_id(disks[i], id, sizeof(id)) < 0)
			snprintf(id, sizeof(id), "%s", disks[i]);
		json_str(&w, NULL, id);
	}
	json_arr_end(&w);
	if (name)
		json_str(&w, "name", name);
	if (description)
		json_str(&w, "description", description);
	json_obj_end(&w);
	return json_writer_take(&w);
}

/* The disk is busy here: ask its holder, if it has a control socket. */
static int
ask_holder(const char *op, const char *const *disks, unsigned int n,
	   const char *name, const char *description,
	   struct snap_op_stats *stats, int busy_rc)
{
	char saved[512];
	struct reply r;
	char *req;
	int rc;

	snprintf(saved, sizeof(saved), "%s", vdisk_last_error());
	req = request(op, disks, n, name, description);
	if (!req)
		return -ENOMEM;
	rc = remote(disks[0], req, &r);
	free(req);
	if (rc == -ENOENT || rc == -ECONNREFUSED) {
		/* Nobody here to ask: another host holds it. */
		vdisk_err("snapshot", "%s", saved);
		return busy_rc;
	}
	if (rc < 0)
		return rc;
	stats_from(&r, stats);
	return r.err;
}

/*
 * A process of this host holds the disk and answers on its control
 * socket: ask it at once (taking the lock first would wait for it).
 */
static bool
held_here(const char *disk)
{
	char buf[64];

	return snap_control_call(disk, NULL, buf, sizeof(buf)) == 0;
}

int
snap_holder_pid(const char *disk)
{
	const struct json_node *root;
	struct json_doc *doc;
	char buf[256], err[64];
	int64_t v = 0;

	if (snap_control_call(disk, NULL, buf, sizeof(buf)) < 0)
		return 0;
	if (json_parse(buf, strlen(buf), &doc, err, sizeof(err)) < 0)
		return -1;
	root = json_root(doc);
	if (json_get_int(root, "pid", 1, INT32_MAX, &v) < 0)
		v = -1;
	json_free(doc);
	return (int)v;
}

/* ---- create, revert, delete, commit ---- */

int
snap_create(const char *const *disks, unsigned int ndisks, const char *name,
	    const char *description, struct snap_op_stats *stats)
{
	struct snap_ctx *xs;
	unsigned int held = 0;
	int rc = 0;

	vdisk_clear_error();
	if (ndisks == 0 || ndisks > SNAP_MAX_DISKS || !name || !name[0])
		return -EINVAL;
	{
		int pids[SNAP_MAX_DISKS];
		bool one = true, any = false;

		for (unsigned int i = 0; i < ndisks; i++) {
			pids[i] = snap_holder_pid(disks[i]);
			any |= pids[i] != 0;
			one &= pids[i] == pids[0];
		}
		/* All in one process: it makes them atomic itself. */
		if (one && pids[0])
			return ask_holder("create", disks, ndisks, name,
					  description, stats, -EBUSY);
		/* Several processes (or some disks held by none). */
		if (any)
			return snap_group_create(disks, ndisks, pids, name,
						 description, stats);
	}
	xs = calloc(ndisks, sizeof(*xs));
	if (!xs)
		return -ENOMEM;
	for (unsigned int i = 0; i < ndisks && rc == 0; i++) {
		for (unsigned int j = 0; j < i; j++) {
			char a[4096], b[4096];

			if (snap_disk_id(disks[i], a, sizeof(a)) == 0 &&
			    snap_disk_id(disks[j], b, sizeof(b)) == 0 &&
			    !strcmp(a, b)) {
				vdisk_err("snapshot", "%s given twice",
					  disks[i]);
				rc = -EINVAL;
			}
		}
		if (rc == 0)
			rc = snap_hold(disks[i], &xs[i]);
		if (rc == 0) {
			held++;
			rc = snap_check_persistent(&xs[i]);
		}
	}
	if (rc == -EBUSY && held == 0) {
		rc = ask_holder("create", disks, ndisks, name, description,
				stats, rc);
		goto out;
	}
	if (rc == 0)
		rc = snap_op_create(xs, ndisks, name, description, stats);
out:
	for (unsigned int i = 0; i < held; i++)
		snap_ctx_release(&xs[i]);
	free(xs);
	return rc;
}

int
snap_revert(const char *disk, const char *name)
{
	struct snap_ctx x;
	int rc;

	vdisk_clear_error();
	if (!name || !name[0])
		return -EINVAL;
	rc = snap_hold(disk, &x);
	if (rc == -EBUSY) {
		char saved[512], buf[64];

		snprintf(saved, sizeof(saved), "%s", vdisk_last_error());
		/* Held by a process of this host, or by another host. */
		if (snap_control_call(disk, NULL, buf, sizeof(buf)) == 0)
			vdisk_err("snapshot", "%s: revert needs the disk closed "
				  "and it is in use by a process here (vdisk "
				  "serve, a VM): stop it first", disk);
		else
			vdisk_err("snapshot", "revert needs the disk closed: "
				  "%s", saved);
		return rc;
	}
	if (rc < 0)
		return rc;
	rc = snap_op_revert(&x, name, false, 0);
	snap_ctx_release(&x);
	return rc;
}

static int
delete_or_commit(const char *disk, const char *name, bool commit,
		 struct progress *p, struct snap_op_stats *stats)
{
	struct snap_ctx x;
	struct snap_node *s;
	uint64_t t0 = clock_mono_ns();
	int rc;

	vdisk_clear_error();
	rc = held_here(disk) ? -EBUSY : snap_hold(disk, &x);
	if (rc == -EBUSY)
		return ask_holder(commit ? "commit" : "delete", &disk, 1, name,
				  NULL, stats, rc);
	if (rc < 0)
		return rc;
	s = commit ? snap_ctx_position(&x) : snap_tree_by_name(x.tree, name);
	if (!s) {
		if (commit)
			vdisk_err("snapshot", "%s: no snapshot under the "
				  "current state to commit into", disk);
		else
			vdisk_err("snapshot", "%s: no snapshot '%s'", disk,
				  name);
		rc = commit ? -EOPNOTSUPP : -ENOENT;
	} else {
		rc = snap_op_delete(&x, s, commit, p, stats);
	}
	snap_ctx_release(&x);
	if (stats)
		stats->total_ns = clock_mono_ns() - t0;
	return rc;
}

int
snap_delete(const char *disk, const char *name, struct progress *p,
	    struct snap_op_stats *stats)
{
	if (!name || !name[0])
		return -EINVAL;
	return delete_or_commit(disk, name, false, p, stats);
}

int
snap_commit(const char *disk, struct progress *p, struct snap_op_stats *stats)
{
	return delete_or_commit(disk, NULL, true, p, stats);
}

/* ---- online ---- */

int
snap_create_open(struct vdisk *const *disks, unsigned int ndisks,
		 const char *name, const char *description,
		 struct snap_op_stats *stats)
{
	struct snap_ctx *xs;
	unsigned int made = 0;
	int rc = 0;

	vdisk_clear_error();
	if (ndisks == 0 || ndisks > SNAP_MAX_DISKS || !name || !name[0])
		return -EINVAL;
	xs = calloc(ndisks, sizeof(*xs));
	if (!xs)
		return -ENOMEM;
	pthread_mutex_lock(&online_mu);
	for (unsigned int i = 0; i < ndisks && rc == 0; i++) {
		for (unsigned int j = 0; j < i; j++)
			if (disks[i] == disks[j])
				rc = -EINVAL;
		if (rc == 0)
			rc = snap_ctx_from_disk(disks[i], &xs[i]);
		if (rc == 0) {
			made++;
			rc = snap_check_persistent(&xs[i]);
		}
	}
	if (rc == 0)
		rc = snap_op_create(xs, ndisks, name, description, stats);
	for (unsigned int i = 0; i < made; i++)
		snap_ctx_release(&xs[i]);
	pthread_mutex_unlock(&online_mu);
	free(xs);
	return rc;
}

static int
delete_or_commit_open(struct vdisk *disk, const char *name, bool commit,
		      struct progress *p, struct snap_op_stats *stats)
{
	uint64_t t0 = clock_mono_ns();
	struct snap_ctx x;
	struct snap_node *s;
	int rc;

	vdisk_clear_error();
	pthread_mutex_lock(&online_mu);
	rc = snap_ctx_from_disk(disk, &x);
	if (rc < 0)
		goto out;
	s = commit ? snap_ctx_position(&x) : snap_tree_by_name(x.tree, name);
	if (!s) {
		if (commit)
			vdisk_err("snapshot", "%s: no snapshot under the "
				  "current state to commit into", disk->path);
		else
			vdisk_err("snapshot", "%s: no snapshot '%s'",
				  disk->path, name);
		rc = commit ? -EOPNOTSUPP : -ENOENT;
	} else {
		rc = snap_op_delete(&x, s, commit, p, stats);
	}
	snap_ctx_release(&x);
out:
	pthread_mutex_unlock(&online_mu);
	if (stats)
		stats->total_ns = clock_mono_ns() - t0;
	return rc;
}

int
snap_delete_open(struct vdisk *disk, const char *name, struct progress *p,
		 struct snap_op_stats *stats)
{
	if (!name || !name[0])
		return -EINVAL;
	return delete_or_commit_open(disk, name, false, p, stats);
}

int
snap_commit_open(struct vdisk *disk, struct progress *p,
		 struct snap_op_stats *stats)
{
	return delete_or_commit_open(disk, NULL, true, p, stats);
}

/* ---- listing ---- */

static uint64_t
file_bytes(struct vdisk_store *st, const char *name)
{
	struct store_file *f;
	uint64_t n;

	if (!name[0] || st->ops->file_open(st, name, STORE_RDONLY, &f) < 0)
		return 0;
	n = st->ops->allocated_bytes(f);
	st->ops->file_close(f);
	return n;
}

/* Appends the nodes under 'parent' (and theirs), parents first. */
static void
walk(struct snap_tree *t, struct vdisk_store *st, uint32_t parent,
     struct snap_list *l, unsigned int depth)
{
	for (unsigned int i = 0; i < t->n && depth < SNAP_MAX_NODES; i++) {
		const struct snap_node *n = &t->nodes[i];
		struct snap_info *in;
		struct vdisk_desc *d;

		if (n->parent != parent)
			continue;
		in = &l->snaps[l->n++];
		in->id = n->id;
		in->parent = n->parent;
		snprintf(in->name, sizeof(in->name), "%s", n->name);
		snprintf(in->description, sizeof(in->description), "%s",
			 n->description);
		in->created_ns = n->created_ns;
		snprintf(in->file, sizeof(in->file), "%s", n->file);
		snprintf(in->group, sizeof(in->group), "%s", n->group);
		in->nclones = n->nclones;
		d = malloc(sizeof(*d));
		if (d && vdisk_desc_load(st, n->file, d) == 0)
			in->size_bytes = file_bytes(st, d->ext[0].file);
		free(d);
		walk(t, st, n->id, l, depth + 1);
	}
}

int
snap_list(const char *disk, struct snap_list **out)
{
	char leaf[DESC_NAME_MAX + 1];
	struct snap_tree *t = NULL;
	struct vdisk_store *st;
	struct vdisk_desc *cur;
	struct snap_list *l;
	int rc;

	vdisk_clear_error();
	l = calloc(1, sizeof(*l));
	cur = malloc(sizeof(*cur));
	if (!l || !cur) {
		free(l);
		free(cur);
		return -ENOMEM;
	}
	rc = vdisk_store_open(disk, &st, leaf, sizeof(leaf));
	if (rc < 0)
		goto err_free;
	rc = vdisk_desc_load(st, leaf, cur);
	if (rc < 0)
		goto err_store;
	rc = snap_tree_load(st, leaf, &t);
	if (rc == -ENOENT) {
		t = snap_tree_new();
		rc = t ? 0 : -ENOMEM;
	}
	if (rc < 0)
		goto err_store;
	l->snaps = calloc(t->n ? t->n : 1, sizeof(*l->snaps));
	if (!l->snaps) {
		rc = -ENOMEM;
		goto err_tree;
	}
	walk(t, st, 0, l, 0);
	if (cur->parent_hint[0]) {
		struct snap_node *pos = snap_plain_name(cur->parent_hint) ?
					snap_tree_by_file(t, cur->parent_hint) :
					NULL;

		if (pos)
			l->position = pos->id;
		else
			snprintf(l->base, sizeof(l->base), "%s",
				 cur->parent_hint);
	}
	snprintf(l->current_file, sizeof(l->current_file), "%s",
		 cur->ext[0].file);
	l->current_bytes = file_bytes(st, cur->ext[0].file);
	snprintf(l->mode, sizeof(l->mode), "%s", snap_mode_name(t->mode));
	if (t->intent.op == INTENT_CREATE)
		snprintf(l->pending, sizeof(l->pending), "create");
	else if (t->intent.op == INTENT_REVERT)
		snprintf(l->pending, sizeof(l->pending), "revert");
	else if (t->intent.op == INTENT_DELETE)
		snprintf(l->pending, sizeof(l->pending), "%s",
			 t->intent.commit ? "commit" : "delete");
	snap_tree_free(t);
	vdisk_store_close(st);
	free(cur);
	*out = l;
	return 0;
err_tree:
	snap_tree_free(t);
err_store:
	vdisk_store_close(st);
err_free:
	free(cur);
	free(l);
	return rc;
}

void
snap_list_free(struct snap_list *l)
{
	if (!l)
		return;
	free(l->snaps);
	free(l);
}

int
snap_point_path(const char *disk, const char *name, char *out, size_t len)
{
	char dir[4096];
	struct snap_list *l;
	int rc;

	rc = snap_list(disk, &l);
	if (rc < 0)
		return rc;
	rc = -ENOENT;
	for (unsigned int i = 0; i < l->n; i++) {
		if (!l->snaps[i].name[0] || strcmp(l->snaps[i].name, name))
			continue;
		snap_path_dir(disk, dir, sizeof(dir));
		snap_path_join(dir, l->snaps[i].file, out, len);
		rc = 0;
	}
	if (rc < 0)
		vdisk_err("snapshot", "%s: no snapshot '%s'", disk, name);
	snap_list_free(l);
	return rc;
}
