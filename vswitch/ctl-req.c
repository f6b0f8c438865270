/* SPDX-License-Identifier: MIT */
/*
 * Control requests: one JSON object {"cmd": "module/command", ...} parsed
 * and checked into a struct vsw_req before anything is changed, so a bad
 * request is refused whole with one line saying why. Bytes come from the
 * control socket or the config file: untrusted (the ctl fuzzer drives
 * this file without DPDK).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "vswitch/l3.h"
#include "vswitch/vsw-internal.h"

struct req_def {
	const char *name;
	enum vsw_req_op op;
	bool need_sw, need_port, need_net;
};

static const struct req_def req_defs[] = {
	{ "help", VSW_REQ_HELP, false, false },
	{ "show", VSW_REQ_SHOW, false, false },
	{ "switch/add", VSW_REQ_SWITCH_ADD, true, false },
	{ "switch/del", VSW_REQ_SWITCH_DEL, true, false },
	{ "switch/set", VSW_REQ_SWITCH_SET, true, false },
	{ "port/add", VSW_REQ_PORT_ADD, true, true },
	{ "port/set", VSW_REQ_PORT_SET, false, true },
	{ "port/del", VSW_REQ_PORT_DEL, false, true },
	{ "mac/list", VSW_REQ_MAC_LIST, false, false },
	{ "mac/flush", VSW_REQ_MAC_FLUSH, true, false },
	{ "stats", VSW_REQ_STATS, false, false },
	{ "capture/start", VSW_REQ_CAPTURE_START, false, true },
	{ "capture/stop", VSW_REQ_CAPTURE_STOP, false, false },
	{ "capture/status", VSW_REQ_CAPTURE_STATUS, false, false },
	{ "config/save", VSW_REQ_CONFIG_SAVE, false, false },
	{ "net/add", VSW_REQ_NET_ADD, true, false, true },
	{ "net/del", VSW_REQ_NET_DEL, false, false, true },
	{ "net/list", VSW_REQ_NET_LIST, false, false },
	{ "net/leases", VSW_REQ_NET_LEASES, false, false, true },
	{ "net/conntrack", VSW_REQ_NET_CONNTRACK, false, false, true },
	{ "fwd/add", VSW_REQ_FWD_ADD, false, false, true },
	{ "fwd/del", VSW_REQ_FWD_DEL, false, false, true },
	{ "mac/add", VSW_REQ_MAC_ADD, false, true },
	{ "group/add", VSW_REQ_GROUP_ADD, true, false },
	{ "group/set", VSW_REQ_GROUP_SET, false, false },
	{ "group/del", VSW_REQ_GROUP_DEL, false, false },
	{ "group/list", VSW_REQ_GROUP_LIST, false, false },
};

const char *
vsw_req_name(enum vsw_req_op op)
{
	for (size_t i = 0; i < ARRAY_SIZE(req_defs); i++)
		if (req_defs[i].op == op)
			return req_defs[i].name;
	return "?";
}

/* Copies a string member into 'dst'; absent leaves 'dst' alone. */
static int
get_str(const struct json_node *obj, const char *key, char *dst, size_t len,
	char *err, size_t errlen)
{
	const struct json_node *n = json_get(obj, key);

	if (!n)
		return 0;
	if (n->type != JSON_STRING || strlen(n->str) >= len) {
		snprintf(err, errlen, "'%s' must be a string of at most %zu bytes",
			 key, len - 1);
		return -EINVAL;
	}
	memcpy(dst, n->str, strlen(n->str) + 1);
	return 1;
}

static int
get_uint(const struct json_node *obj, const char *key, uint64_t max,
	 uint64_t *out, char *err, size_t errlen)
{
	int64_t v;
	int r = json_get_int(obj, key, 0, (int64_t)max, &v);

	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		snprintf(err, errlen, "'%s' must be an integer in 0..%llu", key,
			 (unsigned long long)max);
		return -EINVAL;
	}
	*out = (uint64_t)v;
	return 1;
}

