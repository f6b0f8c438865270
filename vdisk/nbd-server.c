/* SPDX-License-Identifier: MIT */
/*
 * NBD server for an open disk: fixed newstyle handshake (EXPORT_NAME,
 * INFO, GO, LIST, ABORT, STRUCTURED_REPLY, LIST/SET_META_CONTEXT with
 * base:allocation), then transmission over the I/O engine: reads, writes
 * (FUA), flush, trim, write-zeroes and block status, many in flight.
 *
 * One connection at a time, one thread: requests are read when a slot
 * is free, handed to the engine, and answered from its completions (the
 * engine's eventfd sits in the same poll as the socket). Anything a
 * client sends is checked first (nbd-req.c); garbage closes the
 * connection, out-of-range requests get EINVAL, nothing bad is written.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "vdisk/nbd-proto.h"
#include "vdisk/nbd-server.h"
#include "vdisk/vdisk-internal.h"

#define NSLOTS 64
#define MAX_EXTENTS 1024
#define POLL_MS 200
#define MAX_OPT_PAYLOAD (16u << 10)

struct nbd_conn;

struct slot {
	struct vdisk_io io;
	struct nbd_conn *c;
	struct nbd_req req;
	void *buf;
	size_t cap;
	struct slot *next_free;
};

struct nbd_conn {
	struct vdisk *disk;
	int fd;
	const char *export_name;
	struct nbd_export_limits lim;
	bool no_zeroes;
	struct vdisk_queue *q;
	struct slot slots[NSLOTS];
	struct slot *free;
	unsigned int busy;
	bool closing;
	int err;                      /* fatal: drop the connection */
	volatile int *stop;
	unsigned char opt[MAX_OPT_PAYLOAD];
};

/* ---- socket helpers ---- */

static int
read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		done += (size_t)n;
	}
	return 0;
}

static int
writev_full(int fd, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		/* No SIGPIPE for a client that hung up: the caller sees
		 * -EPIPE and drops the connection. */
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static int
write_full(int fd, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };

	return writev_full(fd, &iov, 1);
}

/* ---- handshake ---- */

static int
opt_reply(struct nbd_conn *c, uint32_t opt, uint32_t type, const void *data,
	  uint32_t len)
{
	unsigned char h[20];
	struct iovec iov[2] = { { h, sizeof(h) }, { (void *)data, len } };

	nbd_put64(h, NBD_REP_MAGIC);
	nbd_put32(h + 8, opt);
	nbd_put32(h + 12, type);
	nbd_put32(h + 16, len);
	return writev_full(c->fd, iov, len ? 2 : 1);
}

static uint16_t
transmission_flags(const struct nbd_conn *c)
{
	uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH |
		     NBD_FLAG_SEND_FUA;

	if (c->lim.read_only)
		f |= NBD_FLAG_READ_ONLY;
	else
		f |= NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES;
	if (c->lim.structured)
		f |= NBD_FLAG_SEND_DF;
	return f;
}

static bool
name_ok(const struct nbd_conn *c, const char *name)
{
	return !strcmp(name, c->export_name);
}

static int
reply_info(struct nbd_conn *c, uint32_t opt, const struct nbd_opt_info *in)
{
	unsigned char b[12 + NBD_MAX_NAME];
	int rc;

	nbd_put16(b, NBD_INFO_EXPORT);
	nbd_put64(b + 2, c->lim.size);
	nbd_put16(b + 10, transmission_flags(c));
	rc = opt_reply(c, opt, NBD_REP_INFO, b, 12);
	if (rc < 0)
		return rc;
	/* Always say the block sizes: the engine wants 512-byte units. */
	nbd_put16(b, NBD_INFO_BLOCK_SIZE);
	nbd_put32(b + 2, c->lim.min_block);
	nbd_put32(b + 6, 4096);
	nbd_put32(b + 10, NBD_MAX_PAYLOAD);
	rc = opt_reply(c, opt, NBD_REP_INFO, b, 14);
	for (uint16_t i = 0; rc == 0 && i < in->nreq; i++) {
		if (in->req[i] != NBD_INFO_NAME)
			continue;
		nbd_put16(b, NBD_INFO_NAME);
		memcpy(b + 2, c->export_name, strlen(c->export_name));
		rc = opt_reply(c, opt, NBD_REP_INFO, b,
			       2 + (uint32_t)strlen(c->export_name));
	}
	return rc ? rc : opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
}

