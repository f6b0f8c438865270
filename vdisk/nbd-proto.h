/* SPDX-License-Identifier: MIT */
/*
 * NBD protocol constants (from the published NBD protocol document; all
 * fields big-endian) and the parsers for what a client sends: option
 * payloads and transmission requests. The parsers take untrusted bytes
 * and are fuzzed (nbd-fuzz.c).
 */
#ifndef VDISK_NBD_PROTO_H
#define VDISK_NBD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NBD_MAGIC 0x4e42444d41474943ull          /* "NBDMAGIC" */
#define NBD_IHAVEOPT 0x49484156454f5054ull       /* "IHAVEOPT" */
#define NBD_REP_MAGIC 0x0003e889045565a9ull
#define NBD_REQUEST_MAGIC 0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u
#define NBD_STRUCTURED_REPLY_MAGIC 0x668e33efu

#define NBD_FLAG_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_NO_ZEROES (1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_C_NO_ZEROES (1u << 1)

/* Transmission flags. */
#define NBD_FLAG_HAS_FLAGS (1u << 0)
#define NBD_FLAG_READ_ONLY (1u << 1)
#define NBD_FLAG_SEND_FLUSH (1u << 2)
#define NBD_FLAG_SEND_FUA (1u << 3)
#define NBD_FLAG_SEND_TRIM (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF (1u << 7)

enum nbd_opt {
	NBD_OPT_EXPORT_NAME = 1,
	NBD_OPT_ABORT = 2,
	NBD_OPT_LIST = 3,
	NBD_OPT_STARTTLS = 5,
	NBD_OPT_INFO = 6,
	NBD_OPT_GO = 7,
	NBD_OPT_STRUCTURED_REPLY = 8,
	NBD_OPT_LIST_META_CONTEXT = 9,
	NBD_OPT_SET_META_CONTEXT = 10,
};

#define NBD_REP_ACK 1u
#define NBD_REP_SERVER 2u
#define NBD_REP_INFO 3u
#define NBD_REP_META_CONTEXT 4u
#define NBD_REP_ERR_UNSUP (0x80000000u + 1)
#define NBD_REP_ERR_POLICY (0x80000000u + 2)
#define NBD_REP_ERR_INVALID (0x80000000u + 3)
#define NBD_REP_ERR_UNKNOWN (0x80000000u + 6)
#define NBD_REP_ERR_TOO_BIG (0x80000000u + 9)

#define NBD_INFO_EXPORT 0
#define NBD_INFO_NAME 1
#define NBD_INFO_DESCRIPTION 2
#define NBD_INFO_BLOCK_SIZE 3

enum nbd_cmd {
	NBD_CMD_READ = 0,
	NBD_CMD_WRITE = 1,
	NBD_CMD_DISC = 2,
	NBD_CMD_FLUSH = 3,
	NBD_CMD_TRIM = 4,
	NBD_CMD_CACHE = 5,
	NBD_CMD_WRITE_ZEROES = 6,
	NBD_CMD_BLOCK_STATUS = 7,
};

#define NBD_CMD_FLAG_FUA (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE (1u << 1)
#define NBD_CMD_FLAG_DF (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO (1u << 4)

#define NBD_REPLY_FLAG_DONE (1u << 0)
#define NBD_REPLY_TYPE_NONE 0
#define NBD_REPLY_TYPE_OFFSET_DATA 1
#define NBD_REPLY_TYPE_OFFSET_HOLE 2
#define NBD_REPLY_TYPE_BLOCK_STATUS 5
#define NBD_REPLY_TYPE_ERROR 32769

#define NBD_STATE_HOLE (1u << 0)
#define NBD_STATE_ZERO (1u << 1)

/* NBD error values (the protocol's own numbering). */
#define NBD_EPERM 1
#define NBD_EIO 5
#define NBD_ENOMEM 12
#define NBD_EINVAL 22
#define NBD_ENOSPC 28
#define NBD_EOVERFLOW 75
#define NBD_ENOTSUP 95
#define NBD_ESHUTDOWN 108

#define NBD_REQ_BYTES 28
/* Largest read or write payload we take (the usual 32 MiB). */
#define NBD_MAX_PAYLOAD (32u << 20)
#define NBD_MAX_OPT_BYTES 4096u
#define NBD_MAX_NAME 4096u
#define NBD_META_BASE_ALLOCATION "base:allocation"
#define NBD_META_ID 1u

struct nbd_req {
	uint16_t flags;
	uint16_t type;
	uint64_t cookie;
	uint64_t offset;
	uint32_t length;
};

/* What the export allows, for request checks. */
struct nbd_export_limits {
	uint64_t size;
	bool read_only;
	bool meta_allocation;        /* base:allocation negotiated */
	bool structured;             /* structured replies negotiated */
	uint32_t min_block;          /* offsets and lengths align to this */
};

/*
 * Parses the 28-byte request header. Returns 0 and fills 'out', or
 * -EPROTO for a bad magic (the connection must close).
 */
int nbd_req_parse(const unsigned char *buf, struct nbd_req *out);
/*
 * Checks a parsed request against the export: 0 when it may run, else
 * the NBD error to reply with (NBD_EINVAL, NBD_EPERM, NBD_EOVERFLOW...).
 * A write with a payload over NBD_MAX_PAYLOAD is -EPROTO (its payload
 * cannot be skipped safely: close the connection).
 */
int nbd_req_check(const struct nbd_req *r,
		  const struct nbd_export_limits *lim);

/* NBD_OPT_INFO / NBD_OPT_GO payload: name and requested info types. */
struct nbd_opt_info {
	char name[NBD_MAX_NAME + 1];
	uint16_t nreq;
	uint16_t req[64];
};
/* 0 or -EINVAL when the payload is malformed. */
int nbd_opt_info_parse(const unsigned char *buf, size_t len,
		       struct nbd_opt_info *out);

/* NBD_OPT_{LIST,SET}_META_CONTEXT payload. */
struct nbd_opt_meta {
	char name[NBD_MAX_NAME + 1];
	uint32_t nqueries;
	bool wants_allocation;       /* "base:allocation" asked for */
	bool wants_base_namespace;   /* "base:" (LIST only) */
};
int nbd_opt_meta_parse(const unsigned char *buf, size_t len,
		       struct nbd_opt_meta *out);

static inline uint16_t
nbd_be16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
nbd_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
nbd_be64(const unsigned char *p)
{
	return (uint64_t)nbd_be32(p) << 32 | nbd_be32(p + 4);
}

static inline void
nbd_put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static inline void
nbd_put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static inline void
nbd_put64(unsigned char *p, uint64_t v)
{
	nbd_put32(p, (uint32_t)(v >> 32));
	nbd_put32(p + 4, (uint32_t)v);
}

#endif
