/* SPDX-License-Identifier: MIT */
/*
 * The fault-injecting LUN wrapper (see lun-faulty.h for the options and
 * rule syntax). Every request passes through decide(), which picks at
 * most one fault from the rules, then from the probabilities. Without a
 * fault the request goes to the inner LUN unchanged, except in volatile
 * mode, where plain writes stop in a write-back cache that flushes, FUA
 * writes and ATS drain in order and power cuts lose a random part of.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/clock.h"
#include "common/log.h"
#include "vfs-cluster/lun-faulty.h"
#include "vfs-cluster/lun-provider.h"
#include "vfs-cluster/lun-writelog.h"

#define MAX_RULES 64

struct cached_write {
	struct cached_write *next;
	uint64_t offset;
	uint32_t len;
	uint8_t *data;   /* page-aligned: the inner LUN may be O_DIRECT */
};

/* Shared by every handle dup'ed from one wrapper; 'lock' guards it all. */
struct fault_state {
	pthread_mutex_t lock;
	unsigned int refs;
	struct lun_fault_rule rules[MAX_RULES];
	uint64_t matched[MAX_RULES], fired[MAX_RULES];
	unsigned int nrules;
	uint64_t rng;
	double p_error, p_drop, p_tear, p_delay;
	uint32_t delay_ms;
	bool volatile_cache;
	struct cached_write *cache, **cache_tail;
	int log_fd;              /* -1: no write log */
	uint64_t log_seq;
	struct lun_fault_stats stats;
};

struct fio;

struct lun_faulty {
	struct lun base;
	struct lun *inner;
	struct fault_state *fs;
	struct fio *ready, **ready_tail;  /* finished, to report at poll */
	struct fio *delayed;              /* finished, reported when due */
	/* lun_event_fd(): an epoll fd over the inner handle's fd, 'efd'
	 * (set while 'ready' is not empty) and 'tfd' (the first delayed
	 * completion's due time); all -1 until asked for. */
	int epfd, efd, tfd;
};

/* One outer request on its way through the wrapper. */
struct fio {
	struct lun_io inner;
	struct lun_io *outer;
	struct lun_faulty *f;
	struct fio *next;
	enum lun_fault_action action;  /* 0: none */
	uint32_t delay_ms;             /* DELAY: how late */
	uint64_t due_ns;               /* DELAY: when to report */
	struct iovec tear_iov[64];     /* TEAR: the prefix that lands */
};

static struct lun_faulty *
to_faulty(struct lun *lun)
{
	return container_of(lun, struct lun_faulty, base);
}

bool
lun_is_faulty(const struct lun *lun)
{
	return lun->ops == &lun_faulty_ops;
}

static uint64_t
rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static bool
chance(struct fault_state *fs, double p)
{
	if (p <= 0)
		return false;
	if (p >= 1)
		return true;
	return (double)(rng_next(&fs->rng) >> 11) / (double)(1ull << 53) < p;
}

/* ---- options and rules ---- */

static const struct {
	const char *name;
	int err;
} errnames[] = {
	{ "EIO", EIO },         { "ETIMEDOUT", ETIMEDOUT },
	{ "EBADE", EBADE },     { "ENOSPC", ENOSPC },
	{ "ENOTCONN", ENOTCONN }, { "EROFS", EROFS },
	{ "ENOMEM", ENOMEM },   { "EAGAIN", EAGAIN },
	{ "ECONNRESET", ECONNRESET }, { "EUCLEAN", EUCLEAN },
};

