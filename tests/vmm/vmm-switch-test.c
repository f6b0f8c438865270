/* SPDX-License-Identifier: MIT */
/*
 * NICs on the real switch: two test-guest VMs on access ports of one
 * VLAN of `vswitchd` (vhost-user, the switch the client, the VMMs the
 * servers). One guest resolves the other by ARP and pings it; the switch
 * is killed with SIGKILL and started again on its saved config, and the
 * NICs must reconnect and carry on until 40 replies came back. Then two
 * more guests run the frame-rate loop (bench-vmm-net's) for a second
 * and the switch must have forwarded their frames.
 *   vmm-switch-test VMM VMCTL TESTGUEST.BIN VSWITCHD VSWITCHCTL
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/vmm/vmtest.h"

static const char *vswitchd, *vswitchctl;
static char sw_sock[600], sw_cfg[600], sw_log[600];

static int
ctl(char *out, size_t outlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Runs vswitchctl with arguments; its stdout goes to 'out'. */
static int
ctl(char *out, size_t outlen, const char *fmt, ...)
{
	char args[1024], cmd[2048];
	va_list ap;
	size_t n = 0;
	FILE *p;
	int st;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s --socket %s %s 2>&1", vswitchctl,
		 sw_sock, args);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (out && outlen) {
		n = fread(out, 1, outlen - 1, p);
		out[n] = '\0';
	} else {
		char sink[4096];

		while (fread(sink, 1, sizeof(sink), p) > 0)
			;
	}
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static pid_t
switch_start(void)
{
	char prefix[64];
	pid_t pid;

	snprintf(prefix, sizeof(prefix), "vmmsw%d", (int)getpid());
	pid = fork();
	if (pid == 0) {
		int fd = open(sw_log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(vswitchd, vswitchd, "--socket", sw_sock, "--config",
		      sw_cfg, "--file-prefix", prefix, "--mbufs", "8191",
		      "--mac-table", "65536", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		if (ctl(NULL, 0, "show") == 0)
			return pid;
		usleep(20000);
	}
	fprintf(stderr, "%s", vmt_slurp(sw_log));
	CHECK(!"vswitchd did not start");
	return -1;
}

static void
switch_kill(pid_t pid)
{
	int st;

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

static void
dump_all(struct vmt *a, struct vmt *b)
{
	char out[8192];

	vmt_dump(a);
	vmt_dump(b);
	ctl(out, sizeof(out), "stats");
	fprintf(stderr, "--- vswitchctl stats\n%s--- vswitchd log\n%s", out,
		vmt_slurp(sw_log));
}

/* The MAC a guest printed ("link up, mac 52:54:00:..."). */
static void
guest_mac(struct vmt *t, char *mac)
{
	char *s = vmt_slurp(t->serial), *p = s ? strstr(s, "link up, mac ") : NULL;

	CHECK(p);
	memcpy(mac, p + 13, 17);
	mac[17] = '\0';
	free(s);
}

static uint64_t
port_rx(const char *port)
{
	char out[8192], *p;

	if (ctl(out, sizeof(out), "stats %s --json", port) != 0)
		return 0;
	p = strstr(out, "\"rx_packets\":");
	return p ? strtoull(p + 13, NULL, 10) : 0;
}

static void
add_port(const char *name, const char *sock, int vlan)
{
	CHECK_EQ(ctl(NULL, 0, "add-port lab %s --type vhostuser --path %s "
		     "--vlan %d", name, sock, vlan), 0);
}

static void
test_ping_across_restart(void)
{
	char out[8192], line[64], mac[18];
	struct vmt a, b;
	pid_t sw;

	sw = switch_start();
	CHECK_EQ(ctl(NULL, 0, "add-switch lab"), 0);
	CHECK_OK(vmt_start(&a, "a", "nic0 = vhostuser:%s/a.sock\n"
			   "cmdline = net ip=1 peer=2 ping=40 stay\n",
			   test_tmpdir()));
	CHECK_OK(vmt_start(&b, "b", "nic0 = vhostuser:%s/b.sock\n"
			   "cmdline = net ip=2 answer=40 stay\n", test_tmpdir()));
	for (int i = 0; i < 200; i++) {
		snprintf(line, sizeof(line), "%s/b.sock", test_tmpdir());
		if (!access(line, F_OK))
			break;
		usleep(10000);
	}
	snprintf(line, sizeof(line), "%s/a.sock", test_tmpdir());
	add_port("a", line, 10);
	snprintf(line, sizeof(line), "%s/b.sock", test_tmpdir());
	add_port("b", line, 10);
	if (!vmt_wait_serial(&a, "echo reply seq 3", 30000)) {
		dump_all(&a, &b);
		CHECK(!"no echo replies through vswitchd");
	}
	CHECK_EQ(vmt_vmctl(&a, out, sizeof(out), "stats"), 0);
	CHECK(strstr(out, "(connected)"));
	/* The switch learned each guest on its own port. */
	CHECK_EQ(ctl(out, sizeof(out), "macs lab"), 0);
	guest_mac(&a, mac);
	snprintf(line, sizeof(line), "%s a", mac);
	CHECK(strstr(out, line));
	guest_mac(&b, mac);
	snprintf(line, sizeof(line), "%s b", mac);
	CHECK(strstr(out, line));

	/* kill -9: the VMs keep running, links go down. */
	switch_kill(sw);
	for (int i = 0; i < 300 && !count_in(a.log, "switch disconnected"); i++)
		usleep(10000);
	CHECK_EQ(count_in(a.log, "switch disconnected"), 1);
	CHECK_EQ(vmt_vmctl(&a, out, sizeof(out), "stats"), 0);
	CHECK(strstr(out, "switch not connected"));
	/* Back from its saved config: it reconnects to the VMs' sockets. */
	sw = switch_start();
	if (!vmt_wait_serial(&a, "40/40 echo replies", 60000) ||
	    !vmt_wait_serial(&b, " echo requests, rx ", 10000)) {
		dump_all(&a, &b);
		CHECK(!"pings did not resume after the switch came back");
	}
	CHECK_EQ(count_in(a.log, "switch connected"), 2);
	CHECK_EQ(count_in(b.log, "switch connected"), 2);
	CHECK_EQ(vmt_vmctl(&a, out, sizeof(out), "stop"), 0);
	CHECK_EQ(vmt_vmctl(&b, out, sizeof(out), "stop"), 0);
	CHECK_EQ(vmt_wait(&a, 10000), 0);
	CHECK_EQ(vmt_wait(&b, 10000), 0);
	CHECK_EQ(ctl(NULL, 0, "del-port a"), 0);
	CHECK_EQ(ctl(NULL, 0, "del-port b"), 0);
	switch_kill(sw);
}

/* The frame-rate loop bench-vmm-net measures, briefly, on VLAN 20. */
static void
test_frame_loop(void)
{
	char sc[600], sd[600];
	struct vmt c, d;
	uint64_t c0, d0;
	pid_t sw;

	sw = switch_start();
	snprintf(sc, sizeof(sc), "%s/c.sock", test_tmpdir());
	snprintf(sd, sizeof(sd), "%s/d.sock", test_tmpdir());
	CHECK_OK(vmt_start(&d, "d", "nic0 = vhostuser:%s\n"
			   "cmdline = net ip=2 loop=3\n", sd));
	CHECK_OK(vmt_start(&c, "c", "nic0 = vhostuser:%s\n"
			   "cmdline = net ip=1 peer=2 loop=2\n", sc));
	for (int i = 0; i < 200 && (access(sc, F_OK) || access(sd, F_OK)); i++)
		usleep(10000);
	add_port("c", sc, 20);
	add_port("d", sd, 20);
	if (!vmt_wait_serial(&c, "loop running", 30000)) {
		dump_all(&c, &d);
		CHECK(!"the loop did not start");
	}
	c0 = port_rx("c");
	d0 = port_rx("d");
	usleep(500000);
	CHECK(port_rx("c") > c0 + 1000);
	CHECK(port_rx("d") > d0 + 1000);
	CHECK_EQ(vmt_wait(&c, 30000), 0);
	CHECK_EQ(vmt_wait(&d, 30000), 0);
	CHECK(vmt_count_serial(&c, "frames returned") == 1);
	switch_kill(sw);
}

int
main(int argc, char **argv)
{
	vmt_init(argc, argv);
	if (argc < 6) {
		fprintf(stderr, "usage: %s VMM VMCTL TESTGUEST.BIN VSWITCHD "
			"VSWITCHCTL\n", argv[0]);
		return 1;
	}
	vswitchd = argv[4];
	vswitchctl = argv[5];
	if (!test_is_root())
		test_skip("vswitchd needs root (DPDK)");
	snprintf(sw_sock, sizeof(sw_sock), "%s/sw.sock", test_tmpdir());
	snprintf(sw_cfg, sizeof(sw_cfg), "%s/sw.json", test_tmpdir());
	snprintf(sw_log, sizeof(sw_log), "%s/vswitchd.log", test_tmpdir());
	RUN_TEST(test_ping_across_restart);
	RUN_TEST(test_frame_loop);
	test_tmpdir_remove();
	return 0;
}
