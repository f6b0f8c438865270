/* SPDX-License-Identifier: MIT */
/*
 * Test guest virtio-net: sends and answers ARP and ICMP echo over the
 * first NIC, whose queues a vhost-user back end serves.
 *   net ip=A peer=B ping=N   resolve B by ARP, then get N echo replies
 *                            (one request every ~50 ms, lost ones are
 *                            not retried: the count is of replies)
 *   net ip=A answer=N        answer ARP and echo until N echoes were
 *                            answered, then linger a second
 *   net ip=A peer=B loop=S [burst=N]
 *                            frame-rate loop: resolve B, send it N (64)
 *                            frames, then send every frame that comes
 *                            back to B again, for about S seconds
 *   net ip=A loop=S          the other end: answer ARP and return every
 *                            loop frame to its sender
 *   ... loop=S irq            the loop waits for receive interrupts in hlt
 *                            when its ring is empty (after polling it for
 *                            haltpoll=US microseconds), instead of
 *                            polling all the time
 *   net dhcp ...              get the address from the network's DHCP
 *                            server first (a lab network of the switch)
 *   net ... gw=G [gwping=N]  ping the gateway 10.0.0.G (with dhcp: the
 *                            router the lease names) N (3) times first
 *   net ... wan=A.B.C.D      then ping A.B.C.D, off the subnet, through
 *                            the gateway (NAT) N times
 * IPs are the last octet of 10.0.0.0/24. Transmit never waits: each
 * frame is copied into a buffer of its own descriptor, reclaimed once
 * the back end has used it. The loop runs with interrupts off and
 * polls both rings, as a DPDK guest would; the switch's port counters
 * give the rate.
 */
#include "virtio.h"

#define HDR 12              /* virtio_net_hdr_v1 */
#define QSIZE 256
#define RXBUFS QSIZE
#define BUFSZ 2048
#define TXSLOT 512          /* one per TX descriptor: header + frame
					       (a DHCP frame is 342 bytes) */
#define LOOP_TYPE 0x88b5    /* IEEE local experimental ethertype */
#define F_MAC 5
#define F_STATUS 16

struct nic {
	struct tg_virtio v;
	uint8_t mac[6];
	uint8_t ip[4];
	uint8_t *rx[RXBUFS];
	uint8_t *tx;              /* where frames are built */
	uint8_t *txslots;         /* QSIZE x TXSLOT, by descriptor */
	uint64_t rx_frames, tx_frames, tx_full;
};

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static uint64_t tsc_per_ms;

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t
csum(const uint8_t *p, unsigned int n)
{
	uint32_t s = 0;

	for (unsigned int i = 0; i + 1 < n; i += 2)
		s += be16(p + i);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void
post_rx(struct nic *n, int i)
{
	struct tg_buf b = { (uint64_t)n->rx[i], BUFSZ, true };
	int head = tg_vq_add(&n->v.vq[0], &b, 1);

	(void)head;
}

/* Queues the frame in n->tx (no kick); -1 when the ring stays full. */
static int
xmit_queue(struct nic *n, const uint8_t *frame, unsigned int len)
{
	struct tg_vq *q = &n->v.vq[1];
	struct tg_buf b;
	uint8_t *slot;

	if (len < 60)
		len = 60; /* Ethernet minimum, padding already zero */
	if (HDR + len > TXSLOT)
		return -1;
	while (tg_vq_used(q, NULL) >= 0)
		; /* reclaim what the back end has sent */
	if (!q->num_free) {
		n->tx_full++;
		return -1;
	}
	/* Single-descriptor chains: the head is the free list's first. */
	slot = n->txslots + (uint64_t)q->free_head * TXSLOT;
	memset(slot, 0, HDR);
	memcpy(slot + HDR, frame, len);
	b = (struct tg_buf){ (uint64_t)slot, HDR + len, false };
	if (tg_vq_add(q, &b, 1) < 0)
		return -1;
	n->tx_frames++;
	return 0;
}

static int
xmit(struct nic *n, unsigned int len)
{
	int rc = xmit_queue(n, n->tx + HDR, len);

	tg_vq_kick(&n->v.vq[1]);
	return rc;
}

static uint8_t *
eth(struct nic *n, const uint8_t *dst, uint16_t type)
{
	uint8_t *f = n->tx + HDR;

	memset(n->tx, 0, HDR + BUFSZ - HDR);
	memcpy(f, dst, 6);
	memcpy(f + 6, n->mac, 6);
	put16(f + 12, type);
	return f + 14;
}

static int
send_arp(struct nic *n, uint16_t op, const uint8_t *tha, const uint8_t *tpa)
{
	uint8_t *a = eth(n, op == 1 ? bcast : tha, 0x0806);

	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, n->mac, 6);
	memcpy(a + 14, n->ip, 4);
	memcpy(a + 18, op == 1 ? (const uint8_t *)"\0\0\0\0\0\0" : tha, 6);
	memcpy(a + 24, tpa, 4);
	return xmit(n, 14 + 28);
}

