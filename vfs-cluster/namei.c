/* SPDX-License-Identifier: MIT */
/*
 * Paths and namespace operations: create, mkdir, unlink, rmdir, rename,
 * stat, readdir. Lookups walk the tree without locks (each block is
 * checksummed, the view may be a moment old); a change locks the parent
 * directory (and the victim or moved inode) exclusively, looks the name
 * up again under the lock, and commits one transaction. Lock order:
 * the global rename lock, directories by inode number, then files, then
 * resource clusters (alloc.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "vfs-cluster/vfs-internal.h"


int
vfs_op_enter(struct vfs *vfs, bool write)
{
	pthread_mutex_lock(&vfs->mu);
	if (atomic_load(&vfs->fenced) || vfs->jn.error) {
		pthread_mutex_unlock(&vfs->mu);
		return -ESTALE;
	}
	if (write && !vfs_writable(vfs)) {
		pthread_mutex_unlock(&vfs->mu);
		return -EROFS;
	}
	return 0;
}

void
vfs_op_leave(struct vfs *vfs)
{
	pthread_mutex_unlock(&vfs->mu);
}

/* Splits off the next component; returns its length, 0 at the end. */
static size_t
next_name(const char **p)
{
	size_t n;

	while (**p == '/')
		(*p)++;
	n = strcspn(*p, "/");
	return n;
}

static int
check_name(const char *s, size_t n)
{
	if (n > VFS_NAME_MAX)
		return -ENAMETOOLONG;
	return od_name_valid(s, n) ? 0 : -EINVAL;
}

static int lock_dir(struct vfs *vfs, uint64_t ino, struct vlock **vl,
		    struct inode_ref *r);

/*
 * Looks 'name' up in directory 'dir'. The unlocked read may be older
 * than another host's last change (which sits in its journal until it
 * lets go of the directory's lock), so a miss is confirmed under the
 * lock: a name another host just created is always found.
 */
static int
lookup(struct vfs *vfs, uint64_t dir, const char *name, size_t len,
       struct dir_hit *out)
{
	struct inode_ref r;
	struct vlock *vl;
	int rc = dir_lookup_unlocked(vfs, dir, name, len, out);

	if (rc != -ENOENT || !vfs_writable(vfs) || vfs->slot < 0 ||
	    tx_modified(vfs))
		return rc;
	rc = lock_dir(vfs, dir, &vl, &r);
	if (rc < 0)
		return rc;
	rc = dir_lookup(vfs, &r, name, len, out);
	lock_put(vfs, vl);
	return rc;
}

int
path_split(struct vfs *vfs, const char *path, struct path_walk *w)
{
	const char *p = path;
	uint64_t dir = vfs->g.root_ino;
	int rc;

	memset(w, 0, sizeof(*w));
	if (!path || path[0] != '/')
		return -EINVAL;
	for (;;) {
		size_t n = next_name(&p);
		const char *after;
		struct dir_hit hit;

		if (n == 0)
			return -EINVAL; /* "/" has no last component */
		rc = check_name(p, n);
		if (rc < 0)
			return rc;
		after = p + n;
		while (*after == '/')
			after++;
		if (*after == '\0') {
			w->parent = dir;
			w->name = p;
			w->name_len = n;
			rc = lookup(vfs, dir, p, n, &w->hit);
			if (rc == 0)
				w->found = true;
			return rc == -ENOENT ? 0 : rc;
		}
		rc = lookup(vfs, dir, p, n, &hit);
		if (rc < 0)
			return rc;
		if (hit.type != OD_INODE_DIR)
			return -ENOTDIR;
		dir = hit.ino;
		p = after;
	}
}

int
path_resolve(struct vfs *vfs, const char *path, struct dir_hit *out)
{
	struct path_walk w;
	const char *p = path;
	int rc;

	if (!path || path[0] != '/')
		return -EINVAL;
	if (next_name(&p) == 0) {
		struct od_inode *body = vfs_alloc_buf(sizeof(*body));

		if (!body)
			return -ENOMEM;
		rc = inode_read_unlocked(vfs, vfs->g.root_ino, body);
		out->ino = vfs->g.root_ino;
		out->generation = rc == 0 ? le32(body->generation) : 0;
		out->type = OD_INODE_DIR;
		free(body);
		return rc;
	}
	rc = path_split(vfs, path, &w);
	if (rc < 0)
		return rc;
	if (!w.found)
		return -ENOENT;
	*out = w.hit;
	return 0;
}

