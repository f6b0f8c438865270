/* SPDX-License-Identifier: MIT */
/*
 * Deleting a snapshot node S, keeping every other node and the current
 * state as they read (and commit, which deletes the node the current
 * state is over):
 *
 *   no children       S's files go
 *   one child C       S flat (the base), or C the smaller: C's grains go
 *                     up into S, and C's descriptor takes S's data file
 *                     (online with C the live top: mirrored); else S's
 *                     grains C lacks go down into C, and C skips S
 *   several children  S a delta: down into each child in turn; S the
 *                     base: only its name goes (the data stays shared)
 *
 * The intent names S, the children, the direction and the files; each
 * child's switch is one descriptor rename; delete_run() redoes whatever
 * is not done yet, so recovery is the same code.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "snapshot/chain.h"
#include "snapshot/snap-internal.h"

#define GATE_TIMEOUT_MS 30000

static unsigned int
kids_of(struct snap_ctx *x, const struct snap_node *s, uint32_t *kids,
	unsigned int max)
{
	struct snap_node *pos = snap_ctx_position(x);
	unsigned int n = 0;

	if (pos && pos->id == s->id && n < max)
		kids[n++] = 0;
	for (unsigned int i = 0; i < x->tree->n && n < max; i++)
		if (x->tree->nodes[i].parent == s->id)
			kids[n++] = x->tree->nodes[i].id;
	return n;
}

/* The descriptor name of child 'kid' (0: the current disk). */
static int
kid_name(struct snap_ctx *x, uint32_t kid, char *out, size_t len)
{
	struct snap_node *k;

	if (kid == 0) {
		snprintf(out, len, "%s", x->leaf);
		return 0;
	}
	k = snap_tree_find(x->tree, kid);
	if (!k)
		return -EUCLEAN;
	snprintf(out, len, "%s", k->file);
	return 0;
}

static int
kid_load(struct snap_ctx *x, uint32_t kid, struct vdisk_desc *d)
{
	char name[DESC_NAME_MAX + 1];
	int rc;

	if (kid == 0) {
		*d = x->cur;
		return 0;
	}
	rc = kid_name(x, kid, name, sizeof(name));
	return rc < 0 ? rc : vdisk_desc_load(x->st, name, d);
}

static int
kid_store(struct snap_ctx *x, uint32_t kid, const struct vdisk_desc *d)
{
	char name[DESC_NAME_MAX + 1];
	int rc;

	if (kid == 0) {
		x->cur = *d;
		return snap_ctx_store_cur(x);
	}
	rc = kid_name(x, kid, name, sizeof(name));
	return rc < 0 ? rc : vdisk_desc_store(x->st, name, d);
}

/* A chain through a child and S below it, live or opened here. */
struct mchain {
	struct chain *c;
	bool live;
	unsigned int idx;           /* the child's layer */
	struct store_lock *lock;    /* offline node child: held here */
};

static void
mchain_close(struct snap_ctx *x, struct mchain *m)
{
	if (!m->live && m->c) {
		int rc = chain_close(m->c);

		if (rc < 0)
			log_warn("snapshot", "%s: closing a merge: %s", x->path,
				 strerror(-rc));
	}
	if (m->lock)
		x->st->ops->unlock(m->lock);
	memset(m, 0, sizeof(*m));
}

static int
mchain_open(struct snap_ctx *x, uint32_t kid, const struct snap_node *s,
	    struct mchain *m)
{
	char name[DESC_NAME_MAX + 1], path[4096];
	struct vdisk_desc *d;
	int rc, i;

	memset(m, 0, sizeof(*m));
	rc = kid_name(x, kid, name, sizeof(name));
	if (rc < 0)
		return rc;
	if (x->disk && x->chain && (i = chain_find(x->chain, name)) >= 0) {
		m->c = x->chain;
		m->live = true;
		m->idx = (unsigned int)i;
	} else if (kid == 0) {
		rc = chain_open(x->st, x->leaf, x->path, &x->cur, true, &m->c);
	} else {
		d = malloc(sizeof(*d));
		if (!d)
			return -ENOMEM;
		rc = x->st->ops->lock(x->st, name, true, &m->lock);
		if (rc == -EBUSY)
			vdisk_err("snapshot", "%s: snapshot node %s is in use "
				  "(a linked clone?)", x->path, name);
		if (rc == 0)
			rc = vdisk_desc_load(x->st, name, d);
		snap_path_join(x->dir, name, path, sizeof(path));
		if (rc == 0)
			rc = chain_open(x->st, name, path, d, false, &m->c);
		free(d);
	}
	if (rc < 0) {
		mchain_close(x, m);
		return rc;
	}
	if (m->idx + 1 >= m->c->n ||
	    strcmp(m->c->l[m->idx + 1]->desc_name, s->file)) {
		vdisk_err("snapshot", "%s: %s is not over %s as the tree says",
			  x->path, name, s->file);
		mchain_close(x, m);
		return -EUCLEAN;
	}
	return 0;
}

