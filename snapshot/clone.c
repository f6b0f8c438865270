/* SPDX-License-Identifier: MIT */
/*
 * Linked clones: a new disk that is only a delta over a snapshot node of
 * another disk (a template). Its parent link is a path relative to its
 * own folder ("../tmpl/tmpl-000001.vmdk"), so the pair can move together;
 * the base node is read-only and every clone opens it with a shared
 * lock, so many VMs on several hosts run from one base. The base's tree
 * lists its clones, and deleting that snapshot (or removing the base
 * disk) is refused while a listed clone exists.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "snapshot/snap-internal.h"

/* The base disk a node file belongs to: "t-000001.vmdk" -> "t.vmdk". */
static int
owner_of(struct vdisk_store *st, const char *node_file, char *out, size_t len)
{
	const char *dash = strrchr(node_file, '-');
	size_t stem;

	if (!dash || strlen(dash) != strlen("-000001.vmdk"))
		return -EINVAL;
	stem = (size_t)(dash - node_file);
	snprintf(out, len, "%.*s.vmdk", (int)stem, node_file);
	if (st->ops->exists(st, out) > 0)
		return 0;
	snprintf(out, len, "%.*s", (int)stem, node_file);
	return st->ops->exists(st, out) > 0 ? 0 : -ENOENT;
}

bool
snap_clone_alive(struct snap_ctx *x, struct snap_node *n)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < n->nclones; i++) {
		char path[4096 + 256], leaf[DESC_NAME_MAX + 1];
		struct vdisk_store *st;
		bool there = false;

		snap_path_join(x->dir, n->clones[i], path, sizeof(path));
		if (vdisk_store_open(path, &st, leaf, sizeof(leaf)) == 0) {
			there = st->ops->exists(st, leaf) != 0;
			vdisk_store_close(st);
		}
		if (there)
			memmove(n->clones[k++], n->clones[i],
				sizeof(n->clones[0]));
	}
	n->nclones = k;
	return k > 0;
}

void
snap_clone_unregister(const char *path, const struct vdisk_desc *d)
{
	char dir[4096], base[4096 + 512], leaf[DESC_NAME_MAX + 1];
	char owner[DESC_NAME_MAX + 1], bdir[4096], rel[1024];
	struct snap_ctx x;
	struct snap_node *n;
	struct vdisk_store *st;

	if (!d->parent_hint[0] || snap_plain_name(d->parent_hint))
		return;
	snap_path_dir(path, dir, sizeof(dir));
	snap_path_join(dir, d->parent_hint, base, sizeof(base));
	if (vdisk_store_open(base, &st, leaf, sizeof(leaf)) < 0)
		return;
	if (owner_of(st, leaf, owner, sizeof(owner)) < 0) {
		vdisk_store_close(st);
		return;
	}
	vdisk_store_close(st);
	snap_path_dir(base, bdir, sizeof(bdir));
	snap_path_join(bdir, owner, base, sizeof(base));
	if (snap_path_relative(bdir, path, rel, sizeof(rel)) < 0)
		return;
	/* Best effort: a base in use keeps a stale entry, which the next
	 * delete there finds gone and forgets. */
	if (snap_ctx_hold(base, &x) < 0)
		return;
	n = snap_tree_by_file(x.tree, leaf);
	for (unsigned int i = 0; n && i < n->nclones; i++) {
		if (strcmp(n->clones[i], rel))
			continue;
		memmove(n->clones[i], n->clones[i + 1],
			(n->nclones - i - 1) * sizeof(n->clones[0]));
		n->nclones--;
		if (snap_ctx_store_tree(&x) < 0)
			log_warn("snapshot", "%s: could not update its clones",
				 base);
		break;
	}
	snap_ctx_release(&x);
}

