/* SPDX-License-Identifier: MIT */
/*
 * Raw image files on io_uring: the first block backend (block.h).
 * Requests whose buffers and offsets are 512-byte aligned use an O_DIRECT
 * descriptor so guest I/O skips the host page cache; others fall back
 * to a buffered descriptor of the same file. Discard punches holes,
 * write-zeroes uses FALLOC_FL_ZERO_RANGE (or a hole when the guest
 * allows unmapping), flush is fdatasync. A write lock on the image keeps
 * a second VM from opening it read-write.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include "common/log.h"
#include "vmm/block.h"

struct blk_raw {
	struct vmm_blk_backend base;
	int fd_direct;     /* -1 when O_DIRECT is not supported here */
	int fd_buffered;
	int efd;
	struct io_uring ring;
	unsigned int queued;
};

static bool
aligned(const struct vmm_blk_io *io)
{
	if (io->offset % 512)
		return false;
	for (unsigned int i = 0; i < io->niov; i++)
		if ((uintptr_t)io->iov[i].iov_base % 512 ||
		    io->iov[i].iov_len % 512)
			return false;
	return true;
}

static int
raw_submit(struct vmm_blk_backend *b, struct vmm_blk_io *io)
{
	struct blk_raw *r = container_of(b, struct blk_raw, base);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	int fd = r->fd_buffered;
	int mode;

	if (!sqe) {
		/* Ring full of unsubmitted entries: push them and retry. */
		io_uring_submit(&r->ring);
		r->queued = 0;
		sqe = io_uring_get_sqe(&r->ring);
		if (!sqe)
			return -EAGAIN;
	}
	if ((io->op == VMM_BLK_READ || io->op == VMM_BLK_WRITE) &&
	    r->fd_direct >= 0 && aligned(io))
		fd = r->fd_direct;
	switch (io->op) {
	case VMM_BLK_READ:
		io_uring_prep_readv(sqe, fd, io->iov, io->niov, io->offset);
		break;
	case VMM_BLK_WRITE:
		io_uring_prep_writev(sqe, fd, io->iov, io->niov, io->offset);
		break;
	case VMM_BLK_FLUSH:
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		break;
	case VMM_BLK_DISCARD:
	case VMM_BLK_WRITE_ZEROES:
		mode = FALLOC_FL_KEEP_SIZE |
		       (io->op == VMM_BLK_DISCARD || io->unmap
				? FALLOC_FL_PUNCH_HOLE
				: FALLOC_FL_ZERO_RANGE);
		io_uring_prep_fallocate(sqe, fd, mode, io->offset, io->len);
		break;
	default:
		return -EOPNOTSUPP;
	}
	io_uring_sqe_set_data(sqe, io);
	r->queued++;
	return 0;
}

static int
raw_kick(struct vmm_blk_backend *b)
{
	struct blk_raw *r = container_of(b, struct blk_raw, base);
	int n;

	if (!r->queued)
		return 0;
	n = io_uring_submit(&r->ring);
	r->queued = 0;
	return n < 0 ? n : 0;
}

