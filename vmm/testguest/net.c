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
#define TXSLOT 256          /* one per TX descriptor: header + frame */
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
};

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


static int
pinger(struct nic *n, uint8_t peer, uint64_t count)
{
	uint8_t pip[4] = { 10, 0, 0, peer }, payload[56];
	struct seen s = { 0 };
	uint64_t replies = 0, tries = 0;

	for (int i = 0; i < 56; i++)
		payload[i] = (uint8_t)i;
	while (!s.arp_reply && tries++ < 400) {
		send_arp(n, 1, NULL, pip);
		receive(n, 50, &s, got_arp);
	}
	if (!s.arp_reply) {
		tg_printf("net: no ARP reply from 10.0.0.%u\n", peer);
		return 1;
	}
	tg_printf("net: 10.0.0.%u is at %02x:%02x:%02x:%02x:%02x:%02x\n", peer,
		  s.peer_mac[0], s.peer_mac[1], s.peer_mac[2], s.peer_mac[3],
		  s.peer_mac[4], s.peer_mac[5]);
	for (uint16_t seq = 1; replies < count && seq < 2000; seq++) {
		s.echo_reply = false;
		send_icmp(n, s.peer_mac, pip, 8, 0x7467, seq, payload, 56);
		/* One request per 50 ms slot, answered or not. */
		receive(n, 50, &s, NULL);
		if (s.echo_reply && s.seq == seq) {
			replies++;
			tg_printf("net: echo reply seq %u\n", seq);
		}
	}
	tg_printf("net: %lu/%lu echo replies, rx %lu tx %lu frames\n", replies,
		  count, n->rx_frames, n->tx_frames);
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
	tg_printf("net: link up, mac %02x:%02x:%02x:%02x:%02x:%02x ip 10.0.0.%u\n",
		  n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5],
		  n->ip[3]);
	if (tg_arg("loop"))
		return looper(n, (uint8_t)tg_arg_u64("peer", 2),
			      tg_arg_u64("loop", 3));
	if (tg_arg("ping"))
		return pinger(n, (uint8_t)tg_arg_u64("peer", 2),
			      tg_arg_u64("ping", 5));
	return answerer(n, tg_arg_u64("answer", 5));
}
