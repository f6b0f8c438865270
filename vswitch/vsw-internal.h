/* SPDX-License-Identifier: MIT */
/*
 * Shared by the vswitch/ sources only: the control-side objects (struct vsw,
 * vsw_switch, vsw_port), the immutable data-plane snapshot (struct
 * vsw_cfg) published with RCU, the data plane's own state (MAC table,
 * transmit buffers), counters, and the pure helpers (frame parsing,
 * request parsing) that the fuzzers reach without DPDK running.
 *
 * Ownership: the control thread owns vsw_switch/vsw_port and builds each
 * vsw_cfg; the data-plane lcore owns vsw_dp (MAC table, tx buffers) and is
 * the only writer of counters ("rt" structs). The control thread reads
 * counters and MAC entries without locks: values are word-sized and a
 * listing may be a moment old.
 */
#ifndef VSWITCH_VSW_INTERNAL_H
#define VSWITCH_VSW_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vswitch/ct.h"
#include "vswitch/shaper.h"
#include "vswitch/vswitch.h"

struct vsw_dhcp_server;
struct rte_mbuf;
struct rte_ring;
struct vsw_uplink_dhcp;

#define VSW_VID_NONE 0xffffu
#define VSW_MTU_DEFAULT 1500
#define VSW_MTU_MAX 9600
#define VSW_MAC_LIMIT_DEFAULT 65536
#define VSW_MAC_ENTRIES_DEFAULT (1u << 20)
#define VSW_MBUFS_DEFAULT 32767
#define VSW_AGING_DEFAULT_S 300
#define VSW_REQ_MAX_BYTES 65536
#define VSW_CT_ENTRIES_DEFAULT 131072

/* Why a frame was dropped; each has a per-port counter. */
enum vsw_drop {
	VSW_DROP_NONE,          /* not a drop: 0 from vsw_frame_parse() */
	VSW_DROP_RUNT,          /* shorter than an Ethernet header */
	VSW_DROP_OVERSIZE,      /* longer than the port's MTU allows */
	VSW_DROP_BAD_VLAN,      /* truncated 802.1Q header or VID 4095 */
	VSW_DROP_VLAN_FILTERED, /* VLAN not allowed on the ingress port */
	VSW_DROP_BAD_SRC,       /* multicast source address */
	VSW_DROP_HAIRPIN,       /* destination learned on the ingress port */
	VSW_DROP_NO_EGRESS,     /* no other port is in the frame's VLAN */
	VSW_DROP_TX_FULL,       /* egress port did not take it (or is down) */
	VSW_DROP_NO_MBUF,       /* no buffer to copy a flooded frame */
	VSW_DROP_DHCP_SPOOF,    /* a DHCP server reply sent from a port */
	VSW_DROP_SHAPER_FULL,   /* the egress shaper's queue was full */
	VSW_DROP_NOT_IPV4,      /* uplink: neither IPv4 nor ARP */
	VSW_DROP_NO_CONN,       /* uplink: no connection or forward matches */
	VSW_DROP_UNRESOLVED,    /* uplink: next hop did not answer ARP */
	VSW_DROP_COUNT,
};

/* Why a lab network dropped a frame; each has a per-network counter. */
enum vsw_net_drop {
	VSW_NET_DROP_MALFORMED,     /* bad IPv4 or ARP */
	VSW_NET_DROP_FRAGMENT,      /* fragments are not translated */
	VSW_NET_DROP_TTL,           /* TTL expired (ICMP time exceeded sent) */
	VSW_NET_DROP_NO_ROUTE,      /* no NAT uplink, or it has no address */
	VSW_NET_DROP_ISOLATION,     /* destination in another lab network */
	VSW_NET_DROP_TO_GATEWAY,    /* for the gateway, not ping/DHCP */
	VSW_NET_DROP_PORTS,         /* NAT port exhaustion */
	VSW_NET_DROP_CT_FULL,       /* connection table full */
	VSW_NET_DROP_TCP,           /* TCP flags, not a SYN, out of window */
	VSW_NET_DROP_UNRESOLVED,    /* ARP did not answer in time */
	VSW_NET_DROP_ICMP_ERROR,    /* ICMP error for no known connection */
	VSW_NET_DROP_NOT_IP,        /* other protocols to the gateway */
	VSW_NET_DROP_COUNT,
};

const char *vsw_net_drop_name(enum vsw_net_drop reason);

struct vsw_net_stats {
	uint64_t arp_replies;       /* answers for the gateway's address */
	uint64_t echo_replies;      /* pings of the gateway answered */
	uint64_t dhcp_requests, dhcp_replies;
	uint64_t nat_out, nat_in;   /* frames translated each way */
	uint64_t forwarded_in;      /* of nat_in: port forwards opened */
	uint64_t icmp_errors_in, icmp_errors_out; /* translated errors */
	uint64_t drops[VSW_NET_DROP_COUNT];
};

