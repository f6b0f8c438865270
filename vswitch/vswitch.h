/* SPDX-License-Identifier: MIT */
/*
 * The DPDK virtual switch: one process ("struct vsw") holding several
 * independent learning switches, each with ports of several kinds
 * (vhost-user client, TAP, af_packet, null, ring), VLANs with Open
 * vSwitch's port modes, per-port and per-switch counters, pcapng capture
 * and rte_telemetry commands.
 *
 * Threads: one data-plane lcore runs vsw_dp_poll() in a loop (bursts of
 * VSW_BURST, run to completion); every other call here is a control call,
 * serialized by an internal lock, safe from any one thread at a time and
 * safe while the data plane runs. Configuration changes reach the data
 * plane as a new immutable snapshot, published with RCU (rte_rcu_qsbr):
 * ports are added, changed and removed while traffic flows.
 *
 * Errors: 0 or a negative errno. -EINVAL bad argument, -ENOENT unknown
 * name, -EEXIST name taken, -ENOSPC a limit reached (switches, ports),
 * -ENOTEMPTY switch still has ports, -EBUSY a capture is running, -ENODEV a port's device failed to come up.
 *
 * Control messages (vsw_request()): one JSON object per request,
 * {"cmd": "module/command", ...arguments}; the reply is one JSON object,
 * {"ok": true, ...} or {"ok": false, "error": "one line", "errno": N}.
 * The commands are listed in docs/vswitch.md and by {"cmd": "help"}.
 */
#ifndef VSWITCH_VSWITCH_H
#define VSWITCH_VSWITCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "common/json.h"

#define VSW_BURST 32
#define VSW_MAX_SWITCHES 64
#define VSW_MAX_PORTS 256
#define VSW_NAME_MAX 16          /* names hold at most 15 bytes (IFNAMSIZ) */
#define VSW_PATH_MAX 108         /* a unix socket path (sun_path) */
#define VSW_VID_MAX 4094
#define VSW_VID_PASSTHROUGH 4095 /* VMware's "all VLANs, tags kept" */

enum vsw_port_type {
	VSW_PORT_NULL,      /* net_null: a sink, never polled */
	VSW_PORT_RING,      /* net_ring over rings "vswr-NAME-in/out" */
	VSW_PORT_TAP,       /* net_tap: a host-side interface named 'iface' */
	VSW_PORT_AFPACKET,  /* net_af_packet on an existing interface 'iface' */
	VSW_PORT_VHOSTUSER, /* net_vhost client of the server socket 'path' */
	VSW_PORT_MEMIF,     /* net_memif client of the memif socket 'path' */
	VSW_PORT_TYPE_COUNT,
};

/* Open vSwitch's vlan_mode values, plus VMware's pass-through. */
enum vsw_vlan_mode {
	VSW_VLAN_PASSTHROUGH,     /* default: tags kept, untagged is VLAN 0 */
	VSW_VLAN_ACCESS,          /* untagged frames of VLAN 'tag' only */
	VSW_VLAN_TRUNK,           /* tagged frames of 'trunks' */
	VSW_VLAN_NATIVE_TAGGED,   /* trunk; untagged in -> 'tag', out tagged */
	VSW_VLAN_NATIVE_UNTAGGED, /* trunk; 'tag' goes out untagged */
	VSW_VLAN_MODE_COUNT,
};

struct vsw_vlan_config {
	enum vsw_vlan_mode mode;
	uint16_t tag;            /* access or native VLAN, 1..4094 */
	uint64_t trunks[64];     /* allowed VLANs, bit per VID; all-zero = all */
};

/*
 * Traffic shaping of one direction of a port, VMware's three parameters:
 * the port sends on average 'avg_bps', never faster than 'peak_bps', and
 * after a quiet spell may run ahead of the average by up to 'burst_bytes'.
 * Frames over the limit wait in a queue (they are dropped only when it is
 * full), so TCP keeps its goodput. avg_bps 0 = not shaped.
 */