static int
opt_meta(struct nbd_conn *c, uint32_t opt, uint32_t len)
{
	static const char ctx[] = NBD_META_BASE_ALLOCATION;
	unsigned char b[4 + sizeof(ctx)];
	struct nbd_opt_meta m;
	bool set = opt == NBD_OPT_SET_META_CONTEXT;
	int rc;

	if (nbd_opt_meta_parse(c->opt, len, &m) < 0)
		return opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
	if (set && !c->lim.structured)
		return opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
	if (!name_ok(c, m.name))
		return opt_reply(c, opt, NBD_REP_ERR_UNKNOWN, NULL, 0);
	if (set)
		c->lim.meta_allocation = m.wants_allocation;
	if (m.wants_allocation ||
	    (!set && (m.nqueries == 0 || m.wants_base_namespace))) {
		nbd_put32(b, set ? NBD_META_ID : 0);
		memcpy(b + 4, ctx, sizeof(ctx) - 1);
		rc = opt_reply(c, opt, NBD_REP_META_CONTEXT, b,
			       4 + (uint32_t)sizeof(ctx) - 1);
		if (rc < 0)
			return rc;
	}
	return opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
}

static int
send_export_name_reply(struct nbd_conn *c)
{
	unsigned char b[10 + 124];

	memset(b, 0, sizeof(b));
	nbd_put64(b, c->lim.size);
	nbd_put16(b + 8, transmission_flags(c));
	return write_full(c->fd, b, c->no_zeroes ? 10 : sizeof(b));
}

static int
cont(int rc)
{
	return rc < 0 ? rc : 2;
}

/* An option answered with an error reply: options continue. */
static int
opt_refuse(struct nbd_conn *c, uint32_t opt, uint32_t type)
{
	return cont(opt_reply(c, opt, type, NULL, 0));
}

/*
 * Returns 1 to start transmission, 2 for the next option, 0 to end the
 * connection, or -errno.
 */
static int
one_option(struct nbd_conn *c)
{
	unsigned char h[16];
	struct nbd_opt_info info;
	uint32_t opt, len;
	int rc;

	rc = read_full(c->fd, h, sizeof(h));
	if (rc < 0)
		return rc;
	if (nbd_be64(h) != NBD_IHAVEOPT)
		return -EPROTO;
	opt = nbd_be32(h + 8);
	len = nbd_be32(h + 12);
	/* A payload this large is nonsense; skipping it would cost a
	 * client-chosen amount of reading, so hang up instead. */
	if (len > MAX_OPT_PAYLOAD)
		return -EPROTO;
	rc = read_full(c->fd, c->opt, len);
	if (rc < 0)
		return rc;
	switch (opt) {
	case NBD_OPT_EXPORT_NAME:
		c->opt[len] = '\0';
		if (strlen((char *)c->opt) != len ||
		    !name_ok(c, (char *)c->opt))
			return -ENOENT;
		rc = send_export_name_reply(c);
		return rc < 0 ? rc : 1;
	case NBD_OPT_ABORT:
		opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
		return 0;
	case NBD_OPT_LIST: {
		unsigned char b[4 + NBD_MAX_NAME];
		uint32_t n = (uint32_t)strlen(c->export_name);

		if (len)
			return opt_refuse(c, opt, NBD_REP_ERR_INVALID);
		nbd_put32(b, n);
		memcpy(b + 4, c->export_name, n);
		rc = opt_reply(c, opt, NBD_REP_SERVER, b, 4 + n);
		return cont(rc ? rc : opt_reply(c, opt, NBD_REP_ACK, NULL, 0));
	}
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		if (nbd_opt_info_parse(c->opt, len, &info) < 0)
			return opt_refuse(c, opt, NBD_REP_ERR_INVALID);
		if (!name_ok(c, info.name))
			return opt_refuse(c, opt, NBD_REP_ERR_UNKNOWN);
		rc = reply_info(c, opt, &info);
		if (rc < 0)
			return rc;
		return opt == NBD_OPT_GO ? 1 : 2;
	case NBD_OPT_STRUCTURED_REPLY:
		if (len)
			return opt_refuse(c, opt, NBD_REP_ERR_INVALID);
		c->lim.structured = true;
		return cont(opt_reply(c, opt, NBD_REP_ACK, NULL, 0));
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		return cont(opt_meta(c, opt, len));
	default:
		return opt_refuse(c, opt, NBD_REP_ERR_UNSUP);
	}
}

