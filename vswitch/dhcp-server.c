/* SPDX-License-Identifier: MIT */
/*
 * DHCP server: lease pool and the RFC 2131 state machine. Frames are
 * parsed and built in dhcp-wire.c; this file decides which address a
 * client gets and what to answer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"
#include "vswitch/dhcp-server.h"
#include "vswitch/dhcp-wire.h"

#define DEFAULT_LEASE_SECS 1800
#define DEFAULT_OFFER_HOLD_SECS 60

struct vsw_dhcp_server {
	struct vsw_dhcp_config cfg;
	uint32_t netmask, broadcast;
	struct vsw_dhcp_lease *pool;     /* one per pool address */
	uint32_t npool;
	struct vsw_dhcp_lease *resv;     /* one per reservation */
	struct vsw_dhcp_stats stats;
};

static int
cfg_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool
in_subnet(const struct vsw_dhcp_server *s, uint32_t ip)
{
	return (ip & s->netmask) == s->cfg.subnet && ip != s->cfg.subnet &&
	       ip != s->broadcast;
}

static int
check_config(struct vsw_dhcp_server *s, char *err, size_t errlen)
{
	const struct vsw_dhcp_config *c = &s->cfg;

	if (c->prefix_len < 8 || c->prefix_len > 30)
		return cfg_error(err, errlen, "prefix length %u not in 8..30",
				 c->prefix_len);
	s->netmask = ~0u << (32 - c->prefix_len);
	s->broadcast = c->subnet | ~s->netmask;
	if (c->subnet & ~s->netmask)
		return cfg_error(err, errlen, "subnet has host bits set");
	if (!in_subnet(s, c->server_ip))
		return cfg_error(err, errlen, "gateway is not a host address "
					      "of the subnet");
	if (c->pool_first > c->pool_last || !in_subnet(s, c->pool_first) ||
	    !in_subnet(s, c->pool_last))
		return cfg_error(err, errlen, "pool is not a range of host "
					      "addresses of the subnet");
	if (c->pool_last - c->pool_first >= VSW_DHCP_MAX_POOL)
		return cfg_error(err, errlen, "pool larger than %u addresses",
				 VSW_DHCP_MAX_POOL);
	if (c->server_ip >= c->pool_first && c->server_ip <= c->pool_last)
		return cfg_error(err, errlen, "gateway lies inside the pool");
	if (c->nreservations > VSW_DHCP_MAX_RESERVATIONS)
		return cfg_error(err, errlen, "too many reservations");
	for (unsigned int i = 0; i < c->nreservations; i++) {
		const struct vsw_dhcp_reservation *r = &c->reservations[i];

		if (!in_subnet(s, r->ip) || r->ip == c->server_ip)
			return cfg_error(err, errlen, "reservation %u: address "
					 "not usable in the subnet", i + 1);
		for (unsigned int j = 0; j < i; j++)
			if (!memcmp(r->mac, c->reservations[j].mac, 6) ||
			    r->ip == c->reservations[j].ip)
				return cfg_error(err, errlen, "reservation %u "
						 "repeats a MAC or address",
						 i + 1);
	}
	return 0;
}

int
vsw_dhcp_create(const struct vsw_dhcp_config *cfg,
		struct vsw_dhcp_server **out, char *err, size_t errlen)
{
	struct vsw_dhcp_server *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	if (!s->cfg.lease_secs)
		s->cfg.lease_secs = DEFAULT_LEASE_SECS;
	if (!s->cfg.offer_hold_secs)
		s->cfg.offer_hold_secs = DEFAULT_OFFER_HOLD_SECS;
	rc = check_config(s, err, errlen);
	if (rc < 0)
		goto err_free;
	s->npool = cfg->pool_last - cfg->pool_first + 1;
	s->pool = calloc(s->npool, sizeof(*s->pool));
	s->resv = calloc(MAX(cfg->nreservations, 1u), sizeof(*s->resv));
	if (!s->pool || !s->resv) {
		rc = -ENOMEM;
		goto err_free;
	}
	for (uint32_t i = 0; i < s->npool; i++)
		s->pool[i].ip = cfg->pool_first + i;
	for (unsigned int i = 0; i < cfg->nreservations; i++) {
		s->resv[i].ip = cfg->reservations[i].ip;
		memcpy(s->resv[i].mac, cfg->reservations[i].mac, 6);
		s->resv[i].reserved = true;
	}
	*out = s;
	return 0;

err_free:
	vsw_dhcp_destroy(s);
	return rc;
}

