/* SPDX-License-Identifier: MIT */
/*
 * The datastore store: disks inside the clustered datastore
 * ("LUN:/vm1/disk.vmdk"), through vfs-cluster/vfs.h. Allocation types
 * are the datastore's (thin, lazy-zeroed, eager-zeroed), the disk's lock
 * is the datastore's on-disk file lock on "NAME.lck" (so a second host
 * gets -EBUSY and the holder's name), and the data path maps each
 * request with vfs_file_map() and sends it straight to LUN offsets on a
 * LUN handle of its own (vfs_lun_open()), with no metadata I/O once the
 * blocks are allocated.
 *
 * One mount per LUN per process, shared by every disk opened on it.
 *
 * The queue's event fd is an epoll fd over its own eventfd (requests
 * completed without LUN I/O) and the LUN handle's lun_event_fd(), so an
 * event loop sleeps until a completion is there.
 *
 * Discard and write-zeroes are the datastore's vfs_file_punch() (thin:
 * blocks given back) and vfs_file_zero_range() (blocks kept, flagged
 * to-be-zeroed). A block given back may go to another file at once, so
 * they first wait until no queue of the file has a LUN request in flight
 * (new ones get -EAGAIN meanwhile).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "vdisk/vdisk-internal.h"
#include "vfs-cluster/vfs.h"

#define MAP_EXTENTS 64
#define LOCK_WAIT_MS 3000

/* ---- shared mounts ---- */

struct mount_ref {
	struct mount_ref *next;
	char *uri;
	struct vfs *vfs;
	unsigned int refs;
};

static pthread_mutex_t mounts_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mount_ref *mounts;

static int
mount_get(const char *uri, struct mount_ref **out)
{
	struct mount_ref *m;
	int rc = 0;

	pthread_mutex_lock(&mounts_mu);
	for (m = mounts; m; m = m->next)
		if (!strcmp(m->uri, uri))
			break;
	if (!m) {
		m = calloc(1, sizeof(*m));
		if (m)
			m->uri = strdup(uri);
		if (!m || !m->uri) {
			rc = -ENOMEM;
			goto fail;
		}
		/* Locks another process of this host (or another host) let
		 * go of a moment ago may still sit in its lock cache: wait a
		 * little for them rather than fail at once. */
		struct vfs_mount_opts mo = { .lock_timeout_ms = LOCK_WAIT_MS };

		rc = vfs_mount(uri, &mo, &m->vfs);
		if (rc < 0) {
			vdisk_err("vdisk", "%s: cannot mount the datastore: %s",
				  uri, vfs_strerror(rc));
			goto fail;
		}
		m->next = mounts;
		mounts = m;
	}
	m->refs++;
	*out = m;
	pthread_mutex_unlock(&mounts_mu);
	return 0;
fail:
	if (m)
		free(m->uri);
	free(m);
	pthread_mutex_unlock(&mounts_mu);
	return rc;
}

static void
mount_put(struct mount_ref *m)
{
	struct mount_ref **pp;

	pthread_mutex_lock(&mounts_mu);
	if (--m->refs == 0) {
		for (pp = &mounts; *pp; pp = &(*pp)->next) {
			if (*pp == m) {
				*pp = m->next;
				break;
			}
		}
		vfs_unmount(m->vfs);
		free(m->uri);
		free(m);
	}
	pthread_mutex_unlock(&mounts_mu);
}

/* ---- store and files ---- */

struct ds_store {
	struct vdisk_store base;
	struct mount_ref *m;
	char dir[1024];
};

struct store_file {
	struct ds_store *st;
	struct vfs_file *f;
	bool new_blocks;           /* allocated by writes, not committed */
	atomic_uint lun_busy;      /* requests with LUN I/O in flight */
	atomic_uint punching;      /* discards waiting for those */
};

struct store_lock {
	struct vfs_file *f;
};

static struct ds_store *
to_ds(struct vdisk_store *st)
{
	return container_of(st, struct ds_store, base);
}

