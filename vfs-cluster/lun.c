/* SPDX-License-Identifier: MIT */
/*
 * The generic LUN layer: opens a backend by URI scheme, validates every
 * request before a backend sees it, counts I/O, and builds the
 * synchronous helpers on the asynchronous interface.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "vfs-cluster/lun-provider.h"

#define DEFAULT_QUEUE_DEPTH 64
#define DEFAULT_IO_TIMEOUT_MS 10000

static const struct {
	const char *prefix;
	const struct lun_ops *ops;
	size_t skip; /* characters of the URI the backend does not see */
} schemes[] = {
	{ "file:", &lun_file_ops, 5 },
	{ "mem:", &lun_mem_ops, 4 },
	/* libiscsi parses the whole URL. */
	{ "iscsi://", &lun_iscsi_ops, 0 },
	/* The wrapper sees ":INNER" or ",OPTIONS:INNER". */
	{ "faulty:", &lun_faulty_ops, 6 },
	{ "faulty,", &lun_faulty_ops, 6 },
};

static void
apply_defaults(struct lun_config *cfg)
{
	if (cfg->queue_depth == 0)
		cfg->queue_depth = DEFAULT_QUEUE_DEPTH;
	if (cfg->io_timeout_ms == 0)
		cfg->io_timeout_ms = DEFAULT_IO_TIMEOUT_MS;
}

static int
open_with(const struct lun_ops *ops, const char *target, const char *uri,
	  const struct lun_config *cfg, struct lun **out)
{
	struct lun *lun;
	int err;

	err = ops->open(target, cfg, &lun);
	if (err < 0)
		return err;
	lun->ops = ops;
	lun->cfg = *cfg;
	lun->uri = strdup(uri);
	if (!lun->uri) {
		ops->close(lun);
		return -ENOMEM;
	}
	if (!lun->info.scheme)
		lun->info.scheme = ops->scheme;
	*out = lun;
	return 0;
}

static bool
looks_like_scheme(const char *uri)
{
	size_t n = strspn(uri, "abcdefghijklmnopqrstuvwxyz0123456789+-.");

	return n >= 2 && uri[n] == ':';
}

int
lun_open(const char *uri, const struct lun_config *cfg_in, struct lun **out)
{
	struct lun_config cfg = { 0 };

	if (!uri || !*uri)
		return -EINVAL;
	if (cfg_in)
		cfg = *cfg_in;
	apply_defaults(&cfg);
	for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
		size_t n = strlen(schemes[i].prefix);

		if (strncmp(uri, schemes[i].prefix, n) == 0)
			return open_with(schemes[i].ops, uri + schemes[i].skip,
					 uri, &cfg, out);
	}
	/* Anything else is a path; "word:" is a mistyped scheme. */
	if (looks_like_scheme(uri)) {
		log_err("vfs.lun", "%s: unknown LUN scheme", uri);
		return -EINVAL;
	}
	return open_with(&lun_file_ops, uri, uri, &cfg, out);
}

int
lun_dup(struct lun *lun, struct lun **out)
{
	struct lun *dup;
	int err;

	if (!lun->ops->dup)
		return lun_open(lun->uri, &lun->cfg, out);
	err = lun->ops->dup(lun, &dup);
	if (err < 0)
		return err;
	dup->ops = lun->ops;
	dup->cfg = lun->cfg;
	dup->uri = strdup(lun->uri);
	if (!dup->uri) {
		dup->ops->close(dup);
		return -ENOMEM;
	}
	*out = dup;
	return 0;
}

void
lun_close(struct lun *lun)
{
	char *uri;

	if (!lun)
		return;
	while (lun->inflight > 0)
		if (lun_poll(lun, lun->inflight, -1) < 0)
			break;
	uri = lun->uri;
	lun->ops->close(lun);
	free(uri);
}

const struct lun_info *
lun_get_info(const struct lun *lun)
{
	return &lun->info;
}

