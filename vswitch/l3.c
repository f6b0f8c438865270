/* SPDX-License-Identifier: MIT */
/*
 * IPv4 parsing, checksums and the frames a lab network's gateway writes
 * itself (see l3.h). Pure: no DPDK, no allocation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"
#include "vswitch/l3.h"

#define IP_HLEN 20
#define ICMP_HLEN 8
#define UDP_HLEN 8
#define TCP_HLEN 20
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

/*
 * Four bytes at a time: a big-endian 32-bit word is two 16-bit words and
 * 2^16 = 1 modulo 0xffff, so its value is their sum as far as the one's
 * complement sum goes (RFC 1071). The result is folded to 16 bits, which
 * keeps it small for callers that add more to it; zero only for all-zero
 * data and a zero 'sum', as before.
 */
uint32_t
vsw_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	uint64_t acc = sum;
	uint32_t w;

	for (; len >= 4; p += 4, len -= 4) {
		memcpy(&w, p, 4);
		acc += __builtin_bswap32(w);
	}
	if (len >= 2) {
		acc += vsw_get16(p);
		p += 2;
		len -= 2;
	}
	if (len)
		acc += (uint32_t)p[0] << 8;
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint32_t)acc;
}

uint16_t
vsw_csum_finish(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void
parse_icmp_ids(const uint8_t *l4, uint16_t *sport, uint16_t *dport)
{
	uint16_t id = vsw_get16(l4 + 4);

	*sport = *dport = 0;
	if (l4[0] == VSW_ICMP_ECHO)
		*sport = id;
	else if (l4[0] == VSW_ICMP_ECHO_REPLY)
		*dport = id;
}

/*
 * True if the IPv4 header's checksum is right: its one's complement sum
 * is all ones. That holds in either byte order (RFC 1071), so the header
 * is summed as native 32-bit words, the usual 20 bytes unrolled.
 */
static inline bool
header_sum_ok(const uint8_t *ip, uint16_t ihl)
{
	uint32_t w[5];
	uint64_t acc;

	if (ihl != 20)
		return vsw_csum_finish(vsw_csum_add(0, ip, ihl)) == 0;
	memcpy(w, ip, 20);
	acc = (uint64_t)w[0] + w[1] + w[2] + w[3] + w[4];
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return acc == 0xffff;
}

enum vsw_l3_verdict
vsw_ip_parse(uint8_t *f, uint32_t len, struct vsw_ip_pkt *p)
{
	uint8_t *ip = f + VSW_ETH_HLEN;
	uint16_t frag;

	memset(p, 0, sizeof(*p));
	p->frame_len = len;
	if (len < VSW_ETH_HLEN + IP_HLEN ||
	    vsw_get16(f + 12) != VSW_ETHERTYPE_IPV4)
		return len < VSW_ETH_HLEN + 2 ||
		       vsw_get16(f + 12) != VSW_ETHERTYPE_IPV4
		       ? VSW_L3_NOT_IPV4 : VSW_L3_MALFORMED;
	p->ip = ip;
	p->ihl = (uint16_t)((ip[0] & 15) * 4);
	p->ip_len = vsw_get16(ip + 2);
	if ((ip[0] >> 4) != 4 || p->ihl < IP_HLEN ||
	    p->ip_len < p->ihl || p->ip_len > len - VSW_ETH_HLEN)
		return VSW_L3_MALFORMED;
	if (!header_sum_ok(ip, p->ihl))
		return VSW_L3_MALFORMED;
	p->ttl = ip[8];
	p->proto = ip[9];
	p->src = vsw_get32(ip + 12);
	p->dst = vsw_get32(ip + 16);
	p->l4 = ip + p->ihl;
	p->l4_len = (uint16_t)(p->ip_len - p->ihl);
	frag = vsw_get16(ip + 6);
	if (frag & (IP_MF | IP_OFFSET))
		return VSW_L3_FRAGMENT;
	switch (p->proto) {
	case VSW_IPPROTO_TCP:
		if (p->l4_len < TCP_HLEN || (p->l4[12] >> 4) * 4 < TCP_HLEN ||
		    (p->l4[12] >> 4) * 4 > p->l4_len)
			return VSW_L3_TRUNCATED_L4;
		p->sport = vsw_get16(p->l4);
		p->dport = vsw_get16(p->l4 + 2);
		p->tcp_flags = p->l4[13];
		break;
	case VSW_IPPROTO_UDP:
		if (p->l4_len < UDP_HLEN)
			return VSW_L3_TRUNCATED_L4;
		if (vsw_get16(p->l4 + 4) < UDP_HLEN ||
		    vsw_get16(p->l4 + 4) > p->l4_len)
			return VSW_L3_MALFORMED;
		p->sport = vsw_get16(p->l4);
		p->dport = vsw_get16(p->l4 + 2);
		break;
	case VSW_IPPROTO_ICMP:
		if (p->l4_len < ICMP_HLEN)
			return VSW_L3_TRUNCATED_L4;
		p->icmp_type = p->l4[0];
		p->icmp_code = p->l4[1];
		parse_icmp_ids(p->l4, &p->sport, &p->dport);
		break;
	default:
		break;
	}
	return VSW_L3_OK;
}

/* Updates the transport checksum of TCP/UDP for an address change. */
static void
l4_csum_addr(uint8_t *l4, uint8_t proto, uint16_t l4_avail, uint32_t from,
	     uint32_t to)
{
	uint16_t c;

	if (proto == VSW_IPPROTO_TCP && l4_avail >= 18) {
		vsw_put16(l4 + 16, vsw_csum_update32(vsw_get16(l4 + 16), from, to));
	} else if (proto == VSW_IPPROTO_UDP && l4_avail >= 8) {
		c = vsw_get16(l4 + 6);
		if (c == 0)
			return; /* no checksum: stays none */
		c = vsw_csum_update32(c, from, to);
		vsw_put16(l4 + 6, c ? c : 0xffff);
	}
}

/* Updates a port (or ICMP id) at 'at' and the transport checksum. */
static void
l4_set_port(uint8_t *l4, uint8_t proto, uint16_t l4_avail, uint8_t *at,
	    uint16_t to)
{
	uint16_t from = vsw_get16(at), c;

	vsw_put16(at, to);
	if (proto == VSW_IPPROTO_TCP && l4_avail >= 18) {
		vsw_put16(l4 + 16, vsw_csum_update16(vsw_get16(l4 + 16), from, to));
	} else if (proto == VSW_IPPROTO_UDP && l4_avail >= 8) {
		c = vsw_get16(l4 + 6);
		if (c == 0)
			return;
		c = vsw_csum_update16(c, from, to);
		vsw_put16(l4 + 6, c ? c : 0xffff);
	} else if (proto == VSW_IPPROTO_ICMP && l4_avail >= 4) {
		vsw_put16(l4 + 2, vsw_csum_update16(vsw_get16(l4 + 2), from, to));
	}
}

void
vsw_ip_rewrite(struct vsw_ip_pkt *p, bool which_src, uint32_t new_ip,
	       int new_port)
{
	uint8_t *a = p->ip + (which_src ? 12 : 16);
	uint32_t old = vsw_get32(a);

	if (old != new_ip) {
		vsw_put32(a, new_ip);
		vsw_put16(p->ip + 10, vsw_csum_update32(vsw_get16(p->ip + 10),
							 old, new_ip));
		l4_csum_addr(p->l4, p->proto, p->l4_len, old, new_ip);
		if (which_src)
			p->src = new_ip;
		else
			p->dst = new_ip;
	}
	if (new_port < 0)
		return;
	if (p->proto == VSW_IPPROTO_TCP || p->proto == VSW_IPPROTO_UDP) {
		l4_set_port(p->l4, p->proto, p->l4_len,
			    p->l4 + (which_src ? 0 : 2), (uint16_t)new_port);
	} else if (p->proto == VSW_IPPROTO_ICMP &&
		   (p->icmp_type == VSW_ICMP_ECHO ||
		    p->icmp_type == VSW_ICMP_ECHO_REPLY)) {
		l4_set_port(p->l4, p->proto, p->l4_len, p->l4 + 4,
			    (uint16_t)new_port);
	} else {
		return;
	}
	if (which_src)
		p->sport = (uint16_t)new_port;
	else
		p->dport = (uint16_t)new_port;
	if (p->proto == VSW_IPPROTO_ICMP)
		parse_icmp_ids(p->l4, &p->sport, &p->dport);
}

/* Adds the change of a 16-bit word from 'from' to 'to' to a sum. */
static inline uint32_t
delta16(uint16_t from, uint16_t to)
{
	return (uint32_t)(uint16_t)~from + to;
}

static inline uint32_t
delta32(uint32_t from, uint32_t to)
{
	return delta16((uint16_t)(from >> 16), (uint16_t)(to >> 16)) +
	       delta16((uint16_t)from, (uint16_t)to);
}

/* RFC 1624 eqn. 3 with the sum of several words' changes at once. */
static inline uint16_t
csum_apply(uint16_t csum, uint32_t delta)
{
	uint32_t s = (uint32_t)(uint16_t)~csum + delta;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

void
vsw_ip_nat(struct vsw_ip_pkt *p, bool which_src, uint32_t new_ip,
	   uint16_t new_port)
{
	uint8_t *a = p->ip + (which_src ? 12 : 16), *l4 = p->l4, *at;
	uint32_t old = vsw_get32(a), d_addr = delta32(old, new_ip), d_port;
	uint16_t old_port, c;
	bool icmp = p->proto == VSW_IPPROTO_ICMP;

	if (icmp ? p->icmp_type != VSW_ICMP_ECHO &&
			   p->icmp_type != VSW_ICMP_ECHO_REPLY
		 : p->proto != VSW_IPPROTO_TCP && p->proto != VSW_IPPROTO_UDP) {
		vsw_ip_rewrite(p, which_src, new_ip, new_port);
		vsw_ip_dec_ttl(p);
		return;
	}
	/* TTL - 1 in the word (TTL, protocol): ~from + to = ~0x0100. */
	vsw_put32(a, new_ip);
	p->ip[8]--;
	vsw_put16(p->ip + 10, csum_apply(vsw_get16(p->ip + 10),
					 d_addr + 0xfeffu));
	p->ttl--;
	if (which_src)
		p->src = new_ip;
	else
		p->dst = new_ip;
	at = icmp ? l4 + 4 : l4 + (which_src ? 0 : 2);
	old_port = vsw_get16(at);
	vsw_put16(at, new_port);
	d_port = delta16(old_port, new_port);
	if (icmp) {
		/* No pseudo-header: the identifier alone. */
		vsw_put16(l4 + 2, csum_apply(vsw_get16(l4 + 2), d_port));
		if (p->icmp_type == VSW_ICMP_ECHO)
			p->sport = new_port;
		else
			p->dport = new_port;
		return;
	}
	if (which_src)
		p->sport = new_port;
	else
		p->dport = new_port;
	if (p->proto == VSW_IPPROTO_TCP) {
		vsw_put16(l4 + 16,
			  csum_apply(vsw_get16(l4 + 16), d_addr + d_port));
		return;
	}
	c = vsw_get16(l4 + 6);
	if (c == 0)
		return; /* no checksum: stays none */
	c = csum_apply(c, d_addr + d_port);
	vsw_put16(l4 + 6, c ? c : 0xffff);
}

void
vsw_ip_dec_ttl(struct vsw_ip_pkt *p)
{
	uint16_t from = vsw_get16(p->ip + 8), to = (uint16_t)(from - 0x100);

	vsw_put16(p->ip + 8, to);
	vsw_put16(p->ip + 10, vsw_csum_update16(vsw_get16(p->ip + 10), from, to));
	p->ttl--;
}

bool
vsw_icmp_is_error(const struct vsw_ip_pkt *p)
{
	return p->proto == VSW_IPPROTO_ICMP &&
	       (p->icmp_type == VSW_ICMP_UNREACH ||
		p->icmp_type == VSW_ICMP_TIME_EXCEEDED ||
		p->icmp_type == VSW_ICMP_PARAM_PROBLEM);
}

int
vsw_icmp_quote_parse(const struct vsw_ip_pkt *p, struct vsw_icmp_quote *q)
{
	memset(q, 0, sizeof(*q));
	if (!vsw_icmp_is_error(p) || p->l4_len < ICMP_HLEN + IP_HLEN)
		return -EINVAL;
	q->ip = p->l4 + ICMP_HLEN;
	q->avail = (uint16_t)(p->l4_len - ICMP_HLEN);
	q->ihl = (uint16_t)((q->ip[0] & 15) * 4);
	if ((q->ip[0] >> 4) != 4 || q->ihl < IP_HLEN || q->ihl > q->avail)
		return -EINVAL;
	q->proto = q->ip[9];
	q->src = vsw_get32(q->ip + 12);
	q->dst = vsw_get32(q->ip + 16);
	if ((q->proto == VSW_IPPROTO_TCP || q->proto == VSW_IPPROTO_UDP) &&
	    q->avail >= q->ihl + 4) {
		q->sport = vsw_get16(q->ip + q->ihl);
		q->dport = vsw_get16(q->ip + q->ihl + 2);
		q->has_ports = true;
	} else if (q->proto == VSW_IPPROTO_ICMP && q->avail >= q->ihl + 8) {
		parse_icmp_ids(q->ip + q->ihl, &q->sport, &q->dport);
		q->has_ports = true;
	}
	return 0;
}

void
vsw_icmp_quote_rewrite(struct vsw_ip_pkt *p, struct vsw_icmp_quote *q,
		       bool which_src, uint32_t new_ip, int new_port)
{
	uint8_t *a = q->ip + (which_src ? 12 : 16);
	uint8_t *l4 = q->ip + q->ihl;
	uint16_t l4_avail = (uint16_t)(q->avail - q->ihl);
	uint32_t old = vsw_get32(a);

	vsw_put32(a, new_ip);
	vsw_put16(q->ip + 10, vsw_csum_update32(vsw_get16(q->ip + 10), old,
						 new_ip));
	l4_csum_addr(l4, q->proto, l4_avail, old, new_ip);
	if (which_src)
		q->src = new_ip;
	else
		q->dst = new_ip;
	if (new_port >= 0 && q->has_ports) {
		if (q->proto == VSW_IPPROTO_ICMP) {
			l4_set_port(l4, q->proto, l4_avail, l4 + 4,
				    (uint16_t)new_port);
			parse_icmp_ids(l4, &q->sport, &q->dport);
		} else {
			l4_set_port(l4, q->proto, l4_avail,
				    l4 + (which_src ? 0 : 2), (uint16_t)new_port);
			if (which_src)
				q->sport = (uint16_t)new_port;
			else
				q->dport = (uint16_t)new_port;
		}
	}
	/* The error's own checksum covers the quote: sum it again. */
	vsw_put16(p->l4 + 2, 0);
	vsw_put16(p->l4 + 2, vsw_csum_finish(vsw_csum_add(0, p->l4, p->l4_len)));
}

/* ---- ARP ---- */

int
vsw_arp_parse(const uint8_t *f, uint32_t len, struct vsw_arp *a)
{
	const uint8_t *p = f + VSW_ETH_HLEN;

	if (len < VSW_ARP_FRAME_LEN || vsw_get16(f + 12) != VSW_ETHERTYPE_ARP)
		return -EINVAL;
	if (vsw_get16(p) != 1 || vsw_get16(p + 2) != VSW_ETHERTYPE_IPV4 ||
	    p[4] != 6 || p[5] != 4)
		return -EINVAL;
	a->op = vsw_get16(p + 6);
	if (a->op != 1 && a->op != 2)
		return -EINVAL;
	memcpy(a->sha, p + 8, 6);
	a->spa = vsw_get32(p + 14);
	memcpy(a->tha, p + 18, 6);
	a->tpa = vsw_get32(p + 24);
	return 0;
}

uint32_t
vsw_arp_build(uint8_t *f, uint16_t op, const uint8_t *sha, uint32_t spa,
	      const uint8_t *tha, uint32_t tpa)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t *p = f + VSW_ETH_HLEN;

	memset(f, 0, VSW_L3_FRAME_MIN);
	memcpy(f, op == 1 ? bcast : tha, 6);
	memcpy(f + 6, sha, 6);
	vsw_put16(f + 12, VSW_ETHERTYPE_ARP);
	vsw_put16(p, 1);
	vsw_put16(p + 2, VSW_ETHERTYPE_IPV4);
	p[4] = 6;
	p[5] = 4;
	vsw_put16(p + 6, op);
	memcpy(p + 8, sha, 6);
	vsw_put32(p + 14, spa);
	if (op == 2)
		memcpy(p + 18, tha, 6);
	vsw_put32(p + 24, tpa);
	return VSW_L3_FRAME_MIN;
}

/* ---- ICMP ---- */

static void
ip_header_csum(uint8_t *ip, uint16_t ihl)
{
	vsw_put16(ip + 10, 0);
	vsw_put16(ip + 10, vsw_csum_finish(vsw_csum_add(0, ip, ihl)));
}

void
vsw_icmp_echo_reply(uint8_t *f, struct vsw_ip_pkt *p, const uint8_t *our_mac)
{
	uint16_t from = vsw_get16(p->l4);

	memcpy(f, f + 6, 6);
	memcpy(f + 6, our_mac, 6);
	vsw_put32(p->ip + 12, p->dst);
	vsw_put32(p->ip + 16, p->src);
	p->ip[8] = 64;
	ip_header_csum(p->ip, p->ihl);
	p->l4[0] = VSW_ICMP_ECHO_REPLY;
	vsw_put16(p->l4 + 2, vsw_csum_update16(vsw_get16(p->l4 + 2), from,
					       vsw_get16(p->l4)));
	p->ttl = 64;
	p->icmp_type = VSW_ICMP_ECHO_REPLY;
	{
		uint32_t t = p->src;

		p->src = p->dst;
		p->dst = t;
	}
	parse_icmp_ids(p->l4, &p->sport, &p->dport);
}

uint32_t
vsw_icmp_error_build(uint8_t *out, uint32_t outlen, const uint8_t *f,
		     const struct vsw_ip_pkt *p, uint8_t type, uint8_t code,
		     uint32_t src_ip, const uint8_t *src_mac)
{
	uint16_t quote = (uint16_t)(p->ihl + MIN(p->l4_len, 8));
	uint16_t total = (uint16_t)(IP_HLEN + ICMP_HLEN + quote);
	uint8_t *ip = out + VSW_ETH_HLEN, *icmp = ip + IP_HLEN;
	uint32_t len = VSW_ETH_HLEN + total;

	if (vsw_icmp_is_error(p) || p->src == 0 || p->src == 0xffffffffu ||
	    (p->src >> 28) == 14 || (f[6] & 1) || len > outlen)
		return 0;
	if (vsw_get16(p->ip + 6) & IP_OFFSET)
		return 0; /* only the first fragment earns an error */
	memset(out, 0, MAX(len, (uint32_t)VSW_L3_FRAME_MIN));
	memcpy(out, f + 6, 6);
	memcpy(out + 6, src_mac, 6);
	vsw_put16(out + 12, VSW_ETHERTYPE_IPV4);
	ip[0] = 0x45;
	vsw_put16(ip + 2, total);
	ip[8] = 64;
	ip[9] = VSW_IPPROTO_ICMP;
	vsw_put32(ip + 12, src_ip);
	vsw_put32(ip + 16, p->src);
	ip_header_csum(ip, IP_HLEN);
	icmp[0] = type;
	icmp[1] = code;
	memcpy(icmp + ICMP_HLEN, p->ip, quote);
	vsw_put16(icmp + 2, vsw_csum_finish(vsw_csum_add(0, icmp,
							  ICMP_HLEN + quote)));
	return MAX(len, (uint32_t)VSW_L3_FRAME_MIN);
}

/* ---- addresses ---- */

int
vsw_ipv4_parse(const char *s, uint32_t *out)
{
	unsigned int a[4];
	char tail;

	if (sscanf(s, "%3u.%3u.%3u.%3u%c", &a[0], &a[1], &a[2], &a[3],
		   &tail) != 4)
		return -EINVAL;
	for (int i = 0; i < 4; i++)
		if (a[i] > 255)
			return -EINVAL;
	/* Digits only: sscanf would take "+1" or " 1". */
	for (const char *c = s; *c; c++)
		if (!((*c >= '0' && *c <= '9') || *c == '.'))
			return -EINVAL;
	*out = a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3];
	return 0;
}

int
vsw_cidr_parse(const char *s, uint32_t *ip, uint8_t *prefix_len)
{
	char buf[32], *slash, *end;
	unsigned long len;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash || slash[1] < '0' || slash[1] > '9')
		return -EINVAL;
	*slash = '\0';
	len = strtoul(slash + 1, &end, 10);
	if (*end || len > 32)
		return -EINVAL;
	*prefix_len = (uint8_t)len;
	return vsw_ipv4_parse(buf, ip);
}

const char *
vsw_ipv4_format(uint32_t ip, char *buf)
{
	snprintf(buf, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255,
		 (ip >> 8) & 255, ip & 255);
	return buf;
}

int
vsw_mac_parse(const char *s, uint8_t mac[6])
{
	unsigned int m[6];
	char tail;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2], &m[3],
		   &m[4], &m[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)m[i];
	return 0;
}

const char *
vsw_mac_format(const uint8_t *mac, char *buf)
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
	return buf;
}
