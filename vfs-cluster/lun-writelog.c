/* SPDX-License-Identifier: MIT */
/*
 * The write log behind "faulty,log=PATH": userspace dm-log-writes.
 *
 * File format: a sequence of records, each a 32-byte little-endian header
 * followed by 'len' data bytes for the two write types:
 *   le32 magic "WLOG" | le32 type | le64 seq | le64 offset | le32 len |
 *   le32 crc32c(data)
 * A discard's 'len' is the length of the range and no data follows.
 * Types: 1 write, 2 FUA write, 3 flush, 4 discard. A torn tail (crash of
 * the logging process mid-record) ends the log at the last whole record.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/log.h"
#include "vfs-cluster/lun-faulty.h"
#include "vfs-cluster/lun-writelog.h"

#define WL_MAGIC 0x474f4c57u /* "WLOG" */

struct wl_hdr {
	uint32_t magic, type;
	uint64_t seq, offset;
	uint32_t len, crc;
};
static_assert(sizeof(struct wl_hdr) == 32, "write-log header is 32 bytes");

struct wl_record {
	uint32_t type;
	uint64_t offset;
	uint32_t len;
	uint32_t crc;
	off_t data_pos;   /* in the log file */
};

struct lun_writelog {
	int fd;
	struct wl_record *recs;
	size_t nrecs;
	unsigned int *point_end; /* records before point k: point_end[k] */
	unsigned int npoints;
	uint64_t nwrites;
};

int
wl_append(int fd, uint64_t seq, uint32_t type, uint64_t offset,
	  const struct iovec *iov, unsigned int iovcnt, uint32_t len)
{
	struct wl_hdr h = {
		.magic = htole32(WL_MAGIC),
		.type = htole32(type),
		.seq = htole64(seq),
		.offset = htole64(offset),
		.len = htole32(len),
	};
	bool has_data = wl_has_data(type);
	struct iovec v[1 + 64];
	uint32_t crc = 0;
	unsigned int n = 0;
	ssize_t total = sizeof(h), rc;
	uint8_t *gather = NULL;

	if (has_data && iovcnt > 64) {
		/* A long vector (a merge's batch of grains): gathered into
		 * one buffer, so the record still goes out in one writev. */
		size_t at = 0;

		gather = malloc(len ? len : 1);
		if (!gather)
			return -ENOMEM;
		for (unsigned int i = 0; i < iovcnt && at < len; i++) {
			size_t l = MIN(iov[i].iov_len, len - at);

			memcpy(gather + at, iov[i].iov_base, l);
			at += l;
		}
		rc = wl_append(fd, seq, type, offset,
			       &(struct iovec){ gather, at }, 1, len);
		free(gather);
		return (int)rc;
	}
	v[n++] = (struct iovec){ &h, sizeof(h) };
	for (unsigned int i = 0; has_data && i < iovcnt; i++) {
		crc = crc32c(crc, iov[i].iov_base, iov[i].iov_len);
		v[n++] = iov[i];
		total += (ssize_t)iov[i].iov_len;
	}
	h.crc = htole32(crc);
	/* One O_APPEND writev keeps records whole between processes. */
	rc = writev(fd, v, (int)n);
	if (rc < 0)
		return -errno;
	return rc == total ? 0 : -EIO;
}

