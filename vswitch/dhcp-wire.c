/* SPDX-License-Identifier: MIT */
/* DHCP frames: parse client requests, build server replies (RFC 2131/2132). */
#include <errno.h>
#include <string.h>

#include "common/compiler.h"
#include "vswitch/dhcp-wire.h"
#include "vswitch/l3.h"

#define ETH_HLEN 14
#define IP_HLEN 20
#define UDP_HLEN 8
#define BOOTP_FIXED DHCP_BOOTP_FIXED
#define BOOTP_MIN DHCP_BOOTP_MIN
#define PORT_SERVER DHCP_PORT_SERVER
#define PORT_CLIENT DHCP_PORT_CLIENT

/*
 * Finds the UDP header of an untagged IPv4 frame; returns its offset or
 * 0. Fragments are not DHCP (they are reassembled by nobody here).
 */
static size_t
udp_offset(const uint8_t *f, size_t len, size_t *udp_len)
{
	size_t ihl, total;

	if (len < ETH_HLEN + IP_HLEN + UDP_HLEN || vsw_get16(f + 12) != 0x0800)
		return 0;
	if ((f[14] >> 4) != 4 || f[23] != 17)
		return 0;
	ihl = (size_t)(f[14] & 15) * 4;
	total = vsw_get16(f + 16);
	if (ihl < IP_HLEN || total < ihl + UDP_HLEN ||
	    total > len - ETH_HLEN)
		return 0;
	if (vsw_get16(f + 20) & 0x3fff) /* MF flag or a fragment offset */
		return 0;
	*udp_len = vsw_get16(f + ETH_HLEN + ihl + 4);
	if (*udp_len < UDP_HLEN || *udp_len > total - ihl)
		return 0;
	return ETH_HLEN + ihl;
}

enum dhcp_direction
dhcp_udp_ports(const uint8_t *frame, size_t len)
{
	size_t udp_len, off = udp_offset(frame, len, &udp_len);

	if (!off)
		return DHCP_NOT_DHCP;
	if (vsw_get16(frame + off + 2) == PORT_SERVER)
		return DHCP_CLIENT_TO_SERVER;
	if (vsw_get16(frame + off) == PORT_SERVER &&
	    vsw_get16(frame + off + 2) == PORT_CLIENT)
		return DHCP_SERVER_TO_CLIENT;
	return DHCP_NOT_DHCP;
}

const uint8_t *
dhcp_bootp_find(const uint8_t *f, size_t len, uint16_t sport, uint16_t dport,
		size_t *blen)
{
	size_t udp_len, off = udp_offset(f, len, &udp_len);
	const uint8_t *b;

	if (!off || vsw_get16(f + off + 2) != dport ||
	    (sport && vsw_get16(f + off) != sport))
		return NULL;
	b = f + off + UDP_HLEN;
	*blen = udp_len - UDP_HLEN;
	if (*blen < BOOTP_FIXED + 4 || vsw_get32(b + BOOTP_FIXED) != DHCP_MAGIC)
		return NULL;
	return b;
}

int
dhcp_options_walk(const uint8_t *p, size_t n,
		  int (*fn)(uint8_t code, const uint8_t *v, uint8_t len,
			    void *arg),
		  void *arg)
{
	size_t i = 0;

	while (i < n) {
		uint8_t code = p[i++], len;
		int r;

		if (code == DHCP_OPT_PAD)
			continue;
		if (code == DHCP_OPT_END)
			return 0;
		if (i >= n)
			return -EINVAL;
		len = p[i++];
		if (len > n - i)
			return -EINVAL;
		r = fn(code, p + i, len, arg);
		if (r < 0)
			return r;
		i += len;
	}
	/* Options without an END are tolerated. */
	return 0;
}

