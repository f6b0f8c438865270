/* SPDX-License-Identifier: MIT */
/*
 * The data path of a chain, as a layer under the vdisk engine:
 *
 *   read     each grain resolved (top, then the layer cache), runs of
 *            one file merged into one sub-request, zeros filled in place
 *   write    grains the top holds are written in place; the others get
 *            new slots (consecutive for consecutive grains, so data
 *            lands packed and in order); a partial grain is first read
 *            from below (4 KiB copy unit) and merged; entries are
 *            installed when the data is written, so nothing ever points
 *            at bytes not yet there
 *   flush    group commit of the top's metadata (delta.h)
 *   FUA      write, then the same commit
 *   discard  nothing (contents stay, which discard allows)
 *   zeroes   whole grains get zero entries, partial ones a write
 *
 * Interlocks, through the ranges of writes in flight: a write that must
 * allocate waits for an allocating write or a copy over the same grains
 * (two allocations of one grain would lose one); a copy (merge.c) waits
 * for every write over its grains and holds new ones back. While the top
 * is being merged into a lower layer (chain->mirror), each write the
 * copier has already passed, and each new grain, goes to both.
 *
 * Requests are planned under the chain mutex, then their sub-requests go
 * out without it. Work another thread must do (a parked request its
 * blocker released, a completion of a request that needed no I/O) is
 * posted to the owner queue's list and run from its vdisk_poll().
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "snapshot/chain.h"

#define MAX_SUB_BYTES (1u << 20)
#define MAX_SUB_IOV 256u
#define COPY_MAX_GRAINS 1024u

enum req_kind {
	RK_READ,
	RK_WRITE,
	RK_ZEROES,
	RK_FLUSH,
	RK_PASS,        /* straight to a flat top */
	RK_NOP,         /* completes without I/O */
	RK_COPY,
};

enum wr_kind {
	WR_INPLACE,
	WR_ALLOC,
	WR_COPY,
};

struct chain_wrange {
	uint64_t first, last;        /* grains, inclusive */
	enum wr_kind kind;
	struct chain_req *owner;
	struct chain_req *waiters;
	struct chain_wrange *prev, *next;
};

/* An entry to install when the data is down (or only a copy mark). */
#define INST_MARK 0xff
struct inst {
	uint64_t grain;
	uint64_t slot;
	uint8_t layer;
	uint8_t kind;
};

/* A partial grain merged in a bounce buffer. */
struct cow {
	void *buf;
	uint64_t grain;
	uint32_t goff, len;         /* the caller's bytes inside the grain */
	uint64_t from;              /* their offset in the caller's request */
};

struct chain_sub {
	struct vdisk_io io;
	struct chain_req *r;
	struct store_file *f;
	struct iovec *iov;
	unsigned int iov_cap;
	uint64_t end;               /* file offset after the last byte */
	struct chain_sub *next;
};

struct chain_req {
	struct chain_lq *lq;
	struct vdisk_io *io;        /* the caller's; NULL for copies */
	enum req_kind kind;
	int pending;
	int64_t err;
	unsigned int phase;
	bool fua;
	struct chain_wrange wr;
	bool in_active;
	struct inst *inst;
	unsigned int ninst, inst_cap;
	struct cow cow[2];
	unsigned int ncow;
	struct chain_sub *reads, *writes; /* built while planning */
	struct chain_sub **reads_tail, **writes_tail;
	/* Commits. */
	struct delta_commit *cm;
	/* Copies. */
	int src, dst;
	uint64_t first, count;
	chain_pick_fn pick;
	void *pick_priv;
	void (*done)(void *priv, int result);
	void *done_priv;
	unsigned char *copy_buf;
	struct chain_req *next;
};

struct chain_lq {
	struct chain *c;
	struct vdisk_queue *q;
	pthread_mutex_t mu;          /* 'posted' */
	struct chain_req *posted;
	struct chain_req *free_reqs;
	struct chain_sub *free_subs;
	struct chain_sub *stalled, **stalled_tail;
	void **bufs;                 /* free 4 KiB bounce buffers */
	unsigned int nbufs, bufs_cap;
	/* Inside ops_submit(): completions wait for the next poll. */
	bool in_submit;
};

static unsigned char zeros[MAX_SUB_BYTES] __attribute__((aligned(4096)));

static void req_start(struct chain_req *r);
static void req_complete(struct chain_req *r);
static void next_phase(struct chain_req *r);
static void flush_start(struct chain_req *r);

/* ---- pools ---- */

static struct chain_req *
req_get(struct chain_lq *lq)
{
	struct chain_req *r = lq->free_reqs;

	if (r) {
		lq->free_reqs = r->next;
	} else {
		r = calloc(1, sizeof(*r));
		if (!r)
			return NULL;
	}
	struct inst *inst = r->inst;
	unsigned int cap = r->inst_cap;
	unsigned char *cb = r->copy_buf;

	memset(r, 0, sizeof(*r));
	r->inst = inst;
	r->inst_cap = cap;
	r->copy_buf = cb;
	r->lq = lq;
	r->reads_tail = &r->reads;
	r->writes_tail = &r->writes;
	return r;
}

static void *
buf_get(struct chain_lq *lq)
{
	void *b;

	if (lq->nbufs)
		return lq->bufs[--lq->nbufs];
	if (posix_memalign(&b, 4096, DELTA_GRAIN))
		return NULL;
	return b;
}

