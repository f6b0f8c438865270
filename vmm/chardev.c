/* SPDX-License-Identifier: MIT */
/*
 * Character back ends for the consoles (the 8250 UART in serial.c and
 * virtio-console): output to stdout, a file, or the client of a
 * listening Unix socket (one at a time; what is written while none is
 * connected waits in a 4 KiB backlog); input from stdin when it is a
 * terminal, or from that client. The owner's input callback runs on the
 * main loop when bytes can be read; it reads them with
 * vmm_chardev_read() and may pause input while it has no room, so a
 * readable descriptor does not spin the loop.
 *
 * Threading: writes come from vCPU or device threads, accept and input
 * from the main loop; 'lock' keeps the descriptors consistent between
 * them. Owners call in with their own lock held, never the other way.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm/vmm-internal.h"

/* Under cd->lock: the input side is gone (EOF, hangup, client left). */
static void
drop_input(struct vmm_chardev *cd)
{
	if (cd->in_watched)
		vmm_loop_del(cd->vm, &cd->in_ev);
	cd->in_watched = false;
	if (cd->listen_fd >= 0 && cd->out_fd >= 0) {
		close(cd->out_fd);
		cd->out_fd = -1;
	}
	cd->in_fd = cd->in_ev.fd = -1;
}

static void
watch_input(struct vmm_chardev *cd)
{
	if (cd->in_fd < 0 || cd->in_watched || cd->paused)
		return;
	cd->in_ev.fd = cd->in_fd;
	cd->in_watched = vmm_loop_add(cd->vm, &cd->in_ev, EPOLLIN) == 0;
}

static void
input_ready(struct vmm_vm *vm, void *opaque, uint32_t events)
{
	struct vmm_chardev *cd = opaque;

	cd->input(cd->opaque);
}

static void
accept_client(struct vmm_vm *vm, void *opaque, uint32_t events)
{
	struct vmm_chardev *cd = opaque;
	int fd = accept4(cd->listen_fd, NULL, NULL,
			 SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	pthread_mutex_lock(&cd->lock);
	if (cd->out_fd >= 0) {
		pthread_mutex_unlock(&cd->lock);
		close(fd); /* one client at a time */
		return;
	}
	cd->out_fd = cd->in_fd = fd;
	if (cd->backlog_len && write(fd, cd->backlog, cd->backlog_len) > 0)
		cd->backlog_len = 0;
	watch_input(cd);
	pthread_mutex_unlock(&cd->lock);
}

static int
listen_on(struct vmm_chardev *cd, const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, 1) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	cd->listen_fd = fd;
	cd->path = path;
	cd->listen_ev = (struct vmm_event){ fd, accept_client, cd };
	return vmm_loop_add(cd->vm, &cd->listen_ev, EPOLLIN);
}

int
vmm_chardev_open(struct vmm_chardev *cd, struct vmm_vm *vm,
		 enum vmm_serial_kind kind, const char *path,
		 void (*input)(void *opaque), void *opaque)
{
	int err = 0;

	memset(cd, 0, sizeof(*cd));
	cd->vm = vm;
	cd->out_fd = cd->in_fd = cd->listen_fd = -1;
	cd->input = input;
	cd->opaque = opaque;
	cd->in_ev = (struct vmm_event){ -1, input_ready, cd };
	pthread_mutex_init(&cd->lock, NULL);
	switch (kind) {
	case VMM_SERIAL_STDIO:
		cd->out_fd = STDOUT_FILENO;
		if (isatty(STDIN_FILENO)) {
			cd->in_fd = STDIN_FILENO;
			watch_input(cd);
		}
		break;
	case VMM_SERIAL_FILE:
		cd->out_fd = open(path, O_WRONLY | O_CREAT | O_APPEND |
				  O_CLOEXEC, 0644);
		if (cd->out_fd < 0)
			err = -errno;
		cd->own_out = true;
		break;
	case VMM_SERIAL_UNIX:
		err = listen_on(cd, path);
		break;
	case VMM_SERIAL_NONE:
		break;
	}
	if (err < 0)
		vmm_chardev_close(cd);
	return err;
}

void
vmm_chardev_write(struct vmm_chardev *cd, const void *buf, size_t len)
{
	size_t room;

	pthread_mutex_lock(&cd->lock);
	if (cd->out_fd >= 0) {
		/* A client that does not read loses bytes (a console never
		   blocks the guest); one that went away is dropped. */
		if (write(cd->out_fd, buf, len) < 0 && cd->listen_fd >= 0 &&
		    errno != EAGAIN)
			drop_input(cd);
	} else if (cd->listen_fd >= 0) {
		room = sizeof(cd->backlog) - cd->backlog_len;
		len = len < room ? len : room;
		memcpy(cd->backlog + cd->backlog_len, buf, len);
		cd->backlog_len += len;
	}
	pthread_mutex_unlock(&cd->lock);
}

ssize_t
vmm_chardev_read(struct vmm_chardev *cd, void *buf, size_t len)
{
	ssize_t n;

	if (!len)
		return 0;
	pthread_mutex_lock(&cd->lock);
	if (cd->in_fd < 0) {
		pthread_mutex_unlock(&cd->lock);
		return 0;
	}
	n = read(cd->in_fd, buf, len);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		drop_input(cd);
	pthread_mutex_unlock(&cd->lock);
	return n < 0 ? 0 : n;
}

void
vmm_chardev_pause_input(struct vmm_chardev *cd, bool pause)
{
	pthread_mutex_lock(&cd->lock);
	cd->paused = pause;
	if (pause && cd->in_watched) {
		vmm_loop_del(cd->vm, &cd->in_ev);
		cd->in_watched = false;
	} else if (!pause) {
		watch_input(cd);
	}
	pthread_mutex_unlock(&cd->lock);
}

void
vmm_chardev_close(struct vmm_chardev *cd)
{
	if (!cd->vm)
		return;
	if (cd->in_watched)
		vmm_loop_del(cd->vm, &cd->in_ev);
	if (cd->listen_fd >= 0) {
		vmm_loop_del(cd->vm, &cd->listen_ev);
		if (cd->out_fd >= 0)
			close(cd->out_fd);
		close(cd->listen_fd);
		unlink(cd->path);
	} else if (cd->own_out && cd->out_fd >= 0) {
		close(cd->out_fd);
	}
	pthread_mutex_destroy(&cd->lock);
	cd->vm = NULL;
}
