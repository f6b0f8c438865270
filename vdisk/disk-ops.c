/* SPDX-License-Identifier: MIT */
/*
 * Path-level operations on an existing disk: extend, inflate, clone,
 * rename, remove, check, and switching changed-block tracking on or off.
 * Each takes the disk's exclusive lock (clone: the source's shared lock),
 * so none of them runs under an opener.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/progress.h"
#include "vdisk/vdisk-provider.h"

/* A disk held for a path operation: store, lock, descriptor. */
struct held {
	struct vdisk_store *st;
	struct store_lock *lk;
	char leaf[DESC_NAME_MAX + 1];
	struct vdisk_desc d;
};

static int
hold(const char *path, bool exclusive, bool need_openable, struct held *h)
{
	int rc;

	memset(h, 0, sizeof(*h));
	rc = vdisk_store_open(path, &h->st, h->leaf, sizeof(h->leaf));
	if (rc < 0)
		return rc;
	rc = h->st->ops->exists(h->st, h->leaf);
	if (rc <= 0) {
		rc = rc ? rc : -ENOENT;
		goto err_store;
	}
	rc = h->st->ops->lock(h->st, h->leaf, exclusive, &h->lk);
	if (rc == -EBUSY) {
		char who[128];

		if (h->st->ops->lock_holder(h->st, h->leaf, who, sizeof(who)))
			vdisk_err("vdisk", "%s: locked by %s", path, who);
	}
	if (rc < 0)
		goto err_store;
	rc = vdisk_desc_load(h->st, h->leaf, &h->d);
	/* remove: a descriptor we cannot parse still goes away. */
	if (rc == -EUCLEAN && !need_openable && exclusive) {
		memset(&h->d, 0, sizeof(h->d));
		rc = 0;
	}
	if (rc == 0 && need_openable)
		rc = vdisk_desc_check_openable(&h->d, path);
	if (rc < 0)
		goto err_unlock;
	return 0;

err_unlock:
	h->st->ops->unlock(h->lk);
err_store:
	vdisk_store_close(h->st);
	return rc;
}

static void
release(struct held *h)
{
	h->st->ops->unlock(h->lk);
	vdisk_store_close(h->st);
}

/*
 * Releases the lock and, when the disk is gone ('gone'), removes its lock
 * file too: only after unlocking, since the datastore refuses to unlink
 * a file that is open.
 */
static void
drop_lock_file(struct held *h, bool gone)
{
	char lck[DESC_NAME_MAX + 8];

	h->st->ops->unlock(h->lk);
	if (gone) {
		snprintf(lck, sizeof(lck), "%s.lck", h->leaf);
		h->st->ops->unlink(h->st, lck);
	}
	vdisk_store_close(h->st);
}

int
vdisk_extend(const char *path, uint64_t new_cap, struct progress *progress)
{
	struct store_file *f;
	struct vdisk_cbt *cbt = NULL;
	struct held *h;
	uint64_t old_cap;
	int rc;

	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	rc = hold(path, true, true, h);
	if (rc < 0)
		goto out_free;
	old_cap = vdisk_desc_capacity(&h->d);
	if (new_cap % VDISK_SECTOR || new_cap > VDISK_MAX_CAPACITY ||
	    new_cap < old_cap) {
		vdisk_err("vdisk", "%s: new size must be a multiple of 512, "
			"at most 64 TiB and not smaller than the current one",
			path);
		rc = -EINVAL;
		goto out;
	}
	if (new_cap == old_cap)
		goto out;
	rc = h->st->ops->file_open(h->st, h->d.ext[0].file, 0, &f);
	if (rc < 0)
		goto out;
	/* Data first: a crash before the descriptor leaves a longer data
	 * file, which is harmless (check reports nothing). */
	rc = h->st->ops->set_size(f, new_cap);
	if (rc == 0)
		rc = vdisk_allocate_range(h->st, f, old_cap, new_cap, h->d.type,
					  progress);
	if (rc == 0)
		rc = h->st->ops->sync(f);
	h->st->ops->file_close(f);
	if (rc < 0)
		goto out;
	if (h->d.change_track[0]) {
		rc = vdisk_cbt_load(h->st, h->d.change_track, old_cap, true,
				    &cbt);
		if (rc < 0)
			goto out;
		rc = vdisk_cbt_resize(cbt, new_cap);
		if (rc < 0)
			goto out_cbt;
	}
	h->d.ext[0].sectors = new_cap / VDISK_SECTOR;
	rc = vdisk_desc_store(h->st, h->leaf, &h->d);
out_cbt:
	vdisk_cbt_close(cbt);
out:
	release(h);
out_free:
	free(h);
	return rc;
}

