/* SPDX-License-Identifier: MIT */
/*
 * What a LUN backend implements. lun.c owns the base 'struct lun' and
 * validates every request (alignment, range, read-only) before a backend
 * sees it; a backend embeds the base and gets back with container_of().
 * Backends complete requests only through lun_io_complete(), and only
 * from their poll() (or from a sync op's internal wait).
 */
#ifndef VFS_LUN_PROVIDER_H
#define VFS_LUN_PROVIDER_H

#include "vfs-cluster/lun.h"

struct lun_ops {
	const char *scheme;
	/*
	 * Opens 'target' (the URI without "scheme:"), fills base->info
	 * (lun.c fills uri, cfg, ops). Never NULL.
	 */
	int (*open)(const char *target, const struct lun_config *cfg,
		    struct lun **out);
	/* Another handle on the same LUN; NULL: lun.c calls open() again. */
	int (*dup)(struct lun *lun, struct lun **out);
	/* Frees what open allocated; nothing is in flight. Never NULL. */
	void (*close)(struct lun *lun);
	/* Queues a validated request: 0 or -EAGAIN. Never NULL. */
	int (*submit)(struct lun *lun, struct lun_io *io);
	/* Starts queued requests; NULL if submit already starts them. */
	int (*kick)(struct lun *lun);
	/*
	 * Completes requests, waiting for 'min_done' of them up to
	 * 'timeout_ms' (-1: until the request deadlines). Returns the count
	 * completed or -errno. Never NULL.
	 */
	int (*poll)(struct lun *lun, unsigned int min_done, int timeout_ms);
	/*
	 * The completion fd of lun_event_fd(), made on first call and kept
	 * in step by submit(), poll() and kick(); NULL: -EOPNOTSUPP.
	 */
	int (*event_fd)(struct lun *lun);
	/* NULL: registration is a no-op. */
	int (*register_buffers)(struct lun *lun, const struct iovec *bufs,
				unsigned int nbufs);
	/* NULL: -EOPNOTSUPP. Same contract as lun_ats(). */
	int (*ats)(struct lun *lun, uint64_t offset, const void *expected,
		   const void *desired, uint64_t len);
	/* Persistent reservations; NULL: -EOPNOTSUPP. */
	int (*pr_register)(struct lun *lun, uint64_t key);
	int (*pr_reserve)(struct lun *lun, enum lun_pr_type type);
	int (*pr_release)(struct lun *lun, enum lun_pr_type type);
	int (*pr_preempt)(struct lun *lun, uint64_t victim_key,
			  enum lun_pr_type type, bool abort);
	int (*pr_read)(struct lun *lun, struct lun_pr_state *out);
};

struct lun {                     /* base state, owned by lun.c */
	const struct lun_ops *ops;
	struct lun_info info;    /* filled by the backend's open() */
	struct lun_config cfg;   /* defaults applied */
	char *uri;
	uint64_t pr_key;         /* registered key, 0 if none */
	unsigned int inflight;
	struct lun_stats stats;
};

/* Records the result, updates counters, runs io->done(). */
void lun_io_complete(struct lun *lun, struct lun_io *io, int64_t result);

/* Default key derived from the host name and pid, never 0. */
uint64_t lun_default_pr_key(void);

/*
 * Helpers for the fds behind lun_event_fd() (lun-event.c): an eventfd
 * made readable, emptied, and a CLOCK_MONOTONIC timerfd armed at an
 * absolute time (UINT64_MAX disarms; a time already past fires at once).
 */
int lun_eventfd_new(void);
void lun_eventfd_signal(int fd);
void lun_eventfd_drain(int fd);
int lun_timerfd_new(void);
void lun_timerfd_arm(int fd, uint64_t at_ns);

/* Checks a request against the LUN's geometry; 0 or -EINVAL/-ERANGE. */
int lun_io_validate(const struct lun *lun, const struct lun_io *io);

extern const struct lun_ops lun_file_ops;
extern const struct lun_ops lun_iscsi_ops;
extern const struct lun_ops lun_mem_ops;
extern const struct lun_ops lun_faulty_ops;

#endif
