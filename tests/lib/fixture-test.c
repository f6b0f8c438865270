/* SPDX-License-Identifier: MIT */
/*
 * The shared fixtures work as later tests rely on: a private tgtd comes up
 * on a free loopback port serving its LUNs and goes away by pid, leaving
 * nothing behind; namespaces come and go; hugepages are reported.
 */
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/lib/testutil.h"

static void
test_tgtd_start_stop(void)
{
	struct tgt_fixture t;
	char sock[128];
	pid_t pid;
	int rc;

	rc = tgt_start(&t, test_tmpdir(), 2, 16 << 20);
	if (rc == TEST_SKIP) {
		printf("   skipped: tgtd unavailable\n");
		return;
	}
	CHECK_OK(rc);
	CHECK(t.pid > 0 && t.port > 0 && t.nluns == 2);
	CHECK(strstr(t.url[1], "iscsi://127.0.0.1:") == t.url[1]);
	/* The target answers a discovery over its portal. */
	CHECK_EQ(test_sh("iscsi-ls iscsi://127.0.0.1:%d >/dev/null 2>&1",
			 t.port), 0);
	CHECK_EQ(test_sh("iscsi-inq '%s' >/dev/null 2>&1", t.url[0]), 0);
	pid = t.pid;
	snprintf(sock, sizeof(sock), "/var/run/tgtd/socket.%d", t.control_port);
	tgt_stop(&t);
	CHECK(kill(pid, 0) < 0 && errno == ESRCH);
	CHECK(access(sock, F_OK) < 0);
	/* A second instance starts fine after the first is gone. */
	CHECK_OK(tgt_start(&t, test_tmpdir(), 1, 8 << 20));
	tgt_stop(&t);
}

static void
test_netns(void)
{
	char ns[64];

	if (!test_is_root() || !test_have_program("ip")) {
		printf("   skipped: needs root and iproute2\n");
		return;
	}
	CHECK_OK(netns_create("fixture", ns, sizeof(ns)));
	CHECK_EQ(test_sh("ip netns exec '%s' ip link show lo | grep -q UP", ns),
		 0);
	netns_destroy(ns);
	CHECK(test_sh("ip netns list | grep -q '^%s\\b'", ns) != 0);
}

static void
test_hugepages(void)
{
	long got = hugepages_reserve(0);

	CHECK(got >= 0);
	printf("   %ld free 2 MiB hugepages\n", got);
}

int
main(void)
{
	if (!test_is_root())
		test_skip("fixtures need root");
	RUN_TEST(test_tgtd_start_stop);
	RUN_TEST(test_netns);
	RUN_TEST(test_hugepages);
	test_tmpdir_remove();
	return 0;
}
