/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: what a vhost-user back end (another process) sends
 * back to the VMM. The first byte picks the request the VMM waits for;
 * the rest arrives on a socket, which then closes. The reply reader must
 * refuse bad headers and never take more payload than the message holds.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm/devices/vhost-user.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t reqs[] = { VHU_GET_FEATURES,
					 VHU_GET_PROTOCOL_FEATURES,
					 VHU_GET_VRING_BASE };
	struct vhu_msg m;
	uint64_t v;
	int sv[2], rc;

	if (size < 1 || size > 65536)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	if (write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1)) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	shutdown(sv[1], SHUT_WR);
	memset(&m, 0, sizeof(m));
	if (data[0] & 0x80) {
		/* The u64 helper sends its request first (nobody reads it). */
		rc = vhu_get_u64(sv[0], reqs[data[0] % 2], &v);
		(void)v;
	} else {
		rc = vhu_recv_reply(sv[0], reqs[data[0] % 3], &m, 0);
		if (rc == 0 && m.size > sizeof(m.payload))
			__builtin_trap();
	}
	(void)rc;
	close(sv[0]);
	close(sv[1]);
	return 0;
}
