/* SPDX-License-Identifier: MIT */
/*
 * vhost-user message framing for the front end (vhost-user.h): SCM_RIGHTS
 * for file descriptors, replies read with a deadline and checked field by
 * field before use.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm/devices/vhost-user.h"

int
vhu_send(int sock, struct vhu_msg *m, uint32_t len, const int *fds,
	 unsigned int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHU_MAX_REGIONS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { m, VHU_HDR_SIZE + len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > VHU_MAX_REGIONS || len > sizeof(m->payload))
		return -EINVAL;
	m->flags = VHU_VERSION;
	m->size = len;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ECONNRESET ? -EPIPE : -errno;
	return (size_t)n == iov.iov_len ? 0 : -EPIPE;
}

static int
read_full(int sock, void *buf, size_t len, int timeout_ms)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		ssize_t n;
		int r = poll(&p, 1, timeout_ms);

		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0 && errno != EINTR)
			return -errno;
		n = recv(sock, (char *)buf + got, len - got, MSG_DONTWAIT);
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -EPIPE;
		}
		got += (size_t)n;
	}
	return 0;
}

int
vhu_recv_reply(int sock, uint32_t request, struct vhu_msg *m, int timeout_ms)
{
	int err = read_full(sock, m, VHU_HDR_SIZE, timeout_ms);

	if (err < 0)
		return err;
	if ((m->flags & 0x3) != VHU_VERSION || !(m->flags & VHU_FLAG_REPLY) ||
	    m->request != request || m->size > sizeof(m->payload))
		return -EPROTO;
	return read_full(sock, &m->payload, m->size, timeout_ms);
}

int
vhu_get_u64(int sock, uint32_t request, uint64_t *out)
{
	struct vhu_msg m = { .request = request };
	int err = vhu_send(sock, &m, 0, NULL, 0);

	if (err == 0)
		err = vhu_recv_reply(sock, request, &m, 2000);
	if (err == 0 && m.size != sizeof(uint64_t))
		err = -EPROTO;
	if (err == 0)
		*out = m.payload.u64;
	return err;
}
