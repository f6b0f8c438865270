/* SPDX-License-Identifier: MIT */
/*
 * The DHCP client of a routed uplink (RFC 2131): the protocol as a state
 * machine on caller memory, with no I/O and no clock of its own, so the
 * daemon drives it (vswitch/uplink-dhcp.c), the fuzzer feeds it hostile
 * replies, and a test steps its timers. Times are milliseconds of a
 * monotonic clock ('now'); a lease is also stamped with wall-clock
 * seconds ('wall') so that a restarted daemon can tell how much is left.
 *
 * An ACKed address is not used at once: the client first asks with ARP
 * whether another host holds it (RFC 2131 3.1 step 5, RFC 5227); a
 * conflict gets a DHCPDECLINE and a new start after a wait. ARP frames go
 * in and out through the same calls as DHCP frames.
 */
#ifndef VSWITCH_DHCP_CLIENT_H
#define VSWITCH_DHCP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VSW_DHCPC_FRAME_MAX 600     /* every frame the client writes fits */

/*
 * The ARP check of an ACKed address. RFC 5227 waits 0-1 s, sends 3 probes
 * 1-2 s apart and listens 2 s after the last: 4-8 s before the address is
 * usable. A routed uplink is one Ethernet segment where a host holding
 * the address answers each probe within a millisecond or so, so fewer
 * probes closer together catch the same conflicts and cost 400 ms, not
 * seconds, of the time to an address; no initial random wait (it spreads
 * hosts switched on together, and the DHCP exchange already did). Two
 * probes, not one, so that a single lost frame does not hide a conflict.
 */
#define VSW_DHCPC_PROBE_NUM 2
/* Between probes, and after the last. */
#define VSW_DHCPC_PROBE_INTERVAL_MS 200
/* After a DHCPDECLINE, before DISCOVER again (RFC 2131 3.1: at least 10 s). */
#define VSW_DHCPC_DECLINE_WAIT_MS 10000

enum vsw_dhcpc_state {
	VSW_DHCPC_INIT,         /* about to send DISCOVER */
	VSW_DHCPC_SELECTING,    /* DISCOVER sent, waiting for an OFFER */
	VSW_DHCPC_REQUESTING,   /* REQUEST for an OFFER sent */
	VSW_DHCPC_REBOOTING,    /* INIT-REBOOT: REQUEST for the saved lease */
	VSW_DHCPC_PROBING,      /* ACKed: ARP probes, nobody may answer */
	VSW_DHCPC_BOUND,
	VSW_DHCPC_RENEWING,     /* after T1: REQUEST unicast to the server */
	VSW_DHCPC_REBINDING,    /* after T2: REQUEST broadcast */
	VSW_DHCPC_STATE_COUNT,
};

const char *vsw_dhcpc_state_name(enum vsw_dhcpc_state s);

/* A lease; addresses in host order. */
struct vsw_dhcpc_lease {
	uint32_t addr;
	uint8_t prefix_len;
	uint32_t router;         /* 0: none on the subnet */
	uint32_t server;         /* server identifier (option 54) */
	uint32_t lease_s, t1_s, t2_s;
	uint64_t acquired_wall;  /* wall-clock seconds of the ACK */
	uint64_t acquired_ms;    /* monotonic ms of the ACK (not saved) */
};

struct vsw_dhcpc_stats {
	uint64_t discovers, requests, releases;
	uint64_t offers, acks, naks;
	uint64_t renewals, rebinds, reboots; /* ACKs in those states */
	uint64_t expiries;
	uint64_t probes, announcements; /* ARP frames sent */
	uint64_t declines;       /* ACKed addresses another host held */
	uint64_t bad_replies;    /* malformed, another client's, unasked */
};

struct vsw_dhcpc {
	enum vsw_dhcpc_state state;
	uint8_t mac[6];
	uint32_t xid;
	uint32_t rng;            /* xorshift state: xids and jitter */
	uint32_t offered, offer_server;
	/* Valid from BOUND on (and in REBOOTING, PROBING: not in use yet). */
	struct vsw_dhcpc_lease lease;
	bool have_lease;         /* 'lease' holds the address in use */
	uint64_t next_ms;        /* next transmission */
	uint32_t rto_ms;         /* current retransmission wait */
	unsigned int tries;      /* transmissions in this state */
	uint64_t start_ms;       /* the exchange began (secs field) */
	unsigned int naks_in_row; /* NAKs since the last ACK */
	uint32_t declined;       /* the last address declined, 0: none */
	uint8_t declined_by[6];  /* the MAC that claimed it */
	struct vsw_dhcpc_stats st;
};

/* What an input or a timer changed. */
enum {
	VSW_DHCPC_EV_BOUND = 1,   /* a lease is (newly) in use: apply it */
	VSW_DHCPC_EV_RENEWED = 2, /* same address, new times: save it */
	VSW_DHCPC_EV_LOST = 4,    /* the address must go (expiry, NAK) */
	VSW_DHCPC_EV_PROBING = 8, /* ACKed: ARP frames for lease.addr to input */
	VSW_DHCPC_EV_DECLINED = 16, /* another host has it: DECLINE sent */
};

/*
 * Starts a client for the interface of 'mac'. With a saved lease not
 * yet expired at 'wall', it begins in INIT-REBOOT, asking for that
 * address again; otherwise in INIT. 'seed' varies the transaction ids.
 */
void vsw_dhcpc_start(struct vsw_dhcpc *c, const uint8_t mac[6],
		     const struct vsw_dhcpc_lease *saved, uint64_t now,
		     uint64_t wall, uint32_t seed);

/*
 * Timers: when a transmission is due writes the frame into 'out' (room
 * for VSW_DHCPC_FRAME_MAX bytes) and returns its length, else 0; ORs
 * events into '*ev'. '*unicast' says the frame goes to the server's IP
 * address (the caller resolves its MAC; the Ethernet destination is
 * left zero), else it is a broadcast. Call until it returns 0.
 */
size_t vsw_dhcpc_poll(struct vsw_dhcpc *c, uint64_t now, uint64_t wall,
		      uint8_t *out, bool *unicast, int *ev);

/*
 * A frame received on the interface (untrusted; a DHCP frame that is not
 * a reply to us is counted and ignored). ARP frames matter in PROBING
 * only: one from another MAC with the probed address as sender, or a
 * probe (sender 0) for it, is a conflict. May write a frame to send as
 * vsw_dhcpc_poll() does. Returns the frame length or 0.
 */
size_t vsw_dhcpc_input(struct vsw_dhcpc *c, const uint8_t *f, size_t len,
		       uint64_t now, uint64_t wall, uint8_t *out,
		       bool *unicast, int *ev);

/*
 * Gives the lease back (RELEASE, unicast to the server) when one is
 * held (not while PROBING: nothing is in use); the client is back in
 * INIT and holds nothing. Returns the frame length or 0.
 */
size_t vsw_dhcpc_release(struct vsw_dhcpc *c, uint8_t *out, bool *unicast);

/* Milliseconds until the next timer (0: due now). */
uint64_t vsw_dhcpc_next(const struct vsw_dhcpc *c, uint64_t now);

/* True for a frame from a DHCP server to a client (UDP 67 -> 68). */
bool vsw_dhcpc_is_reply(const uint8_t *f, size_t len);

/* The lease as text, for the file beside the saved config. */
int vsw_dhcpc_lease_format(const struct vsw_dhcpc_lease *l, char *buf,
			   size_t len);
/* Parses that text (untrusted); 0 or -EINVAL. */
int vsw_dhcpc_lease_parse(const char *text, struct vsw_dhcpc_lease *l);

#endif
