/* SPDX-License-Identifier: MIT */
/*
 * vswitchctl: talks to vswitchd over its control socket, one JSON request
 * per command (see docs/vswitch.md), and prints the reply for people or,
 * with --json, as it came.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/clock.h"
#include "common/json.h"
#include "vswitch/vswitch.h"

#define DEFAULT_SOCKET "/run/vswitch/vswitchd.sock"

static const char *sock_path = DEFAULT_SOCKET;
static bool want_json;
static volatile bool interrupted;

struct reply {
	char *text;
	struct json_doc *doc;
	const struct json_node *root;
};

static void
reply_free(struct reply *r)
{
	json_free(r->doc);
	free(r->text);
}

static int
connect_daemon(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(sock_path) >= sizeof(addr.sun_path)) {
		cli_error("socket path too long: %s", sock_path);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;

		cli_error("cannot reach vswitchd at %s: %s", sock_path,
			  strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

/* Sends 'req' (one JSON object) and reads the one-line reply. */
static int
transact(const char *req, struct reply *out)
{
	size_t len = 0, cap = 65536;
	char *buf;
	int fd, r;

	memset(out, 0, sizeof(*out));
	fd = connect_daemon();
	if (fd < 0)
		return fd;
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0 ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		r = -errno;
		cli_error("cannot send to vswitchd: %s", strerror(-r));
		close(fd);
		return r;
	}
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (buf[len - 1] == '\n')
			break;
	}
	close(fd);
	buf[len] = '\0';
	if (!len || json_parse(buf, len, &out->doc, NULL, 0) < 0) {
		cli_error("vswitchd sent no valid reply");
		free(buf);
		return -EPROTO;
	}
	out->text = buf;
	out->root = json_root(out->doc);
	return 0;
}

/* Runs a request; prints its error and returns the exit code on failure. */
static int
call(struct json_writer *w, struct reply *out)
{
	char *req;
	int64_t e = EIO;
	int r;

	json_obj_end(w);
	req = json_writer_take(w);
	if (!req)
		return CLI_EXIT_FAIL;
	r = transact(req, out);
	free(req);
	if (r < 0)
		return CLI_EXIT_FAIL;
	if (json_get_bool(out->root, "ok", false))
		return CLI_EXIT_OK;
	cli_error("%s", json_get_str(out->root, "error", "request failed"));
	json_get_int(out->root, "errno", 0, 4096, &e);
	reply_free(out);
	return cli_exit_code(-(int)e);
}

/* A query: with --json the reply is printed as it came (*printed). */
static int
call_query(struct json_writer *w, struct reply *out, bool *printed)
{
	int rc = call(w, out);

	*printed = false;
	if (rc == 0 && want_json) {
		printf("%s", out->text);
		reply_free(out);
		*printed = true;
	}
	return rc;
}

static void
req_begin(struct json_writer *w, const char *cmd)
{
	json_writer_init_mem(w);
	json_obj_begin(w, NULL);
	json_str(w, "cmd", cmd);
}

/*
 * A query that lists things: sends 'req' (with the first argument, if
 * given, as 'arg_key'), then prints 'header' and one row per element of
 * the reply's array 'list_key' -- or, with --json, the reply as it came.
 */
struct list_query {
	const char *req, *arg_key, *list_key, *header;
	void (*row)(const struct json_node *);
};

static int
list_query(const struct list_query *q, const char *arg)
{
	const struct json_node *list, *e;
	struct json_writer w;
	struct reply r;
	bool printed;
	int rc;

	req_begin(&w, q->req);
	if (arg)
		json_str(&w, q->arg_key, arg);
	rc = call_query(&w, &r, &printed);
	if (rc || printed)
		return rc;
	if (q->header)
		printf("%s\n", q->header);
	list = json_get(r.root, q->list_key);
	for (e = list ? list->child : NULL; e; e = e->next)
		q->row(e);
	reply_free(&r);
	return 0;
}

/* Simple commands: print the JSON reply with --json, nothing otherwise. */
static int
finish(struct json_writer *w)
{
	struct reply r;
	int rc = call(w, &r);

	if (rc)
		return rc;
	if (want_json)
		printf("%s", r.text);
	reply_free(&r);
	return CLI_EXIT_OK;
}

/* ---- option parsing shared by the subcommands ---- */

struct port_opts {
	const char *type, *path, *iface, *trunk, *mode;
	const char *address, *gateway, *gateway_mac, *shape_in, *shape_out;
	const char *group;
	uint64_t vlan, mac_limit, mtu;
	bool has_vlan, has_mac_limit, has_mtu;
	bool dhcp, no_dhcp;
};

struct net_opts {
	const char *subnet, *gateway, *dhcp_range, *dns, *domain, *nat;
	const char *nat_ports, *reserve;
	uint64_t vlan, lease;
	bool dhcp, isolated, has_vlan, has_lease;
};

enum {
	OPT_TYPE = 256, OPT_PATH, OPT_IFACE, OPT_VLAN, OPT_TRUNK, OPT_MODE,
	OPT_MACLIMIT, OPT_MTU, OPT_JSON, OPT_AGING, OPT_COUNT, OPT_SNAPLEN,
	OPT_DURATION, OPT_SWITCH, OPT_HELP, OPT_ADDRESS, OPT_GATEWAY,
	OPT_GATEWAY_MAC, OPT_SHAPE_IN, OPT_SHAPE_OUT, OPT_SUBNET, OPT_DHCP,
	OPT_LEASE, OPT_DNS, OPT_DOMAIN, OPT_NAT, OPT_NAT_PORTS, OPT_ISOLATED,
	OPT_MAX, OPT_GROUP, OPT_RESERVE, OPT_NO_DHCP,
};

