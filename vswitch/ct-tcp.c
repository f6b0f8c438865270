/* SPDX-License-Identifier: MIT */
/*
 * TCP connection tracking for NAT: a reduced state machine (SYN sent,
 * SYN received, established, one side closed, both closed, reset) and
 * the sequence-window checks of G. van Rooij, "Real Stateful TCP Packet
 * Filtering in IP Filter" (the rules Linux and pf also follow): a segment
 * must start no later than the highest sequence number its receiver
 * allowed, must not end before what its sender already sent minus the
 * receiver's largest window, and must acknowledge nothing the receiver
 * has not sent and nothing older than a window back. Window scale
 * options count only when both SYNs carry one (RFC 7323).
 *
 * Also the timeout table: names, defaults, parsing. Pure code.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"
#include "vswitch/ct.h"
#include "vswitch/vswitch.h"

/* How far back an ACK may lag: at least 66000 bytes, as in Linux. */
#define MAX_ACK_WINDOW_MIN 66000u
#define TIMEOUT_MAX_S 864000u

static const char *const state_names[VSW_CT_STATE_COUNT] = {
	[VSW_CT_TCP_SYN_SENT] = "tcp_syn_sent",
	[VSW_CT_TCP_SYN_RECV] = "tcp_syn_recv",
	[VSW_CT_TCP_ESTABLISHED] = "tcp_established",
	[VSW_CT_TCP_FIN_WAIT] = "tcp_fin_wait",
	[VSW_CT_TCP_TIME_WAIT] = "tcp_time_wait",
	[VSW_CT_TCP_CLOSE] = "tcp_close",
	[VSW_CT_UDP_UNREPLIED] = "udp",
	[VSW_CT_UDP_REPLIED] = "udp_replied",
	[VSW_CT_ICMP] = "icmp",
};

const char *
vsw_ct_state_name(enum vsw_ct_state s)
{
	return (unsigned int)s < VSW_CT_STATE_COUNT ? state_names[s] : "?";
}

void
vsw_ct_timeouts_default(struct vsw_ct_timeouts *t)
{
	t->secs[VSW_CT_TCP_SYN_SENT] = 120;
	t->secs[VSW_CT_TCP_SYN_RECV] = 60;
	t->secs[VSW_CT_TCP_ESTABLISHED] = 7440;
	t->secs[VSW_CT_TCP_FIN_WAIT] = 120;
	t->secs[VSW_CT_TCP_TIME_WAIT] = 120;
	t->secs[VSW_CT_TCP_CLOSE] = 10;
	t->secs[VSW_CT_UDP_UNREPLIED] = 30;
	t->secs[VSW_CT_UDP_REPLIED] = 120;
	t->secs[VSW_CT_ICMP] = 30;
}

int
vsw_ct_timeouts_parse(const char *s, struct vsw_ct_timeouts *t, char *err,
		      size_t errlen)
{
	char buf[512], *save = NULL, *item;

	if (strlen(s) >= sizeof(buf)) {
		snprintf(err, errlen, "timeout list too long");
		return -EINVAL;
	}
	strcpy(buf, s);
	for (item = strtok_r(buf, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '='), *end;
		unsigned long v;
		int found = -1;

		if (!eq) {
			snprintf(err, errlen, "'%.40s': want NAME=SECONDS", item);
			return -EINVAL;
		}
		*eq = '\0';
		for (int i = 0; i < VSW_CT_STATE_COUNT; i++)
			if (!strcmp(item, state_names[i]))
				found = i;
		v = strtoul(eq + 1, &end, 10);
		if (found < 0) {
			snprintf(err, errlen, "unknown timeout '%.40s' (tcp_syn_sent, "
				 "tcp_syn_recv, tcp_established, tcp_fin_wait, "
				 "tcp_time_wait, tcp_close, udp, udp_replied, icmp)",
				 item);
			return -EINVAL;
		}
		if (eq[1] < '0' || eq[1] > '9' || *end || v < 1 ||
		    v > TIMEOUT_MAX_S) {
			snprintf(err, errlen, "timeout %s must be 1..%u seconds",
				 item, TIMEOUT_MAX_S);
			return -EINVAL;
		}
		t->secs[found] = (uint32_t)v;
	}
	return 0;
}

int
vsw_ct_timeouts_check(const char *s, char *err, size_t errlen)
{
	struct vsw_ct_timeouts t;

	vsw_ct_timeouts_default(&t);
	return vsw_ct_timeouts_parse(s, &t, err, errlen);
}

/* ---- segments ---- */

static int8_t
syn_wscale(const uint8_t *tcp, unsigned int doff)
{
	unsigned int i = 20;

	while (i < doff) {
		uint8_t kind = tcp[i];

		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= doff || tcp[i + 1] < 2 || i + tcp[i + 1] > doff)
			break;
		if (kind == 3 && tcp[i + 1] == 3)
			return (int8_t)MIN(tcp[i + 2], 14);
		i += tcp[i + 1];
	}
	return -1;
}

int
vsw_tcp_seg_parse(const struct vsw_ip_pkt *p, struct vsw_tcp_seg *s)
{
	unsigned int doff;

	if (p->proto != VSW_IPPROTO_TCP || p->l4_len < 20)
		return -EINVAL;
	doff = (unsigned int)(p->l4[12] >> 4) * 4;
	if (doff < 20 || doff > p->l4_len)
		return -EINVAL;
	s->seq = vsw_get32(p->l4 + 4);
	s->ack = vsw_get32(p->l4 + 8);
	s->flags = p->l4[13];
	s->win = vsw_get16(p->l4 + 14);
	s->len = p->l4_len - doff + !!(s->flags & VSW_TCP_SYN) +
		 !!(s->flags & VSW_TCP_FIN);
	s->wscale = (s->flags & VSW_TCP_SYN) ? syn_wscale(p->l4, doff) : -1;
	return 0;
}

