/* SPDX-License-Identifier: MIT */
/*
 * Snapshot operations on a held disk: create (one or several disks,
 * atomically), revert, delete and commit (through merge.c). Each works
 * offline (the disk's lock held here) or online (the disk open in this
 * process, its chain changed while the gate is closed).
 *
 * Every operation follows the same pattern so a crash at any step is
 * recoverable (recover.c): write the intent into the tree file; create
 * new files, which nothing references yet; switch with one atomic
 * descriptor rename (the commit point); remove what is no longer
 * referenced; clear the intent.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/clock.h"
#include "common/log.h"
#include "snapshot/chain.h"
#include "snapshot/snap-internal.h"

#define GATE_TIMEOUT_MS 30000

/* ---- holding a disk ---- */

int
snap_ctx_hold(const char *path, struct snap_ctx *x)
{
	int rc;

	memset(x, 0, sizeof(*x));
	snprintf(x->path, sizeof(x->path), "%s", path);
	snap_path_dir(path, x->dir, sizeof(x->dir));
	rc = vdisk_store_open(path, &x->st, x->leaf, sizeof(x->leaf));
	if (rc < 0) {
		vdisk_err("snapshot", "%s: %s", path, strerror(-rc));
		return rc;
	}
	x->own_store = true;
	rc = x->st->ops->exists(x->st, x->leaf);
	if (rc <= 0) {
		rc = rc ? rc : -ENOENT;
		vdisk_err("snapshot", "%s: no such disk", path);
		goto err_store;
	}
	rc = x->st->ops->lock(x->st, x->leaf, true, &x->lock);
	if (rc == -EBUSY) {
		char who[128];

		if (x->st->ops->lock_holder(x->st, x->leaf, who, sizeof(who)))
			vdisk_err("snapshot", "%s: locked by %s", path, who);
		else
			vdisk_err("snapshot", "%s: locked by another opener",
				  path);
	}
	if (rc < 0)
		goto err_store;
	rc = vdisk_desc_load(x->st, x->leaf, &x->cur);
	if (rc < 0)
		goto err_unlock;
	if (snap_desc_is_node(&x->cur)) {
		vdisk_err("snapshot", "%s: a snapshot node, not a disk", path);
		rc = -EINVAL;
		goto err_unlock;
	}
	rc = snap_tree_load(x->st, x->leaf, &x->tree);
	if (rc == -ENOENT) {
		x->tree = snap_tree_new();
		rc = x->tree ? 0 : -ENOMEM;
	}
	if (rc < 0)
		goto err_unlock;
	return 0;
err_unlock:
	x->st->ops->unlock(x->lock);
err_store:
	vdisk_store_close(x->st);
	x->st = NULL;
	return rc;
}

int
snap_ctx_from_disk(struct vdisk *disk, struct snap_ctx *x)
{
	int rc;

	memset(x, 0, sizeof(*x));
	if (vdisk_read_only(disk)) {
		vdisk_err("snapshot", "%s: open read-only", disk->path);
		return -EROFS;
	}
	x->st = disk->store;
	x->disk = disk;
	x->chain = snap_disk_chain(disk);
	snprintf(x->leaf, sizeof(x->leaf), "%s", disk->leaf);
	snprintf(x->path, sizeof(x->path), "%s", disk->path);
	snap_path_dir(disk->path, x->dir, sizeof(x->dir));
	pthread_mutex_lock(&disk->mu);
	x->cur = disk->desc;
	pthread_mutex_unlock(&disk->mu);
	rc = snap_tree_load(x->st, x->leaf, &x->tree);
	if (rc == -ENOENT) {
		x->tree = snap_tree_new();
		rc = x->tree ? 0 : -ENOMEM;
	}
	return rc;
}

void
snap_ctx_release(struct snap_ctx *x)
{
	snap_tree_free(x->tree);
	x->tree = NULL;
	if (x->disk)
		return;
	if (x->lock)
		x->st->ops->unlock(x->lock);
	x->lock = NULL;
	/* A context made at open (provider.c) borrows the disk's store. */
	if (x->own_store)
		vdisk_store_close(x->st);
	x->st = NULL;
}

