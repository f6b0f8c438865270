/* SPDX-License-Identifier: MIT */
/*
 * In-memory LUNs for tests: "mem:NAME?size=64M" creates a zeroed LUN,
 * "mem:NAME" attaches to an existing one. Every handle is its own
 * "initiator": several simulated hosts in one process share one LUN, with
 * ATS (a mutex around read-compare-write) and SCSI-3 persistent
 * reservations emulated with SPC-3 access rules, so fencing can be
 * tested without a target. The LUN is freed with its last handle.
 *
 * Requests execute at submit and complete at the next poll, like a device
 * that is infinitely fast but still asynchronous.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/log.h"
#include "vfs-cluster/lun-provider.h"

#define MEM_MAX_REGS 1024   /* 4 handles per host, 256 hosts */

struct mem_disk {
	struct mem_disk *next;
	char *name;
	uint8_t *data;
	uint64_t size;
	unsigned int refs;
	pthread_mutex_t lock;         /* data, registrations, reservation */
	uint32_t pr_generation;
	struct {
		const void *nexus;    /* the handle that registered */
		uint64_t key;
	} regs[MEM_MAX_REGS];
	unsigned int nregs;
	bool reserved;
	const void *holder;           /* nexus, for single-holder types */
	enum lun_pr_type type;
	uintptr_t gone_seq;           /* tokens for closed nexuses */
};