static int
send_icmp(struct nic *n, const uint8_t *dmac, const uint8_t *dip, uint8_t type,
	  uint16_t id, uint16_t seq, const uint8_t *payload, unsigned int plen)
{
	uint8_t *ip = eth(n, dmac, 0x0800), *icmp = ip + 20;

	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + 8 + plen));
	ip[8] = 64;
	ip[9] = 1;
	memcpy(ip + 12, n->ip, 4);
	memcpy(ip + 16, dip, 4);
	put16(ip + 10, csum(ip, 20));
	icmp[0] = type;
	put16(icmp + 4, id);
	put16(icmp + 6, seq);
	memcpy(icmp + 8, payload, plen);
	put16(icmp + 2, csum(icmp, 8 + plen));
	return xmit(n, 14 + 20 + 8 + plen);
}

/* What a received frame was, for the callers' loops. */
struct seen {
	bool arp_reply;
	uint8_t peer_mac[6];
	bool echo_reply;
	uint16_t seq;
	uint64_t answered;
	/* DHCP (BOOTP) replies to our transaction */
	uint32_t xid;
	uint8_t dhcp_type;        /* 2 offer, 5 ack, 6 nak; 0 none */
	uint8_t yiaddr[4], server[4], router[4];
	uint32_t lease_s;
};

static void dhcp_reply(struct nic *n, const uint8_t *b, unsigned int len,
		       struct seen *s);

static void
handle(struct nic *n, const uint8_t *f, unsigned int len, struct seen *s)
{
	uint16_t type;

	if (len < 14 || (memcmp(f, n->mac, 6) && memcmp(f, bcast, 6)))
		return;
	type = be16(f + 12);
	if (type == 0x0806 && len >= 42) {
		const uint8_t *a = f + 14;

		if (be16(a + 6) == 1 && !memcmp(a + 24, n->ip, 4))
			send_arp(n, 2, a + 8, a + 14);
		else if (be16(a + 6) == 2 && !memcmp(a + 24, n->ip, 4)) {
			s->arp_reply = true;
			memcpy(s->peer_mac, a + 8, 6);
		}
	} else if (type == 0x0800 && len >= 14 + 28) {
		const uint8_t *ip = f + 14, *icmp = ip + 20;
		unsigned int tot = be16(ip + 2);

		/* UDP to port 68: a DHCP server's answer (IHL 5 only). */
		if (ip[0] == 0x45 && ip[9] == 17 && tot >= 28 &&
		    tot <= len - 14 && be16(ip + 22) == 68) {
			dhcp_reply(n, ip + 28, tot - 28, s);
			return;
		}
		if (ip[9] != 1 || memcmp(ip + 16, n->ip, 4) || tot < 28 ||
		    tot > len - 14 || csum(icmp, tot - 20) != 0)
			return;
		if (icmp[0] == 8) {
			send_icmp(n, f + 6, ip + 12, 0, be16(icmp + 4),
				  be16(icmp + 6), icmp + 8, tot - 28);
			s->answered++;
		} else if (icmp[0] == 0) {
			s->echo_reply = true;
			s->seq = be16(icmp + 6);
		}
	}
}