static const struct option all_opts[] = {
	{ "type", required_argument, NULL, OPT_TYPE },
	{ "path", required_argument, NULL, OPT_PATH },
	{ "iface", required_argument, NULL, OPT_IFACE },
	{ "vlan", required_argument, NULL, OPT_VLAN },
	{ "trunk", required_argument, NULL, OPT_TRUNK },
	{ "vlan-mode", required_argument, NULL, OPT_MODE },
	{ "mac-limit", required_argument, NULL, OPT_MACLIMIT },
	{ "mtu", required_argument, NULL, OPT_MTU },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "aging", required_argument, NULL, OPT_AGING },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "snaplen", required_argument, NULL, OPT_SNAPLEN },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "switch", required_argument, NULL, OPT_SWITCH },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "address", required_argument, NULL, OPT_ADDRESS },
	{ "gateway", required_argument, NULL, OPT_GATEWAY },
	{ "gateway-mac", required_argument, NULL, OPT_GATEWAY_MAC },
	{ "shape-in", required_argument, NULL, OPT_SHAPE_IN },
	{ "shape-out", required_argument, NULL, OPT_SHAPE_OUT },
	{ "subnet", required_argument, NULL, OPT_SUBNET },
	{ "dhcp", optional_argument, NULL, OPT_DHCP },
	{ "lease", required_argument, NULL, OPT_LEASE },
	{ "dns", required_argument, NULL, OPT_DNS },
	{ "domain", required_argument, NULL, OPT_DOMAIN },
	{ "nat", required_argument, NULL, OPT_NAT },
	{ "nat-ports", required_argument, NULL, OPT_NAT_PORTS },
	{ "isolated", no_argument, NULL, OPT_ISOLATED },
	{ "max", required_argument, NULL, OPT_MAX },
	{ "group", required_argument, NULL, OPT_GROUP },
	{ "reserve", required_argument, NULL, OPT_RESERVE },
	{ "no-dhcp", no_argument, NULL, OPT_NO_DHCP },
	{ 0 },
};

struct opts {
	struct port_opts p;
	struct net_opts n;
	uint64_t aging, count, snaplen, duration, max;
	bool has_aging;
	const char *sw;
	int nargs;
	char *args[4];
};

/* "--dhcp RANGE" takes its optional value as the next word, as people type it. */
static void
join_optional_dhcp(int argc, char **argv)
{
	static char joined[128];

	for (int i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--dhcp") || argv[i + 1][0] == '-' ||
		    !strchr(argv[i + 1], '.') || !strchr(argv[i + 1], '-'))
			continue;
		snprintf(joined, sizeof(joined), "--dhcp=%s", argv[i + 1]);
		argv[i] = joined;
		/* The range word becomes an empty placeholder getopt skips. */
		for (int k = i + 1; k + 1 < argc; k++)
			argv[k] = argv[k + 1];
		argv[argc - 1] = NULL;
		return;
	}
}

/* Refuses absurd shaping values before asking the daemon. */
static int
check_shape(const struct cli_cmd *cmd, const char *opt, const char *spec)
{
	struct vsw_shape_config c;
	char err[160];

	if (vsw_shape_parse(spec, &c, err, sizeof(err)) < 0) {
		cli_usage_error("%s: %s: %s", cmd->name, opt, err);
		return -1;
	}
	return 0;
}

/*
 * Parses argv of a subcommand, accepting only options in 'allowed'
 * (a string of OPT_* values). Returns 0, or an exit code to return.
 */
static int
parse_opts(const struct cli_cmd *cmd, int argc, char **argv,
	   const int *allowed, int min_args, int max_args, struct opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	for (int i = 1; i < argc; i++)
		if (argv[i] && !strcmp(argv[i], "--dhcp") && i + 1 < argc &&
		    argv[i + 1][0] != '-' && strchr(argv[i + 1], '.') &&
		    strchr(argv[i + 1], '-')) {
			join_optional_dhcp(argc, argv);
			argc--;
			break;
		}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", all_opts, NULL)) != -1) {
		bool ok = c == OPT_HELP || c == 'h';
		uint64_t *num = NULL, max = UINT32_MAX;

		for (const int *a = allowed; *a && !ok; a++)
			ok = *a == c;
		if (!ok || c == '?')
			return cli_usage_error("%s: unknown option '%s'", cmd->name,
					       argv[optind - 1]);
		switch (c) {
		case 'h':
		case OPT_HELP:
			cli_cmd_usage(cmd);
			return -1;
		case OPT_TYPE: o->p.type = optarg; break;
		case OPT_PATH: o->p.path = optarg; break;
		case OPT_IFACE: o->p.iface = optarg; break;
		case OPT_TRUNK: o->p.trunk = optarg; break;
		case OPT_MODE: o->p.mode = optarg; break;
		case OPT_SWITCH: o->sw = optarg; break;
		case OPT_JSON: want_json = true; break;
		case OPT_VLAN: num = &o->p.vlan; o->p.has_vlan = true; max = 4095; break;
		case OPT_MACLIMIT: num = &o->p.mac_limit; o->p.has_mac_limit = true; break;
		case OPT_MTU: num = &o->p.mtu; o->p.has_mtu = true; max = 9600; break;
		case OPT_AGING: num = &o->aging; o->has_aging = true; break;
		case OPT_COUNT: num = &o->count; max = UINT64_MAX >> 1; break;
		case OPT_SNAPLEN: num = &o->snaplen; max = 65535; break;
		case OPT_DURATION: num = &o->duration; max = 86400; break;
		case OPT_ADDRESS: o->p.address = optarg; break;
		case OPT_GATEWAY: o->p.gateway = o->n.gateway = optarg; break;
		case OPT_GATEWAY_MAC: o->p.gateway_mac = optarg; break;
		case OPT_SHAPE_IN: o->p.shape_in = optarg; break;
		case OPT_SHAPE_OUT: o->p.shape_out = optarg; break;
		case OPT_SUBNET: o->n.subnet = optarg; break;
		case OPT_DHCP: o->n.dhcp = o->p.dhcp = true;
			o->n.dhcp_range = optarg; break;
		case OPT_NO_DHCP: o->p.no_dhcp = true; break;
		case OPT_LEASE: num = &o->n.lease; o->n.has_lease = true;
			max = 31536000; break;
		case OPT_DNS: o->n.dns = optarg; break;
		case OPT_DOMAIN: o->n.domain = optarg; break;
		case OPT_NAT: o->n.nat = optarg; break;
		case OPT_NAT_PORTS: o->n.nat_ports = optarg; break;
		case OPT_ISOLATED: o->n.isolated = true; break;
		case OPT_MAX: num = &o->max; break;
		case OPT_GROUP: o->p.group = optarg; break;
		case OPT_RESERVE: o->n.reserve = optarg; break;
		}
		if (c == OPT_VLAN)
			o->n.has_vlan = true;
		if ((c == OPT_SHAPE_IN || c == OPT_SHAPE_OUT) &&
		    check_shape(cmd, argv[optind - 1], optarg) < 0)
			return CLI_EXIT_USAGE;
		if (num && cli_parse_u64(optarg, 0, max, num) < 0)
			return cli_usage_error("%s: bad number '%s' for --%s",
					       cmd->name, optarg,
					       argv[optind - 1] + 2);
	}
	o->nargs = argc - optind;
	if (o->nargs < min_args || o->nargs > max_args)
		return cli_usage_error("%s: expected %s", cmd->name, cmd->args);
	for (int i = 0; i < o->nargs; i++)
		o->args[i] = argv[optind + i];
	return 0;
}