struct vsw_shape_config {
	uint64_t avg_bps;              /* bits per second of Ethernet frames */
	uint64_t peak_bps;             /* >= avg_bps */
	uint64_t burst_bytes;          /* >= 0 */
};

#define VSW_SHAPE_MIN_BPS 8000ull             /* 8 kbit/s */
#define VSW_SHAPE_MAX_BPS 100000000000ull     /* 100 Gbit/s */
#define VSW_SHAPE_MAX_BURST (1ull << 30)      /* 1 GiB */

struct vsw_port_config {
	char name[VSW_NAME_MAX];
	enum vsw_port_type type;
	char iface[VSW_NAME_MAX];      /* TAP / af_packet interface */
	char path[VSW_PATH_MAX];       /* vhost-user server socket */
	struct vsw_vlan_config vlan;
	uint32_t mac_limit;            /* MACs learned on this port; 0 = default */
	uint32_t mtu;                  /* largest payload accepted; 0 = 1500 */
	/*
	 * An address makes the port a routed uplink: it leaves L2 switching,
	 * answers ARP and ping for 'addr', and carries the NAT traffic of the
	 * networks that name it (add-network --nat). 0 = an ordinary port.
	 */
	uint32_t addr;                 /* IPv4, host order */
	uint8_t addr_prefix;           /* 1..32 */
	uint32_t gateway;              /* next hop off the subnet; 0 = none */
	uint8_t gateway_mac[6];        /* static next-hop MAC; zero = ARP */
	/*
	 * The uplink's address, prefix and gateway come from a DHCP server
	 * on the port's link (the fields above then hold the lease, 0 while
	 * there is none, and are not saved).
	 */
	bool dhcp;
	struct vsw_shape_config shape_in;  /* frames the switch receives */
	struct vsw_shape_config shape_out; /* frames the switch sends */
	/*
	 * A port group (VMware's port groups): a named policy on the switch
	 * (VLANs, MAC limit, MTU, shaping) that the port follows; changing
	 * the group changes every member. "" = none.
	 */
	char group[VSW_NAME_MAX];
};

#define VSW_MAX_GROUPS 64

/*
 * A lab network: a subnet on one VLAN of a switch with a gateway inside
 * the switch that answers ARP and ping, optionally a DHCP server, and
 * optionally NAT to an uplink port. Defaults follow VMware Workstation:
 * gateway .2, pool .128-.254.
 */
#define VSW_MAX_NETS 64
#define VSW_MAX_FORWARDS 64            /* per network */
#define VSW_NET_MAX_RESERVE 32         /* DHCP reservations per network */

struct vsw_net_config {
	char name[VSW_NAME_MAX];
	uint16_t vlan;                 /* 0: untagged frames (VLAN 0) */
	uint32_t subnet;               /* host order */
	uint8_t prefix_len;            /* 8..30 */
	uint32_t gateway;              /* 0: subnet + 2 */
	bool dhcp;
	uint32_t pool_first, pool_last; /* 0: .128 .. last usable (Workstation) */
	uint32_t lease_secs;           /* 0: 1800 */
	uint32_t dns[2];               /* DHCP option 6; 0 unused */
	char domain[64];               /* DHCP option 15 */
	char nat_uplink[VSW_NAME_MAX]; /* "" = no NAT */
	bool isolated;                 /* no router handed out, nothing routed */
	uint16_t nat_port_min, nat_port_max; /* uplink ports for NAT; 0: 1024..65535 */
	uint8_t gateway_mac[6];        /* zero: derived from the names */
	/* DHCP static reservations: this MAC always gets this address. */
	struct vsw_net_reservation {
		uint8_t mac[6];
		uint32_t ip;
	} reserve[VSW_NET_MAX_RESERVE];
	unsigned int nreserve;
};

