/* SPDX-License-Identifier: MIT */
/*
 * The local-filesystem store: a folder, its files opened relative to the
 * folder's fd. Allocation types map onto the filesystem: thin is a sparse
 * file, lazily zeroed thick is fallocate()d (unwritten extents read as
 * zeros), eagerly zeroed thick also writes the zeros. The data path is an
 * io_uring per queue on an O_DIRECT fd; discard and write-zeroes are
 * asynchronous fallocate requests on the same ring.
 *
 * Locks: an OFD lock on byte 0 of "NAME.lck", a file that is never
 * replaced (the descriptor is, by rename, so it cannot carry the lock).
 * The exclusive holder writes who it is into that file for others to read.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "vdisk/vdisk-provider.h"

#define ZERO_CHUNK (4u << 20)

/* Test hook (vdisk-provider.h): wraps every local store opened. */
static vdisk_store_wrap_fn local_wrapper;

struct local_store {
	struct vdisk_store base;
	int dirfd;
	char dir[PATH_MAX];
};

struct store_file {
	struct local_store *st;
	int fd;
	bool direct;
	/* Thin allocation ahead of first writes: one bit per chunk this
	 * session has already fallocate()d (shared by the file's queues). */
	uint64_t chunk_bytes;
	uint64_t nchunks;
	uint64_t *chunks;
};

struct store_lock {
	int fd;
};

struct store_queue {
	struct io_uring ring;
	struct store_file *f;
	int fd;
	int efd;
	unsigned int queued;
	unsigned int inflight;
	struct vdisk_io *sync_done;  /* failed at submit, reported at poll */
};

static struct local_store *
to_local(struct vdisk_store *st)
{
	return container_of(st, struct local_store, base);
}

static void
local_close(struct vdisk_store *st)
{
	struct local_store *ls = to_local(st);

	close(ls->dirfd);
	free(ls);
}

static int
local_file_open(struct vdisk_store *st, const char *name, unsigned int flags,
		struct store_file **out)
{
	struct local_store *ls = to_local(st);
	struct store_file *f;
	int oflags = O_CLOEXEC;

	oflags |= (flags & STORE_RDONLY) ? O_RDONLY : O_RDWR;
	if (flags & STORE_CREATE)
		oflags |= O_CREAT | O_EXCL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->st = ls;
	f->fd = openat(ls->dirfd, name, oflags | ((flags & STORE_DIRECT) ?
						  O_DIRECT : 0), 0644);
	if (f->fd < 0 && errno == EINVAL && (flags & STORE_DIRECT)) {
		/* tmpfs and friends: correct, only not cache-free. */
		f->fd = openat(ls->dirfd, name, oflags, 0644);
	} else if (f->fd >= 0) {
		f->direct = flags & STORE_DIRECT;
	}
	if (f->fd < 0) {
		int err = -errno;

		free(f);
		return err;
	}
	*out = f;
	return 0;
}

static void
local_file_close(struct store_file *f)
{
	if (!f)
		return;
	close(f->fd);
	free(f->chunks);
	free(f);
}

static int walk_seek(struct store_file *f, uint64_t off, uint64_t end,
		     store_extent_fn fn, void *priv);

/* Chunks already written through are allocated: no fallocate for them. */
static int
mark_written(void *priv, uint64_t off, uint64_t len, unsigned int flags)
{
	struct store_file *f = priv;
	uint64_t c = DIV_ROUND_UP(off, f->chunk_bytes);

	if (!(flags & VDISK_EXTENT_DATA))
		return 0;
	for (; (c + 1) * f->chunk_bytes <= off + len && c < f->nchunks; c++)
		f->chunks[c / 64] |= 1ull << (c % 64);
	return 0;
}

static void
local_set_alloc_chunk(struct store_file *f, uint64_t chunk_bytes,
		      uint64_t size)
{
	uint64_t n = DIV_ROUND_UP(size, chunk_bytes);

	free(f->chunks);
	f->chunks = calloc(DIV_ROUND_UP(n, 64) + 1, 8);
	f->nchunks = f->chunks ? n : 0;
	f->chunk_bytes = chunk_bytes;
	if (f->chunks)
		walk_seek(f, 0, size, mark_written, f);
}

/*
 * Claims the chunks under [off, off+len) not yet allocated ahead; returns
 * the byte range to fallocate (len 0: nothing to do).
 */
