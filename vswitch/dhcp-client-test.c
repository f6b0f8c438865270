/* SPDX-License-Identifier: MIT */
/*
 * The DHCP server against a real client: busybox udhcpc runs in a
 * network namespace behind a veth pair; this process reads the frames on
 * the host end with an AF_PACKET socket, answers through the server, and
 * checks the lease and options the client configured, and how long the
 * exchange took.
 */
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/lib/testutil.h"
#include "vswitch/dhcp-server.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static char ns[64], host_if[IFNAMSIZ], guest_if[IFNAMSIZ];
static pid_t client = -1;

static void
cleanup(void)
{
	if (client > 0) {
		kill(client, SIGKILL);
		waitpid(client, NULL, 0);
	}
	if (host_if[0])
		test_sh("ip link del '%s' 2>/dev/null", host_if);
	if (ns[0])
		netns_destroy(ns);
}

static int
open_packet_socket(const char *ifname)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL) };
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));

	CHECK(fd >= 0);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	CHECK(sll.sll_ifindex > 0);
	CHECK_OK(bind(fd, (struct sockaddr *)&sll, sizeof(sll)));
	return fd;
}

static pid_t
start_udhcpc(const char *script)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		/* -q quit with a lease, -n fail if none, 3 tries 1 s apart. */
		execlp("ip", "ip", "netns", "exec", ns, "udhcpc", "-f", "-q",
		       "-n", "-t", "3", "-T", "1", "-i", guest_if, "-s", script,
		       "-x", "hostname:labvm", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void
test_udhcpc_gets_a_lease(void)
{
	struct vsw_dhcp_config c = {
		.subnet = IP(10, 77, 0, 0),
		.prefix_len = 24,
		.server_ip = IP(10, 77, 0, 2),
		.server_mac = { 0x02, 0xaa, 0, 0, 0, 2 },
		.router = IP(10, 77, 0, 2),
		.dns = { IP(10, 77, 0, 2), 0 },
		.domain = "lab.test",
		.pool_first = IP(10, 77, 0, 128),
		.pool_last = IP(10, 77, 0, 254),
		.lease_secs = 600,
	};
	char script[600], result[600], err[128], line[256];
	uint64_t first_request = 0, last_reply = 0;
	struct vsw_dhcp_lease leases[2];
	struct vsw_dhcp_server *srv;
	int fd, status = -1;
	FILE *f;

	CHECK_OK(vsw_dhcp_create(&c, &srv, err, sizeof(err)));
	snprintf(script, sizeof(script), "%s/udhcpc.sh", test_tmpdir());
	snprintf(result, sizeof(result), "%s/lease.txt", test_tmpdir());
	f = fopen(script, "w");
	CHECK(f);
	fprintf(f, "#!/bin/sh\n[ \"$1\" = bound ] || exit 0\n"
		   "echo \"ip=$ip mask=$subnet router=$router dns=$dns "
		   "lease=$lease domain=$domain\" > '%s'\n", result);
	fclose(f);
	CHECK_OK(chmod(script, 0755));
	fd = open_packet_socket(host_if);
	client = start_udhcpc(script);
	for (uint64_t end = clock_mono_ns() + 10 * NS_PER_SEC;
	     clock_mono_ns() < end;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint8_t in[2048], out[VSW_DHCP_FRAME_MAX];
		ssize_t n;
		int rc;

		if (waitpid(client, &status, WNOHANG) == client) {
			client = -1;
			break;
		}
		if (poll(&p, 1, 50) <= 0)
			continue;
		n = recv(fd, in, sizeof(in), 0);
		if (n <= 0 || !vsw_dhcp_is_request_frame(in, (size_t)n))
			continue;
		if (!first_request)
			first_request = clock_mono_ns();
		rc = vsw_dhcp_handle_frame(srv, in, (size_t)n,
					   (uint64_t)time(NULL), out);
		if (rc > 0) {
			CHECK(send(fd, out, (size_t)rc, 0) == rc);
			last_reply = clock_mono_ns();
		}
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	f = fopen(result, "r");
	CHECK(f && fgets(line, sizeof(line), f));
	fclose(f);
	printf("   udhcpc: %s", line);
	printf("   first request to last reply: %.2f ms\n",
	       (double)(last_reply - first_request) / 1e6);
	CHECK(strstr(line, "ip=10.77.0.") && strstr(line, "mask=255.255.255.0"));
	CHECK(strstr(line, "router=10.77.0.2") && strstr(line, "dns=10.77.0.2"));
	CHECK(strstr(line, "lease=600") && strstr(line, "domain=lab.test"));
	CHECK_EQ(vsw_dhcp_leases(srv, leases, 2), 1);
	CHECK_EQ(leases[0].state, VSW_DHCP_BOUND);
	CHECK(!strcmp(leases[0].hostname, "labvm"));
	/* The whole exchange is two round trips on a veth: far under 1 s. */
	CHECK(last_reply - first_request < NS_PER_SEC);
	close(fd);
	vsw_dhcp_destroy(srv);
}

int
main(void)
{
	if (!test_is_root())
		test_skip("needs root for network namespaces");
	if (!test_have_program("udhcpc") || !test_have_program("ip"))
		test_skip("needs udhcpc (Debian package udhcpc) and iproute2");
	atexit(cleanup);
	CHECK_OK(netns_create("dhcp", ns, sizeof(ns)));
	snprintf(host_if, sizeof(host_if), "vdh%d", (int)getpid() % 100000);
	snprintf(guest_if, sizeof(guest_if), "vdg%d", (int)getpid() % 100000);
	CHECK_EQ(test_sh("ip link add '%s' type veth peer name '%s' netns '%s'",
			 host_if, guest_if, ns), 0);
	CHECK_EQ(test_sh("ip link set '%s' up && ip -n '%s' link set '%s' up",
			 host_if, ns, guest_if), 0);
	RUN_TEST(test_udhcpc_gets_a_lease);
	return 0;
}