/* Layer 'idx' of 'm' made writable (briefly gated when live). */
static int
mchain_writable(struct snap_ctx *x, struct mchain *m, unsigned int idx)
{
	int rc;

	if (m->c->l[idx]->writable)
		return 0;
	if (!m->live)
		return chain_layer_make_writable(m->c, idx);
	rc = vdisk_gate_close(x->disk, GATE_TIMEOUT_MS);
	if (rc < 0)
		return rc;
	rc = chain_layer_make_writable(m->c, idx);
	vdisk_gate_open(x->disk);
	return rc;
}

static uint64_t
mono_ns(void)
{
	return clock_mono_ns();
}

/* C's grains into S; C's descriptor takes S's data file. */
static int
merge_up_kid(struct snap_ctx *x, const struct snap_node *s,
	     const struct vdisk_desc *sd, uint32_t kid, struct progress *p,
	     struct snap_op_stats *stats)
{
	struct vdisk_desc *kd = malloc(sizeof(*kd));
	struct chain_layer *kl = NULL;
	struct mchain m;
	uint64_t c0;
	bool mirror;
	uint64_t t;
	int rc;

	if (!kd)
		return -ENOMEM;
	rc = kid_load(x, kid, kd);
	if (rc < 0 || !strcmp(kd->ext[0].file, sd->ext[0].file))
		goto out_free;      /* failed, or switched already */
	rc = mchain_open(x, kid, s, &m);
	if (rc < 0)
		goto out_free;
	c0 = m.c->copied_grains;
	rc = mchain_writable(x, &m, m.idx + 1);
	mirror = m.live && m.idx == 0;
	if (rc == 0)
		rc = snap_merge_up(m.c, m.idx, mirror, p);
	if (rc < 0)
		goto out;
	snap_desc_set_extent(kd, sd->ext[0].kind, sd->ext[0].file, kid != 0);
	snprintf(kd->parent_hint, sizeof(kd->parent_hint), "%s",
		 sd->parent_hint);
	kd->parent_cid = sd->parent_cid;
	if (!m.live) {
		rc = chain_commit_layer(m.c, m.idx + 1);
		if (rc == 0)
			rc = kid_store(x, kid, kd);
		goto out;
	}
	t = mono_ns();
	rc = vdisk_gate_close(x->disk, GATE_TIMEOUT_MS);
	if (rc < 0)
		goto out;
	/* Whatever the mirror could not take (nothing, usually). */
	if (mirror)
		rc = snap_merge_up(m.c, m.idx, true, NULL);
	if (rc == 0)
		rc = chain_commit_layer(m.c, m.idx + 1);
	if (rc == 0)
		rc = kid_store(x, kid, kd);
	if (rc == 0) {
		struct chain *c = m.c;
		struct chain_layer *sl = c->l[m.idx + 1];

		pthread_mutex_lock(&c->mu);
		kl = c->l[m.idx];
		*sl->desc = *kd;
		snprintf(sl->desc_name, sizeof(sl->desc_name), "%s",
			 kl->desc_name);
		snprintf(sl->path, sizeof(sl->path), "%s", kl->path);
		if (sl->lock)
			sl->st->ops->unlock(sl->lock);
		sl->lock = kl->lock;
		kl->lock = NULL;
		c->l[m.idx] = sl;
		memmove(&c->l[m.idx + 1], &c->l[m.idx + 2],
			(c->n - m.idx - 2) * sizeof(c->l[0]));
		c->n--;
		if (c->mirror) {
			free(c->mirror->copied);
			free(c->mirror);
			c->mirror = NULL;
		}
		chain_cache_clear(c);
		if (m.idx == 0)
			x->disk->data = chain_layer_file(sl);
		pthread_mutex_unlock(&c->mu);
	}
	vdisk_gate_open(x->disk);
	if (stats)
		stats->pause_ns += mono_ns() - t;
	/* The child's old data is obsolete: no commit, just close. */
	if (kl) {
		delta_abandon(kl->delta);
		kl->delta = NULL;
		chain_layer_close(kl);
	}
out:
	if (stats)
		stats->bytes_copied += (m.c->copied_grains - c0) * DELTA_GRAIN;
	if (rc < 0 && m.live && m.c->mirror) {
		pthread_mutex_lock(&m.c->mu);
		free(m.c->mirror->copied);
		free(m.c->mirror);
		m.c->mirror = NULL;
		pthread_mutex_unlock(&m.c->mu);
	}
	mchain_close(x, &m);
out_free:
	free(kd);
	return rc;
}

