/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM: one mapping cut into at most two KVM slots (below the PCI
 * hole at 3 GiB, the rest from 4 GiB). From a memfd mapped shared by
 * default, so a vhost-user back end can map the same pages from the fd;
 * from private anonymous memory when KSM is asked for, because KSM
 * merges only private anonymous pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/vmm-internal.h"

int
vmm_mem_init(struct vmm_mem *m, uint64_t size, bool shared)
{
	uint64_t low = MIN(size, VMM_LOW_RAM_END);
	int flags = MAP_NORESERVE;
	int err;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (shared) {
		m->fd = memfd_create("guest-ram", MFD_CLOEXEC);
		if (m->fd < 0)
			return -errno;
		if (ftruncate(m->fd, (off_t)size) < 0) {
			err = -errno;
			goto err_close;
		}
		flags |= MAP_SHARED;
	} else {
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
	}
	m->base = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, m->fd, 0);
	if (m->base == MAP_FAILED) {
		err = -errno;
		goto err_close;
	}
	m->size = size;
	m->region[0] = (struct vmm_mem_region){ 0, low, m->base, 0 };
	m->nregions = 1;
	if (size > low) {
		m->region[1] = (struct vmm_mem_region){
			VMM_HIGH_RAM_BASE, size - low, m->base + low, low };
		m->nregions = 2;
	}
	return 0;

err_close:
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	return err;
}

void
vmm_mem_fini(struct vmm_mem *m)
{
	if (m->base && m->base != MAP_FAILED)
		munmap(m->base, m->size);
	if (m->fd >= 0)
		close(m->fd);
	m->base = NULL;
	m->fd = -1;
}

void *
vmm_mem_ptr(const struct vmm_mem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < m->nregions; i++) {
		const struct vmm_mem_region *r = &m->region[i];

		/* Written so that no sum can overflow. */
		if (gpa >= r->gpa && gpa - r->gpa <= r->size &&
		    len <= r->size - (gpa - r->gpa))
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

int
vmm_mem_discard(struct vmm_mem *m, uint64_t gpa, uint64_t len)
{
	uint8_t *p = vmm_mem_ptr(m, gpa, len);
	uint64_t off;

	if (!p)
		return -EFAULT;
	off = (uint64_t)(p - m->base);
	if (m->fd >= 0) {
		if (fallocate(m->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)off, (off_t)len) < 0)
			return -errno;
		return 0;
	}
	if (madvise(p, len, MADV_DONTNEED) < 0)
		return -errno;
	return 0;
}

static uint64_t
read_proc_u64(const char *path)
{
	unsigned long long v = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

void
vmm_mem_usage(const struct vmm_mem *m, uint64_t *resident, uint64_t *shared)
{
	size_t pages = m->size / 4096, chunk = 1u << 16;
	unsigned char *vec = malloc(chunk);
	uint64_t n = 0;

	*resident = 0;
	*shared = read_proc_u64("/proc/self/ksm_merging_pages") * 4096;
	if (!vec)
		return;
	for (size_t i = 0; i < pages; i += chunk) {
		size_t cnt = MIN(chunk, pages - i);

		if (mincore(m->base + i * 4096, cnt * 4096, vec) < 0)
			break;
		for (size_t j = 0; j < cnt; j++)
			n += vec[j] & 1;
	}
	free(vec);
	*resident = n * 4096;
}
