/* SPDX-License-Identifier: MIT */
/*
 * Small helpers of the snapshot layer: file names beside a disk, paths
 * (local and datastore "LUN:/dir/name"), descriptor keys.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/snap-internal.h"

bool
snap_plain_name(const char *s)
{
	return s && *s && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

static void
stem(const char *leaf, char *out, size_t len)
{
	size_t n = strlen(leaf);

	if (n > 5 && !strcmp(leaf + n - 5, ".vmdk"))
		n -= 5;
	snprintf(out, len, "%.*s", (int)MIN(n, len - 1), leaf);
}

void
snap_name_node(const char *leaf, uint32_t id, char *out, size_t len)
{
	char s[DESC_NAME_MAX + 1];

	stem(leaf, s, sizeof(s));
	snprintf(out, len, "%s-%06u.vmdk", s, id);
}

void
snap_name_delta(const char *leaf, uint32_t id, char *out, size_t len)
{
	char s[DESC_NAME_MAX + 1];

	stem(leaf, s, sizeof(s));
	snprintf(out, len, "%s-%06u-delta.vmdk", s, id);
}

void
snap_name_tree(const char *leaf, char *out, size_t len)
{
	char s[DESC_NAME_MAX + 1];

	stem(leaf, s, sizeof(s));
	snprintf(out, len, "%s.vsnap", s);
}

/* Where a datastore path's own part starts ("LUN:/x" -> "/x"), or NULL. */
static const char *
ds_part(const char *path)
{
	const char *p = path, *last = NULL;

	while ((p = strstr(p, ":/")) != NULL) {
		if (p[2] != '/' && p > path)
			last = p;
		p += 2;
	}
	return last ? last + 1 : NULL;
}

void
snap_path_dir(const char *path, char *out, size_t len)
{
	const char *ds = ds_part(path), *slash = strrchr(path, '/');

	if (!slash) {
		snprintf(out, len, ".");
		return;
	}
	if (slash == path || (ds && slash == ds)) {
		/* "/x" or "LUN:/x": the root keeps its slash. */
		snprintf(out, len, "%.*s", (int)(slash - path + 1), path);
		return;
	}
	snprintf(out, len, "%.*s", (int)(slash - path), path);
}

/* Folds "." and ".." of a '/'-separated path in place. */
static void
fold(char *p)
{
	bool abs = p[0] == '/';
	char *comp[512];
	unsigned int n = 0;
	char *save, *tok, out[PATH_MAX];
	size_t o = 0;

	for (tok = strtok_r(p, "/", &save); tok; tok = strtok_r(NULL, "/",
								&save)) {
		if (!strcmp(tok, "."))
			continue;
		if (!strcmp(tok, "..")) {
			if (n && strcmp(comp[n - 1], ".."))
				n--;
			else if (!abs && n < ARRAY_SIZE(comp))
				comp[n++] = tok;
			continue;
		}
		if (n < ARRAY_SIZE(comp))
			comp[n++] = tok;
	}
	if (abs)
		out[o++] = '/';
	for (unsigned int i = 0; i < n && o < sizeof(out) - 1; i++) {
		int k = snprintf(out + o, sizeof(out) - o, "%s%s", i ? "/" : "",
				 comp[i]);

		if (k < 0)
			break;
		o = MIN(o + (size_t)k, sizeof(out) - 1);
	}
	out[o] = '\0';
	if (!o)
		snprintf(out, sizeof(out), ".");
	strcpy(p, out);
}

void
snap_path_join(const char *dir, const char *rel, char *out, size_t len)
{
	char buf[PATH_MAX * 2];
	const char *ds = ds_part(dir);

	if (rel[0] == '/' && !ds) {
		snprintf(buf, sizeof(buf), "%s", rel);
	} else {
		size_t n = strlen(dir);

		snprintf(buf, sizeof(buf), "%s%s%s", dir,
			 n && dir[n - 1] == '/' ? "" : "/", rel);
	}
	ds = ds_part(buf);
	if (ds) {
		size_t pre = (size_t)(ds - buf);
		char tail[PATH_MAX];

		snprintf(tail, sizeof(tail), "%s", ds);
		fold(tail);
		snprintf(out, len, "%.*s%s", (int)pre, buf, tail);
		return;
	}
	if (!strncmp(buf, "./", 2) && strncmp(rel, "./", 2) && dir[0] == '.' &&
	    dir[1] == '\0') {
		snprintf(out, len, "%s", buf + 2);
		return;
	}
	fold(buf);
	snprintf(out, len, "%s", buf);
}

static unsigned int
split(char *p, char **comp, unsigned int max)
{
	unsigned int n = 0;
	char *save, *tok;

	for (tok = strtok_r(p, "/", &save); tok && n < max;
	     tok = strtok_r(NULL, "/", &save))
		comp[n++] = tok;
	return n;
}

