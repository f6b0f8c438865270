/* SPDX-License-Identifier: MIT */
/*
 * vlun against a private tgtd: info, write/verify, ats and pr, checking
 * exit codes and what they print. Usage: vlun-iscsi-test PATH-TO-VLUN.
 */
#include <unistd.h>

#include "tests/lib/testutil.h"

static const char *vlun;
static struct tgt_fixture tgt;
static char out_path[600];

/* Runs vlun with 'args', stdout and stderr to out_path; exit status. */
static int
vlun_run(const char *args)
{
	return test_sh("'%s' %s >'%s' 2>&1", vlun, args, out_path);
}

static bool
out_has(const char *text)
{
	char buf[8192] = "";
	FILE *f = fopen(out_path, "r");
	size_t n;

	CHECK(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	if (!strstr(buf, text))
		fprintf(stderr, "output lacks '%s':\n%s\n", text, buf);
	return strstr(buf, text) != NULL;
}

static void
test_info(void)
{
	char args[700];

	snprintf(args, sizeof(args), "info --json '%s'", tgt.url[0]);
	CHECK_EQ(vlun_run(args), 0);
	CHECK(out_has("\"scheme\":\"iscsi\""));
	CHECK(out_has("\"ats_method\":\"pr-mutex\""));
	CHECK(out_has("\"size_bytes\":16777216"));
	CHECK(out_has("persistent-reservations"));
	snprintf(args, sizeof(args), "info 'iscsi://127.0.0.1:%d/%s/9'",
		 tgt.port, tgt.iqn);
	CHECK_EQ(vlun_run(args), 1);
	CHECK(out_has("no LUN 9"));
	CHECK_EQ(vlun_run("info 'iscsi://127.0.0.1/iqn.x'"), 1);
	CHECK(out_has("bad iSCSI URL"));
}

static void
test_write_verify(void)
{
	char args[700];

	snprintf(args, sizeof(args), "write '%s' 1M 64K 7 --fua", tgt.url[0]);
	CHECK_EQ(vlun_run(args), 0);
	snprintf(args, sizeof(args), "verify '%s' 1M 64K 7", tgt.url[0]);
	CHECK_EQ(vlun_run(args), 0);
	snprintf(args, sizeof(args), "verify '%s' 1M 64K 8", tgt.url[0]);
	CHECK_EQ(vlun_run(args), 1);
	CHECK(out_has("differs"));
}

static void
test_ats(void)
{
	char args[700];

	snprintf(args, sizeof(args), "ats '%s' 2M '' first", tgt.url[0]);
	CHECK_EQ(vlun_run(args), 0);
	CHECK(out_has("swapped (pr-mutex)"));
	CHECK_EQ(vlun_run(args), 1);
	CHECK(out_has("miscompare: the sector holds \"first\""));
	snprintf(args, sizeof(args), "ats '%s' 2M first second", tgt.url[0]);
	CHECK_EQ(vlun_run(args), 0);
	snprintf(args, sizeof(args), "ats '%s' 2M+1 second x", tgt.url[0]);
	CHECK_EQ(vlun_run(args), 2);
}

static void
test_pr(void)
{
	char args[700];

	/* show registers nothing (read-only), so no keys. */
	snprintf(args, sizeof(args), "pr '%s' show --json", tgt.url[0]);
	CHECK_EQ(vlun_run(args), 0);
	CHECK(out_has("\"keys\":[]"));
	/* Registers 0xbb (kept after exit), but 0xaa is nobody. */
	snprintf(args, sizeof(args), "pr '%s' preempt 0xaa 0xbb", tgt.url[0]);
	CHECK_EQ(vlun_run(args), 1);
	CHECK(out_has("preempt 0xaa"));
	snprintf(args, sizeof(args), "pr '%s' show", tgt.url[0]);
	CHECK_EQ(vlun_run(args), 0);
	CHECK(out_has("key 0x00000000000000bb"));
	/* 0xcc fences 0xbb. */
	snprintf(args, sizeof(args), "pr '%s' preempt 0xbb 0xcc", tgt.url[0]);
	CHECK_EQ(vlun_run(args), 0);
	snprintf(args, sizeof(args), "pr '%s' show --json", tgt.url[0]);
	CHECK_EQ(vlun_run(args), 0);
	CHECK(out_has("\"keys\":[204]"));
	CHECK(out_has("\"reserved\":false"));
}

static void
test_bench_ats(void)
{
	char args[700];

	snprintf(args, sizeof(args),
		 "bench '%s' --rw ats --offset 4M --seconds 1 --json",
		 tgt.url[0]);
	CHECK_EQ(vlun_run(args), 0);
	CHECK(out_has("\"method\":\"pr-mutex\""));
	CHECK(out_has("\"ios_per_op\":4,"));
}

int
main(int argc, char **argv)
{
	int rc;

	if (argc != 2)
		return fprintf(stderr, "usage: %s VLUN\n", argv[0]), 2;
	vlun = argv[1];
	rc = tgt_start(&tgt, test_tmpdir(), 1, 16 << 20);
	if (rc == TEST_SKIP)
		test_skip("no tgtd");
	CHECK_OK(rc);
	snprintf(out_path, sizeof(out_path), "%s/vlun.out", test_tmpdir());
	RUN_TEST(test_info);
	RUN_TEST(test_write_verify);
	RUN_TEST(test_ats);
	RUN_TEST(test_pr);
	RUN_TEST(test_bench_ats);
	tgt_stop(&tgt);
	test_tmpdir_remove();
	return 0;
}
