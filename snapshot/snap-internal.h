/* SPDX-License-Identifier: MIT */
/*
 * Shared by the snapshot sources only: file naming, paths, descriptors of
 * layered disks, the snapshot tree and its pending operation (intent).
 *
 * A disk "NAME.vmdk" with snapshots keeps beside it:
 *   NAME.vmdk               the current state: a VSDELTA extent over the
 *                           node it was last snapshotted at (the stable
 *                           name the VM and tools keep using)
 *   NAME-000001.vmdk        a frozen snapshot node's descriptor (RDONLY)
 *   NAME-000003-delta.vmdk  a delta's data
 *   NAME.vsnap              the tree: nodes, names, dates, the disk mode
 *                           and the operation in progress, if any
 * The base node's descriptor points at the original NAME-flat.vmdk.
 *
 * Descriptors are the truth about the chain (parent links, content IDs);
 * the tree file adds names and is the journal of multi-step operations:
 * an operation writes its intent first, does its steps (each one atomic:
 * a descriptor rename is the commit point), and clears the intent. The
 * next open finishes or rolls back whatever an intent says (recover.c).
 */
#ifndef SNAPSHOT_SNAP_INTERNAL_H
#define SNAPSHOT_SNAP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/delta.h"
#include "snapshot/snapshot.h"
#include "vdisk/vdisk-provider.h"

#define SNAP_NAME_MAX 127
#define SNAP_DESC_MAX 255
#define SNAP_GROUP_MAX 39
#define SNAP_MAX_NODES 4096
#define SNAP_MAX_CLONES 64
/* Descriptor keys of the snapshot layer (kept by vdisk's parser). */
#define SNAP_KEY_NODE "ddb.vstack.snapshot.node"
#define SNAP_KEY_TEMPLATE "ddb.vstack.template"

/* ---- names and paths (util.c) ---- */

bool snap_plain_name(const char *s);
/* "disk.vmdk" -> "disk-000007.vmdk" / "disk-000007-delta.vmdk". */
void snap_name_node(const char *leaf, uint32_t id, char *out, size_t len);
void snap_name_delta(const char *leaf, uint32_t id, char *out, size_t len);
/* "disk.vmdk" -> "disk.vsnap". */
void snap_name_tree(const char *leaf, char *out, size_t len);
/* The folder of a path ("LUN:/vm/a.vmdk" -> "LUN:/vm", "a.vmdk" -> "."). */
void snap_path_dir(const char *path, char *out, size_t len);
/* 'dir' + "/" + 'rel', with "." and ".." folded (datastore paths too). */
void snap_path_join(const char *dir, const char *rel, char *out, size_t len);
/*
 * 'to' relative to folder 'from_dir' when both are in one store root
 * ("../tmpl/t.vmdk"); -EXDEV for another LUN.
 */
int snap_path_relative(const char *from_dir, const char *to, char *out,
		       size_t len);
/* A stable name of a disk for control sockets (realpath for local). */
int snap_disk_id(const char *path, char *out, size_t len);

/* ---- descriptors ---- */

/* Layered (a parent, a delta extent) or a snapshot node. */
bool snap_desc_layered(const struct vdisk_desc *d);
bool snap_desc_is_node(const struct vdisk_desc *d);
/* Sets extent 0 to 'file' of 'kind', RW or RDONLY. */
void snap_desc_set_extent(struct vdisk_desc *d, enum desc_kind kind,
			  const char *file, bool rdonly);
/* Value of an extra key, or NULL. */
const char *snap_desc_get(const struct vdisk_desc *d, const char *key);
int snap_desc_put(struct vdisk_desc *d, const char *key, const char *value);
void snap_desc_del(struct vdisk_desc *d, const char *key);

/* ---- the tree (tree.c) ---- */

struct snap_node {
	uint32_t id;
	uint32_t parent;              /* 0: a root of this tree */
	char file[DESC_NAME_MAX + 1]; /* its descriptor */
	char name[SNAP_NAME_MAX + 1]; /* "" for an unnamed node */
	char description[SNAP_DESC_MAX + 1];
	uint64_t created_ns;          /* wall clock */
	char group[SNAP_GROUP_MAX + 1]; /* shared by one multi-disk create */
	unsigned int nclones;
	char clones[SNAP_MAX_CLONES][256]; /* linked clones over it */
};

enum snap_intent_op {
	INTENT_NONE = 0,
	INTENT_CREATE,
	INTENT_REVERT,
	INTENT_DELETE,
};