static int
lock_inode(struct vfs *vfs, uint64_t ino, uint64_t timeout_ns,
	   struct vlock **vl, struct inode_ref *r)
{
	const struct lock_req req = { .mode = OD_LOCK_EX, .internal = true,
				      .timeout_ns = timeout_ns };
	int rc;

	if (!vfs_ino_valid(&vfs->g, ino))
		return -EUCLEAN;
	rc = lock_acquire(vfs, inode_lock_off(vfs, ino), &req, vl, NULL);
	if (rc < 0)
		return rc;
	rc = inode_get(vfs, ino, *vl, r);
	if (rc < 0)
		lock_put(vfs, *vl);
	return rc;
}

/* Locks a directory that must still exist. */
static int
lock_dir(struct vfs *vfs, uint64_t ino, struct vlock **vl,
	 struct inode_ref *r)
{
	int rc = lock_inode(vfs, ino, 0, vl, r);

	if (rc < 0)
		return rc;
	if (le16(inode_body(r)->type) != OD_INODE_DIR) {
		lock_put(vfs, *vl);
		return le16(inode_body(r)->type) == OD_INODE_FREE ? -ENOENT :
								   -ENOTDIR;
	}
	return 0;
}

/* Locks the inode a directory entry names, checking it matches. */
static int
lock_target(struct vfs *vfs, const struct dir_hit *hit, struct vlock **vl,
	    struct inode_ref *r)
{
	int rc;

	if (vnode_find(vfs, hit->ino))
		return -EBUSY; /* open in this session */
	/* Another host may merely cache the lock: wait for its idle
	 * release, but not for a file someone keeps open. */
	rc = lock_inode(vfs, hit->ino, 2 * vfs->lock_cache_ns + NS_PER_SEC,
			vl, r);
	if (rc < 0)
		return rc;
	if (le32(inode_body(r)->generation) != hit->generation ||
	    le16(inode_body(r)->type) != hit->type) {
		log_err(VFS_LOG, "directory entry names inode %llu gen %u, "
			"which is gen %u type %u",
			(unsigned long long)hit->ino, hit->generation,
			le32(inode_body(r)->generation),
			le16(inode_body(r)->type));
		lock_put(vfs, *vl);
		return -EUCLEAN;
	}
	return 0;
}

/* ---- create ---- */

static void
init_inode(struct od_inode *b, uint64_t ino, uint32_t gen, uint16_t type,
	   uint32_t alloc, uint64_t parent)
{
	uint64_t now = clock_wall_ns();

	memset(b, 0, sizeof(*b));
	b->magic = to_le32(VFS_INODE_MAGIC);
	b->ino = to_le64(ino);
	b->generation = to_le32(gen);
	b->type = to_le16(type);
	b->alloc = to_le32(alloc);
	b->ctime_ns = to_le64(now);
	b->mtime_ns = to_le64(now);
	b->parent = to_le64(parent);
}

/*
 * Creates an inode of 'type' named 'name' in the locked directory 'dir'
 * inside the open op; returns it locked (internal, exclusive).
 */
static int
new_inode(struct vfs *vfs, struct inode_ref *dir, const char *name,
	  size_t len, uint16_t type, uint32_t alloc, struct vlock **vl,
	  struct inode_ref *r, uint32_t *gen_out)
{
	const struct lock_req req = { .mode = OD_LOCK_EX, .nowait = true,
				      .internal = true, .fresh = true };
	struct od_inode *body;
	struct dir_hit ent;
	uint64_t ino;
	uint32_t gen = 1;
	int rc;

	uint64_t avoid[8];
	unsigned int navoid = 0;

