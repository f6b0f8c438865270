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

/* ---- shared by the server and the uplink's client ---- */

#define DHCP_PORT_SERVER 67
#define DHCP_PORT_CLIENT 68
#define DHCP_BOOTP_FIXED 236   /* op .. file */
#define DHCP_MAGIC 0x63825363u
#define DHCP_BOOTP_MIN 300     /* messages are padded to the BOOTP size */
/* Where the BOOTP message starts in an untagged frame we write. */
#define DHCP_BOOTP_OFF (14 + 20 + 8)

enum dhcp_opt {
	DHCP_OPT_PAD = 0,
	DHCP_OPT_SUBNET_MASK = 1,
	DHCP_OPT_ROUTER = 3,
	DHCP_OPT_DNS = 6,
	DHCP_OPT_HOSTNAME = 12,
	DHCP_OPT_DOMAIN = 15,
	DHCP_OPT_BROADCAST = 28,
	DHCP_OPT_REQUESTED_IP = 50,
	DHCP_OPT_LEASE_TIME = 51,
	DHCP_OPT_MSG_TYPE = 53,
	DHCP_OPT_SERVER_ID = 54,
	DHCP_OPT_PARAM_LIST = 55,
	DHCP_OPT_MESSAGE = 56,
	DHCP_OPT_RENEWAL = 58,
	DHCP_OPT_REBINDING = 59,
	DHCP_OPT_CLIENT_ID = 61,
	DHCP_OPT_END = 255,
};

/*
 * The BOOTP message (fixed part, magic cookie, options) of an untagged,
 * unfragmented IPv4/UDP frame to port 'dport' and, unless 0, from port
 * 'sport'; sets '*blen' to its length. NULL when the frame is not one.
 */
const uint8_t *dhcp_bootp_find(const uint8_t *f, size_t len, uint16_t sport,
			       uint16_t dport, size_t *blen);

/*
 * Calls 'fn' for each option of the 'n' bytes at 'p' until END (pads
 * skipped); an option running past the end is -EINVAL, and a negative
 * return of 'fn' stops the walk with it. Returns 0 otherwise.
 */
int dhcp_options_walk(const uint8_t *p, size_t n,
		      int (*fn)(uint8_t code, const uint8_t *v, uint8_t len,
				void *arg),
		      void *arg);

/* Writes a 4-byte option; returns the byte after it. */
uint8_t *dhcp_opt_u32(uint8_t *p, uint8_t code, uint32_t v);

/*
 * Completes a frame whose BOOTP message of 'blen' bytes is already at
 * f + DHCP_BOOTP_OFF (Ethernet addresses at f are the caller's): pads
 * it to DHCP_BOOTP_MIN, writes the IPv4 header (DF, TTL 64) and the UDP
 * header with both checksums. Returns the frame length.
 */
size_t dhcp_frame_finish(uint8_t *f, uint32_t src_ip, uint32_t dst_ip,
			 uint16_t sport, uint16_t dport, size_t blen);

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