const char *
lun_uri(const struct lun *lun)
{
	return lun->uri;
}

const char *
lun_ats_method_name(enum lun_ats_method method)
{
	switch (method) {
	case LUN_ATS_AUTO: return "auto";
	case LUN_ATS_NONE: return "none";
	case LUN_ATS_OFD_LOCK: return "ofd-lock";
	case LUN_ATS_COMPARE_WRITE: return "compare-and-write";
	case LUN_ATS_PR_MUTEX: return "pr-mutex";
	case LUN_ATS_MEM_MUTEX: return "mem-mutex";
	}
	return "unknown";
}

uint64_t
lun_default_pr_key(void)
{
	char host[256] = "";
	uint64_t key;
	pid_t pid = getpid();

	gethostname(host, sizeof(host) - 1);
	key = (uint64_t)crc32c(0, host, strlen(host)) << 32;
	key |= (uint32_t)pid;
	return key ? key : 1;
}

/* ---- requests ---- */

static void
prep(struct lun_io *io, uint8_t op, uint64_t offset, const void *buf,
     uint64_t len, unsigned int flags)
{
	io->op = op;
	io->flags = (uint8_t)flags;
	io->buf_index = -1;
	io->offset_bytes = offset;
	io->len_bytes = len;
	io->iov_one.iov_base = (void *)buf;
	io->iov_one.iov_len = len;
	io->iov = buf ? &io->iov_one : NULL;
	io->iovcnt = buf ? 1 : 0;
	io->result = 0;
}

void
lun_io_prep_read(struct lun_io *io, uint64_t offset, void *buf, uint64_t len)
{
	prep(io, LUN_OP_READ, offset, buf, len, 0);
}

void
lun_io_prep_write(struct lun_io *io, uint64_t offset, const void *buf,
		  uint64_t len, unsigned int flags)
{
	prep(io, LUN_OP_WRITE, offset, buf, len, flags);
}

void
lun_io_prep_flush(struct lun_io *io)
{
	prep(io, LUN_OP_FLUSH, 0, NULL, 0, 0);
}

void
lun_io_prep_discard(struct lun_io *io, uint64_t offset, uint64_t len)
{
	prep(io, LUN_OP_DISCARD, offset, NULL, len, 0);
}

int
lun_io_validate(const struct lun *lun, const struct lun_io *io)
{
	const struct lun_info *info = &lun->info;
	uint64_t total = 0;

	if (!io->done)
		return -EINVAL;
	if (io->op == LUN_OP_FLUSH)
		return 0;
	if (io->op != LUN_OP_READ && io->op != LUN_OP_WRITE &&
	    io->op != LUN_OP_DISCARD)
		return -EINVAL;
	if (io->op != LUN_OP_READ && lun->cfg.read_only)
		return -EROFS;
	if (io->op == LUN_OP_DISCARD) {
		if (!(info->caps & LUN_CAP_DISCARD))
			return -EOPNOTSUPP;
		total = io->len_bytes;
	} else {
		if (io->iovcnt == 0 || !io->iov || io->iovcnt > IOV_MAX)
			return -EINVAL;
		for (uint32_t i = 0; i < io->iovcnt; i++) {
			uintptr_t base = (uintptr_t)io->iov[i].iov_base;

			if (!IS_ALIGNED(base, info->buf_align) ||
			    !IS_ALIGNED(io->iov[i].iov_len,
					info->logical_sector_bytes))
				return -EINVAL;
			total += io->iov[i].iov_len;
		}
		if (total != io->len_bytes || total > info->max_io_bytes)
			return -EINVAL;
	}
	if (total == 0 ||
	    !IS_ALIGNED(io->offset_bytes, info->logical_sector_bytes) ||
	    !IS_ALIGNED(total, info->logical_sector_bytes))
		return -EINVAL;
	if (io->offset_bytes > info->size_bytes ||
	    total > info->size_bytes - io->offset_bytes)
		return -ERANGE;
	return 0;
}