struct vsw_forward_config {
	uint8_t proto;                 /* 6 TCP, 17 UDP */
	uint16_t outside_port;         /* on the uplink address */
	uint32_t inside_ip;
	uint16_t inside_port;
};

struct vsw_options {
	uint32_t mac_table_entries;    /* shared by all switches; 0 = 1M */
	uint32_t mac_limit_default;    /* per port; 0 = 65536 */
	uint32_t mbufs;                /* packet buffers; 0 = 32767 */
	uint32_t conntrack_entries;    /* NAT connections; 0 = 131072 */
	const char *ct_timeouts;       /* "udp=30,..." over the defaults; NULL */
	const char *config_path;       /* persisted config; NULL = none */
};

struct vsw;

/*
 * Initializes DPDK's EAL for this process. 'eal_argv' are the user's EAL
 * options (may be empty); to them are added, unless the user gave their
 * own: --file-prefix 'file_prefix', --no-huge (only when no 2 MiB page is
 * free), -m sized for 'opts', --no-pci, and two lcores (control, data
 * plane). Call once per process. Returns 0 or -errno.
 */
int vsw_eal_init(const char *prog, const char *file_prefix, int eal_argc,
		 char **eal_argv, const struct vsw_options *opts) must_check;
/* Releases the EAL (rte_eal_cleanup); after vsw_destroy(). */
void vsw_eal_fini(void);

/* Creates the switch process state (MAC table, packet pool). EAL must be up. */
int vsw_create(const struct vsw_options *opts, struct vsw **out) must_check;
/* Stops the data plane, removes every port and frees; NULL is a no-op. */
void vsw_destroy(struct vsw *vsw);

/*
 * Runs the data plane on EAL lcore 'lcore' (a worker) until vsw_destroy()
 * or vsw_dp_stop(). 'idle_sleep_us' > 0 lets the loop sleep up to that
 * long when no port had traffic for a while (0 = pure busy polling).
 */
int vsw_dp_start(struct vsw *vsw, unsigned int lcore,
		 uint32_t idle_sleep_us) must_check;
void vsw_dp_stop(struct vsw *vsw);
/*
 * One data-plane iteration in the caller's thread: polls every port once,
 * switches what arrived, flushes, ages. For tests and the instruction
 * counter; only while vsw_dp_start() is not running. Returns the number
 * of frames received.
 */
unsigned int vsw_dp_poll(struct vsw *vsw);

int vsw_switch_add(struct vsw *vsw, const char *name) must_check;
/* -ENOTEMPTY while the switch has ports. */
int vsw_switch_del(struct vsw *vsw, const char *name) must_check;
/* MAC aging time of a switch in seconds (default 300). */
int vsw_switch_set_aging(struct vsw *vsw, const char *name,
			 uint32_t aging_s) must_check;

int vsw_port_add(struct vsw *vsw, const char *sw_name,
		 const struct vsw_port_config *cfg) must_check;
/*
 * A static MAC entry: frames to 'mac' in VLAN 'vid' of the port's switch
 * go to 'port' (which need never send from it); it neither ages nor moves.
 * -ENOENT no such port, -ENOSPC table full, -EINVAL a group address.
 */
int vsw_mac_add_static(struct vsw *vsw, const char *port, const uint8_t *mac,
		       uint16_t vid) must_check;

/* Changes VLAN, MAC limit and MTU of a port; its learned MACs are flushed. */
int vsw_port_set(struct vsw *vsw, const struct vsw_port_config *cfg)
	must_check;
int vsw_port_del(struct vsw *vsw, const char *name) must_check;

/*
 * Handles one control request (JSON text, 'len' bytes, untrusted) and
 * returns the reply, one JSON object without a newline (caller frees), or
 * NULL when out of memory. Errors are replies, {"ok": false, ...}.
 */
char *vsw_request(struct vsw *vsw, const char *text, size_t len);