/* ---- tracking ---- */

static inline bool
before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool
after(uint32_t a, uint32_t b)
{
	return before(b, a);
}

static bool
flags_valid(uint8_t f)
{
	if ((f & VSW_TCP_SYN) && (f & (VSW_TCP_RST | VSW_TCP_FIN)))
		return false;
	if (!(f & (VSW_TCP_SYN | VSW_TCP_ACK | VSW_TCP_RST)))
		return false;
	if ((f & VSW_TCP_FIN) && !(f & VSW_TCP_ACK))
		return false;
	return true;
}

static void
dir_init(struct vsw_tcp_dir *d, const struct vsw_tcp_seg *s)
{
	d->end = d->maxend = s->seq + s->len;
	d->maxwin = s->win ? s->win : 1;
	d->wscale = s->wscale;
	d->seen = true;
	d->fin = false;
}

static enum vsw_tcp_verdict
windows(struct vsw_tcp_track *t, int dir, const struct vsw_tcp_seg *s)
{
	struct vsw_tcp_dir *snd = &t->d[dir], *rcv = &t->d[!dir];
	uint32_t seq = s->seq, end = s->seq + s->len, ack, win = s->win;
	uint32_t maxack;

	if (!rcv->seen)
		return VSW_TCP_OK; /* nothing to check against yet */
	ack = (s->flags & VSW_TCP_ACK) ? s->ack : rcv->end;
	maxack = MAX(snd->maxwin, MAX_ACK_WINDOW_MIN);
	if (!(!after(seq, snd->maxend) &&
	      after(end, snd->end - rcv->maxwin - 1) &&
	      !after(ack, rcv->end) &&
	      after(ack, rcv->end - maxack - 1)))
		return VSW_TCP_OUT_OF_WINDOW;
	if (!(s->flags & VSW_TCP_SYN) && snd->wscale > 0 && rcv->wscale >= 0)
		win <<= snd->wscale; /* both SYNs carried the option */
	if (snd->maxwin < win)
		snd->maxwin = win;
	if (rcv->maxwin && after(end, snd->maxend))
		rcv->maxwin += end - snd->maxend;
	if (after(end, snd->end))
		snd->end = end;
	if (s->flags & VSW_TCP_ACK) {
		if (after(ack + win, rcv->maxend - 1)) {
			rcv->maxend = ack + win;
			if (win == 0)
				rcv->maxend++;
		}
	}
	return VSW_TCP_OK;
}

enum vsw_tcp_verdict
vsw_tcp_track_segment(struct vsw_tcp_track *t, uint8_t *state, int dir,
		      const struct vsw_tcp_seg *s)
{
	struct vsw_tcp_dir *snd = &t->d[dir], *rcv = &t->d[!dir];
	uint8_t f = s->flags;
	enum vsw_tcp_verdict v;

	if (!flags_valid(f))
		return VSW_TCP_BAD_FLAGS;
	if (*state >= VSW_CT_STATE_COUNT ||
	    ((*state == VSW_CT_TCP_TIME_WAIT || *state == VSW_CT_TCP_CLOSE) &&
	     dir == 0 && (f & VSW_TCP_SYN) && !(f & VSW_TCP_ACK))) {
		/* A new connection, or the same ports opened again. */
		if (dir != 0 || (f & (VSW_TCP_SYN | VSW_TCP_ACK)) != VSW_TCP_SYN)
			return VSW_TCP_NOT_SYN;
		memset(t, 0, sizeof(*t));
		dir_init(&t->d[0], s);
		t->d[1].wscale = -1;
		*state = VSW_CT_TCP_SYN_SENT;
		return VSW_TCP_OK;
	}
	if (f & VSW_TCP_SYN) {
		if (!snd->seen || (after(s->seq + s->len, snd->end) &&
				   ((*state == VSW_CT_TCP_SYN_SENT && dir == 0) ||
				    (*state == VSW_CT_TCP_SYN_RECV && dir == 1)))) {
			/*
			 * The answering SYN, or a SYN sent again with a new
			 * ISN. Its scale option counts only if the other SYN
			 * had one too (windows() looks at both).
			 */
			dir_init(snd, s);
		}
	} else if (!snd->seen) {
		/* The answering side spoke first without a SYN. */
		return VSW_TCP_OUT_OF_WINDOW;
	}
	v = windows(t, dir, s);
	if (v != VSW_TCP_OK)
		return v;
	if (f & VSW_TCP_RST) {
		*state = VSW_CT_TCP_CLOSE;
		return VSW_TCP_OK;
	}
	switch (*state) {
	case VSW_CT_TCP_SYN_SENT:
		if (dir == 1 && (f & VSW_TCP_SYN))
			*state = VSW_CT_TCP_SYN_RECV;
		break;
	case VSW_CT_TCP_SYN_RECV:
		if (dir == 0 && (f & VSW_TCP_ACK) && !(f & VSW_TCP_SYN))
			*state = VSW_CT_TCP_ESTABLISHED;
		break;
	default:
		break;
	}
	if (f & VSW_TCP_FIN) {
		snd->fin = true;
		*state = rcv->fin ? VSW_CT_TCP_TIME_WAIT : VSW_CT_TCP_FIN_WAIT;
	}
	return VSW_TCP_OK;
}
