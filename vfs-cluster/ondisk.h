/* SPDX-License-Identifier: MIT */
/*
 * On-disk structures of the datastore: little-endian fixed-width fields,
 * sizes and offsets pinned by static_assert, and _in()/_out() converters
 * between the disk bytes and host-order structs. Every _in() checks
 * magic, checksum and ranges and returns -EUCLEAN on anything it does not
 * trust; it never reads past the buffer it was given. docs/ON-DISK-FORMAT.md
 * is the specification; keep both in step.
 *
 * Units: a sector is 512 bytes (the unit of atomicity and of locks and
 * heartbeats), a metadata block ("mblock") is 4096 bytes, a file block is
 * vol.block_bytes (default 1 MiB).
 *
 * Format changelog:
 *   version 1  first format.
 *   version 1, compatible addition: the disk-paxos area at 256 KiB and
 *              slot flag OD_SLOT_PAXOS (hosts whose atomic test-and-set
 *              is the disk-paxos mutex); older builds never touch either.
 */
#ifndef VFS_ONDISK_H
#define VFS_ONDISK_H

#include <assert.h>
#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VFS_SECTOR 512u
#define VFS_MBLOCK 4096u
#define VFS_FORMAT_VERSION 1u

#define VFS_VOLUME_MAGIC "VSTKVFS1"
#define VFS_SLOT_MAGIC 0x54424856u    /* "VHBT" */
#define VFS_LOCK_MAGIC 0x4b434c56u    /* "VLCK" */
#define VFS_JHDR_MAGIC 0x44484a56u    /* "VJHD" */
#define VFS_JREC_MAGIC 0x43524a56u    /* "VJRC" */
#define VFS_CLUSTER_MAGIC 0x554c4356u /* "VCLU" */
#define VFS_INODE_MAGIC 0x4f4e4956u   /* "VINO" */
#define VFS_PTR_MAGIC 0x52545056u     /* "VPTR" */
#define VFS_DIR_MAGIC 0x52494456u     /* "VDIR" */

/*
 * Feature flags. INLINE: small thin files keep their data in the inode
 * (OD_INODE_INLINE); set by mkfs, older binaries refuse such a volume.
 */
#define VFS_INCOMPAT_INLINE (1ull << 0)
#define VFS_INCOMPAT_SUPPORTED VFS_INCOMPAT_INLINE
#define VFS_COMPAT_SUPPORTED 0ull
#define VFS_AUTOCLEAR_SUPPORTED 0ull

/* Fixed places. */
#define VFS_VOLUME_OFF 0ull
#define VFS_VOLUME_BACKUP_OFF (64ull << 10)
#define VFS_GLOBAL_LOCKS_OFF (128ull << 10)
#define VFS_GLOBAL_LOCKS 128u            /* sectors reserved there */
#define VFS_LOCK_RENAME 0u               /* cross-directory renames */
#define VFS_LOCK_ADMIN 1u                /* fsck --repair, mkfs --force */
#define VFS_HB_OFF (1ull << 20)
/*
 * The disk-paxos mutex (paxos.c): the leader sector, then one ballot
 * block per participant (a heartbeat slot below VFS_PAXOS_MAX), all of it
 * zero after mkfs (an all-zero sector is a valid empty one).
 */
#define VFS_PAXOS_OFF (256ull << 10)
#define VFS_PAXOS_MAX 1024u

/* ---- volume header (sector 0, backup at 64 KiB) ---- */

struct od_volume {
	char magic[8];
	uint32_t crc;                /* crc32c of the sector, this field 0 */
	uint32_t version;
	uint64_t incompat, compat, autoclear;
	uint8_t uuid[16];
	char label[64];              /* NUL-padded, at most 63 bytes */
	uint64_t lun_bytes;          /* volume size at mkfs */
	uint64_t created_wall_ns;
	uint32_t sector_bytes;       /* 512 */
	uint32_t mblock_bytes;       /* 4096 */
	uint32_t block_bytes;        /* file block */
	uint32_t lease_ms;
	uint32_t slots;              /* heartbeat slots */
	uint32_t journals;           /* slots 0..journals-1 have a journal */
	uint32_t journal_bytes;      /* each, including its 4 KiB header */
	uint32_t pad0;
	uint64_t locks_off;          /* global lock sectors */
	uint64_t hb_off;             /* heartbeat region */
	uint64_t journal_off;        /* journal j at journal_off + j*bytes */
	uint64_t dchdr_off;          /* data cluster headers, one mblock each */
	uint32_t dclusters;
	uint32_t dcluster_blocks;    /* file blocks per data cluster */
	uint64_t meta_off;           /* metadata pool: mblock 0 is here */
	uint32_t mclusters;
	uint32_t mcluster_blocks;    /* mblocks per meta cluster, excl. header */
	uint64_t data_off;           /* file block 0 */
	uint64_t data_blocks;
	uint64_t root_ino;           /* root directory's mblock number */
	uint8_t reserved[264];
} __attribute__((packed));
static_assert(sizeof(struct od_volume) == VFS_SECTOR, "volume header");
static_assert(offsetof(struct od_volume, uuid) == 40, "volume uuid");
static_assert(offsetof(struct od_volume, locks_off) == 168, "volume locks");
static_assert(offsetof(struct od_volume, root_ino) == 240, "volume root");

