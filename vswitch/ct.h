/* SPDX-License-Identifier: MIT */
/*
 * Connection tracking for lab-network NAT. One table per process, owned by
 * the data plane: rte_hash maps each of a connection's two tuples (the
 * original one as seen inside the network, and the reply one as seen on
 * the uplink) to its entry. Entries carry the translation (inside address
 * and port <-> uplink address and port), a protocol state with its own
 * timeout, and for TCP the sequence windows of both directions.
 *
 *   ct-tcp.c     TCP state machine and window checks (pure, fuzzed)
 *   ct-timeouts  names and parsing of the timeout table (ct-tcp.c)
 *   conntrack.c  the table: lookup, insert, expiry, port choice
 *
 * Time is passed in as TSC cycles ('now'); timeouts are kept in seconds
 * and turned into cycles with the table's tsc_hz. A worked example, UDP
 * with the default timeouts: a VM's query creates the entry (state
 * UDP_UNREPLIED, 30 s); the answer moves it to UDP_REPLIED (120 s); each
 * packet either way pushes the expiry out again; 120 s after the last
 * one, the expiry scan (a slice per millisecond) frees the entry and its
 * uplink port.
 */
#ifndef VSWITCH_CT_H
#define VSWITCH_CT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vswitch/l3.h"

/* Protocol states; each has a timeout (struct vsw_ct_timeouts). */
enum vsw_ct_state {
	VSW_CT_TCP_SYN_SENT,
	VSW_CT_TCP_SYN_RECV,
	VSW_CT_TCP_ESTABLISHED,
	VSW_CT_TCP_FIN_WAIT,     /* one side closed */
	VSW_CT_TCP_TIME_WAIT,    /* both closed */
	VSW_CT_TCP_CLOSE,        /* reset */
	VSW_CT_UDP_UNREPLIED,
	VSW_CT_UDP_REPLIED,
	VSW_CT_ICMP,
	VSW_CT_STATE_COUNT,
};

struct vsw_ct_timeouts {
	uint32_t secs[VSW_CT_STATE_COUNT];
};

/* Linux-like defaults; TCP established follows RFC 5382 (>= 2 h 4 min). */
void vsw_ct_timeouts_default(struct vsw_ct_timeouts *t);
const char *vsw_ct_state_name(enum vsw_ct_state s);
/*
 * Parses "udp=30,tcp_established=7440,..." (state names as printed by
 * vsw_ct_state_name, each 1..864000 s) over 't'. 0 or -EINVAL with the
 * reason in 'err'.
 */
int vsw_ct_timeouts_parse(const char *s, struct vsw_ct_timeouts *t, char *err,
			  size_t errlen);

/* ---- TCP tracking (ct-tcp.c, pure) ---- */

struct vsw_tcp_seg {
	uint32_t seq, ack;
	uint32_t win;            /* as sent (unscaled) */
	uint32_t len;            /* payload + SYN + FIN, in sequence space */
	uint8_t flags;
	int8_t wscale;           /* window scale option of a SYN; -1 none */
};

#define VSW_TCP_FIN 0x01
#define VSW_TCP_SYN 0x02
#define VSW_TCP_RST 0x04
#define VSW_TCP_ACK 0x10

struct vsw_tcp_dir {
	uint32_t end;            /* highest seq + len sent */
	uint32_t maxend;         /* highest seq this side may send (ack + win) */
	uint32_t maxwin;         /* largest window it advertised, scaled */
	int8_t wscale;           /* its window scale; -1 none */
	bool seen;               /* it sent something */
	bool fin;                /* it sent FIN */
};

struct vsw_tcp_track {
	struct vsw_tcp_dir d[2];
};

enum vsw_tcp_verdict {
	VSW_TCP_OK,
	VSW_TCP_BAD_FLAGS,       /* impossible flag mix (SYN+RST, SYN+FIN, none) */
	VSW_TCP_OUT_OF_WINDOW,   /* sequence or ack outside what the peer allows */
	VSW_TCP_NOT_SYN,         /* first packet of a connection is not a SYN */
};

/* Reads what tracking needs from a parsed TCP packet; 0 or -EINVAL. */
int vsw_tcp_seg_parse(const struct vsw_ip_pkt *p, struct vsw_tcp_seg *s);
/*
 * Feeds one segment sent by side 'dir' (0: the connection's initiator);
 * updates the windows and '*state' (a VSW_CT_TCP_* value; a new
 * connection starts as VSW_CT_STATE_COUNT). Packets that fail the checks
 * change nothing.
 */
enum vsw_tcp_verdict vsw_tcp_track_segment(struct vsw_tcp_track *t,
					   uint8_t *state, int dir,
					   const struct vsw_tcp_seg *s);

/* ---- the table (conntrack.c) ---- */

/* A tuple as the packet carrying it shows it; 'zone' says where it was seen. */
struct vsw_ct_key {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t proto;
	uint8_t pad;
	uint16_t zone;           /* network index + 1, or VSW_CT_ZONE_UPLINK | slot */
};

#define VSW_CT_ZONE_UPLINK 0x8000u

_Static_assert(sizeof(struct vsw_ct_key) == 16, "a key is two words");

