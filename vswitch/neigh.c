/* SPDX-License-Identifier: MIT */
/*
 * The ARP cache of lab-network gateways and routed uplinks: (interface,
 * IPv4) -> MAC, learned from ARP and DHCP, resolved on demand with ARP
 * requests (one a second, three tries) while up to a few frames wait.
 * A fixed set-associative table: 1024 sets of 4; a full set gives up its
 * oldest entry. Entries stay good for 5 minutes after they were last
 * confirmed. Data plane only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vswitch/vsw-internal.h"

#include <rte_hash_crc.h>
#include <rte_mbuf.h>

#define SETS 1024
#define WAYS 4
#define HOLD_MAX 8
#define TRIES 3
#define REACHABLE_S 300

enum { FREE, INCOMPLETE, REACHABLE };

struct neigh {
	uint32_t ip;
	uint16_t ifc;
	uint8_t state;
	uint8_t tries;
	uint8_t mac[6];
	uint8_t nheld;
	uint64_t expires;            /* REACHABLE until; INCOMPLETE: next try */
	uint64_t touched;
	struct rte_mbuf *held[HOLD_MAX];
};

struct vsw_neigh {
	uint64_t tsc_hz;
	uint64_t gen;
	uint32_t tick_set;
	struct neigh e[SETS][WAYS];
};

int
vsw_neigh_create(uint64_t tsc_hz, struct vsw_neigh **out)
{
	struct vsw_neigh *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->tsc_hz = tsc_hz;
	*out = t;
	return 0;
}

static void
release(struct vsw_neigh *t, struct neigh *n)
{
	for (unsigned int i = 0; i < n->nheld; i++)
		rte_pktmbuf_free(n->held[i]);
	n->nheld = 0;
	n->state = FREE;
	t->gen++;
}

void
vsw_neigh_destroy(struct vsw_neigh *t)
{
	if (!t)
		return;
	for (unsigned int s = 0; s < SETS; s++)
		for (unsigned int w = 0; w < WAYS; w++)
			if (t->e[s][w].state != FREE)
				release(t, &t->e[s][w]);
	free(t);
}

uint64_t
vsw_neigh_gen(const struct vsw_neigh *t)
{
	return t->gen;
}

static inline struct neigh *
set_of(struct vsw_neigh *t, uint16_t ifc, uint32_t ip)
{
	return t->e[rte_hash_crc_4byte(ip, ifc) % SETS];
}

static struct neigh *
find(struct vsw_neigh *t, uint16_t ifc, uint32_t ip)
{
	struct neigh *set = set_of(t, ifc, ip);

	for (unsigned int w = 0; w < WAYS; w++)
		if (set[w].state != FREE && set[w].ip == ip && set[w].ifc == ifc)
			return &set[w];
	return NULL;
}

/* A way for a new entry: a free one, else the least recently used. */
static struct neigh *
claim(struct vsw_neigh *t, uint16_t ifc, uint32_t ip)
{
	struct neigh *set = set_of(t, ifc, ip), *victim = &set[0];

	for (unsigned int w = 0; w < WAYS; w++) {
		if (set[w].state == FREE) {
			victim = &set[w];
			break;
		}
		if (set[w].touched < victim->touched)
			victim = &set[w];
	}
	if (victim->state != FREE)
		release(t, victim);
	memset(victim, 0, sizeof(*victim));
	victim->ip = ip;
	victim->ifc = ifc;
	return victim;
}

const uint8_t *
vsw_neigh_lookup(struct vsw_neigh *t, uint16_t ifc, uint32_t ip, uint64_t now)
{
	struct neigh *n = find(t, ifc, ip);

	if (!n || n->state != REACHABLE || now > n->expires)
		return NULL;
	n->touched = now;
	return n->mac;
}

unsigned int
vsw_neigh_learn(struct vsw_neigh *t, uint16_t ifc, uint32_t ip,
		const uint8_t *mac, uint64_t now, struct rte_mbuf **out,
		unsigned int max)
{
	struct neigh *n = find(t, ifc, ip);
	unsigned int k = 0;

	if (!n)
		n = claim(t, ifc, ip);
	if (n->state != REACHABLE || memcmp(n->mac, mac, 6))
		t->gen++;
	memcpy(n->mac, mac, 6);
	n->state = REACHABLE;
	n->expires = now + REACHABLE_S * t->tsc_hz;
	n->touched = now;
	for (unsigned int i = 0; i < n->nheld; i++) {
		struct rte_mbuf *m = n->held[i];

		if (k < max) {
			memcpy(rte_pktmbuf_mtod(m, uint8_t *), mac, 6);
			out[k++] = m;
		} else {
			rte_pktmbuf_free(m);
		}
	}
	n->nheld = 0;
	return k;
}

int
vsw_neigh_hold(struct vsw_neigh *t, uint16_t ifc, uint32_t ip,
	       struct rte_mbuf *m, uint64_t now)
{
	struct neigh *n = find(t, ifc, ip);
	int probe = 0;

	if (!n || n->state == REACHABLE) {
		/* Unknown, or known but stale: ask again. */
		if (!n)
			n = claim(t, ifc, ip);
		n->state = INCOMPLETE;
		n->tries = 1;
		n->expires = now + t->tsc_hz;
		n->touched = now;
		probe = 1;
	}
	if (n->nheld >= HOLD_MAX)
		return -ENOSPC;
	n->held[n->nheld++] = m;
	return probe;
}

void
vsw_neigh_tick(struct vsw_neigh *t, uint64_t now,
	       void (*probe)(void *, uint16_t, uint32_t),
	       void (*dropped)(void *, uint16_t, unsigned int), void *arg)
{
	/* A few sets per call: the whole table every ~100 calls. */
	for (unsigned int k = 0; k < SETS / 100 + 1; k++) {
		struct neigh *set = t->e[t->tick_set];

		t->tick_set = (t->tick_set + 1) % SETS;
		for (unsigned int w = 0; w < WAYS; w++) {
			struct neigh *n = &set[w];

			if (n->state == FREE || now <= n->expires)
				continue;
			if (n->state == INCOMPLETE && n->tries < TRIES) {
				n->tries++;
				n->expires = now + t->tsc_hz;
				probe(arg, n->ifc, n->ip);
				continue;
			}
			if (n->state == INCOMPLETE && n->nheld)
				dropped(arg, n->ifc, n->nheld);
			release(t, n);
		}
	}
}

void
vsw_neigh_flush(struct vsw_neigh *t, uint16_t ifc)
{
	for (unsigned int s = 0; s < SETS; s++)
		for (unsigned int w = 0; w < WAYS; w++)
			if (t->e[s][w].state != FREE && t->e[s][w].ifc == ifc)
				release(t, &t->e[s][w]);
}
