/* SPDX-License-Identifier: MIT */
/*
 * The disk object: create, open (with its lock), info, map and the
 * synchronous I/O helpers. Path-level operations that change an existing
 * disk (extend, inflate, clone, rename, remove, check) are in
 * disk-ops.c; the asynchronous data path is engine.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/progress.h"
#include "vdisk/vdisk-provider.h"

/* Allocation work is done in slices so a progress bar can move. */
#define ALLOC_SLICE (1ull << 30)
/* Synchronous I/O on layered disks moves through the engine in pieces. */
#define SYNC_CHUNK (4u << 20)

static const struct vdisk_provider *provider;

void
vdisk_provider_register(const struct vdisk_provider *p)
{
	provider = p;
}

const struct vdisk_provider *
vdisk_provider_get(void)
{
	return provider;
}

static void
name_with_suffix(const char *leaf, const char *suffix, char *out, size_t len)
{
	size_t n = strlen(leaf);

	if (n > 5 && !strcmp(leaf + n - 5, ".vmdk"))
		snprintf(out, len, "%.*s-%s.vmdk", (int)(n - 5), leaf, suffix);
	else
		snprintf(out, len, "%s-%s", leaf, suffix);
}

void
vdisk_name_data(const char *leaf, char *out, size_t len)
{
	name_with_suffix(leaf, "flat", out, len);
}

void
vdisk_name_ctk(const char *leaf, char *out, size_t len)
{
	name_with_suffix(leaf, "ctk", out, len);
}

bool
vdisk_buf_is_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	/* Check the head, then compare the buffer with itself shifted. */
	if (len < 16) {
		for (size_t i = 0; i < len; i++)
			if (p[i])
				return false;
		return true;
	}
	for (size_t i = 0; i < 16; i++)
		if (p[i])
			return false;
	return memcmp(p, p + 16, len - 16) == 0;
}

int
vdisk_desc_load(struct vdisk_store *st, const char *leaf,
		struct vdisk_desc *d)
{
	char err[200];
	size_t len;
	char *text;
	int rc;

	rc = vdisk_store_read_all(st, leaf, DESC_MAX_BYTES, &text, &len);
	if (rc == -EFBIG) {
		vdisk_err("vdisk", "%s: not a disk descriptor (too large)", leaf);
		return -EUCLEAN;
	}
	if (rc < 0)
		return rc;
	rc = vdisk_desc_parse(text, len, d, err, sizeof(err));
	free(text);
	if (rc < 0)
		vdisk_err("vdisk", "%s: bad descriptor: %s", leaf, err);
	return rc;
}

int
vdisk_desc_store(struct vdisk_store *st, const char *leaf,
		 const struct vdisk_desc *d)
{
	char *buf = malloc(DESC_MAX_BYTES);
	int n, rc;

	if (!buf)
		return -ENOMEM;
	n = vdisk_desc_format(d, buf, DESC_MAX_BYTES);
	rc = n < 0 ? n : vdisk_store_write_atomic(st, leaf, buf, (size_t)n);
	free(buf);
	return rc;
}

