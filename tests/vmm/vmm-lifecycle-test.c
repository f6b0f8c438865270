/* SPDX-License-Identifier: MIT */
/*
 * Lifecycle through vmctl and the control socket: status, pause (the
 * guest's output stops), resume, stats, the balloon (guest memory goes
 * back to the host and returns), stop and poweroff, KSM and cgroups.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "tests/vmm/vmtest.h"

static void
test_pause_resume_stop(void)
{
	char out[8192];
	struct vmt t;
	int a, b;

	CHECK_OK(vmt_start(&t, "life", "cmdline = ticks=100000\n"));
	CHECK(vmt_wait_serial(&t, "tick 3", 10000));
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "status"), 0);
	CHECK(strstr(out, "state:   running"));
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "pause"), 0);
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "status --json"), 0);
	CHECK(strstr(out, "\"state\":\"paused\""));
	a = vmt_count_serial(&t, "tick ");
	usleep(300000);
	b = vmt_count_serial(&t, "tick ");
	CHECK_EQ(a, b);
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "resume"), 0);
	usleep(300000);
	CHECK(vmt_count_serial(&t, "tick ") > b);
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "stats --json"), 0);
	CHECK(strstr(out, "\"vcpu_ns\":["));
	CHECK(strstr(out, "\"vmm_overhead_bytes\""));
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "bogus"), 2);
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "stop"), 0);
	CHECK_EQ(vmt_wait(&t, 10000), 0);
	/* Nobody there any more. */
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "status"), 1);
}

static uint64_t
json_u64_of(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	return p ? strtoull(p + strlen(pat), NULL, 10) : UINT64_MAX;
}

static void
test_balloon(void)
{
	uint64_t used0, used1;
	char out[8192];
	struct vmt t;

	CHECK_OK(vmt_start(&t, "balloon", "memory = 128M\ncmdline = balloon\n"));
	CHECK(vmt_wait_serial(&t, "balloon: ready", 10000));
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "stats --json"), 0);
	used0 = json_u64_of(out, "used_bytes");
	CHECK(used0 >= 64u << 20);
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "balloon 32M"), 0);
	CHECK(vmt_wait_serial(&t, "balloon: actual 8192 pages", 10000));
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "stats --json"), 0);
	CHECK_EQ(json_u64_of(out, "ballooned_bytes"), 32u << 20);
	used1 = json_u64_of(out, "used_bytes");
	printf("   guest memory backed: %llu MiB before, %llu MiB ballooned\n",
	       (unsigned long long)(used0 >> 20), (unsigned long long)(used1 >> 20));
	CHECK(used1 + (30u << 20) <= used0);
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "balloon 0"), 0);
	CHECK(vmt_wait_serial(&t, "balloon: actual 0 pages", 10000));
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "balloon 1T"), 1);
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "poweroff"), 0);
	CHECK_EQ(vmt_wait(&t, 10000), 0);
}

static void
test_ksm(void)
{
	char out[8192], *log;
	struct vmt t;

	CHECK_OK(vmt_start(&t, "ksm", "ksm = true\ncmdline = stay\n"));
	CHECK(vmt_wait_serial(&t, "testguest: up", 10000));
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "status"), 0);
	CHECK(strstr(out, "ksm:     on"));
	log = vmt_slurp(t.log);
	CHECK(log && !strstr(log, "MERGEABLE"));
	free(log);
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "poweroff"), 0);
	CHECK_EQ(vmt_wait(&t, 10000), 0);
	/* KSM with a vhost-user NIC is refused before anything starts. */
	CHECK_OK(vmt_start(&t, "ksmnic", "ksm = true\nnic0 = vhostuser:%s/n.sock\n",
			   test_tmpdir()));
	CHECK_EQ(vmt_wait(&t, 10000), 2);
	log = vmt_slurp(t.log);
	CHECK(log && strstr(log, "page sharing cannot be used with vhost-user NICs"));
	free(log);
}

static void
test_cgroups(void)
{
	char out[8192], path[256], *cg;
	struct vmt t;

	if (!test_is_root() || access("/sys/fs/cgroup/cpu/cpu.shares", W_OK) != 0) {
		printf("   no writable cgroup v1 cpu controller here: skipped\n");
		return;
	}
	CHECK_OK(vmt_start(&t, "cg", "cpu.shares = 512\nmemory.limit = 256M\n"
			   "cmdline = stay\n"));
	if (!vmt_wait_serial(&t, "testguest: up", 10000))
		vmt_dump(&t);
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)t.pid);
	cg = vmt_slurp(path);
	if (!cg || !strstr(cg, "vstack-vmm/cg-"))
		fprintf(stderr, "%s: %s\n", path, cg ? cg : "(unreadable)");
	CHECK(cg && strstr(cg, "vstack-vmm/cg-"));
	free(cg);
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "status"), 0);
	CHECK(strstr(out, "cpu.shares"));
	snprintf(path, sizeof(path), "/sys/fs/cgroup/cpu/vstack-vmm/cg-%d/cpu.shares",
		 (int)t.pid);
	cg = vmt_slurp(path);
	CHECK(cg && atoi(cg) == 512);
	free(cg);
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "stop"), 0);
	CHECK_EQ(vmt_wait(&t, 10000), 0);
	CHECK(access(path, F_OK) != 0); /* the group went away with the VM */
}

int
main(int argc, char **argv)
{
	vmt_init(argc, argv);
	RUN_TEST(test_pause_resume_stop);
	RUN_TEST(test_balloon);
	RUN_TEST(test_ksm);
	RUN_TEST(test_cgroups);
	test_tmpdir_remove();
	return 0;
}