/* Receives for up to 'ms'; stops early once 'until' says so. */
static void
receive(struct nic *n, uint64_t ms, struct seen *s,
	bool (*until)(const struct seen *))
{
	uint64_t t0 = rdtsc();

	while (rdtsc() - t0 < ms * tsc_per_ms) {
		uint32_t len;
		int head = tg_vq_used(&n->v.vq[0], &len);

		if (head < 0) {
			tg_idle();
			continue;
		}
		n->rx_frames++;
		if (len > HDR)
			handle(n, n->rx[head] + HDR, len - HDR, s);
		post_rx(n, head);
		tg_vq_kick(&n->v.vq[0]);
		if (until && until(s))
			return;
	}
}

static bool
got_arp(const struct seen *s)
{
	return s->arp_reply;
}


/* ---- DHCP client (RFC 2131, the parts a lab network needs) ---- */

#define BOOTP_LEN 300       /* the classic minimum some servers want */

static void
dhcp_reply(struct nic *n, const uint8_t *b, unsigned int len, struct seen *s)
{
	unsigned int i = 240;

	if (len < 240 || b[0] != 2 || memcmp(b + 28, n->mac, 6) ||
	    (uint32_t)(b[4] << 24 | b[5] << 16 | b[6] << 8 | b[7]) != s->xid ||
	    b[236] != 99 || b[237] != 130 || b[238] != 83 || b[239] != 99)
		return;
	memcpy(s->yiaddr, b + 16, 4);
	/* Options: code, length, value; 0 pads, 255 ends. */
	while (i < len && b[i] != 255) {
		unsigned int code = b[i], olen;

		if (code == 0) {
			i++;
			continue;
		}
		if (i + 1 >= len || i + 2 + b[i + 1] > len)
			break;
		olen = b[i + 1];
		if (code == 53 && olen == 1)
			s->dhcp_type = b[i + 2];
		else if (code == 54 && olen == 4)
			memcpy(s->server, b + i + 2, 4);
		else if (code == 3 && olen >= 4)
			memcpy(s->router, b + i + 2, 4);
		else if (code == 51 && olen == 4)
			s->lease_s = (uint32_t)b[i + 2] << 24 | b[i + 3] << 16 |
				     b[i + 4] << 8 | b[i + 5];
		i += 2 + olen;
	}
}

/* Broadcasts a DISCOVER (type 1) or a REQUEST (3) for s->yiaddr. */
static int
dhcp_send(struct nic *n, uint8_t msg, const struct seen *s)
{
	uint8_t *ip = eth(n, bcast, 0x0800), *udp = ip + 20, *b = udp + 8;
	unsigned int o = 240;

	ip[0] = 0x45;
	put16(ip + 2, 20 + 8 + BOOTP_LEN);
	ip[8] = 64;
	ip[9] = 17;
	memset(ip + 16, 0xff, 4);            /* from 0.0.0.0 to everyone */
	put16(ip + 10, csum(ip, 20));
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, 8 + BOOTP_LEN);       /* checksum 0: none (IPv4) */
	b[0] = 1;
	b[1] = 1;
	b[2] = 6;
	b[4] = (uint8_t)(s->xid >> 24);
	b[5] = (uint8_t)(s->xid >> 16);
	b[6] = (uint8_t)(s->xid >> 8);
	b[7] = (uint8_t)s->xid;
	put16(b + 10, 0x8000);               /* answer by broadcast */
	memcpy(b + 28, n->mac, 6);
	b[236] = 99;
	b[237] = 130;
	b[238] = 83;
	b[239] = 99;
	b[o++] = 53;
	b[o++] = 1;
	b[o++] = msg;
	if (msg == 3) {
		b[o++] = 50;
		b[o++] = 4;
		memcpy(b + o, s->yiaddr, 4);
		o += 4;
		b[o++] = 54;
		b[o++] = 4;
		memcpy(b + o, s->server, 4);
		o += 4;
	}
	b[o++] = 55;                         /* wanted: mask, router, lease */
	b[o++] = 3;
	b[o++] = 1;
	b[o++] = 3;
	b[o++] = 51;
	b[o] = 255;
	return xmit(n, 14 + 20 + 8 + BOOTP_LEN);
}