static int
handshake(struct nbd_conn *c)
{
	unsigned char b[18];
	uint32_t cflags;
	int rc;

	nbd_put64(b, NBD_MAGIC);
	nbd_put64(b + 8, NBD_IHAVEOPT);
	nbd_put16(b + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	rc = write_full(c->fd, b, sizeof(b));
	if (rc == 0)
		rc = read_full(c->fd, b, 4);
	if (rc < 0)
		return rc;
	cflags = nbd_be32(b);
	if (cflags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES))
		return -EPROTO;
	c->no_zeroes = cflags & NBD_FLAG_C_NO_ZEROES;
	do
		rc = one_option(c);
	while (rc == 2);
	return rc;
}

/* ---- transmission ---- */

static uint32_t
nbd_errno(int64_t err)
{
	switch (-err) {
	case EROFS:
	case EPERM: return NBD_EPERM;
	case ENOSPC: return NBD_ENOSPC;
	case EINVAL:
	case ERANGE: return NBD_EINVAL;
	case ENOMEM: return NBD_ENOMEM;
	case EOPNOTSUPP: return NBD_ENOTSUP;
	default: return NBD_EIO;
	}
}

static int
simple_reply(struct nbd_conn *c, uint64_t cookie, uint32_t error,
	     const void *data, size_t len)
{
	unsigned char h[16];
	struct iovec iov[2] = { { h, sizeof(h) }, { (void *)data, len } };

	nbd_put32(h, NBD_SIMPLE_REPLY_MAGIC);
	nbd_put32(h + 4, error);
	nbd_put64(h + 8, cookie);
	return writev_full(c->fd, iov, len ? 2 : 1);
}

static int
chunk(struct nbd_conn *c, uint64_t cookie, uint16_t type, const void *a,
      size_t alen, const void *data, size_t len)
{
	unsigned char h[20];
	struct iovec iov[3] = { { h, sizeof(h) }, { (void *)a, alen },
				{ (void *)data, len } };

	nbd_put32(h, NBD_STRUCTURED_REPLY_MAGIC);
	nbd_put16(h + 4, NBD_REPLY_FLAG_DONE);
	nbd_put16(h + 6, type);
	nbd_put64(h + 8, cookie);
	nbd_put32(h + 16, (uint32_t)(alen + len));
	return writev_full(c->fd, iov, len ? 3 : (alen ? 2 : 1));
}

static int
reply(struct nbd_conn *c, const struct nbd_req *r, uint32_t error,
      const void *data, size_t len)
{
	unsigned char b[8];

	if (r->type != NBD_CMD_READ)
		return simple_reply(c, r->cookie, error, NULL, 0);
	if (!c->lim.structured)
		return simple_reply(c, r->cookie, error, data, error ? 0 : len);
	if (error) {
		nbd_put32(b, error);
		nbd_put16(b + 4, 0);
		return chunk(c, r->cookie, NBD_REPLY_TYPE_ERROR, b, 6, NULL, 0);
	}
	nbd_put64(b, r->offset);
	return chunk(c, r->cookie, NBD_REPLY_TYPE_OFFSET_DATA, b, 8, data,
		     len);
}

static void
slot_put(struct nbd_conn *c, struct slot *s)
{
	s->next_free = c->free;
	c->free = s;
	c->busy--;
}

static void
io_done(struct vdisk_io *io)
{
	struct slot *s = io->priv;
	struct nbd_conn *c = s->c;
	uint32_t err = io->result < 0 ? nbd_errno(io->result) : 0;

	if (!c->err && reply(c, &s->req, err, s->buf, s->req.length) < 0)
		c->err = -EPIPE;
	slot_put(c, s);
}

static int
slot_buf(struct slot *s, size_t len)
{
	if (s->cap >= len)
		return 0;
	free(s->buf);
	s->buf = NULL;
	s->cap = 0;
	if (posix_memalign(&s->buf, 4096, ALIGN_UP(len, (size_t)4096)))
		return -ENOMEM;
	s->cap = ALIGN_UP(len, (size_t)4096);
	return 0;
}

struct bs_ctx {
	unsigned char *out;
	unsigned int n, max;
	uint64_t end;
};

static int
bs_one(void *priv, uint64_t off, uint64_t len, unsigned int flags)
{
	struct bs_ctx *b = priv;
	uint32_t st = 0;

	if (!(flags & VDISK_EXTENT_DATA))
		st = NBD_STATE_ZERO |
		     ((flags & VDISK_EXTENT_ALLOCATED) ? 0 : NBD_STATE_HOLE);
	/* Lengths are 32 bits: a long extent becomes several. */
	while (len && b->n < b->max) {
		uint32_t n = (uint32_t)MIN(len, 0xfffffe00ull);

		nbd_put32(b->out + 8 * b->n, n);
		nbd_put32(b->out + 8 * b->n + 4, st);
		b->n++;
		len -= n;
	}
	return b->n >= b->max ? 1 : 0;
}

