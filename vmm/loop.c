/* SPDX-License-Identifier: MIT */
/* The main thread's epoll loop: control socket, serial input, vhost-user. */
#include <errno.h>
#include <sys/epoll.h>

#include "vmm/vmm-internal.h"

int
vmm_loop_add(struct vmm_vm *vm, struct vmm_event *ev, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	if (epoll_ctl(vm->epfd, EPOLL_CTL_ADD, ev->fd, &e) < 0)
		return -errno;
	return 0;
}

void
vmm_loop_del(struct vmm_vm *vm, struct vmm_event *ev)
{
	if (ev->fd >= 0)
		epoll_ctl(vm->epfd, EPOLL_CTL_DEL, ev->fd, NULL);
}
