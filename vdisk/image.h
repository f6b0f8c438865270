/* SPDX-License-Identifier: MIT */
/*
 * Image formats for import and export, inside vdisk/ only: readers give
 * random access plus allocation status, writers take cluster-aligned data
 * in increasing offset order (what a copy that skips zeros produces).
 *
 *   image-raw.c     raw files (sparse-aware)
 *   qcow2-read.c    qcow2 v2/v3, backing chains, zlib/zstd clusters
 *   qcow2-write.c   qcow2 v3, 64 KiB clusters
 *   vmdk-read.c     monolithicSparse, streamOptimized, descriptor + flat
 *   vmdk-write.c    monolithicSparse, streamOptimized
 *   image-disk.c    our own disks as reader and writer
 *   convert.c       the copy loop, probe, import, export, clone
 *
 * Parsers take untrusted bytes: every table offset and size is checked
 * against the file before use, and a bad image is -EUCLEAN with one log
 * line saying what is wrong ("vdisk.qcow2", "vdisk.vmdk").
 */
#ifndef VDISK_IMAGE_H
#define VDISK_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vdisk/vdisk.h"

/* Writers get data in units of this size (the last may be short). */
#define IMG_UNIT (64u << 10)
/* Backing chains deeper than this are refused (loops, nonsense). */
#define IMG_MAX_CHAIN 16

/* Where a parser reads its bytes: a file, or memory for the fuzzers. */
struct img_src {
	int (*pread)(struct img_src *s, void *buf, size_t len, uint64_t off);
	void (*close)(struct img_src *s);
	uint64_t size;
	char path[4096];   /* for messages and relative backing names */
};

int img_src_file_open(const char *path, struct img_src **out);
int img_src_mem_open(const void *buf, size_t len, struct img_src **out);
/* The file descriptor under a file source, -1 for memory. */
int img_src_fd(struct img_src *s);

struct img_reader;

struct img_reader_ops {
	/* Reads [off, off+len) inside the capacity. */
	int (*read)(struct img_reader *r, void *buf, size_t len, uint64_t off);
	/*
	 * Status at 'off': returns VDISK_EXTENT_* flags for the next '*n'
	 * bytes (1 <= *n <= len), or -errno.
	 */
	int (*status)(struct img_reader *r, uint64_t off, uint64_t len,
		      uint64_t *n);
	void (*close)(struct img_reader *r);
};

struct img_reader {
	const struct img_reader_ops *ops;
	uint64_t capacity;
	enum vdisk_format fmt;
};

/* Opens an image; AUTO probes. Takes ownership of nothing. */
int img_open(const char *path, enum vdisk_format fmt,
	     struct img_reader **out);
void img_close(struct img_reader *r);
/* Detects the format of 'src' from its first bytes. */
int img_probe_src(struct img_src *src, enum vdisk_format *out);

int img_raw_open(struct img_src *src, struct img_reader **out);
/* 'depth' counts backing files already open (loop guard). */
int img_qcow2_open(struct img_src *src, unsigned int depth,
		   struct img_reader **out);
/*
 * One qcow2 file alone, its backing file not followed: clusters it does
 * not allocate report no VDISK_EXTENT_ALLOCATED. 'backing' gets the
 * backing file's name ("" for none). For importing chains layer by layer.
 */
int img_qcow2_open_layer(struct img_src *src, char *backing, size_t len,
			 struct img_reader **out);
int img_vmdk_open(struct img_src *src, struct img_reader **out);
/* Descriptor text files (monolithicFlat, our own disks). */
int img_vmdk_desc_open(struct img_src *src, struct img_reader **out);
int img_disk_reader(struct vdisk *disk, struct img_reader **out);

struct img_writer;

struct img_writer_ops {
	/* 'off' a multiple of the writer's unit, increasing; 'len' a
	 * multiple too except at the end of the capacity. */
	int (*put)(struct img_writer *w, uint64_t off, const void *buf,
		   size_t len);
	/* Writes the metadata and makes everything durable. */
	int (*finish)(struct img_writer *w);
	/* Frees; removes the file unless finish() succeeded. */
	void (*close)(struct img_writer *w);
};

struct img_writer {
	const struct img_writer_ops *ops;
	uint64_t capacity;
	/* Zero detection granularity, a divisor of IMG_UNIT: formats with
	 * clusters take whole clusters, flat ones skip every zero 4 KiB. */
	uint32_t unit;
};

/*
 * pwrite() of all of 'len' (retrying short writes and EINTR), then starts
 * writeback of the range so that the flush at finish() has less left.
 * The file-backed writers share it.
 */
int img_write_at(int fd, const void *buf, size_t len, uint64_t off);

int img_raw_create(const char *path, uint64_t capacity,
		   struct img_writer **out);
int img_qcow2_create(const char *path, uint64_t capacity,
		     struct img_writer **out);
/* The same as an overlay over 'backing' (a qcow2 file name, kept as is). */
int img_qcow2_create_backed(const char *path, uint64_t capacity,
			    const char *backing, struct img_writer **out);
int img_vmdk_create(const char *path, uint64_t capacity, bool stream,
		    struct img_writer **out);
int img_disk_writer(struct vdisk *disk, struct img_writer **out);

/* Copies every non-zero IMG_UNIT of 'r' into 'w', skipping the rest. */
int img_copy(struct img_reader *r, struct img_writer *w,
	     struct progress *progress, struct vdisk_convert_stats *stats);

/*
 * Creates disk 'dst' sparse, fills it from 'r', then gives it the
 * allocation of 'type' (so an eagerly zeroed copy writes each byte once).
 * On failure nothing is left behind. disk-ops.c.
 */
int vdisk_fill_new(struct img_reader *r, const char *dst,
		   enum vdisk_type type, bool cbt, struct progress *progress,
		   struct vdisk_convert_stats *stats);

#endif