static int
block_status(struct nbd_conn *c, const struct nbd_req *r)
{
	struct bs_ctx b = { .max = (r->flags & NBD_CMD_FLAG_REQ_ONE) ? 1 :
			    MAX_EXTENTS };
	unsigned char id[4];
	int rc;

	b.out = malloc((size_t)b.max * 8);
	if (!b.out)
		return simple_reply(c, r->cookie, NBD_ENOMEM, NULL, 0);
	rc = vdisk_map(c->disk, r->offset, r->length, bs_one, &b);
	if (rc < 0 || b.n == 0) {
		free(b.out);
		return simple_reply(c, r->cookie, NBD_EIO, NULL, 0);
	}
	nbd_put32(id, NBD_META_ID);
	rc = chunk(c, r->cookie, NBD_REPLY_TYPE_BLOCK_STATUS, id, 4, b.out,
		   (size_t)b.n * 8);
	free(b.out);
	return rc;
}

static int
drain_payload(struct nbd_conn *c, uint32_t len)
{
	char junk[4096];

	while (len) {
		uint32_t n = MIN(len, (uint32_t)sizeof(junk));
		int rc = read_full(c->fd, junk, n);

		if (rc < 0)
			return rc;
		len -= n;
	}
	return 0;
}

static int
submit(struct nbd_conn *c, struct slot *s)
{
	const struct nbd_req *r = &s->req;
	struct vdisk_io *io = &s->io;
	unsigned int fl;
	int rc;

	switch (r->type) {
	case NBD_CMD_READ:
		vdisk_io_prep_read(io, r->offset, s->buf, r->length);
		break;
	case NBD_CMD_WRITE:
		fl = (r->flags & NBD_CMD_FLAG_FUA) ? VDISK_IO_FUA : 0;
		vdisk_io_prep_write(io, r->offset, s->buf, r->length, fl);
		break;
	case NBD_CMD_FLUSH:
		vdisk_io_prep_flush(io);
		break;
	case NBD_CMD_TRIM:
		vdisk_io_prep_discard(io, r->offset, r->length);
		break;
	default:
		fl = (r->flags & NBD_CMD_FLAG_NO_HOLE) ? VDISK_IO_NO_UNMAP : 0;
		vdisk_io_prep_write_zeroes(io, r->offset, r->length, fl);
		break;
	}
	io->done = io_done;
	io->priv = s;
	rc = vdisk_submit(c->q, io);
	if (rc < 0) {
		/* Checked already; answer rather than lose the request. */
		if (simple_reply(c, r->cookie, nbd_errno(rc), NULL, 0) < 0)
			c->err = -EPIPE;
		slot_put(c, s);
	}
	return 0;
}

/* Reads and starts one request. */
static int
one_request(struct nbd_conn *c)
{
	unsigned char h[NBD_REQ_BYTES];
	struct slot *s;
	struct nbd_req r;
	int rc, check;

	rc = read_full(c->fd, h, sizeof(h));
	if (rc < 0)
		return rc;
	if (nbd_req_parse(h, &r) < 0)
		return -EPROTO;
	check = nbd_req_check(&r, &c->lim);
	if (check < 0)
		return check;
	if (r.type == NBD_CMD_DISC) {
		c->closing = true;
		return 0;
	}
	if (check > 0) {
		if (r.type == NBD_CMD_WRITE) {
			rc = drain_payload(c, r.length);
			if (rc < 0)
				return rc;
		}
		return simple_reply(c, r.cookie, (uint32_t)check, NULL, 0);
	}
	if (r.type == NBD_CMD_BLOCK_STATUS)
		return block_status(c, &r);
	if (r.length == 0 && r.type != NBD_CMD_FLUSH) {
		/* Nothing to do; the engine would call it invalid. */
		if (c->lim.structured && r.type == NBD_CMD_READ)
			return chunk(c, r.cookie, NBD_REPLY_TYPE_NONE, NULL, 0,
				     NULL, 0);
		return simple_reply(c, r.cookie, 0, NULL, 0);
	}
	s = c->free;
	c->free = s->next_free;
	c->busy++;
	s->req = r;
	if ((r.type == NBD_CMD_READ || r.type == NBD_CMD_WRITE) &&
	    slot_buf(s, r.length) < 0) {
		slot_put(c, s);
		if (r.type == NBD_CMD_WRITE && drain_payload(c, r.length) < 0)
			return -EPIPE;
		return simple_reply(c, r.cookie, NBD_ENOMEM, NULL, 0);
	}
	if (r.type == NBD_CMD_WRITE) {
		rc = read_full(c->fd, s->buf, r.length);
		if (rc < 0) {
			slot_put(c, s);
			return rc;
		}
	}
	return submit(c, s);
}

