/* SPDX-License-Identifier: MIT */
/*
 * `vdisk check` of a disk with snapshots, and removing them with the
 * disk. The check reads everything a crash could have left half done:
 * the tree, every node's descriptor, parent link and content ID, every
 * delta's tables (each entry's check, no slot used twice), the current
 * chain as a reader would open it. An unfinished operation recorded in
 * the tree is consistent by construction (the next open finishes it);
 * with --repair it is finished now.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/chain.h"
#include "snapshot/snap-internal.h"

int snap_check_path(const char *path, bool repair,
		    struct vdisk_check_report *rep);
int snap_remove_tree(struct vdisk_store *st, const char *path,
		     const char *leaf, const struct vdisk_desc *d);

static void printf_like(2, 3)
problem(struct vdisk_check_report *rep, const char *fmt, ...)
{
	va_list ap;

	if (rep->errors++ == 0) {
		va_start(ap, fmt);
		vsnprintf(rep->first, sizeof(rep->first), fmt, ap);
		va_end(ap);
	}
}

/* Loads and verifies one delta file. */
static void
check_delta(struct vdisk_store *st, const char *file,
	    struct vdisk_check_report *rep)
{
	struct delta *d;
	char err[200];

	vdisk_clear_error();
	if (delta_open(st, file, 0, &d) < 0) {
		problem(rep, "%s", vdisk_last_error());
		return;
	}
	if (delta_verify(d, err, sizeof(err)) < 0)
		problem(rep, "%s: %s", file, err);
	delta_close(d);
}

/*
 * The file a node's parent link may name: its tree parent's descriptor,
 * or, while an unfinished delete of that parent is being finished, the
 * parent's own parent (the link has been switched already).
 */
static bool
link_ok(struct snap_tree *t, const struct snap_node *n, const char *hint)
{
	const struct snap_intent *in = &t->intent;
	struct snap_node *p = snap_tree_find(t, n->parent);

	if (!strcmp(hint, p ? p->file : "") ||
	    (!p && hint[0] && !snap_plain_name(hint)))
		return true;
	if (in->op == INTENT_DELETE && n->parent == in->node.id) {
		struct snap_node *pp = snap_tree_find(t, in->node.parent);

		return !strcmp(hint, pp ? pp->file : "") ||
		       (!pp && !snap_plain_name(hint));
	}
	return false;
}

static void
check_node(struct vdisk_store *st, struct snap_tree *t,
	   const struct snap_node *n, struct vdisk_check_report *rep)
{
	struct vdisk_desc *d = malloc(sizeof(*d)), *pd = NULL;

	if (!d)
		return;
	vdisk_clear_error();
	if (vdisk_desc_load(st, n->file, d) < 0) {
		problem(rep, "snapshot '%s': %s", n->name,
			vdisk_last_error()[0] ? vdisk_last_error() :
			"descriptor missing");
		goto out;
	}
	if (!snap_desc_is_node(d) || d->ext[0].access != DESC_RDONLY)
		problem(rep, "%s is not a read-only snapshot node", n->file);
	if (d->ext[0].kind == DESC_EXT_DELTA)
		check_delta(st, d->ext[0].file, rep);
	else if (st->ops->exists(st, d->ext[0].file) <= 0)
		problem(rep, "%s: data file %s is missing", n->file,
			d->ext[0].file);
	if (!link_ok(t, n, d->parent_hint))
		problem(rep, "%s: its parent link names '%s', not what the "
			"tree says", n->file, d->parent_hint);
	if (d->parent_hint[0] && snap_plain_name(d->parent_hint)) {
		pd = malloc(sizeof(*pd));
		if (pd && vdisk_desc_load(st, d->parent_hint, pd) < 0)
			problem(rep, "%s: broken parent link: %s is missing",
				n->file, d->parent_hint);
		else if (pd && pd->cid != d->parent_cid)
			problem(rep, "%s: content ID mismatch with its parent "
				"%s", n->file, d->parent_hint);
	}
out:
	free(pd);
	free(d);
}