int
snap_ctx_reload(struct snap_ctx *x)
{
	return vdisk_desc_load(x->st, x->leaf, &x->cur);
}

struct snap_node *
snap_ctx_position(struct snap_ctx *x)
{
	if (!x->cur.parent_hint[0] || !snap_plain_name(x->cur.parent_hint))
		return NULL;
	return snap_tree_by_file(x->tree, x->cur.parent_hint);
}

int
snap_ctx_store_tree(struct snap_ctx *x)
{
	return snap_tree_store(x->st, x->leaf, x->tree);
}

/* Writes the current descriptor; the live disk sees it too. */
int
snap_ctx_store_cur(struct snap_ctx *x)
{
	int rc = vdisk_desc_store(x->st, x->leaf, &x->cur);

	if (rc == 0 && x->disk) {
		pthread_mutex_lock(&x->disk->mu);
		x->disk->desc = x->cur;
		pthread_mutex_unlock(&x->disk->mu);
	}
	return rc;
}

/*
 * Layers of the current state's chain. Offline the chain is opened
 * (read-only) to count them, which also refuses a broken one (a missing
 * or corrupt delta, a broken parent link, a content-ID mismatch) before
 * a snapshot would freeze it into a node.
 */
static int
depth_of(struct snap_ctx *x, unsigned int *depth)
{
	struct chain *c;
	int rc;

	if (x->chain) {
		*depth = x->chain->n;
		return 0;
	}
	if (!snap_desc_layered(&x->cur)) {
		*depth = 1;
		return 0;
	}
	rc = chain_open(x->st, x->leaf, x->path, &x->cur, false, &c);
	if (rc < 0)
		return rc;
	*depth = c->n;
	chain_close(c);
	return 0;
}

static bool
name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > SNAP_NAME_MAX)
		return false;
	for (const char *c = name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == '"')
			return false;
	return true;
}

/* ---- create ---- */

/* The node descriptor a current state freezes into. */
void
snap_node_desc(const struct vdisk_desc *cur, struct vdisk_desc *node)
{
	*node = *cur;
	snap_desc_set_extent(node, cur->ext[0].kind, cur->ext[0].file, true);
	node->change_track[0] = '\0';
	snap_desc_put(node, SNAP_KEY_NODE, "1");
}

/* The current descriptor over a node with a new empty delta. */
void
snap_cur_over(const struct vdisk_desc *cur, const char *node_file,
	      uint32_t node_cid, const char *delta_file, struct vdisk_desc *out)
{
	*out = *cur;
	snap_desc_set_extent(out, DESC_EXT_DELTA, delta_file, false);
	snprintf(out->parent_hint, sizeof(out->parent_hint), "%s", node_file);
	out->parent_cid = node_cid;
	out->cid = vdisk_new_cid();
	snap_desc_del(out, SNAP_KEY_NODE);
}

static uint64_t
wall_ns(void)
{
	return clock_wall_ns();
}

int
snap_create_prepare(struct snap_ctx *x, const char *name, const char *description,
	       const char *group, const char *coordinator,
	       struct snap_create_plan *p)
{
	struct snap_node *pos = snap_ctx_position(x);
	struct snap_intent *in = &x->tree->intent;
	uint64_t cap = vdisk_desc_capacity(&x->cur);
	int rc;

