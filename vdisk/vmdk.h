/* SPDX-License-Identifier: MIT */
/*
 * VMDK sparse extent constants shared by vmdk-read.c and vmdk-write.c
 * (facts from VMware's published Virtual Disk Format 1.1 document; all
 * fields little-endian, offsets and sizes in 512-byte sectors).
 */
#ifndef VDISK_VMDK_H
#define VDISK_VMDK_H

#include <endian.h>
#include <stdint.h>

#define VMDK_MAGIC 0x564d444bu        /* "KDMV" */
#define VMDK_GD_AT_END 0xffffffffffffffffull

#define VMDK_FLAG_NL_TEST (1u << 0)
#define VMDK_FLAG_RGD (1u << 1)
#define VMDK_FLAG_ZERO_GRAIN (1u << 2)  /* GT entry 1 means a zero grain */
#define VMDK_FLAG_COMPRESSED (1u << 16)
#define VMDK_FLAG_MARKERS (1u << 17)

#define VMDK_COMPRESS_NONE 0
#define VMDK_COMPRESS_DEFLATE 1

#define VMDK_MARKER_EOS 0
#define VMDK_MARKER_GT 1
#define VMDK_MARKER_GD 2
#define VMDK_MARKER_FOOTER 3

/* The sparse extent header, exactly as on disk (512 bytes with pad). */
struct vmdk_header {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint64_t capacity;           /* sectors */
	uint64_t grain_size;         /* sectors */
	uint64_t desc_offset;        /* sectors */
	uint64_t desc_size;          /* sectors */
	uint32_t num_gtes_per_gt;
	uint64_t rgd_offset;
	uint64_t gd_offset;
	uint64_t overhead;           /* sectors before the first grain */
	uint8_t unclean_shutdown;
	char nl_single, nl_non, nl_double1, nl_double2;
	uint16_t compress_algorithm;
	uint8_t pad[433];
} __attribute__((packed));

static_assert(sizeof(struct vmdk_header) == 512, "vmdk header size");
static_assert(offsetof(struct vmdk_header, compress_algorithm) == 77,
	      "vmdk header layout");

/* A stream-optimized marker (one sector). */
struct vmdk_marker {
	uint64_t val;     /* sectors of metadata that follow, or grain LBA */
	uint32_t size;    /* compressed grain bytes; 0 for metadata */
	uint32_t type;    /* VMDK_MARKER_*, when size == 0 */
	uint8_t pad[496];
} __attribute__((packed));

static_assert(sizeof(struct vmdk_marker) == 512, "vmdk marker size");

#endif
