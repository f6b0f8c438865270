/* SPDX-License-Identifier: MIT */
/*
 * A 16550-compatible UART at COM1 (0x3f8, IRQ 4), enough for a Linux
 * console and the test guest: transmit goes straight to the back end
 * (chardev.c: stdio, a file, or the client of a listening Unix socket),
 * receive comes from stdin or that client through the event loop, paused
 * while the 64-byte FIFO is full. Loopback mode answers the kernel's
 * probe.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vmm-internal.h"

#define UART_IER_RDI 0x01
#define UART_IER_THRI 0x02
#define UART_IIR_NONE 0x01
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI 0x04
#define UART_IIR_FIFO 0xc0
#define UART_LCR_DLAB 0x80
#define UART_MCR_LOOP 0x10
#define UART_MCR_OUT2 0x08
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define RX_FIFO 64

struct vmm_serial {
	struct vmm_vm *vm;
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thre_pending;
	int irq_level;
	uint8_t rx[RX_FIFO];
	unsigned int rx_head, rx_len;
	struct vmm_chardev cd;
};

static void
update_irq(struct vmm_serial *s)
{
	bool rx = (s->ier & UART_IER_RDI) && s->rx_len;
	bool tx = (s->ier & UART_IER_THRI) && s->thre_pending;
	int level = rx || tx;

	if (level != s->irq_level) {
		s->irq_level = level;
		vmm_irq_line(s->vm, VMM_IRQ_COM1, level);
	}
}

static void
rx_push(struct vmm_serial *s, uint8_t c)
{
	if (s->rx_len == RX_FIFO)
		return;
	s->rx[(s->rx_head + s->rx_len) % RX_FIFO] = c;
	s->rx_len++;
}

static void
tx_byte(struct vmm_serial *s, uint8_t c)
{
	if (s->mcr & UART_MCR_LOOP) {
		rx_push(s, c);
		return;
	}
	vmm_chardev_write(&s->cd, &c, 1);
}

static uint8_t
reg_read(struct vmm_serial *s, uint64_t off)
{
	uint8_t v;

	switch (off) {
	case 0:
		if (s->lcr & UART_LCR_DLAB)
			return s->dll;
		if (!s->rx_len)
			return 0;
		v = s->rx[s->rx_head];
		s->rx_head = (s->rx_head + 1) % RX_FIFO;
		if (s->rx_len-- == RX_FIFO)
			vmm_chardev_pause_input(&s->cd, false);
		return v;
	case 1:
		return (s->lcr & UART_LCR_DLAB) ? s->dlm : s->ier;
	case 2:
		v = (s->fcr & 1) ? UART_IIR_FIFO : 0;
		if ((s->ier & UART_IER_RDI) && s->rx_len)
			return v | UART_IIR_RDI;
		if ((s->ier & UART_IER_THRI) && s->thre_pending) {
			s->thre_pending = false; /* reading IIR clears THRI */
			return v | UART_IIR_THRI;
		}
		return v | UART_IIR_NONE;
	case 3:
		return s->lcr;
	case 4:
		return s->mcr;
	case 5:
		return UART_LSR_THRE | UART_LSR_TEMT |
		       (s->rx_len ? UART_LSR_DR : 0);
	case 6:
		if (s->mcr & UART_MCR_LOOP) {
			uint8_t m = s->mcr;

			return (uint8_t)(((m & 1) << 5) | ((m & 2) << 3) |
					 ((m & 4) << 4) | ((m & 8) << 4));
		}
		return 0xb0; /* DCD, DSR, CTS */
	default:
		return s->scr;
	}
}

static void
reg_write(struct vmm_serial *s, uint64_t off, uint8_t v)
{
	switch (off) {
	case 0:
		if (s->lcr & UART_LCR_DLAB) {
			s->dll = v;
			return;
		}
		tx_byte(s, v);
		s->thre_pending = true;
		break;
	case 1:
		if (s->lcr & UART_LCR_DLAB) {
			s->dlm = v;
			return;
		}
		if ((v & UART_IER_THRI) && !(s->ier & UART_IER_THRI))
			s->thre_pending = true;
		s->ier = v & 0x0f;
		break;
	case 2:
		s->fcr = v;
		if (v & 2)
			s->rx_len = 0;
		break;
	case 3:
		s->lcr = v;
		break;
	case 4:
		s->mcr = v & 0x1f;
		break;
	case 7:
		s->scr = v;
		break;
	default:
		break;
	}
}

static void
serial_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	  bool is_write)
{
	struct vmm_serial *s = opaque;

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len && off + i < 8; i++) {
		if (is_write)
			reg_write(s, off + i, data[i]);
		else
			data[i] = reg_read(s, off + i);
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void
serial_input(void *opaque)
{
	struct vmm_serial *s = opaque;
	uint8_t buf[RX_FIFO];
	ssize_t n;

	pthread_mutex_lock(&s->lock);
	n = vmm_chardev_read(&s->cd, buf, RX_FIFO - s->rx_len);
	for (ssize_t i = 0; i < n; i++)
		rx_push(s, buf[i]);
	/* A full FIFO: wait until the guest reads before taking more. */
	if (s->rx_len == RX_FIFO)
		vmm_chardev_pause_input(&s->cd, true);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

int
vmm_serial_create(struct vmm_vm *vm, struct vmm_serial **out)
{
	const struct vmm_config *cfg = vm->cfg;
	struct vmm_serial *s;
	int err = 0;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->vm = vm;
	pthread_mutex_init(&s->lock, NULL);
	err = vmm_chardev_open(&s->cd, vm, cfg->serial, cfg->serial_path,
			       serial_input, s);
	if (err == 0)
		err = vmm_bus_add(&vm->pio, VMM_PORT_COM1, 8, serial_io, s);
	if (err < 0) {
		log_err("vmm.serial", "serial %s: %s",
			cfg->serial_path ? cfg->serial_path : "stdio",
			strerror(-err));
		vmm_serial_destroy(s);
		return err;
	}
	*out = s;
	return 0;
}

void
vmm_serial_destroy(struct vmm_serial *s)
{
	if (!s)
		return;
	vmm_chardev_close(&s->cd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
