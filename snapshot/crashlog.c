/* SPDX-License-Identifier: MIT */
/*
 * The crash log for local folders (crashlog.h): a store wrapped around
 * vdisk's local store through vdisk_store_set_local_wrapper(), recording
 * every change in memory, and the replayer.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshot/crashlog.h"
#include "vdisk/vdisk-provider.h"

enum rec_op {
	R_CREATE,
	R_RENAME,
	R_UNLINK,
	R_SIZE,
	R_WRITE,
	R_ZERO,
	R_SYNC,
};

struct rec {
	uint8_t op;
	bool fua;
	char name[256], name2[256];
	uint64_t off, len;
	unsigned char *data;
};

struct crashlog {
	pthread_mutex_t mu;
	struct rec *recs;
	unsigned int n, cap;
};

static struct crashlog *active;

struct wstore {
	struct vdisk_store base;
	struct vdisk_store *in;
	struct crashlog *log;
};

struct store_file {
	struct wstore *st;
	struct store_file *in;
	char name[256];
};

/* An asynchronous request on its way: what to restore and record. */
struct pending {
	struct vdisk_io *io;
	void (*done)(struct vdisk_io *io);
	void *priv;
	struct store_file *wf;
	struct pending *next;
};

static void
add(struct crashlog *log, uint8_t op, const char *name, const char *name2,
    uint64_t off, uint64_t len, const void *data, bool fua)
{
	struct rec *r;

	pthread_mutex_lock(&log->mu);
	if (log->n == log->cap) {
		unsigned int cap = log->cap ? log->cap * 2 : 256;
		struct rec *p = realloc(log->recs, cap * sizeof(*p));

		if (!p)
			abort();
		log->recs = p;
		log->cap = cap;
	}
	r = &log->recs[log->n++];
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->fua = fua;
	snprintf(r->name, sizeof(r->name), "%s", name);
	if (name2)
		snprintf(r->name2, sizeof(r->name2), "%s", name2);
	r->off = off;
	r->len = len;
	if (data) {
		r->data = malloc(len ? len : 1);
		if (!r->data)
			abort();
		memcpy(r->data, data, len);
	}
	pthread_mutex_unlock(&log->mu);
}

static struct wstore *
ws(struct vdisk_store *st)
{
	return container_of(st, struct wstore, base);
}

static void
w_close(struct vdisk_store *st)
{
	vdisk_store_close(ws(st)->in);
	free(ws(st));
}

static int
w_file_open(struct vdisk_store *st, const char *name, unsigned int flags,
	    struct store_file **out)
{
	struct wstore *w = ws(st);
	struct store_file *f = calloc(1, sizeof(*f));
	int rc;

	if (!f)
		return -ENOMEM;
	rc = w->in->ops->file_open(w->in, name, flags, &f->in);
	if (rc < 0) {
		free(f);
		return rc;
	}
	f->st = w;
	snprintf(f->name, sizeof(f->name), "%s", name);
	if (flags & STORE_CREATE)
		add(w->log, R_CREATE, name, NULL, 0, 0, NULL, false);
	*out = f;
	return 0;
}

static void
w_file_close(struct store_file *f)
{
	if (!f)
		return;
	f->st->in->ops->file_close(f->in);
	free(f);
}

static int
w_exists(struct vdisk_store *st, const char *name)
{
	return ws(st)->in->ops->exists(ws(st)->in, name);
}

static int
w_unlink(struct vdisk_store *st, const char *name)
{
	int rc = ws(st)->in->ops->unlink(ws(st)->in, name);

	if (rc == 0)
		add(ws(st)->log, R_UNLINK, name, NULL, 0, 0, NULL, false);
	return rc;
}

static int
w_rename(struct vdisk_store *st, const char *from, const char *to)
{
	int rc = ws(st)->in->ops->rename(ws(st)->in, from, to);

	if (rc == 0)
		add(ws(st)->log, R_RENAME, from, to, 0, 0, NULL, false);
	return rc;
}

static int
w_pread(struct store_file *f, void *buf, size_t len, uint64_t off)
{
	return f->st->in->ops->pread(f->in, buf, len, off);
}

static int
w_pwrite(struct store_file *f, const void *buf, size_t len, uint64_t off)
{
	int rc = f->st->in->ops->pwrite(f->in, buf, len, off);

	if (rc == 0)
		add(f->st->log, R_WRITE, f->name, NULL, off, len, buf, false);
	return rc;
}

static int
w_sync(struct store_file *f)
{
	int rc = f->st->in->ops->sync(f->in);

	if (rc == 0)
		add(f->st->log, R_SYNC, f->name, NULL, 0, 0, NULL, false);
	return rc;
}

static void
w_writeback(struct store_file *f, uint64_t off, uint64_t len)
{
	if (f->st->in->ops->writeback)
		f->st->in->ops->writeback(f->in, off, len);
}