static int
get_name(const struct json_node *obj, const char *key, char *dst,
	 bool required, char *err, size_t errlen)
{
	int r = get_str(obj, key, dst, VSW_NAME_MAX, err, errlen);

	if (r < 0)
		return r;
	if (r == 0) {
		if (!required)
			return 0;
		snprintf(err, errlen, "missing '%s'", key);
		return -EINVAL;
	}
	if (!vsw_name_valid(dst)) {
		snprintf(err, errlen,
			 "bad %s name '%s' (1-15 of A-Z a-z 0-9 _ . -)", key,
			 dst);
		return -EINVAL;
	}
	return 1;
}

static int uplink_fields(const struct json_node *obj, struct vsw_req *req,
			 char *err, size_t errlen);
static int shape_field(const struct json_node *obj, const char *key,
		       struct vsw_shape_config *c, bool *has, char *err,
		       size_t errlen);

static int
vlan_fields(const struct json_node *obj, struct vsw_req *req, char *err,
	    size_t errlen)
{
	char trunks[2048] = "", mode[32] = "";
	uint64_t tag = 0;
	int rt, rl, rm;

	rt = get_uint(obj, "vlan", VSW_VID_PASSTHROUGH, &tag, err, errlen);
	if (rt < 0)
		return rt;
	rl = get_str(obj, "trunks", trunks, sizeof(trunks), err, errlen);
	if (rl < 0)
		return rl;
	rm = get_str(obj, "vlan_mode", mode, sizeof(mode), err, errlen);
	if (rm < 0)
		return rm;
	req->has_vlan = rt || rl || rm;
	if (rt && tag == 0) {
		snprintf(err, errlen, "'vlan' must be 1..4095");
		return -EINVAL;
	}
	return vsw_vlan_config_build((uint32_t)tag, rl ? trunks : NULL,
				     rm ? mode : NULL, &req->pcfg.vlan, err,
				     errlen);
}

int
vsw_req_port_fields(const struct json_node *obj, struct vsw_req *req,
		    char *err, size_t errlen)
{
	struct vsw_port_config *c = &req->pcfg;
	char type[16] = "";
	uint64_t v = 0;
	int r;

	snprintf(c->name, sizeof(c->name), "%s", req->port);
	r = get_str(obj, "type", type, sizeof(type), err, errlen);
	if (r < 0)
		return r;
	if (r && vsw_port_type_parse(type, &c->type) < 0) {
		snprintf(err, errlen, "unknown port type '%s' (vhostuser, tap, "
			 "afpacket, null, ring)", type);
		return -EINVAL;
	}
	if (req->op == VSW_REQ_PORT_ADD && !r) {
		snprintf(err, errlen, "missing 'type'");
		return -EINVAL;
	}
	r = get_name(obj, "iface", c->iface, false, err, errlen);
	if (r < 0)
		return r;
	r = get_str(obj, "path", c->path, sizeof(c->path), err, errlen);
	if (r < 0)
		return r;
	if (req->op == VSW_REQ_PORT_ADD) {
		if ((c->type == VSW_PORT_TAP || c->type == VSW_PORT_AFPACKET) &&
		    !c->iface[0]) {
			snprintf(err, errlen, "a %s port needs 'iface'",
				 vsw_port_type_name(c->type));
			return -EINVAL;
		}
		if ((c->type == VSW_PORT_VHOSTUSER ||
		     c->type == VSW_PORT_MEMIF) &&
		    (c->path[0] != '/' || strchr(c->path, ','))) {
			snprintf(err, errlen, "a %s port needs an absolute "
				 "'path' without commas",
				 vsw_port_type_name(c->type));
			return -EINVAL;
		}
	}
	r = get_uint(obj, "mac_limit", UINT32_MAX, &v, err, errlen);
	if (r < 0)
		return r;
	req->has_mac_limit = r;
	if (r)
		c->mac_limit = (uint32_t)v;
	r = get_uint(obj, "mtu", VSW_MTU_MAX, &v, err, errlen);
	if (r < 0)
		return r;
	req->has_mtu = r;
	if (r) {
		if (v < 68) {
			snprintf(err, errlen, "'mtu' must be 68..%u", VSW_MTU_MAX);
			return -EINVAL;
		}
		c->mtu = (uint32_t)v;
	}
	r = get_str(obj, "group", c->group, sizeof(c->group), err, errlen);
	if (r < 0)
		return r;
	req->has_group = r;
	if (r && c->group[0] && !vsw_name_valid(c->group)) {
		snprintf(err, errlen, "bad group name '%s' (1-15 of A-Z a-z "
			 "0-9 _ . -)", c->group);
		return -EINVAL;
	}
	r = uplink_fields(obj, req, err, errlen);
	if (r < 0)
		return r;
	r = shape_field(obj, "shape_in", &c->shape_in, &req->has_shape_in, err,
			errlen);
	if (r < 0)
		return r;
	r = shape_field(obj, "shape_out", &c->shape_out, &req->has_shape_out,
			err, errlen);
	if (r < 0)
		return r;
	return vlan_fields(obj, req, err, errlen);
}

