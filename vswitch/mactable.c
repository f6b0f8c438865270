/* SPDX-License-Identifier: MIT */
/*
 * The MAC table shared by all switches of a process: rte_hash maps the
 * key {MAC, VLAN, switch} to a position, and an array indexed by that
 * position holds what was learned (port slot, last time seen). Only the
 * data plane changes it; the control thread reads the array for listings.
 *
 * A small direct-mapped cache in front of rte_hash remembers positions
 * of recently used keys; a hit is checked against the entry itself, so
 * deletions never need to touch the cache.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/log.h"
#include "vswitch/vsw-internal.h"

#include <rte_hash.h>
#include <rte_hash_crc.h>

static inline uint32_t
words_hash(uint64_t w0, uint64_t w1)
{
	return rte_hash_crc_8byte(w1, rte_hash_crc_8byte(w0, 0x9e3779b9));
}

static inline uint32_t
key_hash(const struct vsw_mac_key *k)
{
	const uint64_t *w = (const uint64_t *)k;

	return words_hash(w[0], w[1]);
}

int
vsw_mac_init(struct vsw_mactable *t, const char *name, uint32_t capacity)
{
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = capacity,
		.key_len = sizeof(struct vsw_mac_key),
		.socket_id = SOCKET_ID_ANY,
		/* Extendable buckets: the table fills to 'capacity' exactly. */
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	size_t bytes = (size_t)capacity * sizeof(struct vsw_mac_entry);

	memset(t, 0, sizeof(*t));
	if (capacity < 8)
		return -EINVAL;
	t->hash = rte_hash_create(&hp);
	if (!t->hash) {
		log_err("vswitch.mac", "cannot create a MAC table of %u entries",
			capacity);
		return -ENOMEM;
	}
	/* Anonymous memory: untouched entries cost no RSS. */
	t->e = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->e == MAP_FAILED) {
		t->e = NULL;
		rte_hash_free(t->hash);
		t->hash = NULL;
		return -ENOMEM;
	}
	t->capacity = capacity;
	return 0;
}

void
vsw_mac_fini(struct vsw_mactable *t)
{
	if (t->e)
		munmap(t->e, (size_t)t->capacity * sizeof(struct vsw_mac_entry));
	rte_hash_free(t->hash);
	t->e = NULL;
	t->hash = NULL;
}

int32_t
vsw_mac_lookup_words(struct vsw_mactable *t, uint64_t w0, uint64_t w1)
{
	uint32_t h = words_hash(w0, w1);
	uint32_t pos = t->cache[h & (VSW_MAC_CACHE - 1)];
	const struct vsw_mac_entry *e = &t->e[pos];
	const uint64_t *ew = (const uint64_t *)&e->key;
	struct vsw_mac_key key;
	int32_t r;

	if (likely(e->in_use && ((ew[0] ^ w0) | (ew[1] ^ w1)) == 0))
		return (int32_t)pos;
	memcpy(&key, (uint64_t[2]){ w0, w1 }, sizeof(key));
	r = rte_hash_lookup_with_hash(t->hash, &key, h);
	if (r < 0)
		return -1;
	t->cache[h & (VSW_MAC_CACHE - 1)] = (uint32_t)r;
	return r;
}

int32_t
vsw_mac_lookup(struct vsw_mactable *t, const struct vsw_mac_key *key)
{
	const uint64_t *w = (const uint64_t *)key;

	return vsw_mac_lookup_words(t, w[0], w[1]);
}

int32_t
vsw_mac_add(struct vsw_mactable *t, const struct vsw_mac_key *key,
	    uint16_t slot, uint64_t now_tsc)
{
	uint32_t h = key_hash(key);
	struct vsw_mac_entry *e;
	int32_t pos;

	if (t->count >= t->capacity)
		return -ENOSPC;
	pos = rte_hash_add_key_with_hash(t->hash, key, h);
	if (pos < 0)
		return -ENOSPC;
	e = &t->e[pos];
	e->key = *key;
	e->slot = slot;
	e->seen_tsc = now_tsc;
	e->is_static = 0;
	__atomic_store_n(&e->in_use, 1, __ATOMIC_RELEASE);
	t->cache[h & (VSW_MAC_CACHE - 1)] = (uint32_t)pos;
	t->count++;
	return pos;
}

void
vsw_mac_del(struct vsw_mactable *t, int32_t pos)
{
	struct vsw_mac_entry *e = &t->e[pos];

	if (!e->in_use)
		return;
	__atomic_store_n(&e->in_use, 0, __ATOMIC_RELEASE);
	rte_hash_del_key_with_hash(t->hash, &e->key, key_hash(&e->key));
	t->count--;
}