void
vsw_dhcp_destroy(struct vsw_dhcp_server *srv)
{
	if (!srv)
		return;
	free(srv->pool);
	free(srv->resv);
	free(srv);
}

/* ---- lease lookup ---- */

static struct vsw_dhcp_lease *
lease_by_ip(struct vsw_dhcp_server *s, uint32_t ip)
{
	for (unsigned int i = 0; i < s->cfg.nreservations; i++)
		if (s->resv[i].ip == ip)
			return &s->resv[i];
	if (ip >= s->cfg.pool_first && ip <= s->cfg.pool_last)
		return &s->pool[ip - s->cfg.pool_first];
	return NULL;
}

static struct vsw_dhcp_lease *
reservation_for(struct vsw_dhcp_server *s, const uint8_t *mac)
{
	for (unsigned int i = 0; i < s->cfg.nreservations; i++)
		if (!memcmp(s->resv[i].mac, mac, 6))
			return &s->resv[i];
	return NULL;
}

/* The pool lease this MAC holds (offered or bound), if any. */
static struct vsw_dhcp_lease *
active_lease_for(struct vsw_dhcp_server *s, const uint8_t *mac)
{
	for (uint32_t i = 0; i < s->npool; i++) {
		struct vsw_dhcp_lease *l = &s->pool[i];

		if ((l->state == VSW_DHCP_OFFERED || l->state == VSW_DHCP_BOUND) &&
		    !memcmp(l->mac, mac, 6))
			return l;
	}
	return NULL;
}

static void
expire_one(struct vsw_dhcp_lease *l, uint64_t now)
{
	/* The MAC stays behind, so the client gets the same address back. */
	if (l->state != VSW_DHCP_FREE && l->expires <= now)
		l->state = VSW_DHCP_FREE;
}

void
vsw_dhcp_expire(struct vsw_dhcp_server *srv, uint64_t now)
{
	for (uint32_t i = 0; i < srv->npool; i++)
		expire_one(&srv->pool[i], now);
	for (unsigned int i = 0; i < srv->cfg.nreservations; i++)
		expire_one(&srv->resv[i], now);
}

static bool
usable_by(const struct vsw_dhcp_lease *l, const uint8_t *mac)
{
	if (l->reserved)
		return !memcmp(l->mac, mac, 6);
	return l->state == VSW_DHCP_FREE ||
	       ((l->state == VSW_DHCP_OFFERED || l->state == VSW_DHCP_BOUND) &&
		!memcmp(l->mac, mac, 6));
}

/*
 * Picks an address for a DISCOVER: the client's reservation, its current
 * lease, the address it asks for, the address it had last, then the
 * never-used or longest-free address.
 */
static struct vsw_dhcp_lease *
choose(struct vsw_dhcp_server *s, const uint8_t *mac, uint32_t requested)
{
	static const uint8_t zero_mac[6];
	struct vsw_dhcp_lease *l, *best = NULL;

	l = reservation_for(s, mac);
	if (l)
		return l;
	l = active_lease_for(s, mac);
	if (l)
		return l;
	if (requested) {
		l = lease_by_ip(s, requested);
		if (l && !l->reserved && usable_by(l, mac))
			return l;
	}
	for (uint32_t i = 0; i < s->npool; i++) {
		l = &s->pool[i];
		if (l->state != VSW_DHCP_FREE)
			continue;
		if (!memcmp(l->mac, mac, 6))
			return l;
		/* Prefer addresses never used, then the longest free. */
		if (!best || (!memcmp(l->mac, zero_mac, 6) &&
			      memcmp(best->mac, zero_mac, 6)) ||
		    (memcmp(l->mac, zero_mac, 6) &&
		     memcmp(best->mac, zero_mac, 6) &&
		     l->expires < best->expires))
			best = l;
	}
	return best;
}

static void
hold(struct vsw_dhcp_lease *l, const struct dhcp_msg *m,
     enum vsw_dhcp_lease_state state, uint64_t expires)
{
	memcpy(l->mac, m->chaddr, 6);
	l->state = state;
	l->expires = expires;
	if (m->hostname[0])
		memcpy(l->hostname, m->hostname, sizeof(l->hostname));
}

/* ---- message handlers ---- */

static int
on_discover(struct vsw_dhcp_server *s, const struct dhcp_msg *m,
	    uint64_t now, struct dhcp_answer *a)
{
	struct vsw_dhcp_lease *l;

	s->stats.discovers++;
	l = choose(s, m->chaddr, m->requested_ip);
	if (!l) {
		s->stats.pool_exhausted++;
		return 0;
	}
	if (l->state != VSW_DHCP_BOUND)
		hold(l, m, VSW_DHCP_OFFERED, now + s->cfg.offer_hold_secs);
	a->type = DHCPOFFER;
	a->yiaddr = l->ip;
	a->lease_secs = s->cfg.lease_secs;
	s->stats.offers++;
	return 1;
}