	/* A free inode's lock may still be cached by the host that freed
	 * it: rather than wait in the middle of a transaction, take
	 * another inode. */
	for (;;) {
		rc = alloc_mblock_avoid(vfs, MBLOCK_INODE, avoid, navoid, &ino);
		if (rc < 0)
			return rc;
		rc = lock_acquire(vfs, inode_lock_off(vfs, ino), &req, vl,
				  NULL);
		if (rc != -EBUSY || navoid == ARRAY_SIZE(avoid))
			break;
		rc = free_mblock(vfs, ino);
		if (rc < 0)
			return rc;
		avoid[navoid++] = ino;
	}
	if (rc < 0)
		return rc;
	r->ino = ino;
	r->lock = *vl;
	rc = bc_get(vfs, inode_lock_off(vfs, ino) + VFS_SECTOR,
		    VFS_MBLOCK - VFS_SECTOR, *vl, &r->it);
	if (rc < 0)
		goto err;
	body = inode_body(r);
	/* The bitmap is the authority: whatever the body holds (a freed
	 * inode, nothing yet, or leftovers of an earlier mkfs) is replaced;
	 * only its generation is carried on so old entries never match. */
	if (od_inode_check(body, ino) == 0 && le32(body->magic))
		gen = le32(body->generation) + 1;
	rc = inode_dirty(vfs, r);
	if (rc < 0)
		goto err;
	init_inode(body, ino, gen, type, alloc, dir->ino);
	/* Thin files start small: their data lives in the inode until it
	 * outgrows it (no 1 MiB block for a 300-byte .vmx). */
	if (type == OD_INODE_FILE && alloc == VFS_ALLOC_THIN &&
	    (vfs->g.incompat & VFS_INCOMPAT_INLINE))
		body->flags = to_le16(OD_INODE_INLINE);
	ent.ino = ino;
	ent.generation = gen;
	ent.type = (uint8_t)type;
	rc = dir_add(vfs, dir, name, len, &ent);
	if (rc < 0)
		goto err;
	*gen_out = gen;
	return 0;
err:
	lock_put(vfs, *vl);
	return rc;
}

static int remove_common(struct vfs *vfs, const char *path, bool dir_wanted);

static int
create_common(struct vfs *vfs, const char *path, uint16_t type,
	      uint32_t alloc, struct vlock **vl_out, struct dir_hit *out)
{
	struct inode_ref dir, r;
	struct path_walk w;
	struct dir_hit hit;
	struct vlock *dl, *vl;
	uint32_t gen = 0;
	uint64_t start;
	int rc;

	rc = path_split(vfs, path, &w);
	if (rc < 0)
		return rc;
	/* Found or not, only the locked directory says for sure. */
	rc = lock_dir(vfs, w.parent, &dl, &dir);
	if (rc < 0)
		return rc;
	rc = dir_lookup(vfs, &dir, w.name, w.name_len, &hit);
	if (rc == 0)
		rc = -EEXIST;
	if (rc != -ENOENT)
		goto out;
	start = vfs_now(vfs);
	do {
		tx_begin_yielding(vfs);
		rc = new_inode(vfs, &dir, w.name, w.name_len, type, alloc,
			       &vl, &r, &gen);
		rc = tx_end(vfs, rc, false);
	} while (tx_retry(vfs, rc, start));
	if (rc < 0)
		goto out;
	out->ino = r.ino;
	out->generation = gen;
	out->type = (uint8_t)type;
	if (vl_out)
		*vl_out = vl;
	else
		lock_put(vfs, vl);
out:
	lock_put(vfs, dl);
	return rc;
}

int
vfs_mkdir(struct vfs *vfs, const char *path)
{
	struct dir_hit hit;
	int rc = vfs_op_enter(vfs, true);

	if (rc < 0)
		return rc;
	rc = create_common(vfs, path, OD_INODE_DIR, VFS_ALLOC_THIN, NULL,
			   &hit);
	vfs_op_leave(vfs);
	return rc;
}

int
vfs_file_create(struct vfs *vfs, const char *path,
		const struct vfs_create_opts *opts, unsigned int flags,
		struct vfs_file **out)
{
	struct vfs_create_opts o = { 0 };
	struct vlock *vl;
	struct dir_hit hit;
	int rc;

