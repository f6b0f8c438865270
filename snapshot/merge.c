/* SPDX-License-Identifier: MIT */
/*
 * Merges: copying one layer's grains into its neighbour, on a live chain
 * (beside guest I/O) or an offline one.
 *
 *   up    every grain of a layer goes into its parent (delete of a node
 *         with one child, commit). When the layer is the live top, new
 *         writes are mirrored into the parent as soon as the copier has
 *         passed their grain, and new grains go to both at once: the
 *         copier's work only shrinks, so it always finishes.
 *   down  the grains of a layer its child lacks go into the child
 *         (delete of a small node, of a node with several children).
 *
 * Both are idempotent: after a crash they simply run again.
 *
 * The copier sends batches of grains, eight at a time, through a queue
 * of its own; chain-io.c does the interlocking. Offline a batch is 1024
 * grains (4 MiB: contiguous slots go out as 1 MiB requests); on a live
 * chain 256 (1 MiB), since a guest write that meets a batch waits for
 * all of it. On the disks here a commit is bound by reading the delta
 * (reads run at about half the write rate): bigger batches or more of
 * them in flight measured the same.
 */
#include <errno.h>
#include <stdlib.h>

#include "common/progress.h"
#include "snapshot/chain.h"
#include "snapshot/snap-internal.h"

#define BATCH_OFFLINE 1024u
#define BATCH_LIVE 256u
#define IN_FLIGHT 8u

struct merge {
	struct chain *c;
	struct chain_lq *lq;
	struct vdisk_queue *q;
	unsigned int src, dst;
	chain_pick_fn pick;
	unsigned int inflight;
	int err;
	struct progress *p;
	uint64_t done_bytes;
};

static bool
pick_up(struct chain *c, uint64_t g, void *priv)
{
	return !c->mirror || !(c->mirror->copied[g / 64] & (1ull << (g % 64)));
}

static bool
pick_down(struct chain *c, uint64_t g, void *priv)
{
	struct merge *m = priv;

	return delta_get(c->l[m->dst]->delta, g) == 0;
}

static void
batch_done(void *priv, int result)
{
	struct merge *m = priv;

	m->inflight--;
	if (result < 0 && !m->err)
		m->err = result;
}

static void
wait_some(struct merge *m)
{
	int rc;

	chain_lq_run(m->lq);
	if (!m->inflight)
		return;
	rc = vdisk_sub_poll(m->q, 100);
	if (rc < 0 && !m->err)
		m->err = rc;
	chain_lq_run(m->lq);
}

/* One pass over the source's grains. */
static void
run_pass(struct merge *m)
{
	struct delta *src = m->c->l[m->src]->delta;
	uint64_t g = 0;

	while (!m->err) {
		uint64_t count;
		int rc;

		pthread_mutex_lock(&m->c->mu);
		g = delta_next(src, g);
		pthread_mutex_unlock(&m->c->mu);
		if (g == UINT64_MAX)
			break;
		count = MIN((uint64_t)(m->c->disk ? BATCH_LIVE : BATCH_OFFLINE),
			    m->c->ngrains - g);
		while (m->inflight >= IN_FLIGHT && !m->err)
			wait_some(m);
		m->inflight++;
		rc = chain_copy_batch(m->lq, (int)m->src, (int)m->dst, g, count,
				      m->pick, m, batch_done, m);
		if (rc < 0) {
			m->inflight--;
			m->err = rc;
			break;
		}
		m->done_bytes += count * DELTA_GRAIN;
		progress_update(m->p, MIN(m->done_bytes, m->c->capacity));
		g += count;
	}
	while (m->inflight)
		wait_some(m);
}

/* Source grains the mirror has not marked copied yet. */
static uint64_t
left_to_copy(struct merge *m)
{
	struct chain *c = m->c;
	struct delta *src = c->l[m->src]->delta;
	uint64_t n = 0, g = 0;

	pthread_mutex_lock(&c->mu);
	while ((g = delta_next(src, g)) != UINT64_MAX) {
		if (!(c->mirror->copied[g / 64] & (1ull << (g % 64))))
			n++;
		g++;
	}
	pthread_mutex_unlock(&c->mu);
	return n;
}

static int
merge_run(struct chain *c, unsigned int src, unsigned int dst, bool up,
	  struct progress *p)
{
	struct merge m = { .c = c, .src = src, .dst = dst, .p = p,
			   .pick = up ? pick_up : pick_down };
	int rc;

	rc = vdisk_bare_queue_create(c->st, chain_layer_file(c->l[dst]), 64,
				     &m.q);
	if (rc < 0)
		return rc;
	rc = chain_lq_create(c, m.q, &m.lq);
	if (rc < 0) {
		vdisk_queue_destroy(m.q);
		return rc;
	}
	/* A mirrored merge repeats until nothing is left (a grain copied
	 * as zeros and written in place since is taken again). */
	for (unsigned int pass = 0; pass < 16; pass++) {
		run_pass(&m);
		if (m.err || !up || !c->mirror || left_to_copy(&m) == 0)
			break;
	}
	chain_lq_destroy(m.lq);
	vdisk_queue_destroy(m.q);
	return m.err;
}

int
snap_merge_up(struct chain *c, unsigned int child, bool mirror,
	      struct progress *progress)
{
	if (child + 1 >= c->n || !c->l[child]->delta ||
	    !c->l[child + 1]->writable)
		return -EINVAL;
	if (mirror && !c->mirror) {
		struct chain_mirror *mi = calloc(1, sizeof(*mi));

		if (mi)
			mi->copied = calloc(DIV_ROUND_UP(c->ngrains, 64) + 1, 8);
		if (!mi || !mi->copied) {
			free(mi);
			return -ENOMEM;
		}
		mi->target = (int)child + 1;
		pthread_mutex_lock(&c->mu);
		c->mirror = mi;
		pthread_mutex_unlock(&c->mu);
	}
	return merge_run(c, child, child + 1, true, progress);
}

int
snap_merge_down(struct chain *c, unsigned int parent,
		struct progress *progress)
{
	if (parent == 0 || parent >= c->n || !c->l[parent]->delta ||
	    !c->l[parent - 1]->delta || !c->l[parent - 1]->writable)
		return -EINVAL;
	return merge_run(c, parent, parent - 1, false, progress);
}