static int
ack(struct vsw_dhcp_server *s, struct vsw_dhcp_lease *l,
    const struct dhcp_msg *m, uint64_t now, struct dhcp_answer *a)
{
	hold(l, m, VSW_DHCP_BOUND, now + s->cfg.lease_secs);
	a->type = DHCPACK;
	a->yiaddr = l->ip;
	a->lease_secs = s->cfg.lease_secs;
	s->stats.acks++;
	return 1;
}

static int
nak(struct vsw_dhcp_server *s, struct dhcp_answer *a)
{
	a->type = DHCPNAK;
	s->stats.naks++;
	return 1;
}

static int
on_request(struct vsw_dhcp_server *s, const struct dhcp_msg *m,
	   uint64_t now, struct dhcp_answer *a)
{
	uint32_t ip = m->requested_ip ? m->requested_ip : m->ciaddr;
	struct vsw_dhcp_lease *l;

	s->stats.requests++;
	if (m->server_id && m->server_id != s->cfg.server_ip) {
		/* SELECTING another server's offer: let ours go. */
		l = active_lease_for(s, m->chaddr);
		if (l && l->state == VSW_DHCP_OFFERED)
			l->state = VSW_DHCP_FREE;
		s->stats.not_for_us++;
		return 0;
	}
	if (!ip || !in_subnet(s, ip))
		return nak(s, a);
	l = reservation_for(s, m->chaddr);
	if (l)
		return l->ip == ip ? ack(s, l, m, now, a) : nak(s, a);
	l = lease_by_ip(s, ip);
	/*
	 * Authoritative for the network: an address that is free (say, after
	 * the switch lost its leases) is granted on INIT-REBOOT or renewal,
	 * one held by another client is refused.
	 */
	if (!l || l->reserved || !usable_by(l, m->chaddr) ||
	    l->state == VSW_DHCP_DECLINED)
		return nak(s, a);
	if (m->server_id && l->state == VSW_DHCP_FREE)
		return nak(s, a); /* our offer lapsed before the REQUEST */
	return ack(s, l, m, now, a);
}

static int
on_release(struct vsw_dhcp_server *s, const struct dhcp_msg *m)
{
	struct vsw_dhcp_lease *l = lease_by_ip(s, m->ciaddr);

	s->stats.releases++;
	if (l && l->state == VSW_DHCP_BOUND && !memcmp(l->mac, m->chaddr, 6))
		l->state = VSW_DHCP_FREE;
	return 0;
}

static int
on_decline(struct vsw_dhcp_server *s, const struct dhcp_msg *m, uint64_t now)
{
	struct vsw_dhcp_lease *l = lease_by_ip(s, m->requested_ip);

	s->stats.declines++;
	/* Someone else uses the address: keep it out of the pool a while. */
	if (l && !l->reserved && !memcmp(l->mac, m->chaddr, 6)) {
		memset(l->mac, 0, 6);
		l->state = VSW_DHCP_DECLINED;
		l->expires = now + s->cfg.lease_secs;
	}
	return 0;
}

static int
on_inform(struct vsw_dhcp_server *s, const struct dhcp_msg *m,
	  struct dhcp_answer *a)
{
	s->stats.informs++;
	if (!m->ciaddr || !in_subnet(s, m->ciaddr))
		return 0;
	a->type = DHCPACK;
	a->yiaddr = 0;
	a->lease_secs = 0; /* no lease options in an INFORM answer */
	s->stats.acks++;
	return 1;
}

bool
vsw_dhcp_is_request_frame(const uint8_t *frame, size_t len)
{
	return dhcp_udp_ports(frame, len) == DHCP_CLIENT_TO_SERVER;
}

bool
vsw_dhcp_is_server_frame(const uint8_t *frame, size_t len)
{
	return dhcp_udp_ports(frame, len) == DHCP_SERVER_TO_CLIENT;
}