static int
parse_errno(const char *s, int *out)
{
	uint64_t v;

	for (size_t i = 0; i < ARRAY_SIZE(errnames); i++)
		if (strcmp(s, errnames[i].name) == 0)
			return *out = errnames[i].err, 0;
	if (cli_parse_u64(s, 1, 4095, &v) < 0)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static int
parse_ops(const char *s, uint32_t *ops)
{
	static const struct {
		const char *name;
		uint32_t mask;
	} names[] = {
		{ "read", LUN_FAULT_OP(LUN_OP_READ) },
		{ "write", LUN_FAULT_OP(LUN_OP_WRITE) },
		{ "flush", LUN_FAULT_OP(LUN_OP_FLUSH) },
		{ "discard", LUN_FAULT_OP(LUN_OP_DISCARD) },
		{ "ats", LUN_FAULT_OP_ATS },
		{ "any", LUN_FAULT_OP_ANY },
	};

	*ops = 0;
	while (*s) {
		size_t n = strcspn(s, ",");
		size_t i;

		for (i = 0; i < ARRAY_SIZE(names); i++)
			if (strlen(names[i].name) == n &&
			    !strncmp(s, names[i].name, n))
				break;
		if (i == ARRAY_SIZE(names))
			return -EINVAL;
		*ops |= names[i].mask;
		s += n + (s[n] == ',');
	}
	return *ops ? 0 : -EINVAL;
}

static int
parse_action(char *tok, struct lun_fault_rule *r)
{
	char *arg = strchr(tok, '=');
	uint64_t v;

	if (arg)
		*arg++ = '\0';
	if (!strcmp(tok, "error")) {
		r->action = LUN_FAULT_ERROR;
		r->error = EIO;
		return arg ? parse_errno(arg, &r->error) : 0;
	}
	if (!strcmp(tok, "drop") || !strcmp(tok, "crash")) {
		r->action = tok[0] == 'd' ? LUN_FAULT_DROP : LUN_FAULT_CRASH;
		return arg ? -EINVAL : 0;
	}
	if (!strcmp(tok, "delay")) {
		r->action = LUN_FAULT_DELAY;
		if (!arg || cli_parse_u64(arg, 0, 3600000, &v) < 0)
			return -EINVAL;
		r->delay_ms = (uint32_t)v;
		return 0;
	}
	if (!strcmp(tok, "tear")) {
		r->action = LUN_FAULT_TEAR;
		if (arg && cli_parse_u64(arg, 0, 1u << 20, &v) < 0)
			return -EINVAL;
		r->tear_sectors = arg ? (uint32_t)v : 0;
		return 0;
	}
	return -EINVAL;
}

static int
parse_param(char *tok, struct lun_fault_rule *r, bool *have_count)
{
	char *val = strchr(tok, '=');
	char *end;

	if (!val)
		return -EINVAL;
	*val++ = '\0';
	if (!strcmp(tok, "nth"))
		return cli_parse_u64(val, 1, UINT64_MAX, &r->nth);
	if (!strcmp(tok, "count")) {
		*have_count = true;
		return cli_parse_u64(val, 0, UINT64_MAX, &r->count);
	}
	if (!strcmp(tok, "p")) {
		r->probability = strtod(val, &end);
		return *end || r->probability < 0 || r->probability > 1 ?
			       -EINVAL : 0;
	}
	if (!strcmp(tok, "range")) {
		char *dash = strchr(val, '-');

		if (!dash)
			return -EINVAL;
		*dash++ = '\0';
		if (cli_parse_size(val, &r->range_lo) < 0 ||
		    cli_parse_size(dash, &r->range_hi) < 0 ||
		    r->range_hi <= r->range_lo)
			return -EINVAL;
		return 0;
	}
	return -EINVAL;
}

int
lun_faulty_parse_rule(const char *line, struct lun_fault_rule *out)
{
	struct lun_fault_rule r = { 0 };
	bool have_count = false;
	char buf[512], *save = NULL, *tok;
	int err = 0;

	if (strlen(line) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, line);
	tok = strtok_r(buf, " \t\r\n", &save);
	if (!tok || parse_ops(tok, &r.ops) < 0)
		return -EINVAL;
	tok = strtok_r(NULL, " \t\r\n", &save);
	if (!tok || parse_action(tok, &r) < 0)
		return -EINVAL;
	while (err == 0 && (tok = strtok_r(NULL, " \t\r\n", &save)))
		err = parse_param(tok, &r, &have_count);
	if (err < 0)
		return -EINVAL;
	if (r.nth && !have_count)
		r.count = 1;
	if (!r.nth)
		r.nth = 1;
	*out = r;
	return 0;
}

static int
load_script(struct fault_state *fs, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int lineno = 0, err = 0;

	if (!f)
		return -errno;
	while (err == 0 && fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " \t");

		lineno++;
		if (*p == '#' || *p == '\n' || *p == '\0')
			continue;
		if (fs->nrules == MAX_RULES)
			err = -E2BIG;
		else
			err = lun_faulty_parse_rule(p, &fs->rules[fs->nrules++]);
		if (err < 0)
			log_err("vfs.lun", "%s:%d: bad fault rule", path, lineno);
	}
	fclose(f);
	return err;
}

static int
parse_prob(const char *v, double *out)
{
	char *end;

	*out = strtod(v, &end);
	return *end || *out < 0 || *out > 1 ? -EINVAL : 0;
}