static int
path_of(struct ds_store *ds, const char *name, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", strcmp(ds->dir, "/") ?
			 ds->dir : "", name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void
ds_close(struct vdisk_store *st)
{
	struct ds_store *ds = to_ds(st);

	mount_put(ds->m);
	free(ds);
}

static int
ds_file_open(struct vdisk_store *st, const char *name, unsigned int flags,
	     struct store_file **out)
{
	struct ds_store *ds = to_ds(st);
	/* The data file and descriptors wait (bounded by the mount's lock
	 * timeout); a second handle of an open file fails at once. */
	unsigned int vflags = (flags & (STORE_WAIT | STORE_DIRECT)) ? 0 :
			      VFS_O_NOWAIT;
	struct store_file *f;
	char path[1300];
	int rc;

	rc = path_of(ds, name, path, sizeof(path));
	if (rc < 0)
		return rc;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->st = ds;
	if (flags & STORE_RDONLY)
		vflags |= VFS_O_SHARED;
	if (flags & STORE_CREATE)
		rc = vfs_file_create(ds->m->vfs, path, NULL, vflags, &f->f);
	else
		rc = vfs_file_open(ds->m->vfs, path, vflags, &f->f);
	if (rc < 0) {
		free(f);
		return rc;
	}
	*out = f;
	return 0;
}

static void
ds_file_close(struct store_file *f)
{
	if (!f)
		return;
	if (f->new_blocks && vfs_file_commit(f->f) < 0)
		log_warn("vdisk.vfs", "commit at close failed");
	vfs_file_close(f->f);
	free(f);
}

static int
ds_exists(struct vdisk_store *st, const char *name)
{
	struct vfs_stat sb;
	char path[1300];
	int rc;

	rc = path_of(to_ds(st), name, path, sizeof(path));
	if (rc < 0)
		return rc;
	rc = vfs_stat(to_ds(st)->m->vfs, path, &sb);
	if (rc == -ENOENT)
		return 0;
	return rc < 0 ? rc : 1;
}

static int
ds_unlink(struct vdisk_store *st, const char *name)
{
	char path[1300];
	int rc = path_of(to_ds(st), name, path, sizeof(path));

	return rc < 0 ? rc : vfs_unlink(to_ds(st)->m->vfs, path);
}

static int
ds_rename(struct vdisk_store *st, const char *from, const char *to)
{
	char a[1300], b[1300];
	int rc;

	rc = path_of(to_ds(st), from, a, sizeof(a));
	if (rc == 0)
		rc = path_of(to_ds(st), to, b, sizeof(b));
	return rc < 0 ? rc : vfs_rename(to_ds(st)->m->vfs, a, b, 0);
}

static int
ds_pread(struct store_file *f, void *buf, size_t len, uint64_t off)
{
	int64_t n = vfs_file_pread(f->f, buf, len, off);

	if (n < 0)
		return (int)n;
	/* Past the end reads as zeros, as on a local file. */
	if ((uint64_t)n < len)
		memset((char *)buf + n, 0, len - (size_t)n);
	return 0;
}

static int
ds_pwrite(struct store_file *f, const void *buf, size_t len, uint64_t off)
{
	int64_t n = vfs_file_pwrite(f->f, buf, len, off);

	return n < 0 ? (int)n : 0;
}

static int
ds_sync(struct store_file *f)
{
	f->new_blocks = false;
	return vfs_file_sync(f->f);
}

static int
ds_get_size(struct store_file *f, uint64_t *size)
{
	struct vfs_stat sb;
	int rc = vfs_file_stat(f->f, &sb);

	if (rc == 0)
		*size = sb.size_bytes;
	return rc;
}

static int
ds_set_size(struct store_file *f, uint64_t size)
{
	return vfs_file_truncate(f->f, size);
}

static int
ds_allocate(struct store_file *f, uint64_t off, uint64_t len,
	    enum store_alloc how)
{
	if (how == STORE_ALLOC_THIN || len == 0)
		return 0;
	return vfs_file_allocate(f->f, off, len, how == STORE_ALLOC_ZERO ?
				 VFS_ALLOC_EAGER_ZEROED :
				 VFS_ALLOC_LAZY_ZEROED);
}

static int
ds_zero_range(struct store_file *f, uint64_t off, uint64_t len, bool unmap)
{
	/* A thick file keeps its blocks even when punched. */
	return unmap ? vfs_file_punch(f->f, off, len) :
		       vfs_file_zero_range(f->f, off, len);
}

static unsigned int
extent_flags(uint32_t type)
{
	switch (type) {
	case VFS_EXTENT_DATA:
		return VDISK_EXTENT_DATA | VDISK_EXTENT_ALLOCATED;
	case VFS_EXTENT_ZERO:
		return VDISK_EXTENT_ZERO | VDISK_EXTENT_ALLOCATED;
	default:
		return VDISK_EXTENT_ZERO;
	}
}

static int
ds_map(struct store_file *f, uint64_t off, uint64_t len, store_extent_fn fn,
       void *priv)
{
	struct vfs_extent ext[MAP_EXTENTS];
	uint64_t end = off + len;

	while (off < end) {
		int n = vfs_file_map(f->f, off, end - off, 0, ext, MAP_EXTENTS);

		if (n < 0)
			return n;
		if (n == 0)
			return -EIO;
		for (int i = 0; i < n; i++) {
			int rc = fn(priv, ext[i].file_offset, ext[i].len_bytes,
				    extent_flags(ext[i].type));

			if (rc)
				return rc;
			off = ext[i].file_offset + ext[i].len_bytes;
		}
	}
	return 0;
}

static uint64_t
ds_allocated_bytes(struct store_file *f)
{
	struct vfs_stat sb;

	return vfs_file_stat(f->f, &sb) == 0 ? sb.allocated_bytes : 0;
}

static int
ds_lock(struct vdisk_store *st, const char *name, bool exclusive,
	struct store_lock **out)
{
	struct ds_store *ds = to_ds(st);
	struct store_lock *lk;
	char path[1300];
	int rc;

	rc = snprintf(path, sizeof(path), "%s/%s.lck",
		      strcmp(ds->dir, "/") ? ds->dir : "", name) <
	     (int)sizeof(path) ? 0 : -ENAMETOOLONG;
	if (rc < 0)
		return rc;
	lk = calloc(1, sizeof(*lk));
	if (!lk)
		return -ENOMEM;
	rc = vfs_file_open(ds->m->vfs, path, VFS_O_CREATE |
			   (exclusive ? 0 : VFS_O_SHARED), &lk->f);
	if (rc < 0) {
		free(lk);
		return rc;
	}
	*out = lk;
	return 0;
}

static void
ds_unlock(struct store_lock *lk)
{
	if (!lk)
		return;
	vfs_file_close(lk->f);
	free(lk);
}

static bool
ds_lock_holder(struct vdisk_store *st, const char *name, char *buf,
	       size_t len)
{
	struct ds_store *ds = to_ds(st);
	struct vfs_lock_info *li;
	char path[1300];
	bool held = false;

	if (len)
		buf[0] = '\0';
	li = malloc(sizeof(*li));
	if (!li)
		return false;
	snprintf(path, sizeof(path), "%s/%s.lck",
		 strcmp(ds->dir, "/") ? ds->dir : "", name);
	if (vfs_lock_query(ds->m->vfs, path, li) == 0 &&
	    li->mode != VFS_LOCK_NONE && li->nholders > 0) {
		const struct vfs_lock_holder *h = &li->holders[0];

		held = true;
		snprintf(buf, len, "host %s slot %" PRIu32 " mode %s "
			 "(heartbeat %" PRIu64 " ms ago%s)", h->host_name,
			 h->slot, li->mode == VFS_LOCK_EXCLUSIVE ? "rw" : "ro",
			 h->heartbeat_age_ms,
			 h->holder_alive ? "" : ", holder dead");
	}
	free(li);
	return held;
}

/* ---- data path ---- */

struct ds_req {
	struct vdisk_io *io;
	struct store_queue *q;
	unsigned int pending;        /* LUN requests not yet done */
	int64_t err;
	bool commit;                 /* FUA over new blocks: commit at end */
	struct lun_io *lio;
	struct iovec *iov;
	unsigned int nlio_cap, niov_cap;
	struct ds_req *next;
};

struct store_queue {
	struct store_file *f;
	struct lun *lun;
	unsigned int depth;
	uint32_t max_io;
	int efd;
	int epfd;                    /* efd + the LUN's event fd; -1: none */
	unsigned int inflight;
	/* Requests completed to the engine, ever: a poll counts its own by
	 * this, since their callbacks may submit more than completed. */
	uint64_t completed;
	bool defer;                  /* inside a submit: report completions
					at the next poll */
	struct ds_req *reqs, *free;
	struct vdisk_io *done_head, **done_tail;
};

/* Requests name their file (a layer's go to several of one mount). */
static struct store_file *
io_file(struct store_queue *q, const struct vdisk_io *io)
{
	return io->file ? io->file : q->f;
}

static void
signal_efd(struct store_queue *q)
{
	uint64_t one = 1;

	(void)!write(q->efd, &one, sizeof(one));
}

/* One fd for the engine's caller: our eventfd and the LUN's. */
static int
watch_both(struct store_queue *q)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int lfd = lun_event_fd(q->lun), epfd;

	if (lfd < 0)
		return -1;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return -1;
	ev.data.fd = q->efd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, q->efd, &ev) == 0) {
		ev.data.fd = lfd;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) == 0)
			return epfd;
	}
	close(epfd);
	return -1;
}

