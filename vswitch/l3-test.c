/* SPDX-License-Identifier: MIT */
/*
 * The pure parts of lab networks, without DPDK: incremental checksums
 * against full recomputation, IPv4 parsing of bad frames, the ICMP frames
 * the gateway writes, TCP tracking (handshake, window scaling, windows,
 * resets, reopening), and the shaper on a virtual clock: the average it
 * achieves from 1 Mbit/s to 5 Gbit/s with a jittery caller, and the most
 * it ever runs ahead of the average (the burst bound).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/testutil.h"
#include "vswitch/ct.h"
#include "vswitch/l3.h"
#include "vswitch/shaper.h"

static uint32_t rnd_state = 12345;

static uint32_t
rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

static void
test_incremental_checksums(void)
{
	uint8_t buf[64];

	for (int round = 0; round < 10000; round++) {
		uint16_t before, after, inc;
		uint32_t from, to;
		int at = (int)(rnd() % 15) * 4;

		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)rnd();
		vsw_put16(buf + 62, 0);
		before = vsw_csum_finish(vsw_csum_add(0, buf, sizeof(buf)));
		from = vsw_get32(buf + at);
		to = round & 1 ? rnd() : (round & 2 ? 0 : 0xffffffffu);
		vsw_put32(buf + at, to);
		after = vsw_csum_finish(vsw_csum_add(0, buf, sizeof(buf)));
		inc = vsw_csum_update32(before, from, to);
		/* Both forms of zero (0x0000, 0xffff) are the same sum. */
		CHECK(inc == after ||
		      ((inc == 0 || inc == 0xffff) && (after == 0 || after == 0xffff)));
	}
}

/* The one's complement sum of 'len' bytes, two at a time. */
static uint32_t
ref_sum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += vsw_get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static void
test_csum_add_wide(void)
{
	uint8_t buf[1600];

	for (int round = 0; round < 5000; round++) {
		size_t off = rnd() % 8, len = rnd() % (sizeof(buf) - 8);
		uint32_t start = round & 1 ? rnd() % 0x20000 : 0;
		int fill = round % 4;

		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = fill == 0 ? 0xff
				 : fill == 1 ? 0 : (uint8_t)rnd();
		/* Any sum must finish to what the pairwise sum finishes to. */
		CHECK_EQ(vsw_csum_finish(vsw_csum_add(start, buf + off, len)),
			 vsw_csum_finish(start + ref_sum(buf + off, len)));
		CHECK(vsw_csum_add(start, buf + off, len) <= 0xffff);
	}
}

/* Checksums of a parsed frame as a full recomputation gives them. */
static void
check_sums(const struct vsw_ip_pkt *p)
{
	uint32_t ph = ref_sum(p->ip + 12, 8) + p->proto + p->l4_len;
	uint32_t l4 = ref_sum(p->l4, p->l4_len);
	uint16_t c;

	CHECK_EQ(vsw_csum_finish(ref_sum(p->ip, p->ihl)), 0);
	switch (p->proto) {
	case VSW_IPPROTO_ICMP:
		CHECK_EQ(vsw_csum_finish(l4), 0);
		break;
	case VSW_IPPROTO_TCP:
		CHECK_EQ(vsw_csum_finish(ph + l4), 0);
		break;
	case VSW_IPPROTO_UDP:
		c = vsw_get16(p->l4 + 6);
		if (c)
			CHECK_EQ(vsw_csum_finish(ph + l4), 0);
		break;
	}
}

/*
 * A random TCP, UDP (with or without a checksum) or ICMP echo (request or
 * reply) frame, every checksum right; 'kind' picks which.
 */