static bool
plain_name(const char *s)
{
	return *s && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

int
vdisk_desc_check_openable(const struct vdisk_desc *d, const char *path)
{
	const struct desc_extent *e = &d->ext[0];

	if (d->parent_cid != DESC_NO_PARENT || d->parent_hint[0] ||
	    e->kind == DESC_EXT_DELTA || e->kind == DESC_EXT_VMFSSPARSE ||
	    e->kind == DESC_EXT_SESPARSE) {
		vdisk_err("vdisk", "%s: a delta disk (snapshot); open it through "
			"the snapshot layer", path);
		return -EOPNOTSUPP;
	}
	if (d->nextents != 1 ||
	    (e->kind != DESC_EXT_VMFS && e->kind != DESC_EXT_FLAT) ||
	    e->offset_sectors != 0) {
		vdisk_err("vdisk", "%s: not a vstack disk (%u extents, %s); "
			"use 'vdisk import'", path, d->nextents,
			vdisk_desc_kind_name(e->kind));
		return -EOPNOTSUPP;
	}
	if (e->access != DESC_RW) {
		vdisk_err("vdisk", "%s: extent is not RW", path);
		return -EOPNOTSUPP;
	}
	if (!plain_name(e->file) || strlen(e->file) > DESC_NAME_MAX - 8 ||
	    (d->change_track[0] && !plain_name(d->change_track))) {
		vdisk_err("vdisk", "%s: data files must sit beside the "
			"descriptor", path);
		return -EUCLEAN;
	}
	return 0;
}

static enum store_alloc
alloc_for(enum vdisk_type type)
{
	switch (type) {
	case VDISK_ZEROEDTHICK: return STORE_ALLOC_RESERVE;
	case VDISK_EAGERZEROEDTHICK: return STORE_ALLOC_ZERO;
	default: return STORE_ALLOC_THIN;
	}
}

int
vdisk_allocate_range(struct vdisk_store *st, struct store_file *f,
		     uint64_t off, uint64_t end, enum vdisk_type type,
		     struct progress *progress)
{
	enum store_alloc how = alloc_for(type);
	uint64_t start = off;

	if (how == STORE_ALLOC_THIN)
		return 0;
	while (off < end) {
		uint64_t n = MIN(end - off, ALLOC_SLICE);
		int rc = st->ops->allocate(f, off, n, how);

		if (rc < 0)
			return rc;
		off += n;
		progress_update(progress, off - start);
	}
	return how == STORE_ALLOC_ZERO ? st->ops->sync(f) : 0;
}

static int
check_capacity(uint64_t cap)
{
	if (cap == 0 || cap % VDISK_SECTOR || cap > VDISK_MAX_CAPACITY)
		return -EINVAL;
	return 0;
}

int
vdisk_create_in(struct vdisk_store *st, const char *leaf,
		const struct vdisk_create_opts *o, bool allocate)
{
	char data[DESC_NAME_MAX + 1], ctk[DESC_NAME_MAX + 1];
	struct store_file *f = NULL;
	struct store_lock *lk;
	struct vdisk_desc d;
	int rc;

	if (check_capacity(o->capacity_bytes) < 0 || !vdisk_type_name(o->type))
		return -EINVAL;
	vdisk_name_data(leaf, data, sizeof(data));
	vdisk_name_ctk(leaf, ctk, sizeof(ctk));
	rc = st->ops->lock(st, leaf, true, &lk);
	if (rc < 0)
		return rc;
	rc = st->ops->exists(st, leaf);
	if (rc != 0) {
		rc = rc > 0 ? -EEXIST : rc;
		goto out_unlock;
	}
	rc = st->ops->file_open(st, data, STORE_CREATE, &f);
	if (rc < 0)
		goto out_unlock;
	rc = st->ops->set_size(f, o->capacity_bytes);
	if (rc == 0 && allocate)
		rc = vdisk_allocate_range(st, f, 0, o->capacity_bytes, o->type,
					  o->progress);
	if (rc == 0)
		rc = st->ops->sync(f);
	st->ops->file_close(f);
	if (rc < 0)
		goto err_data;
	vdisk_desc_init(&d, o->capacity_bytes, o->type, data);
	if (o->cbt) {
		rc = vdisk_cbt_create(st, ctk, o->capacity_bytes);
		if (rc < 0)
			goto err_data;
		strcpy(d.change_track, ctk);
	}
	rc = vdisk_desc_store(st, leaf, &d);
	if (rc < 0)
		goto err_ctk;
	st->ops->unlock(lk);
	return 0;

err_ctk:
	if (o->cbt)
		st->ops->unlink(st, ctk);
err_data:
	st->ops->unlink(st, data);
out_unlock:
	st->ops->unlock(lk);
	return rc;
}

int
vdisk_create(const char *path, const struct vdisk_create_opts *opts)
{
	char leaf[DESC_NAME_MAX + 1];
	struct vdisk_store *st;
	int rc;

	rc = vdisk_store_open(path, &st, leaf, sizeof(leaf));
	if (rc < 0)
		return rc;
	rc = vdisk_create_in(st, leaf, opts, true);
	vdisk_store_close(st);
	return rc;
}

static void
log_locked(struct vdisk_store *st, const char *leaf, const char *path)
{
	char who[128];

	if (st->ops->lock_holder(st, leaf, who, sizeof(who)))
		vdisk_err("vdisk", "%s: locked by %s", path, who);
	else
		vdisk_err("vdisk", "%s: locked by another opener", path);
}

static int
open_data(struct vdisk *disk)
{
	struct vdisk_store *st = disk->store;
	uint64_t size;
	int rc;

	rc = st->ops->file_open(st, disk->desc.ext[0].file,
				STORE_DIRECT | (disk->read_only ?
						STORE_RDONLY : 0),
				&disk->data);
	if (rc < 0) {
		vdisk_err("vdisk", "%s: data file %s: %s", disk->path,
			disk->desc.ext[0].file, strerror(-rc));
		return rc;
	}
	rc = st->ops->get_size(disk->data, &size);
	if (rc < 0)
		return rc;
	if (st->ops->file_open(st, disk->desc.ext[0].file, disk->read_only ?
			       STORE_RDONLY : 0, &disk->data_cached) < 0)
		disk->data_cached = NULL;
	/* Thin disks allocate in 1 MiB extents, as datastore files do. */
	if (disk->desc.type == VDISK_THIN && !disk->read_only &&
	    st->ops->set_alloc_chunk)
		st->ops->set_alloc_chunk(disk->data, VDISK_ALLOC_CHUNK, size);
	if (size < disk->capacity) {
		vdisk_err("vdisk", "%s: data file is shorter than the capacity "
			"(%" PRIu64 " < %" PRIu64 "); run 'vdisk check --repair'",
			disk->path, size, disk->capacity);
		return -EUCLEAN;
	}
	return 0;
}

static int
open_raw(struct vdisk *disk)
{
	struct vdisk_store *st = disk->store;
	uint64_t size;
	int rc;

	rc = st->ops->file_open(st, disk->leaf, STORE_DIRECT |
				(disk->read_only ? STORE_RDONLY : 0),
				&disk->data);
	if (rc < 0)
		return rc;
	rc = st->ops->get_size(disk->data, &size);
	if (rc == 0 && size < VDISK_SECTOR)
		rc = -EINVAL;
	if (rc < 0) {
		st->ops->file_close(disk->data);
		return rc;
	}
	if (st->ops->file_open(st, disk->leaf, disk->read_only ? STORE_RDONLY :
			       0, &disk->data_cached) < 0)
		disk->data_cached = NULL;
	disk->capacity = MIN(ALIGN_DOWN(size, (uint64_t)VDISK_SECTOR),
			     VDISK_MAX_CAPACITY);
	vdisk_desc_init(&disk->desc, disk->capacity, VDISK_THIN, disk->leaf);
	return 0;
}

/* Closes the data files, or the layer that owns them. */
static void
close_data(struct vdisk *disk)
{
	vdisk_queue_destroy(disk->sync_q);
	disk->sync_q = NULL;
	if (disk->layer) {
		disk->layer_ops->close(disk->layer);
		disk->layer = NULL;
		disk->data = NULL;
		return;
	}
	if (disk->data_cached)
		disk->store->ops->file_close(disk->data_cached);
	if (disk->data)
		disk->store->ops->file_close(disk->data);
}

int
vdisk_open(const char *path, unsigned int flags, struct vdisk **out)
{
	struct vdisk *disk;
	int rc;

	disk = calloc(1, sizeof(*disk));
	if (!disk)
		return -ENOMEM;
	pthread_mutex_init(&disk->mu, NULL);
	vdisk_engine_init(disk);
	snprintf(disk->path, sizeof(disk->path), "%s", path);
	disk->read_only = flags & VDISK_OPEN_RDONLY;
	rc = vdisk_store_open(path, &disk->store, disk->leaf,
			      sizeof(disk->leaf));
	if (rc < 0)
		goto err_free;
	rc = disk->store->ops->exists(disk->store, disk->leaf);
	if (rc <= 0) {
		rc = rc ? rc : -ENOENT;
		goto err_store;
	}
	if (flags & VDISK_OPEN_RAW) {
		rc = open_raw(disk);
		if (rc < 0)
			goto err_store;
		*out = disk;
		return 0;
	}
	rc = disk->store->ops->lock(disk->store, disk->leaf, !disk->read_only,
				    &disk->lock);
	if (rc == -EBUSY)
		log_locked(disk->store, disk->leaf, path);
	if (rc < 0)
		goto err_store;
	rc = vdisk_desc_load(disk->store, disk->leaf, &disk->desc);
	if (rc < 0)
		goto err_unlock;
	/* Snapshots: the provider opens what it owns (and finishes an
	 * interrupted operation first). */
	rc = provider ? provider->open(disk) : 1;
	if (rc < 0)
		goto err_unlock;
	if (rc > 0) {
		rc = vdisk_desc_check_openable(&disk->desc, path);
		if (rc < 0)
			goto err_unlock;
		disk->capacity = vdisk_desc_capacity(&disk->desc);
		rc = open_data(disk);
		if (rc < 0)
			goto err_data;
	}
	if (disk->desc.change_track[0]) {
		rc = vdisk_cbt_load(disk->store, disk->desc.change_track,
				    disk->capacity, !disk->read_only,
				    &disk->cbt);
		if (rc < 0)
			goto err_data;
	}
	if (!disk->read_only) {
		/* The content may change from now on: a child made against
		 * the old CID must notice. */
		disk->desc.cid = vdisk_new_cid();
		rc = vdisk_desc_store(disk->store, disk->leaf, &disk->desc);
		if (rc < 0)
			goto err_cbt;
	}
	*out = disk;
	return 0;

err_cbt:
	vdisk_cbt_close(disk->cbt);
err_data:
	close_data(disk);
err_unlock:
	disk->store->ops->unlock(disk->lock);
err_store:
	vdisk_store_close(disk->store);
err_free:
	vdisk_engine_fini(disk);
	pthread_mutex_destroy(&disk->mu);
	free(disk);
	return rc;
}

void
vdisk_close(struct vdisk *disk)
{
	if (!disk)
		return;
	if (!disk->read_only && vdisk_sync(disk) < 0)
		log_warn("vdisk", "%s: flush at close failed", disk->path);
	/* The map is written clean only after the data is durable. */
	vdisk_cbt_close(disk->cbt);
	close_data(disk);
	if (disk->lock)
		disk->store->ops->unlock(disk->lock);
	vdisk_store_close(disk->store);
	vdisk_engine_fini(disk);
	pthread_mutex_destroy(&disk->mu);
	free(disk);
}

uint64_t
vdisk_capacity(const struct vdisk *disk)
{
	return disk->capacity;
}

bool
vdisk_read_only(const struct vdisk *disk)
{
	return disk->read_only;
}

/* ---- info ---- */

static void
fill_chain(struct vdisk_store *st, const struct vdisk_desc *d,
	   const char *leaf, struct vdisk_info *out)
{
	struct vdisk_desc *p;
	char hint[DESC_NAME_MAX + 1];

	out->chain_len = 1;
	snprintf(out->chain[0], sizeof(out->chain[0]), "%s", leaf);
	if (!d->parent_hint[0])
		return;
	p = malloc(sizeof(*p));
	if (!p)
		return;
	snprintf(hint, sizeof(hint), "%s", d->parent_hint);
	while (hint[0] && out->chain_len < VDISK_MAX_CHAIN) {
		snprintf(out->chain[out->chain_len++], sizeof(out->chain[0]),
			 "%s", hint);
		if (!plain_name(hint) || vdisk_desc_load(st, hint, p) < 0)
			break;
		snprintf(hint, sizeof(hint), "%s", p->parent_hint);
	}
	free(p);
}

static void
fill_common(struct vdisk_store *st, const char *leaf,
	    const struct vdisk_desc *d, struct vdisk_info *out)
{
	out->capacity_bytes = vdisk_desc_capacity(d);
	out->type = d->type;
	out->cid = d->cid;
	out->parent_cid = d->parent_cid;
	snprintf(out->data_file, sizeof(out->data_file), "%s",
		 d->nextents ? d->ext[0].file : "");
	out->cbt_enabled = d->change_track[0] != '\0';
	fill_chain(st, d, leaf, out);
}

int
vdisk_get_info(struct vdisk *disk, struct vdisk_info *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&disk->mu);
	fill_common(disk->store, disk->leaf, &disk->desc, out);
	out->allocated_bytes = disk->layer ?
		disk->layer_ops->allocated_bytes(disk->layer) :
		disk->store->ops->allocated_bytes(disk->data);
	if (disk->cbt) {
		out->cbt_known = vdisk_cbt_known(disk->cbt);
		out->cbt_epoch = vdisk_cbt_epoch(disk->cbt);
	}
	pthread_mutex_unlock(&disk->mu);
	out->locked = disk->store->ops->lock_holder(disk->store, disk->leaf,
						    out->lock_holder,
						    sizeof(out->lock_holder));
	return 0;
}