static void
claim_chunks(struct store_file *f, uint64_t off, uint64_t len,
	     uint64_t *aoff, uint64_t *alen)
{
	uint64_t first = off / f->chunk_bytes;
	uint64_t last = (off + len - 1) / f->chunk_bytes;
	uint64_t lo = UINT64_MAX, hi = 0;

	for (uint64_t c = first; c <= last && c < f->nchunks; c++) {
		uint64_t mask = 1ull << (c % 64);

		if (__atomic_load_n(&f->chunks[c / 64], __ATOMIC_RELAXED) & mask)
			continue;
		if (__atomic_fetch_or(&f->chunks[c / 64], mask,
				      __ATOMIC_RELAXED) & mask)
			continue;
		lo = MIN(lo, c);
		hi = MAX(hi, c);
	}
	*alen = 0;
	if (lo == UINT64_MAX)
		return;
	*aoff = lo * f->chunk_bytes;
	*alen = (hi + 1) * f->chunk_bytes - *aoff;
}

/* A hole was punched: those chunks need allocating again. */
static void
forget_chunks(struct store_file *f, uint64_t off, uint64_t len)
{
	if (!f->chunks || len == 0)
		return;
	for (uint64_t c = off / f->chunk_bytes;
	     c <= (off + len - 1) / f->chunk_bytes && c < f->nchunks; c++)
		__atomic_fetch_and(&f->chunks[c / 64], ~(1ull << (c % 64)),
				   __ATOMIC_RELAXED);
}

static int
local_exists(struct vdisk_store *st, const char *name)
{
	struct stat sb;

	if (fstatat(to_local(st)->dirfd, name, &sb, 0) == 0)
		return 1;
	return errno == ENOENT ? 0 : -errno;
}

static int
local_unlink(struct vdisk_store *st, const char *name)
{
	if (unlinkat(to_local(st)->dirfd, name, 0) < 0)
		return -errno;
	return 0;
}

static int
local_rename(struct vdisk_store *st, const char *from, const char *to)
{
	int dfd = to_local(st)->dirfd;

	if (renameat(dfd, from, dfd, to) < 0)
		return -errno;
	/* The rename itself must survive a crash. */
	fsync(dfd);
	return 0;
}

static int
local_pread(struct store_file *f, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(f->fd, (char *)buf + done, len - done,
				  (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			/* Past the end reads as zeros, like a hole. */
			memset((char *)buf + done, 0, len - done);
			break;
		}
		done += (size_t)n;
	}
	return 0;
}

