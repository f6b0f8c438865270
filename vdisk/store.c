/* SPDX-License-Identifier: MIT */
/*
 * Picks the store for a disk path and holds the small helpers every store
 * shares (whole-file reads and atomic rewrites for descriptors).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "vdisk/vdisk-internal.h"

static __thread char last_error[512];

void
vdisk_err(const char *topic, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	log_debug(topic, "%s", last_error);
}

const char *
vdisk_last_error(void)
{
	return last_error;
}

void
vdisk_clear_error(void)
{
	last_error[0] = '\0';
}

/*
 * "LUN:/dir/file" names a datastore file: a ':' followed by '/' that is
 * not part of "://" (iscsi://host/iqn/0:/vm/disk.vmdk).
 */
static const char *
datastore_split(const char *path)
{
	const char *p = path, *last = NULL;

	/* The last one: LUN URIs may hold ':' themselves
	 * (faulty,seed=1:/tmp/lun.img:/vm1/disk.vmdk). */
	while ((p = strstr(p, ":/")) != NULL) {
		if (p[2] != '/' && p > path)
			last = p;
		p += 2;
	}
	return last;
}

static int
split_leaf(const char *path, char *dir, size_t dlen, char *leaf,
	   size_t llen)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	size_t n;

	if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	if (strlen(name) >= llen || strlen(name) > DESC_NAME_MAX - 8)
		return -ENAMETOOLONG;
	strcpy(leaf, name);
	if (!slash) {
		snprintf(dir, dlen, ".");
		return 0;
	}
	n = (size_t)(slash - path);
	if (n == 0)
		n = 1; /* "/disk.vmdk" */
	if (n >= dlen)
		return -ENAMETOOLONG;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return 0;
}

int
vdisk_store_open(const char *path, struct vdisk_store **out, char *leaf,
		 size_t leaf_len)
{
	char dir[PATH_MAX];
	const char *sep;
	int rc;

	if (!path || !*path)
		return -EINVAL;
	sep = datastore_split(path);
	if (sep) {
		char lun[PATH_MAX];

		if ((size_t)(sep - path) >= sizeof(lun))
			return -ENAMETOOLONG;
		memcpy(lun, path, (size_t)(sep - path));
		lun[sep - path] = '\0';
		rc = split_leaf(sep + 1, dir, sizeof(dir), leaf, leaf_len);
		if (rc < 0)
			return rc;
		return vdisk_store_vfs_open(lun, dir, out);
	}
	rc = split_leaf(path, dir, sizeof(dir), leaf, leaf_len);
	if (rc < 0)
		return rc;
	return vdisk_store_local_open(dir, out);
}

void
vdisk_store_close(struct vdisk_store *st)
{
	if (st)
		st->ops->close(st);
}

bool
vdisk_store_same(const char *a, const char *b)
{
	char da[PATH_MAX], db[PATH_MAX], la[NAME_MAX + 1], lb[NAME_MAX + 1];
	char ra[PATH_MAX], rb[PATH_MAX];

	const char *sa = datastore_split(a), *sb = datastore_split(b);

	if (sa || sb) {
		/* Same LUN and the same folder inside it. */
		const char *ea = strrchr(a, '/'), *eb = strrchr(b, '/');

		return sa && sb && ea - a == eb - b &&
		       !strncmp(a, b, (size_t)(ea - a));
	}
	if (split_leaf(a, da, sizeof(da), la, sizeof(la)) < 0 ||
	    split_leaf(b, db, sizeof(db), lb, sizeof(lb)) < 0)
		return false;
	if (!realpath(da, ra) || !realpath(db, rb))
		return false;
	return strcmp(ra, rb) == 0;
}

int
vdisk_store_read_all(struct vdisk_store *st, const char *name, size_t max,
		     char **out, size_t *len)
{
	struct store_file *f;
	uint64_t size;
	char *buf;
	int rc;

	rc = st->ops->file_open(st, name, STORE_RDONLY | STORE_WAIT, &f);
	if (rc < 0)
		return rc;
	rc = st->ops->get_size(f, &size);
	if (rc < 0)
		goto out;
	if (size > max) {
		rc = -EFBIG;
		goto out;
	}
	buf = malloc(size + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	rc = st->ops->pread(f, buf, size, 0);
	if (rc < 0) {
		free(buf);
		goto out;
	}
	buf[size] = '\0';
	*out = buf;
	*len = size;
out:
	st->ops->file_close(f);
	return rc;
}

int
vdisk_store_write_atomic(struct vdisk_store *st, const char *name,
			 const void *buf, size_t len)
{
	char tmp[NAME_MAX + 16];
	struct store_file *f;
	int rc;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	st->ops->unlink(st, tmp);
	rc = st->ops->file_open(st, tmp, STORE_CREATE | STORE_WAIT, &f);
	if (rc < 0)
		return rc;
	rc = st->ops->pwrite(f, buf, len, 0);
	if (rc == 0)
		rc = st->ops->sync(f);
	st->ops->file_close(f);
	if (rc == 0)
		rc = st->ops->rename(st, tmp, name);
	if (rc < 0)
		st->ops->unlink(st, tmp);
	return rc;
}
