/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: what lab networks parse from VMs and the outside. The
 * first byte picks the parser; the rest is its input.
 *   0  an IPv4 frame: parse, then NAT-style rewrites; checksums that were
 *      right must stay right (the property incremental updates promise),
 *      and the one-pass NAT rewrite must equal the step-by-step one
 *   1  an ICMP error: quote parsing and rewriting, error building
 *   2  an ARP frame
 *   3  TCP segments, 16 bytes each, through one tracked connection
 *   4  text: shaping parameters, timeout lists, addresses (round trips)
 *   5  a shaper driven by enqueue/dequeue steps on a virtual clock
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vswitch/ct.h"
#include "vswitch/l3.h"
#include "vswitch/shaper.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
l4_sum_ok(const struct vsw_ip_pkt *p)
{
	uint32_t s = vsw_csum_add(0, p->ip + 12, 8) + p->proto + p->l4_len;

	if (p->proto == VSW_IPPROTO_UDP && !vsw_get16(p->l4 + 6))
		return true;
	if (p->proto == VSW_IPPROTO_ICMP)
		return vsw_csum_finish(vsw_csum_add(0, p->l4, p->l4_len)) == 0;
	return vsw_csum_finish(vsw_csum_add(s, p->l4, p->l4_len)) == 0;
}

/*
 * vsw_ip_nat() must write exactly what vsw_ip_rewrite() and
 * vsw_ip_dec_ttl() write, and leave the same parse.
 */
static void
check_nat_one_pass(const uint8_t *f, size_t len, bool which_src)
{
	uint8_t *a = malloc(len), *b = malloc(len);
	struct vsw_ip_pkt pa, pb;
	uint16_t port = (uint16_t)(len * 2654435761u >> 7);
	uint32_t ip = (uint32_t)len * 2246822519u;

	if (!a || !b)
		goto out;
	memcpy(a, f, len);
	memcpy(b, f, len);
	if (vsw_ip_parse(a, (uint32_t)len, &pa) != VSW_L3_OK ||
	    vsw_ip_parse(b, (uint32_t)len, &pb) != VSW_L3_OK)
		__builtin_trap();
	vsw_ip_nat(&pa, which_src, ip, port);
	vsw_ip_rewrite(&pb, which_src, ip, port);
	vsw_ip_dec_ttl(&pb);
	if (memcmp(a, b, len) || pa.src != pb.src || pa.dst != pb.dst ||
	    pa.sport != pb.sport || pa.dport != pb.dport || pa.ttl != pb.ttl)
		__builtin_trap();
out:
	free(a);
	free(b);
}

static void
fuzz_ip(uint8_t *f, size_t len)
{
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
	struct vsw_ip_pkt p;
	struct vsw_icmp_quote q;
	uint8_t out[256];
	bool sum_ok;

	if (vsw_ip_parse(f, (uint32_t)len, &p) != VSW_L3_OK)
		return;
	if (p.ttl > 1)
		check_nat_one_pass(f, len, len & 1);
	sum_ok = (p.proto == VSW_IPPROTO_TCP || p.proto == VSW_IPPROTO_UDP ||
		  p.proto == VSW_IPPROTO_ICMP) && l4_sum_ok(&p);
	vsw_ip_rewrite(&p, true, 0xc6336402, 40000);
	vsw_ip_rewrite(&p, false, 0x0a000005, 8080);
	if (p.ttl > 1)
		vsw_ip_dec_ttl(&p);
	if (vsw_csum_finish(vsw_csum_add(0, p.ip, p.ihl)) != 0)
		__builtin_trap();
	if (sum_ok && !vsw_icmp_is_error(&p) && !l4_sum_ok(&p))
		__builtin_trap();
	if (vsw_icmp_quote_parse(&p, &q) == 0) {
		vsw_icmp_quote_rewrite(&p, &q, true, 0x0a000001, 1234);
		if (vsw_csum_finish(vsw_csum_add(0, p.l4, p.l4_len)) != 0)
			__builtin_trap();
	}
	if (vsw_icmp_error_build(out, sizeof(out), f, &p, 11, 0, 0x0a000002,
				 mac) > sizeof(out))
		__builtin_trap();
	if (p.proto == VSW_IPPROTO_ICMP && p.icmp_type == VSW_ICMP_ECHO)
		vsw_icmp_echo_reply(f, &p, mac);
}