/* Key equality as two 64-bit compares (keys have no padding bytes). */
static inline bool
vsw_ct_key_eq(const struct vsw_ct_key *a, const struct vsw_ct_key *b)
{
	uint64_t x[2], y[2];

	__builtin_memcpy(x, a, sizeof(x));
	__builtin_memcpy(y, b, sizeof(y));
	return ((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0;
}

/* Directions: packets from inside the network, and from the uplink. */
#define VSW_CT_DIR_IN 0
#define VSW_CT_DIR_OUT 1

#define VSW_CT_F_FORWARD 0x01    /* created by a port forward (outside opened it) */

/*
 * Two cache lines: everything an established packet reads and writes
 * but its counters in the first (prefetched by the bulk lookup, read
 * when the frame is handled), counters and TCP windows in the second.
 * The remote end is key[VSW_CT_DIR_IN].dst/.dport.
 */
struct vsw_ct_entry {
	struct vsw_ct_key key[2];   /* [VSW_CT_DIR_IN], [VSW_CT_DIR_OUT] */
	uint64_t expires;           /* TSC */
	uint32_t in_ip, nat_ip;
	uint16_t in_port, nat_port;
	uint8_t proto;
	uint8_t state;              /* enum vsw_ct_state */
	uint8_t flags;
	uint8_t in_use;
	uint8_t net;                /* network index (< VSW_MAX_NETS) */
	uint8_t uplink;             /* uplink port slot (< VSW_MAX_PORTS) */
	uint8_t in_mac[6];          /* the inside host's MAC; zero = ask ARP */
	/* second line */
	uint64_t pkts[2], bytes[2];
	struct vsw_tcp_track tcp;
} __attribute__((aligned(64)));

struct vsw_ct_stats {
	uint64_t created, expired, deleted;
	uint64_t table_full;        /* a connection not made: no entry free */
	uint64_t ports_exhausted;   /* a connection not made: no uplink port */
	uint64_t tcp_bad_flags, tcp_out_of_window, tcp_not_syn;
};

struct vsw_ct;

/* 'capacity' connections; 0 or -ENOMEM/-EINVAL. Needs the EAL (rte_hash). */
int vsw_ct_create(const char *name, uint32_t capacity, uint64_t tsc_hz,
		  struct vsw_ct **out);
void vsw_ct_destroy(struct vsw_ct *ct);
void vsw_ct_set_timeouts(struct vsw_ct *ct, const struct vsw_ct_timeouts *t);
const struct vsw_ct_stats *vsw_ct_stats(const struct vsw_ct *ct);
uint32_t vsw_ct_count(const struct vsw_ct *ct);
uint32_t vsw_ct_capacity(const struct vsw_ct *ct);

/* The entry holding 'k' (and which side, '*dir'), or NULL (also if expired). */
struct vsw_ct_entry *vsw_ct_lookup(struct vsw_ct *ct, const struct vsw_ct_key *k,
				   int *dir, uint64_t now);
/*
 * Looks up 'n' keys at once (n <= 64) and prefetches their entries,
 * hiding memory latency for large tables: entries[i] is the entry the
 * table maps keys[i] to (its side in dirs[i]), or NULL. The entries are
 * not read here: one may have expired (or be freed by a later call), so
 * the caller checks in_use, expires and the key when it gets to it, and
 * does a vsw_ct_lookup() (which frees an expired one) otherwise. Returns
 * the hits.
 */
unsigned int vsw_ct_lookup_bulk(struct vsw_ct *ct,
				const struct vsw_ct_key *const *keys,
				unsigned int n, struct vsw_ct_entry **entries,
				int *dirs);
/* True if no connection holds 'k'. */
bool vsw_ct_key_free(struct vsw_ct *ct, const struct vsw_ct_key *k, uint64_t now);
/*
 * Adds a connection with both keys; fills the key fields of the entry and
 * returns it for the caller to complete, or NULL with '*err' -ENOSPC
 * (table full) or -EEXIST.
 */
struct vsw_ct_entry *vsw_ct_insert(struct vsw_ct *ct,
				   const struct vsw_ct_key *in_key,
				   const struct vsw_ct_key *out_key,
				   uint64_t now, int *err);
void vsw_ct_delete(struct vsw_ct *ct, struct vsw_ct_entry *e);
/*
 * Accounts a packet of 'dir' on 'e': TCP tracking (a verdict other than
 * OK is counted and returned, the packet to be dropped), UDP/ICMP state,
 * the expiry time for the new state.
 */
enum vsw_tcp_verdict vsw_ct_update(struct vsw_ct *ct, struct vsw_ct_entry *e,
				   int dir, const struct vsw_ip_pkt *p,
				   uint64_t now);
/* Frees expired entries, looking at no more than 'budget' slots. */
void vsw_ct_expire(struct vsw_ct *ct, uint64_t now, uint32_t budget);
/* Frees the connections of network 'net' and/or uplink slot 'uplink' (-1: any). */
uint32_t vsw_ct_flush(struct vsw_ct *ct, int net, int uplink);
/* Frees the connections a port forward of 'net' opened. */
uint32_t vsw_ct_flush_forward(struct vsw_ct *ct, int net, uint8_t proto,
			      uint16_t outside_port);
/* Calls 'fn' for every live entry (control copies, under the data plane). */
void vsw_ct_walk(struct vsw_ct *ct, void (*fn)(const struct vsw_ct_entry *,
					       void *), void *arg);
/* Seconds until 'e' expires. */
uint64_t vsw_ct_ttl_s(const struct vsw_ct *ct, const struct vsw_ct_entry *e,
		      uint64_t now);
void vsw_ct_count_ports_exhausted(struct vsw_ct *ct);
/* Counts a TCP packet that would open a connection without a SYN. */
void vsw_ct_count_not_syn(struct vsw_ct *ct);

#endif