static int
transmission(struct nbd_conn *c)
{
	struct pollfd p[2];
	int n, rc;

	p[1].fd = vdisk_queue_event_fd(c->q);
	p[1].events = POLLIN;
	while (!c->err) {
		bool want_req = !c->closing && c->free;

		if (c->closing && c->busy == 0)
			break;
		if (c->stop && *c->stop && c->busy == 0)
			break;
		p[0].fd = want_req ? c->fd : -1;
		p[0].events = POLLIN;
		n = poll(p, 2, POLL_MS);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		if (p[1].revents & POLLIN) {
			rc = vdisk_poll(c->q, 0, 0);
			if (rc < 0)
				c->err = rc;
		}
		if (want_req && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			rc = one_request(c);
			if (rc < 0)
				c->err = rc;
			/* Start it now; completions arrive on the eventfd. */
			rc = vdisk_kick(c->q);
			if (rc < 0)
				c->err = rc;
		}
	}
	/* Whatever is in flight finishes before the disk is let go. */
	while (vdisk_inflight(c->q))
		if (vdisk_poll(c->q, vdisk_inflight(c->q), -1) < 0)
			break;
	return c->err == -ECONNRESET ? 0 : c->err;
}

int
vdisk_nbd_session(struct vdisk *disk, int fd, const struct vdisk_nbd_opts *o)
{
	struct nbd_conn *c;
	int rc;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->disk = disk;
	c->fd = fd;
	c->export_name = o->export_name ? o->export_name : "";
	c->stop = o->stop;
	c->lim.size = vdisk_capacity(disk);
	c->lim.read_only = o->read_only || vdisk_read_only(disk);
	c->lim.min_block = VDISK_SECTOR;
	for (int i = NSLOTS - 1; i >= 0; i--) {
		c->slots[i].c = c;
		c->slots[i].next_free = c->free;
		c->free = &c->slots[i];
	}
	rc = handshake(c);
	if (rc == 1) {
		rc = vdisk_queue_create(disk, NSLOTS, &c->q);
		if (rc == 0)
			rc = transmission(c);
		vdisk_queue_destroy(c->q);
	}
	if (rc == -ECONNRESET || rc == -EPIPE || rc == -EPROTO ||
	    rc == -ENOENT) {
		log_info("vdisk.nbd", "client dropped: %s", strerror(-rc));
		rc = 0;
	}
	for (int i = 0; i < NSLOTS; i++)
		free(c->slots[i].buf);
	free(c);
	return rc;
}

/* ---- listening ---- */

static int
listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	/* A stale socket from an earlier run; never remove anything else. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 16) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int
listen_tcp(const char *hostport)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE };
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo *ai;
	int fd, one = 1, rc;

	if (!colon || (size_t)(colon - hostport) >= sizeof(host))
		return -EINVAL;
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
	if (rc != 0)
		return -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
		rc = -errno;
		close(fd);
		goto out;
	}
	rc = fd;
out:
	freeaddrinfo(ai);
	return rc;
}

int
vdisk_nbd_serve(struct vdisk *disk, const struct vdisk_nbd_opts *o)
{
	unsigned int served = 0;
	bool is_unix;
	int lfd, rc = 0;

	if (!o->listen)
		return -EINVAL;
	is_unix = !strncmp(o->listen, "unix:", 5);
	if (is_unix)
		lfd = listen_unix(o->listen + 5);
	else if (!strncmp(o->listen, "tcp:", 4))
		lfd = listen_tcp(o->listen + 4);
	else
		lfd = -EINVAL;
	if (lfd < 0) {
		vdisk_err("vdisk.nbd", "%s: cannot listen: %s", o->listen,
			  strerror(-lfd));
		return lfd;
	}
	if (o->ready_fd >= 0)
		(void)!write(o->ready_fd, "ready\n", 6);
	while (!(o->stop && *o->stop)) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		int fd;

		if (poll(&p, 1, POLL_MS) <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		rc = vdisk_nbd_session(disk, fd, o);
		close(fd);
		if (rc < 0)
			log_warn("vdisk.nbd", "connection ended: %s",
				 strerror(-rc));
		rc = 0;
		if (o->max_connections && ++served >= o->max_connections)
			break;
	}
	close(lfd);
	if (is_unix)
		unlink(o->listen + 5);
	return rc;
}
