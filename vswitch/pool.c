/* SPDX-License-Identifier: MIT */
/*
 * The packet-buffer pool. With hugepages it is an ordinary DPDK pool in
 * EAL memory. Without them (--no-huge, the default here) EAL memory is a
 * memfd mapped shared: writing the headers of 32K buffers at start-up
 * takes 20,000 shmem page faults, about 300 ms, most of a restart. There
 * the buffers live in private anonymous memory instead, in transparent
 * huge pages where the kernel offers them (40 faults). All our ports copy
 * frames with the CPU (vhost-user, TAP, af_packet, memif, ring), so the
 * buffers need no IO address.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "common/log.h"
#include "vswitch/vsw-internal.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>

#define HUGE_2M (2u << 20)

struct anon_chunk {
	void *map;
	size_t len;
};

static void
anon_free(struct rte_mempool_memhdr *memhdr, void *opaque)
{
	struct anon_chunk *c = opaque;

	munmap(c->map, c->len);
	free(c);
}

/* 'len' bytes of private memory aligned to 2 MiB, in huge pages if the
 * kernel's transparent huge pages allow it. */
static void *
anon_alloc(size_t len, struct anon_chunk *c)
{
	size_t maplen = len + HUGE_2M;
	uint8_t *p, *a;

	p = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	a = (uint8_t *)RTE_ALIGN_CEIL((uintptr_t)p, HUGE_2M);
	/* Advice only: without transparent huge pages it is 4 KiB pages. */
	madvise(a, RTE_ALIGN_CEIL(len, HUGE_2M), MADV_HUGEPAGE);
	c->map = p;
	c->len = maplen;
	return a;
}

static struct rte_mempool *
anon_pool_create(const char *name, unsigned int n, unsigned int cache)
{
	struct rte_pktmbuf_pool_private priv = {
		.mbuf_data_room_size = RTE_MBUF_DEFAULT_BUF_SIZE,
	};
	unsigned int elt = sizeof(struct rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE;
	struct rte_mempool *mp;
	struct anon_chunk *c;
	size_t len;
	void *mem;
	int r;

	/* Buffers may straddle pages: nothing needs them IO-contiguous. */
	mp = rte_mempool_create_empty(name, n, elt, cache, sizeof(priv),
				      SOCKET_ID_ANY,
				      RTE_MEMPOOL_F_NO_IOVA_CONTIG);
	if (!mp)
		return NULL;
	r = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), NULL);
	if (r < 0)
		goto err;
	rte_pktmbuf_pool_init(mp, &priv);
	/* Objects back to back (the default driver's layout when they may
	 * straddle pages), one more for the alignment of the first. */
	len = (size_t)(n + 1) * mp->header_size + (size_t)(n + 1) *
	      (mp->elt_size + mp->trailer_size);
	c = malloc(sizeof(*c));
	if (!c) {
		r = -ENOMEM;
		goto err;
	}
	mem = anon_alloc(len, c);
	if (!mem) {
		free(c);
		r = -ENOMEM;
		goto err;
	}
	r = rte_mempool_populate_iova(mp, mem,
				      rte_eal_iova_mode() == RTE_IOVA_VA
				      ? (rte_iova_t)(uintptr_t)mem : RTE_BAD_IOVA,
				      len, anon_free, c);
	if (r < 0) {
		anon_free(NULL, c);
		goto err;
	}
	if ((unsigned int)r < n) {
		r = -ENOMEM;
		goto err;
	}
	rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
	return mp;

err:
	rte_mempool_free(mp);
	rte_errno = -r;
	return NULL;
}

struct rte_mempool *
vsw_pool_create(const char *name, unsigned int n, unsigned int cache)
{
	if (rte_eal_has_hugepages())
		return rte_pktmbuf_pool_create(name, n, cache, 0,
					       RTE_MBUF_DEFAULT_BUF_SIZE,
					       SOCKET_ID_ANY);
	return anon_pool_create(name, n, cache);
}
