/* SPDX-License-Identifier: MIT */
/*
 * Disk modes, as in VMware ESX, on the snapshot layer (snapshot.h):
 *   persistent     writes go to the disk
 *   nonpersistent  writes go to a redo log that power-off throws away
 *   undoable       the same redo log; at power-off it is kept (the next
 *                  run goes on in it), discarded or committed
 * The mode is a property of the disk (`vsnap mode` shows it): a
 * 'diskN.mode' line in vm.cfg sets it before the disk opens, and no line
 * leaves the disk's own mode. Opening the disk through the engine starts
 * the redo log; vmm_vm_close_disks() ends it once the disk is closed,
 * which is why that runs after the devices stop and before anything
 * else could take the disk's lock.
 *
 * While the VM runs, its disks also answer `vsnap create|delete|commit`
 * on their snapshot control sockets (snapshots of a running VM).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/progress.h"
#include "snapshot/snapshot.h"
#include "vmm/block.h"
#include "vmm/devices/devices.h"
#include "vmm/vmm-internal.h"

static const char *const undoable_names[] = {
	[VMM_UNDOABLE_ASK] = "ask",
	[VMM_UNDOABLE_KEEP] = "keep",
	[VMM_UNDOABLE_DISCARD] = "discard",
	[VMM_UNDOABLE_COMMIT] = "commit",
};

int
vmm_undoable_parse(const char *s, enum vmm_undoable *out)
{
	/* "ask" is not a choice one can send: it is the absence of one. */
	for (unsigned int i = VMM_UNDOABLE_KEEP; i < ARRAY_SIZE(undoable_names);
	     i++) {
		if (!strcmp(s, undoable_names[i])) {
			*out = (enum vmm_undoable)i;
			return 0;
		}
	}
	return -EINVAL;
}

void
vmm_vm_set_undoable(struct vmm_vm *vm, enum vmm_undoable how)
{
	vm->undoable = how;
}

enum vmm_undoable
vmm_vm_undoable(struct vmm_vm *vm, unsigned int *ndisks)
{
	int req = atomic_load(&vm->undoable_req);
	unsigned int n = 0;

	for (unsigned int i = 0; i < VMM_MAX_DISKS; i++)
		n += vm->disk_layered[i] && vm->disk_mode[i] == SNAP_UNDOABLE;
	if (ndisks)
		*ndisks = n;
	return req != VMM_UNDOABLE_ASK ? (enum vmm_undoable)req : vm->undoable;
}

static enum snap_mode
to_snap_mode(enum vmm_disk_mode m)
{
	switch (m) {
	case VMM_DISK_NONPERSISTENT:
		return SNAP_NONPERSISTENT;
	case VMM_DISK_UNDOABLE:
		return SNAP_UNDOABLE;
	default:
		return SNAP_PERSISTENT;
	}
}

static const char *
why(int rc)
{
	const char *w = vdisk_last_error();

	return w[0] ? w : strerror(-rc);
}

int
vmm_disk_mode_prepare(struct vmm_vm *vm, unsigned int index, char *err,
		      size_t errlen)
{
	const struct vmm_disk_cfg *dc = &vm->cfg->disk[index];
	enum snap_mode want = to_snap_mode(dc->mode), cur;
	bool redo;
	int rc;

	vm->disk_layered[index] = false;
	vm->disk_mode[index] = SNAP_PERSISTENT;
	if (!vmm_blk_is_vdisk(dc->path)) {
		if (want == SNAP_PERSISTENT)
			return 0;
		snprintf(err, errlen, "disk%u.mode %s: %s is a raw image; disk "
			 "modes need a vdisk disk (vdisk import %s DISK.vmdk)",
			 index, snap_mode_string(want), dc->path, dc->path);
		return -EINVAL;
	}
	/* Read-only: nothing is written, no mode applies. No mode line:
	   the disk's own mode, read once it is open (a look now would
	   mount the datastore once more just for that). */
	if (dc->readonly || !dc->mode_set)
		return 0;
	vdisk_clear_error();
	rc = snap_mode_get(dc->path, &cur, &redo);
	if (rc == -ENOENT || rc == -EBUSY)
		return 0;   /* opening it says "no such disk" or who has it */
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", dc->path, why(rc));
		return rc;
	}
	if (cur == want)
		return 0;
	vdisk_clear_error();
	rc = snap_mode_set(dc->path, want);
	if (rc < 0) {
		snprintf(err, errlen, "disk%u.mode %s: %s", index,
			 snap_mode_string(want), why(rc));
		return rc;
	}
	log_info("vmm.blk", "disk%u: %s: mode %s (was %s)", index, dc->path,
		 snap_mode_string(want), snap_mode_string(cur));
	return 0;
}