	if (opts)
		o = *opts;
	if (o.alloc > VFS_ALLOC_EAGER_ZEROED)
		return -EINVAL;
	rc = vfs_op_enter(vfs, true);
	if (rc < 0)
		return rc;
	rc = create_common(vfs, path, OD_INODE_FILE, o.alloc, &vl, &hit);
	if (rc == 0) {
		rc = vnode_create_open(vfs, &hit, vl, &o, flags, out);
		/* Could not provision it (ENOSPC): take it away again. */
		if (rc < 0 && !atomic_load(&vfs->fenced) &&
		    remove_common(vfs, path, false) < 0)
			log_warn(VFS_LOG, "%s: could not remove after a failed "
				 "create", path);
	}
	vfs_op_leave(vfs);
	return rc;
}

/* ---- freeing ---- */

/*
 * Frees the data of a locked file in steps (each its own commit, so no
 * transaction outgrows the journal), down to leaf 'from'.
 */
int
inode_shrink(struct vfs *vfs, struct inode_ref *r, uint64_t from, uint64_t end)
{
	uint64_t step = tx_step_blocks(vfs);
	int rc;

	/* A big file's blocks are freed in steps from the end, one commit
	 * each; a step that grows too big stops early and is redone. */
	for (;;) {
		uint64_t target = end > from + step ? end - step : from;
		uint64_t start = vfs_now(vfs);
		bool partial;

		do {
			tx_begin_yielding(vfs);
			rc = bmap_truncate(vfs, r, target, false);
			partial = rc == -EAGAIN;
			rc = tx_end(vfs, partial ? 0 : rc, true);
		} while (tx_retry(vfs, rc, start));
		if (rc < 0)
			return rc;
		if (partial)
			continue;
		if (target == from)
			return 0;
		end = target;
	}
}

static uint64_t
shrink_end(const struct vfs *vfs, struct inode_ref *r)
{
	return DIV_ROUND_UP(le64(inode_body(r)->size), vfs->g.block_bytes);
}

static int
free_inode(struct vfs *vfs, struct inode_ref *r)
{
	struct od_inode *b = inode_body(r);
	int rc;

	rc = bmap_truncate(vfs, r, 0, le16(b->type) == OD_INODE_DIR);
	if (rc == 0)
		rc = free_mblock(vfs, r->ino);
	if (rc == 0)
		rc = inode_dirty(vfs, r);
	if (rc < 0)
		return rc;
	/* Keep the generation: the next life of this inode moves past it,
	 * so a stale directory entry can never match it. */
	b->type = to_le16(OD_INODE_FREE);
	if (od_inode_inline(b))
		memset(od_inode_data(b), 0, OD_INLINE_MAX);
	b->flags = 0;
	b->size = 0;
	b->nentries = 0;
	b->map_depth = 0;
	b->mtime_ns = to_le64(clock_wall_ns());
	return 0;
}

/*
 * In the op that removes the last name of the locked inode 'r': frees its
 * data and the inode itself, or as much data as fits the op, then
 * '*left' says finish_unlinked() must free the rest once this op has
 * committed. Either way the name and the contents go together: a failed
 * op leaves both as they were.
 */
static int
unlink_inode(struct vfs *vfs, struct inode_ref *r, bool *left)
{
	bool dir = le16(inode_body(r)->type) == OD_INODE_DIR;
	int rc = bmap_truncate(vfs, r, 0, dir);

	*left = rc == -EAGAIN;
	if (*left)
		return 0;
	return rc < 0 ? rc : free_inode(vfs, r);
}

/*
 * Frees what unlink_inode() left of a file no name leads to any more, in
 * steps of their own. A host that dies meanwhile, or an error, leaves
 * the rest allocated but unreachable: space fsck reports as leaked and
 * --repair reclaims, never data anyone can see.
 */
static void
finish_unlinked(struct vfs *vfs, struct inode_ref *r)
{
	int rc = inode_shrink(vfs, r, 0, shrink_end(vfs, r));

	if (rc == 0) {
		uint64_t start = vfs_now(vfs);

		do {
			tx_begin_yielding(vfs);
			rc = tx_end(vfs, free_inode(vfs, r), false);
		} while (tx_retry(vfs, rc, start));
	}
	if (rc < 0)
		log_warn(VFS_LOG, "inode %llu: freeing an unlinked file: %s; "
			 "its space stays allocated until fsck --repair",
			 (unsigned long long)r->ino, strerror(-rc));
}

