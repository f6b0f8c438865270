/* SPDX-License-Identifier: MIT */
/*
 * Disk modes at power-off, with the real VMM and the test guest on a
 * disk in a datastore (file LUN): the guest writes its checksummed
 * pattern over the whole disk, the VM ends, and the host reads the disk
 * back with `vdisk export`:
 *   persistent           the guest's pattern is there
 *   nonpersistent        the old contents are back (also after kill -9:
 *                        the next power-on throws the redo log away)
 *   undoable, discard    (vmm --undoable) old contents
 *   undoable, keep       (vmctl stop --undoable keep) the new contents,
 *                        and the next run goes on in them
 *   undoable, nobody     kept
 *   undoable, a terminal the VMM asks; "commit" folds the changes into
 *                        the disk, which can then go back to persistent
 * A running VM's disk takes a snapshot (vsnap through the VMM), which a
 * revert brings back. A raw image refuses redo-log modes with a way out.
 *   vmm-diskmode-test VMM VMCTL TESTGUEST.BIN VDISK VFS VSNAP
 */
#include <unistd.h>

#include "common/clock.h"
#include "tests/vmm/vmtest.h"

static char lun[600], disk[700];

/* The VM's disk holds pattern 'seed' (-1) or where it does not. */
static int64_t
check_disk(uint64_t seed)
{
	return vmt_check_disk(vmt_vdisk, disk, seed);
}

/* Runs a VM to its end on 'disk' in 'mode'; returns its exit code. */
static int
run_vm(struct vmt *t, const char *name, const char *mode, const char *cmdline)
{
	int rc;

	CHECK_OK(vmt_start(t, name, "cmdline = %s\ndisk0 = %s\n"
			   "disk0.mode = %s\n", cmdline, disk, mode));
	rc = vmt_wait(t, 60000);
	if (rc != 0)
		vmt_dump(t);
	return rc;
}

static bool
log_has(struct vmt *t, const char *needle)
{
	char *log = vmt_slurp(t->log);
	bool ok = log && strstr(log, needle);

	if (!ok)
		vmt_dump(t);
	free(log);
	return ok;
}

static void
test_persistent_and_nonpersistent(void)
{
	struct vmt t;

	CHECK_EQ(run_vm(&t, "p1", "persistent", "blk seed=1"), 0);
	CHECK_EQ(check_disk(1), -1);
	CHECK_EQ(run_vm(&t, "np", "nonpersistent", "blk seed=2"), 0);
	CHECK(log_has(&t, "nonpersistent: changes discarded"));
	CHECK_EQ(check_disk(1), -1);
	/* The mode stays with the disk. */
	CHECK_EQ(test_sh("%s mode %s | grep -q nonpersistent", vmt_vsnap,
			 disk), 0);
}

/*
 * A VMM killed mid-run leaves its redo log and its datastore lock; the
 * next power-on waits for the dead holder's heartbeat to lapse, takes
 * the lock over and discards the redo log before the guest sees the
 * disk (about a lease: this datastore's is 3 s).
 */
static void
test_nonpersistent_after_kill(void)
{
	char crash[700];
	struct vmt t;
	uint64_t t0;

	snprintf(crash, sizeof(crash), "%s:/vm1/crash.vmdk", lun);
	CHECK_EQ(test_sh("%s create %s --size 4M >/dev/null", vmt_vdisk,
			 crash), 0);
	CHECK_OK(vmt_start(&t, "l1", "cmdline = blk seed=7\ndisk0 = %s\n",
			   crash));
	CHECK_EQ(vmt_wait(&t, 30000), 0);
	CHECK_OK(vmt_start(&t, "lkill", "cmdline = blk seed=8 stay\n"
			   "disk0 = %s\ndisk0.mode = nonpersistent\n", crash));
	CHECK(vmt_wait_serial(&t, "blk0: passed", 30000));
	vmt_kill(&t);
	t0 = clock_mono_ns();
	CHECK_OK(vmt_start(&t, "l2", "cmdline = blkcheck seed=7\n"
			   "disk0 = %s\n", crash));
	if (vmt_wait(&t, 30000) != 0)
		vmt_dump(&t);
	CHECK_EQ(t.exit_code, 0);
	printf("  lock taken over and redo log discarded in %.1f s\n",
	       (double)(clock_mono_ns() - t0) / 1e9);
	CHECK_EQ(vmt_count_serial(&t, "hold pattern seed 7: yes"), 1);
	CHECK_EQ(test_sh("%s list %s | grep -q '0 snapshots'", vmt_vsnap,
			 crash), 0);
}

