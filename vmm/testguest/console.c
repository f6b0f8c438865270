/* SPDX-License-Identifier: MIT */
/*
 * Test guest virtio-console (one port, no multiport):
 *   console[=S]   says hello on the console, then for up to S seconds
 *                 (default 10) answers every line it receives with
 *                 "echo: LINE"; a line "quit" ends it early.
 * Receive buffers stay posted on queue 0; transmit goes on queue 1 and
 * waits for the device to take it.
 */
#include "virtio.h"

#define RXBUFS 8
#define RXSZ 256
#define LINE_MAX 200

struct con {
	struct tg_virtio v;
	uint8_t *rx[RXBUFS];
	uint8_t *tx;
	uint64_t in, out;
};

static void
post_rx(struct con *c, int i)
{
	struct tg_buf b = { (uint64_t)c->rx[i], RXSZ, true };

	(void)tg_vq_add(&c->v.vq[0], &b, 1);
}

static int
send(struct con *c, const char *s, size_t len)
{
	struct tg_buf b = { (uint64_t)c->tx, (uint32_t)len, false };

	if (len > RXSZ)
		return -1;
	memcpy(c->tx, s, len);
	if (tg_vq_add(&c->v.vq[1], &b, 1) < 0)
		return -1;
	tg_vq_kick(&c->v.vq[1]);
	if (tg_vq_wait(&c->v, &c->v.vq[1], NULL) < 0)
		return -1;
	c->out += len;
	return 0;
}

/* Handles one complete line; true when it was "quit". */
static bool
line(struct con *c, const char *l, size_t n)
{
	char out[LINE_MAX + 16];

	if (n == 4 && !memcmp(l, "quit", 4))
		return true;
	memcpy(out, "echo: ", 6);
	memcpy(out + 6, l, n);
	out[6 + n] = '\n';
	if (send(c, out, 7 + n) < 0)
		tg_printf("console: send failed\n");
	return false;
}

int
tg_console_run(struct tg_pci_dev *devs, int n)
{
	static const char hello[] = "console: hello from the test guest\n";
	uint64_t end, per_ms = tg_tsc_per_ms();
	struct tg_pci_dev *p;
	char buf[LINE_MAX];
	size_t len = 0;
	bool quit = false;
	struct con *c;
	int pos = -1;

	p = tg_virtio_find(devs, n, 3, &pos);
	if (!p) {
		tg_printf("console: no virtio-console device\n");
		return 1;
	}
	c = tg_alloc(sizeof(*c));
	if (tg_virtio_init(&c->v, p, 0, 2, 64, 0xb0) < 0)
		return 1;
	c->tx = tg_alloc(RXSZ);
	for (int i = 0; i < RXBUFS; i++)
		c->rx[i] = tg_alloc(RXSZ);
	if (tg_virtio_start(&c->v) < 0)
		return 1;
	for (int i = 0; i < RXBUFS; i++)
		post_rx(c, i);
	tg_vq_kick(&c->v.vq[0]);
	if (send(c, hello, sizeof(hello) - 1) < 0) {
		tg_printf("console: hello not sent\n");
		return 1;
	}
	tg_printf("console: said hello\n");
	end = rdtsc() + tg_arg_u64("console", 10) * 1000 * per_ms;
	while (!quit && rdtsc() < end) {
		uint32_t got;
		int head = tg_vq_used(&c->v.vq[0], &got);

		if (head < 0) {
			tg_vq_interrupt_after(&c->v.vq[0], 1);
			if (!tg_vq_has_used(&c->v.vq[0]))
				tg_idle();
			continue;
		}
		c->in += got;
		for (uint32_t i = 0; i < got && i < RXSZ && !quit; i++) {
			char ch = (char)c->rx[head][i];

			if (ch == '\r')
				continue;
			if (ch != '\n' && len < LINE_MAX) {
				buf[len++] = ch;
				continue;
			}
			if (ch == '\n') {
				tg_printf("console: got a line of %lu bytes\n",
					  (uint64_t)len);
				quit = line(c, buf, len);
				len = 0;
			}
		}
		post_rx(c, head);
		tg_vq_kick(&c->v.vq[0]);
	}
	tg_printf("console: done, %lu bytes in, %lu out%s\n", c->in, c->out,
		  quit ? ", quit" : "");
	tg_virtio_reset(&c->v);
	return 0;
}
