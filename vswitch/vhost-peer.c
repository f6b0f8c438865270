/* SPDX-License-Identifier: MIT */
/*
 * vswitch-vhost-peer: a minimal vhost-user front end (the role a VMM
 * plays) for the switch's tests. It serves SOCKET, lets the switch
 * connect as its back end, shares 4 MiB of memory, sets up one queue
 * pair of split virtqueues and then, as "good", sends broadcast frames
 * until its time is up, or, as "hostile", places descriptors no correct
 * driver would: addresses outside the shared memory, lengths running past
 * its end, chains that loop or point outside the table, heads past the
 * queue size, bad indirect tables, an avail index far ahead, on both the
 * queue the switch reads (guest TX) and the one it writes (guest RX),
 * each followed by good frames. The host side of the test checks that
 * the switch survived, kept forwarding between its other ports, and took
 * the good frames sent after the bad ones.
 *
 *   vswitch-vhost-peer SOCKET good|hostile SECONDS
 *
 * Prints what it sent and saw; exits 0, or 1 when the switch stopped
 * taking this peer's good frames (or never connected).
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"

/* vhost-user requests used here (the protocol's numbering). */
enum {
	GET_FEATURES = 1,
	SET_FEATURES = 2,
	SET_OWNER = 3,
	SET_MEM_TABLE = 5,
	SET_VRING_NUM = 8,
	SET_VRING_ADDR = 9,
	SET_VRING_BASE = 10,
	GET_VRING_BASE = 11,
	SET_VRING_KICK = 12,
	SET_VRING_CALL = 13,
};

#define F_VERSION_1 32
#define F_INDIRECT 28

#define MEM_BYTES (4u << 20)
#define QSIZE 256
#define BUF_BYTES 2048
#define HDR_BYTES 12 /* virtio_net_hdr with VERSION_1 */
#define FRAME_BYTES 60

#define D_NEXT 1
#define D_WRITE 2
#define D_INDIRECT 4

struct msg {
	uint32_t req, flags, size;
	union {
		uint64_t u64;
		struct {
			uint32_t index, num;
		} state;
		struct {
			uint32_t index, flags;
			uint64_t desc, used, avail, log;
		} addr;
		struct {
			uint32_t nregions, pad;
			struct {
				uint64_t gpa, size, uaddr, offset;
			} r[8];
		} mem;
	};
} __attribute__((packed));

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct vq {
	struct desc *desc;
	struct {
		uint16_t flags;
		_Atomic uint16_t idx;
		uint16_t ring[QSIZE];
	} *avail;
	struct {
		uint16_t flags;
		_Atomic uint16_t idx;
		struct {
			uint32_t id, len;
		} ring[QSIZE];
	} *used;
	uint16_t next_avail;
	int kick, call;
	uint64_t off; /* of the descriptor table in the shared memory */
};

static uint8_t *mem;
static struct vq vq[2]; /* 0: guest RX (the switch writes), 1: guest TX */