/* Host-order view with the derived geometry. */
struct vfs_geom {
	uint8_t uuid[16];
	char label[64];
	uint32_t version;
	uint64_t incompat, compat, autoclear;
	uint64_t lun_bytes, created_wall_ns;
	uint32_t block_bytes, lease_ms, slots, journals, journal_bytes;
	uint64_t locks_off, hb_off, journal_off, dchdr_off;
	uint32_t dclusters, dcluster_blocks;
	uint64_t meta_off;
	uint32_t mclusters, mcluster_blocks;
	uint64_t data_off, data_blocks, root_ino;
	/* derived */
	uint64_t meta_blocks;        /* mblocks in the pool incl. headers */
	uint64_t meta_end;           /* byte offset after the pool */
};

/* Decodes and validates a header sector; -EMEDIUMTYPE (no magic),
 * -EUCLEAN (bad checksum or geometry), -EPROTONOSUPPORT (newer). */
int od_volume_in(const void *sector, struct vfs_geom *g);
void od_volume_out(const struct vfs_geom *g, void *sector);
/* Checks that a geometry is self-consistent and fits 'lun_bytes'. */
int vfs_geom_check(const struct vfs_geom *g, uint64_t lun_bytes);

static inline uint64_t
vfs_mblock_off(const struct vfs_geom *g, uint64_t mblock)
{
	return g->meta_off + mblock * VFS_MBLOCK;
}

static inline uint64_t
vfs_block_off(const struct vfs_geom *g, uint64_t block)
{
	return g->data_off + block * g->block_bytes;
}

static inline uint64_t
vfs_slot_off(const struct vfs_geom *g, uint32_t slot)
{
	return g->hb_off + (uint64_t)slot * VFS_SECTOR;
}

static inline uint64_t
vfs_journal_off(const struct vfs_geom *g, uint32_t j)
{
	return g->journal_off + (uint64_t)j * g->journal_bytes;
}

/* Meta cluster c: header mblock then mcluster_blocks mblocks. */
static inline uint64_t
vfs_mcluster_hdr(const struct vfs_geom *g, uint32_t c)
{
	return (uint64_t)c * (g->mcluster_blocks + 1);
}

static inline uint64_t
vfs_dcluster_off(const struct vfs_geom *g, uint32_t c)
{
	return g->dchdr_off + (uint64_t)c * VFS_MBLOCK;
}

/* True if 'mblock' is a usable (non-header) mblock of the pool. */
bool vfs_mblock_valid(const struct vfs_geom *g, uint64_t mblock);
/* True if 'mblock' is valid and lies in an inode cluster. */
bool vfs_ino_valid(const struct vfs_geom *g, uint64_t mblock);

/* ---- heartbeat slot (one sector each) ---- */

enum od_slot_state {
	OD_SLOT_FREE = 0,
	OD_SLOT_LIVE = 1,
	OD_SLOT_RECOVERING = 2,
};

#define OD_SLOT_READ_ONLY (1u << 0)   /* session writes only its heartbeat */
#define OD_SLOT_PR (1u << 1)          /* registered pr_key: fence by PR */
#define OD_SLOT_PAXOS (1u << 2)       /* its ATS is the disk-paxos mutex */

struct od_slot {
	uint32_t magic;
	uint32_t crc;
	uint64_t generation;     /* bumped at claim and at recovery start */
	uint64_t counter;        /* bumped at every renewal */
	uint32_t state;          /* enum od_slot_state */
	uint32_t flags;          /* OD_SLOT_* */
	uint8_t host_uuid[16];
	char host_name[64];
	uint64_t pr_key;
	uint64_t wall_ns;        /* writer's clock at this renewal */
	uint64_t mounted_wall_ns;
	uint32_t pid;
	uint32_t lease_ms;
	uint32_t slot;           /* its own index: catches misplaced writes */
	uint32_t recoverer_slot; /* RECOVERING: who replays */
	uint64_t recoverer_gen;
	uint64_t dead_gen;       /* RECOVERING: the generation that died */
	uint8_t session[16];     /* random per session */
	uint8_t reserved[328];
} __attribute__((packed));
static_assert(sizeof(struct od_slot) == VFS_SECTOR, "slot");
static_assert(offsetof(struct od_slot, host_name) == 48, "slot name");
static_assert(offsetof(struct od_slot, session) == 168, "slot session");

