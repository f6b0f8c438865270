/* SPDX-License-Identifier: MIT */
/*
 * An open delta disk (format in delta-format.h): its grain tables in
 * memory, packed allocation, metadata commits and the dirty flag.
 * Shared by the snapshot sources only.
 *
 * A delta keeps every GT page in memory (loaded at open), so a lookup is
 * three array steps and never waits for I/O: what makes reads at chain
 * depth 8 cost what they cost at depth 1.
 *
 * Allocation is a bump pointer over 4 KiB slots: grains and meta blocks
 * (eight pages each) come from the same stream, so data written at random
 * lands packed, and data written in order lands in order.
 *
 * Durability (why no journal is needed):
 *   1. new grains are written to slots nobody points to;
 *   2. their entries are installed in memory only when the write is done;
 *   3. a commit captures the dirty pages, flushes the data, writes the
 *      GT pages, flushes, writes the GD pages naming new GT pages,
 *      flushes, writes the root sectors naming new GD pages, flushes.
 * Each page is one sector: a crash leaves every entry old or new, and
 * every pointer it can reach names durable bytes. The dirty flag (set
 * durably at the first read-write open, cleared at a clean close) says
 * the allocation end must be recomputed from the tables.
 *
 * Locking: none inside. The chain (chain.c) calls these under its
 * mutex; offline users own the delta alone.
 */
#ifndef SNAPSHOT_DELTA_H
#define SNAPSHOT_DELTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/delta-format.h"

struct delta;
struct store_file;
struct vdisk_store;

#define DELTA_OPEN_WRITE (1u << 0)

/* Where a delta is parsed from: a store file, or memory (the fuzzer). */
struct delta_src {
	int (*pread)(void *priv, void *buf, size_t len, uint64_t off);
	void *priv;
	uint64_t size;        /* bytes readable */
};

/* The largest file a delta of 'capacity' bytes can grow to. */
uint64_t delta_file_limit(uint64_t capacity);

/*
 * Creates delta file 'name' in 'st' for a disk of 'capacity' bytes:
 * headers written, size set (sparse), durable. -EEXIST if present.
 */
int delta_create(struct vdisk_store *st, const char *name, uint64_t capacity,
		 const uint8_t parent_uuid[16]);
/*
 * Opens and loads delta 'name' (every table page, each entry checked).
 * With DELTA_OPEN_WRITE the file is opened read-write and the dirty flag
 * set durably first (after a crash, the allocation end is recomputed).
 * -EUCLEAN with vdisk_last_error() saying what is wrong.
 */
int delta_open(struct vdisk_store *st, const char *name, unsigned int flags,
	       struct delta **out);
/* Loads a delta from 'src' read-only, without a store (fuzzer, check). */
int delta_parse(const struct delta_src *src, struct delta **out, char *err,
		size_t errlen);
/*
 * Writable: commits what is dirty, writes the clean header. Frees
 * (closes the file unless it was handed over with delta_take_file()).
 * NULL is a no-op. Returns the commit's result.
 */
int delta_close(struct delta *d);
/* Frees without committing or touching the file (after errors). */
void delta_abandon(struct delta *d);

uint64_t delta_capacity(const struct delta *d);
uint64_t delta_ngrains(const struct delta *d);
struct store_file *delta_file(const struct delta *d);
bool delta_writable(const struct delta *d);
const struct delta_hdr *delta_header(const struct delta *d);
/* Grains holding data (not zero entries). */
uint64_t delta_data_grains(const struct delta *d);
/* Bytes of the packed area in use (the allocation end). */
uint64_t delta_alloc_end(const struct delta *d);

/* Raw entry of 'grain' (delta_gte_kind/slot decode it); 0 absent. */
uint64_t delta_get(const struct delta *d, uint64_t grain);
/* The next grain >= 'grain' with an entry, or UINT64_MAX. */
uint64_t delta_next(const struct delta *d, uint64_t grain);
/* Grains with an entry in [first, first+count). */
uint64_t delta_count_range(const struct delta *d, uint64_t first,
			   uint64_t count);

/* Hands out 'n' consecutive 4 KiB slots; -ENOSPC past the file limit. */
int delta_alloc(struct delta *d, unsigned int n, uint64_t *first_slot);
/* Installs an entry (memory; durable at the next commit). -ENOMEM. */
int delta_set(struct delta *d, uint64_t grain, enum delta_kind kind,
	      uint64_t slot);
/* True when some page waits for a commit. */
bool delta_dirty(const struct delta *d);

/* One metadata commit, captured under the caller's lock. */
struct delta_pw {
	uint64_t off;          /* file offset, a multiple of 512 */
	uint32_t len;          /* a multiple of 512 */
	void *buf;             /* aligned to 4 KiB */
};

struct delta_commit {
	struct delta *d;
	/* Writes per level: [0] GT pages, [1] GD pages, [2] root sectors.
	 * Flush before level 0 and after each non-empty level. */
	unsigned int n[3];
	struct delta_pw *pw[3];
	/* Private. */
	void *mem;
	unsigned int npages;
	void **pages;
	uint8_t *page_level;
};

/* Captures dirty pages: 0 and '*out' NULL when nothing is dirty. */
int delta_commit_begin(struct delta *d, struct delta_commit **out);
/* Ends a commit: on failure (result < 0) its pages are dirty again. */
void delta_commit_end(struct delta_commit *c, int result);
/* A whole commit with synchronous store I/O (offline users). */
int delta_commit_sync(struct delta *d);

/* Rewrites the header (the other copy) with or without the dirty flag. */
int delta_write_header(struct delta *d, bool dirty);
/* Commits, writes the clean header, and takes no more writes. */
int delta_freeze(struct delta *d);
/* Reopens the file read-write (dirty flag set): a frozen delta a merge
 * writes into. The tables stay as loaded. */
int delta_make_writable(struct delta *d);

/*
 * Checks what the tables reference against each other: no slot used
 * twice, nothing past the allocation end. 0, or -EUCLEAN with 'err'.
 */
int delta_verify(struct delta *d, char *err, size_t errlen);

#endif