int
lun_submit(struct lun *lun, struct lun_io *io)
{
	int err;

	err = lun_io_validate(lun, io);
	if (err < 0)
		return err;
	if (lun->inflight >= lun->info.queue_depth)
		return -EAGAIN;
	io->result = 0;
	io->deadline_ns =
		clock_mono_ns() + (uint64_t)lun->cfg.io_timeout_ms * NS_PER_MS;
	err = lun->ops->submit(lun, io);
	if (err < 0)
		return err;
	lun->inflight++;
	return 0;
}

int
lun_kick(struct lun *lun)
{
	return lun->ops->kick ? lun->ops->kick(lun) : 0;
}

int
lun_poll(struct lun *lun, unsigned int min_done, int timeout_ms)
{
	if (min_done > lun->inflight)
		min_done = lun->inflight;
	return lun->ops->poll(lun, min_done, timeout_ms);
}

unsigned int
lun_inflight(const struct lun *lun)
{
	return lun->inflight;
}

int
lun_event_fd(struct lun *lun)
{
	if (!lun->ops->event_fd)
		return -EOPNOTSUPP;
	return lun->ops->event_fd(lun);
}

void
lun_io_complete(struct lun *lun, struct lun_io *io, int64_t result)
{
	struct lun_stats *st = &lun->stats;

	io->result = result;
	lun->inflight--;
	switch (io->op) {
	case LUN_OP_READ:
		st->reads++;
		if (result > 0)
			st->bytes_read += (uint64_t)result;
		break;
	case LUN_OP_WRITE:
		st->writes++;
		if (result > 0)
			st->bytes_written += (uint64_t)result;
		break;
	case LUN_OP_FLUSH:
		st->flushes++;
		break;
	case LUN_OP_DISCARD:
		st->discards++;
		break;
	}
	if (result < 0) {
		st->errors++;
		if (result == -ETIMEDOUT)
			st->timeouts++;
	}
	io->done(io);
}

int
lun_register_buffers(struct lun *lun, const struct iovec *bufs,
		     unsigned int nbufs)
{
	if (lun->inflight)
		return -EBUSY;
	if (!lun->ops->register_buffers)
		return 0;
	return lun->ops->register_buffers(lun, bufs, nbufs);
}

/* ---- synchronous helpers ---- */

struct sync_wait {
	bool done;
};

static void
sync_done(struct lun_io *io)
{
	((struct sync_wait *)io->priv)->done = true;
}

static int
run_sync(struct lun *lun, struct lun_io *io)
{
	struct sync_wait wait = { false };
	bool warned = false;
	int err;

	io->done = sync_done;
	io->priv = &wait;
	for (;;) {
		err = lun_submit(lun, io);
		if (err != -EAGAIN)
			break;
		/* Queue full of the caller's async I/O: make room. */
		err = lun_poll(lun, 1, -1);
		if (err < 0)
			return err;
	}
	if (err < 0)
		return err;
	/*
	 * 'io' lives in this frame and the buffer is the caller's: never
	 * return while the request is in flight. Backends complete every
	 * request by its deadline, so a failing poll is retried, not trusted.
	 */
	while (!wait.done) {
		err = lun_poll(lun, 1, -1);
		if (err < 0) {
			if (!warned)
				log_warn("vfs.lun", "%s: poll failed (%s), still "
					 "waiting for a request", lun->uri,
					 strerror(-err));
			warned = true;
			usleep(1000);
		}
	}
	return io->result < 0 ? (int)io->result : 0;
}

int
lun_read(struct lun *lun, uint64_t offset, void *buf, uint64_t len)
{
	struct lun_io io;

	lun_io_prep_read(&io, offset, buf, len);
	return run_sync(lun, &io);
}

