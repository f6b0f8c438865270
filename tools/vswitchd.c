/* SPDX-License-Identifier: MIT */
/*
 * vswitchd: the switch daemon. Starts DPDK (vsw_eal_init), restores the
 * saved config, runs the data plane on its own lcore and serves the
 * control socket in the main thread until SIGTERM or SIGINT.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/clock.h"
#include "common/log.h"
#include "vswitch/vswitch.h"

#include <rte_lcore.h>

#define DEFAULT_DIR "/run/vswitch"
#define DEFAULT_SOCKET DEFAULT_DIR "/vswitchd.sock"
#define DEFAULT_CONFIG DEFAULT_DIR "/vswitchd.json"

static volatile bool stop;

static void
on_signal(int sig)
{
	stop = true;
}

static void
usage(void)
{
	printf("Usage: vswitchd [OPTIONS] [-- EAL-OPTIONS]\n\n"
	       "The DPDK virtual switch daemon.\n\n"
	       "Options:\n"
	       "  --socket PATH        control socket (default " DEFAULT_SOCKET ")\n"
	       "  --config FILE        saved config, restored at start (default\n"
	       "                       " DEFAULT_CONFIG "; 'none' to keep none)\n"
	       "  --file-prefix NAME   DPDK runtime prefix (default derived from\n"
	       "                       the socket path)\n"
	       "  --mac-table N        MAC table entries, all switches (default 1048576)\n"
	       "  --mac-limit N        default MACs per port (default 65536)\n"
	       "  --mbufs N            packet buffers (default 32767)\n"
	       "  --conntrack N        NAT connections, all networks (default 131072)\n"
	       "  --ct-timeouts LIST   e.g. udp=30,tcp_established=7440 (seconds;\n"
	       "                       tcp_syn_sent, tcp_syn_recv, tcp_established,\n"
	       "                       tcp_fin_wait, tcp_time_wait, tcp_close, udp,\n"
	       "                       udp_replied, icmp)\n"
	       "  --idle-sleep-us N    let an idle data plane sleep up to N us\n"
	       "                       (default 100; 0 = always busy-poll)\n"
	       "  --log-level LEVEL    error, warn, info, debug (default info)\n"
	       "  -h, --help           this text\n\n"
	       "EAL options after '--' go to DPDK as they are (e.g. --lcores,\n"
	       "-m, --no-huge); without them the switch runs with --no-huge\n"
	       "unless 2 MiB hugepages are free.\n");
}

static int
parse_u32(const char *opt, const char *s, uint32_t min, uint32_t *out)
{
	uint64_t v;

	if (cli_parse_u64(s, min, UINT32_MAX, &v) < 0)
		return cli_usage_error("bad value for %s: '%s'", opt, s);
	*out = (uint32_t)v;
	return 0;
}

/* One DPDK prefix per socket path, so daemons never share runtime files. */
static void
prefix_for(const char *socket_path, char *buf, size_t len)
{
	uint32_t h = 2166136261u;

	if (!strcmp(socket_path, DEFAULT_SOCKET)) {
		snprintf(buf, len, "vswitchd");
		return;
	}
	for (const char *p = socket_path; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(buf, len, "vswitchd-%08x", h);
}

static void
mkdir_for(const char *path)
{
	char dir[512];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = '\0';
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		cli_error("cannot create %s: %s", dir, strerror(errno));
}

static bool
daemon_answers(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(addr.sun_path))
		return false;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	r = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	close(fd);
	return r == 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "file-prefix", required_argument, NULL, 'p' },
		{ "mac-table", required_argument, NULL, 'm' },
		{ "mac-limit", required_argument, NULL, 'L' },
		{ "mbufs", required_argument, NULL, 'b' },
		{ "conntrack", required_argument, NULL, 'C' },
		{ "ct-timeouts", required_argument, NULL, 'T' },
		{ "idle-sleep-us", required_argument, NULL, 'i' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *sock = DEFAULT_SOCKET, *config = DEFAULT_CONFIG;
	struct vsw_options opts = { 0 };
	uint32_t idle_us = 100;
	char prefix[128] = "";
	enum log_level lvl = LOG_LVL_INFO;
	struct vsw *vsw;
	unsigned int dp_lcore;
	uint64_t t_start = clock_mono_ns(), t_eal, t_create, t_dp;
	int c, err;

	cli_set_prog("vswitchd");
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'p':
			snprintf(prefix, sizeof(prefix), "%s", optarg);
			break;
		case 'm':
			if (parse_u32("--mac-table", optarg, 8, &opts.mac_table_entries))
				return CLI_EXIT_USAGE;
			break;
		case 'L':
			if (parse_u32("--mac-limit", optarg, 1, &opts.mac_limit_default))
				return CLI_EXIT_USAGE;
			break;
		case 'b':
			if (parse_u32("--mbufs", optarg, 1023, &opts.mbufs))
				return CLI_EXIT_USAGE;
			break;
		case 'i':
			if (parse_u32("--idle-sleep-us", optarg, 0, &idle_us))
				return CLI_EXIT_USAGE;
			break;
		case 'C':
			if (parse_u32("--conntrack", optarg, 16,
				      &opts.conntrack_entries) ||
			    opts.conntrack_entries > (1u << 24))
				return cli_usage_error("--conntrack must be "
						       "16..16777216");
			break;
		case 'T': {
			char e[256];

			if (vsw_ct_timeouts_check(optarg, e, sizeof(e)) < 0)
				return cli_usage_error("--ct-timeouts: %s", e);
			opts.ct_timeouts = optarg;
			break;
		}
		case 'l':
			if (log_parse_level(optarg, &lvl) < 0)
				return cli_usage_error("bad log level '%s'", optarg);
			break;
		case 'h':
			usage();
			return CLI_EXIT_OK;
		default:
			return cli_usage_error("bad option");
		}
	}
	log_set_level(lvl);
	if (!strcmp(config, "none"))
		config = NULL;
	opts.config_path = config;
	if (!prefix[0])
		prefix_for(sock, prefix, sizeof(prefix));
	mkdir_for(sock);
	if (config)
		mkdir_for(config);

	if (daemon_answers(sock)) {
		cli_error("another vswitchd serves %s", sock);
		return CLI_EXIT_FAIL;
	}
	err = vsw_eal_init("vswitchd", prefix, argc - optind, argv + optind,
			   &opts);
	if (err < 0) {
		cli_error("cannot start DPDK: %s", strerror(-err));
		return CLI_EXIT_FAIL;
	}
	t_eal = clock_mono_ns();
	err = vsw_create(&opts, &vsw);
	if (err < 0) {
		cli_error("cannot create the switch: %s", strerror(-err));
		vsw_eal_fini();
		return CLI_EXIT_FAIL;
	}
	t_create = clock_mono_ns();
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	dp_lcore = rte_get_next_lcore(-1, 1, 0);
	if (dp_lcore >= RTE_MAX_LCORE) {
		cli_error("need a second EAL lcore for the data plane "
			  "(e.g. -- --lcores=0@0,1@1)");
		err = -EINVAL;
		goto out;
	}
	/* Ports come up as the config is restored; the data plane runs first
	 * so traffic flows as soon as each port is back. */
	err = vsw_dp_start(vsw, dp_lcore, idle_us);
	if (err < 0) {
		cli_error("cannot start the data plane: %s", strerror(-err));
		goto out;
	}
	t_dp = clock_mono_ns();
	if (config && vsw_config_restore(vsw, config) < 0)
		cli_error("%s: not restored (see above); starting empty", config);
	/* Where a restart's time goes: the figure the restart tests print. */
	log_info("vswitchd", "ready: socket %s, file prefix %s; start-up %llu "
		 "ms (DPDK %llu, tables %llu, data plane %llu, config %llu)",
		 sock, prefix,
		 (unsigned long long)((clock_mono_ns() - t_start) / NS_PER_MS),
		 (unsigned long long)((t_eal - t_start) / NS_PER_MS),
		 (unsigned long long)((t_create - t_eal) / NS_PER_MS),
		 (unsigned long long)((t_dp - t_create) / NS_PER_MS),
		 (unsigned long long)((clock_mono_ns() - t_dp) / NS_PER_MS));
	err = vsw_ctl_serve(vsw, sock, &stop);
	if (err < 0)
		cli_error("control socket %s: %s", sock, strerror(-err));
out:
	vsw_destroy(vsw);
	vsw_eal_fini();
	return err < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