static int
apply_option(struct fault_state *fs, char *opt)
{
	char *val = strchr(opt, '=');
	uint64_t v;

	if (!val)
		return -EINVAL;
	*val++ = '\0';
	if (!strcmp(opt, "seed")) {
		if (cli_parse_u64(val, 0, UINT64_MAX, &v) < 0)
			return -EINVAL;
		fs->rng = v ? v : 1;
		return 0;
	}
	if (!strcmp(opt, "p_error"))
		return parse_prob(val, &fs->p_error);
	if (!strcmp(opt, "p_drop"))
		return parse_prob(val, &fs->p_drop);
	if (!strcmp(opt, "p_tear"))
		return parse_prob(val, &fs->p_tear);
	if (!strcmp(opt, "p_delay"))
		return parse_prob(val, &fs->p_delay);
	if (!strcmp(opt, "delay_ms")) {
		if (cli_parse_u64(val, 0, 3600000, &v) < 0)
			return -EINVAL;
		fs->delay_ms = (uint32_t)v;
		return 0;
	}
	if (!strcmp(opt, "volatile")) {
		fs->volatile_cache = strcmp(val, "0") != 0;
		return 0;
	}
	if (!strcmp(opt, "log")) {
		fs->log_fd = open(val, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
				  0644);
		return fs->log_fd < 0 ? -errno : 0;
	}
	if (!strcmp(opt, "script"))
		return load_script(fs, val);
	return -EINVAL;
}

static int
parse_options(struct fault_state *fs, const char *options)
{
	char *copy, *save = NULL, *opt;
	int err = 0;

	if (!options || !*options)
		return 0;
	copy = strdup(options);
	if (!copy)
		return -ENOMEM;
	for (opt = strtok_r(copy, ",", &save); opt && err == 0;
	     opt = strtok_r(NULL, ",", &save)) {
		err = apply_option(fs, opt);
		if (err < 0)
			log_err("vfs.lun", "faulty: bad option '%s'", opt);
	}
	free(copy);
	return err;
}

/* ---- state ---- */

static struct fault_state *
state_create(void)
{
	struct fault_state *fs = calloc(1, sizeof(*fs));
	pthread_mutexattr_t attr;

	if (!fs)
		return NULL;
	/* Recursive: draining the cache polls the inner LUN, whose
	 * completions (inner_done) take the lock again. */
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&fs->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	fs->refs = 1;
	fs->rng = 0x9e3779b97f4a7c15ull;
	fs->delay_ms = 100;
	fs->log_fd = -1;
	fs->cache_tail = &fs->cache;
	return fs;
}

static void
state_put(struct fault_state *fs)
{
	struct cached_write *c, *next;
	unsigned int refs;

	pthread_mutex_lock(&fs->lock);
	refs = --fs->refs;
	pthread_mutex_unlock(&fs->lock);
	if (refs)
		return;
	for (c = fs->cache; c; c = next) {
		next = c->next;
		free(c->data);
		free(c);
	}
	if (fs->log_fd >= 0)
		close(fs->log_fd);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
}

static void
log_record(struct fault_state *fs, uint32_t type, uint64_t offset,
	   const struct iovec *iov, unsigned int iovcnt, uint32_t len)
{
	if (fs->log_fd < 0)
		return;
	if (wl_append(fs->log_fd, fs->log_seq++, type, offset, iov, iovcnt,
		      len) < 0)
		log_warn("vfs.lun", "faulty: write log append failed");
}

/*
 * Writes the cache to the inner LUN in order ('fs->lock' held). With
 * 'rng' set (a power cut) each write lands with probability 1/2 and the
 * last one that lands may tear.
 */
static int
drain_cache(struct lun_faulty *f, uint64_t *rng)
{
	struct fault_state *fs = f->fs;
	uint32_t sector = f->inner->info.logical_sector_bytes;
	struct cached_write *c, *next;
	int err = 0;

	for (c = fs->cache; c; c = next) {
		uint32_t len = c->len;

		next = c->next;
		if (rng && !(rng_next(rng) & 1)) {
			fs->stats.lost_writes++;
		} else if (err == 0) {
			if (rng && !next && len > sector && (rng_next(rng) & 1))
				len = (uint32_t)(rng_next(rng) % (len / sector)) *
				      sector;
			if (len)
				err = lun_write(f->inner, c->offset, c->data,
						len, 0);
			log_record(fs, WL_WRITE, c->offset,
				   &(struct iovec){ c->data, len }, 1, len);
		}
		free(c->data);
		free(c);
	}
	fs->cache = NULL;
	fs->cache_tail = &fs->cache;
	fs->stats.cached_writes = 0;
	return err;
}