int
snap_check_path(const char *path, bool repair, struct vdisk_check_report *rep)
{
	char leaf[DESC_NAME_MAX + 1];
	struct snap_tree *t = NULL;
	struct store_lock *lk = NULL;
	struct vdisk_store *st;
	struct vdisk_desc *cur;
	struct chain *c;
	int rc;

	cur = malloc(sizeof(*cur));
	if (!cur)
		return -ENOMEM;
	rc = vdisk_store_open(path, &st, leaf, sizeof(leaf));
	if (rc < 0) {
		free(cur);
		return rc;
	}
	if (st->ops->exists(st, leaf) <= 0 ||
	    vdisk_desc_load(st, leaf, cur) < 0) {
		rc = 1;      /* vdisk reports what is wrong with it */
		goto out;
	}
	/* A plain disk without a tree is vdisk's to check. */
	rc = snap_tree_load(st, leaf, &t);
	snap_tree_free(t);
	t = NULL;
	if (rc == -ENOENT && !snap_desc_layered(cur)) {
		rc = 1;
		goto out;
	}
	/* Only a look: the tree that counts is read again under the lock. */
	snap_tree_free(t);
	t = NULL;
	rc = st->ops->lock(st, leaf, repair, &lk);
	if (rc == -EBUSY)
		vdisk_err("snapshot", "%s: in use; check it when it is closed",
			  path);
	if (rc < 0)
		goto out;
	memset(rep, 0, sizeof(*rep));
	vdisk_clear_error();
	rc = snap_tree_load(st, leaf, &t);
	if (rc == -EUCLEAN) {
		problem(rep, "%s", vdisk_last_error());
		rc = 0;
		goto out_unlock;
	}
	if (rc == -ENOENT)
		t = snap_tree_new();
	if (!t) {
		rc = -ENOMEM;
		goto out_unlock;
	}
	if (repair && t->intent.op != INTENT_NONE) {
		struct snap_ctx x;

		memset(&x, 0, sizeof(x));
		x.st = st;
		snprintf(x.leaf, sizeof(x.leaf), "%s", leaf);
		snprintf(x.path, sizeof(x.path), "%s", path);
		snap_path_dir(path, x.dir, sizeof(x.dir));
		x.cur = *cur;
		x.tree = t;
		rc = snap_recover(&x);
		*cur = x.cur;
		if (rc < 0)
			problem(rep, "could not finish the pending operation: "
				"%s", strerror(-rc));
		else
			rep->repaired++, rep->errors++;
		rc = 0;
	}
	for (unsigned int i = 0; i < t->n; i++) {
		/* A node an unfinished delete has begun to remove is
		 * allowed to be half gone: the next open finishes it. */
		if (t->intent.op == INTENT_DELETE &&
		    t->intent.node.id == t->nodes[i].id)
			continue;
		check_node(st, t, &t->nodes[i], rep);
	}
	/* The current chain as an opener sees it. */
	vdisk_clear_error();
	rc = chain_open(st, leaf, path, cur, false, &c);
	if (rc < 0) {
		problem(rep, "%s", vdisk_last_error()[0] ? vdisk_last_error() :
			strerror(-rc));
	} else {
		if (c->l[0]->delta)
			check_delta(st, c->l[0]->data_name, rep);
		chain_close(c);
	}
	rc = 0;
out_unlock:
	st->ops->unlock(lk);
out:
	snap_tree_free(t);
	vdisk_store_close(st);
	free(cur);
	return rc;
}

int
snap_remove_tree(struct vdisk_store *st, const char *path, const char *leaf,
		 const struct vdisk_desc *d)
{
	char name[DESC_NAME_MAX + 16];
	struct snap_tree *t;
	struct vdisk_desc *nd;
	int rc;

	rc = snap_tree_load(st, leaf, &t);
	if (rc == -ENOENT) {
		snap_clone_unregister(path, d);
		return 0;
	}
	if (rc < 0)
		return rc;
	for (unsigned int i = 0; i < t->n; i++) {
		if (t->nodes[i].nclones) {
			vdisk_err("snapshot", "snapshot '%s' of %s is the base "
				  "of linked clone %s", t->nodes[i].name, leaf,
				  t->nodes[i].clones[0]);
			snap_tree_free(t);
			return -EBUSY;
		}
	}
	nd = malloc(sizeof(*nd));
	for (unsigned int i = 0; nd && i < t->n; i++) {
		char lck[DESC_NAME_MAX + 8];

		if (vdisk_desc_load(st, t->nodes[i].file, nd) == 0 &&
		    snap_plain_name(nd->ext[0].file) &&
		    strcmp(nd->ext[0].file, d->ext[0].file))
			st->ops->unlink(st, nd->ext[0].file);
		st->ops->unlink(st, t->nodes[i].file);
		snprintf(lck, sizeof(lck), "%s.lck", t->nodes[i].file);
		st->ops->unlink(st, lck);
	}
	free(nd);
	snap_clone_unregister(path, d);
	if (t->intent.new_top[0])
		st->ops->unlink(st, t->intent.new_top);
	snap_tree_free(t);
	snap_name_tree(leaf, name, sizeof(name));
	st->ops->unlink(st, name);
	return 0;
}