static void
test_undoable(void)
{
	char out[8192], dir[700];
	struct vmt t;
	int rc;

	/* vmm --undoable discard */
	vmt_vmm_option = "--undoable=discard";
	CHECK_EQ(run_vm(&t, "u-discard", "undoable", "blk seed=4"), 0);
	vmt_vmm_option = NULL;
	CHECK(log_has(&t, "undoable: changes discarded"));
	CHECK_EQ(check_disk(1), -1);

	/* vmctl stop --undoable keep (over vmm's own default) */
	vmt_vmm_option = "--undoable=discard";
	CHECK_OK(vmt_start(&t, "u-keep", "cmdline = blk seed=5 stay\n"
			   "disk0 = %s\ndisk0.mode = undoable\n", disk));
	vmt_vmm_option = NULL;
	CHECK(vmt_wait_serial(&t, "blk0: passed", 30000));
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "stats"), 0);
	CHECK(strstr(out, "undoable"));
	CHECK(vmt_vmctl(&t, out, sizeof(out), "stop --undoable maybe") == 2);
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "stop --undoable keep"), 0);
	CHECK_EQ(vmt_wait(&t, 20000), 0);
	CHECK(log_has(&t, "undoable: changes kept"));
	CHECK_EQ(check_disk(5), -1);
	/* The redo log is still there: persistent is refused until the
	   changes are committed or discarded. */
	CHECK(test_sh("%s mode %s persistent 2>/dev/null", vmt_vsnap,
		      disk) != 0);

	/* Nobody chooses and there is no terminal: kept; the guest sees the
	   kept changes. */
	CHECK_EQ(run_vm(&t, "u-nobody", "undoable", "blkcheck seed=5"), 0);
	CHECK_EQ(vmt_count_serial(&t, "hold pattern seed 5: yes"), 1);
	CHECK(log_has(&t, "undoable: changes kept"));

	/* On a terminal the VMM asks; the answer is commit. */
	snprintf(dir, sizeof(dir), "%s/u-ask", test_tmpdir());
	CHECK_EQ(test_sh("mkdir -p %s && printf 'name = ask\\nmemory = 64M\\n"
			 "testguest = %s\\nserial = file:%s/serial.log\\n"
			 "disk0 = %s\\ndisk0.mode = undoable\\n' >%s/vm.cfg",
			 dir, vmt_guest, dir, disk, dir), 0);
	rc = test_sh("printf 'perhaps\\ncommit\\n' | "
		     "script -qec \"%s --set 'cmdline=blk seed=6' %s/vm.cfg\" "
		     "/dev/null >%s/ask.out 2>&1", vmt_vmm, dir, dir);
	if (rc != 0 ||
	    test_sh("grep -q 'keep, discard or commit the changes' "
		    "%s/ask.out && grep -q 'undoable: changes committed' "
		    "%s/ask.out", dir, dir) != 0)
		test_sh("cat %s/ask.out >&2", dir);
	CHECK_EQ(rc, 0);
	CHECK_EQ(test_sh("grep -q 'keep, discard or commit the changes' "
			 "%s/ask.out", dir), 0);
	CHECK_EQ(test_sh("grep -q 'undoable: changes committed' %s/ask.out",
			 dir), 0);
	CHECK_EQ(check_disk(6), -1);
	/* Committed: nothing pending, the disk may go back to persistent,
	   and its contents stay. */
	CHECK_EQ(run_vm(&t, "p2", "persistent", "blkcheck seed=6"), 0);
	CHECK_EQ(vmt_count_serial(&t, "hold pattern seed 6: yes"), 1);
	CHECK_EQ(test_sh("%s mode %s | grep -q ': persistent'", vmt_vsnap,
			 disk), 0);
	CHECK_EQ(test_sh("%s fsck %s >/dev/null", vmt_vfs, lun), 0);
}

/*
 * A snapshot of a running VM's disk, answered by the VMM's snapshot
 * control socket; the disk named relative to the LUN's folder (the VMM
 * has it absolute). Then changes, a revert, and the old contents.
 */
static void
test_online_snapshot(void)
{
	char out[8192];
	struct vmt t;

	CHECK_OK(vmt_start(&t, "online", "cmdline = blkcheck seed=6 stay\n"
			   "disk0 = %s\n", disk));
	CHECK(vmt_wait_serial(&t, "hold pattern seed 6: yes", 30000));
	if (test_sh("cd %s && %s create lun0.img:/vm1/disk.vmdk --name online "
		    ">&2", test_tmpdir(), vmt_vsnap) != 0)
		vmt_dump(&t);
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "stop"), 0);
	CHECK_EQ(vmt_wait(&t, 20000), 0);
	CHECK_EQ(test_sh("%s list %s | grep -q online", vmt_vsnap, disk), 0);
	CHECK_EQ(run_vm(&t, "change", "persistent", "blk seed=10"), 0);
	CHECK_EQ(check_disk(10), -1);
	CHECK_EQ(test_sh("%s revert %s online", vmt_vsnap, disk), 0);
	CHECK_EQ(check_disk(6), -1);
}

static void
test_raw_image_refused(void)
{
	char raw[700];
	struct vmt t;

	snprintf(raw, sizeof(raw), "%s/raw.img", test_tmpdir());
	CHECK_OK(test_make_file(raw, 4u << 20));
	CHECK_OK(vmt_start(&t, "raw", "cmdline = stay\ndisk0 = %s\n"
			   "disk0.mode = undoable\n", raw));
	CHECK(vmt_wait(&t, 20000) != 0);
	CHECK(log_has(&t, "disk modes need a vdisk disk"));
}

int
main(int argc, char **argv)
{
	vmt_init(argc, argv);
	vmt_init_tools(argc, argv, true);
	if (!test_have_program("script")) {
		printf("SKIP: needs script(1) (util-linux) for the terminal "
		       "question\n");
		return 77;
	}
	snprintf(lun, sizeof(lun), "%s/lun0.img", test_tmpdir());
	CHECK_OK(test_make_file(lun, 128u << 20));
	CHECK_EQ(test_sh("%s mkfs %s --lease 3 >/dev/null", vmt_vfs, lun), 0);
	CHECK_EQ(test_sh("%s mkdir %s:/vm1", vmt_vfs, lun), 0);
	snprintf(disk, sizeof(disk), "%s:/vm1/disk.vmdk", lun);
	CHECK_EQ(test_sh("%s create %s --size 8M >/dev/null", vmt_vdisk,
			 disk), 0);
	RUN_TEST(test_persistent_and_nonpersistent);
	RUN_TEST(test_nonpersistent_after_kill);
	RUN_TEST(test_undoable);
	RUN_TEST(test_online_snapshot);
	RUN_TEST(test_raw_image_refused);
	test_tmpdir_remove();
	return 0;
}
