/* SPDX-License-Identifier: MIT */
/*
 * The delta disk (redo log) on-disk format, "VSDELTA1": bytes, encoders
 * and validators. Everything little-endian.
 *
 *   [0, 4 KiB)        header copy 0 (512 bytes used)
 *   [4 KiB, 8 KiB)    header copy 1: the copy with the valid checksum
 *                     and the higher sequence number wins, so a header
 *                     write never has to be atomic
 *   [8 KiB, ...)      root table: one 64-bit pointer per 16 MiB of
 *                     capacity to a grain-directory page
 *   data_start ...    the packed area: 4 KiB slots handed out in order,
 *                     each either a grain (4 KiB of disk data) or a meta
 *                     block holding eight 512-byte pages
 *
 * Pages are one sector (512 bytes, 64 entries) so a page write is
 * atomic. A grain-directory (GD) page points to 64 grain-table (GT)
 * pages; a GT page holds the entries of 64 grains (256 KiB of disk).
 * Random 4 KiB writes therefore cost 4 KiB of data plus at most 512
 * bytes of GT page each, packed; nothing is allocated in 1 MiB steps.
 *
 * Entries are self-checking 64-bit words:
 *   GT entry       bits 0-35 slot (file offset / 4 KiB), 36-39 kind
 *                  (1 data, 2 reads as zeros), 40-63 check
 *   page pointer   bits 0-38 sector (file offset / 512), 39 set,
 *                  40-63 check
 *   0              absent (a GT entry: fall through to the parent)
 * The check is 24 bits of crc32c over {level, index, low 40 bits}, so
 * an entry written to the wrong place, or a page from elsewhere, fails
 * it as surely as a flipped bit.
 *
 * Ordering instead of a journal: grains are durable before the GT entry
 * naming them is written, a new page is durable before the pointer to it
 * (delta.c). Every sector is atomic, so a crash leaves each entry old or
 * new and every new one pointing at durable data.
 *
 * Changelog: version 1, the first.
 */
#ifndef SNAPSHOT_DELTA_FORMAT_H
#define SNAPSHOT_DELTA_FORMAT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DELTA_MAGIC "VSDELTA1"
#define DELTA_VERSION 1
#define DELTA_GRAIN 4096u
#define DELTA_GRAIN_SHIFT 12
#define DELTA_SECTOR 512u
#define DELTA_PAGE_ENTRIES 64u
#define DELTA_HDR_BYTES 512u
#define DELTA_HDR_SLOT 4096u           /* header copy i at i * 4 KiB */
#define DELTA_ROOT_OFFSET 8192u
/* Grains under one GD page: 64 GT pages of 64 grains (16 MiB). */
#define DELTA_GD_GRAINS (DELTA_PAGE_ENTRIES * DELTA_PAGE_ENTRIES)
#define DELTA_GD_SHIFT 12              /* log2(DELTA_GD_GRAINS) */
#define DELTA_GT_SHIFT 6               /* log2(DELTA_PAGE_ENTRIES) */
/* Meta blocks hold this many pages. */
#define DELTA_PAGES_PER_BLOCK (DELTA_GRAIN / DELTA_SECTOR)

#define DELTA_FLAG_DIRTY (1u << 0)     /* opened read-write, not closed */
#define DELTA_FLAGS_KNOWN DELTA_FLAG_DIRTY

#define DELTA_MAX_SLOT ((1ull << 36) - 1)
#define DELTA_MAX_SECTOR ((1ull << 39) - 1)

enum delta_kind {
	DELTA_ABSENT = 0,
	DELTA_DATA = 1,
	DELTA_ZERO = 2,
};

/* Entry levels, part of each check. */
enum delta_level {
	DELTA_LEVEL_GT = 0,    /* index: grain */
	DELTA_LEVEL_GD = 1,    /* index: GT page (grain >> 6) */
	DELTA_LEVEL_ROOT = 2,  /* index: GD page (grain >> 12) */
};

struct delta_hdr_disk {
	char magic[8];
	uint32_t version;
	uint32_t grain_bytes;
	uint64_t capacity;       /* bytes, a multiple of 512 */
	uint64_t seq;            /* higher wins between the two copies */
	uint32_t flags;          /* DELTA_FLAG_* */
	uint32_t root_entries;
	uint64_t root_offset;
	uint64_t data_start;     /* first slot of the packed area */
	uint64_t alloc_end;      /* next free byte at the last clean close */
	uint8_t uuid[16];        /* this delta */
	uint8_t parent_uuid[16]; /* informative */
	uint64_t created_ns;     /* wall clock */
	uint64_t grains;         /* grains with data at the last clean close */
	uint8_t reserved[396];
	uint32_t crc;            /* crc32c of the bytes above */
} __attribute__((packed));

static_assert(sizeof(struct delta_hdr_disk) == DELTA_HDR_BYTES,
	      "delta header is one sector");
static_assert(offsetof(struct delta_hdr_disk, crc) == 508, "crc offset");

/* The header in host form. */
struct delta_hdr {
	uint64_t capacity;
	uint64_t seq;
	uint32_t flags;
	uint32_t root_entries;
	uint64_t root_offset;
	uint64_t data_start;
	uint64_t alloc_end;
	uint8_t uuid[16];
	uint8_t parent_uuid[16];
	uint64_t created_ns;
	uint64_t grains;
};

/* Root entries and the packed area's start for a capacity. */
uint32_t delta_root_entries(uint64_t capacity);
uint64_t delta_data_start(uint64_t capacity);
/* Fills a header for a new delta of 'capacity' bytes. */
void delta_hdr_init(struct delta_hdr *h, uint64_t capacity);

/* Encodes into 'buf' (DELTA_HDR_BYTES). */
void delta_hdr_out(const struct delta_hdr *h, void *buf);
/*
 * Decodes one header copy (untrusted). 0, or -EUCLEAN with a reason in
 * 'err' (magic, checksum, version, geometry).
 */
int delta_hdr_in(const void *buf, struct delta_hdr *h, char *err,
		 size_t errlen);
/*
 * Picks the newer valid copy of two; 0 (and which in '*copy'), or
 * -EUCLEAN when neither is valid ('err' says why for copy 0).
 */
int delta_hdr_pick(const void *buf0, const void *buf1, struct delta_hdr *h,
		   unsigned int *copy, char *err, size_t errlen);

uint64_t delta_gte_make(uint64_t grain, enum delta_kind kind, uint64_t slot);
/*
 * Decodes GT entry 'raw' of 'grain': DELTA_ABSENT/DATA/ZERO with the
 * slot, or -EUCLEAN (check failed, unknown kind, zero entry with a slot).
 */
int delta_gte_parse(uint64_t grain, uint64_t raw, uint64_t *slot);

uint64_t delta_ptr_make(enum delta_level level, uint64_t index,
			uint64_t sector);
/* Decodes a page pointer: 0 absent, 1 present ('*sector'), -EUCLEAN. */
int delta_ptr_parse(enum delta_level level, uint64_t index, uint64_t raw,
		    uint64_t *sector);

/* Fast accessors for entries already validated. */
static inline enum delta_kind
delta_gte_kind(uint64_t raw)
{
	return (enum delta_kind)((raw >> 36) & 0xf);
}

static inline uint64_t
delta_gte_slot(uint64_t raw)
{
	return raw & DELTA_MAX_SLOT;
}

#endif