static void
copy_hostname(char *dst, const uint8_t *src, size_t n)
{
	size_t k = 0;

	/* Keep names shell- and log-safe: letters, digits, '-', '.', '_'. */
	for (size_t i = 0; i < n && k < VSW_DHCP_HOSTNAME_MAX - 1; i++) {
		uint8_t c = src[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_')
			dst[k++] = (char)c;
	}
	dst[k] = '\0';
}

static int
request_option(uint8_t code, const uint8_t *v, uint8_t len, void *arg)
{
	struct dhcp_msg *m = arg;

	switch (code) {
	case DHCP_OPT_MSG_TYPE:
		if (len != 1 || v[0] < DHCPDISCOVER || v[0] > DHCPINFORM)
			return -EINVAL;
		m->type = (enum dhcp_type)v[0];
		break;
	case DHCP_OPT_REQUESTED_IP:
		if (len != 4)
			return -EINVAL;
		m->requested_ip = vsw_get32(v);
		break;
	case DHCP_OPT_SERVER_ID:
		if (len != 4)
			return -EINVAL;
		m->server_id = vsw_get32(v);
		break;
	case DHCP_OPT_HOSTNAME:
		copy_hostname(m->hostname, v, len);
		break;
	}
	return 0;
}

int
dhcp_parse_frame(const uint8_t *f, size_t len, struct dhcp_msg *m)
{
	const uint8_t *b;
	size_t blen;

	memset(m, 0, sizeof(*m));
	b = dhcp_bootp_find(f, len, 0, PORT_SERVER, &blen);
	if (!b)
		return -EINVAL;
	/* BOOTREQUEST from an Ethernet client. */
	if (b[0] != 1 || b[1] != 1 || b[2] != 6)
		return -EINVAL;
	m->xid = vsw_get32(b + 4);
	m->flags = vsw_get16(b + 10);
	m->ciaddr = vsw_get32(b + 12);
	m->giaddr = vsw_get32(b + 24);
	memcpy(m->chaddr, b + 28, 6);
	memcpy(m->src_mac, f + 6, 6);
	if (m->chaddr[0] & 1) /* a multicast "hardware address" */
		return -EINVAL;
	if (dhcp_options_walk(b + BOOTP_FIXED + 4, blen - BOOTP_FIXED - 4,
			      request_option, m) < 0)
		return -EINVAL;
	return m->type ? 0 : -EINVAL;
}

/* ---- building ---- */

uint8_t *
dhcp_opt_u32(uint8_t *p, uint8_t code, uint32_t v)
{
	p[0] = code;
	p[1] = 4;
	vsw_put32(p + 2, v);
	return p + 6;
}

static uint8_t *
put_options(uint8_t *p, const struct dhcp_answer *a)
{
	p[0] = DHCP_OPT_MSG_TYPE;
	p[1] = 1;
	p[2] = (uint8_t)a->type;
	p = dhcp_opt_u32(p + 3, DHCP_OPT_SERVER_ID, a->server_ip);
	if (a->type == DHCPNAK)
		return p;
	if (a->lease_secs) {
		p = dhcp_opt_u32(p, DHCP_OPT_LEASE_TIME, a->lease_secs);
		p = dhcp_opt_u32(p, DHCP_OPT_RENEWAL, a->lease_secs / 2);
		p = dhcp_opt_u32(p, DHCP_OPT_REBINDING, a->lease_secs / 8 * 7);
	}
	p = dhcp_opt_u32(p, DHCP_OPT_SUBNET_MASK, a->netmask);
	p = dhcp_opt_u32(p, DHCP_OPT_BROADCAST, a->broadcast);
	if (a->router)
		p = dhcp_opt_u32(p, DHCP_OPT_ROUTER, a->router);
	if (a->dns[0]) {
		p[0] = DHCP_OPT_DNS;
		p[1] = a->dns[1] ? 8 : 4;
		vsw_put32(p + 2, a->dns[0]);
		if (a->dns[1])
			vsw_put32(p + 6, a->dns[1]);
		p += 2 + p[1];
	}
	if (a->domain && a->domain[0]) {
		size_t n = strnlen(a->domain, 63);

		p[0] = DHCP_OPT_DOMAIN;
		p[1] = (uint8_t)n;
		memcpy(p + 2, a->domain, n);
		p += 2 + n;
	}
	return p;
}

size_t
dhcp_frame_finish(uint8_t *f, uint32_t src_ip, uint32_t dst_ip, uint16_t sport,
		  uint16_t dport, size_t blen)
{
	uint8_t *ip = f + ETH_HLEN, *udp = ip + IP_HLEN;
	size_t total;
	uint32_t sum;
	uint16_t c;

	if (blen < BOOTP_MIN) {
		memset(udp + UDP_HLEN + blen, 0, BOOTP_MIN - blen);
		blen = BOOTP_MIN;
	}
	total = IP_HLEN + UDP_HLEN + blen;
	vsw_put16(f + 12, 0x0800);
	memset(ip, 0, IP_HLEN);
	ip[0] = 0x45;
	vsw_put16(ip + 2, (uint16_t)total);
	vsw_put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 17;
	vsw_put32(ip + 12, src_ip);
	vsw_put32(ip + 16, dst_ip);
	vsw_put16(ip + 10, vsw_csum_finish(vsw_csum_add(0, ip, IP_HLEN)));
	vsw_put16(udp, sport);
	vsw_put16(udp + 2, dport);
	vsw_put16(udp + 4, (uint16_t)(UDP_HLEN + blen));
	vsw_put16(udp + 6, 0);
	/* UDP checksum over the pseudo-header and datagram. */
	sum = vsw_csum_add(0, ip + 12, 8) + 17 + (uint32_t)(UDP_HLEN + blen);
	sum = vsw_csum_add(sum, udp, UDP_HLEN + blen);
	c = vsw_csum_finish(sum);
	vsw_put16(udp + 6, c ? c : 0xffff);
	return ETH_HLEN + total;
}

/*
 * Where a reply goes (RFC 2131 4.1): to a renewing or informing client's
 * own address; by broadcast for a NAK or when the client asks for it;
 * otherwise to the offered address at the client's hardware address.
 */
static void
destination(const struct dhcp_msg *m, const struct dhcp_answer *a,
	    uint32_t *ip, uint8_t *mac)
{
	if (a->type != DHCPNAK && m->ciaddr) {
		*ip = m->ciaddr;
		memcpy(mac, m->chaddr, 6);
	} else if (a->type == DHCPNAK || (m->flags & 0x8000)) {
		*ip = 0xffffffffu;
		memset(mac, 0xff, 6);
	} else {
		*ip = a->yiaddr;
		memcpy(mac, m->chaddr, 6);
	}
}

int
dhcp_build_reply(const struct dhcp_msg *m, const struct dhcp_answer *a,
		 uint8_t *f)
{
	uint8_t *b = f + DHCP_BOOTP_OFF;
	uint32_t dst;
	uint8_t *end;

	memset(f, 0, DHCP_BOOTP_OFF + BOOTP_MIN);
	destination(m, a, &dst, f);
	memcpy(f + 6, a->server_mac, 6);
	/* BOOTREPLY */
	b[0] = 2;
	b[1] = 1;
	b[2] = 6;
	vsw_put32(b + 4, m->xid);
	vsw_put16(b + 10, m->flags);
	if (a->type == DHCPACK && !a->yiaddr)
		vsw_put32(b + 12, m->ciaddr); /* INFORM */
	vsw_put32(b + 16, a->type == DHCPNAK ? 0 : a->yiaddr);
	vsw_put32(b + 24, m->giaddr);
	memcpy(b + 28, m->chaddr, 6);
	vsw_put32(b + BOOTP_FIXED, DHCP_MAGIC);
	end = put_options(b + BOOTP_FIXED + 4, a);
	*end++ = DHCP_OPT_END;
	return (int)dhcp_frame_finish(f, a->server_ip, dst, PORT_SERVER,
				      PORT_CLIENT, (size_t)(end - b));
}
