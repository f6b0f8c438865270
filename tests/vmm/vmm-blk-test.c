/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk end to end: the test guest writes a checksummed pattern
 * over two whole disks with 32 requests in flight, reads it back,
 * discards and zeroes the last 64 KiB; the host then checks both image
 * files byte by byte. The same again with cpu.latency = high, where the
 * I/O thread watches the ring with kicks off after each interrupt and
 * the vCPU halt-polls. A second VM cannot open a disk the first holds.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/vmm/vmtest.h"

static void
patterns(const char *extra)
{
	char d0[600], d1[600];
	struct vmt t;
	int64_t bad;

	snprintf(d0, sizeof(d0), "%s/d0.img", test_tmpdir());
	snprintf(d1, sizeof(d1), "%s/d1.img", test_tmpdir());
	CHECK_OK(test_make_file(d0, 32u << 20));
	CHECK_OK(test_make_file(d1, 8u << 20));
	CHECK_OK(vmt_start(&t, "blk", "cmdline = blk seed=41\ndisk0 = %s\n"
			   "disk1 = %s\n%s", d0, d1, extra));
	if (vmt_wait(&t, 60000) != 0)
		vmt_dump(&t);
	CHECK_EQ(t.exit_code, 0);
	CHECK_EQ(vmt_count_serial(&t, "verify ok"), 2);
	CHECK_EQ(vmt_count_serial(&t, ": passed"), 2);
	bad = vmt_check_image(d0, 41);
	if (bad >= 0)
		fprintf(stderr, "d0.img differs at byte %lld\n", (long long)bad);
	CHECK_EQ(bad, -1);
	CHECK_EQ(vmt_check_image(d1, 42), -1);
}

static void
test_patterns(void)
{
	patterns("");
}

static void
test_patterns_latency_high(void)
{
	patterns("cpu.latency = high\n");
}

/*
 * cpu.latency = high really polls: the I/O thread watches the ring after
 * each interrupt with kicks off, so the guest's batches find it awake
 * and almost never kick (at the default nearly every batch kicks: 93-94
 * kicks for 94 interrupts here).
 */
static void
test_latency_high_takes_batches_without_kicks(void)
{
	unsigned long ops, errors, kicks = 0, irqs = 0;
	char d[600], *serial, *line;
	struct vmt t;

	snprintf(d, sizeof(d), "%s/bench.img", test_tmpdir());
	CHECK_OK(test_make_file(d, 8u << 20));
	CHECK_OK(vmt_start(&t, "poll", "cmdline = blkbench=3000\n"
			   "disk0 = %s\nballoon = false\ncpu.latency = high\n",
			   d));
	if (vmt_wait(&t, 60000) != 0)
		vmt_dump(&t);
	CHECK_EQ(t.exit_code, 0);
	serial = vmt_slurp(t.serial);
	line = serial ? strstr(serial, "blkbench: done") : NULL;
	CHECK(line && sscanf(line, "blkbench: done %lu ops, %lu errors, %*u "
			     "in flight on average when a completion "
			     "arrived, %lu kicks, %lu interrupts", &ops,
			     &errors, &kicks, &irqs) == 4);
	fprintf(stderr, "%lu kicks, %lu interrupts\n", kicks, irqs);
	CHECK_EQ(errors, 0);
	CHECK(irqs > 20);
	CHECK(kicks * 4 < irqs);
	free(serial);
}

static void
test_second_vm_cannot_open_disk(void)
{
	struct vmt a, b;
	char d[600], *log;

	snprintf(d, sizeof(d), "%s/shared.img", test_tmpdir());
	CHECK_OK(test_make_file(d, 1u << 20));
	CHECK_OK(vmt_start(&a, "holder", "cmdline = stay\ndisk0 = %s\n", d));
	CHECK(vmt_wait_serial(&a, "testguest: up", 10000));
	CHECK_OK(vmt_start(&b, "intruder", "cmdline = stay\ndisk0 = %s\n", d));
	CHECK_EQ(vmt_wait(&b, 10000), 75);
	log = vmt_slurp(b.log);
	CHECK(log && strstr(log, "in use by process"));
	free(log);
	vmt_kill(&a);
}

int
main(int argc, char **argv)
{
	vmt_init(argc, argv);
	RUN_TEST(test_patterns);
	RUN_TEST(test_patterns_latency_high);
	RUN_TEST(test_latency_high_takes_batches_without_kicks);
	RUN_TEST(test_second_vm_cannot_open_disk);
	test_tmpdir_remove();
	return 0;
}