int
vdisk_stat(const char *path, struct vdisk_info *out)
{
	char leaf[DESC_NAME_MAX + 1];
	struct vdisk_store *st;
	struct store_file *f;
	struct vdisk_desc *d;
	int rc;

	memset(out, 0, sizeof(*out));
	d = malloc(sizeof(*d));
	if (!d)
		return -ENOMEM;
	rc = vdisk_store_open(path, &st, leaf, sizeof(leaf));
	if (rc < 0)
		goto out_free;
	rc = vdisk_desc_load(st, leaf, d);
	if (rc < 0)
		goto out_store;
	fill_common(st, leaf, d, out);
	if (d->nextents && plain_name(d->ext[0].file) &&
	    st->ops->file_open(st, d->ext[0].file, STORE_RDONLY, &f) == 0) {
		out->allocated_bytes = st->ops->allocated_bytes(f);
		st->ops->file_close(f);
	}
	out->locked = st->ops->lock_holder(st, leaf, out->lock_holder,
					   sizeof(out->lock_holder));
	if (out->cbt_enabled && plain_name(d->change_track)) {
		bool open = false;

		vdisk_cbt_peek(st, d->change_track, &out->cbt_known, &open,
			       &out->cbt_epoch);
		/* Marked open with nobody holding the lock: a crash; the
		 * next open will declare the map unknown. */
		if (open && !out->locked)
			out->cbt_known = false;
	}
out_store:
	vdisk_store_close(st);
out_free:
	free(d);
	return rc;
}

