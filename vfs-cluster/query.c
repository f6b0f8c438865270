/* SPDX-License-Identifier: MIT */
/*
 * Introspection for `vfs info`, `vfs hosts` and `vfs locks`: all by reads
 * only, so an inspect session (no slot) can answer, plus the names and
 * messages of the public API.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "vfs-cluster/vfs-internal.h"

int
vfs_get_info(struct vfs *vfs, struct vfs_info *info)
{
	const struct vfs_geom *g = &vfs->g;
	int rc = vfs_op_enter(vfs, false);

	if (rc < 0)
		return rc;
	memset(info, 0, sizeof(*info));
	memcpy(info->uuid, g->uuid, 16);
	snprintf(info->label, sizeof(info->label), "%s", g->label);
	info->version = g->version;
	info->incompat = g->incompat;
	info->compat = g->compat;
	info->autoclear = g->autoclear;
	info->lun_bytes = g->lun_bytes;
	info->block_bytes = g->block_bytes;
	info->data_blocks = g->data_blocks;
	info->meta_blocks = (uint64_t)g->mclusters * g->mcluster_blocks;
	/* Even meta clusters hold the inodes. */
	info->inodes = (uint64_t)DIV_ROUND_UP(g->mclusters, 2) *
		       g->mcluster_blocks;
	info->slots = g->slots;
	info->journals = g->journals;
	info->journal_bytes = g->journal_bytes;
	info->lease_ms = g->lease_ms;
	info->created_wall_ns = g->created_wall_ns;
	info->ats_method = vfs->paxos ? "disk-paxos" :
			   lun_ats_method_name(vfs->info->ats_method);
	info->fencing = vfs->pr_fencing ? VFS_FENCING_PR : VFS_FENCING_SELF;
	info->slot = vfs->slot;
	rc = alloc_count_free(vfs, &info->free_blocks, &info->free_meta_blocks,
			      &info->free_inodes);
	vfs_op_leave(vfs);
	return rc;
}

static uint64_t
age_ms(const struct vfs *vfs, const struct hb_obs *o, uint64_t now_mono,
       uint64_t now_wall, bool *observed)
{
	/* Our own clock tells the age only once we saw the counter move;
	 * before that, fall back on the writer's wall clock. */
	if (o->seen && o->last_change_ns > o->first_seen_ns &&
	    now_mono >= o->last_change_ns) {
		*observed = true;
		return (now_mono - o->last_change_ns) / NS_PER_MS;
	}
	*observed = false;
	return now_wall > o->rec.wall_ns ? (now_wall - o->rec.wall_ns) /
						   NS_PER_MS : 0;
}

int
vfs_hosts_list(struct vfs *vfs, struct vfs_host **out, unsigned int *count)
{
	struct vfs_host *hosts = NULL;
	unsigned int n = 0;
	uint64_t now, wall;
	int rc = vfs_op_enter(vfs, false);

	if (rc < 0)
		return rc;
	now = vfs_now(vfs);
	wall = clock_wall_ns();
	rc = hb_observe_all(vfs, vfs->lun, now);
	if (rc == 0) {
		hosts = calloc(vfs->g.slots, sizeof(*hosts));
		if (!hosts)
			rc = -ENOMEM;
	}
	pthread_mutex_lock(&vfs->hb_mu);
	for (uint32_t s = 0; rc == 0 && s < vfs->g.slots; s++) {
		const struct hb_obs *o = &vfs->obs[s];
		struct vfs_host *h;

		if (!o->seen || o->rec.state == OD_SLOT_FREE)
			continue;
		h = &hosts[n++];
		h->slot = s;
		h->generation = o->rec.generation;
		h->counter = o->rec.counter;
		memcpy(h->host_uuid, o->rec.host_uuid, 16);
		snprintf(h->host_name, sizeof(h->host_name), "%s",
			 o->rec.host_name);
		h->pid = o->rec.pid;
		h->read_only = o->rec.flags & OD_SLOT_READ_ONLY;
		h->self = vfs->slot >= 0 && (uint32_t)vfs->slot == s;
		h->mounted_wall_ns = o->rec.mounted_wall_ns;
		h->heartbeat_wall_ns = o->rec.wall_ns;
		h->heartbeat_age_ms = age_ms(vfs, o, now, wall,
					     &h->age_observed);
		if (o->rec.state == OD_SLOT_RECOVERING)
			h->state = VFS_HOST_RECOVERING;
		else if (hb_obs_dead(vfs, o, now) ||
			 (!h->age_observed &&
			  h->heartbeat_age_ms >= vfs->g.lease_ms && !h->self))
			h->state = VFS_HOST_DEAD;
		else
			h->state = VFS_HOST_LIVE;
	}
	pthread_mutex_unlock(&vfs->hb_mu);
	vfs_op_leave(vfs);
	if (rc < 0) {
		free(hosts);
		return rc;
	}
	*out = hosts;
	*count = n;
	return 0;
}