int
lun_write(struct lun *lun, uint64_t offset, const void *buf, uint64_t len,
	  unsigned int flags)
{
	struct lun_io io;

	if (flags & ~LUN_IO_FUA)
		return -EINVAL;
	lun_io_prep_write(&io, offset, buf, len, flags);
	return run_sync(lun, &io);
}

int
lun_flush(struct lun *lun)
{
	struct lun_io io;

	if (lun->cfg.read_only)
		return 0;
	lun_io_prep_flush(&io);
	return run_sync(lun, &io);
}

int
lun_discard(struct lun *lun, uint64_t offset, uint64_t len)
{
	struct lun_io io;

	lun_io_prep_discard(&io, offset, len);
	return run_sync(lun, &io);
}

/* ---- atomic test-and-set and reservations ---- */

int
lun_ats(struct lun *lun, uint64_t offset, const void *expected,
	const void *desired, uint64_t len)
{
	const struct lun_info *info = &lun->info;
	int rc;

	if (!lun->ops->ats || !(info->caps & LUN_CAP_ATS))
		return -EOPNOTSUPP;
	if (lun->cfg.read_only)
		return -EROFS;
	if (len != info->logical_sector_bytes &&
	    len != info->physical_sector_bytes)
		return -EINVAL;
	if (!IS_ALIGNED(offset, len) || offset > info->size_bytes - len)
		return offset > info->size_bytes - len ? -ERANGE : -EINVAL;
	if (!IS_ALIGNED((uintptr_t)expected, info->buf_align) ||
	    !IS_ALIGNED((uintptr_t)desired, info->buf_align))
		return -EINVAL;
	rc = lun->ops->ats(lun, offset, expected, desired, len);
	lun->stats.ats++;
	if (rc < 0)
		lun->stats.errors++;
	return rc;
}

static int
pr_count(struct lun *lun, int rc)
{
	lun->stats.pr_ops++;
	if (rc < 0)
		lun->stats.errors++;
	return rc;
}

int
lun_pr_register(struct lun *lun, uint64_t key)
{
	int rc;

	if (!lun->ops->pr_register)
		return -EOPNOTSUPP;
	rc = pr_count(lun, lun->ops->pr_register(lun, key));
	if (rc == 0)
		lun->pr_key = key;
	return rc;
}

uint64_t
lun_pr_key(const struct lun *lun)
{
	return lun->pr_key;
}

int
lun_pr_reserve(struct lun *lun, enum lun_pr_type type)
{
	if (!lun->ops->pr_reserve)
		return -EOPNOTSUPP;
	return pr_count(lun, lun->ops->pr_reserve(lun, type));
}

int
lun_pr_release(struct lun *lun, enum lun_pr_type type)
{
	if (!lun->ops->pr_release)
		return -EOPNOTSUPP;
	return pr_count(lun, lun->ops->pr_release(lun, type));
}

int
lun_pr_preempt(struct lun *lun, uint64_t victim_key, enum lun_pr_type type,
	       bool abort)
{
	if (!lun->ops->pr_preempt)
		return -EOPNOTSUPP;
	if (victim_key == 0)
		return -EINVAL;
	return pr_count(lun,
			lun->ops->pr_preempt(lun, victim_key, type, abort));
}

int
lun_pr_read(struct lun *lun, struct lun_pr_state *out)
{
	if (!lun->ops->pr_read)
		return -EOPNOTSUPP;
	memset(out, 0, sizeof(*out));
	return pr_count(lun, lun->ops->pr_read(lun, out));
}

/* ---- statistics ---- */

void
lun_get_stats(const struct lun *lun, struct lun_stats *out)
{
	*out = lun->stats;
}

void
lun_reset_stats(struct lun *lun)
{
	memset(&lun->stats, 0, sizeof(lun->stats));
}

uint64_t
lun_stats_ios(const struct lun_stats *st)
{
	return st->reads + st->writes + st->flushes + st->discards + st->ats +
	       st->pr_ops;
}