int
vdisk_inflate(const char *path, struct progress *progress)
{
	struct store_file *f;
	struct held *h;
	int rc;

	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	rc = hold(path, true, true, h);
	if (rc < 0)
		goto out_free;
	if (h->d.type == VDISK_EAGERZEROEDTHICK)
		goto out;
	rc = h->st->ops->file_open(h->st, h->d.ext[0].file, 0, &f);
	if (rc < 0)
		goto out;
	/* Zeros go only where nothing was written: contents stay. */
	rc = vdisk_allocate_range(h->st, f, 0, vdisk_desc_capacity(&h->d),
				  VDISK_EAGERZEROEDTHICK, progress);
	h->st->ops->file_close(f);
	if (rc < 0)
		goto out;
	h->d.type = VDISK_EAGERZEROEDTHICK;
	rc = vdisk_desc_store(h->st, h->leaf, &h->d);
out:
	release(h);
out_free:
	free(h);
	return rc;
}

int
vdisk_fill_new(struct img_reader *r, const char *dst, enum vdisk_type type,
	       bool cbt, struct progress *progress,
	       struct vdisk_convert_stats *stats)
{
	struct vdisk_create_opts o = {
		.capacity_bytes = r->capacity,
		.type = type,
		.cbt = cbt,
	};
	char leaf[DESC_NAME_MAX + 1];
	struct img_writer *w = NULL;
	struct vdisk_store *st;
	struct vdisk *disk;
	int rc;

	if (r->capacity % VDISK_SECTOR || r->capacity == 0 ||
	    r->capacity > VDISK_MAX_CAPACITY) {
		vdisk_err("vdisk", "image size %" PRIu64 " is not a non-zero "
			"multiple of 512 up to 64 TiB", r->capacity);
		return -EINVAL;
	}
	rc = vdisk_store_open(dst, &st, leaf, sizeof(leaf));
	if (rc < 0)
		return rc;
	rc = vdisk_create_in(st, leaf, &o, false);
	vdisk_store_close(st);
	if (rc < 0)
		return rc;
	rc = vdisk_open(dst, 0, &disk);
	if (rc < 0)
		goto err_remove;
	rc = img_disk_writer(disk, &w);
	if (rc == 0)
		rc = img_copy(r, w, progress, stats);
	if (rc == 0)
		rc = w->ops->finish(w);
	if (w)
		w->ops->close(w);
	if (rc == 0 && type != VDISK_THIN)
		rc = vdisk_allocate_range(disk->store, disk->data, 0,
					  disk->capacity, type, NULL);
	if (rc == 0 && disk->cbt) {
		uint64_t epoch;

		/* The copy is the baseline, not a change. */
		rc = vdisk_cbt_new_epoch(disk->cbt, &epoch);
	}
	vdisk_close(disk);
	if (rc < 0)
		goto err_remove;
	return 0;

err_remove:
	if (vdisk_remove(dst) < 0)
		log_warn("vdisk", "%s: could not remove the partial disk", dst);
	return rc;
}

int
vdisk_clone(const char *src, const char *dst, enum vdisk_type type,
	    struct progress *progress)
{
	struct img_reader *r;
	struct vdisk *disk;
	int rc;

	rc = vdisk_open(src, VDISK_OPEN_RDONLY, &disk);
	if (rc < 0)
		return rc;
	rc = img_disk_reader(disk, &r);
	if (rc == 0) {
		rc = vdisk_fill_new(r, dst, type, false, progress, NULL);
		img_close(r);
	}
	vdisk_close(disk);
	return rc;
}

