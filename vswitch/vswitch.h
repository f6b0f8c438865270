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

struct vsw_port_config {
	char name[VSW_NAME_MAX];
	enum vsw_port_type type;
	char iface[VSW_NAME_MAX];      /* TAP / af_packet interface */
	char path[VSW_PATH_MAX];       /* vhost-user server socket */
	struct vsw_vlan_config vlan;
	uint32_t mac_limit;            /* MACs learned on this port; 0 = default */
	uint32_t mtu;                  /* largest payload accepted; 0 = 1500 */
};

struct vsw_options {
	uint32_t mac_table_entries;    /* shared by all switches; 0 = 1M */
	uint32_t mac_limit_default;    /* per port; 0 = 65536 */
	uint32_t mbufs;                /* packet buffers; 0 = 32767 */
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
