/* SPDX-License-Identifier: MIT */
/*
 * Disks through the vdisk engine: a datastore on a file LUN (`vfs
 * mkfs`), a thin disk in it (`LUN:/vm1/disk.vmdk`) and a local vdisk
 * descriptor. The test guest writes its checksummed pattern over both
 * (32 requests in flight, plus flush, discard, write-zeroes and buffers
 * off the sector grid); the host reads them back with `vdisk export` and
 * checks every byte. A second VM (another process, another heartbeat
 * slot on the same datastore) cannot open the first VM's disk and is
 * told who holds it; once the first VM stops, it can. Read-only opens
 * share a disk and keep writers out. Two VMs on one datastore start at
 * the same moment, three times.
 *   vmm-datastore-test VMM VMCTL TESTGUEST.BIN VDISK VFS
 */
#include <unistd.h>

#include "tests/vmm/vmtest.h"

static char lun[600];

static void
make_datastore(void)
{
	snprintf(lun, sizeof(lun), "%s/lun0.img", test_tmpdir());
	CHECK_OK(test_make_file(lun, 256u << 20));
	CHECK_EQ(test_sh("%s mkfs %s >/dev/null", vmt_vfs, lun), 0);
	CHECK_EQ(test_sh("%s mkdir %s:/vm1", vmt_vfs, lun), 0);
}

/*
 * DESIGN 6: the VMM's RSS beyond guest RAM stays <= 8 MiB, here with a
 * datastore disk (mount, heartbeat and lock threads, LUN rings) after
 * the guest wrote all of it. Not in a sanitizer build (its shadow memory
 * and quarantine are the tool's, not the VMM's).
 */
static void
check_overhead(struct vmt *t)
{
	char out[8192];
	const char *p;
	unsigned long long b = 0;

	CHECK_EQ(vmt_vmctl(t, out, sizeof(out), "stats --json"), 0);
	p = strstr(out, "\"vmm_overhead_bytes\"");
	CHECK(p);
	p = strchr(p, ':');
	CHECK(p && sscanf(p + 1, " %llu", &b) == 1);
	printf("  VMM RSS beyond guest RAM: %.1f MiB\n", (double)b / (1 << 20));
	if (!test_is_sanitized())
		CHECK(b > 0 && b <= 8ull << 20);
}

static void
test_patterns(void)
{
	char ds[700], local[700], out[8192];
	struct vmt t;

	snprintf(ds, sizeof(ds), "%s:/vm1/disk.vmdk", lun);
	snprintf(local, sizeof(local), "%s/local.vmdk", test_tmpdir());
	CHECK_EQ(test_sh("%s create %s --size 24M >/dev/null", vmt_vdisk, ds), 0);
	CHECK_EQ(test_sh("%s create %s --size 8M --type zeroedthick >/dev/null",
			 vmt_vdisk, local), 0);
	CHECK_OK(vmt_start(&t, "pattern", "cmdline = blk seed=41 stay\n"
			   "disk0 = %s\ndisk1 = %s\n", ds, local));
	if (!vmt_wait_serial(&t, "testguest: done", 60000)) {
		vmt_dump(&t);
		CHECK(!"the guest's disk checks did not pass");
	}
	CHECK_EQ(vmt_count_serial(&t, "verify ok"), 2);
	CHECK_EQ(vmt_count_serial(&t, "unaligned buffers ok"), 2);
	CHECK_EQ(vmt_count_serial(&t, ": passed"), 2);
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "stats"), 0);
	CHECK(strstr(out, "(vdisk thin on the datastore, persistent)"));
	CHECK(strstr(out, "(vdisk zeroedthick, persistent)"));
	check_overhead(&t);
	/* While the VM runs, its disk shows the VM's host as the holder. */
	CHECK_EQ(test_sh("%s info %s | grep -q 'lock: *host .* mode rw'",
			 vmt_vdisk, ds), 0);
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "stop"), 0);
	CHECK_EQ(vmt_wait(&t, 20000), 0);
	CHECK_EQ(vmt_check_disk(vmt_vdisk, ds, 41), -1);
	CHECK_EQ(vmt_check_disk(vmt_vdisk, local, 42), -1);
	CHECK_EQ(test_sh("%s fsck %s >/dev/null", vmt_vfs, lun), 0);
}

/*
 * VMs whose disks share a datastore start at the same moment: each
 * open rewrites its descriptor (a rename in the datastore) while the
 * other does the same. Three rounds of two VMs, each writing and
 * checking its disk; the host checks both disks and fsck at the end.
 */
static void
test_two_vms_at_once(void)
{
	char da[700], db[700];
	struct vmt a, b;

	snprintf(da, sizeof(da), "%s:/vm1/a.vmdk", lun);
	snprintf(db, sizeof(db), "%s:/vm1/b.vmdk", lun);
	CHECK_EQ(test_sh("%s create %s --size 2M >/dev/null", vmt_vdisk, da), 0);
	CHECK_EQ(test_sh("%s create %s --size 2M >/dev/null", vmt_vdisk, db), 0);
	for (int round = 0; round < 3; round++) {
		CHECK_OK(vmt_start(&a, "at-once-a", "cmdline = blk seed=%d\n"
				   "disk0 = %s\n", 60 + round, da));
		CHECK_OK(vmt_start(&b, "at-once-b", "cmdline = blk seed=%d\n"
				   "disk0 = %s\n", 70 + round, db));
		if (vmt_wait(&a, 30000) != 0)
			vmt_dump(&a);
		if (vmt_wait(&b, 30000) != 0)
			vmt_dump(&b);
		CHECK_EQ(a.exit_code, 0);
		CHECK_EQ(b.exit_code, 0);
	}
	CHECK_EQ(vmt_check_disk(vmt_vdisk, da, 62), -1);
	CHECK_EQ(vmt_check_disk(vmt_vdisk, db, 72), -1);
	CHECK_EQ(test_sh("%s fsck %s >/dev/null", vmt_vfs, lun), 0);
}