static bool
got_dhcp(const struct seen *s)
{
	return s->dhcp_type != 0;
}

/* One exchange: sends 'msg' until a reply of type 'want' comes. */
static bool
dhcp_step(struct nic *n, struct seen *s, uint8_t msg, uint8_t want)
{
	for (int tries = 0; tries < 40; tries++) {
		s->dhcp_type = 0;
		dhcp_send(n, msg, s);
		receive(n, 250, s, got_dhcp);
		if (s->dhcp_type == want)
			return true;
		if (s->dhcp_type == 6)
			return false;   /* NAK */
	}
	return false;
}

/* Takes the address a DHCP server gives; 0 or 1. */
static int
dhcp_client(struct nic *n, uint8_t router[4])
{
	struct seen s = { 0 };

	s.xid = (uint32_t)(rdtsc() ^ (uint64_t)n->mac[5] << 24);
	if (!dhcp_step(n, &s, 1, 2)) {
		tg_printf("net: DHCP: no offer\n");
		return 1;
	}
	if (!dhcp_step(n, &s, 3, 5)) {
		tg_printf("net: DHCP: the request was not acknowledged\n");
		return 1;
	}
	memcpy(n->ip, s.yiaddr, 4);
	memcpy(router, s.router, 4);
	tg_printf("net: DHCP lease %u.%u.%u.%u for %u s from %u.%u.%u.%u, "
		  "router %u.%u.%u.%u\n", n->ip[0], n->ip[1], n->ip[2],
		  n->ip[3], s.lease_s, s.server[0], s.server[1], s.server[2],
		  s.server[3], router[0], router[1], router[2], router[3]);
	return 0;
}

/* ---- echo ---- */

/*
 * Whether the back end has taken every frame we queued. While the switch
 * is away nothing is taken; requests sent then would all arrive at once
 * when it returns, and the peer would spend its answers on them.
 */
static bool
tx_drained(struct nic *n)
{
	struct tg_vq *q = &n->v.vq[1];

	while (tg_vq_used(q, NULL) >= 0)
		;
	return q->num_free == q->size;
}

/* "A.B.C.D" -> out; false if it is not one. */
static bool
parse_ip(const char *s, uint8_t out[4])
{
	for (int i = 0; i < 4; i++) {
		unsigned int v = 0, digits = 0;

		while (*s >= '0' && *s <= '9' && digits < 4) {
			v = v * 10 + (unsigned int)(*s++ - '0');
			digits++;
		}
		if (!digits || v > 255 || (i < 3 && *s++ != '.'))
			return false;
		out[i] = (uint8_t)v;
	}
	return *s == '\0' || *s == ' ';
}

/* Pings 'pip' 'count' times; frames go to 'via''s MAC (NULL: pip's). */
static int
pinger(struct nic *n, const uint8_t pip[4], uint64_t count,
       const uint8_t *via)
{
	const uint8_t *hop = via ? via : pip;
	uint8_t payload[56];
	struct seen s = { 0 };
	uint64_t replies = 0, tries = 0;

	for (int i = 0; i < 56; i++)
		payload[i] = (uint8_t)i;
	while (!s.arp_reply && tries++ < 400) {
		send_arp(n, 1, NULL, hop);
		receive(n, 50, &s, got_arp);
	}
	if (!s.arp_reply) {
		tg_printf("net: no ARP reply from %u.%u.%u.%u\n", hop[0], hop[1],
			  hop[2], hop[3]);
		return 1;
	}
	tg_printf("net: %u.%u.%u.%u is at %02x:%02x:%02x:%02x:%02x:%02x\n",
		  hop[0], hop[1], hop[2], hop[3], s.peer_mac[0], s.peer_mac[1],
		  s.peer_mac[2], s.peer_mac[3], s.peer_mac[4], s.peer_mac[5]);
	for (uint16_t seq = 1; replies < count && seq < 2000; seq++) {
		s.echo_reply = false;
		if (tx_drained(n))
			send_icmp(n, s.peer_mac, pip, 8, 0x7467, seq, payload,
				  56);
		/* One request per 50 ms slot, answered or not. */
		receive(n, 50, &s, NULL);
		if (s.echo_reply && s.seq == seq) {
			replies++;
			tg_printf("net: echo reply seq %u from %u.%u.%u.%u\n",
				  seq, pip[0], pip[1], pip[2], pip[3]);
		}
	}
	tg_printf("net: %lu/%lu echo replies from %u.%u.%u.%u, rx %lu tx %lu "
		  "frames\n", replies, count, pip[0], pip[1], pip[2], pip[3],
		  n->rx_frames, n->tx_frames);
	return replies == count ? 0 : 1;
}