static int
remove_common(struct vfs *vfs, const char *path, bool dir_wanted)
{
	struct inode_ref dir, r;
	struct path_walk w;
	struct dir_hit hit;
	struct vlock *dl, *vl;
	uint64_t start;
	bool left = false;
	int rc;

	rc = path_split(vfs, path, &w);
	if (rc < 0)
		return rc;
	if (!w.found)
		return -ENOENT;
	rc = lock_dir(vfs, w.parent, &dl, &dir);
	if (rc < 0)
		return rc;
	rc = dir_lookup(vfs, &dir, w.name, w.name_len, &hit);
	if (rc < 0)
		goto out;
	if (dir_wanted && hit.type != OD_INODE_DIR) {
		rc = -ENOTDIR;
		goto out;
	}
	if (!dir_wanted && hit.type == OD_INODE_DIR) {
		rc = -EISDIR;
		goto out;
	}
	rc = lock_target(vfs, &hit, &vl, &r);
	if (rc < 0)
		goto out;
	if (dir_wanted && le32(inode_body(&r)->nentries)) {
		rc = -ENOTEMPTY;
		goto out_target;
	}
	start = vfs_now(vfs);
	do {
		tx_begin_yielding(vfs);
		rc = dir_remove(vfs, &dir, w.name, w.name_len);
		if (rc == 0)
			rc = unlink_inode(vfs, &r, &left);
		rc = tx_end(vfs, rc, false);
	} while (tx_retry(vfs, rc, start));
	if (rc == 0 && left)
		finish_unlinked(vfs, &r);
out_target:
	/* Still cached: nobody can lock this inode before our checkpoint
	 * has written it home as free. */
	lock_put(vfs, vl);
out:
	lock_put(vfs, dl);
	return rc;
}

int
vfs_unlink_locked(struct vfs *vfs, const char *path)
{
	return remove_common(vfs, path, false);
}

int
vfs_unlink(struct vfs *vfs, const char *path)
{
	int rc = vfs_op_enter(vfs, true);

	if (rc < 0)
		return rc;
	rc = remove_common(vfs, path, false);
	vfs_op_leave(vfs);
	return rc;
}

int
vfs_rmdir(struct vfs *vfs, const char *path)
{
	int rc = vfs_op_enter(vfs, true);

	if (rc < 0)
		return rc;
	rc = remove_common(vfs, path, true);
	vfs_op_leave(vfs);
	return rc;
}

/* ---- rename ---- */

/* Is 'ino' the directory 'anc' or below it? (Under the rename lock.) */
static int
is_below(struct vfs *vfs, uint64_t ino, uint64_t anc)
{
	struct od_inode *b = vfs_alloc_buf(sizeof(*b));
	int rc = 0;

	if (!b)
		return -ENOMEM;
	for (unsigned int depth = 0; depth < 4096; depth++) {
		if (ino == anc) {
			rc = 1;
			break;
		}
		if (ino == vfs->g.root_ino)
			break;
		rc = inode_read_unlocked(vfs, ino, b);
		if (rc < 0)
			break;
		ino = le64(b->parent);
	}
	free(b);
	return rc;
}

struct rename_ctx {
	struct path_walk src, dst;
	struct vlock *rl, *l1, *l2, *ml, *vl;
	struct inode_ref d1, d2, moved, victim;
	struct inode_ref *sdir, *ddir;
	struct dir_hit hit, old;
	bool have_victim, victim_left;
};

static int
rename_lock_dirs(struct vfs *vfs, struct rename_ctx *c)
{
	const struct lock_req req = { .mode = OD_LOCK_EX, .internal = true };
	uint64_t a = c->src.parent, b = c->dst.parent;
	int rc;

	if (a != b) {
		rc = lock_acquire(vfs, vfs->g.locks_off +
				  VFS_LOCK_RENAME * VFS_SECTOR, &req, &c->rl,
				  NULL);
		if (rc < 0)
			return rc;
	}
	rc = lock_dir(vfs, MIN(a, b), &c->l1, &c->d1);
	if (rc < 0)
		return rc;
	if (a != b) {
		rc = lock_dir(vfs, MAX(a, b), &c->l2, &c->d2);
		if (rc < 0)
			return rc;
	}
	c->sdir = a <= b ? &c->d1 : &c->d2;
	c->ddir = a <= b ? (a == b ? &c->d1 : &c->d2) : &c->d1;
	if (a == b)
		c->sdir = c->ddir = &c->d1;
	return 0;
}

