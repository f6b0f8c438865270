/* SPDX-License-Identifier: MIT */
/*
 * DHCP on the wire: parsing a client's Ethernet/IPv4/UDP/DHCP frame into
 * the few fields the server needs, and building the reply frame. Every
 * length and option is bounds-checked: frames come from VMs.
 */
#ifndef VSWITCH_DHCP_WIRE_H
#define VSWITCH_DHCP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "vswitch/dhcp-server.h"

enum dhcp_type {
	DHCPDISCOVER = 1,
	DHCPOFFER = 2,
	DHCPREQUEST = 3,
	DHCPDECLINE = 4,
	DHCPACK = 5,
	DHCPNAK = 6,
	DHCPRELEASE = 7,
	DHCPINFORM = 8,
};

/* What a client asked; addresses in host order. */
struct dhcp_msg {
	enum dhcp_type type;
	uint32_t xid;
	uint16_t flags;              /* bit 15: reply by broadcast */
	uint32_t ciaddr, giaddr;
	uint8_t chaddr[6];
	uint8_t src_mac[6];          /* Ethernet source of the request */
	uint32_t requested_ip;       /* option 50, 0 if absent */
	uint32_t server_id;          /* option 54, 0 if absent */
	char hostname[VSW_DHCP_HOSTNAME_MAX]; /* option 12, printable only */
};

/* What the server answers. */
struct dhcp_answer {
	enum dhcp_type type;         /* OFFER, ACK or NAK */
	uint32_t yiaddr;
	uint32_t lease_secs;         /* 0: no lease options (INFORM) */
	uint32_t server_ip, netmask, broadcast, router, dns[2];
	uint8_t server_mac[6];
	const char *domain;
};

enum dhcp_direction {
	DHCP_NOT_DHCP,
	DHCP_CLIENT_TO_SERVER,  /* UDP to port 67 */
	DHCP_SERVER_TO_CLIENT,  /* UDP from port 67 to 68 */
};

/* Classifies a frame by its UDP ports without full parsing. */
enum dhcp_direction dhcp_udp_ports(const uint8_t *frame, size_t len);
/* 0, or -EINVAL for anything malformed or not a DHCP request. */
int dhcp_parse_frame(const uint8_t *frame, size_t len, struct dhcp_msg *out);
/* Writes the reply frame (<= VSW_DHCP_FRAME_MAX bytes); returns its length. */
int dhcp_build_reply(const struct dhcp_msg *m, const struct dhcp_answer *a,
		     uint8_t *frame);

#endif