static int
w_get_size(struct store_file *f, uint64_t *size)
{
	return f->st->in->ops->get_size(f->in, size);
}

static int
w_set_size(struct store_file *f, uint64_t size)
{
	int rc = f->st->in->ops->set_size(f->in, size);

	if (rc == 0)
		add(f->st->log, R_SIZE, f->name, NULL, size, 0, NULL, false);
	return rc;
}

static int
w_allocate(struct store_file *f, uint64_t off, uint64_t len,
	   enum store_alloc how)
{
	/* Reserving space, or zeros where nothing is: contents stay. */
	return f->st->in->ops->allocate(f->in, off, len, how);
}

static int
w_zero_range(struct store_file *f, uint64_t off, uint64_t len, bool unmap)
{
	int rc = f->st->in->ops->zero_range(f->in, off, len, unmap);

	if (rc == 0)
		add(f->st->log, R_ZERO, f->name, NULL, off, len, NULL, false);
	return rc;
}

static int
w_map(struct store_file *f, uint64_t off, uint64_t len, store_extent_fn fn,
      void *priv)
{
	return f->st->in->ops->map(f->in, off, len, fn, priv);
}

static uint64_t
w_allocated(struct store_file *f)
{
	return f->st->in->ops->allocated_bytes(f->in);
}

static int
w_lock(struct vdisk_store *st, const char *name, bool exclusive,
       struct store_lock **out)
{
	return ws(st)->in->ops->lock(ws(st)->in, name, exclusive, out);
}

/* The wrapper's ops, for the calls that carry no store of ours. */
static const struct store_ops *inner_ops;

static void
w_unlock(struct store_lock *lk)
{
	inner_ops->unlock(lk);
}

static bool
w_lock_holder(struct vdisk_store *st, const char *name, char *buf,
	      size_t len)
{
	return ws(st)->in->ops->lock_holder(ws(st)->in, name, buf, len);
}

static void
w_set_alloc_chunk(struct store_file *f, uint64_t chunk, uint64_t size)
{
	if (f->st->in->ops->set_alloc_chunk)
		f->st->in->ops->set_alloc_chunk(f->in, chunk, size);
}

static int
w_queue_create(struct store_file *f, unsigned int depth,
	       struct store_queue **out)
{
	return f->st->in->ops->queue_create(f->in, depth, out);
}

static void
w_queue_destroy(struct store_queue *q)
{
	inner_ops->queue_destroy(q);
}

static int
w_queue_event_fd(struct store_queue *q)
{
	return inner_ops->queue_event_fd(q);
}

static void
w_io_done(struct vdisk_io *io)
{
	struct pending *p = io->priv;
	struct store_file *f = p->wf;

	io->done = p->done;
	io->priv = p->priv;
	io->file = f;
	if (io->result >= 0) {
		if (io->store_op == VDISK_OP_WRITE) {
			unsigned char *buf = malloc(io->len_bytes);
			size_t at = 0;

			for (uint32_t i = 0; buf && i < io->iovcnt; i++) {
				memcpy(buf + at, io->iov[i].iov_base,
				       io->iov[i].iov_len);
				at += io->iov[i].iov_len;
			}
			if (buf)
				add(f->st->log, R_WRITE, f->name, NULL,
				    io->offset_bytes, io->len_bytes, buf,
				    io->flags & VDISK_IO_FUA);
			free(buf);
		} else if (io->store_op == VDISK_OP_FLUSH) {
			add(f->st->log, R_SYNC, f->name, NULL, 0, 0, NULL,
			    false);
		} else if (io->store_op == VDISK_OP_DISCARD ||
			   io->store_op == VDISK_OP_WRITE_ZEROES) {
			add(f->st->log, R_ZERO, f->name, NULL, io->offset_bytes,
			    io->len_bytes, NULL, false);
		}
	}
	free(p);
	io->done(io);
}

static int
w_submit(struct store_queue *q, struct vdisk_io *io)
{
	struct pending *p = malloc(sizeof(*p));
	struct store_file *f = io->file;
	int rc;

	if (!p)
		return -ENOMEM;
	p->io = io;
	p->done = io->done;
	p->priv = io->priv;
	p->wf = f;
	io->done = w_io_done;
	io->priv = p;
	io->file = f->in;
	rc = inner_ops->submit(q, io);
	if (rc < 0) {
		io->done = p->done;
		io->priv = p->priv;
		io->file = f;
		free(p);
	}
	return rc;
}

static int
w_kick(struct store_queue *q)
{
	return inner_ops->kick(q);
}

static int
w_poll(struct store_queue *q, unsigned int min_done, int timeout_ms)
{
	return inner_ops->poll(q, min_done, timeout_ms);
}