static int
rename_checks(struct vfs *vfs, struct rename_ctx *c, unsigned int flags)
{
	int rc;

	rc = dir_lookup(vfs, c->sdir, c->src.name, c->src.name_len, &c->hit);
	if (rc < 0)
		return rc;
	if (c->hit.type == OD_INODE_DIR && c->src.parent != c->dst.parent) {
		rc = is_below(vfs, c->dst.parent, c->hit.ino);
		if (rc)
			return rc < 0 ? rc : -EINVAL;
		rc = lock_target(vfs, &c->hit, &c->ml, &c->moved);
		if (rc < 0)
			return rc;
	}
	rc = dir_lookup(vfs, c->ddir, c->dst.name, c->dst.name_len, &c->old);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	if (flags & VFS_RENAME_NOREPLACE)
		return -EEXIST;
	if (c->old.ino == c->hit.ino)
		return 1; /* the same inode: nothing to do */
	if (c->hit.type == OD_INODE_FILE && c->old.type == OD_INODE_DIR)
		return -EISDIR;
	if (c->hit.type == OD_INODE_DIR && c->old.type == OD_INODE_FILE)
		return -ENOTDIR;
	rc = lock_target(vfs, &c->old, &c->vl, &c->victim);
	if (rc < 0)
		return rc;
	c->have_victim = true;
	if (c->old.type == OD_INODE_DIR &&
	    le32(inode_body(&c->victim)->nentries))
		return -ENOTEMPTY;
	return 0;
}

/*
 * The rename itself: one transaction, all or nothing. A replaced file is
 * freed in it too (what does not fit, after it): the name never points
 * at a file emptied by a rename that then failed.
 */
static int
rename_commit(struct vfs *vfs, struct rename_ctx *c)
{
	int rc = 0;

	tx_begin_yielding(vfs);
	if (c->have_victim)
		rc = dir_remove(vfs, c->ddir, c->dst.name, c->dst.name_len);
	if (rc == 0)
		rc = dir_remove(vfs, c->sdir, c->src.name, c->src.name_len);
	if (rc == 0)
		rc = dir_add(vfs, c->ddir, c->dst.name, c->dst.name_len,
			     &c->hit);
	if (rc == 0 && c->ml) {
		rc = inode_dirty(vfs, &c->moved);
		if (rc == 0)
			inode_body(&c->moved)->parent = to_le64(c->dst.parent);
	}
	/* Last: it may fill the op up to its share of the journal. */
	if (rc == 0 && c->have_victim)
		rc = unlink_inode(vfs, &c->victim, &c->victim_left);
	return tx_end(vfs, rc, false);
}

int
vfs_rename(struct vfs *vfs, const char *from, const char *to,
	   unsigned int flags)
{
	struct rename_ctx c;
	uint64_t start;
	int rc;

	if (flags & ~VFS_RENAME_NOREPLACE)
		return -EINVAL;
	memset(&c, 0, sizeof(c));
	rc = vfs_op_enter(vfs, true);
	if (rc < 0)
		return rc;
	rc = path_split(vfs, from, &c.src);
	if (rc == 0 && !c.src.found)
		rc = -ENOENT;
	if (rc == 0)
		rc = path_split(vfs, to, &c.dst);
	if (rc == 0)
		rc = rename_lock_dirs(vfs, &c);
	if (rc == 0)
		rc = rename_checks(vfs, &c, flags);
	start = vfs_now(vfs);
	while (rc == 0) {
		rc = rename_commit(vfs, &c);
		if (!tx_retry(vfs, rc, start))
			break;
	}
	if (rc == 0 && c.victim_left)
		finish_unlinked(vfs, &c.victim);
	if (rc == 1)
		rc = 0;
	lock_put(vfs, c.vl);
	lock_put(vfs, c.ml);
	lock_put(vfs, c.l2);
	lock_put(vfs, c.l1);
	lock_put(vfs, c.rl);
	vfs_op_leave(vfs);
	return rc;
}