/* ---- locks ---- */

static void
fill_lock(struct vfs *vfs, const struct od_lock *rec,
	  struct vfs_lock_info *li, uint64_t now, uint64_t wall)
{
	static const enum vfs_lock_mode modes[] = {
		VFS_LOCK_NONE, VFS_LOCK_EXCLUSIVE, VFS_LOCK_SHARED,
		VFS_LOCK_MULTI_WRITER,
	};

	li->mode = modes[rec->mode];
	li->lock_generation = rec->lock_generation;
	li->since_wall_ns = rec->since_wall_ns;
	li->nholders = rec->nholders;
	pthread_mutex_lock(&vfs->hb_mu);
	for (unsigned int i = 0; i < rec->nholders; i++) {
		struct vfs_lock_holder *h = &li->holders[i];
		uint32_t s = rec->holders[i].slot;

		h->slot = s;
		h->slot_generation = rec->holders[i].generation;
		if (s < vfs->g.slots && vfs->obs[s].seen) {
			const struct hb_obs *o = &vfs->obs[s];
			bool observed;

			snprintf(h->host_name, sizeof(h->host_name), "%s",
				 o->rec.host_name);
			h->holder_alive = o->rec.state == OD_SLOT_LIVE &&
					  o->rec.generation ==
						  h->slot_generation &&
					  !hb_obs_dead(vfs, o, now);
			h->heartbeat_age_ms = age_ms(vfs, o, now, wall,
						     &observed);
		}
	}
	pthread_mutex_unlock(&vfs->hb_mu);
}

static int
read_lock(struct vfs *vfs, uint64_t off, struct od_lock *rec)
{
	uint8_t *buf = vfs_alloc_buf(VFS_SECTOR);
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = vfs_io_read(vfs, vfs->lun, off, buf, VFS_SECTOR);
	if (rc == 0)
		rc = od_lock_in(buf, off, rec);
	free(buf);
	return rc;
}

struct lock_list {
	struct vfs *vfs;
	struct vfs_lock_info *v;
	unsigned int n, cap;
	uint64_t now, wall;
	char path[1024];
	unsigned int depth;
};

static int
push(struct lock_list *l, const struct od_lock *rec, uint64_t ino,
     const char *path)
{
	struct vfs_lock_info *li;

	if (l->n == l->cap) {
		unsigned int cap = l->cap ? l->cap * 2 : 16;
		struct vfs_lock_info *bigger = realloc(l->v,
						       cap * sizeof(*bigger));

		if (!bigger)
			return -ENOMEM;
		l->v = bigger;
		l->cap = cap;
	}
	li = &l->v[l->n++];
	memset(li, 0, sizeof(*li));
	snprintf(li->path, sizeof(li->path), "%s", path);
	li->ino = ino;
	fill_lock(l->vfs, rec, li, l->now, l->wall);
	return 0;
}

static int visit(struct lock_list *l, uint64_t ino, uint8_t type);

static int
child_cb(void *arg, const char *name, size_t len, const struct dir_hit *ent)
{
	struct lock_list *l = arg;
	size_t plen = strlen(l->path);
	int rc;

	if (plen + len + 2 >= sizeof(l->path))
		return 0;
	if (plen > 1)
		l->path[plen++] = '/';
	memcpy(l->path + plen, name, len);
	l->path[plen + len] = '\0';
	rc = visit(l, ent->ino, ent->type);
	l->path[plen > 1 ? plen - 1 : plen] = '\0';
	if (plen == 1)
		l->path[1] = '\0';
	return rc;
}

static int
visit(struct lock_list *l, uint64_t ino, uint8_t type)
{
	struct od_lock rec;
	int rc;

	if (!vfs_ino_valid(&l->vfs->g, ino))
		return 0;
	rc = read_lock(l->vfs, inode_lock_off(l->vfs, ino), &rec);
	if (rc == 0 && rec.mode != OD_LOCK_FREE)
		rc = push(l, &rec, ino, l->path);
	if (rc < 0 && rc != -EUCLEAN)
		return rc;
	if (type != OD_INODE_DIR || l->depth > 64)
		return 0;
	l->depth++;
	rc = dir_list_unlocked(l->vfs, ino, child_cb, l);
	l->depth--;
	return rc == -EUCLEAN || rc == -ENOENT ? 0 : rc;
}

