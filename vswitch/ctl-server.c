/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a unix stream socket, mode 0600, carrying one JSON
 * request per line and one JSON reply per line (vsw_request()). A few
 * clients at a time; a line longer than VSW_REQ_MAX_BYTES gets an error
 * reply and the connection is closed. A socket file left by a dead daemon
 * is replaced; one answered by a live daemon is not.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "vswitch/vsw-internal.h"

#define MAX_CLIENTS 16

struct client {
	int fd;
	size_t len;
	char *buf;               /* VSW_REQ_MAX_BYTES + 1 */
};

static int
write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
reply(struct vsw *vsw, int fd, const char *line, size_t len)
{
	char *out = vsw_request(vsw, line, len);
	int r;

	if (!out) {
		static const char msg[] = "{\"ok\":false,\"error\":\"out of "
					  "memory\",\"errno\":12}\n";

		return write_all(fd, msg, sizeof(msg) - 1);
	}
	r = write_all(fd, out, strlen(out));
	if (!r)
		r = write_all(fd, "\n", 1);
	free(out);
	return r;
}

/* Serves complete lines in 'c'; returns <0 to close the connection. */
static int
client_read(struct vsw *vsw, struct client *c)
{
	ssize_t n = read(c->fd, c->buf + c->len, VSW_REQ_MAX_BYTES - c->len);
	char *nl;

	if (n <= 0)
		return -1;
	c->len += (size_t)n;
	while ((nl = memchr(c->buf, '\n', c->len))) {
		size_t l = (size_t)(nl - c->buf);

		if (l && reply(vsw, c->fd, c->buf, l) < 0)
			return -1;
		memmove(c->buf, nl + 1, c->len - l - 1);
		c->len -= l + 1;
	}
	if (c->len >= VSW_REQ_MAX_BYTES) {
		static const char msg[] = "{\"ok\":false,\"error\":\"request "
					  "too long\",\"errno\":7}\n";

		write_all(c->fd, msg, sizeof(msg) - 1);
		return -1;
	}
	return 0;
}

static int
socket_in_use(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int r;

	if (fd < 0)
		return 0;
	r = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	close(fd);
	return r == 0;
}

static int
listen_on(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, r;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	if (socket_in_use(&addr)) {
		log_err("vswitch.ctl", "%s: another daemon answers there", path);
		return -EADDRINUSE;
	}
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (r < 0 || chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int
vsw_ctl_serve(struct vsw *vsw, const char *path, volatile bool *stop)
{
	struct client cl[MAX_CLIENTS];
	struct pollfd pfd[MAX_CLIENTS + 2];
	int lfd, n = 0;

	lfd = listen_on(path);
	if (lfd < 0)
		return lfd;
	log_info("vswitch.ctl", "listening on %s", path);
	while (!*stop) {
		int r;

		pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (int i = 0; i < n; i++)
			pfd[i + 1] = (struct pollfd){ .fd = cl[i].fd,
						      .events = POLLIN };
		/* Uplink DHCP replies wake housekeeping at once. */
		pfd[n + 1] = (struct pollfd){ .fd = vsw_uplink_dhcp_fd(vsw),
					      .events = POLLIN };
		r = poll(pfd, (nfds_t)n + 2, vsw_uplink_dhcp_wait_ms(vsw, 200));
		if (r < 0 && errno != EINTR)
			break;
		vsw_housekeeping(vsw);
		if (r <= 0)
			continue;
		for (int i = n - 1; i >= 0; i--) {
			if (!pfd[i + 1].revents)
				continue;
			if (client_read(vsw, &cl[i]) < 0) {
				close(cl[i].fd);
				free(cl[i].buf);
				cl[i] = cl[--n];
			}
		}
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (fd < 0)
				continue;
			if (n == MAX_CLIENTS) {
				close(fd);
				continue;
			}
			cl[n].buf = malloc(VSW_REQ_MAX_BYTES + 1);
			if (!cl[n].buf) {
				close(fd);
				continue;
			}
			cl[n].fd = fd;
			cl[n].len = 0;
			n++;
		}
	}
	for (int i = 0; i < n; i++) {
		close(cl[i].fd);
		free(cl[i].buf);
	}
	close(lfd);
	unlink(path);
	return 0;
}
