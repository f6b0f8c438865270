/* SPDX-License-Identifier: MIT */
/*
 * File and block-device LUNs through io_uring: O_DIRECT, one ring per
 * handle (so per thread), optional registered buffers for fixed reads and
 * writes, FUA as RWF_DSYNC, flush as fdatasync. ATS is emulated with an
 * OFD byte-range lock on the sector around read-compare-write, which is
 * atomic between processes of one machine (and between handles of one
 * process, since OFD locks belong to the open file description).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "vfs-cluster/lun-provider.h"

#define FILE_MAX_IO_BYTES (8u << 20)

struct lun_file {
	struct lun base;
	struct io_uring ring;
	int fd;
	bool is_blockdev;
	bool direct;
	unsigned int queued;         /* SQEs not yet handed to the kernel */
	struct lun_io *sync_done;    /* completed synchronously, not reported */
	struct lun_io **sync_tail;
	int efd;                     /* lun_event_fd(): -1 until asked for */
};

static struct lun_file *
to_file(struct lun *lun)
{
	return container_of(lun, struct lun_file, base);
}

static int
probe_geometry(struct lun_file *f, const char *path)
{
	struct lun_info *info = &f->base.info;
	struct stat st;

	if (fstat(f->fd, &st) < 0)
		return -errno;
	info->logical_sector_bytes = 512;
	info->physical_sector_bytes = 4096;
	if (S_ISBLK(st.st_mode)) {
		uint64_t size;
		int lbs = 512;
		unsigned int pbs = 4096;

		f->is_blockdev = true;
		if (ioctl(f->fd, BLKGETSIZE64, &size) < 0)
			return -errno;
		if (ioctl(f->fd, BLKSSZGET, &lbs) == 0 && lbs > 0)
			info->logical_sector_bytes = (uint32_t)lbs;
		if (ioctl(f->fd, BLKPBSZGET, &pbs) == 0 && pbs > 0)
			info->physical_sector_bytes = pbs;
		info->size_bytes = size;
		info->caps |= LUN_CAP_DISCARD;
	} else if (S_ISREG(st.st_mode)) {
		info->size_bytes = (uint64_t)st.st_size;
		if (st.st_blksize >= 512 && IS_POW2(st.st_blksize))
			info->physical_sector_bytes = (uint32_t)st.st_blksize;
		info->caps |= LUN_CAP_DISCARD;
	} else {
		log_err("vfs.lun", "%s: not a regular file or block device",
			path);
		return -EINVAL;
	}
	if (info->physical_sector_bytes < info->logical_sector_bytes)
		info->physical_sector_bytes = info->logical_sector_bytes;
	info->size_bytes = ALIGN_DOWN(info->size_bytes,
				      (uint64_t)info->logical_sector_bytes);
	info->buf_align = f->direct ? info->logical_sector_bytes : 1;
	return 0;
}

static int
open_fd(struct lun_file *f, const char *path, bool read_only)
{
	int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;

	f->fd = open(path, flags | O_DIRECT);
	if (f->fd >= 0) {
		f->direct = true;
		return 0;
	}
	if (errno != EINVAL)
		return -errno;
	/* A filesystem without O_DIRECT: correct, just not cache-free. */
	f->fd = open(path, flags);
	if (f->fd < 0)
		return -errno;
	log_warn("vfs.lun", "%s: O_DIRECT unsupported, using the page cache",
		 path);
	return 0;
}

static int
setup_ring(struct lun_file *f, unsigned int depth)
{
	/*
	 * A plain ring: SINGLE_ISSUER|COOP_TASKRUN measured no better here,
	 * and COOP_TASKRUN would hide completions until the next enter.
	 */
	return io_uring_queue_init(depth, &f->ring, 0);
}

static int
file_open(const char *path, const struct lun_config *cfg, struct lun **out)
{
	struct lun_file *f;
	int err;

	if (!*path)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->sync_tail = &f->sync_done;
	f->efd = -1;
	/* The errno says it all (ENOENT, EACCES...): the caller reports
	 * it, once. */
	err = open_fd(f, path, cfg->read_only);
	if (err < 0)
		goto err_free;
	err = probe_geometry(f, path);
	if (err < 0)
		goto err_close;
	if (f->base.info.size_bytes == 0) {
		log_err("vfs.lun", "%s: empty LUN", path);
		err = -EINVAL;
		goto err_close;
	}
	err = setup_ring(f, cfg->queue_depth);
	if (err < 0) {
		log_err("vfs.lun", "%s: io_uring setup: %s", path,
			strerror(-err));
		goto err_close;
	}
	f->base.info.scheme = "file";
	f->base.info.max_io_bytes = FILE_MAX_IO_BYTES;
	f->base.info.queue_depth = cfg->queue_depth;
	f->base.info.caps |= LUN_CAP_FUA | LUN_CAP_FIXED_BUFS;
	if (cfg->ats_method == LUN_ATS_AUTO ||
	    cfg->ats_method == LUN_ATS_OFD_LOCK) {
		f->base.info.caps |= LUN_CAP_ATS;
		f->base.info.ats_method = LUN_ATS_OFD_LOCK;
	} else {
		f->base.info.ats_method = LUN_ATS_NONE;
	}
	*out = &f->base;
	return 0;

err_close:
	close(f->fd);
err_free:
	free(f);
	return err;
}

