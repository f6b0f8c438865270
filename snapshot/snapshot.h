/* SPDX-License-Identifier: MIT */
/*
 * Snapshots: the only header other components include.
 *
 * A snapshot freezes a disk's state as a read-only node and continues in
 * a delta disk (redo log) over it: 4 KiB grains, 64-bit self-checking
 * grain-table entries, packed allocation, copy-on-write in 4 KiB units.
 * Nodes form a tree per disk; the disk keeps its name ("disk.vmdk" is
 * always the current state) and every client of the vdisk engine (the
 * VMM, `vdisk serve`, the backup proxy) reads and writes through the
 * chain without knowing it: vdisk_open() opens layered disks once this
 * library is linked.
 *
 *   snap_create   freeze the current state of one or several disks
 *                 (atomically over all of them) as NAME
 *   snap_revert   discard the current state, continue from NAME
 *   snap_delete   merge NAME away; every other snapshot and the current
 *                 state keep their contents
 *   snap_commit   fold the current delta into the snapshot it is over
 *                 (which then is gone: its state no longer exists)
 * Reverting and writing makes a branch: the tree keeps both.
 *
 * Each path-level call works on a disk nobody holds (taking its lock),
 * or asks the process that holds it (a VMM, `vdisk serve`) over its
 * control socket, which runs create, delete and commit online: guest I/O
 * pauses only for the switch (create), and a commit mirrors new writes so
 * it always finishes. A crash at any point leaves a tree that
 * `vdisk check` accepts and that the next open finishes or rolls back.
 *
 * Errors are negative errnos, with vdisk_last_error() saying why:
 *   -ENOENT     no such disk or snapshot
 *   -EEXIST     a snapshot of that name exists
 *   -EBUSY      the disk (or a node) is held elsewhere and there is no
 *               control socket to ask (another host); the message names
 *               the holder
 *   -EUCLEAN    a delta, descriptor or tree is corrupt, a parent link is
 *               broken, or a content ID does not match
 *   -EINVAL     bad argument (empty or too long name, ...)
 *   -EOPNOTSUPP the operation does not apply (commit without a snapshot,
 *               revert while the disk is open, a node shared by linked
 *               clones)
 *   -ENOSPC     no space for a delta
 *
 * Threading: path-level calls may run in any thread; the *_open calls
 * run in a thread of the process holding the disks, beside its I/O
 * threads (never inside a done() callback).
 */
#ifndef SNAPSHOT_SNAPSHOT_H
#define SNAPSHOT_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "vdisk/vdisk.h"

struct progress;

#define SNAP_MAX_DISKS 16

/* One process's hold of guest I/O in a create over several processes. */
struct snap_hold {
	int pid;                 /* the holder (a VMM, `vdisk serve`); 0: none */
	unsigned int ndisks;
	unsigned int disk[SNAP_MAX_DISKS]; /* indexes into the request */
	uint64_t hold_ns;        /* its gates closed until open again */
	uint64_t start_ns, end_ns; /* CLOCK_MONOTONIC of the hold */
};

/* What an operation cost (any field may be 0 when not applicable). */
struct snap_op_stats {
	uint64_t pause_ns;       /* guest I/O held (online create, switches);
				    the longest hold of a group create */
	uint64_t total_ns;
	uint64_t bytes_copied;   /* merges */
	unsigned int nholds;     /* a create over disks of several processes */
	struct snap_hold holds[SNAP_MAX_DISKS];
};

/* ---- snapshot trees ---- */

/*
 * The disks may be held by different processes of this host (several
 * running VMs) and some by none: then it is one crash-consistent point
 * over all of them (a consistency group). Every holder drains and holds
 * its guest I/O, the decision is written at the coordinator disk, all
 * switch and release; a holder that fails or does not answer in time has
 * everything rolled back (or, once decided, finished), and the error
 * names the disk and the process. A hold ends by itself after the hold
 * limit (snap_set_hold_limit_ms(), default 5000 ms), so a dead client or
 * VMM never holds another VM's I/O for longer.
 */
int snap_create(const char *const *disks, unsigned int ndisks,
		const char *name, const char *description,
		struct snap_op_stats *stats) must_check;
void snap_set_hold_limit_ms(unsigned int ms);
/* Only with the disk closed (-EBUSY otherwise). */
int snap_revert(const char *disk, const char *name) must_check;
int snap_delete(const char *disk, const char *name, struct progress *p,
		struct snap_op_stats *stats) must_check;
int snap_commit(const char *disk, struct progress *p,
		struct snap_op_stats *stats) must_check;

/* The same on disks this process holds open (what a control socket runs). */
int snap_create_open(struct vdisk *const *disks, unsigned int ndisks,
		     const char *name, const char *description,
		     struct snap_op_stats *stats) must_check;
