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
#include <string.h>

#include "common/json.h"
#include "vswitch/vsw-internal.h"

struct req_def {
	const char *name;
	enum vsw_req_op op;
	bool need_sw, need_port;
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
		if (c->type == VSW_PORT_VHOSTUSER &&
		    (c->path[0] != '/' || strchr(c->path, ','))) {
			snprintf(err, errlen, "a vhostuser port needs an absolute "
				 "'path' without commas");
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
	return vlan_fields(obj, req, err, errlen);
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
	if (def->op == VSW_REQ_PORT_ADD || def->op == VSW_REQ_PORT_SET) {
		r = vsw_req_port_fields(root, req, err, errlen);
		if (r < 0)
			return r;
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