#define PARSE(min, max, ...)                                                 \
	do {                                                                 \
		static const int allowed_[] = { __VA_ARGS__, 0 };            \
		int rc_ = parse_opts(self, argc, argv, allowed_, min, max, &o); \
		if (rc_)                                                     \
			return rc_ < 0 ? CLI_EXIT_OK : rc_;                  \
	} while (0)

static const struct cli_cmd cmds[];
static const struct cli_cmd *cmd_named(const char *name);


/* An uplink's DHCP lease, as show prints it. */
static void
print_dhcp(const struct json_node *d)
{
	int64_t exp = 0;

	if (!d || d->type != JSON_OBJECT)
		return;
	printf(", DHCP %s", json_get_str(d, "state", "?"));
	if (!json_get(d, "address"))
		return;
	json_get_int(d, "expires_in_s", 0, INT64_MAX, &exp);
	printf(" %s%s%s from %s (expires in %" PRId64 " s)",
	       json_get_str(d, "address", ""),
	       json_get(d, "gateway") ? " via " : "",
	       json_get_str(d, "gateway", ""), json_get_str(d, "server", "?"),
	       exp);
}

static void
port_fields(struct json_writer *w, const struct port_opts *p)
{
	if (p->type)
		json_str(w, "type", p->type);
	if (p->path)
		json_str(w, "path", p->path);
	if (p->iface)
		json_str(w, "iface", p->iface);
	if (p->has_vlan)
		json_u64(w, "vlan", p->vlan);
	if (p->trunk)
		json_str(w, "trunks", p->trunk);
	if (p->mode)
		json_str(w, "vlan_mode", p->mode);
	if (p->has_mac_limit)
		json_u64(w, "mac_limit", p->mac_limit);
	if (p->has_mtu)
		json_u64(w, "mtu", p->mtu);
	if (p->dhcp || p->no_dhcp)
		json_bool(w, "dhcp", p->dhcp);
	if (p->address)
		json_str(w, "address", strcmp(p->address, "none") ? p->address : "");
	if (p->gateway)
		json_str(w, "gateway", p->gateway);
	if (p->gateway_mac)
		json_str(w, "gateway_mac", p->gateway_mac);
	if (p->shape_in)
		json_str(w, "shape_in", p->shape_in);
	if (p->shape_out)
		json_str(w, "shape_out", p->shape_out);
	if (p->group)
		json_str(w, "group", strcmp(p->group, "none") ? p->group : "");
}

/* An uplink's address from DHCP or given: the options that go together. */
static int
check_port_dhcp(const char *cmd, const struct opts *o)
{
	if (o->p.dhcp && o->n.dhcp_range)
		return cli_usage_error("%s: a port's --dhcp takes no range", cmd);
	if (o->p.dhcp && o->p.no_dhcp)
		return cli_usage_error("%s: --dhcp or --no-dhcp, not both", cmd);
	if (o->p.dhcp && (o->p.address || o->p.gateway || o->p.gateway_mac))
		return cli_usage_error("%s: with --dhcp the address and gateway "
				       "come from the DHCP server", cmd);
	return 0;
}

/* ---- subcommands ---- */

static int
do_add_switch(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("add-switch");
	struct json_writer w;
	struct opts o;
	int rc;

	PARSE(1, 1, OPT_AGING, OPT_JSON);
	req_begin(&w, "switch/add");
	json_str(&w, "switch", o.args[0]);
	rc = finish(&w);
	if (rc || !o.has_aging)
		return rc;
	req_begin(&w, "switch/set");
	json_str(&w, "switch", o.args[0]);
	json_u64(&w, "aging", o.aging);
	return finish(&w);
}

static int
do_set_switch(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("set-switch");
	struct json_writer w;
	struct opts o;

	PARSE(1, 1, OPT_AGING, OPT_JSON);
	if (!o.has_aging)
		return cli_usage_error("set-switch: nothing to set (--aging S)");
	req_begin(&w, "switch/set");
	json_str(&w, "switch", o.args[0]);
	json_u64(&w, "aging", o.aging);
	return finish(&w);
}

static int
do_del_switch(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("del-switch");
	struct json_writer w;
	struct opts o;

	PARSE(1, 1, OPT_JSON);
	req_begin(&w, "switch/del");
	json_str(&w, "switch", o.args[0]);
	return finish(&w);
}