/* An all-zero sector is a valid never-used free slot. */
int od_slot_in(const void *sector, uint32_t index, struct od_slot *out);
void od_slot_out(const struct od_slot *in, void *sector);

/* ---- disk-paxos mutex (at VFS_PAXOS_OFF) ---- */

#define VFS_PXLEADER_MAGIC 0x4c585056u /* "VPXL" */
#define VFS_PXBLOCK_MAGIC 0x42585056u  /* "VPXB" */

/* Who holds (or held) the mutex: a participant's identity. */
struct od_pxowner {
	uint32_t slot;
	uint32_t pad;
	uint64_t gen;            /* the slot's generation */
	uint64_t key;            /* its PR key (what fences it) */
} __attribute__((packed));

/*
 * The leader: written by the owner of instance 'lver' when it lets go
 * (the mutex is free once the leader names the newest instance). A
 * release hint, never the authority: that is the ballot blocks.
 */
struct od_pxleader {
	uint32_t magic;
	uint32_t crc;
	uint64_t lver;           /* the instance released */
	struct od_pxowner owner;
	uint64_t wall_ns;        /* display only */
	uint8_t reserved[464];
} __attribute__((packed));
static_assert(sizeof(struct od_pxleader) == VFS_SECTOR, "paxos leader");

/* A participant's ballot block, written only by that participant. */
struct od_pxblock {
	uint32_t magic;
	uint32_t crc;
	uint32_t self;           /* its own index */
	uint32_t pad;
	uint64_t lver;           /* the instance the ballots belong to */
	uint64_t mbal;           /* highest ballot it started */
	uint64_t bal;            /* ballot of the value it accepted, 0 none */
	struct od_pxowner inp;   /* the value accepted */
	uint8_t reserved[448];
} __attribute__((packed));
static_assert(sizeof(struct od_pxblock) == VFS_SECTOR, "paxos block");
static_assert(offsetof(struct od_pxblock, inp) == 40, "paxos block inp");

/* All-zero sectors are valid (instance 0, nothing accepted). */
int od_pxleader_in(const void *sector, struct od_pxleader *out);
void od_pxleader_out(const struct od_pxleader *in, void *sector);
int od_pxblock_in(const void *sector, uint32_t index, struct od_pxblock *out);
void od_pxblock_out(const struct od_pxblock *in, void *sector);

/* ---- lock sector ---- */

enum od_lock_mode {
	OD_LOCK_FREE = 0,
	OD_LOCK_EX = 1,
	OD_LOCK_SH = 2,
	OD_LOCK_MW = 3,
};

#define OD_LOCK_MAX_HOLDERS 28
#define OD_LOCK_WANTED (1u << 0)  /* a waiter asks the holders to let go */

struct od_lock_holder {
	uint32_t slot;
	uint32_t pad;
	uint64_t generation;     /* the slot's generation when taken */
} __attribute__((packed));

struct od_lock {
	uint32_t magic;
	uint32_t crc;
	uint64_t self_off;       /* byte offset of this sector */
	uint64_t lock_generation; /* bumped whenever the holder set changes
				     from one owner to another */
	uint64_t since_wall_ns;  /* when the current mode was taken */
	uint8_t mode;            /* enum od_lock_mode */
	uint8_t nholders;
	uint8_t flags;           /* OD_LOCK_* */
	uint8_t pad;
	uint32_t wanted_slot;
	uint8_t reserved[24];
	struct od_lock_holder holders[OD_LOCK_MAX_HOLDERS];
} __attribute__((packed));
static_assert(sizeof(struct od_lock) == VFS_SECTOR, "lock");
static_assert(offsetof(struct od_lock, holders) == 64, "lock holders");

/* An all-zero sector is a valid free lock. */
int od_lock_in(const void *sector, uint64_t off, struct od_lock *out);
void od_lock_out(const struct od_lock *in, uint64_t off, void *sector);

/* ---- journal header (first sector of a journal's first mblock) ---- */