	memset(p, 0, sizeof(*p));
	p->node_id = snap_tree_next_id(x->tree, x->st, x->leaf);
	p->delta_id = snap_tree_next_id(x->tree, x->st, x->leaf);
	snap_name_node(x->leaf, p->node_id, p->node_file, sizeof(p->node_file));
	snap_name_delta(x->leaf, p->delta_id, p->new_top, sizeof(p->new_top));
	memset(in, 0, sizeof(*in));
	in->op = INTENT_CREATE;
	in->node.id = p->node_id;
	in->node.parent = pos ? pos->id : 0;
	snprintf(in->node.file, sizeof(in->node.file), "%s", p->node_file);
	snprintf(in->node.name, sizeof(in->node.name), "%s", name);
	snprintf(in->node.description, sizeof(in->node.description), "%s",
		 description ? description : "");
	in->node.created_ns = wall_ns();
	snprintf(in->node.group, sizeof(in->node.group), "%s", group);
	snprintf(in->old_top, sizeof(in->old_top), "%s", x->cur.ext[0].file);
	snprintf(in->new_top, sizeof(in->new_top), "%s", p->new_top);
	snprintf(in->coordinator, sizeof(in->coordinator), "%s",
		 coordinator ? coordinator : "");
	rc = snap_ctx_store_tree(x);
	if (rc < 0)
		return rc;
	p->prepared = true;
	snap_node_desc(&x->cur, &p->node_desc);
	rc = vdisk_desc_store(x->st, p->node_file, &p->node_desc);
	if (rc == 0)
		rc = delta_create(x->st, p->new_top, cap, NULL);
	if (rc < 0)
		return rc;
	snap_cur_over(&x->cur, p->node_file, x->cur.cid, p->new_top,
		      &p->new_cur);
	if (x->disk)
		rc = chain_layer_from_desc(x->st, x->leaf, x->path, &p->new_cur,
					   true, &p->new_layer);
	return rc;
}

/* Undoes a prepared create that never switched. */
void
snap_create_unprepare(struct snap_ctx *x, struct snap_create_plan *p)
{
	if (!p->prepared || p->switched)
		return;
	chain_layer_close(p->new_layer);
	p->new_layer = NULL;
	x->st->ops->unlink(x->st, p->new_top);
	x->st->ops->unlink(x->st, p->node_file);
	memset(&x->tree->intent, 0, sizeof(x->tree->intent));
	if (snap_ctx_store_tree(x) < 0)
		log_warn("snapshot", "%s: could not clear an intent; the next "
			 "open rolls it back", x->path);
}

