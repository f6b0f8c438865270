/* SPDX-License-Identifier: MIT */
/*
 * Disk modes, as in VMware ESX:
 *   persistent     writes go to the disk
 *   nonpersistent  power-on starts a redo log (an unnamed snapshot the
 *                  current state continues over); power-off, or the next
 *                  open after a crash, throws it away
 *   undoable       the same redo log; at power-off keep it (the next
 *                  power-on continues in it), discard it or commit it
 * The redo log is a plain delta over an unnamed node: discarding is a
 * revert to that node and then its deletion (which folds nothing back),
 * committing is a commit into it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "snapshot/snap-internal.h"

static const char *const names[] = {
	[SNAP_PERSISTENT] = "persistent",
	[SNAP_NONPERSISTENT] = "nonpersistent",
	[SNAP_UNDOABLE] = "undoable",
};

const char *
snap_mode_string(enum snap_mode mode)
{
	return (unsigned int)mode < ARRAY_SIZE(names) ? names[mode] : "?";
}

int
snap_mode_from_string(const char *s, enum snap_mode *out)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strcmp(s, names[i])) {
			*out = (enum snap_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Ends the redo log: discard (revert, then fold the empty delta) or
 * commit. The disk is held offline. */
static int
end_redo(struct snap_ctx *x, enum snap_poweroff action, struct progress *p)
{
	struct snap_node *r = snap_tree_find(x->tree, x->tree->redo);
	struct snap_node *pos = snap_ctx_position(x);
	uint32_t id = x->tree->redo;
	int rc;

	if (!r || !pos || pos->id != id) {
		/* Reverted or deleted by hand since: nothing to end. */
		x->tree->redo = 0;
		return snap_ctx_store_tree(x);
	}
	if (action == SNAP_DISCARD) {
		rc = snap_op_revert(x, NULL, true, id);
		if (rc < 0)
			return rc;
		r = snap_tree_find(x->tree, id);
		if (!r)
			return -EUCLEAN;
	}
	rc = snap_op_delete(x, r, true, p, NULL);
	if (rc < 0)
		return rc;
	x->tree->redo = 0;
	rc = snap_ctx_store_tree(x);
	if (rc == 0)
		rc = snap_ctx_reload(x);
	return rc;
}

int
snap_mode_power_on(struct snap_ctx *x)
{
	struct snap_tree *t = x->tree;
	struct snap_node *pos;
	int rc;

	if (t->mode == MODE_PERSISTENT)
		return 0;
	if (t->redo) {
		if (t->mode == MODE_UNDOABLE)
			return 0;   /* a kept (or crashed) redo log goes on */
		log_info("snapshot", "%s: discarding the nonpersistent redo "
			 "log left behind", x->path);
		rc = end_redo(x, SNAP_DISCARD, NULL);
		if (rc < 0)
			return rc;
	}
	rc = snap_op_create(x, 1, "", NULL, NULL);
	if (rc < 0)
		return rc;
	pos = snap_ctx_position(x);
	if (!pos)
		return -EUCLEAN;
	t->redo = pos->id;
	return snap_ctx_store_tree(x);
}

int
snap_mode_set(const char *disk, enum snap_mode mode)
{
	struct snap_ctx x;
	int rc;

	if ((unsigned int)mode >= ARRAY_SIZE(names))
		return -EINVAL;
	rc = snap_ctx_hold(disk, &x);
	if (rc < 0)
		return rc;
	/* A nonpersistent redo log left by a crash (or a plain close) is
	 * thrown away as its next open would; an undoable one waits for
	 * its owner's decision, which a mode change must not make. */
	if (x.tree->redo && x.tree->mode == MODE_NONPERSISTENT)
		rc = end_redo(&x, SNAP_DISCARD, NULL);
	if (rc < 0) {
		/* end_redo() said why. */
	} else if (x.tree->redo && (enum snap_mode)x.tree->mode != mode) {
		vdisk_err("snapshot", "%s: an undoable redo log is pending; "
			  "'vsnap poweroff DISK discard' or 'commit' first",
			  disk);
		rc = -EBUSY;
	} else {
		x.tree->mode = (enum snap_mode_kind)mode;
		rc = snap_ctx_store_tree(&x);
	}
	snap_ctx_release(&x);
	return rc;
}

int
snap_mode_get(const char *disk, enum snap_mode *mode, bool *redo)
{
	char leaf[DESC_NAME_MAX + 1];
	struct vdisk_store *st;
	struct snap_tree *t;
	int rc;

	rc = vdisk_store_open(disk, &st, leaf, sizeof(leaf));
	if (rc < 0)
		return rc;
	rc = st->ops->exists(st, leaf);
	if (rc <= 0) {
		vdisk_store_close(st);
		return rc ? rc : -ENOENT;
	}
	rc = snap_tree_load(st, leaf, &t);
	vdisk_store_close(st);
	if (rc == -ENOENT) {
		*mode = SNAP_PERSISTENT;
		*redo = false;
		return 0;
	}
	if (rc < 0)
		return rc;
	*mode = (enum snap_mode)t->mode;
	*redo = t->redo != 0;
	snap_tree_free(t);
	return 0;
}

int
snap_disk_open(const char *path, unsigned int flags, struct vdisk **out)
{
	/* vdisk_open() through the provider applies the mode. */
	return vdisk_open(path, flags, out);
}

int
snap_poweroff(const char *disk, enum snap_poweroff action, struct progress *p)
{
	struct snap_ctx x;
	int rc;

	rc = snap_ctx_hold(disk, &x);
	if (rc < 0)
		return rc;
	if (x.tree->intent.op != INTENT_NONE)
		rc = snap_recover(&x);
	if (rc == 0 && x.tree->redo) {
		if (x.tree->mode == MODE_NONPERSISTENT)
			action = SNAP_DISCARD;
		if (action != SNAP_KEEP)
			rc = end_redo(&x, action, p);
	}
	snap_ctx_release(&x);
	return rc;
}

int
snap_disk_close(struct vdisk *disk, enum snap_poweroff action)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s", disk->path);
	vdisk_close(disk);
	return snap_poweroff(path, action, NULL);
}
