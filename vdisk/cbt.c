/* SPDX-License-Identifier: MIT */
/*
 * Changed-block tracking: one bit per VDISK_CBT_BLOCK of the disk, set by
 * every write since the current epoch began, kept in "NAME-ctk.vmdk".
 *
 * The rule that matters: a wrong incremental must never happen. So the
 * map on disk is only trusted when the disk was closed cleanly:
 *   open read-write   header.open = 1, written and flushed before any
 *                     guest write can happen
 *   clean close       data flushed (vdisk_close), bitmap written, then
 *                     header.open = 0 with the bitmap's checksum, flushed
 *   next open         header.open still 1 (crash, kill -9, power cut),
 *                     a checksum mismatch or a torn header: the map is
 *                     unknown, the epoch moves on, and queries get
 *                     -ESTALE until a full backup calls vdisk_cbt_reset().
 *
 * On-disk layout (little-endian): a 4 KiB header, then the bitmap.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/log.h"
#include "vdisk/vdisk-internal.h"

#define CBT_MAGIC "VSTKCBT1"
#define CBT_VERSION 1
#define CBT_HDR_BYTES 4096u

/* Changelog: version 1, the first. */
struct cbt_hdr_disk {
	char magic[8];
	uint32_t version;
	uint32_t block_bytes;
	uint64_t epoch;
	uint64_t capacity;
	uint32_t known;        /* 0: the map cannot be trusted */
	uint32_t open;         /* 1 while opened read-write */
	uint32_t bitmap_crc;   /* crc32c of the bitmap bytes */
	uint32_t hdr_crc;      /* crc32c of the bytes above */
} __attribute__((packed));

static_assert(sizeof(struct cbt_hdr_disk) == 48, "cbt header size");
static_assert(offsetof(struct cbt_hdr_disk, hdr_crc) == 44, "hdr_crc");

struct cbt_hdr {
	uint64_t epoch, capacity;
	uint32_t block_bytes, bitmap_crc;
	bool known, open;
};

struct vdisk_cbt {
	struct vdisk_store *st;
	struct store_file *f;
	bool writable;
	struct cbt_hdr h;
	uint64_t nbits;
	uint64_t *bits;         /* atomically OR-ed by writers */
	size_t bitmap_bytes;
};

static void
hdr_out(const struct cbt_hdr *h, unsigned char *buf)
{
	struct cbt_hdr_disk d;

	memset(buf, 0, CBT_HDR_BYTES);
	memset(&d, 0, sizeof(d));
	memcpy(d.magic, CBT_MAGIC, 8);
	d.version = htole32(CBT_VERSION);
	d.block_bytes = htole32(h->block_bytes);
	d.epoch = htole64(h->epoch);
	d.capacity = htole64(h->capacity);
	d.known = htole32(h->known ? 1 : 0);
	d.open = htole32(h->open ? 1 : 0);
	d.bitmap_crc = htole32(h->bitmap_crc);
	d.hdr_crc = htole32(crc32c(0, &d, offsetof(struct cbt_hdr_disk,
						   hdr_crc)));
	memcpy(buf, &d, sizeof(d));
}

static int
hdr_in(const unsigned char *buf, struct cbt_hdr *h)
{
	struct cbt_hdr_disk d;

	memcpy(&d, buf, sizeof(d));
	if (memcmp(d.magic, CBT_MAGIC, 8) != 0)
		return -EUCLEAN;
	if (le32toh(d.hdr_crc) !=
	    crc32c(0, &d, offsetof(struct cbt_hdr_disk, hdr_crc)))
		return -EUCLEAN;
	if (le32toh(d.version) != CBT_VERSION ||
	    le32toh(d.block_bytes) != VDISK_CBT_BLOCK)
		return -EUCLEAN;
	h->block_bytes = le32toh(d.block_bytes);
	h->epoch = le64toh(d.epoch);
	h->capacity = le64toh(d.capacity);
	h->known = le32toh(d.known) != 0;
	h->open = le32toh(d.open) != 0;
	h->bitmap_crc = le32toh(d.bitmap_crc);
	return 0;
}

static size_t
bitmap_bytes_for(uint64_t capacity)
{
	uint64_t nbits = DIV_ROUND_UP(capacity, (uint64_t)VDISK_CBT_BLOCK);

	return (size_t)DIV_ROUND_UP(nbits, 64) * 8;
}

static int
write_hdr(struct vdisk_cbt *c)
{
	unsigned char buf[CBT_HDR_BYTES];
	int rc;

	hdr_out(&c->h, buf);
	rc = c->st->ops->pwrite(c->f, buf, sizeof(buf), 0);
	return rc ? rc : c->st->ops->sync(c->f);
}

