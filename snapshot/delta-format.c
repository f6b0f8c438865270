/* SPDX-License-Identifier: MIT */
/*
 * Encoders and validators of the delta disk format (delta-format.h).
 * Everything read from a file goes through here before use, and every
 * failure is -EUCLEAN with a reason for people.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/compiler.h"
#include "common/crc32c.h"
#include "snapshot/delta-format.h"

/* Largest capacity (vdisk's limit, 64 TiB). */
#define MAX_CAPACITY (64ull << 40)

uint32_t
delta_root_entries(uint64_t capacity)
{
	uint64_t grains = DIV_ROUND_UP(capacity, (uint64_t)DELTA_GRAIN);

	return (uint32_t)DIV_ROUND_UP(grains, (uint64_t)DELTA_GD_GRAINS);
}

uint64_t
delta_data_start(uint64_t capacity)
{
	uint64_t root = (uint64_t)delta_root_entries(capacity) * 8;

	return DELTA_ROOT_OFFSET + ALIGN_UP(root, (uint64_t)DELTA_GRAIN);
}

void
delta_hdr_init(struct delta_hdr *h, uint64_t capacity)
{
	struct timespec ts;

	memset(h, 0, sizeof(*h));
	h->capacity = capacity;
	h->seq = 1;
	h->root_entries = delta_root_entries(capacity);
	h->root_offset = DELTA_ROOT_OFFSET;
	h->data_start = delta_data_start(capacity);
	h->alloc_end = h->data_start;
	if (getrandom(h->uuid, sizeof(h->uuid), 0) != sizeof(h->uuid))
		memset(h->uuid, 0x5a, sizeof(h->uuid));
	clock_gettime(CLOCK_REALTIME, &ts);
	h->created_ns = (uint64_t)ts.tv_sec * 1000000000ull +
			(uint64_t)ts.tv_nsec;
}

void
delta_hdr_out(const struct delta_hdr *h, void *buf)
{
	struct delta_hdr_disk d;

	memset(&d, 0, sizeof(d));
	memcpy(d.magic, DELTA_MAGIC, 8);
	d.version = htole32(DELTA_VERSION);
	d.grain_bytes = htole32(DELTA_GRAIN);
	d.capacity = htole64(h->capacity);
	d.seq = htole64(h->seq);
	d.flags = htole32(h->flags);
	d.root_entries = htole32(h->root_entries);
	d.root_offset = htole64(h->root_offset);
	d.data_start = htole64(h->data_start);
	d.alloc_end = htole64(h->alloc_end);
	memcpy(d.uuid, h->uuid, 16);
	memcpy(d.parent_uuid, h->parent_uuid, 16);
	d.created_ns = htole64(h->created_ns);
	d.grains = htole64(h->grains);
	d.crc = htole32(crc32c(0, &d, offsetof(struct delta_hdr_disk, crc)));
	memcpy(buf, &d, sizeof(d));
}

static int
bad(char *err, size_t errlen, const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", why);
	return -EUCLEAN;
}