static uint32_t
random_frame(uint8_t *f, int kind)
{
	static const uint8_t protos[] = { VSW_IPPROTO_TCP, VSW_IPPROTO_UDP,
					  VSW_IPPROTO_UDP, VSW_IPPROTO_ICMP,
					  VSW_IPPROTO_ICMP };
	uint8_t proto = protos[kind], *ip = f + 14, *l4;
	uint16_t ihl = (uint16_t)(20 + 4 * (rnd() % 3));
	uint16_t l4_len = (uint16_t)((proto == VSW_IPPROTO_TCP ? 20 : 8) +
				     rnd() % 40);
	uint32_t ph;

	for (int i = 0; i < 14 + 60 + 60; i++)
		f[i] = (uint8_t)rnd();
	vsw_put16(f + 12, 0x0800);
	ip[0] = (uint8_t)(0x40 | ihl / 4);
	vsw_put16(ip + 2, (uint16_t)(ihl + l4_len));
	vsw_put16(ip + 6, rnd() & 1 ? 0x4000 : 0);   /* DF or nothing */
	ip[8] = (uint8_t)(2 + rnd() % 254);
	ip[9] = proto;
	vsw_put16(ip + 10, 0);
	vsw_put16(ip + 10, vsw_csum_finish(ref_sum(ip, ihl)));
	l4 = ip + ihl;
	ph = ref_sum(ip + 12, 8) + proto + l4_len;
	switch (kind) {
	case 0:
		l4[12] = 5 << 4;
		vsw_put16(l4 + 16, 0);
		vsw_put16(l4 + 16, vsw_csum_finish(ph + ref_sum(l4, l4_len)));
		break;
	case 1:
	case 2:
		vsw_put16(l4 + 4, l4_len);
		vsw_put16(l4 + 6, 0);
		if (kind == 1) {
			uint16_t c = vsw_csum_finish(ph + ref_sum(l4, l4_len));

			vsw_put16(l4 + 6, c ? c : 0xffff);
		}
		break;
	default:
		l4[0] = kind == 3 ? VSW_ICMP_ECHO : VSW_ICMP_ECHO_REPLY;
		l4[1] = 0;
		vsw_put16(l4 + 2, 0);
		vsw_put16(l4 + 2, vsw_csum_finish(ref_sum(l4, l4_len)));
		break;
	}
	return (uint32_t)(14 + ihl + l4_len);
}

/*
 * vsw_ip_nat() against vsw_ip_rewrite() + vsw_ip_dec_ttl() (the same
 * bytes, the same parse after) and against a full recomputation of every
 * checksum, for random packets, both directions, and the corner values:
 * an unchanged address or port, all-ones and zero words.
 */
static void
test_nat_rewrite(void)
{
	static const uint32_t ips[] = { 0, 0xffffffffu, 0x0000ffffu,
					0xffff0000u };
	uint8_t a[160], b[160];

	for (int round = 0; round < 20000; round++) {
		struct vsw_ip_pkt pa, pb;
		int kind = round % 5;
		bool which_src = (round / 5) & 1;
		uint32_t len = random_frame(a, kind), ip;
		uint16_t port;

		CHECK_EQ(vsw_ip_parse(a, len, &pa), VSW_L3_OK);
		check_sums(&pa);
		switch (round / 10 % 4) {
		case 0:
			ip = which_src ? pa.src : pa.dst;
			break;
		case 1:
			ip = ips[rnd() % 4];
			break;
		default:
			ip = rnd() << 8 ^ rnd();
			break;
		}
		port = round / 40 % 3 == 0 ? (uint16_t)(rnd() % 2 ? 0 : 0xffff)
					   : (uint16_t)rnd();
		if (round / 120 % 5 == 0)
			port = which_src ? pa.sport : pa.dport;
		memcpy(b, a, sizeof(a));
		CHECK_EQ(vsw_ip_parse(b, len, &pb), VSW_L3_OK);
		vsw_ip_nat(&pa, which_src, ip, port);
		vsw_ip_rewrite(&pb, which_src, ip, port);
		vsw_ip_dec_ttl(&pb);
		CHECK(!memcmp(a, b, sizeof(a)));
		CHECK_EQ(pa.src, pb.src);
		CHECK_EQ(pa.dst, pb.dst);
		CHECK_EQ(pa.sport, pb.sport);
		CHECK_EQ(pa.dport, pb.dport);
		CHECK_EQ(pa.ttl, pb.ttl);
		check_sums(&pa);
		CHECK_EQ(vsw_ip_parse(a, len, &pb), VSW_L3_OK);
		CHECK_EQ(pa.sport, pb.sport);
		CHECK_EQ(pa.dport, pb.dport);
		CHECK_EQ(pa.ttl, pb.ttl);
		if (kind == 2)
			CHECK_EQ(vsw_get16(pa.l4 + 6), 0); /* none stays none */
	}
}

static size_t
udp_frame(uint8_t *f, uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp)
{
	uint8_t *ip = f + 14, *u = ip + 20;

	memset(f, 0, 80);
	vsw_put16(f + 12, 0x0800);
	ip[0] = 0x45;
	vsw_put16(ip + 2, 20 + 8 + 4);
	ip[8] = 64;
	ip[9] = 17;
	vsw_put32(ip + 12, src);
	vsw_put32(ip + 16, dst);
	vsw_put16(ip + 10, vsw_csum_finish(vsw_csum_add(0, ip, 20)));
	vsw_put16(u, sp);
	vsw_put16(u + 2, dp);
	vsw_put16(u + 4, 12);
	memcpy(u + 8, "data", 4);
	{
		uint32_t s = vsw_csum_add(0, ip + 12, 8) + 17 + 12;

		vsw_put16(u + 6, vsw_csum_finish(vsw_csum_add(s, u, 12)));
	}
	return 60;
}