bool
vdisk_lock_holder(const char *path, char *buf, size_t len)
{
	char leaf[DESC_NAME_MAX + 1];
	struct vdisk_store *st;
	bool held;

	if (vdisk_store_open(path, &st, leaf, sizeof(leaf)) < 0)
		return false;
	held = st->ops->lock_holder(st, leaf, buf, len);
	vdisk_store_close(st);
	return held;
}

/* ---- map ---- */

struct map_ctx {
	vdisk_extent_fn fn;
	void *priv;
	bool thick;
	uint64_t off, len;      /* pending extent, merged while flags match */
	unsigned int flags;
};

static int
map_flush(struct map_ctx *m)
{
	int rc = 0;

	if (m->len)
		rc = m->fn(m->priv, m->off, m->len, m->flags);
	m->len = 0;
	return rc;
}

static int
map_one(void *priv, uint64_t off, uint64_t len, unsigned int flags)
{
	struct map_ctx *m = priv;
	int rc;

	if (m->thick)
		flags |= VDISK_EXTENT_ALLOCATED;
	if (m->len && m->off + m->len == off && m->flags == flags) {
		m->len += len;
		return 0;
	}
	rc = map_flush(m);
	if (rc)
		return rc;
	m->off = off;
	m->len = len;
	m->flags = flags;
	return 0;
}