struct od_jhdr {
	uint32_t magic;
	uint32_t crc;
	uint32_t index;
	uint32_t pad;
	uint64_t tail_seq;       /* first record not yet checkpointed */
	uint64_t tail_off;       /* its offset in the ring */
	uint64_t writer_gen;     /* slot generation that wrote this */
	uint64_t wall_ns;
	uint8_t reserved[464];
} __attribute__((packed));
static_assert(sizeof(struct od_jhdr) == VFS_SECTOR, "journal header");

int od_jhdr_in(const void *sector, uint32_t index, uint64_t ring_bytes,
	       struct od_jhdr *out);
void od_jhdr_out(const struct od_jhdr *in, void *sector);

/* ---- journal record: header sectors, then the item images ---- */

struct od_jitem {
	uint64_t off;            /* home byte offset, sector aligned */
	uint32_t len;            /* bytes, sector multiple, <= 4096 */
	uint32_t pad;
} __attribute__((packed));

struct od_jrec {
	uint32_t magic;
	uint32_t crc;            /* crc32c of the whole record, this 0 */
	uint64_t seq;
	uint32_t nitems;
	uint32_t sectors;        /* whole record, header included */
	uint64_t writer_gen;
	uint8_t vol_tag[8];      /* first 8 bytes of the volume UUID: a
				    record left by an earlier mkfs never
				    replays */
	/* struct od_jitem items[nitems] follows */
} __attribute__((packed));
static_assert(sizeof(struct od_jrec) == 40, "journal record");

#define OD_JREC_MAX_ITEMS 1024

static inline uint32_t
od_jrec_header_sectors(uint32_t nitems)
{
	return (uint32_t)((sizeof(struct od_jrec) +
			   nitems * sizeof(struct od_jitem) + VFS_SECTOR - 1) /
			  VFS_SECTOR);
}

/*
 * Validates the record at 'buf' ('avail' bytes readable from there) with
 * sequence 'seq': magic, sizes, checksum, every item inside the metadata
 * area of 'g'. Returns the record's length in bytes, 0 if it is not a
 * valid record with that sequence (the end of the log), never trusting
 * more than 'avail'.
 */
uint64_t od_jrec_check(const void *buf, uint64_t avail, uint64_t seq,
		       const struct vfs_geom *g);
const struct od_jitem *od_jrec_items(const void *rec);
const uint8_t *od_jrec_data(const void *rec);

/*
 * The block-sized structures below are not packed: every field sits at
 * its natural alignment (the static_asserts pin the layout), so code may
 * take pointers to their entries.
 */

/* ---- cluster header (one mblock: lock sector + 3584 header bytes) ---- */

/*
 * Meta clusters alternate: even ones hold inodes, odd ones pointer and
 * directory blocks. An mblock therefore never changes between an inode
 * (whose sector 0 is a lock, never journaled) and a block journaled whole.
 */
enum od_cluster_type {
	OD_CLUSTER_DATA = 1,
	OD_CLUSTER_INODE = 2,
	OD_CLUSTER_MBLK = 3,
};

static inline uint32_t
od_mcluster_type(uint32_t c)
{
	return c % 2 ? OD_CLUSTER_MBLK : OD_CLUSTER_INODE;
}

#define OD_CLUSTER_BITS 28160u   /* 3520 bytes of bitmap */

struct od_cluster {
	uint32_t magic;
	uint32_t crc;            /* over the 3584 header bytes */
	uint32_t index;
	uint32_t type;
	uint32_t nbits;          /* blocks this cluster covers */
	uint32_t nfree;
	uint64_t first;          /* first block (data) or mblock (meta) */
	uint8_t reserved[32];
	uint8_t bitmap[OD_CLUSTER_BITS / 8]; /* 1 = allocated */
};
static_assert(sizeof(struct od_cluster) == VFS_MBLOCK - VFS_SECTOR,
	      "cluster header");

/* Validates in place (the struct is used directly). */
int od_cluster_check(const struct od_cluster *c, uint32_t index,
		     uint32_t type, const struct vfs_geom *g);
void od_cluster_seal(struct od_cluster *c);

/* ---- inode (one mblock: lock sector + 3584 body bytes) ---- */

enum od_inode_type {
	OD_INODE_FREE = 0,
	OD_INODE_FILE = 1,
	OD_INODE_DIR = 2,
};

#define OD_MAP_ROOT 256          /* root entries in an inode */
#define OD_PTR_ENTRIES 508       /* entries in a pointer block */
#define OD_MAP_MAX_DEPTH 2

/* A block-map entry. */
#define OD_MAP_PRESENT (1ull << 63)
#define OD_MAP_TBZ (1ull << 62)          /* to be zeroed */
#define OD_MAP_BLOCK_MASK ((1ull << 48) - 1)

