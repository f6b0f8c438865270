/* SPDX-License-Identifier: MIT */
/* vmctl's side of the control socket: one request line, one reply line. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"
#include "vmm/vmm.h"

#define REPLY_MAX (1u << 20)

int
vmm_control_call(const char *path, const char *request, int timeout_ms,
		 char **reply)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	uint64_t deadline = clock_mono_ns() + (uint64_t)timeout_ms * NS_PER_MS;
	size_t len = 0, cap = 4096, rlen = strlen(request);
	char *buf = NULL;
	int fd, err;

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    write(fd, request, rlen) != (ssize_t)rlen || write(fd, "\n", 1) != 1) {
		err = -errno;
		goto out;
	}
	buf = malloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)(deadline - clock_mono_ns()) / 1000000;
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			err = -ETIMEDOUT;
			goto out;
		}
		if (len + 1 == cap) {
			char *nb = cap < REPLY_MAX ? realloc(buf, cap * 2) : NULL;

			if (!nb) {
				err = -EPROTO;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0) {
			err = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (!len || buf[len - 1] != '\n') {
		err = -EPROTO;
		goto out;
	}
	buf[len - 1] = '\0';
	*reply = buf;
	buf = NULL;
	err = 0;
out:
	free(buf);
	close(fd);
	return err;
}