/* In memory, gate closed: the top freezes, the new delta goes on top. */
static int
create_switch_live(struct snap_ctx *x, struct snap_create_plan *p)
{
	struct chain *c = x->chain;
	struct chain_layer *old;
	struct store_lock *lk;
	int rc;

	if (!c) {
		rc = snap_disk_adopt(x->disk, &c);
		if (rc < 0)
			return rc;
		x->chain = c;
	}
	old = c->l[0];
	/* Everything written before the snapshot is durable before any
	 * later flush can complete: commit (and freeze) the old top. */
	if (old->delta)
		rc = delta_freeze(old->delta);
	else
		rc = old->st->ops->sync(old->flat);
	if (rc < 0)
		return rc;
	rc = x->st->ops->lock(x->st, p->node_file, false, &lk);
	if (rc < 0)
		return rc;
	x->cur = p->new_cur;
	rc = snap_ctx_store_cur(x);
	if (rc < 0) {
		x->st->ops->unlock(lk);
		return rc;
	}
	p->switched = true;
	pthread_mutex_lock(&c->mu);
	*old->desc = p->node_desc;
	snprintf(old->desc_name, sizeof(old->desc_name), "%s", p->node_file);
	snap_path_join(x->dir, p->node_file, old->path, sizeof(old->path));
	old->lock = lk;
	old->writable = false;
	memmove(&c->l[1], &c->l[0], c->n * sizeof(c->l[0]));
	c->l[0] = p->new_layer;
	c->n++;
	p->new_layer = NULL;
	chain_cache_clear(c);
	x->disk->data = chain_layer_file(c->l[0]);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

/* The commit point of one disk: live (gate closed) or offline. */
int
snap_create_switch(struct snap_ctx *x, struct snap_create_plan *p)
{
	int rc;

	if (x->disk)
		return create_switch_live(x, p);
	x->cur = p->new_cur;
	rc = snap_ctx_store_cur(x);
	p->switched = rc == 0;
	return rc;
}

int
snap_create_finish(struct snap_ctx *x)
{
	struct snap_intent *in = &x->tree->intent;
	int rc;

	rc = snap_tree_add(x->tree, &in->node);
	if (rc < 0)
		return rc;
	memset(in, 0, sizeof(*in));
	return snap_ctx_store_tree(x);
}

void
snap_random_group(char *out, size_t len)
{
	uint64_t r[2] = { 0, 0 };

	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		r[0] = wall_ns();
	snprintf(out, len, "%016" PRIx64 "%016" PRIx64, r[0], r[1]);
}

int
snap_create_check(struct snap_ctx *xs, unsigned int n, const char *name,
		  const char *description)
{
	unsigned int i;
	int rc;

	if (name[0] && !name_ok(name)) {
		vdisk_err("snapshot", "bad snapshot name (1 to %d printable "
			  "characters)", SNAP_NAME_MAX);
		return -EINVAL;
	}
	if (description && strlen(description) > SNAP_DESC_MAX) {
		vdisk_err("snapshot", "description longer than %d bytes",
			  SNAP_DESC_MAX);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		unsigned int depth = 0;

		if (name[0] && snap_tree_by_name(xs[i].tree, name)) {
			vdisk_err("snapshot", "%s: snapshot '%s' exists",
				  xs[i].path, name);
			return -EEXIST;
		}
		if (xs[i].tree->intent.op != INTENT_NONE) {
			vdisk_err("snapshot", "%s: an operation is still "
				  "pending; open the disk to finish it",
				  xs[i].path);
			return -EBUSY;
		}
		rc = depth_of(&xs[i], &depth);
		if (rc < 0)
			return rc;
		if (depth + 1 > VDISK_MAX_CHAIN) {
			vdisk_err("snapshot", "%s: the chain is %u deep "
				  "already (at most %d); delete or commit "
				  "snapshots first", xs[i].path, depth,
				  VDISK_MAX_CHAIN);
			return -EOPNOTSUPP;
		}
	}
	return 0;
}

int
snap_op_create(struct snap_ctx *xs, unsigned int n, const char *name,
	       const char *description, struct snap_op_stats *stats)
{
	struct snap_create_plan *p;
	char group[SNAP_GROUP_MAX + 1] = "";
	uint64_t t0 = clock_mono_ns(), tp = 0;
	unsigned int closed = 0, i;
	int rc = 0;

	rc = snap_create_check(xs, n, name, description);
	if (rc < 0)
		return rc;
	p = calloc(n, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (n > 1)
		snap_random_group(group, sizeof(group));
	for (i = 0; i < n && rc == 0; i++)
		rc = snap_create_prepare(&xs[i], name, description, group,
				    i ? xs[0].path : NULL, &p[i]);
	if (rc == 0 && n > 1) {
		/* The decision for all disks, at the coordinator. */
		xs[0].tree->intent.committed = true;
		rc = snap_ctx_store_tree(&xs[0]);
	}
	if (rc < 0)
		goto undo;
	/* Online: commit what the tops hold now, so the pause only has
	 * what arrives meanwhile. */
	for (i = 0; i < n; i++)
		if (xs[i].chain && xs[i].chain->l[0]->delta)
			chain_commit_layer(xs[i].chain, 0);
	tp = clock_mono_ns();
	for (i = 0; i < n && rc == 0; i++) {
		if (!xs[i].disk)
			continue;
		rc = vdisk_gate_close(xs[i].disk, GATE_TIMEOUT_MS);
		if (rc == 0)
			closed = i + 1;
		else
			vdisk_err("snapshot", "%s: requests in flight did not "
				  "finish", xs[i].path);
	}
	if (rc < 0)
		goto open_gates;
	for (i = 0; i < n && rc == 0; i++)
		rc = snap_create_switch(&xs[i], &p[i]);
open_gates:
	for (i = 0; i < closed; i++)
		if (xs[i].disk)
			vdisk_gate_open(xs[i].disk);
	if (stats && tp)
		stats->pause_ns = clock_mono_ns() - tp;
	if (rc < 0) {
		bool any = false;

		for (i = 0; i < n; i++)
			any |= p[i].switched;
		if (any || n > 1) {
			/* Past the decision: the next open finishes it. */
			log_warn("snapshot", "create '%s' failed after its "
				 "commit point: %s; the next open finishes it",
				 name, strerror(-rc));
			goto out;
		}
		goto undo;
	}
	/* Members first: the coordinator's intent is their decision. */
	for (i = n; i-- > 0 && rc == 0;)
		rc = snap_create_finish(&xs[i]);
	goto out;
undo:
	for (i = 0; i < n; i++)
		snap_create_unprepare(&xs[i], &p[i]);
out:
	for (i = 0; i < n; i++)
		chain_layer_close(p[i].new_layer);
	free(p);
	if (stats)
		stats->total_ns = clock_mono_ns() - t0;
	return rc;
}

/* ---- revert ---- */

static void
forget_cbt(struct snap_ctx *x)
{
	struct vdisk_cbt *cbt;

	if (!x->cur.change_track[0])
		return;
	if (vdisk_cbt_load(x->st, x->cur.change_track,
			   vdisk_desc_capacity(&x->cur), true, &cbt) < 0)
		return;
	vdisk_cbt_forget(cbt, "the disk was reverted to a snapshot");
	vdisk_cbt_close(cbt);
}

/* Steps after a revert's switch: the old state's delta goes. */
int
snap_revert_finish(struct snap_ctx *x)
{
	struct snap_intent *in = &x->tree->intent;

	if (in->old_top[0] && strcmp(in->old_top, in->new_top) &&
	    !snap_tree_by_file(x->tree, in->old_top))
		x->st->ops->unlink(x->st, in->old_top);
	memset(in, 0, sizeof(*in));
	return snap_ctx_store_tree(x);
}

int
snap_op_revert(struct snap_ctx *x, const char *name, bool by_id, uint32_t id)
{
	struct snap_intent *in = &x->tree->intent;
	struct snap_node *t;
	struct vdisk_desc *td;
	uint32_t delta_id;
	char nd[DESC_NAME_MAX + 1];
	int rc;

	if (x->disk) {
		vdisk_err("snapshot", "%s: cannot revert a disk in use; stop "
			  "it first", x->path);
		return -EBUSY;
	}
	if (in->op != INTENT_NONE) {
		vdisk_err("snapshot", "%s: an operation is still pending; open "
			  "the disk to finish it", x->path);
		return -EBUSY;
	}
	t = by_id ? snap_tree_find(x->tree, id) : snap_tree_by_name(x->tree,
								      name);
	if (!t) {
		vdisk_err("snapshot", "%s: no snapshot '%s'", x->path,
			  by_id ? "(redo log)" : name);
		return -ENOENT;
	}
	td = malloc(sizeof(*td));
	if (!td)
		return -ENOMEM;
	rc = vdisk_desc_load(x->st, t->file, td);
	if (rc < 0)
		goto out;
	delta_id = snap_tree_next_id(x->tree, x->st, x->leaf);
	snap_name_delta(x->leaf, delta_id, nd, sizeof(nd));
	memset(in, 0, sizeof(*in));
	in->op = INTENT_REVERT;
	in->node = *t;
	snprintf(in->old_top, sizeof(in->old_top), "%s", x->cur.ext[0].file);
	snprintf(in->new_top, sizeof(in->new_top), "%s", nd);
	rc = snap_ctx_store_tree(x);
	if (rc < 0)
		goto out;
	rc = delta_create(x->st, nd, vdisk_desc_capacity(td), NULL);
	if (rc < 0)
		goto undo;
	snap_cur_over(&x->cur, t->file, td->cid, nd, &x->cur);
	rc = snap_ctx_store_cur(x);
	if (rc < 0) {
		snap_ctx_reload(x);
		goto undo;
	}
	forget_cbt(x);
	rc = snap_revert_finish(x);
	goto out;
undo:
	x->st->ops->unlink(x->st, nd);
	memset(in, 0, sizeof(*in));
	snap_ctx_store_tree(x);
out:
	free(td);
	return rc;
}