/* A network's state shared by control and data plane. */
struct vsw_net_rt {
	struct vsw_net_stats st;
	struct vsw_dhcp_server *dhcp; /* data plane only; NULL = no DHCP */
	atomic_bool leases_dirty;     /* set by the data plane on a change */
} __attribute__((aligned(64)));

const char *vsw_drop_name(enum vsw_drop reason);

/* ---- counters: written by the data plane only ---- */

struct vsw_port_stats {
	uint64_t rx_packets, rx_bytes;
	uint64_t tx_packets, tx_bytes;
	uint64_t flooded;       /* received frames sent to all ports */
	uint64_t learn_limit;   /* source MACs not learned: port limit */
	uint64_t capture_lost;  /* frames the capture could not keep */
	uint64_t drops[VSW_DROP_COUNT];
};

struct vsw_capture;

/* Per-port state shared by control and data plane; lives as long as the port. */
struct vsw_port_rt {
	struct vsw_port_stats st;
	uint32_t mac_count;                 /* MACs learned here (data plane) */
	struct vsw_capture *_Atomic capture; /* non-NULL: copy frames to it */
	/*
	 * vhost-user ports: the vhost device id while the peer is connected,
	 * -1 otherwise. Set by the link-state callback (port.c); the data
	 * plane calls the vhost library on it directly (vhost-port.c).
	 */
	atomic_int vid;
	/* Shapers, [0] ingress, [1] egress: data plane only. */
	struct vsw_shaper shaper[2];
	uint32_t shaper_gen[2];       /* config generation applied */
	struct vsw_shaper_item *shaper_q[2]; /* queue storage, or NULL */
} __attribute__((aligned(64)));

struct vsw_switch_stats {
	uint64_t learned, moved, aged, flushed;
	uint64_t table_full;    /* new MAC not learned: table full */
	uint64_t flooded, unicast;
};

struct vsw_switch_rt {
	struct vsw_switch_stats st;
	uint32_t mac_count;
} __attribute__((aligned(64)));

/* ---- the data-plane snapshot ---- */

/* A port's VLAN behaviour as tables, derived from vsw_vlan_config. */
struct vsw_vlan_tables {
	uint16_t untag_in;       /* VID of untagged ingress, or VSW_VID_NONE */
	uint16_t untag_out;      /* VID sent untagged, or VSW_VID_NONE */
	uint64_t in_tagged[64];  /* VIDs accepted with a tag */
	uint64_t member[64];     /* VIDs sent out of this port */
};

struct vsw_dp_port {
	bool active;
	bool vhost;              /* rx/tx through the vhost library (rt->vid) */
	bool l3;                 /* a routed uplink: not switched (addr set) */
	bool dhcp;               /* its address comes from DHCP (uplink-dhcp.c) */
	bool shaped[2];          /* [0] ingress, [1] egress */
	uint8_t sw;              /* switch index */
	uint16_t eth;            /* ethdev port id */
	uint32_t mac_limit;
	uint32_t max_frame;      /* bytes without FCS, untagged; +4 tagged */
	struct vsw_port_rt *rt;
	uint32_t shape_gen[2];
	struct vsw_shape_config shape[2];
	/* Uplinks: */
	uint32_t addr, mask, gateway;
	uint8_t mac[6];          /* the port's own MAC */
	uint8_t gateway_mac[6];  /* static next hop, or zero */
	struct vsw_vlan_tables vlan;
};

struct vsw_dp_switch {
	bool active;
	uint16_t nports;
	uint8_t nnets;
	uint64_t aging_tsc;      /* MAC aging time in TSC cycles */
	struct vsw_switch_rt *rt;
	uint8_t nets[VSW_MAX_NETS];    /* network indexes on this switch */
	uint16_t ports[VSW_MAX_PORTS]; /* slots, for flooding */
};

struct vsw_dp_net {
	bool active;
	bool isolated;
	uint8_t sw;
	uint16_t vid;
	uint32_t subnet, mask, gw_ip;
	uint8_t gw_mac[6];
	int16_t uplink;          /* NAT uplink slot, -1 = none (or down) */
	uint16_t port_min, port_max;
	uint16_t nfwd;
	struct vsw_net_rt *rt;
	struct vsw_forward_config fwd[VSW_MAX_FORWARDS];
};

struct vsw_cfg {
	uint16_t nrx;
	uint16_t nshaped_out;
	/* Active networks, compact: routing checks every one per packet. */
	uint16_t nnets;
	uint8_t nets[VSW_MAX_NETS];
	struct { uint32_t subnet, mask; } net_prefix[VSW_MAX_NETS];
	uint16_t rx[VSW_MAX_PORTS];    /* slots to poll, in order */
	uint16_t shaped_out[VSW_MAX_PORTS]; /* slots with an egress shaper */
	struct vsw_dp_port port[VSW_MAX_PORTS];
	struct vsw_dp_switch sw[VSW_MAX_SWITCHES];
	struct vsw_dp_net net[VSW_MAX_NETS];
};