enum snap_merge_how {
	MERGE_LEAF = 0,   /* no children: just remove */
	MERGE_UP,         /* the child's grains into the node (then pivot) */
	MERGE_DOWN,       /* the node's grains into each child */
	MERGE_ANON,       /* keep the data, drop the name */
};

struct snap_intent {
	enum snap_intent_op op;
	/* CREATE: the node being made; REVERT: the target; DELETE: the
	 * node going away. */
	struct snap_node node;
	char old_top[DESC_NAME_MAX + 1]; /* data file the current had */
	char new_top[DESC_NAME_MAX + 1]; /* data file it gets */
	/* Multi-disk create. */
	char coordinator[4096];          /* "" when this disk is it */
	bool committed;                  /* the coordinator's decision */
	/* DELETE. */
	enum snap_merge_how how;
	unsigned int nkids;
	uint32_t kids[64];               /* node ids; 0 is the current */
	uint32_t kids_done;              /* bitmap of finished children */
	bool commit;                     /* started as 'vsnap commit' */
};

enum snap_mode_kind {
	MODE_PERSISTENT = 0,
	MODE_NONPERSISTENT,
	MODE_UNDOABLE,
};

struct snap_tree {
	uint32_t next_id;
	enum snap_mode_kind mode;
	uint32_t redo;                   /* node the disk-mode redo log is over */
	unsigned int n;
	struct snap_node *nodes;
	struct snap_intent intent;
};

/* Parses tree text (untrusted); -EUCLEAN with 'err'. */
int snap_tree_parse(const char *text, size_t len, struct snap_tree **out,
		    char *err, size_t errlen);
/* Formats; caller frees. NULL without memory. */
char *snap_tree_format(const struct snap_tree *t);
struct snap_tree *snap_tree_new(void);
void snap_tree_free(struct snap_tree *t);
/* Loads 'leaf's tree: -ENOENT when there is none. */
int snap_tree_load(struct vdisk_store *st, const char *leaf,
		   struct snap_tree **out);
/* Writes it durably (temp file and rename). */
int snap_tree_store(struct vdisk_store *st, const char *leaf,
		    const struct snap_tree *t);
struct snap_node *snap_tree_find(struct snap_tree *t, uint32_t id);
struct snap_node *snap_tree_by_name(struct snap_tree *t, const char *name);
struct snap_node *snap_tree_by_file(struct snap_tree *t, const char *file);
int snap_tree_add(struct snap_tree *t, const struct snap_node *n);
void snap_tree_remove(struct snap_tree *t, uint32_t id);
/* A fresh id whose files do not exist in 'st'. */
uint32_t snap_tree_next_id(struct snap_tree *t, struct vdisk_store *st,
			   const char *leaf);

const char *snap_mode_name(enum snap_mode_kind m);
int snap_mode_parse(const char *s, enum snap_mode_kind *out);

/* ---- the disk's state for operations (ops.c) ---- */

/*
 * A disk held for an operation: its store, the exclusive lock (offline)
 * or the open vdisk (online), the current descriptor and the tree.
 */
struct chain_layer;

struct snap_ctx {
	struct vdisk_store *st;
	char leaf[DESC_NAME_MAX + 1];
	char path[4096];
	char dir[4096];
	bool own_store;                /* 'st' opened (and closed) here */
	struct store_lock *lock;       /* offline: held by us */
	struct vdisk *disk;            /* online: the live disk */
	struct chain *chain;           /* online: its chain (NULL if plain) */
	struct vdisk_desc cur;         /* the current descriptor */
	struct snap_tree *tree;
};

int snap_ctx_hold(const char *path, struct snap_ctx *x);
int snap_ctx_from_disk(struct vdisk *disk, struct snap_ctx *x);
void snap_ctx_release(struct snap_ctx *x);
int snap_ctx_reload(struct snap_ctx *x);
/* The tree node the current state is over (NULL: none or foreign). */
struct snap_node *snap_ctx_position(struct snap_ctx *x);
/* Persists the tree, then the current descriptor (in that order). */
int snap_ctx_store_tree(struct snap_ctx *x);
int snap_ctx_store_cur(struct snap_ctx *x);

/* Operations on a held disk (offline, or online with x->disk set). */

/*
 * The phases of a create, for snap_op_create() (all disks here) and for
 * a create over disks of several processes (group.c, group-client.c):
 * check, prepare (intent, node descriptor, empty delta: nothing refers
 * to them yet), the decision (the coordinator's intent 'committed'),
 * switch (the commit point of each disk), finish (the node joins the
 * tree). Before its switch a disk's create can be unprepared.
 */
