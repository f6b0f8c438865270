/* SPDX-License-Identifier: MIT */
/*
 * The connection table (see ct.h): an array of entries, a free list, and
 * one rte_hash holding both tuples of every connection, each pointing at
 * its entry and direction. Only the data plane calls this, so nothing is
 * locked; the control side gets copies through the data-plane mailbox.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/compiler.h"
#include "common/log.h"
#include "vswitch/ct.h"

#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_prefetch.h>

_Static_assert(sizeof(struct vsw_ct_entry) == 128 &&
		       offsetof(struct vsw_ct_entry, pkts) == 64,
	       "a connection is two cache lines, the hot fields in the first");

struct vsw_ct {
	struct rte_hash *hash;       /* key -> (entry index << 1 | dir) */
	struct vsw_ct_entry *e;      /* 'capacity' entries */
	uint32_t *free;              /* stack of free indexes */
	uint32_t nfree;
	uint32_t capacity;
	uint32_t scan_pos;           /* expiry cursor */
	uint64_t tsc_hz;
	uint64_t timeout_tsc[VSW_CT_STATE_COUNT];
	struct vsw_ct_timeouts timeouts;
	struct vsw_ct_stats st;
};

static inline uint32_t
key_hash(const struct vsw_ct_key *k)
{
	const uint64_t *w = (const uint64_t *)k;

	return rte_hash_crc_8byte(w[1], rte_hash_crc_8byte(w[0], 0x6b43a9b5));
}

static uint32_t
hash_fn(const void *key, uint32_t key_len, uint32_t init)
{
	return key_hash(key);
}

void
vsw_ct_set_timeouts(struct vsw_ct *ct, const struct vsw_ct_timeouts *t)
{
	ct->timeouts = *t;
	for (int i = 0; i < VSW_CT_STATE_COUNT; i++)
		ct->timeout_tsc[i] = (uint64_t)t->secs[i] * ct->tsc_hz;
}

int
vsw_ct_create(const char *name, uint32_t capacity, uint64_t tsc_hz,
	      struct vsw_ct **out)
{
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = capacity * 2,
		.key_len = sizeof(struct vsw_ct_key),
		.hash_func = hash_fn,
		.socket_id = SOCKET_ID_ANY,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	struct vsw_ct_timeouts t;
	struct vsw_ct *ct;