int
vdisk_map(struct vdisk *disk, uint64_t offset, uint64_t len,
	  vdisk_extent_fn fn, void *priv)
{
	struct map_ctx m = { .fn = fn, .priv = priv,
			     .thick = disk->desc.type != VDISK_THIN };
	int rc;

	if (offset >= disk->capacity)
		return 0;
	len = MIN(len, disk->capacity - offset);
	if (disk->layer)
		rc = disk->layer_ops->map(disk->layer, offset, len, map_one, &m);
	else
		rc = disk->store->ops->map(disk->data, offset, len, map_one,
					   &m);
	if (rc)
		return rc;
	return map_flush(&m);
}

/* ---- synchronous I/O ---- */

static int
check_range(const struct vdisk *disk, uint64_t off, uint64_t len)
{
	if (off > disk->capacity || len > disk->capacity - off)
		return -ERANGE;
	return 0;
}

/* The data fd is O_DIRECT: bounce through an aligned buffer. */
static int
direct_rw(struct vdisk *disk, void *buf, size_t len, uint64_t off,
	  bool write)
{
	struct vdisk_store *st = disk->store;
	uint64_t start = ALIGN_DOWN(off, 4096ull);
	uint64_t end = ALIGN_UP(off + len, 4096ull);
	size_t chunk = 4u << 20;
	void *bounce;
	int rc = 0;

	if (posix_memalign(&bounce, 4096, chunk))
		return -ENOMEM;
	for (uint64_t pos = start; pos < end && rc == 0; pos += chunk) {
		uint64_t n = MIN((uint64_t)chunk, end - pos);
		uint64_t lo = MAX(pos, off), hi = MIN(pos + n, off + len);
		uint64_t fsize = disk->capacity;

		/* The file may end on a 512-byte boundary inside the page. */
		if (pos + n > ALIGN_UP(fsize, 512ull))
			n = ALIGN_UP(fsize, 512ull) - pos;
		if (write && (lo != pos || hi != pos + n))
			rc = st->ops->pread(disk->data, bounce, n, pos);
		if (rc < 0)
			break;
		if (write) {
			memcpy((char *)bounce + (lo - pos),
			       (const char *)buf + (lo - off), hi - lo);
			rc = st->ops->pwrite(disk->data, bounce, n, pos);
		} else {
			rc = st->ops->pread(disk->data, bounce, n, pos);
			if (rc == 0)
				memcpy((char *)buf + (lo - off),
				       (char *)bounce + (lo - pos), hi - lo);
		}
	}
	free(bounce);
	return rc;
}