static int
do_add_port(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("add-port");
	struct json_writer w;
	struct opts o;

	PARSE(2, 2, OPT_TYPE, OPT_PATH, OPT_IFACE, OPT_VLAN, OPT_TRUNK, OPT_MODE,
	      OPT_MACLIMIT, OPT_MTU, OPT_ADDRESS, OPT_GATEWAY, OPT_GATEWAY_MAC,
	      OPT_SHAPE_IN, OPT_SHAPE_OUT, OPT_GROUP, OPT_DHCP, OPT_JSON);
	if (!o.p.type)
		return cli_usage_error("add-port: --type is required "
				       "(vhostuser, memif, tap, afpacket, null, ring)");
	if (check_port_dhcp("add-port", &o))
		return CLI_EXIT_USAGE;
	req_begin(&w, "port/add");
	json_str(&w, "switch", o.args[0]);
	json_str(&w, "port", o.args[1]);
	port_fields(&w, &o.p);
	return finish(&w);
}

static int
do_set_port(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("set-port");
	struct json_writer w;
	struct opts o;

	PARSE(1, 1, OPT_VLAN, OPT_TRUNK, OPT_MODE, OPT_MACLIMIT, OPT_MTU,
	      OPT_ADDRESS, OPT_GATEWAY, OPT_GATEWAY_MAC, OPT_SHAPE_IN,
	      OPT_SHAPE_OUT, OPT_GROUP, OPT_DHCP, OPT_NO_DHCP, OPT_JSON);
	if (check_port_dhcp("set-port", &o))
		return CLI_EXIT_USAGE;
	if (o.p.gateway && !o.p.address)
		return cli_usage_error("set-port: --gateway comes with --address");
	req_begin(&w, "port/set");
	json_str(&w, "port", o.args[0]);
	port_fields(&w, &o.p);
	return finish(&w);
}

/* add-group and set-group: a group's policy options. */
static int
group_change(const char *name, int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named(name);
	bool add = !strcmp(name, "add-group");
	struct json_writer w;
	struct opts o;

	PARSE(add ? 2 : 1, add ? 2 : 1, OPT_VLAN, OPT_TRUNK, OPT_MODE,
	      OPT_MACLIMIT, OPT_MTU, OPT_SHAPE_IN, OPT_SHAPE_OUT, OPT_JSON);
	req_begin(&w, add ? "group/add" : "group/set");
	if (add)
		json_str(&w, "switch", o.args[0]);
	json_str(&w, "group", o.args[add ? 1 : 0]);
	port_fields(&w, &o.p);
	return finish(&w);
}

static int
do_add_group(int argc, char **argv)
{
	return group_change("add-group", argc, argv);
}

static int
do_set_group(int argc, char **argv)
{
	return group_change("set-group", argc, argv);
}

static int
do_del_group(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("del-group");
	struct json_writer w;
	struct opts o;

	PARSE(1, 1, OPT_JSON);
	req_begin(&w, "group/del");
	json_str(&w, "group", o.args[0]);
	return finish(&w);
}

static void print_vlan(const struct json_node *p);
static int64_t num(const struct json_node *n, const char *key);
static void print_shape(const struct json_node *p, const char *key,
			const char *label);

static void
group_row(const struct json_node *g)
{
	const struct json_node *ps, *p;

	printf("group %s on %s: ", json_get_str(g, "name", "?"),
	       json_get_str(g, "switch", "?"));
	print_vlan(g);
	printf(", mtu %" PRId64 ", mac limit %" PRId64, num(g, "mtu"),
	       num(g, "mac_limit"));
	print_shape(g, "shape_in", "in");
	print_shape(g, "shape_out", "out");
	printf("\n  ports:");
	ps = json_get(g, "ports");
	for (p = ps ? ps->child : NULL; p; p = p->next)
		printf(" %s", p->str);
	printf("\n");
}

static int
do_groups(int argc, char **argv)
{
	static const struct list_query q = { "group/list", "switch", "groups",
					     NULL, group_row };
	const struct cli_cmd *self = cmd_named("groups");
	struct opts o;

	PARSE(0, 1, OPT_JSON);
	return list_query(&q, o.nargs ? o.args[0] : NULL);
}

static int
do_del_port(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("del-port");
	struct json_writer w;
	struct opts o;

	PARSE(1, 1, OPT_JSON);
	req_begin(&w, "port/del");
	json_str(&w, "port", o.args[0]);
	return finish(&w);
}

static void
print_vlan(const struct json_node *p)
{
	const char *mode = json_get_str(p, "vlan_mode", "?");
	int64_t vlan = 0;

	json_get_int(p, "vlan", 0, 4095, &vlan);
	if (!strcmp(mode, "access"))
		printf("access vlan %" PRId64, vlan);
	else if (!strcmp(mode, "trunk"))
		printf("trunk %s", json_get_str(p, "trunks", "all"));
	else if (!strcmp(mode, "passthrough"))
		printf("vlan 4095 (pass-through)");
	else
		printf("%s vlan %" PRId64 " trunk %s", mode, vlan,
		       json_get_str(p, "trunks", "all"));
}

static void
print_shape(const struct json_node *p, const char *key, const char *dir)
{
	const struct json_node *s = json_get(p, key);
	int64_t avg = 0, peak = 0, burst = 0;

	if (!s)
		return;
	json_get_int(s, "avg", 0, INT64_MAX, &avg);
	json_get_int(s, "peak", 0, INT64_MAX, &peak);
	json_get_int(s, "burst", 0, INT64_MAX, &burst);
	printf(", shaped %s avg %" PRId64 " peak %" PRId64 " bit/s burst %"
	       PRId64 " B", dir, avg, peak, burst);
}