static void
test_parse_bad_frames(void)
{
	uint8_t f[80];
	struct vsw_ip_pkt p;

	udp_frame(f, 0x0a000001, 0x0a000002, 1, 2);
	CHECK_EQ(vsw_ip_parse(f, 60, &p), VSW_L3_OK);
	CHECK_EQ(p.sport, 1);
	CHECK_EQ(vsw_ip_parse(f, 20, &p), VSW_L3_MALFORMED);  /* truncated */
	CHECK_EQ(vsw_ip_parse(f, 12, &p), VSW_L3_NOT_IPV4);
	CHECK_EQ(vsw_ip_parse(f, 40, &p), VSW_L3_MALFORMED); /* total > frame */
	f[14] = 0x46;                                         /* IHL 6 */
	CHECK_EQ(vsw_ip_parse(f, 60, &p), VSW_L3_MALFORMED);
	udp_frame(f, 0x0a000001, 0x0a000002, 1, 2);
	f[25] ^= 1;                                           /* header sum */
	CHECK_EQ(vsw_ip_parse(f, 60, &p), VSW_L3_MALFORMED);
	udp_frame(f, 0x0a000001, 0x0a000002, 1, 2);
	vsw_put16(f + 14 + 6, 0x0010);                        /* offset 128 */
	vsw_put16(f + 24, 0);
	vsw_put16(f + 24, vsw_csum_finish(vsw_csum_add(0, f + 14, 20)));
	CHECK_EQ(vsw_ip_parse(f, 60, &p), VSW_L3_FRAGMENT);
	udp_frame(f, 0x0a000001, 0x0a000002, 1, 2);
	vsw_put16(f + 34 + 4, 200);                           /* UDP length */
	CHECK_EQ(vsw_ip_parse(f, 60, &p), VSW_L3_MALFORMED);
}

static void
test_icmp_frames(void)
{
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 9 };
	uint8_t f[80], out[128];
	struct vsw_ip_pkt p, e;
	struct vsw_icmp_quote q;
	uint32_t len;

	udp_frame(f, 0x0a000001, 0x0a000002, 1111, 53);
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
	CHECK_EQ(vsw_ip_parse(f, 60, &p), VSW_L3_OK);
	len = vsw_icmp_error_build(out, sizeof(out), f, &p, 11, 0, 0x0a0000fe,
				   mac);
	CHECK(len >= 14 + 20 + 8 + 28);
	CHECK_EQ(vsw_ip_parse(out, len, &e), VSW_L3_OK);
	CHECK(vsw_icmp_is_error(&e));
	CHECK_EQ(vsw_csum_finish(vsw_csum_add(0, e.l4, e.l4_len)), 0);
	CHECK_OK(vsw_icmp_quote_parse(&e, &q));
	CHECK_EQ(q.sport, 1111);
	CHECK_EQ(q.dst, 0x0a000002);
	/* No error about an error. */
	CHECK_EQ(vsw_icmp_error_build(out + 0, sizeof(out), out, &e, 11, 0, 1,
				      mac), 0);
	/* Rewriting the quote keeps every checksum right. */
	vsw_icmp_quote_rewrite(&e, &q, true, 0xc0a80101, 2222);
	CHECK_EQ(vsw_csum_finish(vsw_csum_add(0, e.l4, e.l4_len)), 0);
	CHECK_EQ(vsw_csum_finish(vsw_csum_add(0, q.ip, 20)), 0);
	CHECK_EQ(vsw_get16(q.ip + 20), 2222);
}

/* ---- TCP tracking ---- */

static struct vsw_tcp_seg
seg(uint32_t seq, uint32_t ack, uint8_t flags, uint32_t win, uint32_t len,
    int wscale)
{
	struct vsw_tcp_seg s = { .seq = seq, .ack = ack, .flags = flags,
				 .win = win, .len = len, .wscale = (int8_t)wscale };

	if (flags & (VSW_TCP_SYN | VSW_TCP_FIN))
		s.len++;
	return s;
}