int snap_delete_open(struct vdisk *disk, const char *name,
		     struct progress *p, struct snap_op_stats *stats)
	must_check;
int snap_commit_open(struct vdisk *disk, struct progress *p,
		     struct snap_op_stats *stats) must_check;

struct snap_info {
	uint32_t id;
	uint32_t parent;          /* 0: the root (or over a linked-clone base) */
	char name[128];           /* "" for an unnamed node */
	char description[256];
	uint64_t created_ns;      /* wall clock */
	uint64_t size_bytes;      /* space of its data file */
	char file[256];           /* its descriptor */
	char group[40];           /* shared by disks snapshotted together */
	unsigned int nclones;     /* linked clones over it */
};

struct snap_list {
	unsigned int n;
	struct snap_info *snaps;  /* parents before children */
	uint32_t position;        /* the node the current state is over */
	uint64_t current_bytes;   /* space of the current delta */
	char current_file[256];
	char base[512];           /* a linked clone's template node, or "" */
	char mode[16];            /* persistent, nonpersistent, undoable */
	char pending[16];         /* operation to finish at next open, or "" */
};

/* Reads the tree (no lock needed). */
int snap_list(const char *disk, struct snap_list **out) must_check;
void snap_list_free(struct snap_list *l);
/*
 * The path of snapshot 'name' of 'disk' as a disk of its own (read-only:
 * vdisk_open() it with VDISK_OPEN_RDONLY to read that point, export it).
 */
int snap_point_path(const char *disk, const char *name, char *out,
		    size_t len) must_check;

/* ---- disk modes (as in VMware ESX) ---- */

enum snap_mode {
	SNAP_PERSISTENT = 0,    /* writes go to the disk */
	SNAP_NONPERSISTENT,     /* a redo log, discarded at power-off */
	SNAP_UNDOABLE,          /* a redo log; at power-off keep, discard
				   or commit it */
};

enum snap_poweroff {
	SNAP_KEEP = 0,          /* undoable: the redo log stays */
	SNAP_DISCARD,
	SNAP_COMMIT,
};

int snap_mode_set(const char *disk, enum snap_mode mode) must_check;
/* '*redo' tells whether a redo log (kept or crashed) is there. */
int snap_mode_get(const char *disk, enum snap_mode *mode, bool *redo)
	must_check;
const char *snap_mode_string(enum snap_mode mode);
int snap_mode_from_string(const char *s, enum snap_mode *out);
/*
 * Power-on: opens the disk read-write in its mode (a redo log is started
 * for nonpersistent and undoable; a nonpersistent one left by a crash is
 * discarded first). 'flags' as vdisk_open().
 */
int snap_disk_open(const char *path, unsigned int flags, struct vdisk **out)
	must_check;
/* Power-off: closes, then keeps, discards or commits the redo log. */
int snap_disk_close(struct vdisk *disk, enum snap_poweroff action)
	must_check;
/* The same decision for a closed disk (a redo log kept or left). */
int snap_poweroff(const char *disk, enum snap_poweroff action,
		  struct progress *p) must_check;

/* ---- linked clones ---- */

/*
 * Makes 'dst' a delta over 'base' (over its snapshot 'snapshot', or, when
 * NULL, a new unnamed snapshot of its current state), in the same store.
 * The base node is read-only from then on and opened with a shared lock,
 * so many clones on several hosts share it.
 */
int snap_clone_linked(const char *base, const char *snapshot,
		      const char *dst) must_check;

/* ---- qcow2 chains ---- */

/*
 * Writes snapshot 'snapshot' of 'disk' (NULL: the current state) as
 * 'dst' in qcow2; with 'chain', as a backing chain, one qcow2 per layer
 * (DST-1.qcow2 the base ... DST the top), else one flat image.
 */
int snap_export_qcow2(const char *disk, const char *snapshot,
		      const char *dst, bool chain, struct progress *p)
	must_check;
/*
 * Imports a qcow2 backing chain 'src' as disk 'dst': the base becomes its
 * flat data, each overlay an unnamed snapshot node, the top the current
 * delta.
 */
int snap_import_qcow2(const char *src, const char *dst, struct progress *p)
	must_check;

/* ---- control socket ---- */

struct snap_control;

/*
 * Serves snapshot requests for disks this process holds open, on one
 * socket per disk under $VSTACK_RUN_DIR (default /run/vstack), from a
 * thread of its own. 'disks' stay the caller's and must outlive it.
 */
int snap_control_start(struct vdisk *const *disks, unsigned int ndisks,
		       struct snap_control **out) must_check;
void snap_control_stop(struct snap_control *ctl);

#endif