static int
do_show(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("show");
	const struct json_node *sws, *s, *p;
	struct json_writer w;
	struct reply r;
	bool printed;
	struct opts o;
	int rc;

	PARSE(0, 0, OPT_JSON);
	req_begin(&w, "show");
	rc = call_query(&w, &r, &printed);
	if (rc || printed)
		return rc;
	sws = json_get(r.root, "switches");
	for (s = sws ? sws->child : NULL; s; s = s->next) {
		int64_t aging = 0, macs = 0;
		const struct json_node *ports = json_get(s, "ports");

		json_get_int(s, "aging_s", 0, INT64_MAX, &aging);
		json_get_int(s, "macs", 0, INT64_MAX, &macs);
		printf("switch %s: aging %" PRId64 " s, %" PRId64 " MACs\n",
		       json_get_str(s, "name", "?"), aging, macs);
		for (p = ports ? ports->child : NULL; p; p = p->next) {
			const char *type = json_get_str(p, "type", "?");
			int64_t pm = 0;

			json_get_int(p, "macs", 0, INT64_MAX, &pm);
			printf("  port %-15s %-9s ", json_get_str(p, "name", "?"),
			       type);
			if (json_get(p, "iface"))
				printf("iface %s, ", json_get_str(p, "iface", ""));
			if (json_get(p, "path"))
				printf("path %s, ", json_get_str(p, "path", ""));
			print_vlan(p);
			if (json_get(p, "address"))
				printf(", address %s%s%s",
				       json_get_str(p, "address", ""),
				       json_get(p, "gateway") ? " via " : "",
				       json_get_str(p, "gateway", ""));
			print_dhcp(json_get(p, "dhcp_client"));
			print_shape(p, "shape_in", "in");
			print_shape(p, "shape_out", "out");
			if (json_get(p, "group"))
				printf(", group %s", json_get_str(p, "group", ""));
			printf(", link %s, %" PRId64 " MACs%s\n",
			       json_get_str(p, "link", "?"), pm,
			       json_get_bool(p, "capturing", false) ? ", capturing"
								      : "");
		}
	}
	reply_free(&r);
	return 0;
}

static void
mac_row(const struct json_node *m)
{
	int64_t vlan = 0, age = 0;

	json_get_int(m, "vlan", 0, 4095, &vlan);
	json_get_int(m, "age_s", 0, INT64_MAX, &age);
	printf("%-5" PRId64 " %-17s %-15s %" PRId64 "\n", vlan,
	       json_get_str(m, "mac", "?"), json_get_str(m, "port", "?"), age);
}

static int
do_macs(int argc, char **argv)
{
	static const struct list_query q = {
		"mac/list", "switch", "macs",
		"VLAN  MAC               PORT            AGE", mac_row
	};
	const struct cli_cmd *self = cmd_named("macs");
	struct opts o;

	PARSE(1, 1, OPT_JSON);
	return list_query(&q, o.args[0]);
}

static int
do_add_mac(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("add-mac");
	struct json_writer w;
	struct opts o;

	PARSE(2, 2, OPT_VLAN, OPT_JSON);
	req_begin(&w, "mac/add");
	json_str(&w, "port", o.args[0]);
	json_str(&w, "mac", o.args[1]);
	if (o.p.has_vlan)
		json_u64(&w, "vlan", o.p.vlan);
	return finish(&w);
}

static int
do_flush_macs(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("flush-macs");
	struct json_writer w;
	struct opts o;

	PARSE(1, 1, OPT_JSON);
	req_begin(&w, "mac/flush");
	json_str(&w, "switch", o.args[0]);
	return finish(&w);
}

static int64_t
num(const struct json_node *n, const char *key)
{
	int64_t v = 0;

	json_get_int(n, key, 0, INT64_MAX, &v);
	return v;
}

static int
do_stats(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("stats");
	const struct json_node *ports, *sws, *p, *d;
	struct json_writer w;
	struct reply r;
	bool printed;
	struct opts o;
	int rc;

	PARSE(0, 1, OPT_SWITCH, OPT_JSON);
	req_begin(&w, "stats");
	if (o.nargs)
		json_str(&w, "port", o.args[0]);
	if (o.sw)
		json_str(&w, "switch", o.sw);
	rc = call_query(&w, &r, &printed);
	if (rc || printed)
		return rc;
	printf("%-15s %-10s %12s %14s %12s %14s %10s\n", "PORT", "SWITCH",
	       "RX-PKTS", "RX-BYTES", "TX-PKTS", "TX-BYTES", "DROPPED");
	ports = json_get(r.root, "ports");
	for (p = ports ? ports->child : NULL; p; p = p->next) {
		printf("%-15s %-10s %12" PRId64 " %14" PRId64 " %12" PRId64
		       " %14" PRId64 " %10" PRId64 "\n",
		       json_get_str(p, "name", "?"), json_get_str(p, "switch", "?"),
		       num(p, "rx_packets"), num(p, "rx_bytes"),
		       num(p, "tx_packets"), num(p, "tx_bytes"), num(p, "dropped"));
		d = json_get(p, "drops");
		for (d = d ? d->child : NULL; d; d = d->next)
			if (d->type == JSON_NUMBER && d->num > 0)
				printf("  drop %-13s %12.0f\n", d->key, d->num);
		if (num(p, "guest_tx_stalls"))
			printf("  guest TX queue stuck %" PRId64 " times (bad "
			       "descriptors)\n", num(p, "guest_tx_stalls"));
	}
	sws = json_get(r.root, "switches");
	for (p = sws ? sws->child : NULL; p; p = p->next)
		printf("switch %s: unicast %" PRId64 ", flooded %" PRId64
		       ", learned %" PRId64 ", moved %" PRId64 ", aged %" PRId64
		       ", table full %" PRId64 ", %" PRId64 " MACs\n",
		       json_get_str(p, "name", "?"), num(p, "unicast"),
		       num(p, "flooded"), num(p, "learned"), num(p, "moved"),
		       num(p, "aged"), num(p, "table_full"), num(p, "macs"));
	reply_free(&r);
	return 0;
}

static void
on_sigint(int sig)
{
	interrupted = true;
}

