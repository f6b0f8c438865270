/* SPDX-License-Identifier: MIT */
/*
 * Finishing or rolling back an interrupted operation (the intent in the
 * tree file), at the next read-write open or before the next operation.
 * The commit point of each operation is one descriptor rename, so the
 * current descriptor says which side of it a crash fell on:
 *
 *   create   switched (the current's data is the new delta): add the node
 *            and clear; not switched: remove the new files and clear,
 *            unless a multi-disk create was decided at its coordinator,
 *            then do the switch here too
 *   revert   switched: remove the old delta; else remove the new one
 *   delete   run again (every step is idempotent)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "snapshot/snap-internal.h"

/*
 * Did the coordinator of a multi-disk create decide to commit it? 1 yes,
 * 0 no (also when the coordinator disk or its tree is gone: nobody can
 * decide any more), negative when its tree cannot be read now (a
 * datastore that does not mount, a lock not handed over): then nobody
 * may guess.
 */
int
snap_coordinator_decision(const struct snap_intent *in)
{
	struct snap_tree *t = NULL;
	char leaf[DESC_NAME_MAX + 1];
	struct vdisk_store *st;
	int rc;

	rc = vdisk_store_open(in->coordinator, &st, leaf, sizeof(leaf));
	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	rc = snap_tree_load(st, leaf, &t);
	if (rc == 0) {
		rc = t->intent.op == INTENT_CREATE && t->intent.committed &&
		     !strcmp(t->intent.node.group, in->node.group);
		for (unsigned int i = 0; i < t->n && !rc; i++)
			if (!strcmp(t->nodes[i].group, in->node.group))
				rc = 1;
	} else if (rc == -ENOENT) {
		rc = 0;
	}
	snap_tree_free(t);
	vdisk_store_close(st);
	return rc;
}

static int
recover_create(struct snap_ctx *x)
{
	struct snap_intent *in = &x->tree->intent;
	bool switched = !strcmp(x->cur.ext[0].file, in->new_top);
	int decided = in->coordinator[0] ? snap_coordinator_decision(in) :
		      in->committed;
	struct vdisk_desc *nd;
	int rc = 0;

	if (decided < 0) {
		vdisk_err("snapshot", "%s: an unfinished snapshot create waits "
			  "for the decision at %s, which cannot be read now "
			  "(%s); try again", x->path, in->coordinator,
			  strerror(-decided));
		return -EAGAIN;
	}

	if (!switched && decided) {
		/* Redo the switch from scratch (the delta had no writes). */
		nd = malloc(sizeof(*nd));
		if (!nd)
			return -ENOMEM;
		snap_node_desc(&x->cur, nd);
		rc = vdisk_desc_store(x->st, in->node.file, nd);
		x->st->ops->unlink(x->st, in->new_top);
		if (rc == 0)
			rc = delta_create(x->st, in->new_top,
					  vdisk_desc_capacity(&x->cur), NULL);
		if (rc == 0) {
			snap_cur_over(&x->cur, in->node.file, x->cur.cid,
				      in->new_top, &x->cur);
			rc = snap_ctx_store_cur(x);
		}
		free(nd);
		if (rc < 0)
			return rc;
		switched = true;
		log_info("snapshot", "%s: finished the snapshot create of "
			 "group %s", x->path, in->node.group);
	}
	if (switched) {
		rc = snap_tree_add(x->tree, &in->node);
		if (rc < 0)
			return rc;
	} else {
		x->st->ops->unlink(x->st, in->new_top);
		x->st->ops->unlink(x->st, in->node.file);
		log_info("snapshot", "%s: rolled back an unfinished snapshot "
			 "create", x->path);
	}
	memset(in, 0, sizeof(*in));
	return snap_ctx_store_tree(x);
}

static int
recover_revert(struct snap_ctx *x)
{
	struct snap_intent *in = &x->tree->intent;

	if (!strcmp(x->cur.ext[0].file, in->new_top))
		return snap_revert_finish(x);
	x->st->ops->unlink(x->st, in->new_top);
	log_info("snapshot", "%s: rolled back an unfinished revert", x->path);
	memset(in, 0, sizeof(*in));
	return snap_ctx_store_tree(x);
}

int
snap_recover(struct snap_ctx *x)
{
	int rc;

	switch (x->tree->intent.op) {
	case INTENT_CREATE:
		rc = recover_create(x);
		break;
	case INTENT_REVERT:
		rc = recover_revert(x);
		break;
	case INTENT_DELETE:
		log_info("snapshot", "%s: finishing the delete of %s", x->path,
			 x->tree->intent.node.file);
		rc = snap_delete_run(x, NULL, NULL);
		break;
	default:
		return 0;
	}
	if (rc < 0)
		return rc;
	return snap_ctx_reload(x);
}