struct lun_mem {
	struct lun base;
	struct mem_disk *disk;
	struct lun_io *done_head, **done_tail;
	int efd;                 /* lun_event_fd(): -1 until asked for */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mem_disk *registry;

static struct lun_mem *
to_mem(struct lun *lun)
{
	return container_of(lun, struct lun_mem, base);
}

static int
parse_target(const char *target, char *name, size_t namelen, uint64_t *size)
{
	const char *q = strchr(target, '?');
	size_t n = q ? (size_t)(q - target) : strlen(target);

	*size = 0;
	if (n == 0 || n >= namelen)
		return -EINVAL;
	memcpy(name, target, n);
	name[n] = '\0';
	if (!q)
		return 0;
	if (strncmp(q + 1, "size=", 5) != 0)
		return -EINVAL;
	return cli_parse_size(q + 6, size);
}

static struct mem_disk *
disk_find(const char *name)
{
	for (struct mem_disk *d = registry; d; d = d->next)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

static int
disk_create(const char *name, uint64_t size, struct mem_disk **out)
{
	struct mem_disk *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->name = strdup(name);
	d->data = calloc(1, size);
	if (!d->name || !d->data) {
		free(d->name);
		free(d->data);
		free(d);
		return -ENOMEM;
	}
	d->size = size;
	pthread_mutex_init(&d->lock, NULL);
	d->next = registry;
	registry = d;
	*out = d;
	return 0;
}

static int
disk_get(const char *target, struct mem_disk **out)
{
	char name[128];
	uint64_t size;
	struct mem_disk *d;
	int err;

	err = parse_target(target, name, sizeof(name), &size);
	if (err < 0)
		return err;
	if (size && !IS_ALIGNED(size, 4096))
		return -EINVAL;
	pthread_mutex_lock(&registry_lock);
	d = disk_find(name);
	if (d && size && size != d->size) {
		err = -EEXIST;
	} else if (!d && !size) {
		err = -ENOENT;
	} else if (!d) {
		err = disk_create(name, size, &d);
	}
	if (err == 0) {
		d->refs++;
		*out = d;
	}
	pthread_mutex_unlock(&registry_lock);
	return err;
}

static void
disk_put(struct mem_disk *d)
{
	struct mem_disk **pp;

	pthread_mutex_lock(&registry_lock);
	if (--d->refs == 0) {
		for (pp = &registry; *pp != d; pp = &(*pp)->next)
			;
		*pp = d->next;
		pthread_mutex_destroy(&d->lock);
		free(d->data);
		free(d->name);
		free(d);
	}
	pthread_mutex_unlock(&registry_lock);
}

static int
mem_open(const char *target, const struct lun_config *cfg, struct lun **out)
{
	struct lun_mem *m = calloc(1, sizeof(*m));
	struct lun_info *info;
	int err;

	if (!m)
		return -ENOMEM;
	err = disk_get(target, &m->disk);
	if (err < 0) {
		log_err("vfs.lun", "mem:%s: %s", target, strerror(-err));
		free(m);
		return err;
	}
	m->done_tail = &m->done_head;
	m->efd = -1;
	info = &m->base.info;
	info->scheme = "mem";
	info->size_bytes = m->disk->size;
	info->logical_sector_bytes = 512;
	info->physical_sector_bytes = 4096;
	info->buf_align = 1;
	info->max_io_bytes = 8u << 20;
	info->queue_depth = cfg->queue_depth;
	info->caps = LUN_CAP_FUA | LUN_CAP_PR | LUN_CAP_DISCARD | LUN_CAP_SHARED;
	if (cfg->ats_method == LUN_ATS_AUTO ||
	    cfg->ats_method == LUN_ATS_MEM_MUTEX) {
		info->caps |= LUN_CAP_ATS;
		info->ats_method = LUN_ATS_MEM_MUTEX;
	} else {
		info->ats_method = LUN_ATS_NONE;
	}
	*out = &m->base;
	return 0;
}

static int
find_reg(const struct mem_disk *d, const void *nexus)
{
	for (unsigned int i = 0; i < d->nregs; i++)
		if (d->regs[i].nexus == nexus)
			return (int)i;
	return -1;
}

static void
drop_reg(struct mem_disk *d, unsigned int i)
{
	d->regs[i] = d->regs[--d->nregs];
}

static void
mem_close(struct lun *lun)
{
	struct lun_mem *m = to_mem(lun);
	struct mem_disk *d = m->disk;
	const void *gone;
	int i;

	/* As in SCSI, a registration outlives its connection (a dead host
	 * stays registered until preempted); it just matches no handle. Each
	 * closed nexus gets its own token (a small number, never a handle's
	 * address), so the reservation it held stays its own. */
	pthread_mutex_lock(&d->lock);
	i = find_reg(d, m);
	gone = (const void *)++d->gone_seq;
	if (i >= 0)
		d->regs[i].nexus = gone;
	if (d->reserved && d->holder == m)
		d->holder = gone;
	pthread_mutex_unlock(&d->lock);
	disk_put(d);
	if (m->efd >= 0)
		close(m->efd);
	free(m);
}

/* SPC-3 table "persistent reservation type codes": may 'nexus' access? */
static bool
access_allowed(const struct mem_disk *d, const void *nexus, bool write)
{
	bool registered = find_reg(d, nexus) >= 0;
	bool holder = d->holder == nexus;

	if (!d->reserved)
		return true;
	switch (d->type) {
	case LUN_PR_WRITE_EXCLUSIVE:
		return !write || holder;
	case LUN_PR_EXCLUSIVE_ACCESS:
		return holder;
	case LUN_PR_WRITE_EXCLUSIVE_REG_ONLY:
	case LUN_PR_WRITE_EXCLUSIVE_ALL_REG:
		return !write || registered;
	case LUN_PR_EXCLUSIVE_ACCESS_REG_ONLY:
	case LUN_PR_EXCLUSIVE_ACCESS_ALL_REG:
		return registered;
	}
	return false;
}

static int64_t
execute(struct lun_mem *m, struct lun_io *io)
{
	struct mem_disk *d = m->disk;
	uint64_t off = io->offset_bytes;
	bool write = io->op != LUN_OP_READ && io->op != LUN_OP_FLUSH;

	if (io->op == LUN_OP_FLUSH)
		return 0;
	if (!access_allowed(d, m, write))
		return -EBADE;
	if (io->op == LUN_OP_DISCARD) {
		memset(d->data + off, 0, io->len_bytes);
		return (int64_t)io->len_bytes;
	}
	for (uint32_t i = 0; i < io->iovcnt; i++) {
		size_t n = io->iov[i].iov_len;

		if (io->op == LUN_OP_READ)
			memcpy(io->iov[i].iov_base, d->data + off, n);
		else
			memcpy(d->data + off, io->iov[i].iov_base, n);
		off += n;
	}
	return (int64_t)io->len_bytes;
}

static int
mem_submit(struct lun *lun, struct lun_io *io)
{
	struct lun_mem *m = to_mem(lun);

	pthread_mutex_lock(&m->disk->lock);
	io->result = execute(m, io);
	pthread_mutex_unlock(&m->disk->lock);
	io->next = NULL;
	*m->done_tail = io;
	m->done_tail = &io->next;
	if (m->efd >= 0)
		lun_eventfd_signal(m->efd);
	return 0;
}

static int
mem_poll(struct lun *lun, unsigned int min_done, int timeout_ms)
{
	struct lun_mem *m = to_mem(lun);
	struct lun_io *io;
	int n = 0;

	while ((io = m->done_head) != NULL) {
		m->done_head = io->next;
		if (!m->done_head)
			m->done_tail = &m->done_head;
		lun_io_complete(lun, io, io->result);
		n++;
	}
	if (m->efd >= 0) {
		/* Callbacks run above may have queued more. */
		lun_eventfd_drain(m->efd);
		if (m->done_head)
			lun_eventfd_signal(m->efd);
	}
	return n;
}

/* Requests complete at submit: an eventfd set there, emptied at poll. */
static int
mem_event_fd(struct lun *lun)
{
	struct lun_mem *m = to_mem(lun);
	int fd;

	if (m->efd >= 0)
		return m->efd;
	fd = lun_eventfd_new();
	if (fd < 0)
		return fd;
	m->efd = fd;
	if (m->done_head)
		lun_eventfd_signal(fd);
	return fd;
}

static int
mem_ats(struct lun *lun, uint64_t offset, const void *expected,
	const void *desired, uint64_t len)
{
	struct lun_mem *m = to_mem(lun);
	struct mem_disk *d = m->disk;
	int rc = 0;

	pthread_mutex_lock(&d->lock);
	if (!access_allowed(d, m, true))
		rc = -EBADE;
	else if (memcmp(d->data + offset, expected, len) != 0)
		rc = LUN_ATS_MISCOMPARE;
	else
		memcpy(d->data + offset, desired, len);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static bool
all_registrants(enum lun_pr_type type)
{
	return type == LUN_PR_WRITE_EXCLUSIVE_ALL_REG ||
	       type == LUN_PR_EXCLUSIVE_ACCESS_ALL_REG;
}

static int
mem_pr_register(struct lun *lun, uint64_t key)
{
	struct lun_mem *m = to_mem(lun);
	struct mem_disk *d = m->disk;
	int i, rc = 0;

	pthread_mutex_lock(&d->lock);
	i = find_reg(d, m);
	if (key == 0 && i >= 0) {
		drop_reg(d, (unsigned int)i);
		/* SPC-3: an all-registrants reservation lasts while any
		 * registrant is left; the others go with their holder. */
		if (d->reserved && (all_registrants(d->type) ?
				    d->nregs == 0 : d->holder == m))
			d->reserved = false;
	} else if (key && i >= 0) {
		d->regs[i].key = key;
	} else if (key && d->nregs == MEM_MAX_REGS) {
		rc = -ENOSPC;
	} else if (key) {
		d->regs[d->nregs].nexus = m;
		d->regs[d->nregs++].key = key;
	}
	if (rc == 0)
		d->pr_generation++;
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static int
mem_pr_reserve(struct lun *lun, enum lun_pr_type type)
{
	struct lun_mem *m = to_mem(lun);
	struct mem_disk *d = m->disk;
	int rc = 0;

	pthread_mutex_lock(&d->lock);
	if (find_reg(d, m) < 0)
		rc = -EBADE;
	else if (!d->reserved) {
		d->reserved = true;
		d->holder = m;
		d->type = type;
	} else if (d->type != type ||
		   (!all_registrants(type) && d->holder != m)) {
		rc = -EBADE;
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static int
mem_pr_release(struct lun *lun, enum lun_pr_type type)
{
	struct lun_mem *m = to_mem(lun);
	struct mem_disk *d = m->disk;
	int rc = 0;

	pthread_mutex_lock(&d->lock);
	if (find_reg(d, m) < 0)
		rc = -EBADE;
	else if (d->reserved &&
		 (d->holder == m || all_registrants(d->type))) {
		if (d->type != type)
			rc = -EINVAL;
		else
			d->reserved = false;
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static int
mem_pr_preempt(struct lun *lun, uint64_t victim, enum lun_pr_type type,
	       bool abort)
{
	struct lun_mem *m = to_mem(lun);
	struct mem_disk *d = m->disk;
	bool victim_held = false;
	int rc = 0;

	pthread_mutex_lock(&d->lock);
	if (find_reg(d, m) < 0) {
		rc = -EBADE;
		goto out;
	}
	for (unsigned int i = 0; i < d->nregs;) {
		if (d->regs[i].key == victim && d->regs[i].nexus != m) {
			if (d->holder == d->regs[i].nexus)
				victim_held = true;
			drop_reg(d, i);
		} else {
			i++;
		}
	}
	if (victim_held && d->reserved && !all_registrants(d->type)) {
		d->holder = m;
		d->type = type;
	}
	d->pr_generation++;
out:
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static int
mem_pr_read(struct lun *lun, struct lun_pr_state *out)
{
	struct mem_disk *d = to_mem(lun)->disk;

	pthread_mutex_lock(&d->lock);
	out->generation = d->pr_generation;
	out->nkeys = d->nregs;
	for (unsigned int i = 0; i < d->nregs && i < ARRAY_SIZE(out->keys);
	     i++)
		out->keys[i] = d->regs[i].key;
	out->reserved = d->reserved;
	out->type = d->type;
	if (d->reserved && !all_registrants(d->type)) {
		int i = find_reg(d, d->holder);

		out->holder_key = i >= 0 ? d->regs[i].key : 0;
	}
	pthread_mutex_unlock(&d->lock);
	return 0;
}

const struct lun_ops lun_mem_ops = {
	.scheme = "mem",
	.open = mem_open,
	.close = mem_close,
	.submit = mem_submit,
	.poll = mem_poll,
	.event_fd = mem_event_fd,
	.ats = mem_ats,
	.pr_register = mem_pr_register,
	.pr_reserve = mem_pr_reserve,
	.pr_release = mem_pr_release,
	.pr_preempt = mem_pr_preempt,
	.pr_read = mem_pr_read,
};