static int
capture_status(bool stop, int64_t *written, bool *running)
{
	const struct json_node *c;
	struct json_writer w;
	struct reply r;
	int rc;

	req_begin(&w, stop ? "capture/stop" : "capture/status");
	rc = call(&w, &r);
	if (rc)
		return rc;
	c = json_get(r.root, "capture");
	*written = num(c, "written");
	*running = json_get_bool(c, "running", false);
	reply_free(&r);
	return 0;
}

static int
do_capture(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("capture");
	char file[PATH_MAX];
	struct json_writer w;
	uint64_t deadline = 0;
	int64_t written = 0;
	bool running = true;
	struct opts o;
	int rc;

	PARSE(2, 2, OPT_COUNT, OPT_SNAPLEN, OPT_DURATION, OPT_JSON);
	if (o.args[1][0] == '/') {
		snprintf(file, sizeof(file), "%s", o.args[1]);
	} else {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd)) ||
		    strlen(cwd) + strlen(o.args[1]) + 2 > sizeof(file))
			return CLI_EXIT_FAIL;
		strcpy(file, cwd);
		strcat(file, "/");
		strcat(file, o.args[1]);
	}
	req_begin(&w, "capture/start");
	json_str(&w, "port", o.args[0]);
	json_str(&w, "file", file);
	if (o.count)
		json_u64(&w, "count", o.count);
	if (o.snaplen)
		json_u64(&w, "snaplen", o.snaplen);
	{
		struct reply r;

		rc = call(&w, &r);
		if (rc)
			return rc;
		reply_free(&r);
	}
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	if (o.duration)
		deadline = clock_mono_ns() + o.duration * NS_PER_SEC;
	if (!want_json)
		fprintf(stderr, "capturing %s to %s (Ctrl-C stops)\n", o.args[0],
			file);
	while (running && !interrupted &&
	       (!deadline || clock_mono_ns() < deadline)) {
		usleep(100000);
		rc = capture_status(false, &written, &running);
		if (rc)
			return rc;
	}
	rc = capture_status(true, &written, &running);
	if (rc)
		return rc;
	if (want_json)
		printf("{\"file\":\"%s\",\"written\":%" PRId64 "}\n", file, written);
	else
		printf("%" PRId64 " frames written to %s\n", written, file);
	return 0;
}

/* ---- lab networks ---- */

static int
do_add_network(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("add-network");
	struct json_writer w;
	struct opts o;

	PARSE(2, 2, OPT_SUBNET, OPT_VLAN, OPT_GATEWAY, OPT_GATEWAY_MAC, OPT_DHCP,
	      OPT_LEASE, OPT_DNS, OPT_DOMAIN, OPT_NAT, OPT_NAT_PORTS, OPT_ISOLATED,
	      OPT_RESERVE, OPT_JSON);
	if (!o.n.subnet)
		return cli_usage_error("add-network: --subnet CIDR is required "
				       "(e.g. 192.168.50.0/24)");
	if (o.n.isolated && o.n.nat)
		return cli_usage_error("add-network: --isolated and --nat "
				       "exclude each other");
	if (o.p.has_vlan && o.p.vlan > 4094)
		return cli_usage_error("add-network: --vlan must be 0..4094");
	req_begin(&w, "net/add");
	json_str(&w, "switch", o.args[0]);
	json_str(&w, "network", o.args[1]);
	json_str(&w, "subnet", o.n.subnet);
	if (o.p.has_vlan)
		json_u64(&w, "vlan", o.p.vlan);
	if (o.n.gateway)
		json_str(&w, "gateway", o.n.gateway);
	if (o.p.gateway_mac)
		json_str(&w, "gateway_mac", o.p.gateway_mac);
	if (o.n.dhcp)
		json_bool(&w, "dhcp", true);
	if (o.n.dhcp_range)
		json_str(&w, "dhcp_range", o.n.dhcp_range);
	if (o.n.has_lease)
		json_u64(&w, "lease", o.n.lease);
	if (o.n.dns)
		json_str(&w, "dns", o.n.dns);
	if (o.n.domain)
		json_str(&w, "domain", o.n.domain);
	if (o.n.nat)
		json_str(&w, "nat", o.n.nat);
	if (o.n.nat_ports)
		json_str(&w, "nat_ports", o.n.nat_ports);
	if (o.n.isolated)
		json_bool(&w, "isolated", true);
	if (o.n.reserve)
		json_str(&w, "reserve", o.n.reserve);
	return finish(&w);
}

static int
do_del_network(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("del-network");
	struct json_writer w;
	struct opts o;

	PARSE(1, 1, OPT_JSON);
	req_begin(&w, "net/del");
	json_str(&w, "network", o.args[0]);
	return finish(&w);
}

static void
print_net(const struct json_node *n)
{
	const struct json_node *f, *st = json_get(n, "stats"), *d;

	printf("network %s: switch %s VLAN %" PRId64 ", %s, gateway %s (%s)",
	       json_get_str(n, "name", "?"), json_get_str(n, "switch", "?"),
	       num(n, "vlan"), json_get_str(n, "subnet", "?"),
	       json_get_str(n, "gateway", "?"),
	       json_get_str(n, "gateway_mac", "?"));
	if (json_get_bool(n, "dhcp", false))
		printf(", DHCP %s", json_get_str(n, "dhcp_range", "?"));
	if (json_get(n, "nat"))
		printf(", NAT via %s (%s)", json_get_str(n, "nat", "?"),
		       json_get_str(n, "nat_status", "?"));
	if (json_get_bool(n, "isolated", false))
		printf(", isolated");
	printf("\n");
	f = json_get(n, "forwards");
	for (f = f ? f->child : NULL; f; f = f->next)
		printf("  forward %s %" PRId64 " -> %s\n",
		       json_get_str(f, "proto", "?"), num(f, "outside_port"),
		       json_get_str(f, "to", "?"));
	if (!st)
		return;
	printf("  arp %" PRId64 ", ping %" PRId64 ", dhcp %" PRId64 "/%" PRId64
	       ", nat out %" PRId64 ", nat in %" PRId64 ", dropped %" PRId64 "\n",
	       num(st, "arp_replies"), num(st, "echo_replies"),
	       num(st, "dhcp_requests"), num(st, "dhcp_replies"),
	       num(st, "nat_out"), num(st, "nat_in"), num(st, "dropped"));
	d = json_get(st, "drops");
	for (d = d ? d->child : NULL; d; d = d->next)
		if (d->type == JSON_NUMBER && d->num > 0)
			printf("  drop %-22s %12.0f\n", d->key, d->num);
}

