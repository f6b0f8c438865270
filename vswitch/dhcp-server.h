/* SPDX-License-Identifier: MIT */
/*
 * The switch's built-in DHCP server for lab networks (RFC 2131/2132):
 * DISCOVER/OFFER/REQUEST/ACK/NAK, RELEASE, DECLINE and INFORM; lease times
 * with renewal and rebinding times; router, DNS, domain and broadcast
 * options; static reservations by MAC; leases saved to and restored from a
 * text file so they survive a switch restart.
 *
 * Pure protocol logic with no DPDK: the network stage hands it a whole
 * Ethernet frame (untagged, as seen inside the network) and gets back the
 * reply frame to send, which keeps it testable and fuzzable alone.
 *
 * Time comes in as 'now' (seconds of wall-clock time, so that persisted
 * expiry times mean something after a restart). Not thread safe: one
 * server belongs to the data-plane thread that calls it; reading leases
 * for display goes through the control path's own copy (vsw_dhcp_leases).
 */
#ifndef VSWITCH_DHCP_SERVER_H
#define VSWITCH_DHCP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define VSW_DHCP_MAX_RESERVATIONS 256
#define VSW_DHCP_MAX_POOL 65536       /* addresses in one pool */
#define VSW_DHCP_HOSTNAME_MAX 64
#define VSW_DHCP_FRAME_MAX 1514       /* largest reply frame */

/* Addresses are IPv4 in host byte order throughout this API. */
struct vsw_dhcp_reservation {
	uint8_t mac[6];
	uint32_t ip;
};

struct vsw_dhcp_config {
	uint32_t subnet;          /* network address */
	uint8_t prefix_len;       /* 8..30 */
	uint32_t server_ip;       /* the gateway: answers as the server */
	uint8_t server_mac[6];    /* source MAC of replies */
	uint32_t router;          /* option 3; 0: none (isolated network) */
	uint32_t dns[2];          /* option 6; 0: unused */
	char domain[64];          /* option 15; "" for none */
	uint32_t pool_first, pool_last;   /* inclusive */
	uint32_t lease_secs;      /* 0: 1800, VMware Workstation's default */
	uint32_t offer_hold_secs; /* an unanswered OFFER is held; 0: 60 */
	struct vsw_dhcp_reservation reservations[VSW_DHCP_MAX_RESERVATIONS];
	unsigned int nreservations;
};

enum vsw_dhcp_lease_state {
	VSW_DHCP_FREE,
	VSW_DHCP_OFFERED,   /* held for a client until offer_hold_secs */
	VSW_DHCP_BOUND,
	VSW_DHCP_DECLINED,  /* a client found the address in use */
};

struct vsw_dhcp_lease {
	uint32_t ip;
	uint8_t mac[6];
	enum vsw_dhcp_lease_state state;
	uint64_t expires;                 /* wall-clock seconds */
	char hostname[VSW_DHCP_HOSTNAME_MAX];
	bool reserved;                    /* a static reservation */
};

/* Counters, by outcome; drops are by reason. */
struct vsw_dhcp_stats {
	uint64_t discovers, offers, requests, acks, naks, releases, declines,
		informs;
	uint64_t malformed;       /* not a parseable DHCP request */
	uint64_t not_for_us;      /* REQUEST naming another server */
	uint64_t pool_exhausted;  /* DISCOVER with no address to offer */
};

struct vsw_dhcp_server;

/*
 * Checks 'cfg' (pool inside the subnet, server address outside the pool,
 * reservations inside the subnet and unique). Returns 0, -EINVAL with a
 * message in 'err', or -ENOMEM.
 */
int vsw_dhcp_create(const struct vsw_dhcp_config *cfg,
		    struct vsw_dhcp_server **out, char *err, size_t errlen);
void vsw_dhcp_destroy(struct vsw_dhcp_server *srv);

/* True if 'frame' is a UDP datagram to the DHCP server port (67). */
bool vsw_dhcp_is_request_frame(const uint8_t *frame, size_t len);
/* True if 'frame' is a DHCP server reply (UDP from port 67): a VM sending
 * one is a rogue server, and the switch drops it. */
bool vsw_dhcp_is_server_frame(const uint8_t *frame, size_t len);

/*
 * Handles one client frame (Ethernet + IPv4 + UDP + DHCP). On a reply,
 * writes it into 'reply' (at least VSW_DHCP_FRAME_MAX bytes) and returns
 * its length; returns 0 when no reply is due (RELEASE, DECLINE, a
 * REQUEST for another server) and -EINVAL for a malformed frame (counted).
 */
int vsw_dhcp_handle_frame(struct vsw_dhcp_server *srv, const uint8_t *frame,
			  size_t len, uint64_t now, uint8_t *reply);

/* Drops expired leases and offers; cheap, call now and then. */
void vsw_dhcp_expire(struct vsw_dhcp_server *srv, uint64_t now);

/*
 * Copies up to 'max' leases that are not FREE into 'out'; returns how
 * many there are in all.
 */
size_t vsw_dhcp_leases(const struct vsw_dhcp_server *srv,
		       struct vsw_dhcp_lease *out, size_t max);
void vsw_dhcp_get_stats(const struct vsw_dhcp_server *srv,
			struct vsw_dhcp_stats *out);

/*
 * Persistence: one line per bound lease, "MAC IP EXPIRES [HOSTNAME]".
 * Loading skips leases that expired, lie outside the pool or conflict, and
 * returns how many it restored, or -EINVAL with the malformed line's
 * number in '*bad_line' (if not NULL).
 */
int vsw_dhcp_save(const struct vsw_dhcp_server *srv, FILE *f);
int vsw_dhcp_load(struct vsw_dhcp_server *srv, FILE *f, uint64_t now,
		  int *bad_line);

#endif