/* The network of (switch, VLAN), or NULL. */
static inline const struct vsw_dp_net *
vsw_cfg_net(const struct vsw_cfg *cfg, const struct vsw_dp_switch *sw,
	    uint16_t vid)
{
	for (unsigned int i = 0; i < sw->nnets; i++) {
		const struct vsw_dp_net *n = &cfg->net[sw->nets[i]];

		if (n->vid == vid)
			return n;
	}
	return NULL;
}

/* ---- the MAC table (mactable.c) ---- */

/*
 * 16 bytes, read as two little-endian words by the hot path: word 0 is
 * the MAC in its low 48 bits and the VLAN in its top 16, word 1 the
 * switch index (vsw_mac_words()).
 */
struct vsw_mac_key {
	uint8_t mac[6];
	uint16_t vid;
	uint32_t sw;
	uint32_t zero;
};

/*
 * The key of {mac, vid} as word 0, read with one 8-byte load of the frame
 * ('mac' must have 8 readable bytes: true of both addresses of an
 * Ethernet header), so keys are compared in registers instead of through
 * stack copies that stall store forwarding.
 */
static inline uint64_t
vsw_mac_word(const uint8_t *mac, uint16_t vid)
{
	uint64_t w;

	__builtin_memcpy(&w, mac, sizeof(w));
	return (w & 0xffffffffffffull) | (uint64_t)vid << 48;
}

struct vsw_mac_entry {
	struct vsw_mac_key key;
	uint64_t seen_tsc;       /* last frame from this MAC */
	uint16_t slot;           /* port it was learned on */
	uint8_t in_use;
	uint8_t is_static;       /* added by hand: never ages, never moves */
	uint8_t pad[4];
};

#define VSW_MAC_CACHE 4096

struct vsw_mactable {
	struct rte_hash *hash;         /* key -> position in 'e' */
	struct vsw_mac_entry *e;       /* 'capacity' entries, by position */
	uint32_t capacity;
	uint32_t count;
	uint32_t scan_pos;             /* aging cursor */
	uint32_t cache[VSW_MAC_CACHE]; /* direct-mapped: hash -> position */
};

int vsw_mac_init(struct vsw_mactable *t, const char *name, uint32_t capacity);
void vsw_mac_fini(struct vsw_mactable *t);
/* Position of 'key', or -1. */
int32_t vsw_mac_lookup(struct vsw_mactable *t, const struct vsw_mac_key *key);
/* The same for the key of words {w0, w1} (see vsw_mac_word()). */
int32_t vsw_mac_lookup_words(struct vsw_mactable *t, uint64_t w0, uint64_t w1);
/* Adds 'key' (must be absent): position, or -ENOSPC. */
int32_t vsw_mac_add(struct vsw_mactable *t, const struct vsw_mac_key *key,
		    uint16_t slot, uint64_t now_tsc);
void vsw_mac_del(struct vsw_mactable *t, int32_t pos);

/* ---- the data plane (datapath.c) ---- */

enum vsw_dp_op {
	VSW_DP_OP_NONE,
	VSW_DP_OP_FLUSH,     /* forget MACs of 'sw' and/or 'slot' (-1 = any) */
	VSW_DP_OP_CT_FLUSH,  /* forget connections of net 'sw' / uplink 'slot' */
	VSW_DP_OP_CALL,      /* run op_fn(op_arg) in the data plane */
	VSW_DP_OP_MAC_ADD,   /* static MAC op_mac/op_vid of 'sw' on 'slot' */
};

struct vsw_txbuf {
	uint16_t n;
	struct rte_mbuf *pkts[2 * VSW_BURST];
};

struct vsw_neigh;

/* A connection looked up ahead for one frame of a burst (router.c). */
/*
 * A burst's NAT candidate, parsed once by vsw_router_prefetch(): the
 * input path takes the parse from here instead of doing it again (the
 * frame does not change in between).
 */
struct vsw_ct_hint {
	const struct rte_mbuf *m;
	struct vsw_ct_entry *e;  /* NULL: none when looked up */
	int dir;
	struct vsw_ip_pkt p;     /* vsw_ip_parse() said VSW_L3_OK */
};

