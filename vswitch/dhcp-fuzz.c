/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: DHCP frames from VMs into the server, then the lease
 * file parser. One server lives across inputs so state builds up.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vswitch/dhcp-server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vsw_dhcp_server *srv;

static void
setup(void)
{
	struct vsw_dhcp_config c = {
		.subnet = 0xc0a83200, .prefix_len = 24,
		.server_ip = 0xc0a83202, .router = 0xc0a83202,
		.pool_first = 0xc0a83280, .pool_last = 0xc0a83290,
		.nreservations = 1,
		.reservations = { { { 2, 0, 0, 0, 0, 1 }, 0xc0a8320a } },
	};

	vsw_dhcp_create(&c, &srv, NULL, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t now = 1700000000;
	uint8_t reply[VSW_DHCP_FRAME_MAX];
	struct vsw_dhcp_lease leases[8];
	FILE *f;

	if (!srv)
		setup();
	if (size && data[0] == 'L') {
		/* A lease file. */
		f = fmemopen((void *)(data + 1), size - 1, "r");
		if (f) {
			vsw_dhcp_load(srv, f, now, NULL);
			fclose(f);
		}
		return 0;
	}
	vsw_dhcp_is_server_frame(data, size);
	vsw_dhcp_handle_frame(srv, data, size, now, reply);
	vsw_dhcp_leases(srv, leases, 8);
	now += 7;
	return 0;
}