static void
file_close(struct lun *lun)
{
	struct lun_file *f = to_file(lun);

	io_uring_queue_exit(&f->ring);
	if (f->efd >= 0)
		close(f->efd);
	close(f->fd);
	free(f);
}

/* Discard runs synchronously; its completion is reported at the next poll. */
static int
discard_now(struct lun_file *f, struct lun_io *io)
{
	uint64_t range[2] = { io->offset_bytes, io->len_bytes };
	int rc;

	if (f->is_blockdev)
		rc = ioctl(f->fd, BLKDISCARD, range);
	else
		rc = fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       (off_t)io->offset_bytes, (off_t)io->len_bytes);
	io->result = rc < 0 ? -errno : (int64_t)io->len_bytes;
	io->next = NULL;
	*f->sync_tail = io;
	f->sync_tail = &io->next;
	if (f->efd >= 0)
		lun_eventfd_signal(f->efd);
	return 0;
}

static struct io_uring_sqe *
get_sqe(struct lun_file *f)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&f->ring);

	if (!sqe) {
		io_uring_submit(&f->ring);
		f->queued = 0;
		sqe = io_uring_get_sqe(&f->ring);
	}
	return sqe;
}

static int
file_submit(struct lun *lun, struct lun_io *io)
{
	struct lun_file *f = to_file(lun);
	struct io_uring_sqe *sqe;
	bool fixed = io->buf_index >= 0 && io->iovcnt == 1;

	if (io->op == LUN_OP_DISCARD)
		return discard_now(f, io);
	sqe = get_sqe(f);
	if (!sqe)
		return -EAGAIN;
	switch (io->op) {
	case LUN_OP_READ:
		if (fixed)
			io_uring_prep_read_fixed(sqe, f->fd, io->iov[0].iov_base,
						 (unsigned)io->iov[0].iov_len,
						 io->offset_bytes,
						 io->buf_index);
		else
			io_uring_prep_readv(sqe, f->fd, io->iov, io->iovcnt,
					    io->offset_bytes);
		break;
	case LUN_OP_WRITE:
		if (fixed)
			io_uring_prep_write_fixed(
				sqe, f->fd, io->iov[0].iov_base,
				(unsigned)io->iov[0].iov_len, io->offset_bytes,
				io->buf_index);
		else
			io_uring_prep_writev(sqe, f->fd, io->iov, io->iovcnt,
					     io->offset_bytes);
		if (io->flags & LUN_IO_FUA)
			sqe->rw_flags = RWF_DSYNC;
		break;
	case LUN_OP_FLUSH:
		io_uring_prep_fsync(sqe, f->fd, IORING_FSYNC_DATASYNC);
		break;
	}
	io_uring_sqe_set_data(sqe, io);
	f->queued++;
	return 0;
}

static int
file_kick(struct lun *lun)
{
	struct lun_file *f = to_file(lun);
	int rc;

	if (!f->queued)
		return 0;
	rc = io_uring_submit(&f->ring);
	if (rc < 0)
		return rc;
	f->queued = 0;
	return 0;
}

static int64_t
cqe_result(const struct lun_io *io, int res)
{
	if (res < 0)
		return res;
	/* O_DIRECT within the checked size never returns short; if the
	 * file shrank under us, say so rather than hand back a hole. */
	if (io->op != LUN_OP_FLUSH && (uint64_t)res != io->len_bytes)
		return -EIO;
	return io->op == LUN_OP_FLUSH ? 0 : res;
}

static unsigned int
reap(struct lun_file *f)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;
	struct lun_io *io;

	while ((io = f->sync_done) != NULL) {
		f->sync_done = io->next;
		if (!f->sync_done)
			f->sync_tail = &f->sync_done;
		lun_io_complete(&f->base, io, io->result);
		n++;
	}
	io_uring_for_each_cqe(&f->ring, head, cqe) {
		io = io_uring_cqe_get_data(cqe);
		n++;
		/* Completing may submit more: advance the CQ first. */
		io_uring_cq_advance(&f->ring, 1);
		lun_io_complete(&f->base, io, cqe_result(io, cqe->res));
	}
	return n;
}

/*
 * Leaves the event fd readable exactly when something is left to reap.
 * A completion posted after the drain signals the eventfd again itself.
 */
static void
rearm(struct lun_file *f)
{
	if (f->efd < 0)
		return;
	lun_eventfd_drain(f->efd);
	if (f->sync_done || io_uring_cq_ready(&f->ring))
		lun_eventfd_signal(f->efd);
}