int
vdisk_cbt_create(struct vdisk_store *st, const char *name, uint64_t capacity)
{
	struct vdisk_cbt c = { .st = st };
	int rc;

	st->ops->unlink(st, name);
	rc = st->ops->file_open(st, name, STORE_CREATE, &c.f);
	if (rc < 0)
		return rc;
	c.h.block_bytes = VDISK_CBT_BLOCK;
	c.h.epoch = 1;
	c.h.capacity = capacity;
	c.h.known = true;
	c.h.bitmap_crc = crc32c(0, NULL, 0);
	/* An all-zero bitmap: a sparse tail reads as zeros. */
	rc = st->ops->set_size(c.f, CBT_HDR_BYTES + bitmap_bytes_for(capacity));
	if (rc == 0) {
		void *zero = calloc(1, bitmap_bytes_for(capacity) + 1);

		if (!zero)
			rc = -ENOMEM;
		else
			c.h.bitmap_crc = crc32c(0, zero,
						bitmap_bytes_for(capacity));
		free(zero);
	}
	if (rc == 0)
		rc = write_hdr(&c);
	st->ops->file_close(c.f);
	if (rc < 0)
		st->ops->unlink(st, name);
	return rc;
}

static void
become_unknown(struct vdisk_cbt *c, const char *why)
{
	log_warn("vdisk.cbt", "changed-block map unknown (%s): the next "
		 "backup must be full", why);
	c->h.known = false;
	c->h.epoch++;
	memset(c->bits, 0, c->bitmap_bytes);
}

void
vdisk_cbt_forget(struct vdisk_cbt *c, const char *why)
{
	become_unknown(c, why);
}

int
vdisk_cbt_load(struct vdisk_store *st, const char *name, uint64_t capacity,
	       bool writable, struct vdisk_cbt **out)
{
	unsigned char hbuf[CBT_HDR_BYTES];
	struct vdisk_cbt *c;
	int rc;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->st = st;
	c->writable = writable;
	c->bitmap_bytes = bitmap_bytes_for(capacity);
	c->nbits = DIV_ROUND_UP(capacity, (uint64_t)VDISK_CBT_BLOCK);
	c->bits = calloc(1, c->bitmap_bytes + 8);
	if (!c->bits) {
		rc = -ENOMEM;
		goto err_free;
	}
	rc = st->ops->file_open(st, name, writable ? 0 : STORE_RDONLY, &c->f);
	if (rc == -ENOENT && writable)
		rc = vdisk_cbt_create(st, name, capacity) ?:
		     st->ops->file_open(st, name, 0, &c->f);
	if (rc < 0) {
		vdisk_err("vdisk.cbt", "%s: %s", name, strerror(-rc));
		goto err_free;
	}
	rc = st->ops->pread(c->f, hbuf, sizeof(hbuf), 0);
	if (rc < 0)
		goto err_close;
	if (hdr_in(hbuf, &c->h) < 0) {
		memset(&c->h, 0, sizeof(c->h));
		c->h.block_bytes = VDISK_CBT_BLOCK;
		c->h.epoch = 1;
		become_unknown(c, "damaged header");
	} else if (c->h.capacity != capacity) {
		become_unknown(c, "capacity changed behind its back");
	} else if (c->h.open) {
		become_unknown(c, "the disk was not closed cleanly");
	} else if (c->h.known) {
		rc = st->ops->pread(c->f, c->bits, c->bitmap_bytes,
				    CBT_HDR_BYTES);
		if (rc < 0)
			goto err_close;
		if (crc32c(0, c->bits, c->bitmap_bytes) != c->h.bitmap_crc)
			become_unknown(c, "bitmap checksum mismatch");
	}
	c->h.capacity = capacity;
	if (writable) {
		c->h.open = true;
		rc = write_hdr(c);
		if (rc < 0)
			goto err_close;
	}
	*out = c;
	return 0;

err_close:
	st->ops->file_close(c->f);
err_free:
	free(c->bits);
	free(c);
	return rc;
}

void
vdisk_cbt_mark(struct vdisk_cbt *c, uint64_t off, uint64_t len)
{
	uint64_t first, last;

	if (!c || len == 0)
		return;
	first = off / VDISK_CBT_BLOCK;
	last = (off + len - 1) / VDISK_CBT_BLOCK;
	for (uint64_t b = first; b <= last && b < c->nbits; b++) {
		uint64_t mask = 1ull << (b % 64);
		uint64_t *w = &c->bits[b / 64];

		/* Plain load first: most writes hit already-set bits. */
		if (!(__atomic_load_n(w, __ATOMIC_RELAXED) & mask))
			__atomic_fetch_or(w, mask, __ATOMIC_RELAXED);
	}
}

static int
write_map(struct vdisk_cbt *c)
{
	int rc;

	rc = c->st->ops->set_size(c->f, CBT_HDR_BYTES + c->bitmap_bytes);
	if (rc == 0)
		rc = c->st->ops->pwrite(c->f, c->bits, c->bitmap_bytes,
					CBT_HDR_BYTES);
	if (rc == 0)
		rc = c->st->ops->sync(c->f);
	if (rc < 0)
		return rc;
	c->h.bitmap_crc = crc32c(0, c->bits, c->bitmap_bytes);
	c->h.open = false;
	return write_hdr(c);
}