static void
test_tcp_tracking(void)
{
	struct vsw_tcp_track t;
	uint8_t st = VSW_CT_STATE_COUNT;
	struct vsw_tcp_seg s;

	memset(&t, 0, sizeof(t));
	s = seg(100, 0, VSW_TCP_ACK, 100, 0, -1);
	CHECK_EQ(vsw_tcp_track_segment(&t, &st, 0, &s), VSW_TCP_NOT_SYN);
	s = seg(100, 0, VSW_TCP_SYN | VSW_TCP_FIN, 100, 0, -1);
	CHECK_EQ(vsw_tcp_track_segment(&t, &st, 0, &s), VSW_TCP_BAD_FLAGS);
	s = seg(100, 0, VSW_TCP_SYN, 65535, 0, 7);
	CHECK_EQ(vsw_tcp_track_segment(&t, &st, 0, &s), VSW_TCP_OK);
	CHECK_EQ(st, VSW_CT_TCP_SYN_SENT);
	/* A SYN-ACK acking something never sent is refused. */
	s = seg(9000, 500, VSW_TCP_SYN | VSW_TCP_ACK, 65535, 0, 7);
	CHECK_EQ(vsw_tcp_track_segment(&t, &st, 1, &s), VSW_TCP_OUT_OF_WINDOW);
	s = seg(9000, 101, VSW_TCP_SYN | VSW_TCP_ACK, 65535, 0, 7);
	CHECK_EQ(vsw_tcp_track_segment(&t, &st, 1, &s), VSW_TCP_OK);
	CHECK_EQ(st, VSW_CT_TCP_SYN_RECV);
	/* Window 1000 << 7 = 128000 bytes: a 100000-byte flight fits. */
	s = seg(101, 9001, VSW_TCP_ACK, 1000, 0, -1);
	CHECK_EQ(vsw_tcp_track_segment(&t, &st, 0, &s), VSW_TCP_OK);
	CHECK_EQ(st, VSW_CT_TCP_ESTABLISHED);
	s = seg(9001, 101, VSW_TCP_ACK, 1000, 1400, -1);
	for (int i = 0; i < 70; i++) {
		CHECK_EQ(vsw_tcp_track_segment(&t, &st, 1, &s), VSW_TCP_OK);
		s.seq += 1400;
	}
	/* Far beyond the receiver's window: refused, state unchanged. */
	s.seq += 10000000;
	CHECK_EQ(vsw_tcp_track_segment(&t, &st, 1, &s), VSW_TCP_OUT_OF_WINDOW);
	/* Acking data the other side never sent: refused. */
	s = seg(101, 9001 + 70 * 1400 + 5000, VSW_TCP_ACK, 1000, 0, -1);
	CHECK_EQ(vsw_tcp_track_segment(&t, &st, 0, &s), VSW_TCP_OUT_OF_WINDOW);
	s = seg(101, 9001 + 70 * 1400, VSW_TCP_ACK | VSW_TCP_FIN, 1000, 0, -1);
	CHECK_EQ(vsw_tcp_track_segment(&t, &st, 0, &s), VSW_TCP_OK);
	CHECK_EQ(st, VSW_CT_TCP_FIN_WAIT);
	s = seg(9001 + 70 * 1400, 102, VSW_TCP_ACK | VSW_TCP_FIN, 1000, 0, -1);
	CHECK_EQ(vsw_tcp_track_segment(&t, &st, 1, &s), VSW_TCP_OK);
	CHECK_EQ(st, VSW_CT_TCP_TIME_WAIT);
	/* The same ports opened again start over. */
	s = seg(500000, 0, VSW_TCP_SYN, 65535, 0, -1);
	CHECK_EQ(vsw_tcp_track_segment(&t, &st, 0, &s), VSW_TCP_OK);
	CHECK_EQ(st, VSW_CT_TCP_SYN_SENT);
	/* No scale option on the answer: neither side scales. */
	s = seg(1, 500001, VSW_TCP_SYN | VSW_TCP_ACK, 2000, 0, -1);
	CHECK_EQ(vsw_tcp_track_segment(&t, &st, 1, &s), VSW_TCP_OK);
	s = seg(500001, 2, VSW_TCP_ACK, 2000, 0, -1);
	CHECK_EQ(vsw_tcp_track_segment(&t, &st, 0, &s), VSW_TCP_OK);
	s = seg(2, 500001, VSW_TCP_ACK, 2000, 1000, -1);
	CHECK_EQ(vsw_tcp_track_segment(&t, &st, 1, &s), VSW_TCP_OK);
	/* Starting past the 2000-byte unscaled window (2 + 2000): refused;
	 * a scaled window would have allowed it. */
	s.seq = 2 + 2000 + 100;
	CHECK_EQ(vsw_tcp_track_segment(&t, &st, 1, &s), VSW_TCP_OUT_OF_WINDOW);
	s = seg(500001, 1002, VSW_TCP_RST, 0, 0, -1);
	CHECK_EQ(vsw_tcp_track_segment(&t, &st, 0, &s), VSW_TCP_OK);
	CHECK_EQ(st, VSW_CT_TCP_CLOSE);
}

