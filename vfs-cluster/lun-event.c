/* SPDX-License-Identifier: MIT */
/*
 * The small fd helpers behind lun_event_fd(): each backend keeps its
 * completion fd level-triggered with an eventfd it sets when completions
 * are queued and empties when they are reaped, plus (iSCSI, the fault
 * wrapper) a timerfd armed at the next deadline or delayed completion.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "vfs-cluster/lun-provider.h"

int
lun_eventfd_new(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	return fd < 0 ? -errno : fd;
}

void
lun_eventfd_signal(int fd)
{
	uint64_t one = 1;

	/* Only fails when the counter is saturated: readable anyway. */
	(void)!write(fd, &one, sizeof(one));
}

void
lun_eventfd_drain(int fd)
{
	uint64_t n;

	(void)!read(fd, &n, sizeof(n));
}

int
lun_timerfd_new(void)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

	return fd < 0 ? -errno : fd;
}

void
lun_timerfd_arm(int fd, uint64_t at_ns)
{
	struct itimerspec its = { 0 };

	/* Setting the timer also clears expirations not yet read. */
	if (at_ns != UINT64_MAX) {
		/* 0 would disarm: a time in the past fires at once. */
		if (at_ns == 0)
			at_ns = 1;
		its.it_value.tv_sec = (time_t)(at_ns / NS_PER_SEC);
		its.it_value.tv_nsec = (long)(at_ns % NS_PER_SEC);
	}
	timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
}