static void
fuzz_tcp(const uint8_t *d, size_t n)
{
	struct vsw_tcp_track t;
	uint8_t state = VSW_CT_STATE_COUNT;

	memset(&t, 0, sizeof(t));
	for (; n >= 16; d += 16, n -= 16) {
		struct vsw_tcp_seg s = {
			.seq = vsw_get32(d + 1), .ack = vsw_get32(d + 5),
			.win = vsw_get16(d + 9), .len = vsw_get16(d + 11),
			.flags = d[13], .wscale = (int8_t)(d[14] % 16 - 1),
		};
		enum vsw_tcp_verdict v = vsw_tcp_track_segment(&t, &state,
							       d[0] & 1, &s);

		if (v == VSW_TCP_OK && state >= VSW_CT_STATE_COUNT)
			__builtin_trap();
	}
}

static void
fuzz_text(const uint8_t *d, size_t n)
{
	struct vsw_shape_config c, again;
	struct vsw_ct_timeouts t;
	char s[300], e[200], buf[128];
	uint32_t ip;
	uint8_t pfx, mac[6];

	if (n >= sizeof(s))
		return;
	memcpy(s, d, n);
	s[n] = '\0';
	if (vsw_shape_parse(s, &c, e, sizeof(e)) == 0) {
		if (c.avg_bps && (c.peak_bps < c.avg_bps ||
				  c.burst_bytes > VSW_SHAPE_MAX_BURST))
			__builtin_trap();
		vsw_shape_format(&c, buf, sizeof(buf));
		if (vsw_shape_parse(buf, &again, e, sizeof(e)) != 0 ||
		    memcmp(&c, &again, sizeof(c)))
			__builtin_trap();
	}
	vsw_ct_timeouts_default(&t);
	vsw_ct_timeouts_parse(s, &t, e, sizeof(e));
	if (vsw_cidr_parse(s, &ip, &pfx) == 0 && pfx > 32)
		__builtin_trap();
	if (vsw_ipv4_parse(s, &ip) == 0) {
		uint32_t back;

		vsw_ipv4_format(ip, buf);
		if (vsw_ipv4_parse(buf, &back) != 0 || back != ip)
			__builtin_trap();
	}
	vsw_mac_parse(s, mac);
}

static void
fuzz_shaper(const uint8_t *d, size_t n)
{
	static struct vsw_shaper_item q[VSW_SHAPER_QMAX];
	struct vsw_shape_config c;
	struct vsw_shaper s;
	uint64_t now = 1000;
	void *out[64];

	if (n < 4)
		return;
	c.avg_bps = VSW_SHAPE_MIN_BPS + (uint64_t)vsw_get16(d) * 1000003;
	c.peak_bps = c.avg_bps * (1 + d[2] % 4);
	c.burst_bytes = (uint64_t)d[3] << 12;
	memset(&s, 0, sizeof(s));
	vsw_shaper_config(&s, &c, 1000000000, now, q);
	for (size_t i = 4; i + 1 < n; i += 2) {
		if (d[i] & 1)
			vsw_shaper_enqueue(&s, NULL, 60u + d[i + 1] * 6u);
		else
			vsw_shaper_dequeue(&s, now, out, 64);
		now += (uint64_t)d[i + 1] << (d[i] >> 4);
		if (vsw_shaper_backlog(&s) > s.qlimit ||
		    s.tok_avg > s.depth_avg || s.tok_peak > s.depth_catchup ||
		    s.tok_avg < -((int64_t)1600 << 32))
			__builtin_trap();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *f;
	struct vsw_arp a;

	if (size < 1 || size > 4096)
		return 0;
	f = malloc(size);
	if (!f)
		return 0;
	memcpy(f, data + 1, size - 1);
	switch (data[0] % 6) {
	case 0:
	case 1:
		fuzz_ip(f, size - 1);
		break;
	case 2:
		vsw_arp_parse(f, (uint32_t)(size - 1), &a);
		break;
	case 3:
		fuzz_tcp(f, size - 1);
		break;
	case 4:
		fuzz_text(f, size - 1);
		break;
	case 5:
		fuzz_shaper(f, size - 1);
		break;
	}
	free(f);
	return 0;
}