/*
 * The frame-rate loop: every loop frame addressed to us goes back to its
 * sender; a batch of received frames costs one kick per ring (and none
 * while the back end polls and says so).
 */
static void
loop_run(struct nic *n, uint64_t ms)
{
	bool irq = tg_arg("irq") != NULL;
	uint64_t haltpoll = tg_arg_u64("haltpoll", 0) * tsc_per_ms / 1000;
	uint64_t t0 = rdtsc(), looped = 0, idle_since = 0, halts = 0;
	struct seen s = { 0 };

	/* Interrupts off: this loop polls (and with 'irq' turns receive
	   interrupts on only to sleep). */
	n->v.vq[0].avail[0] = 1;
	n->v.vq[1].avail[0] = 1;
	tg_printf("net: loop running\n");
	while (rdtsc() - t0 < ms * tsc_per_ms) {
		unsigned int batch = 0;
		uint32_t len;
		int head;

		if (irq && !tg_vq_has_used(&n->v.vq[0])) {
			uint64_t now = rdtsc();

			if (!idle_since)
				idle_since = now;
			if (now - idle_since >= haltpoll) {
				n->v.vq[0].avail[0] = 0;
				mb();
				if (!tg_vq_has_used(&n->v.vq[0])) {
					tg_idle();
					halts++;
				}
				n->v.vq[0].avail[0] = 1;
				idle_since = 0;
			}
			continue;
		}
		idle_since = 0;

		while (batch < 32 && (head = tg_vq_used(&n->v.vq[0], &len)) >= 0) {
			uint8_t *f = n->rx[head] + HDR;

			n->rx_frames++;
			batch++;
			if (len >= HDR + 14 && be16(f + 12) == LOOP_TYPE &&
			    !memcmp(f, n->mac, 6)) {
				uint8_t *o = n->tx + HDR;

				memcpy(o, f + 6, 6);
				memcpy(o + 6, n->mac, 6);
				memcpy(o + 12, f + 12, 48);
				if (xmit_queue(n, o, 60) == 0)
					looped++;
			} else if (len > HDR) {
				handle(n, f, len - HDR, &s);
			}
			post_rx(n, head);
		}
		if (batch) {
			tg_vq_kick(&n->v.vq[1]);
			tg_vq_kick(&n->v.vq[0]);
		}
	}
	n->v.vq[0].avail[0] = 0;
	n->v.vq[1].avail[0] = 0;
	tg_printf("net: loop done, %lu frames returned, rx %lu tx %lu, "
		  "tx ring full %lu times, %lu halts\n", looped, n->rx_frames,
		  n->tx_frames, n->tx_full, halts);
}

static int
looper(struct nic *n, uint8_t peer, uint64_t seconds)
{
	uint8_t pip[4] = { 10, 0, 0, peer };
	uint64_t burst = tg_arg_u64("burst", 64);
	struct seen s = { 0 };
	uint64_t tries = 0;

	if (!tg_arg("peer")) {
		loop_run(n, seconds * 1000);
		return 0;
	}
	while (!s.arp_reply && tries++ < 400) {
		send_arp(n, 1, NULL, pip);
		receive(n, 50, &s, got_arp);
	}
	if (!s.arp_reply) {
		tg_printf("net: no ARP reply from 10.0.0.%u\n", peer);
		return 1;
	}
	for (uint64_t i = 0; i < burst && i < QSIZE - 1; i++) {
		uint8_t *f = eth(n, s.peer_mac, LOOP_TYPE);

		f[0] = (uint8_t)i;
		if (xmit_queue(n, n->tx + HDR, 60) < 0)
			break;
	}
	tg_vq_kick(&n->v.vq[1]);
	loop_run(n, seconds * 1000);
	return 0;
}