/*
 * Lab networks. 'err' receives a one-line reason for -EINVAL. -ENOENT no
 * such switch/network, -EEXIST name or (switch, VLAN) taken, -ENOSPC too
 * many networks or forwards, -EADDRINUSE the outside port is forwarded
 * already.
 */
int vsw_net_add(struct vsw *vsw, const char *sw_name,
		const struct vsw_net_config *cfg, char *err,
		size_t errlen) must_check;
int vsw_net_del(struct vsw *vsw, const char *name) must_check;
int vsw_forward_add(struct vsw *vsw, const char *net,
		    const struct vsw_forward_config *f, char *err,
		    size_t errlen) must_check;
int vsw_forward_del(struct vsw *vsw, const char *net, uint8_t proto,
		    uint16_t outside_port) must_check;
/*
 * Periodic control-side work (saving DHCP leases that changed); the
 * control socket loop calls it a few times a second.
 */
void vsw_housekeeping(struct vsw *vsw);

/*
 * Parses "avg=RATE[,peak=RATE][,burst=BYTES]" (RATE in bit/s with k, M, G
 * = 10^3, 10^6, 10^9; BYTES with K, M, G = 2^10, 2^20, 2^30) or "off".
 * Missing peak = avg, missing burst = 100 ms at the average (>= 2 frames
 * of 1518 bytes). 0 or -EINVAL with the reason in 'err'.
 */
int vsw_shape_parse(const char *s, struct vsw_shape_config *out, char *err,
		    size_t errlen);
/*
 * Checks a connection-tracking timeout list for vsw_options.ct_timeouts
 * ("udp=30,tcp_established=7440": state names and 1..864000 s). 0 or
 * -EINVAL with the reason in 'err'.
 */
int vsw_ct_timeouts_check(const char *s, char *err, size_t errlen);

/* Formats a shape as vsw_shape_parse() reads it ("off" when unshaped). */
const char *vsw_shape_format(const struct vsw_shape_config *c, char *buf,
			     size_t len);

/* Loads 'path' (a saved config) and applies it; missing file is 0. */
int vsw_config_restore(struct vsw *vsw, const char *path) must_check;
/* Writes the current config to the options' config_path atomically. */
int vsw_config_save(struct vsw *vsw) must_check;

/*
 * Serves control requests on the unix socket 'path' (created mode 0600,
 * newline-delimited JSON) until '*stop' becomes true. Blocks.
 */
int vsw_ctl_serve(struct vsw *vsw, const char *path,
		  volatile bool *stop) must_check;

/* Names of enum values, for output and parsing. */
const char *vsw_port_type_name(enum vsw_port_type type);
int vsw_port_type_parse(const char *s, enum vsw_port_type *out);
const char *vsw_vlan_mode_name(enum vsw_vlan_mode mode);
int vsw_vlan_mode_parse(const char *s, enum vsw_vlan_mode *out);
/*
 * Parses a VLAN list "10,20-30" into a bitmap; "" or "all" = all (zero
 * bitmap). Returns 0 or -EINVAL.
 */
int vsw_vlan_list_parse(const char *s, uint64_t bits[64]);
/* Formats a VLAN bitmap as "10,20-30" ("all" when zero); returns 'buf'. */
const char *vsw_vlan_list_format(const uint64_t bits[64], char *buf,
				 size_t len);
/*
 * Builds a port's VLAN config from the CLI's view: 'tag' (0 = none,
 * 4095 = pass-through), 'trunks' (NULL = none) and 'mode' (NULL = infer:
 * access with a tag, trunk with a list). Returns 0 or -EINVAL with a
 * reason in 'err'.
 */
int vsw_vlan_config_build(uint32_t tag, const char *trunks, const char *mode,
			  struct vsw_vlan_config *out, char *err,
			  size_t errlen) must_check;
/* True for a valid switch/port name: [A-Za-z0-9_.-], 1..15 bytes. */
bool vsw_name_valid(const char *name);

#endif