struct vsw_dp {
	struct vsw_mactable macs;
	uint32_t mac_count[VSW_MAX_PORTS]; /* by slot */
	uint64_t next_age_tsc;
	uint64_t age_period_tsc;
	uint64_t now;                      /* TSC of this iteration */
	uint16_t ntouched;
	uint16_t touched[VSW_MAX_PORTS];
	struct vsw_txbuf tx[VSW_MAX_PORTS];
	struct vsw_ct *ct;                 /* NAT connections */
	struct vsw_neigh *neigh;           /* ARP cache of networks, uplinks */
	/* Connections of the burst being handled, looked up in bulk. */
	struct vsw_ct_hint ct_hint[VSW_BURST];
	struct vsw_ct_key ct_hint_key[VSW_BURST];
	uint16_t ct_nhint, ct_hint_pos;
	const struct vsw_ct_hint *ct_cur;  /* the frame being input's, or NULL */
	uint64_t ct_hint_created;          /* connections made before it */
	/* Mailbox from the control thread: set fields, then 'pending'. */
	atomic_int pending;
	enum vsw_dp_op op;
	int op_sw, op_slot;
	uint64_t (*op_fn)(struct vsw *vsw, void *arg);
	void *op_arg;
	uint8_t op_mac[6];
	uint16_t op_vid;
	uint64_t op_result;
};

/* ---- control-side objects ---- */

struct vsw_switch {
	char name[VSW_NAME_MAX];
	unsigned int idx;
	uint32_t aging_s;
	unsigned int nports;
	unsigned int nnets;
	struct vsw_switch_rt *rt;
};

struct vsw_net {
	struct vsw_net_config cfg;    /* defaults filled in */
	unsigned int idx;
	struct vsw_switch *sw;
	uint8_t gw_mac[6];
	unsigned int nfwd;
	struct vsw_forward_config fwd[VSW_MAX_FORWARDS];
	struct vsw_net_rt *rt;
};

struct vsw_port {
	struct vsw_port_config cfg;
	unsigned int slot;
	struct vsw_switch *sw;
	uint16_t eth;                 /* ethdev port id */
	char devname[64];             /* vdev name */
	struct rte_ring *rings[2];    /* ring ports: in, out */
	struct vsw_port_rt *rt;
	struct vsw *vsw;
	pthread_mutex_t vid_lock;     /* vhost: orders link callbacks */
	bool lsc_registered;
	uint8_t mac[6];               /* the device's MAC (uplink source) */
	uint32_t shape_gen[2];
	/*
	 * The device could not be opened when the saved config was restored
	 * (an interface or socket not there yet): the port stays in the
	 * config and in listings, outside the data plane, and housekeeping
	 * tries again (vsw_ports_retry).
	 */
	bool missing;
	int missing_err;
	uint64_t retry_ms;            /* next try, CLOCK_MONOTONIC ms */
	uint32_t retry_wait_ms;
	uint64_t down_since_ms;       /* memif: link seen down since; 0 up */
	/* vhost: the guest's transmit queue as housekeeping last saw it
	 * (vsw_vhost_check): the vhost library's position, since when it
	 * has not moved with frames waiting, whether that was reported. */
	uint16_t txq_last_avail;
	uint64_t txq_stuck_since_ms;
	bool txq_stalled;
	uint64_t guest_tx_stalls;
	struct vsw_uplink_dhcp *dhcp; /* the DHCP client (cfg.dhcp), or NULL */
	char tap_mac[18];             /* TAP: the interface's MAC, kept */
};

/* A port group: the policy fields of 'cfg' (name = the group's). */
struct vsw_group {
	struct vsw_port_config cfg;
	struct vsw_switch *sw;
};

struct vsw {
	struct vsw_options opts;
	char config_path[VSW_PATH_MAX * 2];
	pthread_mutex_t lock;         /* serializes control calls */
	struct vsw_switch *sw[VSW_MAX_SWITCHES];
	struct vsw_port *port[VSW_MAX_PORTS];
	struct vsw_net *net[VSW_MAX_NETS];
	struct vsw_group *group[VSW_MAX_GROUPS];
	bool closing;                 /* vsw_destroy: ports closed, not deleted */
	struct vsw_ct_timeouts ct_timeouts;
	struct vsw_cfg *_Atomic cfg;  /* read by the data plane */
	struct rte_rcu_qsbr *rcu;
	struct rte_mempool *pool;
	struct vsw_dp *dp;
	struct vsw_capture *capture;  /* the one capture session, or NULL */
	atomic_bool dp_running;
	atomic_bool dp_stop;
	unsigned int dp_lcore;
	uint32_t idle_sleep_us;
	uint64_t tsc_hz;               /* measured (tsc.c) */
	uint64_t tsc_base;             /* TSC at start: captures rescale from it */
	uint64_t last_capture_written;
	/* Uplink DHCP clients (uplink-dhcp.c): replies from the data plane
	 * to the control thread, frames the other way, a wake-up. */
	struct rte_ring *dhcpc_rx, *dhcpc_tx;
	int dhcpc_efd;
	/* Per uplink slot, the address its client is probing with ARP (0:
	 * none): the data plane hands ARP about it to the client too. */
	_Atomic uint32_t dhcpc_probe[VSW_MAX_PORTS];
};