	if (capacity < 16 || capacity > (1u << 24))
		return -EINVAL;
	ct = calloc(1, sizeof(*ct));
	if (!ct)
		return -ENOMEM;
	ct->capacity = capacity;
	ct->tsc_hz = tsc_hz;
	ct->hash = rte_hash_create(&hp);
	/* Anonymous memory: entries never used cost no RSS. */
	ct->e = mmap(NULL, (size_t)capacity * sizeof(*ct->e),
		     PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* Huge pages where the kernel has them: a large table's lookups
	 * otherwise miss the TLB as well as the cache. */
	if (ct->e != MAP_FAILED)
		madvise(ct->e, (size_t)capacity * sizeof(*ct->e), MADV_HUGEPAGE);
	ct->free = malloc((size_t)capacity * sizeof(uint32_t));
	if (!ct->hash || ct->e == MAP_FAILED || !ct->free) {
		if (ct->e == MAP_FAILED)
			ct->e = NULL;
		log_err("vswitch.ct", "cannot create a table of %u connections",
			capacity);
		vsw_ct_destroy(ct);
		return -ENOMEM;
	}
	/* Lowest indexes first: a small table stays in few pages. */
	for (uint32_t i = 0; i < capacity; i++)
		ct->free[i] = capacity - 1 - i;
	ct->nfree = capacity;
	vsw_ct_timeouts_default(&t);
	vsw_ct_set_timeouts(ct, &t);
	*out = ct;
	return 0;
}

void
vsw_ct_destroy(struct vsw_ct *ct)
{
	if (!ct)
		return;
	rte_hash_free(ct->hash);
	if (ct->e)
		munmap(ct->e, (size_t)ct->capacity * sizeof(*ct->e));
	free(ct->free);
	free(ct);
}

const struct vsw_ct_stats *
vsw_ct_stats(const struct vsw_ct *ct)
{
	return &ct->st;
}

uint32_t
vsw_ct_count(const struct vsw_ct *ct)
{
	return ct->capacity - ct->nfree;
}

uint32_t
vsw_ct_capacity(const struct vsw_ct *ct)
{
	return ct->capacity;
}

void
vsw_ct_count_ports_exhausted(struct vsw_ct *ct)
{
	ct->st.ports_exhausted++;
}

void
vsw_ct_count_not_syn(struct vsw_ct *ct)
{
	ct->st.tcp_not_syn++;
}

static void
release(struct vsw_ct *ct, struct vsw_ct_entry *e)
{
	for (int d = 0; d < 2; d++)
		rte_hash_del_key_with_hash(ct->hash, &e->key[d],
					   key_hash(&e->key[d]));
	e->in_use = 0;
	ct->free[ct->nfree++] = (uint32_t)(e - ct->e);
}

struct vsw_ct_entry *
vsw_ct_lookup(struct vsw_ct *ct, const struct vsw_ct_key *k, int *dir,
	      uint64_t now)
{
	struct vsw_ct_entry *e;
	void *data;

	if (rte_hash_lookup_with_hash_data(ct->hash, k, key_hash(k), &data) < 0)
		return NULL;
	e = &ct->e[(uintptr_t)data >> 1];
	if (unlikely(now > e->expires)) {
		ct->st.expired++;
		release(ct, e);
		return NULL;
	}
	*dir = (int)((uintptr_t)data & 1);
	return e;
}

unsigned int
vsw_ct_lookup_bulk(struct vsw_ct *ct, const struct vsw_ct_key *const *keys,
		   unsigned int n, struct vsw_ct_entry **entries, int *dirs)
{
	void *data[64];
	hash_sig_t sig[64];
	uint64_t hits = 0;
	unsigned int found = 0;

	if (n > 64)
		n = 64;
	if (!n)
		return 0;
	/* Hashed here, inline, rather than through the table's callback. */
	for (unsigned int i = 0; i < n; i++)
		sig[i] = key_hash(keys[i]);
	/* rte_hash prefetches its buckets and keys for the whole burst. */
	if (rte_hash_lookup_with_hash_bulk_data(ct->hash, (const void **)keys,
						sig, n, &hits, data) < 0)
		hits = 0;
	/*
	 * Then both lines of every entry; none is read here, so the burst's
	 * misses overlap and land while the frames before are handled.
	 */
	for (unsigned int i = 0; i < n; i++) {
		struct vsw_ct_entry *e;

		entries[i] = NULL;
		if (!(hits & (1ull << i)))
			continue;
		e = &ct->e[(uintptr_t)data[i] >> 1];
		rte_prefetch0(e);
		rte_prefetch0((const char *)e + 64);
		entries[i] = e;
		dirs[i] = (int)((uintptr_t)data[i] & 1);
		found++;
	}
	return found;
}

bool
vsw_ct_key_free(struct vsw_ct *ct, const struct vsw_ct_key *k, uint64_t now)
{
	int dir;

	return vsw_ct_lookup(ct, k, &dir, now) == NULL;
}

struct vsw_ct_entry *
vsw_ct_insert(struct vsw_ct *ct, const struct vsw_ct_key *in_key,
	      const struct vsw_ct_key *out_key, uint64_t now, int *err)
{
	struct vsw_ct_entry *e;
	uint32_t idx;
	int r;

	if (!ct->nfree) {
		ct->st.table_full++;
		*err = -ENOSPC;
		return NULL;
	}
	idx = ct->free[--ct->nfree];
	e = &ct->e[idx];
	memset(e, 0, sizeof(*e));
	e->key[VSW_CT_DIR_IN] = *in_key;
	e->key[VSW_CT_DIR_OUT] = *out_key;
	r = rte_hash_add_key_with_hash_data(ct->hash, in_key, key_hash(in_key),
					    (void *)(uintptr_t)(idx << 1));
	if (r == 0) {
		r = rte_hash_add_key_with_hash_data(
			ct->hash, out_key, key_hash(out_key),
			(void *)(uintptr_t)(idx << 1 | 1));
		if (r < 0)
			rte_hash_del_key_with_hash(ct->hash, in_key,
						   key_hash(in_key));
	}
	if (r < 0) {
		ct->free[ct->nfree++] = idx;
		ct->st.table_full++;
		*err = r == -ENOSPC ? -ENOSPC : -EEXIST;
		return NULL;
	}
	e->in_use = 1;
	e->expires = now + ct->timeout_tsc[VSW_CT_UDP_UNREPLIED];
	ct->st.created++;
	return e;
}

void
vsw_ct_delete(struct vsw_ct *ct, struct vsw_ct_entry *e)
{
	if (!e->in_use)
		return;
	ct->st.deleted++;
	release(ct, e);
}

enum vsw_tcp_verdict
vsw_ct_update(struct vsw_ct *ct, struct vsw_ct_entry *e, int dir,
	      const struct vsw_ip_pkt *p, uint64_t now)
{
	int initiator = (e->flags & VSW_CT_F_FORWARD) ? VSW_CT_DIR_OUT
						       : VSW_CT_DIR_IN;
	struct vsw_tcp_seg seg;
	enum vsw_tcp_verdict v = VSW_TCP_OK;

	switch (e->proto) {
	case VSW_IPPROTO_TCP:
		if (vsw_tcp_seg_parse(p, &seg) < 0) {
			v = VSW_TCP_BAD_FLAGS;
			break;
		}
		/* Side 0 of the tracker is whoever opened the connection. */
		v = vsw_tcp_track_segment(&e->tcp, &e->state, dir != initiator,
					  &seg);
		break;
	case VSW_IPPROTO_UDP:
		if (dir != initiator)
			e->state = VSW_CT_UDP_REPLIED;
		else if (e->state != VSW_CT_UDP_REPLIED)
			e->state = VSW_CT_UDP_UNREPLIED;
		break;
	default:
		e->state = VSW_CT_ICMP;
		break;
	}
	switch (v) {
	case VSW_TCP_OK:
		break;
	case VSW_TCP_BAD_FLAGS:
		ct->st.tcp_bad_flags++;
		return v;
	case VSW_TCP_OUT_OF_WINDOW:
		ct->st.tcp_out_of_window++;
		return v;
	case VSW_TCP_NOT_SYN:
		ct->st.tcp_not_syn++;
		return v;
	}
	e->expires = now + ct->timeout_tsc[e->state];
	e->pkts[dir]++;
	e->bytes[dir] += p->ip_len;
	return VSW_TCP_OK;
}

void
vsw_ct_expire(struct vsw_ct *ct, uint64_t now, uint32_t budget)
{
	if (ct->nfree == ct->capacity) {
		ct->scan_pos = 0;
		return;
	}
	while (budget--) {
		struct vsw_ct_entry *e = &ct->e[ct->scan_pos];

		if (++ct->scan_pos >= ct->capacity)
			ct->scan_pos = 0;
		if (e->in_use && now > e->expires) {
			ct->st.expired++;
			release(ct, e);
		}
	}
}

uint32_t
vsw_ct_flush(struct vsw_ct *ct, int net, int uplink)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < ct->capacity && ct->nfree < ct->capacity; i++) {
		struct vsw_ct_entry *e = &ct->e[i];

		if (!e->in_use || (net >= 0 && e->net != net) ||
		    (uplink >= 0 && e->uplink != uplink))
			continue;
		ct->st.deleted++;
		release(ct, e);
		n++;
	}
	return n;
}

uint32_t
vsw_ct_flush_forward(struct vsw_ct *ct, int net, uint8_t proto,
		     uint16_t outside_port)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < ct->capacity && ct->nfree < ct->capacity; i++) {
		struct vsw_ct_entry *e = &ct->e[i];

		if (!e->in_use || e->net != net || e->proto != proto ||
		    !(e->flags & VSW_CT_F_FORWARD) || e->nat_port != outside_port)
			continue;
		ct->st.deleted++;
		release(ct, e);
		n++;
	}
	return n;
}

void
vsw_ct_walk(struct vsw_ct *ct, void (*fn)(const struct vsw_ct_entry *, void *),
	    void *arg)
{
	uint32_t live = ct->capacity - ct->nfree;

	for (uint32_t i = 0; i < ct->capacity && live; i++) {
		if (!ct->e[i].in_use)
			continue;
		fn(&ct->e[i], arg);
		live--;
	}
}

uint64_t
vsw_ct_ttl_s(const struct vsw_ct *ct, const struct vsw_ct_entry *e,
	     uint64_t now)
{
	return e->expires > now ? (e->expires - now) / ct->tsc_hz : 0;
}