static void
die(const char *what)
{
	fprintf(stderr, "vhost-peer: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
send_msg(int fd, uint32_t req, const void *body, uint32_t size, int pass_fd)
{
	struct msg m = { .req = req, .flags = 1, .size = size };
	struct iovec iov = { .iov_base = &m, .iov_len = 12 + size };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (size)
		memcpy(&m.u64, body, size);
	if (pass_fd >= 0) {
		struct cmsghdr *c;

		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	if (sendmsg(fd, &mh, 0) != (ssize_t)(12 + size))
		die("send");
}

static uint64_t
get_u64(int fd, uint32_t req)
{
	struct msg m;

	send_msg(fd, req, NULL, 0, -1);
	if (recv(fd, &m, 12 + 8, MSG_WAITALL) != 20 || m.req != req)
		die("reply");
	return m.u64;
}

static void
set_u64(int fd, uint32_t req, uint64_t v, int pass_fd)
{
	send_msg(fd, req, &v, 8, pass_fd);
}

static void
vq_setup(int fd, int q, uint64_t off)
{
	struct vq *v = &vq[q];
	struct msg m;

	v->off = off;
	v->desc = (struct desc *)(mem + off);
	v->avail = (void *)(mem + off + 0x1000);
	v->used = (void *)(mem + off + 0x2000);
	v->kick = eventfd(0, EFD_NONBLOCK);
	v->call = eventfd(0, EFD_NONBLOCK);
	if (v->kick < 0 || v->call < 0)
		die("eventfd");
	m.state.index = (uint32_t)q;
	m.state.num = QSIZE;
	send_msg(fd, SET_VRING_NUM, &m.state, sizeof(m.state), -1);
	m.state.num = 0;
	send_msg(fd, SET_VRING_BASE, &m.state, sizeof(m.state), -1);
	memset(&m.addr, 0, sizeof(m.addr));
	m.addr.index = (uint32_t)q;
	m.addr.desc = (uint64_t)(uintptr_t)v->desc;
	m.addr.avail = (uint64_t)(uintptr_t)v->avail;
	m.addr.used = (uint64_t)(uintptr_t)v->used;
	send_msg(fd, SET_VRING_ADDR, &m.addr, sizeof(m.addr), -1);
	set_u64(fd, SET_VRING_CALL, (uint64_t)q, v->call);
	set_u64(fd, SET_VRING_KICK, (uint64_t)q, v->kick);
}

/*
 * Stops both queues (GET_VRING_BASE, as a VMM does when its guest resets
 * the device) and sets them up again, empty: a guest's way out of a
 * queue the back end gave up on.
 */
static void
queues_reset(int fd)
{
	for (int q = 0; q < 2; q++) {
		struct msg m = { .req = GET_VRING_BASE, .flags = 1, .size = 8 };

		m.state.index = (uint32_t)q;
		m.state.num = 0;
		send_msg(fd, GET_VRING_BASE, &m.state, sizeof(m.state), -1);
		if (recv(fd, &m, 12 + 8, MSG_WAITALL) != 20 ||
		    m.req != GET_VRING_BASE)
			die("GET_VRING_BASE reply");
	}
	for (int q = 0; q < 2; q++) {
		close(vq[q].kick);
		close(vq[q].call);
		memset(mem + vq[q].off, 0, 0x3000);
		vq[q].next_avail = 0;
		vq_setup(fd, q, vq[q].off);
	}
}

/* Publishes descriptor 'head' in the avail ring and kicks. */
static void
vq_post(struct vq *v, uint16_t head)
{
	uint64_t one = 1;

	v->avail->ring[v->next_avail % QSIZE] = head;
	v->next_avail++;
	atomic_store_explicit(&v->avail->idx, v->next_avail,
			      memory_order_release);
	if (write(v->kick, &one, 8) < 0 && errno != EAGAIN)
		die("kick");
}

static uint16_t
vq_used(struct vq *v)
{
	return atomic_load_explicit(&v->used->idx, memory_order_acquire);
}

/* Buffers: TX at 1 MiB, RX at 2 MiB, one per descriptor index. */
static uint64_t
tx_buf(uint16_t i)
{
	return (1u << 20) + (uint64_t)i * BUF_BYTES;
}

static uint64_t
rx_buf(uint16_t i)
{
	return (2u << 20) + (uint64_t)(i % QSIZE) * BUF_BYTES;
}

static const uint8_t my_mac_good[6] = { 0x02, 0x76, 0x68, 0, 0, 0x01 };
static const uint8_t my_mac_hostile[6] = { 0x02, 0x76, 0x68, 0, 0, 0x02 };

/* One broadcast frame from 'src' in descriptor 'i' of the TX queue. */
static void
tx_good(uint16_t i, const uint8_t *src)
{
	struct vq *v = &vq[1];
	uint8_t *p = mem + tx_buf(i);

	memset(p, 0, HDR_BYTES + FRAME_BYTES);
	memset(p + HDR_BYTES, 0xff, 6);
	memcpy(p + HDR_BYTES + 6, src, 6);
	p[HDR_BYTES + 12] = 0x88; /* local experimental ethertype */
	p[HDR_BYTES + 13] = 0xb5;
	v->desc[i] = (struct desc){ tx_buf(i), HDR_BYTES + FRAME_BYTES, 0, 0 };
	vq_post(v, i);
}

/* Waits until the switch used everything posted on 'v'. */
static bool
drained(struct vq *v, int ms)
{
	uint64_t end = clock_mono_ns() + (uint64_t)ms * NS_PER_MS;

	while (clock_mono_ns() < end) {
		if (vq_used(v) == v->next_avail)
			return true;
		usleep(1000);
	}
	return false;
}

/* Good RX buffers for 'n' entries starting at descriptor 'first'. */
static void
rx_post_good(uint16_t first, int n)
{
	for (int k = 0; k < n; k++) {
		uint16_t i = (uint16_t)((first + k) % QSIZE);

		vq[0].desc[i] = (struct desc){ rx_buf(i), BUF_BYTES, D_WRITE, 0 };
		vq_post(&vq[0], i);
	}
}

static int lfd = -1;

/* Serves 'path' (first call) and waits for the switch to connect. */
static int
accept_switch(const char *path, int seconds)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct pollfd pfd;
	int fd;

	if (lfd < 0) {
		if (strlen(path) >= sizeof(a.sun_path)) {
			fprintf(stderr, "vhost-peer: socket path too long\n");
			exit(2);
		}
		strcpy(a.sun_path, path);
		unlink(path);
		lfd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    listen(lfd, 1) < 0)
			die("listen");
	}
	pfd = (struct pollfd){ .fd = lfd, .events = POLLIN };
	if (poll(&pfd, 1, seconds * 1000) != 1) {
		fprintf(stderr, "vhost-peer: the switch did not connect\n");
		exit(1);
	}
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		die("accept");
	return fd;
}

static void
negotiate(int fd)
{
	uint64_t want = (1ull << F_VERSION_1) | (1ull << F_INDIRECT);
	uint64_t have = get_u64(fd, GET_FEATURES);
	static int memfd = -1;
	struct msg m;

	set_u64(fd, SET_OWNER, 0, -1);
	set_u64(fd, SET_FEATURES, have & want, -1);
	if (memfd < 0) {
		memfd = memfd_create("vhost-peer", 0);
		if (memfd < 0 || ftruncate(memfd, MEM_BYTES) < 0)
			die("memfd");
		mem = mmap(NULL, MEM_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
			   memfd, 0);
		if (mem == MAP_FAILED)
			die("mmap");
	} else {
		/* A new back end: the rings start over, empty. */
		for (int q = 0; q < 2; q++) {
			close(vq[q].kick);
			close(vq[q].call);
			memset(mem + vq[q].off, 0, 0x3000);
			vq[q].next_avail = 0;
		}
	}
	memset(&m.mem, 0, sizeof(m.mem));
	m.mem.nregions = 1;
	m.mem.r[0].gpa = 0;
	m.mem.r[0].size = MEM_BYTES;
	m.mem.r[0].uaddr = (uint64_t)(uintptr_t)mem;
	send_msg(fd, SET_MEM_TABLE, &m.mem, 8 + sizeof(m.mem.r[0]) * 8, memfd);
	vq_setup(fd, 0, 0);
	vq_setup(fd, 1, 0x4000);
}

/* Hostile guest TX entries; each returns the descriptor it posted. */
static void
hostile_tx(const char *name, uint16_t base)
{
	struct vq *v = &vq[1];
	struct desc *d = v->desc;
	uint16_t i = base;

	if (!strcmp(name, "desc-outside-memory")) {
		d[i] = (struct desc){ 1ull << 40, 64, 0, 0 };
	} else if (!strcmp(name, "len-past-end")) {
		d[i] = (struct desc){ MEM_BYTES - 16, 0xffffffffu, 0, 0 };
	} else if (!strcmp(name, "addr-wraps")) {
		d[i] = (struct desc){ UINT64_MAX - 7, 64, 0, 0 };
	} else if (!strcmp(name, "chain-loop")) {
		d[i] = (struct desc){ tx_buf(i), 16, D_NEXT, i };
	} else if (!strcmp(name, "next-out-of-range")) {
		d[i] = (struct desc){ tx_buf(i), 16, D_NEXT, 40000 };
	} else if (!strcmp(name, "head-out-of-range")) {
		v->avail->ring[v->next_avail % QSIZE] = 40000;
		v->next_avail++;
		atomic_store(&v->avail->idx, v->next_avail);
		return;
	} else if (!strcmp(name, "indirect-outside-memory")) {
		d[i] = (struct desc){ 1ull << 40, 16 * 4, D_INDIRECT, 0 };
	} else if (!strcmp(name, "indirect-bad-length")) {
		struct desc *t = (struct desc *)(mem + tx_buf(i));

		t[0] = (struct desc){ tx_buf(i) + 512, 64, 0, 0 };
		d[i] = (struct desc){ tx_buf(i), 17, D_INDIRECT, 0 };
	} else if (!strcmp(name, "indirect-loop")) {
		struct desc *t = (struct desc *)(mem + tx_buf(i));

		t[0] = (struct desc){ tx_buf(i) + 512, 8, D_NEXT, 1 };
		t[1] = (struct desc){ tx_buf(i) + 512, 8, D_NEXT, 0 };
		d[i] = (struct desc){ tx_buf(i), 32, D_INDIRECT, 0 };
	} else if (!strcmp(name, "indirect-nested")) {
		struct desc *t = (struct desc *)(mem + tx_buf(i));

		t[0] = (struct desc){ tx_buf(i), 16, D_INDIRECT, 0 };
		d[i] = (struct desc){ tx_buf(i), 16, D_INDIRECT, 0 };
	} else if (!strcmp(name, "long-chain")) {
		/* The descriptors below 'base' in one endless ring of 1-byte
		 * pieces (the good frames after it sit above 'base'). */
		for (uint16_t k = 0; k < base; k++)
			d[k] = (struct desc){ tx_buf(k), 1, D_NEXT,
					      (uint16_t)((k + 1) % base) };
		i = 0;
	}
	vq_post(v, i);
}

static const char *const tx_scenarios[] = {
	"desc-outside-memory", "len-past-end", "addr-wraps", "chain-loop",
	"next-out-of-range", "head-out-of-range", "indirect-outside-memory",
	"indirect-bad-length", "indirect-loop", "indirect-nested",
	"long-chain",
};

/* Guest RX buffers the switch must not write through. */
static void
hostile_rx(uint16_t i, int kind)
{
	static const struct desc bad[] = {
		{ 1ull << 40, BUF_BYTES, D_WRITE, 0 },
		{ MEM_BYTES - 64, 0xffffffffu, D_WRITE, 0 },
		{ UINT64_MAX - 7, BUF_BYTES, D_WRITE, 0 },
		{ 0, 0, D_WRITE | D_NEXT, 0 }, /* loop, fixed up below */
		{ 0, 4, D_WRITE, 0 },          /* smaller than the header */
	};

	vq[0].desc[i] = bad[kind % 5];
	if (kind % 5 == 3)
		vq[0].desc[i] = (struct desc){ rx_buf(i), 8, D_WRITE | D_NEXT, i };
	if (kind % 5 == 4)
		vq[0].desc[i].addr = rx_buf(i);
	vq_post(&vq[0], i);
}

/* Four good frames from descriptor 'd' on; true when the switch took them. */
static bool
good_batch(uint16_t d, int wait_ms)
{
	for (int k = 0; k < 4; k++)
		tx_good((uint16_t)(d + k), my_mac_hostile);
	return drained(&vq[1], wait_ms);
}

static int
run_hostile(int fd, int seconds)
{
	size_t n = sizeof(tx_scenarios) / sizeof(tx_scenarios[0]);
	int good = 0, skipped = 0, stopped = 0, rx_used = 0;

	for (size_t s = 0; s < n; s++) {
		uint16_t d = 100;

		/* A fresh queue pair per scenario, as after a guest reset. */
		if (s)
			queues_reset(fd);
		/* Guest RX: a bad buffer between good ones, for the frames
		 * the other ports flood here. */
		rx_post_good(0, 1);
		hostile_rx(1, (int)s);
		rx_post_good(2, 6);
		if (!good_batch(d, 5000)) {
			fprintf(stderr, "vhost-peer: %s: good frames on a fresh "
				"queue not taken\n", tx_scenarios[s]);
			return 1;
		}
		good += 4;
		d += 4;
		hostile_tx(tx_scenarios[s], d++);
		/* Taken in microseconds when the switch goes on at all. */
		if (good_batch(d, 300)) {
			good += 4;
			skipped++;
			printf("%-24s skipped; the good frames after it taken\n",
			       tx_scenarios[s]);
		} else {
			stopped++;
			printf("%-24s the queue stops there until the guest "
			       "resets it\n", tx_scenarios[s]);
		}
		rx_used += vq_used(&vq[0]);
	}
	printf("hostile: %zu scenarios (%d skipped, %d stopped the queue), "
	       "%d good frames taken, guest RX buffers used %d\n", n, skipped,
	       stopped, good, rx_used);
	/* Stay connected while the test looks at the switch. */
	sleep((unsigned int)seconds);
	return 0;
}

/* True when the switch closed the connection (it died or went away). */
static bool
switch_gone(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&pfd, 1, 0) == 1 &&
	       recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/*
 * Sends a broadcast every 100 us and recycles receive buffers. When the
 * switch goes away (kill -9) it waits for it to connect again, sets up
 * afresh, and prints how long after the loss the first frame came in
 * ("back after N ms"): a restarted switch's outage as a VM sees it.
 */
static int
run_good(const char *path, int fd, int seconds)
{
	uint64_t end = clock_mono_ns() + (uint64_t)seconds * NS_PER_SEC;
	uint64_t sent = 0, lost_at = 0, iter = 0;
	uint16_t d = 0, rx_seen = 0;

	rx_post_good(0, QSIZE);
	while (clock_mono_ns() < end) {
		if (++iter % 64 == 0 && switch_gone(fd)) {
			lost_at = clock_mono_ns();
			printf("good peer: the switch went away\n");
			close(fd);
			fd = accept_switch(path, seconds);
			negotiate(fd);
			d = 0;
			rx_seen = 0;
			rx_post_good(0, QSIZE);
			continue;
		}
		/* At most half the queue in flight; a frame every 100 us. */
		if ((uint16_t)(vq[1].next_avail - vq_used(&vq[1])) < QSIZE / 2) {
			tx_good(d, my_mac_good);
			d = (uint16_t)((d + 1) % QSIZE);
			sent++;
		}
		if (lost_at && vq_used(&vq[0]) != rx_seen) {
			printf("good peer: frames back %llu ms after the switch "
			       "went away\n", (unsigned long long)
			       ((clock_mono_ns() - lost_at) / NS_PER_MS));
			lost_at = 0;
		}
		rx_seen = vq_used(&vq[0]);
		/* Recycle what the switch wrote into our RX buffers. */
		while ((uint16_t)(vq[0].next_avail - vq_used(&vq[0])) < QSIZE)
			rx_post_good(vq[0].next_avail, 1);
		usleep(100);
	}
	printf("good: sent %llu frames\n", (unsigned long long)sent);
	return 0;
}

int
main(int argc, char **argv)
{
	int fd, seconds;

	if (argc != 4 || (strcmp(argv[2], "good") && strcmp(argv[2], "hostile"))) {
		fprintf(stderr, "usage: vswitch-vhost-peer SOCKET good|hostile "
			"SECONDS\n");
		return 2;
	}
	seconds = atoi(argv[3]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	fd = accept_switch(argv[1], seconds + 30);
	negotiate(fd);
	printf("%s peer: connected\n", argv[2]);
	/* Give the switch's data plane the device before frames come. */
	usleep(300 * 1000);
	return !strcmp(argv[2], "good") ? run_good(argv[1], fd, seconds)
					: run_hostile(fd, seconds);
}