static int
ds_queue_create(struct store_file *f, unsigned int depth,
		struct store_queue **out)
{
	struct store_queue *q;
	int rc;

	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->f = f;
	q->depth = depth;
	q->done_tail = &q->done_head;
	q->reqs = calloc(depth, sizeof(*q->reqs));
	if (!q->reqs) {
		rc = -ENOMEM;
		goto err_free;
	}
	for (unsigned int i = 0; i < depth; i++) {
		q->reqs[i].q = q;
		q->reqs[i].next = q->free;
		q->free = &q->reqs[i];
	}
	rc = vfs_lun_open(f->st->m->vfs, &q->lun);
	if (rc < 0)
		goto err_reqs;
	q->max_io = lun_get_info(q->lun)->max_io_bytes;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0) {
		rc = -errno;
		goto err_lun;
	}
	q->epfd = watch_both(q);
	*out = q;
	return 0;

err_lun:
	lun_close(q->lun);
err_reqs:
	free(q->reqs);
err_free:
	free(q);
	return rc;
}

static void
ds_queue_destroy(struct store_queue *q)
{
	lun_close(q->lun);
	if (q->epfd >= 0)
		close(q->epfd);
	close(q->efd);
	for (unsigned int i = 0; i < q->depth; i++) {
		free(q->reqs[i].lio);
		free(q->reqs[i].iov);
	}
	free(q->reqs);
	free(q);
}

