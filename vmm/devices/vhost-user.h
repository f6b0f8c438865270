/* SPDX-License-Identifier: MIT */
/*
 * The front-end side of the vhost-user protocol (QEMU's docs/interop/
 * vhost-user.rst describes it): messages on a Unix socket that hand a
 * back end (the switch) the guest's memory as file descriptors, the
 * ring addresses, and the kick/call eventfds, so it serves the rings
 * itself. The VMM is the socket server so a back end can restart and
 * connect again.
 */
#ifndef VMM_VHOST_USER_H
#define VMM_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"

enum vhu_request {
	VHU_GET_FEATURES = 1,
	VHU_SET_FEATURES = 2,
	VHU_SET_OWNER = 3,
	VHU_SET_MEM_TABLE = 5,
	VHU_SET_VRING_NUM = 8,
	VHU_SET_VRING_ADDR = 9,
	VHU_SET_VRING_BASE = 10,
	VHU_GET_VRING_BASE = 11,
	VHU_SET_VRING_KICK = 12,
	VHU_SET_VRING_CALL = 13,
	VHU_GET_PROTOCOL_FEATURES = 15,
	VHU_SET_PROTOCOL_FEATURES = 16,
	VHU_SET_VRING_ENABLE = 18,
};

#define VHU_F_PROTOCOL_FEATURES 30
#define VHU_VERSION 0x1
#define VHU_FLAG_REPLY 0x4
#define VHU_MAX_REGIONS 8
#define VHU_VRING_NOFD (1u << 8)

struct vhu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;        /* where the front end maps it */
	uint64_t mmap_offset;  /* offset in the fd */
};

struct vhu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc, used, avail, log; /* front-end virtual addresses */
};

struct vhu_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;         /* payload bytes */
	union {
		uint64_t u64;
		struct {
			uint32_t index, num;
		} state;
		struct vhu_vring_addr addr;
		struct {
			uint32_t nregions, padding;
			struct vhu_region region[VHU_MAX_REGIONS];
		} mem;
	} payload;
} __attribute__((packed));

#define VHU_HDR_SIZE 12

/*
 * Sends a request with 'len' bytes of payload and up to 8 fds. Returns 0,
 * -EPIPE (the back end went away), -errno.
 */
int vhu_send(int sock, struct vhu_msg *m, uint32_t len, const int *fds,
	     unsigned int nfds) must_check;
/*
 * Reads the reply to 'request' within 'timeout_ms'. Checks the header
 * (version, reply flag, request, payload size <= sizeof payload) since
 * the back end is another process we do not trust. Returns 0, -EPIPE,
 * -ETIMEDOUT, -EPROTO.
 */
int vhu_recv_reply(int sock, uint32_t request, struct vhu_msg *m,
		   int timeout_ms) must_check;
/* Convenience: a request whose reply is one u64. */
int vhu_get_u64(int sock, uint32_t request, uint64_t *out) must_check;

#endif