static int
get_ip(const struct json_node *obj, const char *key, uint32_t *out, char *err,
       size_t errlen)
{
	char buf[32];
	int r = get_str(obj, key, buf, sizeof(buf), err, errlen);

	if (r <= 0)
		return r;
	if (vsw_ipv4_parse(buf, out) < 0) {
		snprintf(err, errlen, "'%s': bad IPv4 address '%s'", key, buf);
		return -EINVAL;
	}
	return 1;
}

/* "lo-hi" of IPv4 addresses or of numbers (0: numbers). */
static int
get_range(const struct json_node *obj, const char *key, bool ips,
	  uint32_t *lo, uint32_t *hi, char *err, size_t errlen)
{
	char buf[48], *dash, *end;
	unsigned long a, b;
	int r = get_str(obj, key, buf, sizeof(buf), err, errlen);

	if (r <= 0)
		return r;
	dash = strchr(buf, '-');
	if (!dash)
		goto bad;
	*dash = '\0';
	if (ips) {
		if (vsw_ipv4_parse(buf, lo) < 0 || vsw_ipv4_parse(dash + 1, hi) < 0)
			goto bad;
		return 1;
	}
	if (buf[0] < '0' || buf[0] > '9' || dash[1] < '0' || dash[1] > '9')
		goto bad;
	a = strtoul(buf, &end, 10);
	if (*end)
		goto bad;
	b = strtoul(dash + 1, &end, 10);
	if (*end || a > 65535 || b > 65535)
		goto bad;
	*lo = (uint32_t)a;
	*hi = (uint32_t)b;
	return 1;
bad:
	snprintf(err, errlen, "'%s' must be %s", key,
		 ips ? "FIRST-LAST addresses" : "LOW-HIGH in 1..65535");
	return -EINVAL;
}