static int
ds_queue_event_fd(struct store_queue *q)
{
	return q->epfd >= 0 ? q->epfd : q->efd;
}

/* Completed without LUN I/O: reported at the next poll. */
static void
done_later(struct store_queue *q, struct vdisk_io *io, int64_t result)
{
	io->result = result;
	io->next = NULL;
	*q->done_tail = io;
	q->done_tail = &io->next;
	q->inflight++;
	signal_efd(q);
}

static void
req_put(struct store_queue *q, struct ds_req *r)
{
	r->next = q->free;
	q->free = r;
}

static void
lio_done(struct lun_io *lio)
{
	struct ds_req *r = lio->priv;
	struct store_queue *q = r->q;
	struct vdisk_io *io = r->io;

	if (lio->result < 0 && !r->err)
		r->err = lio->result;
	if (--r->pending)
		return;
	if (!r->err && r->commit) {
		int rc = vfs_file_commit(io_file(q, io)->f);

		if (rc < 0)
			r->err = rc;
	}
	req_put(q, r);
	atomic_fetch_sub(&io_file(q, io)->lun_busy, 1);
	if (q->defer) {
		io->result = r->err ? r->err : (int64_t)io->len_bytes;
		io->next = NULL;
		*q->done_tail = io;
		q->done_tail = &io->next;
		signal_efd(q);
		return;
	}
	q->inflight--;
	q->completed++;
	vdisk_engine_complete(io, r->err ? r->err : (int64_t)io->len_bytes);
}

static int
grow(struct ds_req *r, unsigned int nlio, unsigned int niov)
{
	if (nlio > r->nlio_cap) {
		struct lun_io *p = realloc(r->lio, nlio * sizeof(*p));

		if (!p)
			return -ENOMEM;
		r->lio = p;
		r->nlio_cap = nlio;
	}
	if (niov > r->niov_cap) {
		struct iovec *p = realloc(r->iov, niov * sizeof(*p));

		if (!p)
			return -ENOMEM;
		r->iov = p;
		r->niov_cap = niov;
	}
	return 0;
}