static const struct store_ops wrap_ops = {
	.name = "local-logged",
	.close = w_close,
	.file_open = w_file_open,
	.file_close = w_file_close,
	.exists = w_exists,
	.unlink = w_unlink,
	.rename = w_rename,
	.pread = w_pread,
	.pwrite = w_pwrite,
	.sync = w_sync,
	.writeback = w_writeback,
	.get_size = w_get_size,
	.set_size = w_set_size,
	.allocate = w_allocate,
	.zero_range = w_zero_range,
	.map = w_map,
	.allocated_bytes = w_allocated,
	.lock = w_lock,
	.unlock = w_unlock,
	.lock_holder = w_lock_holder,
	.set_alloc_chunk = w_set_alloc_chunk,
	.queue_create = w_queue_create,
	.queue_destroy = w_queue_destroy,
	.queue_event_fd = w_queue_event_fd,
	.submit = w_submit,
	.kick = w_kick,
	.poll = w_poll,
};

static int
wrap(struct vdisk_store *inner, struct vdisk_store **out)
{
	struct wstore *w;

	if (!active) {
		*out = inner;
		return 0;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	inner_ops = inner->ops;
	w->base.ops = &wrap_ops;
	w->in = inner;
	w->log = active;
	*out = &w->base;
	return 0;
}

int
crashlog_start(struct crashlog **out)
{
	struct crashlog *log = calloc(1, sizeof(*log));

	if (!log)
		return -ENOMEM;
	pthread_mutex_init(&log->mu, NULL);
	active = log;
	vdisk_store_set_local_wrapper(wrap);
	*out = log;
	return 0;
}

void
crashlog_stop(struct crashlog *log)
{
	if (active == log) {
		vdisk_store_set_local_wrapper(NULL);
		active = NULL;
	}
}

void
crashlog_free(struct crashlog *log)
{
	if (!log)
		return;
	crashlog_stop(log);
	for (unsigned int i = 0; i < log->n; i++)
		free(log->recs[i].data);
	free(log->recs);
	pthread_mutex_destroy(&log->mu);
	free(log);
}

unsigned int
crashlog_ops(const struct crashlog *log)
{
	return log->n;
}

/* ---- replay ---- */

static bool
durable(const struct crashlog *log, unsigned int i, unsigned int upto)
{
	const struct rec *w = &log->recs[i];

	if (w->fua)
		return true;
	for (unsigned int j = i + 1; j < upto; j++) {
		const struct rec *r = &log->recs[j];

		if (r->op == R_SYNC && !strcmp(r->name, w->name))
			return true;
		if ((r->op == R_RENAME && (!strcmp(r->name, w->name) ||
					   !strcmp(r->name2, w->name))) ||
		    ((r->op == R_UNLINK || r->op == R_CREATE) &&
		     !strcmp(r->name, w->name)))
			return false;
	}
	return false;
}

static int
apply_data(int dfd, const struct rec *r, uint64_t len)
{
	static unsigned char zero[65536];
	int fd = openat(dfd, r->name, O_WRONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	for (uint64_t done = 0; done < len && rc == 0;) {
		uint64_t n = r->data ? len - done :
			     MIN(len - done, (uint64_t)sizeof(zero));
		ssize_t k = pwrite(fd, r->data ? r->data + done : zero, n,
				   (off_t)(r->off + done));

		if (k <= 0)
			rc = k < 0 ? -errno : -EIO;
		else
			done += (uint64_t)k;
	}
	close(fd);
	return rc;
}

int
crashlog_replay(const struct crashlog *log, const char *dir,
		unsigned int upto, uint64_t seed)
{
	uint64_t rng = seed * 0x9e3779b97f4a7c15ull + 1;
	int dfd, rc = 0;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	upto = MIN(upto, log->n);
	for (unsigned int i = 0; i < upto && rc == 0; i++) {
		const struct rec *r = &log->recs[i];
		int fd;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		switch (r->op) {
		case R_CREATE:
			fd = openat(dfd, r->name, O_CREAT | O_WRONLY | O_CLOEXEC,
				    0644);
			if (fd < 0)
				rc = -errno;
			else
				close(fd);
			break;
		case R_RENAME:
			if (renameat(dfd, r->name, dfd, r->name2) < 0)
				rc = -errno;
			break;
		case R_UNLINK:
			if (unlinkat(dfd, r->name, 0) < 0 && errno != ENOENT)
				rc = -errno;
			break;
		case R_SIZE:
			fd = openat(dfd, r->name, O_WRONLY | O_CLOEXEC);
			if (fd < 0 || ftruncate(fd, (off_t)r->off) < 0)
				rc = -errno;
			if (fd >= 0)
				close(fd);
			break;
		case R_WRITE:
		case R_ZERO: {
			uint64_t len = r->len;

			if (!durable(log, i, upto)) {
				if (!seed || rng % 2)
					break;
				/* Sometimes torn: a prefix of sectors. */
				if (rng % 7 == 0 && len > 512)
					len = (rng >> 8) % (len / 512) * 512;
			}
			rc = apply_data(dfd, r, len);
			break;
		}
		default:
			break;
		}
	}
	close(dfd);
	return rc;
}
