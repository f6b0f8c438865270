/* SPDX-License-Identifier: MIT */
/*
 * virtio-net over vhost-user against a real back end: two test-guest
 * VMs whose NICs dpdk-testpmd (DPDK's vhost PMD, client mode, --no-huge)
 * forwards into each other. One guest resolves the other by ARP and
 * pings it; after a few replies testpmd is killed and started again,
 * and the NICs must reconnect (the VMM is the socket server) and carry
 * on until 40 replies came back.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/vmm/vmtest.h"

static pid_t
testpmd_start(const char *s1, const char *s2, const char *log)
{
	char v1[700], v2[700], prefix[64];
	pid_t pid;

	snprintf(v1, sizeof(v1), "net_vhost0,iface=%s,client=1", s1);
	snprintf(v2, sizeof(v2), "net_vhost1,iface=%s,client=1", s2);
	snprintf(prefix, sizeof(prefix), "vmmtest%d", (int)getpid());
	pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp("dpdk-testpmd", "dpdk-testpmd", "-l", "0-1", "--no-huge",
		       "-m", "256", "--no-pci", "--file-prefix", prefix,
		       "--vdev", v1, "--vdev", v2, "--", "--forward-mode=io",
		       "--nb-cores=1", "--total-num-mbufs=16384",
		       "--stats-period=1", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void
testpmd_stop(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

static int
count_in(const char *path, const char *needle)
{
	char *s = vmt_slurp(path), *p;
	int n = 0;

	for (p = s; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(s);
	return n;
}

int
main(int argc, char **argv)
{
	char s1[600], s2[600], tplog[600], out[8192];
	struct vmt a, b;
	pid_t tp;

	vmt_init(argc, argv);
	if (!test_have_program("dpdk-testpmd"))
		test_skip("dpdk-testpmd not installed (Debian package dpdk-dev)");
	snprintf(s1, sizeof(s1), "%s/a.sock", test_tmpdir());
	snprintf(s2, sizeof(s2), "%s/b.sock", test_tmpdir());
	snprintf(tplog, sizeof(tplog), "%s/testpmd.log", test_tmpdir());
	CHECK_OK(vmt_start(&a, "a", "nic0 = vhostuser:%s\n"
			   "cmdline = net ip=1 peer=2 ping=40 stay\n", s1));
	CHECK_OK(vmt_start(&b, "b", "nic0 = vhostuser:%s\n"
			   "cmdline = net ip=2 answer=40 stay\n", s2));
	/* The VMMs listen; testpmd connects as the client. */
	for (int i = 0; i < 200 && (access(s1, F_OK) || access(s2, F_OK)); i++)
		usleep(10000);
	tp = testpmd_start(s1, s2, tplog);
	if (!vmt_wait_serial(&a, "echo reply seq 3", 30000)) {
		vmt_dump(&a);
		vmt_dump(&b);
		fprintf(stderr, "%s", vmt_slurp(tplog));
		CHECK(!"no echo replies through testpmd");
	}
	CHECK(vmt_count_serial(&a, "is at 52:54:00:") == 1);
	CHECK_EQ(vmt_vmctl(&a, out, sizeof(out), "stats"), 0);
	CHECK(strstr(out, "(connected)"));
	/* The switch goes away and comes back. */
	testpmd_stop(tp);
	for (int i = 0; i < 200 && !count_in(a.log, "switch disconnected"); i++)
		usleep(10000);
	if (count_in(a.log, "switch disconnected") != 1) {
		vmt_dump(&a);
		vmt_dump(&b);
	}
	CHECK_EQ(count_in(a.log, "switch disconnected"), 1);
	CHECK_EQ(vmt_vmctl(&a, out, sizeof(out), "stats"), 0);
	CHECK(strstr(out, "switch not connected"));
	usleep(300000);
	tp = testpmd_start(s1, s2, tplog);
	if (!vmt_wait_serial(&a, "40/40 echo replies", 60000) ||
	    !vmt_wait_serial(&b, " echo requests, rx ", 10000)) {
		vmt_dump(&a);
		vmt_dump(&b);
		CHECK(!"pings did not resume after the switch came back");
	}
	CHECK_EQ(vmt_vmctl(&a, out, sizeof(out), "stop"), 0);
	CHECK_EQ(vmt_vmctl(&b, out, sizeof(out), "stop"), 0);
	CHECK_EQ(vmt_wait(&a, 10000), 0);
	CHECK_EQ(vmt_wait(&b, 10000), 0);
	CHECK_EQ(count_in(a.log, "switch connected"), 2);
	CHECK_EQ(count_in(b.log, "switch connected"), 2);
	testpmd_stop(tp);
	test_tmpdir_remove();
	return 0;
}
