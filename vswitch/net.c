/* SPDX-License-Identifier: MIT */
/*
 * Lab networks on the control side: adding and removing networks and
 * port forwards (checked, defaults filled in the way VMware Workstation
 * does them), the DHCP server each may have and its leases file, and the
 * copies of leases and connections the data plane hands out for listing.
 * The data-plane side is router.c.
 *
 * Leases live in FILE.NET.leases beside the saved config (FILE); the data
 * plane marks a network's leases dirty when its DHCP server answered, and
 * vsw_housekeeping() rewrites the file (atomically) soon after.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "vswitch/dhcp-server.h"
#include "vswitch/l3.h"
#include "vswitch/vsw-internal.h"

#include <rte_malloc.h>

#define LEASE_SECS_DEFAULT 1800

static int
fail(char *err, size_t errlen, const char *msg, const char *arg)
{
	snprintf(err, errlen, msg, arg);
	return -EINVAL;
}

/* 02:76:73 ("vs") and 24 bits of the names: stable across restarts. */
static void
gateway_mac(const char *sw, const char *net, uint8_t mac[6])
{
	uint32_t h = 2166136261u;

	for (const char *p = sw; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ '/') * 16777619u;
	for (const char *p = net; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	mac[0] = 0x02;
	mac[1] = 0x76;
	mac[2] = 0x73;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

/* Fills defaults and checks; 0 or -EINVAL with a reason. */
static int
net_config_check(struct vsw *vsw, struct vsw_switch *s,
		 struct vsw_net_config *c, char *err, size_t errlen)
{
	uint32_t mask, bcast, size;
	char buf[16];

	if (!vsw_name_valid(c->name))
		return fail(err, errlen, "bad network name '%s'", c->name);
	if (c->vlan > VSW_VID_MAX)
		return fail(err, errlen, "VLAN must be 0..4094%s", "");
	if (c->prefix_len < 8 || c->prefix_len > 30)
		return fail(err, errlen, "subnet prefix must be /8../30%s", "");
	mask = vsw_prefix_mask(c->prefix_len);
	if (c->subnet & ~mask)
		return fail(err, errlen, "subnet %s has host bits set",
			    vsw_ipv4_format(c->subnet, buf));
	if ((c->subnet >> 28) >= 14 || (c->subnet >> 24) == 127 ||
	    c->subnet == 0)
		return fail(err, errlen, "subnet %s is not a unicast range",
			    vsw_ipv4_format(c->subnet, buf));
	bcast = c->subnet | ~mask;
	size = ~mask + 1;
	if (!c->gateway)
		c->gateway = c->subnet + 2;
	if ((c->gateway & mask) != c->subnet || c->gateway == c->subnet ||
	    c->gateway == bcast)
		return fail(err, errlen, "gateway %s is not a host of the subnet",
			    vsw_ipv4_format(c->gateway, buf));
	if (c->dhcp && !c->pool_first) {
		/* Workstation: .128-.254; small subnets: the upper half. */
		if (size > 256) {
			c->pool_first = c->subnet + 128;
			c->pool_last = c->subnet + 254;
		} else {
			c->pool_first = c->subnet + size / 2;
			c->pool_last = bcast - 1;
		}
		if (c->gateway >= c->pool_first && c->gateway <= c->pool_last)
			return fail(err, errlen, "the gateway lies in the default "
				    "pool: give --dhcp FIRST-LAST%s", "");
	}
	if (c->dhcp && (c->pool_first > c->pool_last ||
			(c->pool_first & mask) != c->subnet ||
			(c->pool_last & mask) != c->subnet ||
			c->pool_first == c->subnet || c->pool_last == bcast))
		return fail(err, errlen, "DHCP range is not within the subnet%s",
			    "");
	if (c->dhcp && c->gateway >= c->pool_first && c->gateway <= c->pool_last)
		return fail(err, errlen, "the gateway %s lies in the DHCP range",
			    vsw_ipv4_format(c->gateway, buf));
	if (c->dhcp && c->pool_last - c->pool_first >= VSW_DHCP_MAX_POOL)
		return fail(err, errlen, "DHCP range larger than 65536 addresses%s",
			    "");
	if (!c->lease_secs)
		c->lease_secs = LEASE_SECS_DEFAULT;
	if (c->lease_secs < 60 || c->lease_secs > 31536000)
		return fail(err, errlen, "lease time must be 60 s .. 1 year%s", "");
	if (c->isolated && c->nat_uplink[0])
		return fail(err, errlen, "an isolated network has no NAT%s", "");
	if (c->nat_uplink[0] && !vsw_name_valid(c->nat_uplink))
		return fail(err, errlen, "bad uplink port name '%s'", c->nat_uplink);
	if (!c->nat_port_min && !c->nat_port_max) {
		c->nat_port_min = 1024;
		c->nat_port_max = 65535;
	}
	if (!c->nat_port_min || c->nat_port_min > c->nat_port_max)
		return fail(err, errlen, "NAT port range must be LOW-HIGH in "
			    "1..65535%s", "");
	c->domain[sizeof(c->domain) - 1] = '\0';
	return 0;
}

static void
leases_path(struct vsw *vsw, const char *net, char *buf, size_t len)
{
	snprintf(buf, len, "%s.%s.leases", vsw->opts.config_path, net);
}

static int
dhcp_start(struct vsw *vsw, struct vsw_net *n, char *err, size_t errlen)
{
	struct vsw_dhcp_config dc;
	char path[VSW_PATH_MAX * 2 + 32];
	int bad = 0, r;
	FILE *f;

	memset(&dc, 0, sizeof(dc));
	dc.subnet = n->cfg.subnet;
	dc.prefix_len = n->cfg.prefix_len;
	dc.server_ip = n->cfg.gateway;
	memcpy(dc.server_mac, n->gw_mac, 6);
	/* An isolated network hands out no router: hosts stay on-link. */
	dc.router = n->cfg.isolated ? 0 : n->cfg.gateway;
	dc.dns[0] = n->cfg.dns[0];
	dc.dns[1] = n->cfg.dns[1];
	snprintf(dc.domain, sizeof(dc.domain), "%s", n->cfg.domain);
	dc.pool_first = n->cfg.pool_first;
	dc.pool_last = n->cfg.pool_last;
	dc.lease_secs = n->cfg.lease_secs;
	for (unsigned int i = 0; i < n->cfg.nreserve; i++) {
		memcpy(dc.reservations[i].mac, n->cfg.reserve[i].mac, 6);
		dc.reservations[i].ip = n->cfg.reserve[i].ip;
	}
	dc.nreservations = n->cfg.nreserve;
	r = vsw_dhcp_create(&dc, &n->rt->dhcp, err, errlen);
	if (r < 0)
		return r;
	if (!vsw->opts.config_path)
		return 0;
	leases_path(vsw, n->cfg.name, path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		return 0;
	r = vsw_dhcp_load(n->rt->dhcp, f, (uint64_t)time(NULL), &bad);
	fclose(f);
	if (r < 0)
		log_warn("vswitch.net", "%s: line %d is malformed; leases not "
			 "restored", path, bad);
	else
		log_info("vswitch.net", "%s: %d leases restored", n->cfg.name, r);
	return 0;
}

static int
net_add_locked(struct vsw *vsw, const char *sw_name,
	       const struct vsw_net_config *cfg, char *err, size_t errlen)
{
	struct vsw_switch *s = vsw_switch_find(vsw, sw_name);
	struct vsw_net *n;
	int idx = -1, r;

	if (!s) {
		snprintf(err, errlen, "no switch '%s'", sw_name);
		return -ENOENT;
	}
	if (vsw_net_find(vsw, cfg->name)) {
		snprintf(err, errlen, "network '%s' exists", cfg->name);
		return -EEXIST;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->cfg = *cfg;
	/* Say what is wrong with the request before what it collides with. */
	r = net_config_check(vsw, s, &n->cfg, err, errlen);
	if (r < 0)
		goto err_free;
	r = -EEXIST;
	for (int i = 0; i < VSW_MAX_NETS; i++) {
		if (!vsw->net[i]) {
			if (idx < 0)
				idx = i;
		} else if (vsw->net[i]->sw == s &&
			   vsw->net[i]->cfg.vlan == cfg->vlan) {
			snprintf(err, errlen, "VLAN %u of switch %s already has "
				 "network '%s'", cfg->vlan, sw_name,
				 vsw->net[i]->cfg.name);
			goto err_free;
		}
	}
	if (idx < 0) {
		snprintf(err, errlen, "limit of %d networks reached", VSW_MAX_NETS);
		r = -ENOSPC;
		goto err_free;
	}
	r = -ENOMEM;
	n->rt = rte_zmalloc("vsw_netrt", sizeof(*n->rt), RTE_CACHE_LINE_SIZE);
	if (!n->rt)
		goto err_free;
	n->idx = (unsigned int)idx;
	n->sw = s;
	if (n->cfg.gateway_mac[0] | n->cfg.gateway_mac[1] | n->cfg.gateway_mac[2] |
	    n->cfg.gateway_mac[3] | n->cfg.gateway_mac[4] | n->cfg.gateway_mac[5])
		memcpy(n->gw_mac, n->cfg.gateway_mac, 6);
	else
		gateway_mac(s->name, n->cfg.name, n->gw_mac);
	if (n->cfg.dhcp) {
		r = dhcp_start(vsw, n, err, errlen);
		if (r < 0)
			goto err_rt;
	}
	vsw->net[idx] = n;
	s->nnets++;
	r = vsw_publish(vsw);
	if (r < 0) {
		vsw->net[idx] = NULL;
		s->nnets--;
		goto err_dhcp;
	}
	log_info("vswitch.net", "network %s on %s VLAN %u added", n->cfg.name,
		 s->name, n->cfg.vlan);
	return 0;

err_dhcp:
	vsw_dhcp_destroy(n->rt->dhcp);
err_rt:
	rte_free(n->rt);
err_free:
	free(n);
	return r;
}

int
vsw_net_add(struct vsw *vsw, const char *sw_name,
	    const struct vsw_net_config *cfg, char *err, size_t errlen)
{
	int r;

	pthread_mutex_lock(&vsw->lock);
	r = net_add_locked(vsw, sw_name, cfg, err, errlen);
	pthread_mutex_unlock(&vsw->lock);
	return r;
}

/* ---- leases ---- */

int
vsw_write_file_atomic(const char *path, const char *text, size_t len)
{
	char tmp[VSW_PATH_MAX * 2 + 48];
	ssize_t w;
	int fd, r = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	w = write(fd, text, len);
	if (w != (ssize_t)len || fsync(fd) < 0)
		r = w < 0 ? -errno : -EIO;
	close(fd);
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

struct leases_text {
	const struct vsw_net *net;
	char *text;
	size_t len;
};

/* Data plane: the server's leases in its file format. */
static uint64_t
dp_leases_text(struct vsw *vsw, void *arg)
{
	struct leases_text *lt = arg;
	FILE *f = open_memstream(&lt->text, &lt->len);

	if (!f)
		return 0;
	vsw_dhcp_save(lt->net->rt->dhcp, f);
	fclose(f);
	return 1;
}

static void
leases_save(struct vsw *vsw, struct vsw_net *n, bool in_dp)
{
	struct leases_text lt = { .net = n };
	char path[VSW_PATH_MAX * 2 + 32];
	int r;

	if (!vsw->opts.config_path || !n->rt->dhcp)
		return;
	if (in_dp)
		vsw_dp_run(vsw, dp_leases_text, &lt);
	else
		dp_leases_text(vsw, &lt);
	if (!lt.text)
		return;
	leases_path(vsw, n->cfg.name, path, sizeof(path));
	r = vsw_write_file_atomic(path, lt.text, lt.len);
	if (r < 0)
		log_err("vswitch.net", "cannot write %s: %s", path, strerror(-r));
	free(lt.text);
}

void
vsw_housekeeping(struct vsw *vsw)
{
	vsw_ports_retry(vsw);
	pthread_mutex_lock(&vsw->lock);
	vsw_uplink_dhcp_housekeeping(vsw);
	for (int i = 0; i < VSW_MAX_NETS; i++) {
		struct vsw_net *n = vsw->net[i];

		if (n && n->rt->dhcp &&
		    atomic_exchange(&n->rt->leases_dirty, false))
			leases_save(vsw, n, true);
	}
	pthread_mutex_unlock(&vsw->lock);
}

/* ---- removal ---- */

/* Removes a network; 'forget' also deletes its leases file. */
static int
net_remove(struct vsw *vsw, struct vsw_net *n, bool forget)
{
	char path[VSW_PATH_MAX * 2 + 32];
	int r;

	vsw->net[n->idx] = NULL;
	r = vsw_publish(vsw);
	if (r < 0) {
		vsw->net[n->idx] = n;
		return r;
	}
	/* The data plane left it: connections and its ARP entries go. */
	vsw_dp_call(vsw, VSW_DP_OP_CT_FLUSH, (int)n->idx, -1);
	if (n->rt->dhcp && vsw->opts.config_path) {
		if (forget) {
			leases_path(vsw, n->cfg.name, path, sizeof(path));
			unlink(path);
		} else {
			leases_save(vsw, n, false);
		}
	}
	n->sw->nnets--;
	log_info("vswitch.net", "network %s removed", n->cfg.name);
	vsw_dhcp_destroy(n->rt->dhcp);
	rte_free(n->rt);
	free(n);
	return 0;
}

int
vsw_net_del(struct vsw *vsw, const char *name)
{
	struct vsw_net *n;
	int r = -ENOENT;

	pthread_mutex_lock(&vsw->lock);
	n = vsw_net_find(vsw, name);
	if (n)
		r = net_remove(vsw, n, true);
	pthread_mutex_unlock(&vsw->lock);
	return r;
}

void
vsw_nets_close(struct vsw *vsw)
{
	pthread_mutex_lock(&vsw->lock);
	for (int i = 0; i < VSW_MAX_NETS; i++)
		if (vsw->net[i] && net_remove(vsw, vsw->net[i], false) < 0)
			log_warn("vswitch", "a network was not removed cleanly");
	pthread_mutex_unlock(&vsw->lock);
}

/* ---- port forwards ---- */

int
vsw_forward_add(struct vsw *vsw, const char *net_name,
		const struct vsw_forward_config *f, char *err, size_t errlen)
{
	struct vsw_net *n;
	char buf[16];
	int r = 0;

	if (f->proto != VSW_IPPROTO_TCP && f->proto != VSW_IPPROTO_UDP)
		return fail(err, errlen, "protocol must be tcp or udp%s", "");
	if (!f->outside_port || !f->inside_port)
		return fail(err, errlen, "ports must be 1..65535%s", "");
	pthread_mutex_lock(&vsw->lock);
	n = vsw_net_find(vsw, net_name);
	if (!n) {
		snprintf(err, errlen, "no network '%s'", net_name);
		r = -ENOENT;
		goto out;
	}
	if (!n->cfg.nat_uplink[0]) {
		r = fail(err, errlen, "network '%s' has no NAT uplink", net_name);
		goto out;
	}
	if ((f->inside_ip & vsw_prefix_mask(n->cfg.prefix_len)) != n->cfg.subnet ||
	    f->inside_ip == n->cfg.gateway) {
		r = fail(err, errlen, "%s is not a host of the network",
			 vsw_ipv4_format(f->inside_ip, buf));
		goto out;
	}
	/* An outside port is one mapping on its uplink, whatever network. */
	for (int i = 0; i < VSW_MAX_NETS; i++) {
		struct vsw_net *o = vsw->net[i];

		if (!o || strcmp(o->cfg.nat_uplink, n->cfg.nat_uplink))
			continue;
		for (unsigned int k = 0; k < o->nfwd; k++) {
			if (o->fwd[k].proto == f->proto &&
			    o->fwd[k].outside_port == f->outside_port) {
				snprintf(err, errlen, "%s port %u of uplink %s is "
					 "forwarded already (network %s)",
					 f->proto == VSW_IPPROTO_TCP ? "tcp" : "udp",
					 f->outside_port, n->cfg.nat_uplink,
					 o->cfg.name);
				r = -EADDRINUSE;
				goto out;
			}
		}
	}
	if (n->nfwd >= VSW_MAX_FORWARDS) {
		snprintf(err, errlen, "limit of %d forwards per network reached",
			 VSW_MAX_FORWARDS);
		r = -ENOSPC;
		goto out;
	}
	n->fwd[n->nfwd++] = *f;
	r = vsw_publish(vsw);
	if (r < 0)
		n->nfwd--;
out:
	pthread_mutex_unlock(&vsw->lock);
	return r;
}

struct fwd_flush {
	int net;
	struct vsw_forward_config f;
};

static uint64_t
dp_fwd_flush(struct vsw *vsw, void *arg)
{
	struct fwd_flush *ff = arg;

	return vsw_ct_flush_forward(vsw->dp->ct, ff->net, ff->f.proto,
				    ff->f.outside_port);
}

int
vsw_forward_del(struct vsw *vsw, const char *net_name, uint8_t proto,
		uint16_t outside_port)
{
	struct vsw_net *n;
	int r = -ENOENT;

	pthread_mutex_lock(&vsw->lock);
	n = vsw_net_find(vsw, net_name);
	for (unsigned int k = 0; n && k < n->nfwd; k++) {
		struct fwd_flush ff = { (int)n->idx, n->fwd[k] };

		if (n->fwd[k].proto != proto ||
		    n->fwd[k].outside_port != outside_port)
			continue;
		n->fwd[k] = n->fwd[--n->nfwd];
		r = vsw_publish(vsw);
		/* Connections it let in go with it. */
		if (r == 0)
			vsw_dp_run(vsw, dp_fwd_flush, &ff);
		break;
	}
	pthread_mutex_unlock(&vsw->lock);
	return r;
}