static int
cache_write(struct fault_state *fs, const struct lun_io *io)
{
	struct cached_write *c = malloc(sizeof(*c));
	uint64_t off = 0;

	if (!c)
		return -ENOMEM;
	if (posix_memalign((void **)&c->data, 4096, io->len_bytes)) {
		free(c);
		return -ENOMEM;
	}
	c->next = NULL;
	c->offset = io->offset_bytes;
	c->len = (uint32_t)io->len_bytes;
	for (uint32_t i = 0; i < io->iovcnt; i++) {
		memcpy(c->data + off, io->iov[i].iov_base, io->iov[i].iov_len);
		off += io->iov[i].iov_len;
	}
	*fs->cache_tail = c;
	fs->cache_tail = &c->next;
	fs->stats.cached_writes++;
	return 0;
}

/* Copies cached data overlapping a completed read into its buffers. */
static void
overlay_cache(struct fault_state *fs, const struct lun_io *io)
{
	uint64_t lo = io->offset_bytes, hi = lo + io->len_bytes;

	for (struct cached_write *c = fs->cache; c; c = c->next) {
		uint64_t a = MAX(lo, c->offset), b = MIN(hi, c->offset + c->len);
		uint64_t pos = lo;

		if (a >= b)
			continue;
		for (uint32_t i = 0; i < io->iovcnt; i++) {
			uint64_t s = MAX(a, pos);
			uint64_t e = MIN(b, pos + io->iov[i].iov_len);

			if (s < e)
				memcpy((uint8_t *)io->iov[i].iov_base + (s - pos),
				       c->data + (s - c->offset), e - s);
			pos += io->iov[i].iov_len;
		}
	}
}

/* ---- fault decisions ---- */

static bool
rule_matches(const struct lun_fault_rule *r, uint32_t opbit,
	     uint64_t offset, uint64_t len)
{
	if (!(r->ops & opbit))
		return false;
	if (r->range_hi && (offset >= r->range_hi || offset + len <= r->range_lo))
		return false;
	return true;
}

/* Picks the fault for one request ('fs->lock' held); 0 for none. */
static enum lun_fault_action
decide(struct fault_state *fs, uint32_t opbit, uint64_t offset, uint64_t len,
       const struct lun_fault_rule **which)
{
	bool is_write = opbit == LUN_FAULT_OP(LUN_OP_WRITE);

	for (unsigned int i = 0; i < fs->nrules; i++) {
		const struct lun_fault_rule *r = &fs->rules[i];

		if (!rule_matches(r, opbit, offset, len))
			continue;
		if (++fs->matched[i] < r->nth)
			continue;
		if (r->count && fs->fired[i] >= r->count)
			continue;
		if (r->probability > 0 && !chance(fs, r->probability))
			continue;
		fs->fired[i]++;
		*which = r;
		return r->action;
	}
	*which = NULL;
	if (chance(fs, fs->p_error))
		return LUN_FAULT_ERROR;
	if (is_write && chance(fs, fs->p_drop))
		return LUN_FAULT_DROP;
	if (is_write && chance(fs, fs->p_tear))
		return LUN_FAULT_TEAR;
	if (chance(fs, fs->p_delay))
		return LUN_FAULT_DELAY;
	return 0;
}

/* Keeps the first 'sectors' sectors (random when 0) of a write's iovec. */
static void
tear_prefix(struct fio *fio, uint32_t sectors, uint32_t sector_bytes,
	    uint64_t *rng)
{
	struct lun_io *io = fio->outer;
	uint64_t total = io->len_bytes / sector_bytes;
	uint64_t keep, left;
	unsigned int n = 0;

	if (sectors == 0)
		sectors = (uint32_t)(rng_next(rng) % total);
	keep = MIN((uint64_t)sectors, total - 1) * sector_bytes;
	left = keep;
	for (uint32_t i = 0; i < io->iovcnt && left && n < 64; i++) {
		size_t part = MIN(left, io->iov[i].iov_len);

		fio->tear_iov[n++] = (struct iovec){ io->iov[i].iov_base, part };
		left -= part;
	}
	fio->inner.iov = fio->tear_iov;
	fio->inner.iovcnt = n;
	fio->inner.len_bytes = keep;
}

static void
ready(struct lun_faulty *f, struct fio *fio)
{
	fio->next = NULL;
	*f->ready_tail = fio;
	f->ready_tail = &fio->next;
	if (f->efd >= 0)
		lun_eventfd_signal(f->efd);
}

static void
delay_until(struct lun_faulty *f, struct fio *fio, uint64_t due)
{
	struct fio **pp = &f->delayed;

	fio->due_ns = due;
	while (*pp && (*pp)->due_ns <= due)
		pp = &(*pp)->next;
	fio->next = *pp;
	*pp = fio;
	if (f->tfd >= 0 && f->delayed == fio)
		lun_timerfd_arm(f->tfd, due);
}

