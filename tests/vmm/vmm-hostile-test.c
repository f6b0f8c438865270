/* SPDX-License-Identifier: MIT */
/*
 * A hostile guest: the test guest programs malformed descriptors, rings,
 * MSI-X entries and BARs into virtio-blk (vmm/testguest/hostile.c).
 * The VMM must stop the device each time with an error, never crash,
 * never touch the disk image, and let the device work after a reset.
 */
#include <unistd.h>

#include "tests/vmm/vmtest.h"

int
main(int argc, char **argv)
{
	char d[600], *before, *after, *log;
	struct vmt t;

	vmt_init(argc, argv);
	snprintf(d, sizeof(d), "%s/victim.img", test_tmpdir());
	CHECK_OK(test_make_file(d, 4u << 20));
	CHECK_EQ(test_sh("printf 'precious' | dd of=%s conv=notrunc status=none", d), 0);
	before = vmt_slurp(d);
	CHECK_OK(vmt_start(&t, "hostile", "cmdline = hostile\ndisk0 = %s\n", d));
	if (vmt_wait(&t, 60000) != 0)
		vmt_dump(&t);
	CHECK_EQ(t.exit_code, 0);
	CHECK_EQ(vmt_count_serial(&t, "-> ok"), 16);
	CHECK_EQ(vmt_count_serial(&t, "device works after reset"), 1);
	log = vmt_slurp(t.log);
	CHECK(log && strstr(log, "device stopped until the guest resets it"));
	CHECK(strstr(log, "descriptor chain loops"));
	free(log);
	after = vmt_slurp(d);
	CHECK(before && after && !memcmp(before, after, 4u << 20));
	free(before);
	free(after);
	test_tmpdir_remove();
	return 0;
}