static int
add_record(struct lun_writelog *log, const struct wl_hdr *h, off_t pos,
	   size_t *cap)
{
	struct wl_record *r;

	if (log->nrecs == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;

		r = realloc(log->recs, ncap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		log->recs = r;
		*cap = ncap;
	}
	r = &log->recs[log->nrecs++];
	r->type = le32toh(h->type);
	r->offset = le64toh(h->offset);
	r->len = le32toh(h->len);
	r->crc = le32toh(h->crc);
	r->data_pos = pos;
	return 0;
}

static int
index_points(struct lun_writelog *log)
{
	unsigned int n = 0;

	log->point_end = calloc(log->nrecs + 1, sizeof(*log->point_end));
	if (!log->point_end)
		return -ENOMEM;
	log->point_end[n++] = 0;
	for (size_t i = 0; i < log->nrecs; i++) {
		uint32_t t = log->recs[i].type;

		if (t == WL_WRITE || t == WL_FUA_WRITE)
			log->nwrites++;
		if (t == WL_FLUSH || t == WL_FUA_WRITE)
			log->point_end[n++] = (unsigned int)(i + 1);
	}
	log->npoints = n - 1;
	return 0;
}

int
lun_writelog_open(const char *path, struct lun_writelog **out)
{
	struct lun_writelog *log = calloc(1, sizeof(*log));
	size_t cap = 0;
	off_t pos = 0;
	int err;

	if (!log)
		return -ENOMEM;
	log->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (log->fd < 0) {
		err = -errno;
		free(log);
		return err;
	}
	for (;;) {
		struct wl_hdr h;
		ssize_t n = pread(log->fd, &h, sizeof(h), pos);
		uint32_t len;

		if (n != (ssize_t)sizeof(h) || le32toh(h.magic) != WL_MAGIC)
			break;
		/* An unknown type is corruption: the log ends before it. */
		if (le32toh(h.type) < WL_WRITE || le32toh(h.type) > WL_DISCARD) {
			log_warn("vfs.lun", "%s: bad record at %lld, log "
				 "truncated there", path, (long long)pos);
			break;
		}
		len = wl_has_data(le32toh(h.type)) ? le32toh(h.len) : 0;
		err = add_record(log, &h, pos + (off_t)sizeof(h), &cap);
		if (err < 0)
			goto err_close;
		pos += (off_t)sizeof(h) + len;
	}
	/* A record whose data runs past the end is a torn tail: drop it. */
	while (log->nrecs) {
		struct stat st;
		const struct wl_record *r = &log->recs[log->nrecs - 1];
		off_t end = r->data_pos +
			    (wl_has_data(r->type) ? (off_t)r->len : 0);

		if (fstat(log->fd, &st) == 0 && end <= st.st_size)
			break;
		log->nrecs--;
	}
	err = index_points(log);
	if (err < 0)
		goto err_close;
	*out = log;
	return 0;

err_close:
	lun_writelog_close(log);
	return err;
}

void
lun_writelog_close(struct lun_writelog *log)
{
	if (!log)
		return;
	close(log->fd);
	free(log->recs);
	free(log->point_end);
	free(log);
}

unsigned int
lun_writelog_points(const struct lun_writelog *log)
{
	return log->npoints;
}

uint64_t
lun_writelog_writes(const struct lun_writelog *log)
{
	return log->nwrites;
}

static int
apply(const struct lun_writelog *log, const struct wl_record *r,
      struct lun *target, void **buf, size_t *bufcap, uint32_t max_len)
{
	uint32_t len = MIN(r->len, max_len);

	if (r->type == WL_FLUSH || len == 0)
		return 0;
	if (r->type == WL_DISCARD) {
		if (!(lun_get_info(target)->caps & LUN_CAP_DISCARD))
			return 0;
		return lun_discard(target, r->offset, len);
	}
	if (*bufcap < r->len) {
		free(*buf);
		if (posix_memalign(buf, 4096, r->len))
			return *buf = NULL, *bufcap = 0, -ENOMEM;
		*bufcap = r->len;
	}
	if (pread(log->fd, *buf, r->len, r->data_pos) != (ssize_t)r->len)
		return -EIO;
	if (crc32c(0, *buf, r->len) != r->crc) {
		log_err("vfs.lun", "write log: record at %lld is corrupt",
			(long long)r->data_pos);
		return -EUCLEAN;
	}
	return lun_write(target, r->offset, *buf, len, 0);
}

static uint64_t
rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

int
lun_writelog_replay(const struct lun_writelog *log, struct lun *target,
		    unsigned int point, uint64_t subset_seed)
{
	return lun_writelog_replay_from(log, target, 0, point, subset_seed);
}

int
lun_writelog_replay_from(const struct lun_writelog *log, struct lun *target,
			 unsigned int from, unsigned int point,
			 uint64_t subset_seed)
{
	uint32_t sector;
	unsigned int end, next_end;
	size_t bufcap = 0;
	void *buf = NULL;
	int err = 0;

	if (point > log->npoints || from > point)
		return -ERANGE;
	sector = lun_get_info(target)->logical_sector_bytes;
	end = log->point_end[point];
	for (unsigned int i = log->point_end[from]; i < end && err == 0; i++)
		err = apply(log, &log->recs[i], target, &buf, &bufcap,
			    UINT32_MAX);
	if (err == 0 && subset_seed) {
		uint64_t s = subset_seed | 1;

		next_end = point < log->npoints ? log->point_end[point + 1] :
						  (unsigned int)log->nrecs;
		for (unsigned int i = end; i < next_end && err == 0; i++) {
			const struct wl_record *r = &log->recs[i];

			if (!(rng_next(&s) & 1))
				continue;
			/* The last write that lands may land only partly. */
			if (i + 1 == next_end && r->len > sector &&
			    (rng_next(&s) & 1))
				err = apply(log, r, target, &buf, &bufcap,
					    (uint32_t)(rng_next(&s) %
						       (r->len / sector)) *
						    sector);
			else
				err = apply(log, r, target, &buf, &bufcap,
					    UINT32_MAX);
		}
	}
	if (err == 0)
		err = lun_flush(target);
	free(buf);
	return err;
}