static int
do_networks(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("networks");
	const struct json_node *nets, *n;
	struct json_writer w;
	struct reply r;
	bool printed;
	struct opts o;
	int rc;

	PARSE(0, 1, OPT_JSON);
	req_begin(&w, "net/list");
	if (o.nargs)
		json_str(&w, "network", o.args[0]);
	rc = call_query(&w, &r, &printed);
	if (rc || printed)
		return rc;
	nets = json_get(r.root, "networks");
	for (n = nets ? nets->child : NULL; n; n = n->next)
		print_net(n);
	reply_free(&r);
	return 0;
}

static int
do_leases(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("leases");
	const struct json_node *ls, *l;
	struct json_writer w;
	struct reply r;
	bool printed;
	struct opts o;
	int rc;

	PARSE(1, 1, OPT_JSON);
	req_begin(&w, "net/leases");
	json_str(&w, "network", o.args[0]);
	rc = call_query(&w, &r, &printed);
	if (rc || printed)
		return rc;
	printf("%-15s %-17s %-8s %10s %s\n", "IP", "MAC", "STATE", "EXPIRES-IN",
	       "HOSTNAME");
	ls = json_get(r.root, "leases");
	for (l = ls ? ls->child : NULL; l; l = l->next)
		printf("%-15s %-17s %-8s %9" PRId64 "s %s%s\n",
		       json_get_str(l, "ip", "?"), json_get_str(l, "mac", "?"),
		       json_get_str(l, "state", "?"), num(l, "expires_in"),
		       json_get_str(l, "hostname", ""),
		       json_get_bool(l, "reserved", false) ? " (reserved)" : "");
	reply_free(&r);
	return 0;
}

static int
do_conntrack(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("conntrack");
	const struct json_node *cs, *c;
	struct json_writer w;
	struct reply r;
	bool printed;
	struct opts o;
	int rc;

	PARSE(1, 1, OPT_MAX, OPT_JSON);
	req_begin(&w, "net/conntrack");
	json_str(&w, "network", o.args[0]);
	if (o.max)
		json_u64(&w, "max", o.max);
	rc = call_query(&w, &r, &printed);
	if (rc || printed)
		return rc;
	printf("%-5s %-16s %-21s %-21s %-21s %7s %s\n", "PROTO", "STATE",
	       "INSIDE", "OUTSIDE", "REMOTE", "TTL", "PKTS OUT/IN");
	cs = json_get(r.root, "connections");
	for (c = cs ? cs->child : NULL; c; c = c->next)
		printf("%-5s %-16s %-21s %-21s %-21s %6" PRId64 "s %" PRId64
		       "/%" PRId64 "%s\n",
		       json_get_str(c, "proto", "?"), json_get_str(c, "state", "?"),
		       json_get_str(c, "inside", "?"),
		       json_get_str(c, "outside", "?"),
		       json_get_str(c, "remote", "?"), num(c, "expires_in"),
		       num(c, "packets_out"), num(c, "packets_in"),
		       json_get_bool(c, "forward", false) ? " forward" : "");
	printf("%" PRId64 " connections in this network\n", num(r.root, "count"));
	reply_free(&r);
	return 0;
}

static int
forward_req(const char *cmd, const char *net, const char *proto,
	    const char *port, const char *to)
{
	struct json_writer w;
	uint64_t p;

	if (strcmp(proto, "tcp") && strcmp(proto, "udp"))
		return cli_usage_error("%s: protocol must be tcp or udp, not '%s'",
				       cmd, proto);
	if (cli_parse_u64(port, 1, 65535, &p) < 0)
		return cli_usage_error("%s: bad uplink port '%s' (1..65535)", cmd,
				       port);
	if (to && !strchr(to, ':'))
		return cli_usage_error("%s: want INSIDE-IP:PORT, not '%s'", cmd,
				       to);
	req_begin(&w, to ? "fwd/add" : "fwd/del");
	json_str(&w, "network", net);
	json_str(&w, "proto", proto);
	json_u64(&w, "outside_port", p);
	if (to)
		json_str(&w, "to", to);
	return finish(&w);
}

static int
do_add_forward(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("add-forward");
	struct opts o;

	PARSE(4, 4, OPT_JSON);
	return forward_req("add-forward", o.args[0], o.args[1], o.args[2],
			   o.args[3]);
}

static int
do_del_forward(int argc, char **argv)
{
	const struct cli_cmd *self = cmd_named("del-forward");
	struct opts o;

	PARSE(3, 3, OPT_JSON);
	return forward_req("del-forward", o.args[0], o.args[1], o.args[2], NULL);
}