/* S's grains that C lacks into C; C's parent becomes S's. */
static int
merge_down_kid(struct snap_ctx *x, const struct snap_node *s,
	       const struct vdisk_desc *sd, uint32_t kid, struct progress *p,
	       struct snap_op_stats *stats)
{
	struct vdisk_desc *kd = malloc(sizeof(*kd));
	struct chain_layer *gone = NULL;
	struct mchain m;
	uint64_t t, c0;
	int rc;

	if (!kd)
		return -ENOMEM;
	rc = kid_load(x, kid, kd);
	if (rc < 0 || strcmp(kd->parent_hint, s->file))
		goto out_free;      /* failed, or switched already */
	rc = mchain_open(x, kid, s, &m);
	if (rc < 0)
		goto out_free;
	c0 = m.c->copied_grains;
	rc = mchain_writable(x, &m, m.idx);
	if (rc == 0)
		rc = snap_merge_down(m.c, m.idx + 1, p);
	if (rc < 0)
		goto out;
	snprintf(kd->parent_hint, sizeof(kd->parent_hint), "%s",
		 sd->parent_hint);
	kd->parent_cid = sd->parent_cid;
	if (!m.live) {
		rc = chain_commit_layer(m.c, m.idx);
		if (rc == 0)
			rc = kid_store(x, kid, kd);
		goto out;
	}
	t = mono_ns();
	rc = vdisk_gate_close(x->disk, GATE_TIMEOUT_MS);
	if (rc < 0)
		goto out;
	rc = chain_commit_layer(m.c, m.idx);
	if (rc == 0)
		rc = kid_store(x, kid, kd);
	if (rc == 0) {
		struct chain *c = m.c;

		pthread_mutex_lock(&c->mu);
		*c->l[m.idx]->desc = *kd;
		gone = c->l[m.idx + 1];
		memmove(&c->l[m.idx + 1], &c->l[m.idx + 2],
			(c->n - m.idx - 2) * sizeof(c->l[0]));
		c->n--;
		chain_cache_clear(c);
		pthread_mutex_unlock(&c->mu);
	}
	vdisk_gate_open(x->disk);
	if (stats)
		stats->pause_ns += mono_ns() - t;
	chain_layer_close(gone);
out:
	if (stats)
		stats->bytes_copied += (m.c->copied_grains - c0) * DELTA_GRAIN;
	mchain_close(x, &m);
out_free:
	free(kd);
	return rc;
}

static void
unlink_node_files(struct snap_ctx *x, const char *desc_file,
		  const char *data_file)
{
	char lck[DESC_NAME_MAX + 8];

	if (data_file && data_file[0])
		x->st->ops->unlink(x->st, data_file);
	x->st->ops->unlink(x->st, desc_file);
	snprintf(lck, sizeof(lck), "%s.lck", desc_file);
	x->st->ops->unlink(x->st, lck);
}

/* Removes S from the tree; its children hang on its parent. */
static int
finish(struct snap_ctx *x)
{
	struct snap_intent *in = &x->tree->intent;
	uint32_t parent = in->node.parent;

	snap_tree_remove(x->tree, in->node.id);
	for (unsigned int i = 0; i < x->tree->n; i++)
		if (x->tree->nodes[i].parent == in->node.id)
			x->tree->nodes[i].parent = parent;
	if (x->tree->redo == in->node.id)
		x->tree->redo = 0;
	memset(in, 0, sizeof(*in));
	return snap_ctx_store_tree(x);
}

int
snap_delete_run(struct snap_ctx *x, struct progress *p,
		struct snap_op_stats *stats)
{
	struct snap_intent *in = &x->tree->intent;
	struct snap_node s = in->node;
	struct vdisk_desc *sd;
	int rc = 0;