/* uplink-dhcp.c: the DHCP client of uplinks with cfg.dhcp. */
int vsw_uplink_dhcp_init(struct vsw *vsw);
void vsw_uplink_dhcp_fini(struct vsw *vsw);
/* Readable when replies wait (vsw_uplink_dhcp_housekeeping() then). */
int vsw_uplink_dhcp_fd(struct vsw *vsw);
/* Milliseconds (at most 'max_ms', at least 1) until a client's timer. */
int vsw_uplink_dhcp_wait_ms(struct vsw *vsw, int max_ms);
/* Starts the client of 'p' (before the port is published with it). */
int vsw_uplink_dhcp_on(struct vsw *vsw, struct vsw_port *p);
/* Sends its first message (once the port is published with it). */
void vsw_uplink_dhcp_kick(struct vsw *vsw, struct vsw_port *p);
/* Stops it; 'release' gives the lease back and forgets the saved one. */
void vsw_uplink_dhcp_off(struct vsw *vsw, struct vsw_port *p, bool release);
/* Replies in, timers, lease changes applied; with the lock held. */
void vsw_uplink_dhcp_housekeeping(struct vsw *vsw);
void vsw_uplink_dhcp_json(const struct vsw_port *p, struct json_writer *w);
/* Data plane: a reply received on uplink 'slot' (consumed). */
void vsw_uplink_dhcp_rx(struct vsw *vsw, uint16_t slot, struct rte_mbuf *m);
/* Data plane: sends the frames the clients wrote. */
void vsw_uplink_dhcp_tx(struct vsw *vsw, struct vsw_dp *dp,
			const struct vsw_cfg *cfg);
/* Writes a file through a temporary and rename (net.c). */
int vsw_write_file_atomic(const char *path, const char *text, size_t len);

/* net.c */
/* Removes every network, saving (not deleting) their leases. */
void vsw_nets_close(struct vsw *vsw);

/* net-show.c: listings for requests and telemetry. */
void vsw_nets_json(struct vsw *vsw, const char *only, struct json_writer *w);
int vsw_leases_json(struct vsw *vsw, const char *net, struct json_writer *w);
int vsw_conntrack_json(struct vsw *vsw, const char *net, uint32_t max,
		       struct json_writer *w);
void vsw_port_l3_json(const struct vsw_port_config *c, struct json_writer *w);
void vsw_net_config_json(const struct vsw_net_config *c, struct json_writer *w);
void vsw_forwards_json(const struct vsw_forward_config *f, unsigned int n,
		       struct json_writer *w);

/* vsw.c */
struct vsw_switch *vsw_switch_find(struct vsw *vsw, const char *name);
struct vsw_port *vsw_port_find(struct vsw *vsw, const char *name);
struct vsw_net *vsw_net_find(struct vsw *vsw, const char *name);
/* Runs fn(vsw, arg) in the data plane (or here when it is not running). */
uint64_t vsw_dp_run(struct vsw *vsw, uint64_t (*fn)(struct vsw *, void *),
		    void *arg);
/* Builds and publishes a new snapshot; waits until the old one is unused. */
int vsw_publish(struct vsw *vsw);
/* Runs a data-plane op (in the data plane if running, else here). */
uint64_t vsw_dp_call(struct vsw *vsw, enum vsw_dp_op op, int sw, int slot);
uint64_t vsw_dp_exec(struct vsw *vsw, enum vsw_dp_op op, int sw, int slot);

/* vlan.c */
void vsw_vlan_tables_build(const struct vsw_vlan_config *cfg,
			   struct vsw_vlan_tables *t);
static inline bool
vsw_vid_test(const uint64_t *bits, uint16_t vid)
{
	return (bits[vid >> 6] >> (vid & 63)) & 1;
}

/* frame.c: parsing a received frame (pure, fuzzed). */
struct vsw_frame {
	const uint8_t *dst, *src;
	uint16_t vid;            /* VLAN the frame belongs to */
	bool tagged;             /* carries an 802.1Q header now */
	bool priority_tagged;    /* tagged with VID 0: strip before switching */
	bool heard;              /* a lab network's gateway took a copy */
};

/*
 * Classifies 'len' bytes of a frame received on a port with tables 't'
 * and frame limit 'max_frame'. Returns 0 and fills 'fr', or a positive
 * enum vsw_drop.
 */
int vsw_frame_parse(const uint8_t *data, uint32_t len,
		    const struct vsw_vlan_tables *t, uint32_t max_frame,
		    struct vsw_frame *fr);

/* port.c; 'quiet': no error lines (retries of a missing port). */
int vsw_port_open(struct vsw *vsw, struct vsw_port *p, bool quiet);
/* 'forget': the port is deleted (a TAP interface goes too), not just
 * closed. */