/*
 * Inode flags. INLINE: a thin file of at most OD_INLINE_MAX bytes whose
 * data sits in map[] and tail[] (bytes past the size zero); it has no
 * blocks and map depth 0. It moves to a block when it outgrows that.
 */
#define OD_INODE_INLINE (1u << 0)
#define OD_INLINE_MAX (OD_MAP_ROOT * 8u + 1408u)

struct od_inode {
	uint32_t magic;
	uint32_t crc;            /* over the 3584 body bytes */
	uint64_t ino;            /* its own mblock number */
	uint32_t generation;
	uint16_t type;           /* enum od_inode_type */
	uint16_t flags;          /* OD_INODE_* */
	uint32_t alloc;          /* enum vfs_alloc */
	uint32_t map_depth;      /* 0..OD_MAP_MAX_DEPTH */
	uint64_t size;
	uint64_t blocks;         /* leaf blocks held (file or dir blocks) */
	uint64_t ctime_ns;
	uint64_t mtime_ns;
	uint64_t parent;         /* directories: the parent's ino */
	uint32_t nentries;       /* directories */
	uint32_t pad;
	uint8_t reserved[48];
	uint64_t map[OD_MAP_ROOT];
	uint8_t tail[1408];
};
static_assert(sizeof(struct od_inode) == VFS_MBLOCK - VFS_SECTOR, "inode");
static_assert(offsetof(struct od_inode, map) == 128, "inode map");
static_assert(offsetof(struct od_inode, tail) + sizeof(((struct od_inode *)0)->tail) ==
		      128 + OD_INLINE_MAX, "inline data runs to the end");

/* The data area of an inline file: map[] and tail[], contiguous. */
static inline uint8_t *
od_inode_data(struct od_inode *ino)
{
	return (uint8_t *)ino->map;
}

static inline bool
od_inode_inline(const struct od_inode *ino)
{
	return le16toh(ino->flags) & OD_INODE_INLINE;
}

/* Validates in place: an all-zero body is a never-used free inode. */
int od_inode_check(const struct od_inode *ino, uint64_t expect_ino);
void od_inode_seal(struct od_inode *ino);

/* ---- pointer block (one whole mblock) ---- */

struct od_ptr {
	uint32_t magic;
	uint32_t crc;
	uint64_t self;           /* its mblock number */
	uint64_t owner;          /* the inode it belongs to */
	uint32_t level;          /* 1: entries are leaves */
	uint32_t pad;
	uint64_t entries[OD_PTR_ENTRIES];
};
static_assert(sizeof(struct od_ptr) == VFS_MBLOCK, "pointer block");

int od_ptr_check(const struct od_ptr *p, uint64_t self, uint64_t owner);
void od_ptr_seal(struct od_ptr *p);

/* ---- directory block (one whole mblock) ---- */

struct od_dirblk {
	uint32_t magic;
	uint32_t crc;
	uint64_t self;
	uint64_t owner;
	uint16_t nentries;
	uint16_t used;           /* bytes of entries after the header */
	uint32_t pad;
	uint8_t data[VFS_MBLOCK - 32];
};
static_assert(sizeof(struct od_dirblk) == VFS_MBLOCK, "directory block");

struct od_dirent {
	uint64_t ino;
	uint32_t generation;
	uint8_t type;
	uint8_t name_len;
	uint16_t rec_len;        /* 16 + name_len, rounded up to 8 */
	/* name follows, not NUL-terminated */
} __attribute__((packed));
static_assert(sizeof(struct od_dirent) == 16, "dirent");

static inline uint16_t
od_dirent_len(unsigned int name_len)
{
	return (uint16_t)((16 + name_len + 7) & ~7u);
}

int od_dirblk_check(const struct od_dirblk *d, uint64_t self, uint64_t owner,
		    const struct vfs_geom *g);
void od_dirblk_seal(struct od_dirblk *d);
/* A name is 1..255 bytes without '/' or NUL and is not "." or "..". */
bool od_name_valid(const char *name, size_t len);

/* Little-endian helpers (the structs above hold LE values). */
#include <endian.h>
#define le16(x) le16toh(x)
#define le32(x) le32toh(x)
#define le64(x) le64toh(x)
#define to_le16(x) htole16(x)
#define to_le32(x) htole32(x)
#define to_le64(x) htole64(x)

/* crc32c of 'len' bytes where the 4 bytes at 'crc_off' count as zero. */
uint32_t od_crc(const void *buf, size_t len, size_t crc_off);
bool od_is_zero(const void *buf, size_t len);

#endif
