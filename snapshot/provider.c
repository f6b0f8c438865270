/* SPDX-License-Identifier: MIT */
/*
 * What vdisk calls (vdisk-provider.h): opening layered disks (after
 * finishing an interrupted operation and applying the disk mode),
 * checking them, removing their snapshots with them. Registered from a
 * constructor, so linking this library is all a program needs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "snapshot/chain.h"
#include "snapshot/snap-internal.h"

int snap_check_path(const char *path, bool repair,
		    struct vdisk_check_report *rep);
int snap_remove_tree(struct vdisk_store *st, const char *path,
		     const char *leaf, const struct vdisk_desc *d);

struct chain *
snap_disk_chain(struct vdisk *disk)
{
	return disk->layer_ops == &chain_layer_ops ? disk->layer : NULL;
}

/* Installs a chain as the disk's layer (open, or with the gate closed). */
static void
install_chain(struct vdisk *disk, struct chain *c)
{
	c->disk = disk;
	disk->capacity = c->capacity;
	disk->data = chain_layer_file(c->l[0]);
	vdisk_layer_set(disk, &chain_layer_ops, c);
}

int
snap_disk_adopt(struct vdisk *disk, struct chain **out)
{
	struct chain_layer *l;
	struct chain *c;

	c = calloc(1, sizeof(*c));
	l = calloc(1, sizeof(*l));
	if (c)
		c->cache = calloc(DIV_ROUND_UP(disk->capacity,
					       (uint64_t)DELTA_GD_GRAINS *
					       DELTA_GRAIN) + 1,
				  sizeof(*c->cache));
	if (l)
		l->desc = malloc(sizeof(*l->desc));
	if (!c || !l || !c->cache || !l->desc) {
		if (c)
			free(c->cache);
		free(c);
		if (l)
			free(l->desc);
		free(l);
		return -ENOMEM;
	}
	pthread_mutex_init(&c->mu, NULL);
	c->st = disk->store;
	c->capacity = disk->capacity;
	c->ngrains = DIV_ROUND_UP(disk->capacity, (uint64_t)DELTA_GRAIN);
	c->cache_roots = (uint32_t)DIV_ROUND_UP(c->ngrains,
						(uint64_t)DELTA_GD_GRAINS);
	l->st = disk->store;
	*l->desc = disk->desc;
	snprintf(l->desc_name, sizeof(l->desc_name), "%s", disk->leaf);
	snprintf(l->data_name, sizeof(l->data_name), "%s",
		 disk->desc.ext[0].file);
	snprintf(l->path, sizeof(l->path), "%s", disk->path);
	/* The data file moves to the chain; the cached handle goes. */
	l->flat = disk->data;
	l->writable = !disk->read_only;
	if (disk->data_cached)
		disk->store->ops->file_close(disk->data_cached);
	disk->data_cached = NULL;
	c->l[0] = l;
	c->n = 1;
	install_chain(disk, c);
	*out = c;
	return 0;
}

static void
ctx_of_open(struct vdisk *disk, struct snap_ctx *x, struct snap_tree *t)
{
	memset(x, 0, sizeof(*x));
	x->st = disk->store;
	snprintf(x->leaf, sizeof(x->leaf), "%s", disk->leaf);
	snprintf(x->path, sizeof(x->path), "%s", disk->path);
	snap_path_dir(disk->path, x->dir, sizeof(x->dir));
	x->cur = disk->desc;
	x->tree = t;
}

static int
prov_open(struct vdisk *disk)
{
	struct snap_tree *t = NULL;
	struct chain *c;
	int rc;

	rc = snap_tree_load(disk->store, disk->leaf, &t);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (t && !disk->read_only) {
		struct snap_ctx x;

		ctx_of_open(disk, &x, t);
		/* An interrupted operation first, then the disk mode. */
		if (t->intent.op != INTENT_NONE)
			rc = snap_recover(&x);
		if (rc >= 0)
			rc = snap_mode_power_on(&x);
		disk->desc = x.cur;
		t = x.tree;
		if (rc < 0) {
			snap_tree_free(t);
			return rc;
		}
	}
	snap_tree_free(t);
	if (!snap_desc_layered(&disk->desc))
		return 1;
	if (snap_desc_is_node(&disk->desc) && !disk->read_only) {
		vdisk_err("snapshot", "%s: a snapshot node is read-only",
			  disk->path);
		return -EROFS;
	}
	rc = chain_open(disk->store, disk->leaf, disk->path, &disk->desc,
			!disk->read_only, &c);
	if (rc < 0)
		return rc;
	install_chain(disk, c);
	return 0;
}

static int
prov_check(const char *path, bool repair, struct vdisk_check_report *rep)
{
	return snap_check_path(path, repair, rep);
}

static int
prov_remove(struct vdisk_store *st, const char *path, const char *leaf,
	    const struct vdisk_desc *d)
{
	return snap_remove_tree(st, path, leaf, d);
}

static const struct vdisk_provider snap_provider = {
	.open = prov_open,
	.check = prov_check,
	.remove = prov_remove,
};

__attribute__((constructor)) static void
snap_register(void)
{
	vdisk_provider_register(&snap_provider);
}