void vsw_port_close(struct vsw *vsw, struct vsw_port *p, bool forget);

/* tap-port.c: TAP interfaces that survive the switch (see there). */
int vsw_tap_enter(const char *iface, int *home, char *mac, size_t maclen);
void vsw_tap_leave(int home);
void vsw_tap_forget(const char *iface);

/* vsw.c: a port whose device is missing at restore is kept (see
 * vsw_port.missing); housekeeping retries it. */
/* Checks a port's settings, filling defaults (MAC limit, MTU). */
int vsw_port_config_check(struct vsw *vsw, struct vsw_port_config *c);
/* vsw_port_set with the lock held. */
int vsw_port_set_locked(struct vsw *vsw, const struct vsw_port_config *cfg);
int vsw_port_restore(struct vsw *vsw, const char *sw_name,
		     const struct vsw_port_config *cfg);
void vsw_ports_retry(struct vsw *vsw);

/* vhost-port.c: vhost-user ports' fast path beside their net_vhost ethdev. */
int vsw_vhost_attach(struct vsw_port *p);
void vsw_vhost_check(struct vsw_port *p, uint64_t now_ms);
void vsw_vhost_detach(struct vsw_port *p);
uint16_t vsw_vhost_rx(struct vsw *vsw, struct vsw_port_rt *rt,
		      struct rte_mbuf **pkts, uint16_t n);
uint16_t vsw_vhost_tx(struct vsw_port_rt *rt, struct rte_mbuf **pkts,
		      uint16_t n);

/* datapath.c */
int vsw_dp_create(struct vsw *vsw, struct vsw_dp **out);
struct rte_mempool *vsw_pool_create(const char *name, unsigned int n,
				    unsigned int cache);
void vsw_dp_destroy(struct vsw_dp *dp);
unsigned int vsw_dp_iter(struct vsw *vsw, struct vsw_dp *dp, uint64_t now);
void vsw_dp_flush_tx(struct vsw *vsw, const struct vsw_cfg *cfg,
		     struct vsw_dp *dp);
/* Queues 'm' for port 'slot' (through its egress shaper, if any). */
void vsw_dp_output(struct vsw_dp *dp, const struct vsw_cfg *cfg, uint16_t slot,
		   struct rte_mbuf *m);

/*
 * vsw_dp_output() for a burst's next frame to the same port: appended
 * inline while the port has no egress shaper and its buffer already
 * holds frames and has room (so it is among those to flush).
 */
static inline void
vsw_dp_output_buffered(struct vsw_dp *dp, const struct vsw_cfg *cfg,
		       uint16_t slot, struct rte_mbuf *m)
{
	struct vsw_txbuf *b = &dp->tx[slot];

	if (likely(!cfg->port[slot].shaped[1] && b->n &&
		   b->n < ARRAY_SIZE(b->pkts))) {
		b->pkts[b->n++] = m;
		return;
	}
	vsw_dp_output(dp, cfg, slot, m);
}
/*
 * Sends an untagged frame into VLAN 'vid' of switch 'sw' as if from a port
 * that is none of the switch's: to the port its destination was learned
 * on, or flooded; each egress port's tagging applied.
 */
void vsw_dp_l2_inject(struct vsw *vsw, struct vsw_dp *dp,
		      const struct vsw_cfg *cfg, uint8_t sw, uint16_t vid,
		      struct rte_mbuf *m);

/* tsc.c: the TSC's rate, measured (DPDK's estimate is rounded). */
uint64_t vsw_tsc_hz(void);

/* router.c: the gateways of lab networks and the routed uplinks. */
/* A frame for network 'net' that the gateway must see (untagged). */
void vsw_router_net_input(struct vsw *vsw, struct vsw_dp *dp,
			  const struct vsw_cfg *cfg,
			  const struct vsw_dp_net *net, struct rte_mbuf *m,
			  bool broadcast);
/* A frame received on routed uplink 'slot'. */
void vsw_router_uplink_input(struct vsw *vsw, struct vsw_dp *dp,
			     const struct vsw_cfg *cfg, uint16_t slot,
			     struct rte_mbuf *m);
/*
 * Looks up the connections of a received burst's NAT frames at once
 * (hiding the table's memory latency); the input functions above then
 * take the results. 'uplink' is the slot of a routed uplink, or -1 for
 * the frames a switch port 'in' received.
 */
void vsw_router_prefetch(struct vsw_dp *dp, const struct vsw_cfg *cfg,
			 const struct vsw_dp_port *in, int uplink,
			 struct rte_mbuf **pkts, uint16_t n);
/* Timers: ARP retries and expiry, connection expiry. */
void vsw_router_tick(struct vsw *vsw, struct vsw_dp *dp,
		     const struct vsw_cfg *cfg, uint64_t now);