/* ---- synchronous I/O through the engine (layered disks) ---- */

struct sync_wait {
	bool done;
	int64_t result;
};

static void
sync_done(struct vdisk_io *io)
{
	struct sync_wait *w = io->priv;

	w->done = true;
	w->result = io->result;
}

/*
 * One request on the disk's synchronous queue. The queue is kept for the
 * thread that made it (io_uring rings have one submitter); other threads
 * get a queue of their own for the call.
 */
static int
sync_request(struct vdisk *disk, struct vdisk_io *io)
{
	struct vdisk_queue *q = NULL, *tmp = NULL;
	struct sync_wait w = { false, 0 };
	int rc;

	pthread_mutex_lock(&disk->sync_mu);
	if (disk->sync_q && pthread_equal(disk->sync_owner, pthread_self())) {
		q = disk->sync_q;
	} else if (!disk->sync_q) {
		rc = vdisk_queue_create(disk, 4, &disk->sync_q);
		if (rc == 0) {
			q = disk->sync_q;
			disk->sync_owner = pthread_self();
		}
	}
	if (!q) {
		rc = vdisk_queue_create(disk, 4, &tmp);
		if (rc < 0) {
			pthread_mutex_unlock(&disk->sync_mu);
			return rc;
		}
		q = tmp;
	}
	io->done = sync_done;
	io->priv = &w;
	rc = vdisk_submit(q, io);
	while (rc == 0 && !w.done) {
		rc = vdisk_poll(q, 1, -1);
		rc = rc < 0 ? rc : 0;
	}
	vdisk_queue_destroy(tmp);
	pthread_mutex_unlock(&disk->sync_mu);
	if (rc < 0)
		return rc;
	return w.result < 0 ? (int)w.result : 0;
}

