/* SPDX-License-Identifier: MIT */
/*
 * Test guest main: prints a banner, then runs the tests its command line
 * asks for, each reporting on the serial line, and ends by writing its
 * result to the VMM's exit port (0 passed, 1 failed).
 *
 * Command line words: pci (list functions), blk (patterns over whole
 * disks), blkbench=SECONDS, hostile=N (malformed virtqueues), balloon
 * (follow the balloon target), net (ARP/ICMP), ticks=N (print N ticks,
 * a busy loop between them), stay (never exit).
 */
#include "tg.h"

static void
ticks(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t t0 = rdtsc();

		while (rdtsc() - t0 < 20000000ull)
			barrier();
		tg_printf("tick %lu\n", i);
	}
}

void tg_main(struct testguest_info *info, const uint32_t *pvh);

static void user_main(void);

/*
 * Booted through PVH (QEMU -kernel) instead of the VMM's loader: build
 * the boot info from hvm_start_info (magic, version, flags, nr_modules,
 * modlist_paddr, cmdline_paddr ...; memory size from QEMU's -m 64).
 */
static struct testguest_info *
from_pvh(const uint32_t *si)
{
	struct testguest_info *info = (struct testguest_info *)TESTGUEST_INFO_ADDR;
	const char *cmd;

	memset(info, 0, sizeof(*info));
	info->magic = TESTGUEST_MAGIC;
	info->mem_bytes = info->low_mem_bytes = 64ull << 20;
	info->ncpus = 1;
	if (si && si[0] == 0x336ec578u && si[6]) {
		cmd = (const char *)(uint64_t)si[6];
		for (size_t i = 0; cmd[i] && i + 1 < sizeof(info->cmdline); i++)
			info->cmdline[i] = cmd[i];
	}
	return info;
}

void
tg_main(struct testguest_info *info, const uint32_t *pvh)
{
	if (!info)
		info = from_pvh(pvh);
	tg_info = info;
	if (info->magic != TESTGUEST_MAGIC)
		tg_exit(2);
	tg_printf("testguest: up, %lu MiB, %u cpus, cmdline '%s'\n",
		  info->mem_bytes >> 20, info->ncpus, info->cmdline);
	tg_irq_init();
	tg_user_mode(user_main);
}

static void
user_main(void)
{
	struct tg_pci_dev devs[32];
	int n, rc = 0;

	n = tg_pci_scan(devs, 32, tg_arg("pci") != NULL);
	if (tg_arg("pci"))
		tg_printf("pci: %d functions\n", n);
	if (tg_arg("idle")) {
		for (uint64_t i = 0; i < tg_arg_u64("idle", 3); i++)
			tg_idle();
		tg_printf("idle: woke %lu times, timer irqs %lu\n",
			  tg_arg_u64("idle", 3), tg_irq_count(0x20));
	}
	if (tg_arg("ticks"))
		ticks(tg_arg_u64("ticks", 10));
	if (tg_arg("hostile"))
		rc |= tg_hostile(devs, n);
	if (tg_arg("blkcheck"))
		rc |= tg_blk_check(devs, n);
	if (tg_arg("blk"))
		rc |= tg_blk_test(devs, n);
	if (tg_arg("blkbench"))
		rc |= tg_blk_bench(devs, n);
	if (tg_arg("balloon"))
		rc |= tg_balloon_run(devs, n);
	if (tg_arg("net"))
		rc |= tg_net_test(devs, n);
	if (tg_arg("console"))
		rc |= tg_console_run(devs, n);
	tg_printf("testguest: %s\n", rc ? "FAILED" : "done");
	while (tg_arg("stay"))
		tg_idle();
	tg_exit(rc ? 1 : 0);
}
