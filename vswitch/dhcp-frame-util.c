/* SPDX-License-Identifier: MIT */
/* Client-side DHCP frames for tests: see dhcp-frame-util.h. */
#include <string.h>

#include "vswitch/dhcp-frame-util.h"
#include "vswitch/l3.h"

static uint16_t
csum(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += vsw_get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

size_t
dhcp_test_build_request(const struct dhcp_client_req *r, uint8_t *f)
{
	uint8_t *ip = f + 14, *udp = ip + 20, *b = udp + 8, *o;
	size_t blen;

	memset(f, 0, 600);
	memset(f, 0xff, 6);
	memcpy(f + 6, r->mac, 6);
	vsw_put16(f + 12, 0x0800);
	b[0] = 1;
	b[1] = 1;
	b[2] = 6;
	vsw_put32(b + 4, r->xid);
	vsw_put16(b + 10, r->broadcast ? 0x8000 : 0);
	vsw_put32(b + 12, r->ciaddr);
	memcpy(b + 28, r->mac, 6);
	vsw_put32(b + 236, 0x63825363u);
	o = b + 240;
	*o++ = 53;
	*o++ = 1;
	*o++ = r->type;
	if (r->requested_ip) {
		*o++ = 50;
		*o++ = 4;
		vsw_put32(o, r->requested_ip);
		o += 4;
	}
	if (r->server_id) {
		*o++ = 54;
		*o++ = 4;
		vsw_put32(o, r->server_id);
		o += 4;
	}
	if (r->hostname) {
		size_t n = strlen(r->hostname);

		*o++ = 12;
		*o++ = (uint8_t)n;
		memcpy(o, r->hostname, n);
		o += n;
	}
	*o++ = 255;
	blen = (size_t)(o - b) < 300 ? 300 : (size_t)(o - b);
	ip[0] = 0x45;
	vsw_put16(ip + 2, (uint16_t)(28 + blen));
	ip[8] = 64;
	ip[9] = 17;
	vsw_put32(ip + 12, r->ciaddr);
	vsw_put32(ip + 16, 0xffffffffu);
	vsw_put16(ip + 10, csum(0, ip, 20));
	vsw_put16(udp, 68);
	vsw_put16(udp + 2, 67);
	vsw_put16(udp + 4, (uint16_t)(8 + blen));
	return 14 + 28 + blen;
}

bool
dhcp_test_parse_reply(const uint8_t *f, size_t len, struct dhcp_test_reply *r)
{
	const uint8_t *ip = f + 14, *udp = ip + 20, *b = udp + 8;
	size_t ulen, i;
	uint32_t sum;

	memset(r, 0, sizeof(*r));
	if (len < 14 + 28 + 240 || vsw_get16(f + 12) != 0x0800 || ip[0] != 0x45 ||
	    vsw_get16(udp) != 67 || vsw_get16(udp + 2) != 68 || b[0] != 2)
		return false;
	ulen = vsw_get16(udp + 4);
	if (ulen < 8 + 240 || 14 + 20 + ulen > len)
		return false;
	r->ip_csum_ok = csum(0, ip, 20) == 0;
	sum = (uint32_t)vsw_get16(ip + 12) + vsw_get16(ip + 14) + vsw_get16(ip + 16) +
	      vsw_get16(ip + 18) + 17 + (uint32_t)ulen;
	r->udp_csum_ok = csum(sum, udp, ulen) == 0;
	memcpy(r->eth_dst, f, 6);
	r->ip_src = vsw_get32(ip + 12);
	r->ip_dst = vsw_get32(ip + 16);
	r->xid = vsw_get32(b + 4);
	r->ciaddr = vsw_get32(b + 12);
	r->yiaddr = vsw_get32(b + 16);
	memcpy(r->chaddr, b + 28, 6);
	for (i = 240; i + 1 < ulen - 8 && b[i] != 255;) {
		uint8_t code = b[i], n = b[i + 1];
		const uint8_t *v = b + i + 2;

		if (code == 0) {
			i++;
			continue;
		}
		if (i + 2 + n > ulen - 8)
			return false;
		switch (code) {
		case 53: r->type = v[0]; break;
		case 54: r->server_id = vsw_get32(v); break;
		case 51: r->lease = vsw_get32(v); r->has_lease = true; break;
		case 1: r->mask = vsw_get32(v); break;
		case 3: r->router = vsw_get32(v); break;
		case 6: r->dns0 = vsw_get32(v); break;
		case 28: r->broadcast = vsw_get32(v); break;
		case 15:
			memcpy(r->domain, v, n < 63 ? n : 63);
			break;
		}
		i += 2u + n;
	}
	return r->type != 0;
}