static int
layered_rw(struct vdisk *disk, void *buf, size_t len, uint64_t off,
	   bool write)
{
	uint64_t start = ALIGN_DOWN(off, (uint64_t)VDISK_SECTOR);
	uint64_t end = ALIGN_UP(off + len, (uint64_t)VDISK_SECTOR);
	struct vdisk_io io;
	void *bounce;
	int rc = 0;

	if (posix_memalign(&bounce, 4096, SYNC_CHUNK))
		return -ENOMEM;
	for (uint64_t pos = start; pos < end && rc == 0; pos += SYNC_CHUNK) {
		uint64_t n = MIN((uint64_t)SYNC_CHUNK, end - pos);
		uint64_t lo = MAX(pos, off), hi = MIN(pos + n, off + len);

		if (!write || lo != pos || hi != pos + n) {
			vdisk_io_prep_read(&io, pos, bounce, n);
			rc = sync_request(disk, &io);
			if (rc < 0)
				break;
		}
		if (!write) {
			memcpy((char *)buf + (lo - off),
			       (char *)bounce + (lo - pos), hi - lo);
			continue;
		}
		memcpy((char *)bounce + (lo - pos),
		       (const char *)buf + (lo - off), hi - lo);
		vdisk_io_prep_write(&io, pos, bounce, n, 0);
		rc = sync_request(disk, &io);
	}
	free(bounce);
	return rc;
}

int
vdisk_pread(struct vdisk *disk, void *buf, size_t len, uint64_t offset)
{
	int rc = check_range(disk, offset, len);

	if (rc < 0)
		return rc;
	if (disk->layer)
		return layered_rw(disk, buf, len, offset, false);
	if (disk->data_cached)
		return disk->store->ops->pread(disk->data_cached, buf, len,
					       offset);
	return direct_rw(disk, buf, len, offset, false);
}

int
vdisk_pwrite(struct vdisk *disk, const void *buf, size_t len,
	     uint64_t offset)
{
	int rc = check_range(disk, offset, len);

	if (rc < 0)
		return rc;
	if (disk->read_only)
		return -EROFS;
	if (disk->layer)
		return layered_rw(disk, (void *)buf, len, offset, true);
	if (disk->cbt)
		vdisk_cbt_mark(disk->cbt, offset, len);
	if (disk->data_cached)
		return disk->store->ops->pwrite(disk->data_cached, buf, len,
						offset);
	return direct_rw(disk, (void *)buf, len, offset, true);
}

int
vdisk_sync(struct vdisk *disk)
{
	if (disk->layer) {
		struct vdisk_io io;

		vdisk_io_prep_flush(&io);
		return sync_request(disk, &io);
	}
	/* One file under both handles: either flush covers both. */
	return disk->store->ops->sync(disk->data_cached ? disk->data_cached :
				      disk->data);
}
