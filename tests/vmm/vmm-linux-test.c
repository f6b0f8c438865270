/* SPDX-License-Identifier: MIT */
/*
 * Boots a stock Linux kernel with the Linux boot protocol (bzImage,
 * command line, e820, MP table for SMP) on hardware KVM and waits for
 * it to bring up both vCPUs on the serial console. On PVM hosts a
 * stock kernel cannot run (PVM needs specially built guest kernels), so
 * the test reports itself skipped there. The kernel is
 * $VSTACK_TEST_KERNEL or /boot/vmlinuz-$(uname -r).
 */
#include <sys/utsname.h>
#include <unistd.h>

#include "tests/vmm/vmtest.h"

int
main(int argc, char **argv)
{
	const char *kernel = getenv("VSTACK_TEST_KERNEL");
	char path[300], out[4096];
	struct utsname u;
	struct vmt t;

	vmt_init(argc, argv);
	if (vmt_is_pvm())
		test_skip("/dev/kvm is PVM (/sys/module/kvm_pvm): a stock Linux "
			  "kernel hangs early under PVM, which needs PVM-built "
			  "guest kernels");
	if (!kernel) {
		uname(&u);
		snprintf(path, sizeof(path), "/boot/vmlinuz-%s", u.release);
		kernel = path;
	}
	if (access(kernel, R_OK) != 0)
		test_skip("no kernel to boot (%s; set VSTACK_TEST_KERNEL)", kernel);
	CHECK_OK(vmt_start(&t, "linux", "memory = 256M\nvcpus = 2\n"
			   "kernel = %s\n"
			   "cmdline = console=ttyS0 panic=-1 reboot=t\n", kernel));
	if (!vmt_wait_serial(&t, "Linux version", 30000) ||
	    !vmt_wait_serial(&t, "Brought up 1 node, 2 CPUs", 60000)) {
		vmt_dump(&t);
		CHECK(!"the kernel did not come up on the serial console");
	}
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "poweroff"), 0);
	vmt_wait(&t, 10000);
	test_tmpdir_remove();
	return 0;
}