int
snap_clone_linked(const char *base, const char *snapshot, const char *dst)
{
	char ddir[4096], rel_node[1024], rel_clone[1024], nd[DESC_NAME_MAX + 1];
	char dleaf[DESC_NAME_MAX + 1], node_path[4096 + 256];
	struct vdisk_store *dst_st;
	struct store_lock *dlk;
	struct snap_tree *dt = NULL;
	struct vdisk_desc *sd, *dd;
	struct snap_node *s;
	struct snap_ctx x;
	int rc;

	vdisk_clear_error();
	sd = malloc(sizeof(*sd));
	dd = malloc(sizeof(*dd));
	if (!sd || !dd) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = snap_ctx_hold(base, &x);
	if (rc < 0)
		goto out_free;
	if (x.tree->intent.op != INTENT_NONE)
		rc = snap_recover(&x);
	if (rc < 0)
		goto out_base;
	if (snapshot) {
		s = snap_tree_by_name(x.tree, snapshot);
		if (!s) {
			vdisk_err("snapshot", "%s: no snapshot '%s'", base,
				  snapshot);
			rc = -ENOENT;
			goto out_base;
		}
	} else {
		/* The base's current state, frozen as an unnamed node. */
		rc = snap_op_create(&x, 1, "", "base of linked clones", NULL);
		if (rc < 0)
			goto out_base;
		s = snap_ctx_position(&x);
		if (!s) {
			rc = -EUCLEAN;
			goto out_base;
		}
	}
	if (s->nclones >= SNAP_MAX_CLONES) {
		vdisk_err("snapshot", "%s: snapshot has %d linked clones "
			  "already", base, SNAP_MAX_CLONES);
		rc = -ENOSPC;
		goto out_base;
	}
	rc = vdisk_desc_load(x.st, s->file, sd);
	if (rc < 0)
		goto out_base;
	snap_path_dir(dst, ddir, sizeof(ddir));
	snap_path_join(x.dir, s->file, node_path, sizeof(node_path));
	rc = snap_path_relative(ddir, node_path, rel_node, sizeof(rel_node));
	if (rc == 0)
		rc = snap_path_relative(x.dir, dst, rel_clone,
					sizeof(rel_clone));
	if (rc < 0) {
		vdisk_err("snapshot", "%s: a linked clone must be in the same "
			  "store as its base", dst);
		goto out_base;
	}
	rc = vdisk_store_open(dst, &dst_st, dleaf, sizeof(dleaf));
	if (rc < 0)
		goto out_base;
	rc = dst_st->ops->lock(dst_st, dleaf, true, &dlk);
	if (rc < 0)
		goto out_dst;
	if (dst_st->ops->exists(dst_st, dleaf)) {
		vdisk_err("snapshot", "%s exists", dst);
		rc = -EEXIST;
		goto out_dlk;
	}
	/* The base learns of its clone first: a crash then leaves a stale
	 * entry (forgotten later), never a clone its base does not know. */
	if (strlen(rel_clone) >= sizeof(s->clones[0])) {
		rc = -ENAMETOOLONG;
		goto out_dlk;
	}
	memcpy(s->clones[s->nclones++], rel_clone, strlen(rel_clone) + 1);
	rc = snap_ctx_store_tree(&x);
	if (rc < 0)
		goto out_dlk;
	dt = snap_tree_new();
	if (!dt) {
		rc = -ENOMEM;
		goto out_dlk;
	}
	snap_name_delta(dleaf, snap_tree_next_id(dt, dst_st, dleaf), nd,
			sizeof(nd));
	rc = delta_create(dst_st, nd, vdisk_desc_capacity(sd), NULL);
	if (rc < 0)
		goto out_dlk;
	*dd = *sd;
	snap_cur_over(sd, rel_node, sd->cid, nd, dd);
	dd->type = VDISK_THIN;
	rc = snap_tree_store(dst_st, dleaf, dt);
	if (rc == 0)
		rc = vdisk_desc_store(dst_st, dleaf, dd);
	if (rc < 0)
		dst_st->ops->unlink(dst_st, nd);
out_dlk:
	dst_st->ops->unlock(dlk);
out_dst:
	vdisk_store_close(dst_st);
out_base:
	snap_ctx_release(&x);
out_free:
	snap_tree_free(dt);
	free(sd);
	free(dd);
	return rc;
}
