/* SPDX-License-Identifier: MIT */
/*
 * Session I/O: every metadata write, ATS and flush of a session goes
 * through here so that none is issued once the session's lease has lapsed
 * (self-fencing), and so a PR reservation conflict marks the session
 * fenced at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "vfs-cluster/vfs-internal.h"

uint64_t
vfs_now(const struct vfs *vfs)
{
	if (vfs->flags & VFS_MOUNT_MANUAL_HEARTBEAT)
		return atomic_load(&vfs->manual_now_ns);
	return clock_mono_ns();
}

bool
vfs_writable(const struct vfs *vfs)
{
	return !(vfs->flags & (VFS_MOUNT_READ_ONLY | VFS_MOUNT_INSPECT));
}

void
vfs_sleep_ns(const struct vfs *vfs, uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / NS_PER_SEC),
			       (long)(ns % NS_PER_SEC) };

	if (vfs->flags & VFS_MOUNT_MANUAL_HEARTBEAT)
		return;
	nanosleep(&ts, NULL);
}

void *
vfs_alloc_buf(size_t len)
{
	void *p;

	if (posix_memalign(&p, 4096, len ? ALIGN_UP(len, 512) : 512))
		return NULL;
	return p;
}

static int
note_result(struct vfs *vfs, int rc)
{
	/* A conflict means fenced only under our standing reservation; with
	 * a PR-mutex ATS it is another host's short reservation. */
	if (rc == -EBADE && vfs->pr_fencing &&
	    !atomic_exchange(&vfs->fenced, true))
		log_err(VFS_LOG, "slot %d: reservation conflict: this host "
			"has been fenced by another host", vfs->slot);
	return rc;
}

int
vfs_io_read(struct vfs *vfs, struct lun *lun, uint64_t off, void *buf,
	    uint64_t len)
{
	return note_result(vfs, lun_read(lun, off, buf, len));
}

int
vfs_io_write(struct vfs *vfs, struct lun *lun, uint64_t off, const void *buf,
	     uint64_t len, unsigned int flags)
{
	int rc = hb_write_allowed(vfs, vfs_now(vfs));

	if (rc < 0)
		return rc;
	return note_result(vfs, lun_write(lun, off, buf, len, flags));
}

int
vfs_io_ats(struct vfs *vfs, struct lun *lun, uint64_t off,
	   const void *expected, const void *desired)
{
	int rc = hb_write_allowed(vfs, vfs_now(vfs));

	if (rc < 0)
		return rc;
	if (vfs->paxos) {
		/* The mutex's state lives in the session: one user, 'mu'. */
		assert(lun == vfs->lun);
		return note_result(vfs, paxos_ats(&vfs->px, lun, off, expected,
						  desired, VFS_SECTOR));
	}
	return note_result(vfs, lun_ats(lun, off, expected, desired,
					VFS_SECTOR));
}

int
vfs_io_flush(struct vfs *vfs, struct lun *lun)
{
	return note_result(vfs, lun_flush(lun));
}

/* One shared buffer of zeros for every zeroing write (never modified). */
static uint8_t *zero_buf;
static pthread_once_t zero_once = PTHREAD_ONCE_INIT;
#define ZERO_CHUNK (1u << 20)
#define ZERO_DEPTH 16

static void
zero_buf_init(void)
{
	zero_buf = vfs_alloc_buf(ZERO_CHUNK);
	if (zero_buf)
		memset(zero_buf, 0, ZERO_CHUNK);
}

static void
zero_done(struct lun_io *io)
{
	int *err = io->priv;

	if (io->result < 0 && *err == 0)
		*err = (int)io->result;
}

int
vfs_io_zero(struct vfs *vfs, struct lun *lun, uint64_t off, uint64_t len)
{
	struct lun_io ios[ZERO_DEPTH];
	int err = 0, rc;

	pthread_once(&zero_once, zero_buf_init);
	if (!zero_buf)
		return -ENOMEM;
	/* Batches of ZERO_DEPTH chunks in flight: eager zeroing of a big
	 * file runs near the LUN's streaming rate. */
	while (len && err == 0) {
		unsigned int n = 0;

		err = hb_write_allowed(vfs, vfs_now(vfs));
		while (err == 0 && len && n < ZERO_DEPTH) {
			uint64_t c = MIN(len, (uint64_t)ZERO_CHUNK);

			lun_io_prep_write(&ios[n], off, zero_buf, c, 0);
			ios[n].done = zero_done;
			ios[n].priv = &err;
			rc = lun_submit(lun, &ios[n]);
			if (rc < 0) {
				err = rc;
				break;
			}
			n++;
			off += c;
			len -= c;
		}
		while (lun_inflight(lun) > 0) {
			rc = lun_poll(lun, lun_inflight(lun), -1);
			if (rc < 0) {
				if (err == 0)
					err = rc;
				break;
			}
		}
	}
	return note_result(vfs, err);
}

struct batch {
	int err;
};

static void
batch_done(struct lun_io *io)
{
	struct batch *b = io->priv;

	if (io->result < 0 && b->err == 0)
		b->err = (int)io->result;
}

int
vfs_io_write_many(struct vfs *vfs, struct lun *lun, const struct io_piece *p,
		  unsigned int n)
{
	unsigned int depth = MIN(lun_get_info(lun)->queue_depth, 32u);
	struct lun_io *ios;
	struct batch b = { 0 };
	int rc;

	if (n == 0)
		return 0;
	if (vfs) {
		rc = hb_write_allowed(vfs, vfs_now(vfs));
		if (rc < 0)
			return rc;
	}
	ios = calloc(depth, sizeof(*ios));
	if (!ios)
		return -ENOMEM;
	for (unsigned int i = 0; i < n && b.err == 0;) {
		unsigned int k = 0;

		for (; k < depth && i < n; k++, i++) {
			lun_io_prep_write(&ios[k], p[i].off, p[i].buf,
					  p[i].len, 0);
			ios[k].done = batch_done;
			ios[k].priv = &b;
			rc = lun_submit(lun, &ios[k]);
			if (rc < 0) {
				b.err = rc;
				break;
			}
		}
		while (lun_inflight(lun) > 0) {
			rc = lun_poll(lun, lun_inflight(lun), -1);
			if (rc < 0) {
				if (b.err == 0)
					b.err = rc;
				break;
			}
		}
	}
	free(ios);
	return vfs ? note_result(vfs, b.err) : b.err;
}

int
vfs_io_read_long(struct lun *lun, uint64_t off, void *buf, uint64_t len)
{
	uint64_t max = lun_get_info(lun)->max_io_bytes;

	while (len) {
		uint64_t n = MIN(len, max);
		int rc = lun_read(lun, off, buf, n);

		if (rc < 0)
			return rc;
		off += n;
		buf = (uint8_t *)buf + n;
		len -= n;
	}
	return 0;
}