static int
cluster_locks(struct lock_list *l)
{
	const struct vfs_geom *g = &l->vfs->g;
	char name[64];
	int rc;

	for (uint32_t c = 0; c < g->dclusters + g->mclusters; c++) {
		bool data = c < g->dclusters;
		uint32_t i = data ? c : c - g->dclusters;
		uint64_t off = data ? vfs_dcluster_off(g, i) :
			vfs_mblock_off(g, vfs_mcluster_hdr(g, i));
		struct od_lock rec;

		rc = read_lock(l->vfs, off, &rec);
		if (rc < 0 || rec.mode == OD_LOCK_FREE)
			continue;
		snprintf(name, sizeof(name), "[%s cluster %u]",
			 data ? "data" : (od_mcluster_type(i) == OD_CLUSTER_INODE ?
					  "inode" : "meta"), i);
		rc = push(l, &rec, 0, name);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int
vfs_locks_list(struct vfs *vfs, const char *path, bool internal,
	       struct vfs_lock_info **out, unsigned int *count)
{
	struct lock_list l = { .vfs = vfs };
	struct dir_hit hit;
	int rc = vfs_op_enter(vfs, false);

	if (rc < 0)
		return rc;
	l.now = vfs_now(vfs);
	l.wall = clock_wall_ns();
	rc = hb_observe_all(vfs, vfs->lun, l.now);
	if (rc == 0)
		rc = path_resolve(vfs, path ? path : "/", &hit);
	if (rc == 0) {
		snprintf(l.path, sizeof(l.path), "%s", path ? path : "/");
		rc = visit(&l, hit.ino, hit.type);
	}
	if (rc == 0 && internal)
		rc = cluster_locks(&l);
	vfs_op_leave(vfs);
	if (rc < 0) {
		free(l.v);
		return rc;
	}
	*out = l.v;
	*count = l.n;
	return 0;
}

int
vfs_lock_query(struct vfs *vfs, const char *path, struct vfs_lock_info *out)
{
	struct lock_list l = { .vfs = vfs };
	struct od_lock rec;
	struct dir_hit hit;
	int rc = vfs_op_enter(vfs, false);

	if (rc < 0)
		return rc;
	l.now = vfs_now(vfs);
	l.wall = clock_wall_ns();
	memset(out, 0, sizeof(*out));
	rc = path_resolve(vfs, path, &hit);
	if (rc == 0)
		rc = read_lock(vfs, inode_lock_off(vfs, hit.ino), &rec);
	if (rc == 0) {
		for (unsigned int i = 0; i < rec.nholders; i++)
			hb_observe_slot(vfs, vfs->lun, rec.holders[i].slot,
					l.now, NULL);
		snprintf(out->path, sizeof(out->path), "%s", path);
		out->ino = hit.ino;
		fill_lock(vfs, &rec, out, l.now, l.wall);
	}
	vfs_op_leave(vfs);
	return rc;
}

/* ---- names ---- */

const char *
vfs_strerror(int err)
{
	switch (-err) {
	case 0: return "success";
	case EBUSY: return "locked by another host (or open here)";
	case ESTALE: return "this session lost its lease (fenced); unmount";
	case EUCLEAN: return "on-disk metadata is corrupt (run vfs fsck)";
	case ENOSPC: return "no space left on the datastore";
	case EUSERS: return "no free heartbeat slot or journal";
	case EMEDIUMTYPE: return "the LUN does not hold a datastore";
	case EPROTONOSUPPORT:
		return "the datastore has a newer format or features this "
		       "version does not know";
	case EROFS: return "read-only session or lock mode";
	case EFBIG: return "beyond the largest file size";
	case ENAMETOOLONG: return "a name is longer than 255 bytes";
	case EBADE: return "reservation conflict: this host has been fenced";
	case EEXIST: return "already exists";
	}
	return strerror(-err);
}

const char *
vfs_lock_mode_name(enum vfs_lock_mode mode)
{
	switch (mode) {
	case VFS_LOCK_NONE: return "none";
	case VFS_LOCK_EXCLUSIVE: return "exclusive";
	case VFS_LOCK_SHARED: return "shared";
	case VFS_LOCK_MULTI_WRITER: return "multi-writer";
	}
	return "unknown";
}

const char *
vfs_alloc_name(enum vfs_alloc alloc)
{
	switch (alloc) {
	case VFS_ALLOC_THIN: return "thin";
	case VFS_ALLOC_LAZY_ZEROED: return "lazy-zeroed";
	case VFS_ALLOC_EAGER_ZEROED: return "eager-zeroed";
	}
	return "unknown";
}

int
vfs_alloc_parse(const char *s, enum vfs_alloc *out)
{
	if (!strcmp(s, "thin"))
		*out = VFS_ALLOC_THIN;
	else if (!strcmp(s, "lazy-zeroed") || !strcmp(s, "zeroedthick") ||
		 !strcmp(s, "lazy"))
		*out = VFS_ALLOC_LAZY_ZEROED;
	else if (!strcmp(s, "eager-zeroed") ||
		 !strcmp(s, "eagerzeroedthick") || !strcmp(s, "eager"))
		*out = VFS_ALLOC_EAGER_ZEROED;
	else
		return -EINVAL;
	return 0;
}