int
snap_path_relative(const char *from_dir, const char *to, char *out,
		   size_t len)
{
	const char *dsa = ds_part(from_dir), *dsb = ds_part(to);
	char a[PATH_MAX], b[PATH_MAX + NAME_MAX + 2];
	char *ca[256], *cb[256];
	unsigned int na, nb, k = 0;

	if ((dsa == NULL) != (dsb == NULL))
		return -EXDEV;
	if (dsa) {
		if (dsa - from_dir != dsb - to ||
		    strncmp(from_dir, to, (size_t)(dsa - from_dir)))
			return -EXDEV;
		snprintf(a, sizeof(a), "%s", dsa);
		snprintf(b, sizeof(b), "%s", dsb);
		fold(a);
		fold(b);
	} else {
		char rdir[PATH_MAX], real[PATH_MAX];
		const char *leaf = strrchr(to, '/');

		if (!realpath(from_dir, a))
			return -errno;
		snap_path_dir(to, rdir, sizeof(rdir));
		if (!realpath(rdir, real))
			return -errno;
		snprintf(b, sizeof(b), "%s/%s", real, leaf ? leaf + 1 : to);
	}
	na = split(a, ca, ARRAY_SIZE(ca));
	nb = split(b, cb, ARRAY_SIZE(cb));
	if (nb == 0)
		return -EINVAL;
	while (k < na && k + 1 < nb && !strcmp(ca[k], cb[k]))
		k++;
	out[0] = '\0';
	for (unsigned int i = k; i < na; i++)
		strncat(out, "../", len - strlen(out) - 1);
	for (unsigned int i = k; i < nb; i++) {
		if (i > k)
			strncat(out, "/", len - strlen(out) - 1);
		strncat(out, cb[i], len - strlen(out) - 1);
	}
	return 0;
}

int
snap_disk_id(const char *path, char *out, size_t len)
{
	char dir[PATH_MAX], real[PATH_MAX];
	const char *leaf = strrchr(path, '/'), *ds = ds_part(path);

	if (ds) {
		/* A LUN that is a local file is named by its real path, so
		   "lun0.img:/d" and "/abs/lun0.img:/d" are the same disk;
		   iSCSI URLs and wrapped LUNs stay as written. */
		size_t n = (size_t)(ds - 1 - path);

		if (n < sizeof(dir)) {
			memcpy(dir, path, n);
			dir[n] = '\0';
			if (realpath(dir, real)) {
				snprintf(out, len, "%s:%s", real, ds);
				return 0;
			}
		}
		snprintf(out, len, "%s", path);
		return 0;
	}
	snap_path_dir(path, dir, sizeof(dir));
	if (!realpath(dir, real))
		return -errno;
	snprintf(out, len, "%s/%s", real, leaf ? leaf + 1 : path);
	return 0;
}

/* ---- descriptors ---- */

const char *
snap_desc_get(const struct vdisk_desc *d, const char *key)
{
	for (unsigned int i = 0; i < d->nextra; i++)
		if (!strcmp(d->extra[i].key, key))
			return d->extra[i].value;
	return NULL;
}

int
snap_desc_put(struct vdisk_desc *d, const char *key, const char *value)
{
	struct desc_kv *kv = NULL;

	for (unsigned int i = 0; i < d->nextra; i++)
		if (!strcmp(d->extra[i].key, key))
			kv = &d->extra[i];
	if (!kv) {
		if (d->nextra >= DESC_MAX_EXTRA)
			return -ENOSPC;
		kv = &d->extra[d->nextra++];
	}
	snprintf(kv->key, sizeof(kv->key), "%s", key);
	snprintf(kv->value, sizeof(kv->value), "%s", value);
	return 0;
}

void
snap_desc_del(struct vdisk_desc *d, const char *key)
{
	for (unsigned int i = 0; i < d->nextra; i++) {
		if (strcmp(d->extra[i].key, key))
			continue;
		memmove(&d->extra[i], &d->extra[i + 1],
			(d->nextra - i - 1) * sizeof(d->extra[0]));
		d->nextra--;
		return;
	}
}

bool
snap_desc_is_node(const struct vdisk_desc *d)
{
	return snap_desc_get(d, SNAP_KEY_NODE) != NULL;
}

bool
snap_desc_layered(const struct vdisk_desc *d)
{
	return d->parent_hint[0] || d->parent_cid != DESC_NO_PARENT ||
	       (d->nextents && d->ext[0].kind == DESC_EXT_DELTA) ||
	       snap_desc_is_node(d);
}

void
snap_desc_set_extent(struct vdisk_desc *d, enum desc_kind kind,
		     const char *file, bool rdonly)
{
	uint64_t sectors = vdisk_desc_capacity(d) / VDISK_SECTOR;

	d->nextents = 1;
	d->ext[0].access = rdonly ? DESC_RDONLY : DESC_RW;
	d->ext[0].kind = kind;
	d->ext[0].sectors = sectors;
	d->ext[0].offset_sectors = 0;
	snprintf(d->ext[0].file, sizeof(d->ext[0].file), "%s", file);
	snprintf(d->create_type, sizeof(d->create_type), "%s",
		 kind == DESC_EXT_DELTA ? "vstackDelta" : "vmfs");
}