/* True if the frame is a DHCP server reply ('len' bytes, untagged). */
bool vsw_router_is_dhcp_server_frame(const uint8_t *f, uint32_t len);
/* Sends an IPv4 frame out of uplink 'slot' to 'dst_ip' via its next hop. */
void vsw_router_uplink_send(struct vsw *vsw, struct vsw_dp *dp,
			    const struct vsw_cfg *cfg, uint16_t slot,
			    struct rte_mbuf *m, uint32_t dst_ip);

/* neigh.c: ARP cache with packets held while resolving (data plane). */
#define VSW_NEIGH_IF_UPLINK 0x8000u   /* | slot; networks use their index */
int vsw_neigh_create(uint64_t tsc_hz, struct vsw_neigh **out);
void vsw_neigh_destroy(struct vsw_neigh *t);
/* The MAC of (ifc, ip) if known and fresh, else NULL. */
const uint8_t *vsw_neigh_lookup(struct vsw_neigh *t, uint16_t ifc, uint32_t ip,
				uint64_t now);
/*
 * Records (ifc, ip) at 'mac'; returns how many held frames were released
 * into 'out' (their destination MAC set) for the caller to send.
 */
unsigned int vsw_neigh_learn(struct vsw_neigh *t, uint16_t ifc, uint32_t ip,
			     const uint8_t *mac, uint64_t now,
			     struct rte_mbuf **out, unsigned int max);
/*
 * Holds 'm' until (ifc, ip) resolves. Returns 1 if an ARP request should
 * go out now, 0 if one is already pending, -ENOSPC if 'm' was not held
 * (the caller drops it).
 */
int vsw_neigh_hold(struct vsw_neigh *t, uint16_t ifc, uint32_t ip,
		   struct rte_mbuf *m, uint64_t now);
/*
 * Retries: calls probe(arg, ifc, ip) for entries due another ARP request
 * (one a second, three in all), then gives up: frees the held frames,
 * telling dropped(arg, ifc, n). Also forgets stale entries.
 */
void vsw_neigh_tick(struct vsw_neigh *t, uint64_t now,
		    void (*probe)(void *, uint16_t, uint32_t),
		    void (*dropped)(void *, uint16_t, unsigned int), void *arg);
/* Forgets everything about interface 'ifc'. */
void vsw_neigh_flush(struct vsw_neigh *t, uint16_t ifc);
/* Bumped on every change: callers caching a MAC compare it. */
uint64_t vsw_neigh_gen(const struct vsw_neigh *t);

/* capture.c */
int vsw_capture_start(struct vsw *vsw, const char *port, const char *file,
		      uint64_t count, uint32_t snaplen, char *err,
		      size_t errlen);
int vsw_capture_stop(struct vsw *vsw);
void vsw_capture_status(struct vsw *vsw, struct json_writer *w);
/*
 * Data plane: copies 'n' frames for a capture on 'rt' (dir 1 rx, 2 tx),
 * stamped with 'tsc', the clock of the iteration that moved them: the one
 * shapers decide by, so a capture shows their timing without the delay
 * between a decision and the copy (long on a loaded machine).
 */
void vsw_capture_frames(struct vsw_capture *c, struct vsw_port_rt *rt,
			uint16_t eth, struct rte_mbuf **pkts, uint16_t n,
			int dir, uint64_t tsc);

/* ctl-req.c: control requests, parsed before anything runs (fuzzed). */
enum vsw_req_op {
	VSW_REQ_HELP,
	VSW_REQ_SHOW,
	VSW_REQ_SWITCH_ADD,
	VSW_REQ_SWITCH_DEL,
	VSW_REQ_SWITCH_SET,
	VSW_REQ_PORT_ADD,
	VSW_REQ_PORT_SET,
	VSW_REQ_PORT_DEL,
	VSW_REQ_MAC_LIST,
	VSW_REQ_MAC_FLUSH,
	VSW_REQ_STATS,
	VSW_REQ_CAPTURE_START,
	VSW_REQ_CAPTURE_STOP,
	VSW_REQ_CAPTURE_STATUS,
	VSW_REQ_CONFIG_SAVE,
	VSW_REQ_NET_ADD,
	VSW_REQ_NET_DEL,
	VSW_REQ_NET_LIST,
	VSW_REQ_NET_LEASES,
	VSW_REQ_NET_CONNTRACK,
	VSW_REQ_FWD_ADD,
	VSW_REQ_FWD_DEL,
	VSW_REQ_MAC_ADD,
	VSW_REQ_GROUP_ADD,
	VSW_REQ_GROUP_SET,
	VSW_REQ_GROUP_DEL,
	VSW_REQ_GROUP_LIST,
	VSW_REQ_COUNT,
};