static const struct cli_cmd cmds[] = {
	{ "add-switch", "NAME [--aging SECONDS]", "Add a switch", do_add_switch },
	{ "set-switch", "NAME --aging SECONDS", "Change a switch's MAC aging time",
	  do_set_switch },
	{ "del-switch", "NAME", "Remove a switch (it must have no ports)",
	  do_del_switch },
	{ "add-port",
	  "SWITCH PORT --type vhostuser|memif|tap|afpacket|null|ring "
	  "[--path SOCKET] "
	  "[--iface IFACE] [--vlan N] [--trunk LIST] [--vlan-mode MODE] "
	  "[--mac-limit N] [--mtu N] [--address CIDR [--gateway IP] | --dhcp] "
	  "[--shape-in SPEC] [--shape-out SPEC] [--group GROUP]",
	  "Add a port. vhostuser and memif ports connect to the server "
	  "socket --path (the VM's); tap creates --iface (it survives a "
	  "switch restart, also when moved into a namespace); afpacket "
	  "uses an existing --iface. --vlan N: access port (4095: all VLANs, tags kept); "
	  "--trunk 10,20-30: trunk; both with --vlan-mode native-tagged or "
	  "native-untagged: native VLAN N. --address or --dhcp makes it a "
	  "routed uplink (see set-port)",
	  do_add_port },
	{ "set-port",
	  "PORT [--vlan N] [--trunk LIST] [--vlan-mode MODE] [--mac-limit N] "
	  "[--mtu N] [--address CIDR|none [--gateway IP [--gateway-mac MAC]]] "
	  "[--dhcp|--no-dhcp] "
	  "[--shape-in SPEC] [--shape-out SPEC] [--group GROUP|none]",
	  "Change a port's VLANs, MAC limit, MTU, uplink address or shaping, "
	  "or its port group (a member takes the group's policy). "
	  "--address makes it a routed uplink for NAT. --dhcp: the uplink "
	  "takes address, prefix and gateway from a DHCP server on its link "
	  "(RFC 2131 client: an ACKed address is checked with ARP first and "
	  "declined if another host answers; renews at T1, rebinds at T2, "
	  "the lease survives a restart; show and stats --json show it); "
	  "--no-dhcp gives the "
	  "lease back (RELEASE), as del-port does. SPEC: "
	  "avg=RATE[,peak=RATE][,burst=BYTES] (RATE bit/s, 100M; BYTES 64K) or "
	  "off; -in shapes what the port sends into the switch, -out what the "
	  "switch sends out of it",
	  do_set_port },
	{ "del-port", "PORT", "Remove a port", do_del_port },
	{ "add-group",
	  "SWITCH GROUP [--vlan N] [--trunk LIST] [--vlan-mode MODE] "
	  "[--mac-limit N] [--mtu N] [--shape-in SPEC] [--shape-out SPEC]",
	  "Add a port group: a named policy (VLANs, MAC limit, MTU, shaping) "
	  "that ports join with add-port/set-port --group GROUP",
	  do_add_group },
	{ "set-group",
	  "GROUP [--vlan N] [--trunk LIST] [--vlan-mode MODE] [--mac-limit N] "
	  "[--mtu N] [--shape-in SPEC] [--shape-out SPEC]",
	  "Change a port group; every member port follows at once",
	  do_set_group },
	{ "del-group", "GROUP", "Remove a port group (it must have no ports)",
	  do_del_group },
	{ "groups", "[SWITCH] [--json]", "Port groups, their policy and ports",
	  do_groups },
	{ "show", "[--json]", "Switches and their ports", do_show },
	{ "macs", "SWITCH [--json]", "The MAC table of a switch", do_macs },
	{ "flush-macs", "SWITCH", "Forget the MACs a switch learned",
	  do_flush_macs },
	{ "add-mac", "PORT MAC [--vlan N]",
	  "Add a static MAC entry: frames to MAC go out of PORT (never ages)",
	  do_add_mac },
	{ "stats", "[PORT] [--switch SWITCH] [--json]",
	  "Counters of ports and switches, drops by reason", do_stats },
	{ "capture", "PORT FILE [--count N] [--snaplen BYTES] [--duration S]",
	  "Capture a port's frames, both directions, to a pcapng file",
	  do_capture },
	{ "add-network",
	  "SWITCH NET --subnet CIDR [--vlan N] [--gateway IP] [--gateway-mac MAC] "
	  "[--dhcp [FIRST-LAST]] "
	  "[--lease S] [--dns IP[,IP]] [--domain NAME] [--nat UPLINK-PORT] "
	  "[--nat-ports LOW-HIGH] [--isolated] [--reserve MAC=IP[,MAC=IP]]",
	  "Add a lab network on a VLAN of a switch: a gateway (default .2) that "
	  "answers ARP and ping, optionally DHCP (default pool .128-.254; "
	  "--reserve: fixed addresses by MAC) and "
	  "NAT through an uplink port that has an --address",
	  do_add_network },
	{ "del-network", "NET", "Remove a lab network (and its leases)",
	  do_del_network },
	{ "networks", "[NET] [--json]", "Lab networks, their forwards and counters",
	  do_networks },
	{ "leases", "NET [--json]", "DHCP leases of a lab network", do_leases },
	{ "conntrack", "NET [--max N] [--json]", "NAT connections of a lab network",
	  do_conntrack },
	{ "add-forward", "NET tcp|udp UPLINK-PORT-NUMBER INSIDE-IP:PORT",
	  "Forward a port of the NAT uplink's address to a host inside",
	  do_add_forward },
	{ "del-forward", "NET tcp|udp UPLINK-PORT-NUMBER", "Remove a port forward",
	  do_del_forward },
};

static const struct cli_cmd *
cmd_named(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return &cmds[0];
}

int
main(int argc, char **argv)
{
	const char *env = getenv("VSWITCH_SOCKET");

	if (env && *env)
		sock_path = env;
	/* Global options come before the command. */
	while (argc > 1 && !strncmp(argv[1], "--socket", 8)) {
		if (argv[1][8] == '=') {
			sock_path = argv[1] + 9;
			argv[1] = argv[0];
			argc--;
			argv++;
		} else if (argv[1][8] == '\0' && argc > 2) {
			sock_path = argv[2];
			argv[2] = argv[0];
			argc -= 2;
			argv += 2;
		} else {
			cli_set_prog("vswitchctl");
			return cli_usage_error("--socket needs a PATH");
		}
	}
	return cli_dispatch("vswitchctl",
			    "Control the vswitchd DPDK switch "
			    "([--socket PATH] before the command; default "
			    DEFAULT_SOCKET ")",
			    cmds, ARRAY_SIZE(cmds), argc, argv);
}
