/* SPDX-License-Identifier: MIT */
/*
 * Parsing what an NBD client sends: transmission request headers and
 * the payloads of the options that carry structure (INFO/GO, meta
 * contexts). Pure functions over untrusted bytes, fuzzed by nbd-fuzz.c.
 */
#include <errno.h>
#include <string.h>

#include "vdisk/nbd-proto.h"

int
nbd_req_parse(const unsigned char *b, struct nbd_req *out)
{
	if (nbd_be32(b) != NBD_REQUEST_MAGIC)
		return -EPROTO;
	out->flags = nbd_be16(b + 4);
	out->type = nbd_be16(b + 6);
	out->cookie = nbd_be64(b + 8);
	out->offset = nbd_be64(b + 16);
	out->length = nbd_be32(b + 24);
	return 0;
}

static bool
in_range(const struct nbd_req *r, const struct nbd_export_limits *lim)
{
	return r->offset <= lim->size && r->length <= lim->size - r->offset;
}

static bool
aligned(const struct nbd_req *r, const struct nbd_export_limits *lim)
{
	return r->offset % lim->min_block == 0 &&
	       r->length % lim->min_block == 0;
}

int
nbd_req_check(const struct nbd_req *r, const struct nbd_export_limits *lim)
{
	uint16_t known = NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE |
			 NBD_CMD_FLAG_DF | NBD_CMD_FLAG_REQ_ONE |
			 NBD_CMD_FLAG_FAST_ZERO;

	if (r->type == NBD_CMD_WRITE && r->length > NBD_MAX_PAYLOAD)
		return -EPROTO;
	if (r->flags & ~known)
		return NBD_EINVAL;
	switch (r->type) {
	case NBD_CMD_DISC:
	case NBD_CMD_FLUSH:
		return 0;
	case NBD_CMD_READ:
		if (r->length > NBD_MAX_PAYLOAD)
			return NBD_EOVERFLOW;
		if ((r->flags & NBD_CMD_FLAG_DF) && !lim->structured)
			return NBD_EINVAL;
		break;
	case NBD_CMD_WRITE:
	case NBD_CMD_TRIM:
	case NBD_CMD_WRITE_ZEROES:
		if (lim->read_only)
			return NBD_EPERM;
		if (r->type != NBD_CMD_WRITE_ZEROES &&
		    (r->flags & NBD_CMD_FLAG_FAST_ZERO))
			return NBD_EINVAL;
		break;
	case NBD_CMD_BLOCK_STATUS:
		if (!lim->meta_allocation)
			return NBD_EINVAL;
		if (r->length == 0)
			return NBD_EINVAL;
		/* Past the end is an error; unaligned is fine here. */
		return in_range(r, lim) ? 0 : NBD_EINVAL;
	default:
		return NBD_EINVAL;
	}
	if (!in_range(r, lim))
		return r->type == NBD_CMD_WRITE ? NBD_ENOSPC : NBD_EINVAL;
	if (!aligned(r, lim))
		return NBD_EINVAL;
	return 0;
}

/* A u32 length and that many name bytes; advances 'pos'. */
static int
take_name(const unsigned char *b, size_t len, size_t *pos, char *out)
{
	uint32_t n;

	if (len - *pos < 4)
		return -EINVAL;
	n = nbd_be32(b + *pos);
	*pos += 4;
	if (n > NBD_MAX_NAME || n > len - *pos)
		return -EINVAL;
	memcpy(out, b + *pos, n);
	out[n] = '\0';
	if (strlen(out) != n)
		return -EINVAL; /* an embedded NUL */
	*pos += n;
	return 0;
}

int
nbd_opt_info_parse(const unsigned char *b, size_t len,
		   struct nbd_opt_info *out)
{
	size_t pos = 0;
	uint16_t n;

	memset(out, 0, sizeof(*out));
	if (take_name(b, len, &pos, out->name) < 0)
		return -EINVAL;
	if (len - pos < 2)
		return -EINVAL;
	n = nbd_be16(b + pos);
	pos += 2;
	if ((size_t)n * 2 != len - pos)
		return -EINVAL;
	for (uint16_t i = 0; i < n; i++) {
		if (out->nreq < 64)
			out->req[out->nreq++] = nbd_be16(b + pos);
		pos += 2;
	}
	return 0;
}

int
nbd_opt_meta_parse(const unsigned char *b, size_t len,
		   struct nbd_opt_meta *out)
{
	char q[NBD_MAX_NAME + 1];
	size_t pos = 0;

	memset(out, 0, sizeof(*out));
	if (take_name(b, len, &pos, out->name) < 0)
		return -EINVAL;
	if (len - pos < 4)
		return -EINVAL;
	out->nqueries = nbd_be32(b + pos);
	pos += 4;
	for (uint32_t i = 0; i < out->nqueries; i++) {
		if (take_name(b, len, &pos, q) < 0)
			return -EINVAL;
		if (!strcmp(q, NBD_META_BASE_ALLOCATION))
			out->wants_allocation = true;
		else if (!strcmp(q, "base:"))
			out->wants_base_namespace = true;
	}
	return pos == len ? 0 : -EINVAL;
}