static int
answerer(struct nic *n, uint64_t count)
{
	struct seen s = { 0 };
	uint64_t answered = 0, t0 = rdtsc();

	while (s.answered < count && rdtsc() - t0 < 60000 * tsc_per_ms) {
		receive(n, 100, &s, NULL);
		if (s.answered != answered)
			tg_printf("net: answered %lu echo requests so far\n",
				  s.answered);
		answered = s.answered;
	}
	receive(n, 1000, &s, NULL);
	answered = s.answered;
	tg_printf("net: answered %lu echo requests, rx %lu tx %lu frames\n",
		  answered, n->rx_frames, n->tx_frames);
	return answered >= count ? 0 : 1;
}

int
tg_net_test(struct tg_pci_dev *devs, int nd)
{
	int pos = -1;
	struct tg_pci_dev *p = tg_virtio_find(devs, nd, 1, &pos);
	uint8_t gw[4] = { 10, 0, 0, 0 }, peer[4] = { 10, 0, 0, 2 };
	struct nic *n;
	uint64_t t0;

	if (!p) {
		tg_printf("net: no virtio-net device\n");
		return 1;
	}
	n = tg_alloc(sizeof(*n));
	if (tg_virtio_init(&n->v, p, 1ull << F_MAC | 1ull << F_STATUS, 2, QSIZE,
			   0x80) < 0)
		return 1;
	for (int i = 0; i < 6; i++)
		n->mac[i] = mmio_read8(n->v.device + (uint64_t)i);
	n->ip[0] = 10;
	n->ip[3] = (uint8_t)tg_arg_u64("ip", 1);
	if (tg_arg("dhcp"))
		n->ip[0] = n->ip[3] = 0;   /* no address until the lease */
	n->tx = tg_alloc(BUFSZ);
	n->txslots = tg_alloc((uint64_t)QSIZE * TXSLOT);
	for (int i = 0; i < RXBUFS; i++)
		n->rx[i] = tg_alloc(BUFSZ);
	if (tg_virtio_start(&n->v) < 0)
		return 1;
	for (int i = 0; i < RXBUFS; i++)
		post_rx(n, i);
	tg_vq_kick(&n->v.vq[0]);
	tsc_per_ms = tg_tsc_per_ms();
	t0 = rdtsc();
	while (!(mmio_read16(n->v.device + 6) & 1)) {
		if (rdtsc() - t0 > 30000 * tsc_per_ms) {
			tg_printf("net: link stayed down\n");
			return 1;
		}
		tg_idle();
	}
	tg_printf("net: link up, mac %02x:%02x:%02x:%02x:%02x:%02x ip %u.%u.%u.%u\n",
		  n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5],
		  n->ip[0], n->ip[1], n->ip[2], n->ip[3]);
	gw[3] = (uint8_t)tg_arg_u64("gw", 0);
	if (tg_arg("dhcp") && dhcp_client(n, gw))
		return 1;
	if ((tg_arg("gw") || tg_arg("dhcp")) && gw[3] &&
	    pinger(n, gw, tg_arg_u64("gwping", 3), NULL))
		return 1;
	if (tg_arg("wan")) {
		uint8_t wan[4];

		if (!parse_ip(tg_arg("wan"), wan) || !gw[3]) {
			tg_printf("net: wan= needs A.B.C.D and a gateway\n");
			return 1;
		}
		if (pinger(n, wan, tg_arg_u64("gwping", 3), gw))
			return 1;
	}
	if (tg_arg("loop"))
		return looper(n, (uint8_t)tg_arg_u64("peer", 2),
			      tg_arg_u64("loop", 3));
	if (tg_arg("ping")) {
		peer[3] = (uint8_t)tg_arg_u64("peer", 2);
		return pinger(n, peer, tg_arg_u64("ping", 5), NULL);
	}
	return answerer(n, tg_arg_u64("answer", 5));
}