static void
buf_put(struct chain_lq *lq, void *b)
{
	if (!b)
		return;
	if (lq->nbufs == lq->bufs_cap) {
		unsigned int cap = lq->bufs_cap ? lq->bufs_cap * 2 : 16;
		void **p = realloc(lq->bufs, cap * sizeof(*p));

		if (!p) {
			free(b);
			return;
		}
		lq->bufs = p;
		lq->bufs_cap = cap;
	}
	lq->bufs[lq->nbufs++] = b;
}

static void
req_put(struct chain_req *r)
{
	struct chain_lq *lq = r->lq;

	for (unsigned int i = 0; i < r->ncow; i++)
		buf_put(lq, r->cow[i].buf);
	r->ncow = 0;
	r->next = lq->free_reqs;
	lq->free_reqs = r;
}

static struct chain_sub *
sub_get(struct chain_req *r)
{
	struct chain_lq *lq = r->lq;
	struct chain_sub *s = lq->free_subs;

	if (s) {
		lq->free_subs = s->next;
	} else {
		s = calloc(1, sizeof(*s));
		if (!s)
			return NULL;
	}
	s->r = r;
	s->next = NULL;
	s->io.iovcnt = 0;
	s->io.len_bytes = 0;
	return s;
}

static void
sub_put(struct chain_lq *lq, struct chain_sub *s)
{
	s->next = lq->free_subs;
	lq->free_subs = s;
}