int
vmm_disk_mode_opened(struct vmm_vm *vm, unsigned int index, char *err,
		     size_t errlen)
{
	const struct vmm_disk_cfg *dc = &vm->cfg->disk[index];
	enum snap_mode cur;
	bool redo;
	int rc;

	/* Called for vdisk disks only: probing a raw image here would
	   close a descriptor of it, which drops our POSIX lock on it. */
	if (dc->readonly)
		return 0;
	/* The open disk holds the datastore's mount: this shares it. */
	vdisk_clear_error();
	rc = snap_mode_get(dc->path, &cur, &redo);
	if (rc < 0) {
		snprintf(err, errlen, "%s: its disk mode: %s", dc->path,
			 why(rc));
		return rc;
	}
	vm->disk_layered[index] = true;
	vm->disk_mode[index] = (uint8_t)cur;
	return 0;
}

void
vmm_disk_snapshots_start(struct vmm_vm *vm)
{
	struct vdisk *disks[SNAP_MAX_DISKS];
	unsigned int n = 0;

	for (unsigned int i = 0; i < vm->nblk && n < SNAP_MAX_DISKS; i++) {
		struct vdisk *d = vmm_blk_vdisk(vm->blk[i]);

		if (d && !vm->cfg->disk[vmm_blk_index(vm->blk[i])].readonly)
			disks[n++] = d;
	}
	if (n == 0)
		return;
	vdisk_clear_error();
	if (snap_control_start(disks, n, &vm->snapctl) < 0) {
		log_warn("vmm.blk", "no snapshot control socket (vsnap will "
			 "not reach the running VM): %s", vdisk_last_error());
		vm->snapctl = NULL;
	}
}

/* Ends disk 'index''s redo log; fills 'msg' with what happened. */
static int
end_redo(struct vmm_vm *vm, unsigned int index, enum vmm_undoable how,
	 uint64_t capacity, char *msg, size_t len)
{
	const char *path = vm->cfg->disk[index].path;
	enum snap_poweroff act = SNAP_KEEP;
	const char *done = "kept (the next run goes on with them)";
	struct progress *p = NULL;
	char title[64];
	int rc;

	if (vm->disk_mode[index] == SNAP_NONPERSISTENT ||
	    how == VMM_UNDOABLE_DISCARD) {
		act = SNAP_DISCARD;
		done = "discarded";
	} else if (how == VMM_UNDOABLE_COMMIT) {
		act = SNAP_COMMIT;
		done = "committed to the disk";
		snprintf(title, sizeof(title), "disk%u: commit", index);
		p = progress_start(title, capacity);
	}
	vdisk_clear_error();
	rc = snap_poweroff(path, act, p);
	progress_stop(p);
	if (rc < 0)
		snprintf(msg, len, "disk%u %s: %s: ending the redo log failed: "
			 "%s", index, path,
			 snap_mode_string((enum snap_mode)vm->disk_mode[index]),
			 why(rc));
	else
		snprintf(msg, len, "disk%u %s: %s: changes %s", index, path,
			 snap_mode_string((enum snap_mode)vm->disk_mode[index]),
			 done);
	return rc;
}

int
vmm_vm_close_disks(struct vmm_vm *vm, enum vmm_undoable how, void *report)
{
	uint64_t capacity[VMM_MAX_DISKS] = { 0 };
	bool opened[VMM_MAX_DISKS] = { false };
	char msg[700];
	int first = 0, rc;

	if (vm->disks_closed)
		return 0;
	vm->disks_closed = true;
	snap_control_stop(vm->snapctl);
	vm->snapctl = NULL;
	for (unsigned int i = 0; i < vm->nblk; i++) {
		struct vdisk *d;
		unsigned int idx;

		if (!vm->blk[i])
			continue;   /* the one whose creation failed */
		d = vmm_blk_vdisk(vm->blk[i]);
		idx = vmm_blk_index(vm->blk[i]);
		/* Only disks this VM opened: one it was refused is not ours. */
		opened[idx] = true;
		if (d)
			capacity[idx] = vdisk_capacity(d);
		vmm_blk_destroy(vm->blk[i]);
		vm->blk[i] = NULL;
	}
	vm->nblk = 0;
	for (unsigned int i = 0; i < VMM_MAX_DISKS; i++) {
		if (!opened[i] || !vm->disk_layered[i] ||
		    vm->disk_mode[i] == SNAP_PERSISTENT)
			continue;
		rc = end_redo(vm, i, how, capacity[i], msg, sizeof(msg));
		if (rc < 0) {
			log_err("vmm.blk", "%s", msg);
			if (!first)
				first = rc;
		} else {
			log_info("vmm.blk", "%s", msg);
		}
		if (report)
			fprintf(report, "vmm: %s\n", msg);
	}
	return first;
}