/* Maps the whole request into r->lio[0..nl). */
static int
map_all(struct store_queue *q, struct vdisk_io *io, struct ds_req *r,
	bool write, unsigned int *nl_out)
{
	struct vfs_extent ext[MAP_EXTENTS];
	uint64_t done = 0;
	unsigned int nl = 0, ni = 0;
	int rc;

	r->io = io;
	r->err = 0;
	r->commit = false;
	r->pending = 0;
	/* Map the whole request first: nothing is sent unless all of it
	 * can be, so a failure leaves no half-written request behind. */
	while (done < io->len_bytes) {
		int n = vfs_file_map(io_file(q, io)->f, io->offset_bytes + done,
				     io->len_bytes - done,
				     write ? VFS_MAP_WRITE : 0, ext,
				     MAP_EXTENTS);

		if (n <= 0)
			return n ? n : -EIO;
		for (int i = 0; i < n; i++) {
			uint64_t at = ext[i].file_offset - io->offset_bytes;
			uint64_t left = ext[i].len_bytes;
			uint64_t lun_off = ext[i].lun_offset;

			if (ext[i].flags & VFS_EXTENT_NEW) {
				io_file(q, io)->new_blocks = true;
				if (io->flags & VDISK_IO_FUA)
					r->commit = true;
			}
			if (ext[i].type != VFS_EXTENT_DATA) {
				/* Reads of holes: zeros, no I/O. */
				vdisk_io_zero(io, at, left);
				done = at + ext[i].len_bytes;
				continue;
			}
			while (left) {
				uint64_t piece = MIN(left, (uint64_t)q->max_io);
				struct lun_io *l;
				unsigned int cnt;

				rc = grow(r, nl + 1, ni + io->iovcnt);
				if (rc < 0)
					return rc;
				l = &r->lio[nl];
				memset(l, 0, sizeof(*l));
				cnt = vdisk_io_slice(io, at, piece,
						     r->iov + ni);
				l->op = write ? LUN_OP_WRITE : LUN_OP_READ;
				l->flags = (write && (io->flags & VDISK_IO_FUA)) ?
					   LUN_IO_FUA : 0;
				l->buf_index = -1;
				l->iov = r->iov + ni;
				l->iovcnt = cnt;
				l->offset_bytes = lun_off;
				l->len_bytes = piece;
				l->done = lio_done;
				l->priv = r;
				ni += cnt;
				nl++;
				at += piece;
				lun_off += piece;
				left -= piece;
			}
			done = at;
		}
	}
	/* 'grow' may have moved the iovec array: re-point the requests. */
	for (unsigned int i = 0, k = 0; i < nl; k += r->lio[i].iovcnt, i++)
		r->lio[i].iov = r->iov + k;
	*nl_out = nl;
	return 0;
}

static int
send_all(struct store_queue *q, struct vdisk_io *io, struct ds_req *r,
	 unsigned int nl)
{
	int rc;

	q->free = r->next;
	q->inflight++;
	if (nl == 0) {
		req_put(q, r);
		q->inflight--;
		atomic_fetch_sub(&io_file(q, io)->lun_busy, 1);
		done_later(q, io, (int64_t)io->len_bytes);
		return 0;
	}
	r->pending = nl;
	for (unsigned int i = 0; i < nl; i++) {
		rc = lun_submit(q->lun, &r->lio[i]);
		while (rc == -EAGAIN) {
			/* The LUN queue is full: let it drain a little. Other
			 * requests may complete (and call back) meanwhile. */
			lun_kick(q->lun);
			if (lun_poll(q->lun, 1, -1) < 0)
				break;
			rc = lun_submit(q->lun, &r->lio[i]);
		}
		if (rc < 0) {
			/* The rest will not be sent: account for them. */
			r->err = rc;
			r->pending -= nl - i - 1;
			r->lio[i].result = rc;
			lio_done(&r->lio[i]);
			break;
		}
	}
	/* Without a LUN event fd the loop has to poll to see them. */
	if (q->epfd < 0)
		signal_efd(q);
	return 0;
}

static int
submit_rw(struct store_queue *q, struct vdisk_io *io)
{
	bool write = io->store_op == VDISK_OP_WRITE;
	struct ds_req *r = q->free;
	unsigned int nl = 0;
	int rc;

	if (!r)
		return -EAGAIN;
	/* Counted before the check: a discard that sees no request busy
	 * is sure none starts until it is done. */
	atomic_fetch_add(&io_file(q, io)->lun_busy, 1);
	if (atomic_load(&io_file(q, io)->punching)) {
		atomic_fetch_sub(&io_file(q, io)->lun_busy, 1);
		return -EAGAIN;
	}
	rc = map_all(q, io, r, write, &nl);
	if (rc < 0) {
		atomic_fetch_sub(&io_file(q, io)->lun_busy, 1);
		return rc;
	}
	return send_all(q, io, r, nl);
}

/*
 * Discard (or write-zeroes that may unmap) and write-zeroes that keeps
 * the space: waits until no request of this file is on its way to the
 * LUN (ours are reported at the next poll), then punches.
 */