static void
test_second_vm_refused(void)
{
	char ds[700], out[8192], *log;
	struct vmt a, b;

	snprintf(ds, sizeof(ds), "%s:/vm1/shared.vmdk", lun);
	CHECK_EQ(test_sh("%s create %s --size 4M >/dev/null", vmt_vdisk, ds), 0);
	CHECK_OK(vmt_start(&a, "holder", "cmdline = stay\ndisk0 = %s\n", ds));
	CHECK(vmt_wait_serial(&a, "testguest: up", 20000));
	CHECK_OK(vmt_start(&b, "intruder", "cmdline = stay\ndisk0 = %s\n", ds));
	/* The datastore lets a lock cached by a departing opener go for a
	   few seconds before it says busy. */
	CHECK_EQ(vmt_wait(&b, 20000), 75);
	log = vmt_slurp(b.log);
	if (!log || !strstr(log, "locked by host") || !strstr(log, " slot "))
		vmt_dump(&b);
	CHECK(log && strstr(log, "shared.vmdk: locked by host"));
	CHECK(log && strstr(log, " slot "));
	free(log);
	/* The holder is untouched by the attempt. */
	CHECK_EQ(vmt_vmctl(&a, out, sizeof(out), "status"), 0);
	CHECK_EQ(vmt_vmctl(&a, out, sizeof(out), "stop"), 0);
	CHECK_EQ(vmt_wait(&a, 20000), 0);
	/* Released at stop: the other VM may have it now. */
	CHECK_OK(vmt_start(&b, "intruder", "cmdline = stay\ndisk0 = %s\n", ds));
	if (!vmt_wait_serial(&b, "testguest: up", 20000))
		vmt_dump(&b);
	CHECK(vmt_wait_serial(&b, "testguest: up", 10));
	CHECK_EQ(vmt_vmctl(&b, out, sizeof(out), "stop"), 0);
	CHECK_EQ(vmt_wait(&b, 20000), 0);
	CHECK_EQ(test_sh("%s fsck %s >/dev/null", vmt_vfs, lun), 0);
}

/* Read-only disks are shared; a writer is refused while readers hold it. */
static void
test_readonly_shared(void)
{
	char ds[700], out[8192];
	struct vmt a, b, w;

	snprintf(ds, sizeof(ds), "%s:/vm1/disk.vmdk", lun);
	CHECK_OK(vmt_start(&a, "ro1", "cmdline = blkcheck seed=41 stay\n"
			   "disk0 = %s\ndisk0.readonly = true\n", ds));
	CHECK(vmt_wait_serial(&a, "hold pattern seed 41: yes", 20000));
	CHECK_OK(vmt_start(&b, "ro2", "cmdline = blkcheck seed=41 stay\n"
			   "disk0 = %s\ndisk0.readonly = true\n", ds));
	if (!vmt_wait_serial(&b, "hold pattern seed 41: yes", 20000))
		vmt_dump(&b);
	CHECK(vmt_wait_serial(&b, "hold pattern seed 41: yes", 10));
	CHECK_OK(vmt_start(&w, "rw", "cmdline = stay\ndisk0 = %s\n", ds));
	CHECK_EQ(vmt_wait(&w, 20000), 75);
	CHECK_EQ(vmt_vmctl(&a, out, sizeof(out), "stop"), 0);
	CHECK_EQ(vmt_vmctl(&b, out, sizeof(out), "stop"), 0);
	CHECK_EQ(vmt_wait(&a, 20000), 0);
	CHECK_EQ(vmt_wait(&b, 20000), 0);
}

/* Images the VMM does not run directly are refused with a way out. */
static void
test_foreign_image_refused(void)
{
	char q[700], *log;
	struct vmt t;

	if (!test_have_program("qemu-img"))
		return;
	snprintf(q, sizeof(q), "%s/img.qcow2", test_tmpdir());
	CHECK_EQ(test_sh("qemu-img create -q -f qcow2 %s 4M", q), 0);
	CHECK_OK(vmt_start(&t, "qcow", "cmdline = stay\ndisk0 = %s\n", q));
	CHECK_EQ(vmt_wait(&t, 20000), 1);
	log = vmt_slurp(t.log);
	CHECK(log && strstr(log, "a qcow2 image") && strstr(log, "vdisk import"));
	free(log);
}

int
main(int argc, char **argv)
{
	vmt_init(argc, argv);
	vmt_init_tools(argc, argv, false);
	/* meson's MALLOC_PERTURB_ makes glibc fill every freed block,
	   which keeps pages resident that a VMM never touches otherwise:
	   the memory figure (check_overhead) is for the VMM as run. */
	unsetenv("MALLOC_PERTURB_");
	make_datastore();
	RUN_TEST(test_patterns);
	RUN_TEST(test_two_vms_at_once);
	RUN_TEST(test_second_vm_refused);
	RUN_TEST(test_readonly_shared);
	RUN_TEST(test_foreign_image_refused);
	test_tmpdir_remove();
	return 0;
}