/*
 * Reaps what is ready first; only if that is not enough does it enter the
 * kernel, once, both starting the queued requests and waiting. Requests
 * the callbacks queue stay queued until the next poll or kick, so a
 * closed loop costs one system call per round (see lun.h).
 */
static int
file_poll(struct lun *lun, unsigned int min_done, int timeout_ms)
{
	struct lun_file *f = to_file(lun);
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX :
			    clock_mono_ns() + (uint64_t)timeout_ms * NS_PER_MS;
	unsigned int done = reap(f);
	int rc;

	while (done < min_done && lun->inflight > 0) {
		struct __kernel_timespec ts, *tsp = NULL;
		struct io_uring_cqe *cqe;
		uint64_t now = clock_mono_ns();

		if (now >= deadline)
			break;
		if (deadline != UINT64_MAX) {
			ts.tv_sec = (long long)((deadline - now) / NS_PER_SEC);
			ts.tv_nsec = (long long)((deadline - now) % NS_PER_SEC);
			tsp = &ts;
		}
		rc = io_uring_submit_and_wait_timeout(&f->ring, &cqe, 1, tsp,
						      NULL);
		if (rc >= 0 || rc == -ETIME)
			f->queued = 0;
		if (rc < 0 && rc != -ETIME && rc != -EINTR) {
			rearm(f);
			return rc;
		}
		done += reap(f);
	}
	rearm(f);
	if (min_done == 0) {
		/* A non-blocking poll is also the caller's kick. */
		rc = file_kick(lun);
		if (rc < 0)
			return rc;
	}
	return (int)done;
}

/* An eventfd the ring signals at every completion. */
static int
file_event_fd(struct lun *lun)
{
	struct lun_file *f = to_file(lun);
	int fd, rc;

	if (f->efd >= 0)
		return f->efd;
	fd = lun_eventfd_new();
	if (fd < 0)
		return fd;
	rc = io_uring_register_eventfd(&f->ring, fd);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	f->efd = fd;
	rearm(f);
	return fd;
}

static int
file_register_buffers(struct lun *lun, const struct iovec *bufs,
		      unsigned int nbufs)
{
	struct lun_file *f = to_file(lun);

	io_uring_unregister_buffers(&f->ring);
	if (nbufs == 0)
		return 0;
	return io_uring_register_buffers(&f->ring, bufs, nbufs);
}

/* ---- ATS through an OFD lock ---- */

static int
ofd_lock(struct lun_file *f, uint64_t offset, uint64_t len, short type)
{
	uint64_t deadline = clock_mono_ns() +
			    (uint64_t)f->base.cfg.io_timeout_ms * NS_PER_MS;
	struct flock fl = {
		.l_type = type,
		.l_whence = SEEK_SET,
		.l_start = (off_t)offset,
		.l_len = (off_t)len,
	};
	long wait_ns = 20000;

	/* Poll rather than F_OFD_SETLKW so a stopped holder costs a
	 * timeout, not a hang. */
	while (fcntl(f->fd, F_OFD_SETLK, &fl) < 0) {
		struct timespec ts = { 0, wait_ns };

		if (errno != EAGAIN && errno != EACCES)
			return -errno;
		if (type == F_UNLCK)
			return -errno;
		if (clock_mono_ns() >= deadline)
			return -ETIMEDOUT;
		f->base.stats.ats_retries++;
		nanosleep(&ts, NULL);
		wait_ns = MIN(wait_ns * 2, 2000000L);
	}
	return 0;
}

static int
file_ats(struct lun *lun, uint64_t offset, const void *expected,
	 const void *desired, uint64_t len)
{
	struct lun_file *f = to_file(lun);
	void *cur;
	ssize_t n;
	int rc;

	if (posix_memalign(&cur, 4096, len))
		return -ENOMEM;
	rc = ofd_lock(f, offset, len, F_WRLCK);
	if (rc < 0)
		goto out_free;
	n = pread(f->fd, cur, len, (off_t)offset);
	if (n != (ssize_t)len) {
		rc = n < 0 ? -errno : -EIO;
		goto out_unlock;
	}
	if (memcmp(cur, expected, len) != 0) {
		rc = LUN_ATS_MISCOMPARE;
		goto out_unlock;
	}
	n = pwritev2(f->fd, &(struct iovec){ (void *)desired, len }, 1,
		     (off_t)offset, RWF_DSYNC);
	rc = n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
out_unlock:
	ofd_lock(f, offset, len, F_UNLCK);
out_free:
	free(cur);
	return rc;
}

const struct lun_ops lun_file_ops = {
	.scheme = "file",
	.open = file_open,
	.close = file_close,
	.submit = file_submit,
	.kick = file_kick,
	.poll = file_poll,
	.event_fd = file_event_fd,
	.register_buffers = file_register_buffers,
	.ats = file_ats,
};