/* Inner completion: log what became durable-ordered, then queue. */
static void
inner_done(struct lun_io *iio)
{
	struct fio *fio = container_of(iio, struct fio, inner);
	struct lun_faulty *f = fio->f;
	struct fault_state *fs = f->fs;
	struct lun_io *io = fio->outer;

	pthread_mutex_lock(&fs->lock);
	if (iio->result >= 0) {
		switch (io->op) {
		case LUN_OP_READ:
			if (fs->volatile_cache)
				overlay_cache(fs, io);
			break;
		case LUN_OP_WRITE:
			log_record(fs, io->flags & LUN_IO_FUA ? WL_FUA_WRITE :
								 WL_WRITE,
				   iio->offset_bytes, iio->iov, iio->iovcnt,
				   (uint32_t)iio->len_bytes);
			break;
		case LUN_OP_FLUSH:
			log_record(fs, WL_FLUSH, 0, NULL, 0, 0);
			break;
		case LUN_OP_DISCARD:
			log_record(fs, WL_DISCARD, iio->offset_bytes, NULL, 0,
				   (uint32_t)iio->len_bytes);
			break;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	/* A torn write claims success for all of it, like a lying disk. */
	if (fio->action == LUN_FAULT_TEAR && iio->result >= 0)
		iio->result = (int64_t)io->len_bytes;
	if (fio->action == LUN_FAULT_DELAY)
		delay_until(f, fio, clock_mono_ns() +
					    (uint64_t)fio->delay_ms * NS_PER_MS);
	else
		ready(f, fio);
}

/* ---- ops ---- */

static int
faulty_wrap_state(struct lun *inner, struct fault_state *fs, struct lun **out)
{
	struct lun_faulty *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->inner = inner;
	f->fs = fs;
	f->ready_tail = &f->ready;
	f->epfd = f->efd = f->tfd = -1;
	f->base.info = inner->info;
	f->base.info.scheme = "faulty";
	f->base.pr_key = inner->pr_key;
	*out = &f->base;
	return 0;
}

int
lun_faulty_wrap(struct lun *inner, const char *options, struct lun **out)
{
	struct fault_state *fs = state_create();
	struct lun *lun = NULL;
	int err;

	if (!fs) {
		lun_close(inner);
		return -ENOMEM;
	}
	err = parse_options(fs, options);
	if (err == 0)
		err = faulty_wrap_state(inner, fs, &lun);
	if (err < 0) {
		state_put(fs);
		lun_close(inner);
		return err;
	}
	/* Wrapping by hand: fill in what lun_open() would. */
	lun->ops = &lun_faulty_ops;
	lun->cfg = inner->cfg;
	lun->uri = strdup(lun_uri(inner));
	if (!lun->uri) {
		lun_faulty_ops.close(lun);
		return -ENOMEM;
	}
	*out = lun;
	return 0;
}

static int
faulty_open(const char *target, const struct lun_config *cfg,
	    struct lun **out)
{
	const char *colon = strchr(target, ':');
	struct fault_state *fs;
	struct lun *inner;
	char *options;
	int err;

	/* target is ":INNER" or ",OPTIONS:INNER". */
	if (!colon)
		return -EINVAL;
	options = strndup(target + 1, colon == target ? 0 :
				      (size_t)(colon - target - 1));
	if (!options)
		return -ENOMEM;
	fs = state_create();
	err = fs ? parse_options(fs, options) : -ENOMEM;
	free(options);
	if (err < 0)
		goto err_state;
	err = lun_open(colon + 1, cfg, &inner);
	if (err < 0)
		goto err_state;
	err = faulty_wrap_state(inner, fs, out);
	if (err < 0) {
		lun_close(inner);
		goto err_state;
	}
	return 0;

err_state:
	if (fs)
		state_put(fs);
	return err;
}

static int
faulty_dup(struct lun *lun, struct lun **out)
{
	struct lun_faulty *f = to_faulty(lun);
	struct lun *inner;
	int err;

	err = lun_dup(f->inner, &inner);
	if (err < 0)
		return err;
	pthread_mutex_lock(&f->fs->lock);
	f->fs->refs++;
	pthread_mutex_unlock(&f->fs->lock);
	err = faulty_wrap_state(inner, f->fs, out);
	if (err < 0) {
		state_put(f->fs);
		lun_close(inner);
	}
	return err;
}

static void
faulty_close(struct lun *lun)
{
	struct lun_faulty *f = to_faulty(lun);

	lun_close(f->inner);
	state_put(f->fs);
	if (f->epfd >= 0)
		close(f->epfd);
	if (f->efd >= 0)
		close(f->efd);
	if (f->tfd >= 0)
		close(f->tfd);
	free(f);
}

/* Runs a fault that needs no inner I/O, or a crash ('fs->lock' held). */
static int
fail_now(struct lun_faulty *f, struct fio *fio, enum lun_fault_action act,
	 const struct lun_fault_rule *r)
{
	struct fault_state *fs = f->fs;
	struct lun_io *io = fio->outer;

	switch (act) {
	case LUN_FAULT_DROP:
		fs->stats.drops++;
		fio->inner.result = (int64_t)io->len_bytes;
		break;
	case LUN_FAULT_CRASH:
		fs->stats.crashes++;
		if (io->op == LUN_OP_WRITE && io->len_bytes >
						      f->inner->info.logical_sector_bytes) {
			tear_prefix(fio, r ? r->tear_sectors : 0,
				    f->inner->info.logical_sector_bytes,
				    &fs->rng);
			/* What reached the media before the power went. */
			if (fio->inner.len_bytes &&
			    lun_write(f->inner, io->offset_bytes,
				      fio->tear_iov[0].iov_base,
				      fio->tear_iov[0].iov_len, 0) < 0)
				log_warn("vfs.lun", "faulty: torn write failed");
		}
		drain_cache(f, &fs->rng);
		fs->stats.dead = true;
		fio->inner.result = -EIO;
		break;
	default:
		fs->stats.errors++;
		fio->inner.result = -(r ? r->error : EIO);
		break;
	}
	ready(f, fio);
	return 0;
}

static int
faulty_submit(struct lun *lun, struct lun_io *io)
{
	struct lun_faulty *f = to_faulty(lun);
	struct fault_state *fs = f->fs;
	const struct lun_fault_rule *rule;
	enum lun_fault_action act;
	struct fio *fio = calloc(1, sizeof(*fio));
	int err = 0;

	if (!fio)
		return -ENOMEM;
	fio->f = f;
	fio->outer = io;
	fio->inner = *io;
	fio->inner.done = inner_done;
	pthread_mutex_lock(&fs->lock);
	if (fs->stats.dead) {
		fio->inner.result = -EIO;
		ready(f, fio);
		goto out;
	}
	act = decide(fs, LUN_FAULT_OP(io->op), io->offset_bytes,
		     io->len_bytes, &rule);
	/* A drop or tear of anything but a write is meaningless. */
	if ((act == LUN_FAULT_DROP || act == LUN_FAULT_TEAR) &&
	    io->op != LUN_OP_WRITE)
		act = 0;
	if (act == LUN_FAULT_TEAR &&
	    io->len_bytes <= f->inner->info.logical_sector_bytes)
		act = LUN_FAULT_DROP;
	fio->action = act;
	if (act == LUN_FAULT_ERROR || act == LUN_FAULT_DROP ||
	    act == LUN_FAULT_CRASH) {
		err = fail_now(f, fio, act, rule);
		goto out;
	}
	if (act == LUN_FAULT_TEAR) {
		fs->stats.tears++;
		tear_prefix(fio, rule ? rule->tear_sectors : 0,
			    f->inner->info.logical_sector_bytes, &fs->rng);
	} else if (act == LUN_FAULT_DELAY) {
		fs->stats.delays++;
		fio->delay_ms = rule ? rule->delay_ms : fs->delay_ms;
	}
	if (fs->volatile_cache) {
		if (io->op == LUN_OP_WRITE && !(io->flags & LUN_IO_FUA) &&
		    act == 0) {
			err = cache_write(fs, io);
			if (err == 0) {
				fio->inner.result = (int64_t)io->len_bytes;
				ready(f, fio);
			}
			goto out;
		}
		/* Flush, FUA and discard order after everything cached. */
		if (io->op != LUN_OP_READ)
			err = drain_cache(f, NULL);
	}
	if (err == 0 && fio->inner.len_bytes == 0 && io->op == LUN_OP_WRITE) {
		fio->inner.result = (int64_t)io->len_bytes; /* torn to nothing */
		ready(f, fio);
		goto out;
	}
	if (err == 0)
		err = lun_submit(f->inner, &fio->inner);
out:
	pthread_mutex_unlock(&fs->lock);
	if (err < 0)
		free(fio);
	return err;
}

static int
faulty_kick(struct lun *lun)
{
	return lun_kick(to_faulty(lun)->inner);
}

static unsigned int
report(struct lun_faulty *f)
{
	uint64_t now = clock_mono_ns();
	unsigned int n = 0;
	struct fio *fio;

	while (f->delayed && f->delayed->due_ns <= now) {
		fio = f->delayed;
		f->delayed = fio->next;
		ready(f, fio);
	}
	while ((fio = f->ready) != NULL) {
		f->ready = fio->next;
		if (!f->ready)
			f->ready_tail = &f->ready;
		lun_io_complete(&f->base, fio->outer, fio->inner.result);
		free(fio);
		n++;
	}
	return n;
}

/* The event fd: readable while reports wait, or at the next due time. */
static void
rearm(struct lun_faulty *f)
{
	if (f->epfd < 0)
		return;
	lun_eventfd_drain(f->efd);
	if (f->ready)
		lun_eventfd_signal(f->efd);
	lun_timerfd_arm(f->tfd, f->delayed ? f->delayed->due_ns : UINT64_MAX);
}

static int
faulty_poll(struct lun *lun, unsigned int min_done, int timeout_ms)
{
	struct lun_faulty *f = to_faulty(lun);
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX :
			    clock_mono_ns() + (uint64_t)timeout_ms * NS_PER_MS;
	unsigned int done = 0;

	for (;;) {
		int rc, wait_ms;
		uint64_t now;

		rc = lun_poll(f->inner, 0, 0);
		if (rc < 0) {
			rearm(f);
			return rc;
		}
		done += report(f);
		now = clock_mono_ns();
		if (done >= min_done || lun->inflight == 0 || now >= deadline) {
			rearm(f);
			return (int)done;
		}
		/* Sleep in the inner poll, waking for the next delayed one. */
		wait_ms = 10;
		if (f->delayed && f->delayed->due_ns > now)
			wait_ms = (int)MIN((uint64_t)wait_ms,
					   (f->delayed->due_ns - now) / NS_PER_MS + 1);
		if (lun_inflight(f->inner)) {
			rc = lun_poll(f->inner, 1, wait_ms);
			if (rc < 0) {
				rearm(f);
				return rc;
			}
		} else if (!f->ready) {
			struct timespec ts = { 0, (long)wait_ms * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
}

static int
epoll_add(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int
faulty_event_fd(struct lun *lun)
{
	struct lun_faulty *f = to_faulty(lun);
	int inner_fd, rc;

	if (f->epfd >= 0)
		return f->epfd;
	inner_fd = lun_event_fd(f->inner);
	if (inner_fd < 0)
		return inner_fd;
	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	f->efd = lun_eventfd_new();
	f->tfd = lun_timerfd_new();
	rc = f->epfd < 0 ? -errno : f->efd < 0 ? f->efd :
	     f->tfd < 0 ? f->tfd : 0;
	if (rc == 0)
		rc = epoll_add(f->epfd, inner_fd);
	if (rc == 0)
		rc = epoll_add(f->epfd, f->efd);
	if (rc == 0)
		rc = epoll_add(f->epfd, f->tfd);
	if (rc < 0) {
		if (f->epfd >= 0)
			close(f->epfd);
		if (f->efd >= 0)
			close(f->efd);
		if (f->tfd >= 0)
			close(f->tfd);
		f->epfd = f->efd = f->tfd = -1;
		return rc;
	}
	rearm(f);
	return f->epfd;
}

static int
faulty_register_buffers(struct lun *lun, const struct iovec *bufs,
			unsigned int nbufs)
{
	return lun_register_buffers(to_faulty(lun)->inner, bufs, nbufs);
}

static int
faulty_ats(struct lun *lun, uint64_t offset, const void *expected,
	   const void *desired, uint64_t len)
{
	struct lun_faulty *f = to_faulty(lun);
	struct fault_state *fs = f->fs;
	const struct lun_fault_rule *rule;
	enum lun_fault_action act;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	if (fs->stats.dead) {
		rc = -EIO;
		goto out;
	}
	act = decide(fs, LUN_FAULT_OP_ATS, offset, len, &rule);
	if (act == LUN_FAULT_ERROR || act == LUN_FAULT_CRASH) {
		if (act == LUN_FAULT_CRASH) {
			drain_cache(f, &fs->rng);
			fs->stats.dead = true;
			fs->stats.crashes++;
		} else {
			fs->stats.errors++;
		}
		rc = act == LUN_FAULT_CRASH ? -EIO : -(rule ? rule->error : EIO);
		goto out;
	}
	if (fs->volatile_cache)
		rc = drain_cache(f, NULL);
	if (rc == 0)
		rc = lun_ats(f->inner, offset, expected, desired, len);
	if (rc == 0)
		log_record(fs, WL_FUA_WRITE, offset,
			   &(struct iovec){ (void *)desired, len }, 1,
			   (uint32_t)len);
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

static int
dead_check(struct lun_faulty *f)
{
	bool dead;

	pthread_mutex_lock(&f->fs->lock);
	dead = f->fs->stats.dead;
	pthread_mutex_unlock(&f->fs->lock);
	return dead ? -EIO : 0;
}

static int
faulty_pr_register(struct lun *lun, uint64_t key)
{
	struct lun_faulty *f = to_faulty(lun);

	return dead_check(f) ?: lun_pr_register(f->inner, key);
}

static int
faulty_pr_reserve(struct lun *lun, enum lun_pr_type type)
{
	struct lun_faulty *f = to_faulty(lun);

	return dead_check(f) ?: lun_pr_reserve(f->inner, type);
}

static int
faulty_pr_release(struct lun *lun, enum lun_pr_type type)
{
	struct lun_faulty *f = to_faulty(lun);

	return dead_check(f) ?: lun_pr_release(f->inner, type);
}

static int
faulty_pr_preempt(struct lun *lun, uint64_t victim, enum lun_pr_type type,
		  bool abort)
{
	struct lun_faulty *f = to_faulty(lun);

	return dead_check(f) ?: lun_pr_preempt(f->inner, victim, type, abort);
}

static int
faulty_pr_read(struct lun *lun, struct lun_pr_state *out)
{
	struct lun_faulty *f = to_faulty(lun);

	return dead_check(f) ?: lun_pr_read(f->inner, out);
}

/* ---- test control ---- */

int
lun_faulty_add_rule(struct lun *lun, const struct lun_fault_rule *rule)
{
	struct fault_state *fs;
	int err = 0;

	if (!lun_is_faulty(lun))
		return -EINVAL;
	fs = to_faulty(lun)->fs;
	pthread_mutex_lock(&fs->lock);
	if (fs->nrules == MAX_RULES) {
		err = -E2BIG;
	} else {
		fs->matched[fs->nrules] = fs->fired[fs->nrules] = 0;
		fs->rules[fs->nrules++] = *rule;
	}
	pthread_mutex_unlock(&fs->lock);
	return err;
}

void
lun_faulty_clear_rules(struct lun *lun)
{
	struct fault_state *fs;

	if (!lun_is_faulty(lun))
		return;
	fs = to_faulty(lun)->fs;
	pthread_mutex_lock(&fs->lock);
	fs->nrules = 0;
	fs->p_error = fs->p_drop = fs->p_tear = fs->p_delay = 0;
	pthread_mutex_unlock(&fs->lock);
}

int
lun_faulty_power_cut(struct lun *lun, uint64_t seed)
{
	struct lun_faulty *f;
	uint64_t rng = seed ? seed : 1;

	if (!lun_is_faulty(lun))
		return -EINVAL;
	f = to_faulty(lun);
	pthread_mutex_lock(&f->fs->lock);
	drain_cache(f, &rng);
	f->fs->stats.dead = true;
	pthread_mutex_unlock(&f->fs->lock);
	return 0;
}

void
lun_faulty_power_on(struct lun *lun)
{
	struct fault_state *fs;

	if (!lun_is_faulty(lun))
		return;
	fs = to_faulty(lun)->fs;
	pthread_mutex_lock(&fs->lock);
	fs->stats.dead = false;
	pthread_mutex_unlock(&fs->lock);
}

void
lun_faulty_get_stats(const struct lun *lun, struct lun_fault_stats *out)
{
	struct fault_state *fs;

	memset(out, 0, sizeof(*out));
	if (!lun_is_faulty(lun))
		return;
	fs = container_of(lun, struct lun_faulty, base)->fs;
	pthread_mutex_lock(&fs->lock);
	*out = fs->stats;
	pthread_mutex_unlock(&fs->lock);
}

const struct lun_ops lun_faulty_ops = {
	.scheme = "faulty",
	.open = faulty_open,
	.dup = faulty_dup,
	.close = faulty_close,
	.submit = faulty_submit,
	.kick = faulty_kick,
	.poll = faulty_poll,
	.event_fd = faulty_event_fd,
	.register_buffers = faulty_register_buffers,
	.ats = faulty_ats,
	.pr_register = faulty_pr_register,
	.pr_reserve = faulty_pr_reserve,
	.pr_release = faulty_pr_release,
	.pr_preempt = faulty_pr_preempt,
	.pr_read = faulty_pr_read,
};