	if (in->how == MERGE_ANON) {
		struct snap_node *n = snap_tree_find(x->tree, s.id);

		if (n)
			n->name[0] = '\0';
		memset(in, 0, sizeof(*in));
		return snap_ctx_store_tree(x);
	}
	sd = malloc(sizeof(*sd));
	if (!sd)
		return -ENOMEM;
	rc = vdisk_desc_load(x->st, s.file, sd);
	if (rc == -ENOENT) {
		/* Removed already (after every child switched): only the
		 * tree is left to fix. */
		rc = finish(x);
		goto out;
	}
	if (rc < 0)
		goto out;
	for (unsigned int i = 0; i < in->nkids && rc == 0; i++) {
		if (in->kids_done & (1u << i))
			continue;
		if (in->how == MERGE_UP)
			rc = merge_up_kid(x, &s, sd, in->kids[i], p, stats);
		else if (in->how == MERGE_DOWN)
			rc = merge_down_kid(x, &s, sd, in->kids[i], p, stats);
		if (rc == 0 && in->nkids > 1) {
			in->kids_done |= 1u << i;
			rc = snap_ctx_store_tree(x);
		}
	}
	if (rc < 0)
		goto out;
	if (in->how == MERGE_UP) {
		/* S's data now belongs to the child; its old delta goes. */
		x->st->ops->unlink(x->st, in->old_top);
		unlink_node_files(x, s.file, NULL);
	} else {
		unlink_node_files(x, s.file, sd->ext[0].file);
	}
	rc = finish(x);
out:
	free(sd);
	return rc;
}

/* Grains with data in layer 'idx' of the chain through 'kid'. */
static int
sizes(struct snap_ctx *x, const struct snap_node *s, uint32_t kid,
      uint64_t *kid_grains, uint64_t *s_grains)
{
	struct mchain m;
	int rc;

	rc = mchain_open(x, kid, s, &m);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&m.c->mu);
	*kid_grains = delta_data_grains(m.c->l[m.idx]->delta);
	*s_grains = m.c->l[m.idx + 1]->delta ?
		    delta_data_grains(m.c->l[m.idx + 1]->delta) : UINT64_MAX;
	pthread_mutex_unlock(&m.c->mu);
	mchain_close(x, &m);
	return 0;
}

int
snap_op_delete(struct snap_ctx *x, struct snap_node *s, bool commit,
	       struct progress *p, struct snap_op_stats *stats)
{
	struct snap_intent *in = &x->tree->intent;
	struct vdisk_desc *sd;
	uint32_t kids[64];
	unsigned int nk;
	int rc;

	if (in->op != INTENT_NONE) {
		vdisk_err("snapshot", "%s: an operation is still pending; open "
			  "the disk to finish it", x->path);
		return -EBUSY;
	}
	if (s->nclones && snap_clone_alive(x, s)) {
		vdisk_err("snapshot", "%s: snapshot '%s' is the base of %u "
			  "linked clone(s) (%s)", x->path, s->name, s->nclones,
			  s->clones[0]);
		return -EOPNOTSUPP;
	}
	nk = kids_of(x, s, kids, ARRAY_SIZE(kids));
	if (commit && (nk != 1 || kids[0] != 0)) {
		vdisk_err("snapshot", "%s: the snapshot under the current state "
			  "has other branches; delete them first", x->path);
		return -EOPNOTSUPP;
	}
	sd = malloc(sizeof(*sd));
	if (!sd)
		return -ENOMEM;
	rc = vdisk_desc_load(x->st, s->file, sd);
	if (rc < 0)
		goto out;
	memset(in, 0, sizeof(*in));
	in->op = INTENT_DELETE;
	in->node = *s;
	in->commit = commit;
	in->nkids = nk;
	memcpy(in->kids, kids, nk * sizeof(kids[0]));
	if (nk == 0) {
		in->how = MERGE_LEAF;
	} else if (nk == 1) {
		uint64_t kg = 0, sg = 0;
		struct vdisk_desc *kd = malloc(sizeof(*kd));

		if (!kd) {
			rc = -ENOMEM;
			goto out;
		}
		rc = kid_load(x, kids[0], kd);
		/* Over a flat S it is always up: no need to read the child's
		 * grain table twice (a commit's usual case). */
		if (rc == 0 && sd->ext[0].kind != DESC_EXT_DELTA)
			sg = UINT64_MAX;
		else if (rc == 0)
			rc = sizes(x, s, kids[0], &kg, &sg);
		if (rc == 0) {
			in->how = sg == UINT64_MAX || kg < sg ? MERGE_UP :
				  MERGE_DOWN;
			snprintf(in->old_top, sizeof(in->old_top), "%s",
				 kd->ext[0].file);
			snprintf(in->new_top, sizeof(in->new_top), "%s",
				 sd->ext[0].file);
		}
		free(kd);
		if (rc < 0)
			goto out;
	} else {
		in->how = sd->ext[0].kind == DESC_EXT_DELTA ? MERGE_DOWN :
			  MERGE_ANON;
		if (in->how == MERGE_ANON)
			log_info("snapshot", "%s: '%s' is the base of %u "
				 "branches: its name goes, its data stays",
				 x->path, s->name, nk);
	}
	rc = snap_ctx_store_tree(x);
	if (rc == 0)
		rc = snap_delete_run(x, p, stats);
out:
	free(sd);
	return rc;
}