static int
zero_op(struct store_queue *q, struct vdisk_io *io, bool unmap)
{
	struct store_file *f = io_file(q, io);
	int rc;

	atomic_fetch_add(&f->punching, 1);
	q->defer = true;
	while (atomic_load(&f->lun_busy) > 0) {
		if (lun_inflight(q->lun)) {
			/* Every request completes by its deadline: a failed
			 * poll is retried, never taken for "done". */
			if (lun_poll(q->lun, 1, 10) < 0)
				usleep(1000);
		} else {
			/* Other queues' threads finish theirs. */
			usleep(100);
		}
	}
	q->defer = false;
	rc = ds_zero_range(f, io->offset_bytes, io->len_bytes, unmap);
	atomic_fetch_sub(&f->punching, 1);
	done_later(q, io, rc < 0 ? rc : (int64_t)io->len_bytes);
	return 0;
}

static int
ds_submit(struct store_queue *q, struct vdisk_io *io)
{
	switch (io->store_op) {
	case VDISK_OP_READ:
	case VDISK_OP_WRITE:
		return submit_rw(q, io);
	case VDISK_OP_FLUSH:
		/* LUN flush plus the block map of new allocations. */
		io_file(q, io)->new_blocks = false;
		done_later(q, io, vfs_file_commit(io_file(q, io)->f));
		return 0;
	case VDISK_OP_DISCARD:
		return zero_op(q, io, true);
	case VDISK_OP_WRITE_ZEROES:
		return zero_op(q, io, !(io->flags & VDISK_IO_NO_UNMAP));
	default:
		return -EINVAL;
	}
}

static int
ds_kick(struct store_queue *q)
{
	return lun_kick(q->lun);
}

static int
ds_poll(struct store_queue *q, unsigned int min_done, int timeout_ms)
{
	unsigned int n = 0;
	uint64_t cnt;
	int rc;

	(void)!read(q->efd, &cnt, sizeof(cnt));
	while (q->done_head) {
		struct vdisk_io *io = q->done_head;

		q->done_head = io->next;
		if (!q->done_head)
			q->done_tail = &q->done_head;
		q->inflight--;
		n++;
		vdisk_engine_complete(io, io->result);
	}
	if (q->inflight) {
		unsigned int need = min_done > n ? min_done - n : 0;
		uint64_t before = q->completed;

		/* Without a LUN event fd, a caller that needs nothing still
		 * waits a moment, so its poll loop does not spin hot. */
		if (q->epfd >= 0)
			rc = lun_poll(q->lun, need, need ? timeout_ms : 0);
		else
			rc = lun_poll(q->lun, need ? need : 1,
				      need ? timeout_ms : 1);
		if (rc < 0)
			return rc;
		n += (unsigned int)(q->completed - before);
	}
	if (q->inflight && q->epfd < 0)
		signal_efd(q);
	return (int)n;
}

static const struct store_ops ds_ops = {
	.name = "datastore",
	.close = ds_close,
	.file_open = ds_file_open,
	.file_close = ds_file_close,
	.exists = ds_exists,
	.unlink = ds_unlink,
	.rename = ds_rename,
	.pread = ds_pread,
	.pwrite = ds_pwrite,
	.sync = ds_sync,
	.get_size = ds_get_size,
	.set_size = ds_set_size,
	.allocate = ds_allocate,
	.zero_range = ds_zero_range,
	.map = ds_map,
	.allocated_bytes = ds_allocated_bytes,
	.lock = ds_lock,
	.unlock = ds_unlock,
	.lock_holder = ds_lock_holder,
	.queue_create = ds_queue_create,
	.queue_destroy = ds_queue_destroy,
	.queue_event_fd = ds_queue_event_fd,
	/* The event fd is an epoll fd: a write to it would be lost. */
	.queue_wake = signal_efd,
	.submit = ds_submit,
	.kick = ds_kick,
	.poll = ds_poll,
};

int
vdisk_store_vfs_open(const char *lun, const char *dir,
		     struct vdisk_store **out)
{
	struct ds_store *ds;
	int rc;

	if (dir[0] != '/' || strlen(dir) >= sizeof(ds->dir))
		return -EINVAL;
	ds = calloc(1, sizeof(*ds));
	if (!ds)
		return -ENOMEM;
	rc = mount_get(lun, &ds->m);
	if (rc < 0) {
		free(ds);
		return rc;
	}
	snprintf(ds->dir, sizeof(ds->dir), "%s", dir);
	ds->base.ops = &ds_ops;
	*out = &ds->base;
	return 0;
}