/* "reserve": "MAC=IP,MAC=IP,..." (DHCP static reservations). */
static int
reserve_field(const struct json_node *obj, struct vsw_net_config *c,
	      char *err, size_t errlen)
{
	char buf[VSW_NET_MAX_RESERVE * 36 + 1], *save = NULL, *item;
	int r = get_str(obj, "reserve", buf, sizeof(buf), err, errlen);

	if (r <= 0)
		return r;
	for (item = strtok_r(buf, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		struct vsw_net_reservation *rv = &c->reserve[c->nreserve];
		char *eq = strchr(item, '=');

		if (c->nreserve >= VSW_NET_MAX_RESERVE) {
			snprintf(err, errlen, "at most %d reservations",
				 VSW_NET_MAX_RESERVE);
			return -EINVAL;
		}
		if (!eq)
			goto bad;
		*eq = '\0';
		if (vsw_mac_parse(item, rv->mac) < 0 || (rv->mac[0] & 1) ||
		    vsw_ipv4_parse(eq + 1, &rv->ip) < 0)
			goto bad;
		c->nreserve++;
	}
	return 1;
bad:
	snprintf(err, errlen, "'reserve' must be MAC=IP[,MAC=IP...] with "
		 "unicast MACs");
	return -EINVAL;
}

/* "address": "CIDR" ("" removes it), "gateway", "gateway_mac". */
static int
uplink_fields(const struct json_node *obj, struct vsw_req *req, char *err,
	      size_t errlen)
{
	struct vsw_port_config *c = &req->pcfg;
	const struct json_node *n;
	char buf[40];
	int r;

	r = get_str(obj, "address", buf, sizeof(buf), err, errlen);
	if (r < 0)
		return r;
	if (r) {
		req->has_addr = true;
		if (buf[0] && (vsw_cidr_parse(buf, &c->addr, &c->addr_prefix) < 0 ||
			       !c->addr || c->addr_prefix < 1 ||
			       (c->addr >> 28) >= 14)) {
			snprintf(err, errlen, "'address' must be a unicast "
				 "IPv4/prefix such as 192.0.2.10/24");
			return -EINVAL;
		}
	}
	n = json_get(obj, "dhcp");
	if (n) {
		if (n->type != JSON_BOOL) {
			snprintf(err, errlen, "'dhcp' must be true or false");
			return -EINVAL;
		}
		req->has_dhcp = true;
		c->dhcp = n->b;
		if (c->dhcp && req->has_addr) {
			snprintf(err, errlen, "an uplink takes its address "
				 "either from 'dhcp' or from 'address'");
			return -EINVAL;
		}
	}
	r = get_ip(obj, "gateway", &c->gateway, err, errlen);
	if (r < 0)
		return r;
	if (r && !req->has_addr) {
		snprintf(err, errlen, "'gateway' comes with an 'address'");
		return -EINVAL;
	}
	if (r && c->addr && (c->gateway & vsw_prefix_mask(c->addr_prefix)) !=
			     (c->addr & vsw_prefix_mask(c->addr_prefix))) {
		snprintf(err, errlen, "the gateway must be on the address's subnet");
		return -EINVAL;
	}
	r = get_str(obj, "gateway_mac", buf, sizeof(buf), err, errlen);
	if (r < 0)
		return r;
	if (r && (vsw_mac_parse(buf, c->gateway_mac) < 0 || !c->gateway ||
		  (c->gateway_mac[0] & 1))) {
		snprintf(err, errlen, "'gateway_mac' must be a unicast MAC and "
			 "needs a 'gateway'");
		return -EINVAL;
	}
	return 0;
}

/* A shape as "avg=..,peak=..,burst=.." or {"avg":N,"peak":N,"burst":N}. */
static int
shape_field(const struct json_node *obj, const char *key,
	    struct vsw_shape_config *c, bool *has, char *err, size_t errlen)
{
	const struct json_node *n = json_get(obj, key);
	char text[128], e[128] = "";
	int64_t avg, peak, burst;

	if (!n)
		return 0;
	*has = true;
	if (n->type == JSON_STRING) {
		if (vsw_shape_parse(n->str, c, e, sizeof(e)) < 0) {
			snprintf(err, errlen, "'%s': %s", key, e);
			return -EINVAL;
		}
		return 0;
	}
	if (n->type != JSON_OBJECT ||
	    json_get_int(n, "avg", 0, (int64_t)VSW_SHAPE_MAX_BPS, &avg) < 0 ||
	    json_get_int(n, "peak", 0, (int64_t)VSW_SHAPE_MAX_BPS, &peak) < 0 ||
	    json_get_int(n, "burst", 0, (int64_t)VSW_SHAPE_MAX_BURST, &burst) < 0) {
		snprintf(err, errlen, "'%s' must be \"avg=RATE,peak=RATE,"
			 "burst=BYTES\" or {avg, peak, burst}", key);
		return -EINVAL;
	}
	snprintf(text, sizeof(text), "avg=%lld,peak=%lld,burst=%lld",
		 (long long)avg, (long long)peak, (long long)burst);
	if (vsw_shape_parse(text, c, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "'%s': %s", key, e);
		return -EINVAL;
	}
	return 0;
}

int
vsw_req_net_fields(const struct json_node *obj, struct vsw_net_config *c,
		   char *err, size_t errlen)
{
	char buf[64], *comma;
	uint64_t v = 0;
	uint32_t lo = 0, hi = 0;
	int r;

	r = get_str(obj, "subnet", buf, sizeof(buf), err, errlen);
	if (r < 0)
		return r;
	if (!r || vsw_cidr_parse(buf, &c->subnet, &c->prefix_len) < 0) {
		snprintf(err, errlen, "a network needs 'subnet' as IPv4/prefix "
			 "(e.g. 192.168.50.0/24)");
		return -EINVAL;
	}
	r = get_uint(obj, "vlan", VSW_VID_MAX, &v, err, errlen);
	if (r < 0)
		return r;
	if (r)
		c->vlan = (uint16_t)v;
	r = get_ip(obj, "gateway", &c->gateway, err, errlen);
	if (r < 0)
		return r;
	c->dhcp = json_get_bool(obj, "dhcp", false);
	r = get_range(obj, "dhcp_range", true, &lo, &hi, err, errlen);
	if (r < 0)
		return r;
	if (r) {
		c->dhcp = true;
		c->pool_first = lo;
		c->pool_last = hi;
	}
	r = get_uint(obj, "lease", 31536000, &v, err, errlen);
	if (r < 0)
		return r;
	if (r)
		c->lease_secs = (uint32_t)v;
	r = get_str(obj, "dns", buf, sizeof(buf), err, errlen);
	if (r < 0)
		return r;
	if (r) {
		comma = strchr(buf, ',');
		if (comma)
			*comma = '\0';
		if (vsw_ipv4_parse(buf, &c->dns[0]) < 0 ||
		    (comma && vsw_ipv4_parse(comma + 1, &c->dns[1]) < 0)) {
			snprintf(err, errlen, "'dns' must be one or two IPv4 "
				 "addresses, comma-separated");
			return -EINVAL;
		}
	}
	r = get_str(obj, "domain", c->domain, sizeof(c->domain), err, errlen);
	if (r < 0)
		return r;
	for (const char *p = c->domain; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.')) {
			snprintf(err, errlen, "'domain' must be a DNS name");
			return -EINVAL;
		}
	r = get_str(obj, "gateway_mac", buf, sizeof(buf), err, errlen);
	if (r < 0)
		return r;
	if (r && (vsw_mac_parse(buf, c->gateway_mac) < 0 ||
		  (c->gateway_mac[0] & 1) ||
		  !(c->gateway_mac[0] | c->gateway_mac[1] | c->gateway_mac[2] |
		    c->gateway_mac[3] | c->gateway_mac[4] | c->gateway_mac[5]))) {
		snprintf(err, errlen, "'gateway_mac' must be a unicast MAC");
		return -EINVAL;
	}
	r = get_name(obj, "nat", c->nat_uplink, false, err, errlen);
	if (r < 0)
		return r;
	c->isolated = json_get_bool(obj, "isolated", false);
	r = reserve_field(obj, c, err, errlen);
	if (r < 0)
		return r;
	r = get_range(obj, "nat_ports", false, &lo, &hi, err, errlen);
	if (r < 0)
		return r;
	if (r) {
		if (!lo || lo > hi) {
			snprintf(err, errlen, "'nat_ports' must be LOW-HIGH in "
				 "1..65535");
			return -EINVAL;
		}
		c->nat_port_min = (uint16_t)lo;
		c->nat_port_max = (uint16_t)hi;
	}
	return 0;
}

int
vsw_req_forward_fields(const struct json_node *obj,
		       struct vsw_forward_config *f, char *err, size_t errlen)
{
	char proto[8] = "", to[40] = "", *colon, *end;
	uint64_t port = 0;
	unsigned long ip_port;
	int r;

	r = get_str(obj, "proto", proto, sizeof(proto), err, errlen);
	if (r < 0)
		return r;
	if (!strcmp(proto, "tcp")) {
		f->proto = 6;
	} else if (!strcmp(proto, "udp")) {
		f->proto = 17;
	} else {
		snprintf(err, errlen, "'proto' must be tcp or udp");
		return -EINVAL;
	}
	r = get_uint(obj, "outside_port", 65535, &port, err, errlen);
	if (r < 0)
		return r;
	if (!r || !port) {
		snprintf(err, errlen, "'outside_port' (on the uplink) must be "
			 "1..65535");
		return -EINVAL;
	}
	f->outside_port = (uint16_t)port;
	r = get_str(obj, "to", to, sizeof(to), err, errlen);
	if (r < 0)
		return r;
	colon = strrchr(to, ':');
	if (!r || !colon)
		goto bad_to;
	*colon = '\0';
	if (vsw_ipv4_parse(to, &f->inside_ip) < 0 || colon[1] < '0' ||
	    colon[1] > '9')
		goto bad_to;
	ip_port = strtoul(colon + 1, &end, 10);
	if (*end || !ip_port || ip_port > 65535)
		goto bad_to;
	f->inside_port = (uint16_t)ip_port;
	return 0;
bad_to:
	snprintf(err, errlen, "'to' must be INSIDE-IP:PORT");
	return -EINVAL;
}

static int
parse_obj(const struct json_node *root, struct vsw_req *req, char *err,
	  size_t errlen)
{
	const struct req_def *def = NULL;
	const char *cmd;
	uint64_t v = 0;
	int r;

	if (root->type != JSON_OBJECT) {
		snprintf(err, errlen, "a request is a JSON object");
		return -EINVAL;
	}
	cmd = json_get_str(root, "cmd", NULL);
	if (!cmd) {
		snprintf(err, errlen, "missing 'cmd'");
		return -EINVAL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(req_defs) && !def; i++)
		if (!strcmp(req_defs[i].name, cmd))
			def = &req_defs[i];
	if (!def) {
		snprintf(err, errlen, "unknown command '%.40s' (try 'help')", cmd);
		return -EINVAL;
	}
	req->op = def->op;
	r = get_name(root, "switch", req->sw, def->need_sw, err, errlen);
	if (r < 0)
		return r;
	r = get_name(root, "port", req->port, def->need_port, err, errlen);
	if (r < 0)
		return r;
	r = get_name(root, "network", req->net, def->need_net, err, errlen);
	if (r < 0)
		return r;
	if (def->op == VSW_REQ_PORT_ADD || def->op == VSW_REQ_PORT_SET ||
	    def->op == VSW_REQ_GROUP_ADD || def->op == VSW_REQ_GROUP_SET) {
		r = vsw_req_port_fields(root, req, err, errlen);
		if (r < 0)
			return r;
	}
	if (def->op == VSW_REQ_GROUP_ADD || def->op == VSW_REQ_GROUP_SET ||
	    def->op == VSW_REQ_GROUP_DEL) {
		r = get_name(root, "group", req->pcfg.group, true, err, errlen);
		if (r < 0)
			return r;
		if (req->has_addr || req->has_dhcp) {
			snprintf(err, errlen, "a group holds VLANs, MAC limit, "
				 "MTU and shaping, not an address");
			return -EINVAL;
		}
	}
	if (def->op == VSW_REQ_GROUP_LIST) {
		r = get_name(root, "switch", req->sw, false, err, errlen);
		if (r < 0)
			return r;
	}
	if (def->op == VSW_REQ_NET_ADD) {
		snprintf(req->ncfg.name, sizeof(req->ncfg.name), "%s", req->net);
		r = vsw_req_net_fields(root, &req->ncfg, err, errlen);
		if (r < 0)
			return r;
	}
	if (def->op == VSW_REQ_FWD_ADD) {
		r = vsw_req_forward_fields(root, &req->fwd, err, errlen);
		if (r < 0)
			return r;
	}
	if (def->op == VSW_REQ_MAC_ADD) {
		char mac[20] = "";

		r = get_str(root, "mac", mac, sizeof(mac), err, errlen);
		if (r < 0)
			return r;
		if (!r || vsw_mac_parse(mac, req->mac) < 0 || (req->mac[0] & 1)) {
			snprintf(err, errlen, "mac/add needs a unicast 'mac'");
			return -EINVAL;
		}
		r = get_uint(root, "vlan", VSW_VID_MAX, &v, err, errlen);
		if (r < 0)
			return r;
		req->mac_vid = r ? (uint16_t)v : 0;
	}
	if (def->op == VSW_REQ_FWD_DEL) {
		char proto[8] = "";

		r = get_str(root, "proto", proto, sizeof(proto), err, errlen);
		if (r < 0)
			return r;
		req->fwd.proto = !strcmp(proto, "tcp") ? 6
				 : !strcmp(proto, "udp") ? 17 : 0;
		r = get_uint(root, "outside_port", 65535, &v, err, errlen);
		if (r < 0)
			return r;
		if (!req->fwd.proto || !v) {
			snprintf(err, errlen, "fwd/del needs 'proto' (tcp, udp) "
				 "and 'outside_port'");
			return -EINVAL;
		}
		req->fwd.outside_port = (uint16_t)v;
	}
	r = get_uint(root, "aging", 1000000, &v, err, errlen);
	if (r < 0)
		return r;
	req->aging_s = (uint32_t)v;
	if (def->op == VSW_REQ_SWITCH_SET && (!r || v == 0)) {
		snprintf(err, errlen, "switch/set needs 'aging' (1..1000000 s)");
		return -EINVAL;
	}
	r = get_str(root, "file", req->file, sizeof(req->file), err, errlen);
	if (r < 0)
		return r;
	if (def->op == VSW_REQ_CAPTURE_START && req->file[0] != '/') {
		snprintf(err, errlen, "capture/start needs an absolute 'file'");
		return -EINVAL;
	}
	r = get_uint(root, "count", UINT64_MAX >> 1, &req->count, err, errlen);
	if (r < 0)
		return r;
	req->snaplen = UINT16_MAX;
	r = get_uint(root, "snaplen", UINT16_MAX, &v, err, errlen);
	if (r < 0)
		return r;
	if (r)
		req->snaplen = (uint32_t)MAX(v, 14);
	req->max_entries = UINT32_MAX;
	r = get_uint(root, "max", UINT32_MAX, &v, err, errlen);
	if (r < 0)
		return r;
	if (r)
		req->max_entries = (uint32_t)v;
	return 0;
}

/* Names from the request are echoed in errors: keep the reply one line. */
static void
one_line(char *err)
{
	for (; *err; err++)
		if ((unsigned char)*err < 0x20 || *err == 0x7f)
			*err = '?';
}

int
vsw_req_parse(const char *text, size_t len, struct vsw_req *req, char *err,
	      size_t errlen)
{
	struct json_doc *doc;
	char jerr[128] = "";
	int r;

	memset(req, 0, sizeof(*req));
	if (len > VSW_REQ_MAX_BYTES) {
		snprintf(err, errlen, "request longer than %d bytes",
			 VSW_REQ_MAX_BYTES);
		return -EINVAL;
	}
	r = json_parse(text, len, &doc, jerr, sizeof(jerr));
	if (r < 0) {
		snprintf(err, errlen, "bad JSON: %s",
			 jerr[0] ? jerr : strerror(-r));
		return -EINVAL;
	}
	r = parse_obj(json_root(doc), req, err, errlen);
	json_free(doc);
	if (r < 0)
		one_line(err);
	return r;
}