int
vdisk_rename(const char *src, const char *dst)
{
	char data[DESC_NAME_MAX + 1], ctk[DESC_NAME_MAX + 1];
	char nleaf[DESC_NAME_MAX + 1];
	struct vdisk_store *st2;
	struct store_lock *lk2;
	struct vdisk_desc *nd;
	struct held *h;
	int rc;

	if (!vdisk_store_same(src, dst)) {
		vdisk_err("vdisk", "rename works inside one folder of one store; "
			"use 'vdisk clone' then 'vdisk rm'");
		return -EXDEV;
	}
	h = malloc(sizeof(*h) + sizeof(*nd));
	if (!h)
		return -ENOMEM;
	nd = (struct vdisk_desc *)(h + 1);
	rc = hold(src, true, true, h);
	if (rc < 0)
		goto out_free;
	rc = vdisk_store_open(dst, &st2, nleaf, sizeof(nleaf));
	if (rc < 0)
		goto out;
	vdisk_store_close(st2);
	vdisk_name_data(nleaf, data, sizeof(data));
	vdisk_name_ctk(nleaf, ctk, sizeof(ctk));
	rc = h->st->ops->lock(h->st, nleaf, true, &lk2);
	if (rc < 0)
		goto out;
	if (h->st->ops->exists(h->st, nleaf) ||
	    h->st->ops->exists(h->st, data)) {
		rc = -EEXIST;
		goto out_lk2;
	}
	*nd = h->d;
	snprintf(nd->ext[0].file, sizeof(nd->ext[0].file), "%s", data);
	if (h->d.change_track[0])
		snprintf(nd->change_track, sizeof(nd->change_track), "%s", ctk);
	/* New descriptor, then the files, then the old descriptor: a crash
	 * in between leaves the old disk whole or the new one. */
	rc = h->st->ops->rename(h->st, h->d.ext[0].file, data);
	if (rc < 0)
		goto out_lk2;
	if (h->d.change_track[0])
		h->st->ops->rename(h->st, h->d.change_track, ctk);
	rc = vdisk_desc_store(h->st, nleaf, nd);
	if (rc < 0) {
		h->st->ops->rename(h->st, data, h->d.ext[0].file);
		if (h->d.change_track[0])
			h->st->ops->rename(h->st, ctk, h->d.change_track);
		goto out_lk2;
	}
	h->st->ops->unlink(h->st, h->leaf);
out_lk2:
	h->st->ops->unlock(lk2);
out:
	drop_lock_file(h, rc == 0);
out_free:
	free(h);
	return rc;
}

int
vdisk_remove(const char *path)
{
	struct held *h;
	int rc;

	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	/* A descriptor we cannot parse still gets removed with its lock. */
	rc = hold(path, true, false, h);
	if (rc < 0)
		goto out_free;
	/* Snapshot nodes and the tree go with the disk (or it stays). */
	if (vdisk_provider_get()) {
		rc = vdisk_provider_get()->remove(h->st, path, h->leaf,
						  &h->d);
		if (rc < 0) {
			release(h);
			goto out_free;
		}
	}
	for (unsigned int i = 0; i < h->d.nextents; i++)
		if (h->d.ext[i].file[0] && !strchr(h->d.ext[i].file, '/'))
			h->st->ops->unlink(h->st, h->d.ext[i].file);
	if (h->d.change_track[0] && !strchr(h->d.change_track, '/'))
		h->st->ops->unlink(h->st, h->d.change_track);
	rc = h->st->ops->unlink(h->st, h->leaf);
	drop_lock_file(h, rc == 0);
out_free:
	free(h);
	return rc;
}

static void printf_like(2, 3)
problem(struct vdisk_check_report *rep, const char *fmt, ...)
{
	va_list ap;

	if (rep->errors++ == 0) {
		va_start(ap, fmt);
		vsnprintf(rep->first, sizeof(rep->first), fmt, ap);
		va_end(ap);
	}
}