struct snap_create_plan {
	uint32_t node_id, delta_id;
	char node_file[DESC_NAME_MAX + 1];
	char new_top[DESC_NAME_MAX + 1];
	struct vdisk_desc node_desc;
	struct vdisk_desc new_cur;
	struct chain_layer *new_layer;   /* online: opened before the pause */
	bool prepared, switched;
};

int snap_create_check(struct snap_ctx *xs, unsigned int n, const char *name,
		      const char *description);
/* 'coordinator': the disk whose intent holds the decision, NULL: this. */
int snap_create_prepare(struct snap_ctx *x, const char *name,
			const char *description, const char *group,
			const char *coordinator, struct snap_create_plan *p);
void snap_create_unprepare(struct snap_ctx *x, struct snap_create_plan *p);
/* Online with the gate closed. */
int snap_create_switch(struct snap_ctx *x, struct snap_create_plan *p);
int snap_create_finish(struct snap_ctx *x);
void snap_random_group(char *out, size_t len);
/*
 * Did the coordinator named in 'in' decide to commit in->node.group? 1
 * yes, 0 no, negative when that cannot be read now (recover.c).
 */
int snap_coordinator_decision(const struct snap_intent *in);
/* Online operations of this process run one at a time (api.c). */
void snap_online_lock(void);
void snap_online_unlock(void);
/* snap_ctx_hold() and snap_recover() (api.c). */
int snap_hold(const char *path, struct snap_ctx *x);
/* The pid of the process of this host serving 'disk', or 0 (api.c). */
int snap_holder_pid(const char *disk);
/* A create over disks of several processes; pids[i]: 0 none (group-client.c). */
int snap_group_create(const char *const *disks, unsigned int n,
		      const int *pids, const char *name,
		      const char *description, struct snap_op_stats *stats);
/* Snapshots need a persistent disk (api.c). */
int snap_check_persistent(struct snap_ctx *x);

int snap_op_create(struct snap_ctx *xs, unsigned int n, const char *name,
		   const char *description, struct snap_op_stats *stats);
int snap_op_revert(struct snap_ctx *x, const char *name, bool by_id,
		   uint32_t id);
int snap_op_delete(struct snap_ctx *x, struct snap_node *s, bool commit,
		   struct progress *p, struct snap_op_stats *stats);
/* Runs (or resumes) the delete intent in x->tree (delete.c). */
int snap_delete_run(struct snap_ctx *x, struct progress *p,
		    struct snap_op_stats *stats);
/* Steps of a create and a revert after their switch (ops.c). */
int snap_revert_finish(struct snap_ctx *x);
void snap_node_desc(const struct vdisk_desc *cur, struct vdisk_desc *node);
void snap_cur_over(const struct vdisk_desc *cur, const char *node_file,
		   uint32_t node_cid, const char *delta_file,
		   struct vdisk_desc *out);
/* Disk modes at open (mode.c): discard or start the redo log. */
int snap_mode_power_on(struct snap_ctx *x);
/* Finishes or rolls back the intent in x->tree (recover.c). */
int snap_recover(struct snap_ctx *x);

/* ---- merges (merge.c) ---- */

struct chain;

/*
 * Copies every grain of layer 'child' into layer 'child' + 1 (its
 * parent) of 'c'; with 'mirror', layer 'child' is the live top and new
 * writes go to both until the switch. 'progress' may be NULL.
 */
int snap_merge_up(struct chain *c, unsigned int child, bool mirror,
		  struct progress *progress);
/* Copies the grains of layer 'parent' that layer 'parent' - 1 lacks. */
int snap_merge_down(struct chain *c, unsigned int parent,
		    struct progress *progress);

/* ---- the provider (provider.c) ---- */

/* The chain of an open disk, NULL when plain (or not ours). */
struct chain *snap_disk_chain(struct vdisk *disk);
/*
 * Makes an open plain disk layered (a one-layer chain over its data
 * file) so an online operation can change it; gate closed.
 */
int snap_disk_adopt(struct vdisk *disk, struct chain **out);

/* ---- linked clones (clone.c) ---- */

/* Drops clone 'path' (being removed) from its base node's list. */
void snap_clone_unregister(const char *path, const struct vdisk_desc *d);
/* Forgets listed clones of 'n' that no longer exist; true if any is left. */
bool snap_clone_alive(struct snap_ctx *x, struct snap_node *n);

/* ---- control socket (control.c) ---- */

/* Sends one request to the process holding 'disk'; -ENOENT: nobody. */
int snap_control_call(const char *disk, const char *request, char *reply,
		      size_t reply_len);

#endif
