/* SPDX-License-Identifier: MIT */
/*
 * DPDK EAL start-up with the switch's defaults: its own --file-prefix,
 * hugepages when enough 2 MiB pages are free and a hugetlbfs is mounted
 * to reach them, --no-huge otherwise, memory sized for the MAC table and
 * packet buffers, no PCI scan unless devices are named, warnings-only
 * logging, and two lcores: the control
 * (main) lcore free to run on any CPU and the data-plane lcore pinned to
 * the last CPU. Any of these the user sets after "--" wins.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "vswitch/vsw-internal.h"

#include <rte_eal.h>
#include <rte_errno.h>

#define EAL_MAX_ARGS 64

static bool
has_opt(int argc, char **argv, const char *const *names)
{
	for (int i = 0; i < argc; i++)
		for (const char *const *n = names; *n; n++) {
			size_t l = strlen(*n);

			if (!strncmp(argv[i], *n, l) &&
			    (argv[i][l] == '\0' || argv[i][l] == '='))
				return true;
		}
	return false;
}

static long
free_hugepages_2m(void)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
			"r");
	long n = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%ld", &n) != 1)
		n = 0;
	fclose(f);
	return n;
}

/*
 * DPDK finds hugepages through a mounted hugetlbfs: free pages that no
 * mount in our namespace offers (another process's private mount, say)
 * would make EAL start-up fail instead of falling back to --no-huge.
 */
static bool
hugetlbfs_2m_mounted(void)
{
	FILE *f = fopen("/proc/self/mounts", "r");
	char line[512];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char dev[128], dir[256], type[32], opts[256];

		if (sscanf(line, "%127s %255s %31s %255s", dev, dir, type,
			   opts) != 4 || strcmp(type, "hugetlbfs"))
			continue;
		/* No pagesize option: the default size, 2 MiB on x86. */
		found = strstr(opts, "pagesize=2M") || !strstr(opts, "pagesize=");
	}
	fclose(f);
	return found;
}

/* MiB of DPDK memory: packet buffers (unless they live outside it, as
 * without hugepages: pool.c), the MAC and connection tables, rings and
 * slack. */
static unsigned long
memory_mb(const struct vsw_options *o, bool with_mbufs)
{
	unsigned long entries = o->mac_table_entries ? o->mac_table_entries
						     : VSW_MAC_ENTRIES_DEFAULT;
	unsigned long mbufs = o->mbufs ? o->mbufs : VSW_MBUFS_DEFAULT;
	unsigned long conns = o->conntrack_entries ? o->conntrack_entries
						   : VSW_CT_ENTRIES_DEFAULT;

	/* The connection table's hash holds two keys per connection. */
	return 192 + entries * 80 / (1 << 20) +
	       (with_mbufs ? mbufs * 2560 / (1 << 20) : 0) +
	       conns * 2 * 96 / (1 << 20);
}

int
vsw_eal_init(const char *prog, const char *file_prefix, int eal_argc,
	     char **eal_argv, const struct vsw_options *opts)
{
	static const char *const prefix_opts[] = { "--file-prefix", NULL };
	static const char *const mem_opts[] = { "-m", "--socket-mem",
						"--no-huge", NULL };
	static const char *const lcore_opts[] = { "-l", "--lcores", "-c", NULL };
	static const char *const pci_opts[] = { "-a", "--allow", "-b", "--block",
						"--no-pci", NULL };
	static const char *const log_opts[] = { "--log-level", NULL };
	char *argv[EAL_MAX_ARGS];
	char prefix[128], mem[32], lcores[64];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned long mb = memory_mb(opts, true);
	int argc = 0, r;

	if (eal_argc > EAL_MAX_ARGS - 12)
		return -E2BIG;
	argv[argc++] = (char *)prog;
	if (!has_opt(eal_argc, eal_argv, prefix_opts)) {
		snprintf(prefix, sizeof(prefix), "--file-prefix=%s", file_prefix);
		argv[argc++] = prefix;
	}
	if (!has_opt(eal_argc, eal_argv, mem_opts)) {
		bool huge = free_hugepages_2m() * 2 >= (long)mb &&
			    hugetlbfs_2m_mounted();

		snprintf(mem, sizeof(mem), "-m%lu",
			 huge ? mb : memory_mb(opts, false));
		argv[argc++] = mem;
		if (!huge)
			argv[argc++] = "--no-huge";
	}
	if (!has_opt(eal_argc, eal_argv, lcore_opts)) {
		if (ncpu >= 2)
			snprintf(lcores, sizeof(lcores), "--lcores=0@(0-%ld),1@%ld",
				 ncpu - 1, ncpu - 1);
		else
			snprintf(lcores, sizeof(lcores), "--lcores=0@0,1@0");
		argv[argc++] = lcores;
	}
	if (!has_opt(eal_argc, eal_argv, pci_opts))
		argv[argc++] = "--no-pci";
	if (!has_opt(eal_argc, eal_argv, log_opts))
		argv[argc++] = "--log-level=warning";
	for (int i = 0; i < eal_argc; i++)
		argv[argc++] = eal_argv[i];
	r = rte_eal_init(argc, argv);
	if (r < 0) {
		log_err("vswitch", "DPDK EAL init failed: %s",
			rte_strerror(rte_errno));
		return -(rte_errno ? rte_errno : EINVAL);
	}
	return 0;
}

void
vsw_eal_fini(void)
{
	rte_eal_cleanup();
}