static void
check_data(struct held *h, bool repair, struct vdisk_check_report *rep)
{
	uint64_t cap = vdisk_desc_capacity(&h->d), size;
	struct store_file *f;
	int rc;

	rc = h->st->ops->file_open(h->st, h->d.ext[0].file,
				   repair ? 0 : STORE_RDONLY, &f);
	if (rc < 0) {
		problem(rep, "data file %s: %s", h->d.ext[0].file,
			strerror(-rc));
		return;
	}
	if (h->st->ops->get_size(f, &size) == 0 && size < cap) {
		problem(rep, "data file %s is %" PRIu64 " bytes, capacity is "
			"%" PRIu64, h->d.ext[0].file, size, cap);
		/* The missing tail reads as zeros: growing it is safe. */
		if (repair && h->st->ops->set_size(f, cap) == 0 &&
		    vdisk_allocate_range(h->st, f, size, cap, h->d.type,
					 NULL) == 0)
			rep->repaired++;
	}
	h->st->ops->file_close(f);
}

int
vdisk_check(const char *path, bool repair, struct vdisk_check_report *rep)
{
	char err[256] = "";
	struct held *h;
	int rc;

	memset(rep, 0, sizeof(*rep));
	/* Layered disks and snapshot trees are the provider's to check. */
	if (vdisk_provider_get()) {
		rc = vdisk_provider_get()->check(path, repair, rep);
		if (rc <= 0)
			return rc;
		memset(rep, 0, sizeof(*rep));
	}
	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	rc = hold(path, repair, false, h);
	if (rc == -EUCLEAN || (rc == 0 && h->d.nextents == 0)) {
		/* The descriptor itself is bad: that is the finding. */
		problem(rep, "%s", vdisk_last_error());
		if (rc == 0)
			release(h);
		rc = 0;
		goto out_free;
	}
	if (rc < 0)
		goto out_free;
	if (vdisk_desc_check_openable(&h->d, path) < 0) {
		problem(rep, "descriptor names no single data file this tool "
			"opens");
		goto out;
	}
	check_data(h, repair, rep);
	if (h->d.change_track[0]) {
		rc = vdisk_cbt_check(h->st, h->d.change_track,
				     vdisk_desc_capacity(&h->d), repair, err,
				     sizeof(err));
		if (rc > 0)
			problem(rep, "%s", err);
		if (rc == 2)
			rep->repaired++;
		rc = rc > 0 ? 0 : rc;
	}
out:
	release(h);
out_free:
	free(h);
	return rc;
}

static int
set_cbt(const char *path, bool on)
{
	char ctk[DESC_NAME_MAX + 1];
	struct held *h;
	int rc;

	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	rc = hold(path, true, true, h);
	if (rc < 0)
		goto out_free;
	if (on == (h->d.change_track[0] != '\0'))
		goto out;
	if (on) {
		vdisk_name_ctk(h->leaf, ctk, sizeof(ctk));
		rc = vdisk_cbt_create(h->st, ctk, vdisk_desc_capacity(&h->d));
		if (rc < 0)
			goto out;
		strcpy(h->d.change_track, ctk);
		rc = vdisk_desc_store(h->st, h->leaf, &h->d);
		if (rc < 0)
			h->st->ops->unlink(h->st, ctk);
	} else {
		snprintf(ctk, sizeof(ctk), "%s", h->d.change_track);
		h->d.change_track[0] = '\0';
		rc = vdisk_desc_store(h->st, h->leaf, &h->d);
		if (rc == 0)
			h->st->ops->unlink(h->st, ctk);
	}
out:
	release(h);
out_free:
	free(h);
	return rc;
}

int
vdisk_cbt_enable(const char *path)
{
	return set_cbt(path, true);
}

int
vdisk_cbt_disable(const char *path)
{
	return set_cbt(path, false);
}

int
vdisk_cbt_query(struct vdisk *disk, uint64_t epoch, vdisk_extent_fn fn,
		void *priv)
{
	if (!disk->cbt)
		return -ENODATA;
	return vdisk_cbt_walk(disk->cbt, epoch, fn, priv);
}

int
vdisk_cbt_reset(struct vdisk *disk, uint64_t *epoch)
{
	int rc;

	if (!disk->cbt)
		return -ENODATA;
	pthread_mutex_lock(&disk->mu);
	rc = vdisk_cbt_new_epoch(disk->cbt, epoch);
	pthread_mutex_unlock(&disk->mu);
	return rc;
}