void
vdisk_cbt_close(struct vdisk_cbt *c)
{
	if (!c)
		return;
	/* A failure leaves header.open set: the next open sees unknown. */
	if (c->writable && write_map(c) < 0)
		log_warn("vdisk.cbt", "could not write the map at close; it "
			 "will be unknown at the next open");
	c->st->ops->file_close(c->f);
	free(c->bits);
	free(c);
}

int
vdisk_cbt_resize(struct vdisk_cbt *c, uint64_t capacity)
{
	size_t nbytes = bitmap_bytes_for(capacity);
	uint64_t old_cap = c->h.capacity;
	uint64_t *bits;

	if (nbytes > c->bitmap_bytes) {
		bits = realloc(c->bits, nbytes + 8);
		if (!bits)
			return -ENOMEM;
		memset((char *)bits + c->bitmap_bytes, 0,
		       nbytes + 8 - c->bitmap_bytes);
		c->bits = bits;
		c->bitmap_bytes = nbytes;
	}
	c->nbits = DIV_ROUND_UP(capacity, (uint64_t)VDISK_CBT_BLOCK);
	c->h.capacity = capacity;
	/* The new range counts as changed: a backup of the old size does
	 * not hold it. */
	if (capacity > old_cap)
		vdisk_cbt_mark(c, ALIGN_DOWN(old_cap, 512ull),
			       capacity - ALIGN_DOWN(old_cap, 512ull));
	return 0;
}

bool
vdisk_cbt_known(const struct vdisk_cbt *c)
{
	return c->h.known;
}

uint64_t
vdisk_cbt_epoch(const struct vdisk_cbt *c)
{
	return c->h.epoch;
}

int
vdisk_cbt_walk(struct vdisk_cbt *c, uint64_t epoch, vdisk_extent_fn fn,
	       void *priv)
{
	uint64_t b = 0;

	if (!c->h.known || epoch != c->h.epoch)
		return -ESTALE;
	while (b < c->nbits) {
		uint64_t start, end;
		int rc;

		if (!(__atomic_load_n(&c->bits[b / 64], __ATOMIC_RELAXED) &
		      (1ull << (b % 64)))) {
			b++;
			continue;
		}
		start = b;
		while (b < c->nbits &&
		       (__atomic_load_n(&c->bits[b / 64], __ATOMIC_RELAXED) &
			(1ull << (b % 64))))
			b++;
		end = MIN(b * VDISK_CBT_BLOCK, c->h.capacity);
		rc = fn(priv, start * VDISK_CBT_BLOCK,
			end - start * VDISK_CBT_BLOCK, VDISK_EXTENT_DATA);
		if (rc)
			return rc;
	}
	return 0;
}

int
vdisk_cbt_new_epoch(struct vdisk_cbt *c, uint64_t *epoch)
{
	if (!c->writable)
		return -EROFS;
	memset(c->bits, 0, c->bitmap_bytes);
	c->h.known = true;
	c->h.epoch++;
	*epoch = c->h.epoch;
	/* Still open: the header keeps open = 1 until the clean close. */
	return write_hdr(c);
}

int
vdisk_cbt_peek(struct vdisk_store *st, const char *name, bool *known,
	       bool *open, uint64_t *epoch)
{
	unsigned char buf[CBT_HDR_BYTES];
	struct store_file *f;
	struct cbt_hdr h;
	int rc;

	*known = *open = false;
	*epoch = 0;
	rc = st->ops->file_open(st, name, STORE_RDONLY, &f);
	if (rc < 0)
		return rc;
	rc = st->ops->pread(f, buf, sizeof(buf), 0);
	st->ops->file_close(f);
	if (rc < 0)
		return rc;
	rc = hdr_in(buf, &h);
	if (rc < 0)
		return rc;
	*known = h.known;
	*open = h.open;
	*epoch = h.epoch;
	return 0;
}

int
vdisk_cbt_check(struct vdisk_store *st, const char *name, uint64_t capacity,
		bool repair, char *err, size_t errlen)
{
	unsigned char buf[CBT_HDR_BYTES];
	struct store_file *f;
	struct cbt_hdr h;
	int rc;

	rc = st->ops->file_open(st, name, STORE_RDONLY, &f);
	if (rc == -ENOENT) {
		snprintf(err, errlen, "CBT map %s is missing", name);
		goto bad;
	}
	if (rc < 0)
		return rc;
	rc = st->ops->pread(f, buf, sizeof(buf), 0);
	st->ops->file_close(f);
	if (rc < 0)
		return rc;
	if (hdr_in(buf, &h) < 0) {
		snprintf(err, errlen, "CBT map %s has a damaged header", name);
		goto bad;
	}
	if (h.capacity != capacity) {
		snprintf(err, errlen, "CBT map %s is for another capacity",
			 name);
		goto bad;
	}
	return 0;
bad:
	if (!repair)
		return 1;
	/* Loading read-write turns any damage into "unknown" and writes a
	 * fresh header; closing writes a consistent map. */
	{
		struct vdisk_cbt *c;

		rc = vdisk_cbt_load(st, name, capacity, true, &c);
		if (rc < 0)
			return rc;
		if (c->h.known)
			become_unknown(c, "repaired");
		vdisk_cbt_close(c);
	}
	return 2;
}