/* ---- shaping on a virtual clock ---- */

#define HZ 2500000000ull          /* virtual TSC */
#define FRAME 1500u

struct shape_run {
	double avg_error;         /* achieved / configured - 1 */
	double worst_ahead;       /* bytes sent beyond avg * t, worst span */
	double peak_seen;         /* fastest rate over 100 ms spans, bit/s */
};

/*
 * Offers frames whenever the queue has room and polls at a jittery
 * interval (0.5-20 us, sometimes 200 us), for 'secs' of virtual time.
 */
static struct shape_run
shape(uint64_t avg, uint64_t peak, uint64_t burst, double secs)
{
	static struct vsw_shaper_item q[VSW_SHAPER_QMAX];
	struct vsw_shape_config c = { avg, peak, burst };
	struct vsw_shaper s;
	struct shape_run r = { 0, 0, 0 };
	uint64_t now = HZ, end = now + (uint64_t)(secs * HZ), sent = 0;
	uint64_t t0 = now, win_t = now, win_bytes = 0;
	double min_a = 0;       /* min over time of sent - avg * t */
	void *out[64];

	memset(&s, 0, sizeof(s));
	vsw_shaper_config(&s, &c, HZ, now, q);
	while (now < end) {
		unsigned int n;

		double a = (double)sent - (double)avg / 8 *
				(double)(now - t0) / HZ;

		while (vsw_shaper_room(&s))
			vsw_shaper_enqueue(&s, NULL, FRAME);
		/*
		 * Worst span [x, y]: sent(y) - sent(x) - avg (y - x), the
		 * largest rise of a = sent - avg t over any earlier low.
		 */
		if (a < min_a)
			min_a = a;
		n = vsw_shaper_dequeue(&s, now, out, 64);
		sent += (uint64_t)n * FRAME;
		win_bytes += (uint64_t)n * FRAME;
		a += (double)n * FRAME;
		if (a - min_a > r.worst_ahead)
			r.worst_ahead = a - min_a;
		if (now - win_t >= HZ / 10) {
			double rate = (double)win_bytes * 8 * HZ / (now - win_t);

			if (now - t0 > HZ / 10 && rate > r.peak_seen)
				r.peak_seen = rate;
			win_t = now;
			win_bytes = 0;
		}
		now += HZ / 2000000 + rnd() % (HZ / 50000);
		if (rnd() % 1000 == 0)
			now += HZ / 5000; /* a 200 us stall */
	}
	r.avg_error = (double)sent * 8 / secs / (double)avg - 1;
	return r;
}

static void
test_shaper_accuracy(void)
{
	static const uint64_t rates[] = { 1000000ull, 10000000ull, 100000000ull,
					  1000000000ull, 5000000000ull };

	for (size_t i = 0; i < ARRAY_SIZE(rates); i++) {
		uint64_t avg = rates[i], burst = avg / 8 / 10; /* 100 ms */
		double secs = avg < 10000000 ? 60 : 4;
		struct shape_run r = shape(avg, avg, burst, secs);

		printf("   %llu bit/s: average off by %+.4f %%, ahead at most "
		       "%.0f B (burst %llu B)\n", (unsigned long long)avg,
		       r.avg_error * 100, r.worst_ahead,
		       (unsigned long long)burst);
		/* The first second's burst is part of the average. */
		CHECK(r.avg_error > -0.002 && r.avg_error < 0.002 +
		      (double)burst * 8 / avg / secs);
		/* No overdraft: never more than the burst ahead. */
		CHECK(r.worst_ahead <= (double)burst + 1);
	}
	/* Peak limits the burst's speed: 10M average, 20M peak. */
	{
		struct shape_run r = shape(10000000, 20000000, 1000000, 3);

		printf("   10M avg, 20M peak: fastest 100 ms %.1f Mbit/s\n",
		       r.peak_seen / 1e6);
		/* The peak bucket holds 10 ms: over 100 ms, 10 % more at most. */
		CHECK(r.peak_seen <= 20000000 * 1.12);
		CHECK(r.worst_ahead <= 1000000 + 1);
	}
}

int
main(void)
{
	RUN_TEST(test_incremental_checksums);
	RUN_TEST(test_csum_add_wide);
	RUN_TEST(test_nat_rewrite);
	RUN_TEST(test_parse_bad_frames);
	RUN_TEST(test_icmp_frames);
	RUN_TEST(test_tcp_tracking);
	RUN_TEST(test_shaper_accuracy);
	return 0;
}