static int
local_pwrite(struct store_file *f, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(f->fd, (const char *)buf + done, len - done,
				   (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

static void
local_writeback(struct store_file *f, uint64_t off, uint64_t len)
{
	/* Start writing back now, so the final flush has little left. */
	sync_file_range(f->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
}

static int
local_sync(struct store_file *f)
{
	return fdatasync(f->fd) < 0 ? -errno : 0;
}

static int
local_get_size(struct store_file *f, uint64_t *size)
{
	struct stat sb;

	if (fstat(f->fd, &sb) < 0)
		return -errno;
	*size = (uint64_t)sb.st_size;
	return 0;
}

static int
local_set_size(struct store_file *f, uint64_t size)
{
	return ftruncate(f->fd, (off_t)size) < 0 ? -errno : 0;
}

static int
write_zeros(struct store_file *f, uint64_t off, uint64_t len)
{
	void *zero;
	int rc = 0;

	if (posix_memalign(&zero, 4096, ZERO_CHUNK))
		return -ENOMEM;
	memset(zero, 0, ZERO_CHUNK);
	while (len && rc == 0) {
		size_t n = (size_t)MIN(len, (uint64_t)ZERO_CHUNK);

		rc = local_pwrite(f, zero, n, off);
		off += n;
		len -= n;
	}
	free(zero);
	return rc;
}

/* Walks [off, end) as data / hole runs by SEEK_DATA and SEEK_HOLE. */
static int
walk_seek(struct store_file *f, uint64_t off, uint64_t end,
	  store_extent_fn fn, void *priv)
{
	while (off < end) {
		off_t data = lseek(f->fd, (off_t)off, SEEK_DATA);
		off_t hole;
		int rc;

		if (data < 0 && errno != ENXIO)
			return -errno;
		if (data < 0 || (uint64_t)data >= end) {
			return fn(priv, off, end - off, VDISK_EXTENT_ZERO);
		}
		if ((uint64_t)data > off) {
			rc = fn(priv, off, (uint64_t)data - off,
				VDISK_EXTENT_ZERO);
			if (rc)
				return rc;
		}
		hole = lseek(f->fd, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		if ((uint64_t)hole > end)
			hole = (off_t)end;
		rc = fn(priv, (uint64_t)data, (uint64_t)(hole - data),
			VDISK_EXTENT_DATA | VDISK_EXTENT_ALLOCATED);
		if (rc)
			return rc;
		off = (uint64_t)hole;
	}
	return 0;
}

static int
local_map(struct store_file *f, uint64_t off, uint64_t len,
	  store_extent_fn fn, void *priv)
{
	return walk_seek(f, off, off + len, fn, priv);
}

struct zero_holes {
	struct store_file *f;
};

static int
zero_hole(void *priv, uint64_t off, uint64_t len, unsigned int flags)
{
	struct zero_holes *z = priv;

	if (flags & VDISK_EXTENT_DATA)
		return 0;
	return write_zeros(z->f, off, len);
}

static int
local_allocate(struct store_file *f, uint64_t off, uint64_t len,
	       enum store_alloc how)
{
	struct zero_holes z = { f };

	if (how == STORE_ALLOC_THIN || len == 0)
		return 0;
	if (fallocate(f->fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0)
		return -errno;
	if (how == STORE_ALLOC_RESERVE)
		return 0;
	/* Unwritten extents are holes to SEEK_DATA: zero exactly those. */
	return walk_seek(f, off, off + len, zero_hole, &z);
}

static int
local_zero_range(struct store_file *f, uint64_t off, uint64_t len, bool unmap)
{
	int mode = FALLOC_FL_KEEP_SIZE |
		   (unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);

	if (fallocate(f->fd, mode, (off_t)off, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		return -errno;
	if (!unmap && fallocate(f->fd, FALLOC_FL_KEEP_SIZE |
				FALLOC_FL_PUNCH_HOLE, (off_t)off,
				(off_t)len) == 0)
		return fallocate(f->fd, FALLOC_FL_KEEP_SIZE, (off_t)off,
				 (off_t)len) < 0 ? -errno : 0;
	return write_zeros(f, off, len);
}

static uint64_t
local_allocated_bytes(struct store_file *f)
{
	struct stat sb;

	if (fstat(f->fd, &sb) < 0)
		return 0;
	return (uint64_t)sb.st_blocks * 512;
}

/* ---- locks ---- */

static void
lock_name(const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s.lck", name);
}

static int
ofd(int fd, int cmd, short type, struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	fl->l_start = 0;
	fl->l_len = 1;
	return fcntl(fd, cmd, fl);
}

static void
write_holder(int fd, bool exclusive)
{
	char host[64] = "?", rec[128];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	gethostname(host, sizeof(host) - 1);
	gmtime_r(&now, &tm);
	n = snprintf(rec, sizeof(rec), "host %s pid %d since %04d-%02d-%02dT"
		     "%02d:%02d:%02dZ mode %s\n", host, (int)getpid(),
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, exclusive ? "rw" : "ro");
	if (n > 0 && ftruncate(fd, 0) == 0)
		(void)!pwrite(fd, rec, (size_t)n, 0);
}

static int
local_lock(struct vdisk_store *st, const char *name, bool exclusive,
	   struct store_lock **out)
{
	char lname[NAME_MAX + 8];
	struct store_lock *lk;
	struct flock fl;
	int fd;

	lock_name(name, lname, sizeof(lname));
	fd = openat(to_local(st)->dirfd, lname, O_RDWR | O_CREAT | O_CLOEXEC,
		    0644);
	if (fd < 0 && errno == EACCES && !exclusive)
		fd = openat(to_local(st)->dirfd, lname, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ofd(fd, F_OFD_SETLK, exclusive ? F_WRLCK : F_RDLCK, &fl) < 0) {
		int err = errno;

		close(fd);
		return (err == EAGAIN || err == EACCES) ? -EBUSY : -err;
	}
	lk = calloc(1, sizeof(*lk));
	if (!lk) {
		close(fd);
		return -ENOMEM;
	}
	lk->fd = fd;
	if (exclusive)
		write_holder(fd, true);
	*out = lk;
	return 0;
}

static void
local_unlock(struct store_lock *lk)
{
	if (!lk)
		return;
	/* Closing the only fd of the open file description drops the lock. */
	close(lk->fd);
	free(lk);
}

static bool
local_lock_holder(struct vdisk_store *st, const char *name, char *buf,
		  size_t len)
{
	char lname[NAME_MAX + 8];
	struct flock fl;
	ssize_t n;
	int fd;

	if (len)
		buf[0] = '\0';
	lock_name(name, lname, sizeof(lname));
	fd = openat(to_local(st)->dirfd, lname, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	/* Asking about a write lock reports any lock that would conflict. */
	if (ofd(fd, F_OFD_GETLK, F_WRLCK, &fl) < 0 || fl.l_type == F_UNLCK) {
		close(fd);
		return false;
	}
	if (fl.l_type == F_RDLCK) {
		snprintf(buf, len, "read-only openers (shared lock)");
	} else {
		n = pread(fd, buf, len ? len - 1 : 0, 0);
		if (n <= 0) {
			snprintf(buf, len, "unknown holder");
		} else {
			buf[n] = '\0';
			buf[strcspn(buf, "\n")] = '\0';
		}
	}
	close(fd);
	return true;
}

/* ---- data path ---- */

static int
local_queue_create(struct store_file *f, unsigned int depth,
		   struct store_queue **out)
{
	struct io_uring_params p = { 0 };
	struct store_queue *q;
	int err;

	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->fd = f->fd;
	q->f = f;
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
	err = io_uring_queue_init_params(depth, &q->ring, &p);
	if (err == -EINVAL) {
		memset(&p, 0, sizeof(p));
		err = io_uring_queue_init_params(depth, &q->ring, &p);
	}
	if (err < 0)
		goto err_free;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0) {
		err = -errno;
		goto err_ring;
	}
	err = io_uring_register_eventfd(&q->ring, q->efd);
	if (err < 0)
		goto err_efd;
	*out = q;
	return 0;

err_efd:
	close(q->efd);
err_ring:
	io_uring_queue_exit(&q->ring);
err_free:
	free(q);
	return err;
}

static void
local_queue_destroy(struct store_queue *q)
{
	io_uring_queue_exit(&q->ring);
	close(q->efd);
	free(q);
}

static int
local_queue_event_fd(struct store_queue *q)
{
	return q->efd;
}

/*
 * Before the first write into a chunk of a thin file: fallocate the whole
 * chunk, hard-linked ahead of the write (which then lands in an unwritten
 * extent, cheaper than allocating in the write path; if the fallocate
 * fails the write still runs and allocates, or reports ENOSPC itself).
 * Its completion carries no request and is skipped by reap().
 */
static void
prep_chunk_alloc(struct store_queue *q, struct store_file *f,
		 const struct vdisk_io *io)
{
	struct io_uring_sqe *sqe;
	uint64_t aoff, alen;

	claim_chunks(f, io->offset_bytes, io->len_bytes, &aoff, &alen);
	if (!alen)
		return;
	sqe = io_uring_get_sqe(&q->ring);
	io_uring_prep_fallocate(sqe, f->fd, FALLOC_FL_KEEP_SIZE, aoff, alen);
	io_uring_sqe_set_data(sqe, NULL);
	sqe->flags |= IOSQE_IO_HARDLINK;
	q->queued++;
}

static int
local_submit(struct store_queue *q, struct vdisk_io *io)
{
	/* Requests name their file (a layer's go to several). */
	struct store_file *f = io->file ? io->file : q->f;
	bool chunked = f->chunks && io->store_op == VDISK_OP_WRITE;
	struct io_uring_sqe *sqe;
	int fd = f->fd;

	/* A linked pair must go to the kernel in one submission. */
	if (io_uring_sq_space_left(&q->ring) < (chunked ? 2u : 1u)) {
		io_uring_submit(&q->ring);
		q->queued = 0;
		if (io_uring_sq_space_left(&q->ring) < (chunked ? 2u : 1u))
			return -EAGAIN;
	}
	if (chunked)
		prep_chunk_alloc(q, f, io);
	else if (f->chunks && io->store_op != VDISK_OP_READ &&
		 !(io->store_op == VDISK_OP_WRITE_ZEROES &&
		   (io->flags & VDISK_IO_NO_UNMAP)))
		forget_chunks(f, io->offset_bytes, io->len_bytes);
	sqe = io_uring_get_sqe(&q->ring);
	switch (io->store_op) {
	case VDISK_OP_READ:
		if (io->iovcnt == 1)
			io_uring_prep_read(sqe, fd, io->iov[0].iov_base,
					   (unsigned int)io->iov[0].iov_len,
					   io->offset_bytes);
		else
			io_uring_prep_readv(sqe, fd, io->iov, io->iovcnt,
					    io->offset_bytes);
		break;
	case VDISK_OP_WRITE:
		if (io->iovcnt == 1)
			io_uring_prep_write(sqe, fd, io->iov[0].iov_base,
					    (unsigned int)io->iov[0].iov_len,
					    io->offset_bytes);
		else
			io_uring_prep_writev(sqe, fd, io->iov, io->iovcnt,
					     io->offset_bytes);
		if (io->flags & VDISK_IO_FUA)
			sqe->rw_flags = RWF_DSYNC;
		break;
	case VDISK_OP_FLUSH:
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		break;
	case VDISK_OP_DISCARD:
		io_uring_prep_fallocate(sqe, fd, FALLOC_FL_KEEP_SIZE |
					FALLOC_FL_PUNCH_HOLE,
					io->offset_bytes, io->len_bytes);
		break;
	case VDISK_OP_WRITE_ZEROES:
		io_uring_prep_fallocate(sqe, fd, FALLOC_FL_KEEP_SIZE |
					((io->flags & VDISK_IO_NO_UNMAP) ?
					 FALLOC_FL_ZERO_RANGE :
					 FALLOC_FL_PUNCH_HOLE),
					io->offset_bytes, io->len_bytes);
		break;
	default:
		return -EINVAL;
	}
	io_uring_sqe_set_data(sqe, io);
	q->queued++;
	q->inflight++;
	return 0;
}

static int
local_kick(struct store_queue *q)
{
	int rc;

	if (!q->queued)
		return 0;
	rc = io_uring_submit(&q->ring);
	if (rc < 0)
		return rc;
	q->queued = 0;
	return 0;
}

static int64_t
cqe_result(const struct vdisk_io *io, int res)
{
	if (res < 0)
		return res;
	if (io->op == VDISK_OP_READ || io->op == VDISK_OP_WRITE)
		return (uint64_t)res == io->len_bytes ? res : -EIO;
	return (int64_t)io->len_bytes;
}

static unsigned int
reap(struct store_queue *q)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;

	io_uring_for_each_cqe(&q->ring, head, cqe) {
		struct vdisk_io *io = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		/* A callback may submit: release the CQE first. */
		io_uring_cq_advance(&q->ring, 1);
		if (!io)
			continue; /* a chunk allocation ahead of a write */
		n++;
		q->inflight--;
		vdisk_engine_complete(io, cqe_result(io, res));
	}
	return n;
}

static int
local_poll(struct store_queue *q, unsigned int min_done, int timeout_ms)
{
	unsigned int done = 0;
	uint64_t cnt;
	int rc;

	rc = local_kick(q);
	if (rc < 0)
		return rc;
	/* Reset the eventfd before reaping so no completion is missed. */
	(void)!read(q->efd, &cnt, sizeof(cnt));
	for (;;) {
		struct __kernel_timespec ts;
		struct io_uring_cqe *cqe;

		done += reap(q);
		if (done >= min_done || q->inflight == 0)
			return (int)done;
		if (timeout_ms < 0) {
			rc = io_uring_wait_cqe(&q->ring, &cqe);
		} else {
			if (timeout_ms == 0)
				return (int)done;
			ts.tv_sec = timeout_ms / 1000;
			ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
			rc = io_uring_wait_cqe_timeout(&q->ring, &cqe, &ts);
			if (rc == -ETIME) {
				done += reap(q);
				return (int)done;
			}
		}
		if (rc < 0 && rc != -EINTR)
			return rc;
	}
}

static const struct store_ops local_ops = {
	.name = "local",
	.close = local_close,
	.file_open = local_file_open,
	.file_close = local_file_close,
	.exists = local_exists,
	.unlink = local_unlink,
	.rename = local_rename,
	.pread = local_pread,
	.pwrite = local_pwrite,
	.sync = local_sync,
	.writeback = local_writeback,
	.get_size = local_get_size,
	.set_size = local_set_size,
	.allocate = local_allocate,
	.zero_range = local_zero_range,
	.map = local_map,
	.allocated_bytes = local_allocated_bytes,
	.set_alloc_chunk = local_set_alloc_chunk,
	.lock = local_lock,
	.unlock = local_unlock,
	.lock_holder = local_lock_holder,
	.queue_create = local_queue_create,
	.queue_destroy = local_queue_destroy,
	.queue_event_fd = local_queue_event_fd,
	.submit = local_submit,
	.kick = local_kick,
	.poll = local_poll,
};

int
vdisk_store_local_open(const char *dir, struct vdisk_store **out)
{
	struct local_store *ls;

	ls = calloc(1, sizeof(*ls));
	if (!ls)
		return -ENOMEM;
	ls->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ls->dirfd < 0) {
		int err = -errno;

		free(ls);
		return err;
	}
	snprintf(ls->dir, sizeof(ls->dir), "%s", dir);
	ls->base.ops = &local_ops;
	if (local_wrapper) {
		int rc = local_wrapper(&ls->base, out);

		if (rc < 0)
			local_close(&ls->base);
		return rc;
	}
	*out = &ls->base;
	return 0;
}

void
vdisk_store_set_local_wrapper(vdisk_store_wrap_fn wrap)
{
	local_wrapper = wrap;
}