/* ---- stat and listings ---- */

void
inode_fill_stat(const struct vfs *vfs, const struct od_inode *b,
		struct vfs_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->ino = le64(b->ino);
	st->generation = le32(b->generation);
	st->type = le16(b->type) == OD_INODE_DIR ? VFS_TYPE_DIR :
						   VFS_TYPE_FILE;
	st->alloc = (enum vfs_alloc)le32(b->alloc);
	st->size_bytes = le64(b->size);
	st->ctime_ns = le64(b->ctime_ns);
	st->mtime_ns = le64(b->mtime_ns);
	if (st->type == VFS_TYPE_DIR) {
		st->nentries = le32(b->nentries);
		st->allocated_bytes = le64(b->blocks) * VFS_MBLOCK;
	} else {
		st->allocated_bytes = le64(b->blocks) * vfs->g.block_bytes;
	}
}

int
inode_stat(struct vfs *vfs, uint64_t ino, uint32_t gen, struct vfs_stat *st)
{
	struct od_inode *b = vfs_alloc_buf(sizeof(*b));
	int rc;

	if (!b)
		return -ENOMEM;
	rc = inode_read_unlocked(vfs, ino, b);
	if (rc == 0 && (le16(b->type) == OD_INODE_FREE ||
			le32(b->generation) != gen))
		rc = -ENOENT; /* removed while we looked */
	if (rc == 0)
		inode_fill_stat(vfs, b, st);
	free(b);
	return rc;
}

int
vfs_stat(struct vfs *vfs, const char *path, struct vfs_stat *st)
{
	struct dir_hit hit;
	int rc = vfs_op_enter(vfs, false);

	if (rc < 0)
		return rc;
	rc = path_resolve(vfs, path, &hit);
	if (rc == 0)
		rc = inode_stat(vfs, hit.ino, hit.generation, st);
	vfs_op_leave(vfs);
	return rc;
}

struct vfs_dir {
	struct vfs_dirent *ents;
	unsigned int n, cap, pos;
};

static int
list_cb(void *arg, const char *name, size_t len, const struct dir_hit *ent)
{
	struct vfs_dir *d = arg;
	struct vfs_dirent *e;

	if (d->n == d->cap) {
		unsigned int cap = d->cap ? d->cap * 2 : 16;
		struct vfs_dirent *bigger = realloc(d->ents,
						    cap * sizeof(*bigger));

		if (!bigger)
			return -ENOMEM;
		d->ents = bigger;
		d->cap = cap;
	}
	e = &d->ents[d->n++];
	memcpy(e->name, name, len);
	e->name[len] = '\0';
	e->ino = ent->ino;
	e->type = ent->type == OD_INODE_DIR ? VFS_TYPE_DIR : VFS_TYPE_FILE;
	return 0;
}

int
vfs_dir_open(struct vfs *vfs, const char *path, struct vfs_dir **out)
{
	struct vfs_dir *d;
	struct dir_hit hit;
	int rc;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	rc = vfs_op_enter(vfs, false);
	if (rc == 0) {
		rc = path_resolve(vfs, path, &hit);
		if (rc == 0 && hit.type != OD_INODE_DIR)
			rc = -ENOTDIR;
		if (rc == 0)
			rc = dir_list_unlocked(vfs, hit.ino, list_cb, d);
		vfs_op_leave(vfs);
	}
	if (rc < 0) {
		vfs_dir_close(d);
		return rc;
	}
	*out = d;
	return 0;
}

int
vfs_dir_next(struct vfs_dir *dir, struct vfs_dirent *ent)
{
	if (dir->pos >= dir->n)
		return 0;
	*ent = dir->ents[dir->pos++];
	return 1;
}

void
vfs_dir_close(struct vfs_dir *dir)
{
	if (!dir)
		return;
	free(dir->ents);
	free(dir);
}