static int
sub_iov_room(struct chain_sub *s, unsigned int more)
{
	unsigned int need = s->io.iovcnt + more, cap;
	struct iovec *p;

	if (need <= s->iov_cap)
		return 0;
	cap = MAX(need, s->iov_cap ? s->iov_cap * 2 : 8u);
	p = realloc(s->iov, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	s->iov = p;
	s->iov_cap = cap;
	return 0;
}

static int
inst_add(struct chain_req *r, uint64_t grain, unsigned int layer,
	 enum delta_kind kind, uint64_t slot)
{
	if (r->ninst == r->inst_cap) {
		unsigned int cap = r->inst_cap ? r->inst_cap * 2 : 16;
		struct inst *p = realloc(r->inst, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		r->inst = p;
		r->inst_cap = cap;
	}
	r->inst[r->ninst++] = (struct inst){ grain, slot, (uint8_t)layer,
					     (uint8_t)kind };
	return 0;
}

/*
 * Bytes of grain 'g' inside the capacity: a flat file ends there, so
 * whole-grain I/O on it stops short in the disk's last partial grain.
 */
static uint64_t
flat_grain_len(const struct chain *c, unsigned int layer, uint64_t g)
{
	if (c->l[layer]->delta)
		return DELTA_GRAIN;
	return MIN((uint64_t)DELTA_GRAIN, c->capacity - g * DELTA_GRAIN);
}

/* ---- building sub-requests ---- */

/*
 * Adds [file_off, file_off+len) of layer 'layer' to the read or write
 * list, from 'buf' (NULL: the caller's bytes at 'from'), merging with the
 * last sub-request when it continues it.
 */
static int
add_piece(struct chain_req *r, bool write, unsigned int layer,
	  uint64_t file_off, uint64_t len, void *buf, uint64_t from)
{
	struct chain *c = r->lq->c;
	struct chain_sub **tail = write ? r->writes_tail : r->reads_tail;
	struct chain_sub *s = NULL;
	struct store_file *f = chain_layer_file(c->l[layer]);
	unsigned int more = buf ? 1 : vdisk_io_slice(r->io, from, len, NULL);
	int rc;

	if (tail != (write ? &r->writes : &r->reads))
		s = container_of(tail, struct chain_sub, next);
	if (!s || s->f != f || s->end != file_off ||
	    s->io.len_bytes + len > MAX_SUB_BYTES ||
	    s->io.iovcnt + more > MAX_SUB_IOV) {
		s = sub_get(r);
		if (!s)
			return -ENOMEM;
		s->f = f;
		s->io.offset_bytes = file_off;
		s->end = file_off;
		*tail = s;
		tail = &s->next;
		if (write)
			r->writes_tail = tail;
		else
			r->reads_tail = tail;
	}
	rc = sub_iov_room(s, more);
	if (rc < 0)
		return rc;
	if (buf) {
		s->iov[s->io.iovcnt].iov_base = buf;
		s->iov[s->io.iovcnt].iov_len = len;
		s->io.iovcnt++;
	} else {
		s->io.iovcnt += vdisk_io_slice(r->io, from, len,
					       s->iov + s->io.iovcnt);
	}
	s->io.len_bytes += len;
	s->end += len;
	return 0;
}

/* Frees sub-requests planned but never sent (a parked or failed plan). */
static void
drop_plan(struct chain_req *r)
{
	struct chain_sub *s, *next;

	for (s = r->reads; s; s = next) {
		next = s->next;
		sub_put(r->lq, s);
	}
	for (s = r->writes; s; s = next) {
		next = s->next;
		sub_put(r->lq, s);
	}
	r->reads = r->writes = NULL;
	r->reads_tail = &r->reads;
	r->writes_tail = &r->writes;
	for (unsigned int i = 0; i < r->ncow; i++)
		buf_put(r->lq, r->cow[i].buf);
	r->ncow = 0;
	r->ninst = 0;
}

/* ---- sending ---- */

static void sub_done(struct vdisk_io *io);

static void
sub_send(struct chain_lq *lq, struct chain_sub *s)
{
	int rc;

	s->io.done = sub_done;
	s->io.priv = s;
	s->io.iov = s->iov;
	s->io.result = 0;
	rc = vdisk_sub_submit(lq->q, s->f, &s->io);
	if (rc == -EAGAIN) {
		s->next = NULL;
		*lq->stalled_tail = s;
		lq->stalled_tail = &s->next;
		return;
	}
	if (rc < 0) {
		/* Report it as the sub-request's completion. */
		s->io.result = rc;
		s->io.queue = lq->q;
		s->next = NULL;
		*lq->stalled_tail = s;
		lq->stalled_tail = &s->next;
	}
}

/* Sends stalled sub-requests while the store takes them. */
static void
send_stalled(struct chain_lq *lq)
{
	while (lq->stalled) {
		struct chain_sub *s = lq->stalled;
		int rc;

		if (s->io.result < 0) {
			lq->stalled = s->next;
			if (!lq->stalled)
				lq->stalled_tail = &lq->stalled;
			sub_done(&s->io);
			continue;
		}
		rc = vdisk_sub_submit(lq->q, s->f, &s->io);
		if (rc == -EAGAIN)
			return;
		lq->stalled = s->next;
		if (!lq->stalled)
			lq->stalled_tail = &lq->stalled;
		if (rc < 0) {
			s->io.result = rc;
			sub_done(&s->io);
		}
	}
}

/* Sends a list; the request's phase ends when all have completed. */
static void
send_list(struct chain_req *r, struct chain_sub *list, bool write)
{
	r->pending++;
	while (list) {
		struct chain_sub *s = list;

		list = list->next;
		s->io.op = write ? VDISK_OP_WRITE : VDISK_OP_READ;
		s->io.flags = 0;
		r->pending++;
		sub_send(r->lq, s);
	}
	if (--r->pending == 0)
		next_phase(r);
}

static void
send_one(struct chain_req *r, struct store_file *f, enum vdisk_op op,
	 uint64_t off, void *buf, uint64_t len)
{
	struct chain_sub *s = sub_get(r);

	if (!s) {
		r->err = -ENOMEM;
		return;
	}
	s->f = f;
	switch (op) {
	case VDISK_OP_FLUSH:
		vdisk_io_prep_flush(&s->io);
		break;
	case VDISK_OP_WRITE:
		vdisk_io_prep_write(&s->io, off, buf, len, 0);
		break;
	default:
		vdisk_io_prep_read(&s->io, off, buf, len);
	}
	if (buf) {
		if (sub_iov_room(s, 1) < 0) {
			sub_put(r->lq, s);
			r->err = -ENOMEM;
			return;
		}
		s->iov[0] = (struct iovec){ buf, len };
		s->io.iovcnt = 1;
	}
	r->pending++;
	sub_send(r->lq, s);
}

static void
sub_done(struct vdisk_io *io)
{
	struct chain_sub *s = io->priv;
	struct chain_req *r = s->r;
	struct chain_lq *lq = r->lq;

	if (io->result < 0 && !r->err)
		r->err = io->result;
	else if (io->result >= 0 && (io->op == VDISK_OP_READ ||
				     io->op == VDISK_OP_WRITE) &&
		 (uint64_t)io->result != io->len_bytes && !r->err)
		r->err = -EIO;
	sub_put(lq, s);
	if (--r->pending == 0)
		next_phase(r);
	send_stalled(lq);
}

/* ---- posting between threads ---- */

static void
post(struct chain_req *r)
{
	struct chain_lq *lq = r->lq;

	pthread_mutex_lock(&lq->mu);
	r->next = lq->posted;
	lq->posted = r;
	pthread_mutex_unlock(&lq->mu);
	vdisk_queue_wake(lq->q);
}

void
chain_lq_run(struct chain_lq *lq)
{
	struct chain_req *list, *prev = NULL;

	send_stalled(lq);
	if (!__atomic_load_n(&lq->posted, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&lq->mu);
	list = lq->posted;
	lq->posted = NULL;
	pthread_mutex_unlock(&lq->mu);
	/* Posted newest first: run them oldest first. */
	while (list) {
		struct chain_req *next = list->next;

		list->next = prev;
		prev = list;
		list = next;
	}
	for (list = prev; list;) {
		struct chain_req *r = list;

		list = list->next;
		r->next = NULL;
		if (r->kind == RK_NOP)
			req_complete(r);
		else
			req_start(r);
	}
}

/* ---- ranges in flight ---- */

static bool
overlaps(const struct chain_wrange *w, uint64_t first, uint64_t last)
{
	return w->first <= last && first <= w->last;
}

/*
 * The first range in flight that a new range [first, last] of kind
 * 'kind' must wait for, or NULL.
 */
static struct chain_wrange *
blocker(struct chain *c, uint64_t first, uint64_t last, enum wr_kind kind)
{
	for (struct chain_wrange *w = c->active; w; w = w->next) {
		if (!overlaps(w, first, last))
			continue;
		if (kind == WR_COPY || w->kind != WR_INPLACE)
			return w;
	}
	return NULL;
}

static void
park(struct chain_req *r, struct chain_wrange *w)
{
	r->next = w->waiters;
	w->waiters = r;
}

static void
active_add(struct chain *c, struct chain_req *r, uint64_t first,
	   uint64_t last, enum wr_kind kind)
{
	r->wr = (struct chain_wrange){ .first = first, .last = last,
				       .kind = kind, .owner = r };
	r->wr.next = c->active;
	if (c->active)
		c->active->prev = &r->wr;
	c->active = &r->wr;
	r->in_active = true;
}

/* Removes the request's range; returns who waited for it. */
static struct chain_req *
active_remove(struct chain *c, struct chain_req *r)
{
	struct chain_req *waiters = r->wr.waiters;

	if (!r->in_active)
		return NULL;
	if (r->wr.prev)
		r->wr.prev->next = r->wr.next;
	else
		c->active = r->wr.next;
	if (r->wr.next)
		r->wr.next->prev = r->wr.prev;
	r->in_active = false;
	r->wr.waiters = NULL;
	return waiters;
}

static void
restart_all(struct chain_req *list)
{
	while (list) {
		struct chain_req *next = list->next;

		post(list);
		list = next;
	}
}

/* ---- completing ---- */

/*
 * Reports a finished request: the caller's done() through the engine, or
 * a copy's callback. Never from inside ops_submit() (done() runs only in
 * vdisk_poll()): then it is posted and reported from the next poll.
 */
static void
req_complete(struct chain_req *r)
{
	struct vdisk_io *io = r->io;

	if (r->lq->in_submit) {
		r->kind = RK_NOP;
		post(r);
		return;
	}
	if (io) {
		int64_t res = r->err ? r->err : (int64_t)io->len_bytes;

		req_put(r);
		vdisk_engine_complete(io, res);
	} else {
		void (*done)(void *, int) = r->done;
		void *priv = r->done_priv;
		int err = (int)r->err;

		req_put(r);
		done(priv, err);
	}
}

/* Completes a request that did no I/O, from the owner's poll. */
static void
finish_later(struct chain_req *r)
{
	r->kind = RK_NOP;
	post(r);
}

/* ---- reads ---- */

static int
plan_read(struct chain_req *r)
{
	struct chain *c = r->lq->c;
	struct vdisk_io *io = r->io;
	uint64_t off = io->offset_bytes, end = off + io->len_bytes;

	while (off < end) {
		uint64_t g = off / DELTA_GRAIN;
		uint64_t goff = off % DELTA_GRAIN;
		uint64_t n = MIN(DELTA_GRAIN - goff, end - off);
		struct chain_where w;
		int rc;

		chain_resolve(c, g, &w);
		if (w.layer < 0)
			vdisk_io_zero(io, off - io->offset_bytes, n);
		else {
			rc = add_piece(r, false, (unsigned int)w.layer,
				       w.off + goff, n, NULL,
				       off - io->offset_bytes);
			if (rc < 0)
				return rc;
		}
		off += n;
	}
	return 0;
}

/* ---- writes ---- */

static bool
mirror_copied(const struct chain *c, uint64_t g)
{
	return c->mirror->copied[g / 64] & (1ull << (g % 64));
}

static void
mirror_mark(struct chain *c, uint64_t g)
{
	c->mirror->copied[g / 64] |= 1ull << (g % 64);
}

/*
 * Where a write of grain 'g' goes in delta layer 'li' ('alloc' set when
 * it needs a new slot, taken from '*next_slot' runs).
 */
static int
target_slot(struct chain *c, unsigned int li, uint64_t g, bool *alloc,
	    uint64_t *off)
{
	struct chain_layer *l = c->l[li];
	uint64_t e, slot;
	int rc;

	if (!l->delta) {
		*alloc = false;
		*off = g * DELTA_GRAIN;
		return 0;
	}
	e = delta_get(l->delta, g);
	if (e && delta_gte_kind(e) == DELTA_DATA) {
		*alloc = false;
		*off = delta_gte_slot(e) * DELTA_GRAIN;
		return 0;
	}
	rc = delta_alloc(l->delta, 1, &slot);
	if (rc < 0)
		return rc;
	*alloc = true;
	*off = slot * DELTA_GRAIN;
	return 0;
}

/* Grain 'g' needs a new slot in the top (absent or a zero entry). */
static bool
top_lacks(const struct chain *c, uint64_t g)
{
	uint64_t e = delta_get(c->l[0]->delta, g);

	return !e || delta_gte_kind(e) != DELTA_DATA;
}

/*
 * Plans one partial grain of a write: a bounce buffer holding the grain
 * as it reads now (a read from below, or zeros), the caller's bytes
 * merged in later (merge_cow()).
 */
static int
plan_cow(struct chain_req *r, uint64_t g, uint64_t goff, uint64_t n,
	 uint64_t from, void **buf)
{
	struct chain *c = r->lq->c;
	struct cow *cw = &r->cow[r->ncow];
	struct chain_where w;
	int rc;

	cw->buf = buf_get(r->lq);
	if (!cw->buf)
		return -ENOMEM;
	r->ncow++;
	cw->grain = g;
	cw->goff = (uint32_t)goff;
	cw->len = (uint32_t)n;
	cw->from = from;
	chain_resolve(c, g, &w);
	if (w.layer < 0 || r->kind == RK_ZEROES) {
		memset(cw->buf, 0, DELTA_GRAIN);
		if (w.layer < 0)
			goto out;
	}
	if (flat_grain_len(c, (unsigned int)w.layer, g) < DELTA_GRAIN)
		memset(cw->buf, 0, DELTA_GRAIN);
	rc = add_piece(r, false, (unsigned int)w.layer, w.off,
		       flat_grain_len(c, (unsigned int)w.layer, g), cw->buf, 0);
	if (rc < 0)
		return rc;
out:
	*buf = cw->buf;
	return 0;
}

/* A write's plan for grain 'g' into layer 'li'. */
static int
plan_grain(struct chain_req *r, unsigned int li, uint64_t g, uint64_t goff,
	   uint64_t n, uint64_t from, void *cowbuf)
{
	struct chain *c = r->lq->c;
	bool alloc;
	uint64_t off;
	int rc;

	rc = target_slot(c, li, g, &alloc, &off);
	if (rc < 0)
		return rc;
	if (alloc)
		rc = inst_add(r, g, li, DELTA_DATA, off / DELTA_GRAIN);
	if (rc < 0)
		return rc;
	if (cowbuf)
		return add_piece(r, true, li, off, flat_grain_len(c, li, g),
				 cowbuf, 0);
	if (r->kind == RK_ZEROES) {
		while (n) {
			uint64_t k = MIN(n, (uint64_t)MAX_SUB_BYTES);

			rc = add_piece(r, true, li, off + goff, k, zeros, 0);
			if (rc < 0)
				return rc;
			n -= k;
			goff += k;
		}
		return 0;
	}
	return add_piece(r, true, li, off + goff, n, NULL, from);
}

static void *
cow_buf_of(const struct chain_req *r, uint64_t g)
{
	for (unsigned int i = 0; i < r->ncow; i++)
		if (r->cow[i].grain == g)
			return r->cow[i].buf;
	return NULL;
}

/* The top's part of a write: in place, or new slots (and partial grains
 * merged from below). */
static int
plan_write_top(struct chain_req *r)
{
	struct chain *c = r->lq->c;
	struct vdisk_io *io = r->io;
	uint64_t off = io->offset_bytes, end = off + io->len_bytes;
	int rc;

	while (off < end) {
		uint64_t g = off / DELTA_GRAIN, goff = off % DELTA_GRAIN;
		uint64_t n = MIN(DELTA_GRAIN - goff, end - off);
		uint64_t from = off - io->offset_bytes;
		void *cowbuf = NULL;

		if (r->kind == RK_ZEROES && n == DELTA_GRAIN) {
			/* A zero entry, no data. */
			rc = inst_add(r, g, 0, DELTA_ZERO, 0);
		} else {
			rc = 0;
			if (top_lacks(c, g) && n < DELTA_GRAIN)
				rc = plan_cow(r, g, goff, n, from, &cowbuf);
			if (rc == 0)
				rc = plan_grain(r, 0, g, goff, n, from, cowbuf);
		}
		if (rc < 0)
			return rc;
		off += n;
	}
	return 0;
}

/*
 * The mirror's part while the top is merged into a lower layer: grains
 * the copier has passed, and grains new in the top, get the same bytes
 * (a new grain whole, from its bounce buffer or the caller's). Runs after
 * plan_write_top(), whose new grains count as lacking here.
 */
static int
plan_write_mirror(struct chain_req *r, const uint64_t *lacked)
{
	struct chain *c = r->lq->c;
	struct vdisk_io *io = r->io;
	unsigned int mt = (unsigned int)c->mirror->target;
	uint64_t off = io->offset_bytes, end = off + io->len_bytes;
	uint64_t first = off / DELTA_GRAIN;
	int rc;

	while (off < end) {
		uint64_t g = off / DELTA_GRAIN, goff = off % DELTA_GRAIN;
		uint64_t n = MIN(DELTA_GRAIN - goff, end - off);
		uint64_t from = off - io->offset_bytes;
		bool lacked_g = lacked[(g - first) / 64] &
				(1ull << ((g - first) % 64));
		bool tgt_has = !c->l[mt]->delta ||
			delta_gte_kind(delta_get(c->l[mt]->delta, g)) ==
			DELTA_DATA;

		off += n;
		if (!lacked_g && !mirror_copied(c, g))
			continue;  /* the copier will bring it */
		if (r->kind == RK_ZEROES && n == DELTA_GRAIN) {
			if (c->l[mt]->delta)
				rc = inst_add(r, g, mt, DELTA_ZERO, 0);
			else
				rc = plan_grain(r, mt, g, 0,
						flat_grain_len(c, mt, g), from,
						NULL);
		} else if (lacked_g || tgt_has) {
			rc = plan_grain(r, mt, g, goff, n, from,
					lacked_g ? cow_buf_of(r, g) : NULL);
		} else {
			/* Copied as a zero entry, written in place in the top
			 * since: let the copier take it again. */
			c->mirror->copied[g / 64] &= ~(1ull << (g % 64));
			rc = 0;
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * Plans a write (or write-zeroes) into a delta top. Returns 1 when it
 * must wait for a range in flight (parked), 0 planned, -errno.
 */
static int
plan_write(struct chain_req *r)
{
	struct chain *c = r->lq->c;
	struct vdisk_io *io = r->io;
	uint64_t off = io->offset_bytes, end = off + io->len_bytes;
	uint64_t first = off / DELTA_GRAIN, last = (end - 1) / DELTA_GRAIN;
	uint64_t lacked_small[4] = { 0 }, *lacked = lacked_small;
	bool alloc = c->mirror != NULL;
	struct chain_wrange *w;
	int rc;

	for (uint64_t g = first; g <= last && !alloc; g++)
		alloc = top_lacks(c, g);
	w = blocker(c, first, last, alloc ? WR_ALLOC : WR_INPLACE);
	if (w) {
		park(r, w);
		return 1;
	}
	if (c->mirror) {
		uint64_t words = DIV_ROUND_UP(last - first + 1, 64);

		if (words > ARRAY_SIZE(lacked_small)) {
			lacked = calloc(words, 8);
			if (!lacked)
				return -ENOMEM;
		}
		for (uint64_t g = first; g <= last; g++)
			if (top_lacks(c, g))
				lacked[(g - first) / 64] |=
					1ull << ((g - first) % 64);
	}
	rc = plan_write_top(r);
	if (rc == 0 && c->mirror)
		rc = plan_write_mirror(r, lacked);
	if (lacked != lacked_small)
		free(lacked);
	if (rc < 0)
		return rc;
	active_add(c, r, first, last, r->ninst ? WR_ALLOC : WR_INPLACE);
	return 0;
}

/* Merges the caller's bytes into the bounce buffers of partial grains. */
static void
merge_cow(struct chain_req *r)
{
	for (unsigned int i = 0; i < r->ncow; i++) {
		struct cow *cw = &r->cow[i];
		struct iovec v[64];
		unsigned int n;
		size_t at = cw->goff;

		if (r->kind == RK_ZEROES) {
			memset((char *)cw->buf + cw->goff, 0, cw->len);
			continue;
		}
		n = vdisk_io_slice(r->io, cw->from, cw->len, v);
		for (unsigned int k = 0; k < n; k++) {
			memcpy((char *)cw->buf + at, v[k].iov_base,
			       v[k].iov_len);
			at += v[k].iov_len;
		}
	}
}

/* Installs the entries of a finished write; wakes who waited. */
static void
install(struct chain_req *r)
{
	struct chain *c = r->lq->c;
	struct chain_req *waiters;

	pthread_mutex_lock(&c->mu);
	for (unsigned int i = 0; !r->err && i < r->ninst; i++) {
		struct inst *in = &r->inst[i];
		int rc = 0;

		if (in->kind != INST_MARK)
			rc = delta_set(c->l[in->layer]->delta, in->grain,
				       (enum delta_kind)in->kind, in->slot);
		if (rc < 0)
			r->err = rc;
		if (c->mirror && (int)in->layer == c->mirror->target)
			mirror_mark(c, in->grain);
	}
	waiters = active_remove(c, r);
	pthread_mutex_unlock(&c->mu);
	restart_all(waiters);
}

/* ---- flush: group commit of the top's metadata ---- */

static void
commit_step(struct chain_req *r)
{
	struct chain *c = r->lq->c;
	struct store_file *f = chain_layer_file(c->l[0]);
	struct delta_commit *cm = r->cm;

	/* Phases: 1 data flush sent; 2+2k level k written; 3+2k flushed. */
	for (;;) {
		unsigned int lv;

		if (r->err || !cm || r->phase >= 8) {
			struct chain_req *waiters;

			pthread_mutex_lock(&c->mu);
			delta_commit_end(cm, r->err ? (int)r->err : 0);
			r->cm = NULL;
			c->committing = false;
			waiters = c->commit_waiters;
			c->commit_waiters = NULL;
			pthread_mutex_unlock(&c->mu);
			restart_all(waiters);
			req_complete(r);
			return;
		}
		lv = (r->phase - 2) / 2;
		if (r->phase % 2 == 0) {
			/* Write level 'lv' (skip empty levels). */
			r->phase++;
			if (!cm->n[lv]) {
				r->phase++;
				continue;
			}
			r->pending++;
			for (unsigned int i = 0; i < cm->n[lv]; i++)
				send_one(r, f, VDISK_OP_WRITE, cm->pw[lv][i].off,
					 cm->pw[lv][i].buf, cm->pw[lv][i].len);
			if (--r->pending)
				return;
			continue;
		}
		/* Flush after level 'lv'. */
		r->phase++;
		r->pending++;
		send_one(r, f, VDISK_OP_FLUSH, 0, NULL, 0);
		if (--r->pending)
			return;
	}
}

static void
flush_start(struct chain_req *r)
{
	struct chain *c = r->lq->c;
	int rc;

	r->kind = RK_FLUSH;
	pthread_mutex_lock(&c->mu);
	if (c->committing) {
		r->next = c->commit_waiters;
		c->commit_waiters = r;
		pthread_mutex_unlock(&c->mu);
		return;
	}
	c->committing = true;
	rc = delta_commit_begin(c->l[0]->delta, &r->cm);
	pthread_mutex_unlock(&c->mu);
	r->phase = 1;
	if (rc < 0) {
		r->err = rc;
		r->cm = NULL;
		commit_step(r);
		return;
	}
	r->pending++;
	send_one(r, chain_layer_file(c->l[0]), VDISK_OP_FLUSH, 0, NULL, 0);
	if (--r->pending == 0)
		next_phase(r);
}

/* ---- request state machine ---- */

static void
next_phase(struct chain_req *r)
{
	switch (r->kind) {
	case RK_READ:
	case RK_PASS:
		req_complete(r);
		return;
	case RK_FLUSH:
		if (r->phase == 1) {
			/* Data durable; nothing captured means done. */
			r->phase = r->cm ? 2 : 8;
		}
		commit_step(r);
		return;
	case RK_WRITE:
	case RK_ZEROES:
		if (r->phase == 0 && !r->err) {
			r->phase = 1;
			merge_cow(r);
			send_list(r, r->writes, true);
			r->writes = NULL;
			return;
		}
		install(r);
		if (r->fua && !r->err) {
			flush_start(r);
			return;
		}
		req_complete(r);
		return;
	case RK_COPY:
		if (r->phase == 0 && !r->err) {
			r->phase = 1;
			send_list(r, r->writes, true);
			r->writes = NULL;
			return;
		}
		install(r);
		req_complete(r);
		return;
	default:
		req_complete(r);
	}
}

/* Sends a flat top's request straight on (type rules already applied). */
static void
pass_through(struct chain_req *r)
{
	struct chain *c = r->lq->c;
	struct chain_sub *s = sub_get(r);
	struct vdisk_io *io = r->io;

	if (!s || sub_iov_room(s, io->iovcnt) < 0) {
		if (s)
			sub_put(r->lq, s);
		r->err = -ENOMEM;
		finish_later(r);
		return;
	}
	r->kind = RK_PASS;
	s->f = chain_layer_file(c->l[0]);
	s->io.op = io->store_op;
	s->io.flags = io->flags & (VDISK_IO_FUA | VDISK_IO_NO_UNMAP);
	s->io.offset_bytes = io->offset_bytes;
	s->io.len_bytes = io->len_bytes;
	if (io->iovcnt)
		memcpy(s->iov, io->iov, io->iovcnt * sizeof(*s->iov));
	s->io.iovcnt = io->iovcnt;
	r->pending = 1;
	sub_send(r->lq, s);
}

static void
fail_plan(struct chain_req *r, int rc)
{
	struct chain *c = r->lq->c;
	struct chain_req *waiters;

	pthread_mutex_lock(&c->mu);
	waiters = active_remove(c, r);
	pthread_mutex_unlock(&c->mu);
	restart_all(waiters);
	drop_plan(r);
	r->err = rc;
	finish_later(r);
}

static int plan_copy(struct chain_req *r);

/* Plans and sends a request (again, after a wait). */
static void
req_start(struct chain_req *r)
{
	struct chain *c = r->lq->c;
	int rc;

	if (r->kind == RK_FLUSH) {
		flush_start(r);
		return;
	}
	pthread_mutex_lock(&c->mu);
	if (r->kind != RK_COPY && !c->l[0]->delta) {
		pthread_mutex_unlock(&c->mu);
		pass_through(r);
		return;
	}
	switch (r->kind) {
	case RK_READ:
		rc = plan_read(r);
		break;
	case RK_COPY:
		rc = plan_copy(r);
		break;
	default:
		rc = plan_write(r);
	}
	pthread_mutex_unlock(&c->mu);
	if (rc == 1)
		return;
	if (rc < 0) {
		fail_plan(r, rc);
		return;
	}
	r->phase = 0;
	send_list(r, r->reads, false);
	r->reads = NULL;
}

/* ---- copies for merges ---- */

static int
plan_copy(struct chain_req *r)
{
	struct chain *c = r->lq->c;
	struct chain_layer *src = c->l[r->src];
	uint64_t last = r->first + r->count - 1;
	struct chain_wrange *w;
	unsigned int k = 0;
	int rc;

	w = blocker(c, r->first, last, WR_COPY);
	if (w) {
		park(r, w);
		return 1;
	}
	for (uint64_t g = r->first; g <= last; g++) {
		uint64_t e = delta_get(src->delta, g), off;
		bool alloc;

		if (!e || !r->pick(c, g, r->pick_priv))
			continue;
		if (delta_gte_kind(e) == DELTA_ZERO) {
			if (c->l[r->dst]->delta) {
				rc = inst_add(r, g, (unsigned int)r->dst,
					      DELTA_ZERO, 0);
			} else {
				rc = add_piece(r, true, (unsigned int)r->dst,
					       g * DELTA_GRAIN,
					       flat_grain_len(c, (unsigned int)r->dst,
							      g), zeros, 0);
				if (rc == 0)
					rc = inst_add(r, g, (unsigned int)r->dst,
						      INST_MARK, 0);
			}
			if (rc < 0)
				return rc;
			continue;
		}
		rc = add_piece(r, false, (unsigned int)r->src,
			       delta_gte_slot(e) * DELTA_GRAIN, DELTA_GRAIN,
			       r->copy_buf + (size_t)k * DELTA_GRAIN, 0);
		if (rc == 0)
			rc = target_slot(c, (unsigned int)r->dst, g, &alloc,
					 &off);
		if (rc == 0 && alloc)
			rc = inst_add(r, g, (unsigned int)r->dst, DELTA_DATA,
				      off / DELTA_GRAIN);
		else if (rc == 0)
			/* Marked copied at install even when in place. */
			rc = inst_add(r, g, (unsigned int)r->dst, INST_MARK, 0);
		if (rc == 0)
			rc = add_piece(r, true, (unsigned int)r->dst, off,
				       flat_grain_len(c, (unsigned int)r->dst, g),
				       r->copy_buf + (size_t)k * DELTA_GRAIN, 0);
		if (rc < 0)
			return rc;
		k++;
	}
	c->copied_grains += k;
	active_add(c, r, r->first, last, WR_COPY);
	return 0;
}

int
chain_copy_batch(struct chain_lq *lq, int src, int dst, uint64_t first,
		 uint64_t count, chain_pick_fn pick, void *priv,
		 void (*done)(void *priv, int result), void *done_priv)
{
	struct chain_req *r;

	if (count == 0 || count > COPY_MAX_GRAINS)
		return -EINVAL;
	r = req_get(lq);
	if (!r)
		return -ENOMEM;
	if (!r->copy_buf &&
	    posix_memalign((void **)&r->copy_buf, 4096,
			   COPY_MAX_GRAINS * DELTA_GRAIN)) {
		r->copy_buf = NULL;
		req_put(r);
		return -ENOMEM;
	}
	r->kind = RK_COPY;
	r->src = src;
	r->dst = dst;
	r->first = first;
	r->count = count;
	r->pick = pick;
	r->pick_priv = priv;
	r->done = done;
	r->done_priv = done_priv;
	lq->in_submit = true;
	req_start(r);
	lq->in_submit = false;
	return 0;
}

/* ---- the layer ops vdisk calls ---- */

int
chain_lq_create(struct chain *c, struct vdisk_queue *q, struct chain_lq **out)
{
	struct chain_lq *lq = calloc(1, sizeof(*lq));

	if (!lq)
		return -ENOMEM;
	lq->c = c;
	lq->q = q;
	lq->stalled_tail = &lq->stalled;
	pthread_mutex_init(&lq->mu, NULL);
	*out = lq;
	return 0;
}

void
chain_lq_destroy(struct chain_lq *lq)
{
	if (!lq)
		return;
	while (lq->free_reqs) {
		struct chain_req *r = lq->free_reqs;

		lq->free_reqs = r->next;
		free(r->inst);
		free(r->copy_buf);
		free(r);
	}
	while (lq->free_subs) {
		struct chain_sub *s = lq->free_subs;

		lq->free_subs = s->next;
		free(s->iov);
		free(s);
	}
	for (unsigned int i = 0; i < lq->nbufs; i++)
		free(lq->bufs[i]);
	free(lq->bufs);
	pthread_mutex_destroy(&lq->mu);
	free(lq);
}

static int
ops_queue_init(void *layer, struct vdisk_queue *q, void **lq)
{
	return chain_lq_create(layer, q, (struct chain_lq **)lq);
}

static void
ops_queue_fini(void *layer, void *lq)
{
	chain_lq_destroy(lq);
}

static int
ops_submit(void *layer, void *lqp, struct vdisk_io *io)
{
	struct chain_lq *lq = lqp;
	struct chain_req *r = req_get(lq);
	bool prev;

	if (!r)
		return -ENOMEM;
	r->io = io;
	switch (io->op) {
	case VDISK_OP_READ:
		r->kind = RK_READ;
		break;
	case VDISK_OP_WRITE:
		r->kind = RK_WRITE;
		r->fua = io->flags & VDISK_IO_FUA;
		break;
	case VDISK_OP_FLUSH:
		r->kind = RK_FLUSH;
		break;
	case VDISK_OP_WRITE_ZEROES:
		r->kind = RK_ZEROES;
		break;
	default:
		/* Discard on a delta: contents stay, as discard allows. */
		if (lq->c->l[0]->delta) {
			finish_later(r);
			return 0;
		}
		r->kind = RK_PASS;
	}
	if (r->kind == RK_FLUSH && !lq->c->l[0]->delta)
		r->kind = RK_PASS;
	prev = lq->in_submit;
	lq->in_submit = true;
	req_start(r);
	lq->in_submit = prev;
	return 0;
}

static void
ops_run(void *layer, void *lq)
{
	chain_lq_run(lq);
}

static int
ops_map(void *layer, uint64_t off, uint64_t len, vdisk_extent_fn fn,
	void *priv)
{
	return chain_map(layer, off, len, fn, priv);
}

static uint64_t
ops_allocated(void *layer)
{
	return chain_allocated(layer);
}

static void
ops_close(void *layer)
{
	int rc = chain_close(layer);

	if (rc < 0)
		log_warn("snapshot", "closing a chain: %s", strerror(-rc));
}

const struct vdisk_layer_ops chain_layer_ops = {
	.queue_init = ops_queue_init,
	.queue_fini = ops_queue_fini,
	.submit = ops_submit,
	.run = ops_run,
	.map = ops_map,
	.allocated_bytes = ops_allocated,
	.close = ops_close,
};
