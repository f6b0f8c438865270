/* SPDX-License-Identifier: MIT */
/* Write-log records, shared by lun-faulty.c (writer) and lun-writelog.c. */
#ifndef VFS_LUN_WRITELOG_H
#define VFS_LUN_WRITELOG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

enum wl_type {
	WL_WRITE = 1,
	WL_FUA_WRITE = 2,
	WL_FLUSH = 3,
	WL_DISCARD = 4,
};

static inline bool
wl_has_data(uint32_t type)
{
	return type == WL_WRITE || type == WL_FUA_WRITE;
}

/* Appends one record with a single O_APPEND writev; 0 or -errno. */
int wl_append(int fd, uint64_t seq, uint32_t type, uint64_t offset,
	      const struct iovec *iov, unsigned int iovcnt, uint32_t len);

#endif