struct vsw_req {
	enum vsw_req_op op;
	char sw[VSW_NAME_MAX];
	char port[VSW_NAME_MAX];
	char net[VSW_NAME_MAX];
	struct vsw_port_config pcfg;
	struct vsw_net_config ncfg;
	struct vsw_forward_config fwd;
	bool has_vlan;           /* port/set: VLAN fields given */
	bool has_mac_limit, has_mtu;
	bool has_addr;           /* address (and gateway, gateway_mac) given */
	bool has_dhcp;           /* 'dhcp' given (pcfg.dhcp says which) */
	bool has_shape_in, has_shape_out;
	bool has_group;          /* port/set: 'group' given ("" leaves it) */
	uint32_t aging_s;
	char file[VSW_PATH_MAX * 2];
	uint64_t count;
	uint32_t snaplen;
	uint32_t max_entries;    /* mac/list */
	uint8_t mac[6];          /* mac/add */
	uint16_t mac_vid;
};

/*
 * Parses one request. Returns 0, or -EINVAL with a one-line reason in
 * 'err'. Touches no switch state.
 */
int vsw_req_parse(const char *text, size_t len, struct vsw_req *req,
		  char *err, size_t errlen);
const char *vsw_req_name(enum vsw_req_op op);
/* Fills a port config from JSON members (shared by requests and config). */
int vsw_req_port_fields(const struct json_node *obj, struct vsw_req *req,
			char *err, size_t errlen);
/* Fills a network config from JSON members (requests and config). */
int vsw_req_net_fields(const struct json_node *obj, struct vsw_net_config *c,
		       char *err, size_t errlen);
/* Parses a forward {"proto", "outside_port", "to": "IP:PORT"}. */
int vsw_req_forward_fields(const struct json_node *obj,
			   struct vsw_forward_config *f, char *err,
			   size_t errlen);

/* ctl.c: output shared by requests and telemetry */
void vsw_show_json(struct vsw *vsw, struct json_writer *w);
void vsw_port_stats_json(struct vsw_port *p, struct json_writer *w);
void vsw_switch_stats_json(struct vsw *vsw, struct vsw_switch *s,
			   struct json_writer *w);
void vsw_port_config_json(const struct vsw_port_config *c,
			  struct json_writer *w);
int vsw_macs_json(struct vsw *vsw, const char *sw, uint32_t max,
		  struct json_writer *w);

/* config.c: the saved configuration, parsed before it is applied (fuzzed). */
struct vsw_config_switch {
	char name[VSW_NAME_MAX];
	uint32_t aging_s;
};

struct vsw_config_port {
	unsigned int sw;                /* index into vsw_config_doc.sw */
	struct vsw_port_config cfg;
};

struct vsw_config_net {
	unsigned int sw;
	struct vsw_net_config cfg;
	unsigned int nfwd;
	struct vsw_forward_config fwd[VSW_MAX_FORWARDS];
};

struct vsw_config_group {
	unsigned int sw;
	struct vsw_port_config cfg;
};

struct vsw_config_doc {
	unsigned int nswitches, nports, nnets, ngroups;
	struct vsw_config_switch sw[VSW_MAX_SWITCHES];
	struct vsw_config_group group[VSW_MAX_GROUPS];
	struct vsw_config_port port[VSW_MAX_PORTS];
	struct vsw_config_net net[VSW_MAX_NETS];
};

/* Returns 0, or -EINVAL with a one-line reason in 'err'. */
int vsw_config_parse(const char *text, size_t len, struct vsw_config_doc *doc,
		     char *err, size_t errlen);

/* group.c: port groups. Requests take the lock themselves. */
int vsw_group_add(struct vsw *vsw, const char *sw_name,
		  const struct vsw_port_config *policy, char *err,
		  size_t errlen);
int vsw_group_set(struct vsw *vsw, const struct vsw_req *req, char *err,
		  size_t errlen);
int vsw_group_del(struct vsw *vsw, const char *name, char *err,
		  size_t errlen);
void vsw_groups_json(struct vsw *vsw, const char *sw, struct json_writer *w);
/* The policy part of a group's settings (config file and listings). */
void vsw_group_policy_json(const struct vsw_port_config *c,
			   struct json_writer *w);
/* Fills the policy of port config 'c' from its group 'c->group' on
 * switch 'sw_name'; refuses policy fields given beside a group. Lock
 * held. */
int vsw_group_apply(struct vsw *vsw, const char *sw_name,
		    const struct vsw_req *req, struct vsw_port_config *c,
		    char *err, size_t errlen);
/* Forgets the groups of switch 's' (it is being removed). Lock held. */
void vsw_groups_drop(struct vsw *vsw, const struct vsw_switch *s);

/* telemetry.c */
void vsw_telemetry_register(struct vsw *vsw);
void vsw_telemetry_unregister(struct vsw *vsw);

#endif
