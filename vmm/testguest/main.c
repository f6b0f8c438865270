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

void tg_main(struct testguest_info *info);

static void user_main(void);

void
tg_main(struct testguest_info *info)
{
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
	if (tg_arg("blk"))
		rc |= tg_blk_test(devs, n);
	if (tg_arg("blkbench"))
		rc |= tg_blk_bench(devs, n);
	if (tg_arg("balloon"))
		rc |= tg_balloon_run(devs, n);
	if (tg_arg("net"))
		rc |= tg_net_test(devs, n);
	tg_printf("testguest: %s\n", rc ? "FAILED" : "done");
	while (tg_arg("stay"))
		tg_idle();
	tg_exit(rc ? 1 : 0);
}
