/* SPDX-License-Identifier: MIT */
/*
 * ATS semantics under real contention: processes racing on one sector of
 * a file LUN (OFD-lock emulation) and threads on a mem LUN; each round
 * must have exactly one winner, thousands of rounds in a row.
 */
#include "tests/lib/testutil.h"
#include "vfs-cluster/lun-conformance.h"

static char file_uri[600];

static void
test_file_two_processes(void)
{
	lun_conformance_ats_race(file_uri, NULL, 2, 3000, 4096);
}

static void
test_file_four_processes(void)
{
	lun_conformance_ats_race(file_uri, NULL, 4, 1000, 8192);
}

static void
test_mem_threads(void)
{
	struct lun *keep;

	CHECK_OK(lun_open("mem:race?size=1M", NULL, &keep));
	lun_conformance_ats_race("mem:race", NULL, 4, 20000, 512);
	lun_close(keep);
}

int
main(void)
{
	snprintf(file_uri, sizeof(file_uri), "%s/race.img", test_tmpdir());
	CHECK_OK(test_make_file(file_uri, 1 << 20));
	RUN_TEST(test_file_two_processes);
	RUN_TEST(test_file_four_processes);
	RUN_TEST(test_mem_threads);
	test_tmpdir_remove();
	return 0;
}
