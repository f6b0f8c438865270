/* SPDX-License-Identifier: MIT */
/*
 * LUN layer conformance: the same checks run against every backend that
 * needs no outside service (a file, an in-memory LUN, and both behind a
 * pass-through fault wrapper), plus backend-specific behaviour: bad URIs,
 * read-only handles, registered buffers, persistent reservations on
 * lun-mem. The iSCSI backend runs the same conformance in lun-iscsi-test.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/lib/testutil.h"
#include "vfs-cluster/lun-conformance.h"
#include "vfs-cluster/lun.h"

#define LUN_BYTES (64ull << 20)

static char file_uri[600];

static void
test_file_conformance(void)
{
	lun_conformance_run(file_uri, NULL);
}

static void
test_mem_conformance(void)
{
	struct lun *keep;

	/* The first handle creates the LUN; the suite's handles attach. */
	CHECK_OK(lun_open("mem:conf?size=64M", NULL, &keep));
	lun_conformance_run("mem:conf", NULL);
	lun_close(keep);
}

static void
test_faulty_passthrough_conformance(void)
{
	char uri[700];

	snprintf(uri, sizeof(uri), "faulty:%s", file_uri);
	lun_conformance_run(uri, NULL);
	snprintf(uri, sizeof(uri), "faulty,seed=5,volatile=1:%s", file_uri);
	lun_conformance_run(uri, NULL);
}

static void
test_bad_uris(void)
{
	char path[600];
	struct lun *lun;

	CHECK_EQ(lun_open("", NULL, &lun), -EINVAL);
	CHECK_EQ(lun_open("nosuch:thing", NULL, &lun), -EINVAL);
	CHECK_EQ(lun_open("/nonexistent/dir/lun.img", NULL, &lun), -ENOENT);
	CHECK_EQ(lun_open(test_tmpdir(), NULL, &lun), -EISDIR);
	snprintf(path, sizeof(path), "%s/empty.img", test_tmpdir());
	CHECK_OK(test_make_file(path, 0));
	CHECK_EQ(lun_open(path, NULL, &lun), -EINVAL);
	CHECK_EQ(lun_open("mem:absent", NULL, &lun), -ENOENT);
	CHECK_EQ(lun_open("mem:x?size=12345", NULL, &lun), -EINVAL);
	CHECK_EQ(lun_open("faulty,bogus=1:/tmp/x", NULL, &lun), -EINVAL);
	CHECK_EQ(lun_open("faulty,p_error=2:/tmp/x", NULL, &lun), -EINVAL);
}

static void
test_read_only(void)
{
	struct lun_config cfg = { .read_only = true };
	struct lun *lun;
	void *buf;

	CHECK_OK(posix_memalign(&buf, 4096, 4096));
	CHECK_OK(lun_open(file_uri, &cfg, &lun));
	CHECK_OK(lun_read(lun, 0, buf, 4096));
	CHECK_EQ(lun_write(lun, 0, buf, 4096, 0), -EROFS);
	CHECK_EQ(lun_ats(lun, 0, buf, buf, 512), -EROFS);
	lun_close(lun);
	free(buf);
}

struct fixed_ctx {
	int done;
};

static void
fixed_done(struct lun_io *io)
{
	struct fixed_ctx *ctx = io->priv;

	CHECK_EQ(io->result, 65536);
	ctx->done++;
}

static void
test_registered_buffers(void)
{
	struct lun_io ios[4];
	struct iovec bufs[4];
	struct fixed_ctx ctx = { 0 };
	struct lun *lun;

	CHECK_OK(lun_open(file_uri, NULL, &lun));
	for (int i = 0; i < 4; i++) {
		CHECK_OK(posix_memalign(&bufs[i].iov_base, 4096, 65536));
		bufs[i].iov_len = 65536;
		test_pattern_fill(bufs[i].iov_base, 65536, 99, (uint64_t)i << 16);
	}
	CHECK_OK(lun_register_buffers(lun, bufs, 4));
	for (int i = 0; i < 4; i++) {
		lun_io_prep_write(&ios[i], (uint64_t)i << 16, bufs[i].iov_base,
				  65536, 0);
		ios[i].buf_index = (int16_t)i;
		ios[i].done = fixed_done;
		ios[i].priv = &ctx;
		CHECK_OK(lun_submit(lun, &ios[i]));
	}
	while (ctx.done < 4)
		CHECK(lun_poll(lun, 1, -1) >= 0);
	for (int i = 0; i < 4; i++) {
		memset(bufs[i].iov_base, 0, 65536);
		lun_io_prep_read(&ios[i], (uint64_t)i << 16, bufs[i].iov_base,
				 65536);
		ios[i].buf_index = (int16_t)i;
		ios[i].done = fixed_done;
		ios[i].priv = &ctx;
		CHECK_OK(lun_submit(lun, &ios[i]));
	}
	while (ctx.done < 8)
		CHECK(lun_poll(lun, 1, -1) >= 0);
	for (int i = 0; i < 4; i++) {
		CHECK(test_pattern_check(bufs[i].iov_base, 65536, 99,
					 (uint64_t)i << 16));
		free(bufs[i].iov_base);
	}
	CHECK_OK(lun_register_buffers(lun, NULL, 0));
	lun_close(lun);
}