static int
raw_complete(struct vmm_blk_backend *b)
{
	struct blk_raw *r = container_of(b, struct blk_raw, base);
	struct io_uring_cqe *cqe;
	uint64_t cnt;
	int n = 0;

	if (read(r->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return -errno;
	while (io_uring_peek_cqe(&r->ring, &cqe) == 0) {
		struct vmm_blk_io *io = io_uring_cqe_get_data(cqe);
		int64_t res = cqe->res;

		io_uring_cqe_seen(&r->ring, cqe);
		io->done(io, res);
		n++;
	}
	return n;
}

static bool
raw_has_completions(struct vmm_blk_backend *b)
{
	return io_uring_cq_ready(&container_of(b, struct blk_raw, base)->ring);
}

static int
raw_event_fd(struct vmm_blk_backend *b)
{
	return container_of(b, struct blk_raw, base)->efd;
}

static void
raw_close(struct vmm_blk_backend *b)
{
	struct blk_raw *r = container_of(b, struct blk_raw, base);

	io_uring_queue_exit(&r->ring);
	if (r->fd_direct >= 0)
		close(r->fd_direct);
	close(r->fd_buffered);
	close(r->efd);
	free(r);
}

static const struct vmm_blk_ops raw_ops = {
	.name = "raw",
	.submit = raw_submit,
	.kick = raw_kick,
	.complete = raw_complete,
	.event_fd = raw_event_fd,
	.has_completions = raw_has_completions,
	.close = raw_close,
};

/*
 * A POSIX write lock on the whole image keeps a second VM (any process)
 * from opening it read-write, and F_GETLK names the holder's pid. (OFD
 * locks would survive closing another descriptor of the same file, but
 * report no owner here.) Both descriptors stay open until close, so the
 * lock lasts as long as the backend.
 */
static int
lock_image(int fd, bool readonly, const char *path, char *err, size_t errlen)
{
	struct flock fl = {
		.l_type = readonly ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
	};
	char comm[64] = "?", p[64];
	FILE *f;

	if (fcntl(fd, F_SETLK, &fl) == 0)
		return 0;
	if (errno != EAGAIN && errno != EACCES)
		return 0; /* filesystem without locks: go on unlocked */
	fl.l_type = F_WRLCK;
	if (fcntl(fd, F_GETLK, &fl) < 0 || fl.l_type == F_UNLCK || fl.l_pid <= 0) {
		snprintf(err, errlen, "%s: in use by another process", path);
		return -EBUSY;
	}
	snprintf(p, sizeof(p), "/proc/%d/comm", (int)fl.l_pid);
	f = fopen(p, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	snprintf(err, errlen, "%s: in use by process %d (%s)", path,
		 (int)fl.l_pid, comm);
	return -EBUSY;
}

int
vmm_blk_raw_open(const char *path, bool readonly, unsigned int depth,
		 struct vmm_blk_backend **out, char *err, size_t errlen)
{
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct blk_raw *r;
	struct stat st;
	int rc;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd_direct = r->efd = -1;
	r->fd_buffered = open(path, flags);
	if (r->fd_buffered < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto err_free;
	}
	rc = lock_image(r->fd_buffered, readonly, path, err, errlen);
	if (rc < 0)
		goto err_close;
	if (fstat(r->fd_buffered, &st) < 0) {
		rc = -errno;
		goto err_close;
	}
	if (S_ISBLK(st.st_mode)) {
		uint64_t sz;

		if (ioctl(r->fd_buffered, BLKGETSIZE64, &sz) < 0) {
			rc = -errno;
			goto err_close;
		}
		r->base.size_bytes = sz;
	} else if (S_ISREG(st.st_mode)) {
		r->base.size_bytes = (uint64_t)st.st_size;
	} else {
		snprintf(err, errlen, "%s: not a file or block device", path);
		rc = -EINVAL;
		goto err_close;
	}
	if (r->base.size_bytes < 512 || r->base.size_bytes % 512) {
		snprintf(err, errlen, "%s: size %llu is not a positive multiple "
			 "of 512 bytes", path,
			 (unsigned long long)r->base.size_bytes);
		rc = -EINVAL;
		goto err_close;
	}
	r->fd_direct = open(path, flags | O_DIRECT);
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->efd < 0) {
		rc = -errno;
		goto err_close;
	}
	rc = io_uring_queue_init(depth, &r->ring, 0);
	if (rc < 0) {
		snprintf(err, errlen, "io_uring: %s", strerror(-rc));
		goto err_close;
	}
	rc = io_uring_register_eventfd(&r->ring, r->efd);
	if (rc < 0) {
		io_uring_queue_exit(&r->ring);
		goto err_close;
	}
	r->base.ops = &raw_ops;
	r->base.sector_bytes = 512;
	r->base.readonly = readonly;
	r->base.can_discard = S_ISREG(st.st_mode);
	snprintf(r->base.desc, sizeof(r->base.desc), "raw %s",
		 S_ISBLK(st.st_mode) ? "device" : "image");
	*out = &r->base;
	return 0;

err_close:
	if (r->efd >= 0)
		close(r->efd);
	if (r->fd_direct >= 0)
		close(r->fd_direct);
	close(r->fd_buffered);
err_free:
	free(r);
	return rc;
}