int
vsw_dhcp_handle_frame(struct vsw_dhcp_server *srv, const uint8_t *frame,
		      size_t len, uint64_t now, uint8_t *reply)
{
	struct dhcp_answer a = { 0 };
	struct dhcp_msg m;
	int rc;

	if (dhcp_parse_frame(frame, len, &m) < 0) {
		srv->stats.malformed++;
		return -EINVAL;
	}
	vsw_dhcp_expire(srv, now);
	switch (m.type) {
	case DHCPDISCOVER: rc = on_discover(srv, &m, now, &a); break;
	case DHCPREQUEST: rc = on_request(srv, &m, now, &a); break;
	case DHCPRELEASE: rc = on_release(srv, &m); break;
	case DHCPDECLINE: rc = on_decline(srv, &m, now); break;
	case DHCPINFORM: rc = on_inform(srv, &m, &a); break;
	default:
		srv->stats.malformed++;
		return -EINVAL;
	}
	if (rc <= 0)
		return rc;
	a.server_ip = srv->cfg.server_ip;
	memcpy(a.server_mac, srv->cfg.server_mac, 6);
	a.netmask = srv->netmask;
	a.broadcast = srv->broadcast;
	a.router = srv->cfg.router;
	memcpy(a.dns, srv->cfg.dns, sizeof(a.dns));
	a.domain = srv->cfg.domain;
	return dhcp_build_reply(&m, &a, reply);
}

/* ---- listing and persistence ---- */

static size_t
collect(const struct vsw_dhcp_lease *v, size_t n, struct vsw_dhcp_lease *out,
	size_t max, size_t count)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].state == VSW_DHCP_FREE)
			continue;
		if (count < max)
			out[count] = v[i];
		count++;
	}
	return count;
}

size_t
vsw_dhcp_leases(const struct vsw_dhcp_server *srv, struct vsw_dhcp_lease *out,
		size_t max)
{
	size_t n = collect(srv->resv, srv->cfg.nreservations, out, max, 0);

	return collect(srv->pool, srv->npool, out, max, n);
}

void
vsw_dhcp_get_stats(const struct vsw_dhcp_server *srv,
		   struct vsw_dhcp_stats *out)
{
	*out = srv->stats;
}

static void
save_list(const struct vsw_dhcp_lease *v, size_t n, FILE *f)
{
	for (size_t i = 0; i < n; i++) {
		const struct vsw_dhcp_lease *l = &v[i];

		if (l->state != VSW_DHCP_BOUND)
			continue;
		fprintf(f, "%02x:%02x:%02x:%02x:%02x:%02x %u.%u.%u.%u %" PRIu64,
			l->mac[0], l->mac[1], l->mac[2], l->mac[3], l->mac[4],
			l->mac[5], l->ip >> 24, (l->ip >> 16) & 255,
			(l->ip >> 8) & 255, l->ip & 255, l->expires);
		if (l->hostname[0])
			fprintf(f, " %s", l->hostname);
		fputc('\n', f);
	}
}

int
vsw_dhcp_save(const struct vsw_dhcp_server *srv, FILE *f)
{
	fprintf(f, "# vswitch DHCP leases: MAC IP EXPIRES(epoch s) [HOSTNAME]\n");
	save_list(srv->resv, srv->cfg.nreservations, f);
	save_list(srv->pool, srv->npool, f);
	return ferror(f) ? -EIO : 0;
}

int
vsw_dhcp_load(struct vsw_dhcp_server *srv, FILE *f, uint64_t now,
	      int *bad_line)
{
	char line[256];
	int lineno = 0, restored = 0;

	while (fgets(line, sizeof(line), f)) {
		unsigned int mac[6], ip[4];
		char host[VSW_DHCP_HOSTNAME_MAX] = "";
		struct dhcp_msg m = { 0 };
		unsigned long long expires;
		struct vsw_dhcp_lease *l;
		uint32_t addr;
		bool bad;
		int n;

		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		n = sscanf(line, "%x:%x:%x:%x:%x:%x %u.%u.%u.%u %llu %63s",
			   &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5],
			   &ip[0], &ip[1], &ip[2], &ip[3], &expires, host);
		bad = n < 11;

		for (int i = 0; i < 6 && !bad; i++)
			bad = mac[i] > 255;
		for (int i = 0; i < 4 && !bad; i++)
			bad = ip[i] > 255;
		if (bad) {
			if (bad_line)
				*bad_line = lineno;
			return -EINVAL;
		}
		if (expires <= now)
			continue;
		addr = ip[0] << 24 | ip[1] << 16 | ip[2] << 8 | ip[3];
		for (int i = 0; i < 6; i++)
			m.chaddr[i] = (uint8_t)mac[i];
		memcpy(m.hostname, host, sizeof(m.hostname));
		l = lease_by_ip(srv, addr);
		if (!l || !usable_by(l, m.chaddr) ||
		    active_lease_for(srv, m.chaddr))
			continue;
		hold(l, &m, VSW_DHCP_BOUND, expires);
		restored++;
	}
	return restored;
}