static void
test_mem_persistent_reservations(void)
{
	struct lun *a, *b, *c;
	struct lun_pr_state st;
	char buf[512] = { 1 };

	CHECK_OK(lun_open("mem:pr?size=1M", NULL, &a));
	CHECK_OK(lun_open("mem:pr", NULL, &b));
	CHECK_OK(lun_open("mem:pr", NULL, &c));
	CHECK(lun_get_info(a)->caps & LUN_CAP_PR);
	/* Reserving needs a registration. */
	CHECK_EQ(lun_pr_reserve(a, LUN_PR_WRITE_EXCLUSIVE_ALL_REG), -EBADE);
	CHECK_OK(lun_pr_register(a, 0xa));
	CHECK_OK(lun_pr_register(b, 0xb));
	CHECK_OK(lun_pr_reserve(a, LUN_PR_WRITE_EXCLUSIVE_ALL_REG));
	CHECK_OK(lun_pr_reserve(b, LUN_PR_WRITE_EXCLUSIVE_ALL_REG));
	/* Registrants write, the unregistered 'c' may only read. */
	CHECK_OK(lun_write(a, 0, buf, 512, 0));
	CHECK_OK(lun_write(b, 0, buf, 512, 0));
	CHECK_EQ(lun_write(c, 0, buf, 512, 0), -EBADE);
	CHECK_OK(lun_read(c, 0, buf, 512));
	CHECK_OK(lun_pr_read(c, &st));
	CHECK_EQ(st.nkeys, 2);
	CHECK(st.reserved && st.type == LUN_PR_WRITE_EXCLUSIVE_ALL_REG);
	/* Fencing: b preempts a, whose writes and ATS now fail. */
	CHECK_OK(lun_pr_preempt(b, 0xa, LUN_PR_WRITE_EXCLUSIVE_ALL_REG, true));
	CHECK_EQ(lun_write(a, 0, buf, 512, 0), -EBADE);
	CHECK_EQ(lun_ats(a, 0, buf, buf, 512), -EBADE);
	CHECK_OK(lun_write(b, 0, buf, 512, 0));
	CHECK_OK(lun_pr_read(b, &st));
	CHECK_EQ(st.nkeys, 1);
	CHECK_EQ(st.keys[0], 0xb);
	/* A single-holder type: only the holder writes. */
	CHECK_OK(lun_pr_release(b, LUN_PR_WRITE_EXCLUSIVE_ALL_REG));
	CHECK_OK(lun_pr_register(c, 0xc));
	CHECK_OK(lun_pr_reserve(b, LUN_PR_WRITE_EXCLUSIVE));
	CHECK_EQ(lun_pr_reserve(c, LUN_PR_WRITE_EXCLUSIVE), -EBADE);
	CHECK_EQ(lun_write(c, 0, buf, 512, 0), -EBADE);
	CHECK_OK(lun_pr_read(a, &st));
	CHECK_EQ(st.holder_key, 0xb);
	/* A registration outlives its handle, as in SCSI. */
	lun_close(c);
	CHECK_OK(lun_pr_read(a, &st));
	CHECK_EQ(st.nkeys, 2);
	lun_close(a);
	lun_close(b);
}

static void
test_file_has_no_pr(void)
{
	struct lun *lun;
	struct lun_pr_state st;

	CHECK_OK(lun_open(file_uri, NULL, &lun));
	CHECK(!(lun_get_info(lun)->caps & LUN_CAP_PR));
	CHECK_EQ(lun_pr_register(lun, 1), -EOPNOTSUPP);
	CHECK_EQ(lun_pr_read(lun, &st), -EOPNOTSUPP);
	CHECK_EQ(lun_get_info(lun)->ats_method, LUN_ATS_OFD_LOCK);
	lun_close(lun);
}

int
main(void)
{
	snprintf(file_uri, sizeof(file_uri), "%s/lun.img", test_tmpdir());
	CHECK_OK(test_make_file(file_uri, LUN_BYTES));
	RUN_TEST(test_file_conformance);
	RUN_TEST(test_mem_conformance);
	RUN_TEST(test_faulty_passthrough_conformance);
	RUN_TEST(test_bad_uris);
	RUN_TEST(test_read_only);
	RUN_TEST(test_registered_buffers);
	RUN_TEST(test_mem_persistent_reservations);
	RUN_TEST(test_file_has_no_pr);
	test_tmpdir_remove();
	return 0;
}