int
delta_hdr_in(const void *buf, struct delta_hdr *h, char *err, size_t errlen)
{
	struct delta_hdr_disk d;

	memcpy(&d, buf, sizeof(d));
	if (memcmp(d.magic, DELTA_MAGIC, 8))
		return bad(err, errlen, "not a delta disk (bad magic)");
	if (le32toh(d.crc) !=
	    crc32c(0, &d, offsetof(struct delta_hdr_disk, crc)))
		return bad(err, errlen, "header checksum mismatch");
	if (le32toh(d.version) != DELTA_VERSION)
		return bad(err, errlen, "unsupported delta version");
	if (le32toh(d.grain_bytes) != DELTA_GRAIN)
		return bad(err, errlen, "unsupported grain size");
	memset(h, 0, sizeof(*h));
	h->capacity = le64toh(d.capacity);
	h->seq = le64toh(d.seq);
	h->flags = le32toh(d.flags);
	h->root_entries = le32toh(d.root_entries);
	h->root_offset = le64toh(d.root_offset);
	h->data_start = le64toh(d.data_start);
	h->alloc_end = le64toh(d.alloc_end);
	memcpy(h->uuid, d.uuid, 16);
	memcpy(h->parent_uuid, d.parent_uuid, 16);
	h->created_ns = le64toh(d.created_ns);
	h->grains = le64toh(d.grains);
	if (h->capacity == 0 || h->capacity % DELTA_SECTOR ||
	    h->capacity > MAX_CAPACITY)
		return bad(err, errlen, "bad capacity in delta header");
	if (h->flags & ~DELTA_FLAGS_KNOWN)
		return bad(err, errlen, "unknown delta header flags");
	if (h->root_entries != delta_root_entries(h->capacity) ||
	    h->root_offset != DELTA_ROOT_OFFSET ||
	    h->data_start != delta_data_start(h->capacity))
		return bad(err, errlen, "delta header geometry mismatch");
	if (h->alloc_end < h->data_start || h->alloc_end % DELTA_GRAIN ||
	    h->alloc_end / DELTA_GRAIN > DELTA_MAX_SLOT)
		return bad(err, errlen, "bad allocation end in delta header");
	return 0;
}

int
delta_hdr_pick(const void *buf0, const void *buf1, struct delta_hdr *h,
	       unsigned int *copy, char *err, size_t errlen)
{
	struct delta_hdr a, b;
	int ra = delta_hdr_in(buf0, &a, err, errlen);
	int rb = delta_hdr_in(buf1, &b, NULL, 0);

	if (ra < 0 && rb < 0)
		return ra;
	if (ra == 0 && (rb < 0 || a.seq >= b.seq)) {
		*h = a;
		*copy = 0;
	} else {
		*h = b;
		*copy = 1;
	}
	if (ra == 0 && rb == 0 && a.capacity != b.capacity)
		return bad(err, errlen, "delta header copies disagree");
	return 0;
}

static uint32_t
check24(enum delta_level level, uint64_t index, uint64_t low40)
{
	uint64_t w[3] = { htole64((uint64_t)level), htole64(index),
			  htole64(low40) };

	return crc32c(0, w, sizeof(w)) & 0xffffffu;
}

uint64_t
delta_gte_make(uint64_t grain, enum delta_kind kind, uint64_t slot)
{
	uint64_t low;

	if (kind == DELTA_ABSENT)
		return 0;
	low = (slot & DELTA_MAX_SLOT) | (uint64_t)kind << 36;
	return low | (uint64_t)check24(DELTA_LEVEL_GT, grain, low) << 40;
}

int
delta_gte_parse(uint64_t grain, uint64_t raw, uint64_t *slot)
{
	uint64_t low = raw & ((1ull << 40) - 1);
	unsigned int kind = (unsigned int)(low >> 36);

	if (raw == 0) {
		*slot = 0;
		return DELTA_ABSENT;
	}
	if ((raw >> 40) != check24(DELTA_LEVEL_GT, grain, low))
		return -EUCLEAN;
	*slot = low & DELTA_MAX_SLOT;
	if (kind == DELTA_DATA && *slot != 0)
		return DELTA_DATA;
	if (kind == DELTA_ZERO && *slot == 0)
		return DELTA_ZERO;
	return -EUCLEAN;
}

uint64_t
delta_ptr_make(enum delta_level level, uint64_t index, uint64_t sector)
{
	uint64_t low = (sector & DELTA_MAX_SECTOR) | 1ull << 39;

	return low | (uint64_t)check24(level, index, low) << 40;
}

int
delta_ptr_parse(enum delta_level level, uint64_t index, uint64_t raw,
		uint64_t *sector)
{
	uint64_t low = raw & ((1ull << 40) - 1);

	if (raw == 0)
		return 0;
	if (!(low & (1ull << 39)) ||
	    (raw >> 40) != check24(level, index, low))
		return -EUCLEAN;
	*sector = low & DELTA_MAX_SECTOR;
	return *sector ? 1 : -EUCLEAN;
}
