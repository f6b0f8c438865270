/* SPDX-License-Identifier: MIT */
/*
 * Building client DHCP frames and reading server replies, for the DHCP
 * tests and fuzzer seeds. Not used by the switch itself.
 */
#ifndef VSWITCH_DHCP_FRAME_UTIL_H
#define VSWITCH_DHCP_FRAME_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dhcp_client_req {
	uint8_t type;          /* 1 DISCOVER, 3 REQUEST, 4 DECLINE, 7 RELEASE, 8 INFORM */
	uint8_t mac[6];
	uint32_t xid;
	uint32_t ciaddr;
	uint32_t requested_ip; /* option 50; 0: absent */
	uint32_t server_id;    /* option 54; 0: absent */
	bool broadcast;        /* flags bit 15 */
	const char *hostname;
};

/* Writes a client frame into 'f' (>= 600 bytes); returns its length. */
size_t dhcp_test_build_request(const struct dhcp_client_req *r, uint8_t *f);

struct dhcp_test_reply {
	uint8_t type;
	uint32_t yiaddr, ciaddr, xid;
	uint32_t ip_src, ip_dst;
	uint8_t eth_dst[6], chaddr[6];
	uint32_t server_id, lease, mask, router, broadcast, dns0;
	bool has_lease;
	char domain[64];
	bool ip_csum_ok, udp_csum_ok;
};

/* Parses a server reply frame; false if it is not one. */
bool dhcp_test_parse_reply(const uint8_t *f, size_t len,
			   struct dhcp_test_reply *out);

#endif
