/* SPDX-License-Identifier: MIT */
/*
 * The iSCSI backend against a real tgtd: the LUN conformance suite, bad
 * URLs and targets that do not answer, command deadlines, tgtd stopped
 * and killed mid-I/O with and without reconnecting, CHAP, PR fencing,
 * reconnects that must not undo fencing, the PR-mutex ATS with a holder
 * that died or was paused, and processes racing on one sector.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/testutil.h"
#include "vfs-cluster/lun-conformance.h"
#include "vfs-cluster/lun.h"

#define LUN_BYTES (64ull << 20)
#define CHAP_USER "vstackuser"
#define CHAP_PASS "s3cret-pass-1234"

static struct tgt_fixture tgt;
static char chap_iqn[160];

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
xalloc(size_t len)
{
	void *p;

	CHECK_OK(posix_memalign(&p, 4096, len));
	memset(p, 0, len);
	return p;
}

static int
tgtadm(const struct tgt_fixture *t, const char *args)
{
	return test_sh("tgtadm -C %d --lld iscsi %s >>'%s/tgtadm.log' 2>&1",
		       t->control_port, args, t->dir);
}

static struct lun *
open_ok(const char *uri, const struct lun_config *cfg)
{
	struct lun *lun;

	CHECK_OK(lun_open(uri, cfg, &lun));
	return lun;
}

/* ---- conformance ---- */

static void
test_conformance(void)
{
	lun_conformance_run(tgt.url[0], NULL);
}

static void
test_conformance_thin(void)
{
	const uint64_t off = 8 << 20;
	struct lun *lun = open_ok(tgt.url[1], NULL);
	uint8_t *buf = xalloc(1 << 20);

	/* LUN 2 is thin-provisioned: UNMAP is advertised and works. */
	CHECK(lun_get_info(lun)->caps & LUN_CAP_DISCARD);
	test_pattern_fill(buf, 1 << 20, 5, off);
	CHECK_OK(lun_write(lun, off, buf, 1 << 20, 0));
	CHECK_OK(lun_discard(lun, off, 1 << 20));
	CHECK_OK(lun_read(lun, off, buf, 1 << 20));
	for (size_t i = 0; i < 1 << 20; i++)
		CHECK(buf[i] == 0);
	free(buf);
	lun_close(lun);
	lun_conformance_run(tgt.url[1], NULL);
}

static void
test_info_and_methods(void)
{
	struct lun_config cfg = { .ats_method = LUN_ATS_COMPARE_WRITE };
	struct lun_config ro = { .read_only = true };
	const struct lun_info *info;
	struct lun *lun;
	uint8_t buf[512];

	lun = open_ok(tgt.url[0], NULL);
	info = lun_get_info(lun);
	CHECK(strcmp(info->scheme, "iscsi") == 0);
	CHECK_EQ(info->size_bytes, LUN_BYTES);
	CHECK_EQ(info->logical_sector_bytes, 512);
	CHECK_EQ(info->physical_sector_bytes, 4096);
	/* tgtd has PR but no COMPARE AND WRITE. */
	CHECK_EQ(info->ats_method, LUN_ATS_PR_MUTEX);
	CHECK(info->caps & LUN_CAP_PR);
	CHECK(info->caps & LUN_CAP_ATS);
	CHECK(!(info->caps & LUN_CAP_COMPARE_WRITE));
	CHECK(!(info->caps & LUN_CAP_DISCARD));
	CHECK(lun_pr_key(lun) != 0);
	lun_close(lun);
	CHECK_EQ(lun_open(tgt.url[0], &cfg, &lun), -EOPNOTSUPP);
	cfg.ats_method = LUN_ATS_OFD_LOCK;
	CHECK_EQ(lun_open(tgt.url[0], &cfg, &lun), -EINVAL);
	cfg.ats_method = LUN_ATS_NONE;
	lun = open_ok(tgt.url[0], &cfg);
	CHECK_EQ(lun_ats(lun, 0, buf, buf, 512), -EOPNOTSUPP);
	CHECK_EQ(lun_pr_key(lun), 0);
	lun_close(lun);
	/* A read-only handle registers nothing. */
	lun = open_ok(tgt.url[0], &ro);
	CHECK_EQ(lun_pr_key(lun), 0);
	CHECK_EQ(lun_get_info(lun)->ats_method, LUN_ATS_PR_MUTEX);
	lun_close(lun);
}

/* ---- bad URLs and unreachable targets ---- */

static void
expect_open(const char *uri, int want)
{
	struct lun_config cfg = { .io_timeout_ms = 2000 };
	struct lun *lun = NULL;
	double t0 = now_s();
	int rc = lun_open(uri, &cfg, &lun);

	if (rc != want)
		fprintf(stderr, "lun_open(%s) = %d (%s), want %d\n", uri, rc,
			strerror(-rc), want);
	CHECK_EQ(rc, want);
	/* Refusals come fast, without waiting for the timeout. */
	CHECK(now_s() - t0 < 1.5);
}

static void
test_bad_urls(void)
{
	char uri[600];
	int closed = test_free_port();

	CHECK(closed > 0);
	expect_open("iscsi://", -EINVAL);
	expect_open("iscsi:///iqn.x/1", -EINVAL);
	snprintf(uri, sizeof(uri), "iscsi://127.0.0.1:%d", tgt.port);
	expect_open(uri, -EINVAL);
	snprintf(uri, sizeof(uri), "iscsi://127.0.0.1:%d/%s", tgt.port, tgt.iqn);
	expect_open(uri, -EINVAL);
	snprintf(uri, sizeof(uri), "iscsi://127.0.0.1:%d/%s/x", tgt.port,
		 tgt.iqn);
	expect_open(uri, -EINVAL);
	snprintf(uri, sizeof(uri), "iscsi://127.0.0.1:%d/%s/-1", tgt.port,
		 tgt.iqn);
	expect_open(uri, -EINVAL);
	snprintf(uri, sizeof(uri), "iscsi://127.0.0.1:%d/%s/1?header_digest",
		 tgt.port, tgt.iqn);
	expect_open(uri, -EINVAL);
	snprintf(uri, sizeof(uri), "iscsi://someone@127.0.0.1:%d/%s/1",
		 tgt.port, tgt.iqn);
	expect_open(uri, -EINVAL);
	snprintf(uri, sizeof(uri), "iscsi://127.0.0.1:%d/iqn.%0300d/1",
		 tgt.port, 7);
	expect_open(uri, -ENAMETOOLONG);
	/* Well formed, but nothing there. */
	snprintf(uri, sizeof(uri),
		 "iscsi://127.0.0.1:%d/iqn.2026-11.org.vstack.test:nosuch/1",
		 tgt.port);
	expect_open(uri, -ENOENT);
	snprintf(uri, sizeof(uri), "iscsi://127.0.0.1:%d/%s/7", tgt.port,
		 tgt.iqn);
	expect_open(uri, -ENOENT);
	snprintf(uri, sizeof(uri), "iscsi://127.0.0.1:%d/%s/1", closed,
		 tgt.iqn);
	expect_open(uri, -ECONNREFUSED);
}

static int
listen_socket(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_OK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	CHECK_OK(listen(fd, 8));
	CHECK_OK(getsockname(fd, (struct sockaddr *)&sa, &len));
	*port = ntohs(sa.sin_port);
	return fd;
}

static void
test_silent_and_rude_listeners(void)
{
	struct lun_config cfg = { .io_timeout_ms = 500 };
	struct lun *lun;
	char uri[600];
	double t0, dt;
	int port, fd = listen_socket(&port);
	pid_t child;
	int rc;

	/* The kernel completes the handshake; nobody ever answers. */
	snprintf(uri, sizeof(uri), "iscsi://127.0.0.1:%d/%s/1", port, tgt.iqn);
	t0 = now_s();
	CHECK_EQ(lun_open(uri, &cfg, &lun), -ETIMEDOUT);
	dt = now_s() - t0;
	printf("   silent listener: -ETIMEDOUT after %.3f s\n", dt);
	CHECK(dt >= 0.45 && dt < 1.5);
	/* One that accepts and hangs up at once. */
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;) {
			int c = accept(fd, NULL, NULL);

			if (c >= 0)
				close(c);
		}
	}
	t0 = now_s();
	rc = lun_open(uri, &cfg, &lun);
	dt = now_s() - t0;
	printf("   hanging-up listener: %s after %.3f s\n", strerror(-rc), dt);
	CHECK(rc < 0 && rc != -ETIMEDOUT);
	CHECK(dt < 0.45);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(fd);
}

/* ---- deadlines and lost sessions ---- */

static void
test_stopped_target_deadlines(void)
{
	struct lun_config dead_cfg = { .io_timeout_ms = 700,
				       .no_reconnect = true };
	struct lun_config re_cfg = { .io_timeout_ms = 700 };
	struct lun *a = open_ok(tgt.url[0], &dead_cfg);
	struct lun *b = open_ok(tgt.url[0], &re_cfg);
	uint8_t *buf = xalloc(4096), *x = xalloc(512), *y = xalloc(512);
	struct lun_stats st;
	double t0, dt;

	memset(x, 'x', 512);
	memset(y, 'y', 512);
	CHECK_OK(lun_write(b, 41 << 20, x, 512, LUN_IO_FUA));
	test_pattern_fill(buf, 4096, 77, 0);
	CHECK_OK(lun_write(b, 40 << 20, buf, 4096, LUN_IO_FUA));
	CHECK_OK(kill(tgt.pid, SIGSTOP));
	t0 = now_s();
	CHECK_EQ(lun_read(a, 40 << 20, buf, 4096), -ETIMEDOUT);
	dt = now_s() - t0;
	printf("   stopped target: -ETIMEDOUT after %.3f s\n", dt);
	CHECK(dt >= 0.65 && dt < 1.5);
	/* no_reconnect: the handle is finished. */
	t0 = now_s();
	CHECK_EQ(lun_read(a, 40 << 20, buf, 4096), -ENOTCONN);
	CHECK_EQ(lun_write(a, 40 << 20, buf, 4096, 0), -ENOTCONN);
	CHECK(now_s() - t0 < 0.1);
	CHECK_EQ(lun_write(b, 40 << 20, buf, 4096, 0), -ETIMEDOUT);
	/* An ATS against a target that does not answer times out too. */
	t0 = now_s();
	CHECK_EQ(lun_ats(b, 41 << 20, x, y, 512), -ETIMEDOUT);
	dt = now_s() - t0;
	CHECK(dt >= 0.65 && dt < 1.5);
	CHECK_OK(kill(tgt.pid, SIGCONT));
	/* A reconnecting handle comes back, registered again. */
	memset(buf, 0, 4096);
	CHECK_OK(lun_read(b, 40 << 20, buf, 4096));
	CHECK(test_pattern_check(buf, 4096, 77, 0));
	lun_get_stats(b, &st);
	CHECK_EQ(st.reconnects, 1);
	CHECK_EQ(st.timeouts, 1);
	CHECK(lun_pr_key(b) != 0);
	CHECK_OK(lun_ats(b, 41 << 20, x, y, 512));
	CHECK_EQ(lun_read(a, 40 << 20, buf, 4096), -ENOTCONN);
	lun_close(a);
	lun_close(b);
	free(buf);
	free(x);
	free(y);
}

static void
flag_done(struct lun_io *io)
{
	*(bool *)io->priv = true;
}

/*
 * An event loop sleeping on the completion fd still sees a request
 * time out: the fd's timer wakes it at the deadline, not the socket.
 */
static void
test_event_fd_deadline(void)
{
	struct lun_config cfg = { .io_timeout_ms = 700, .no_reconnect = true };
	struct lun *a = open_ok(tgt.url[0], &cfg);
	uint8_t *buf = xalloc(4096);
	struct pollfd p = { .events = POLLIN };
	unsigned int wakeups = 0;
	struct lun_io io;
	bool done = false;
	double t0, dt;

	p.fd = lun_event_fd(a);
	CHECK(p.fd >= 0);
	CHECK_OK(kill(tgt.pid, SIGSTOP));
	lun_io_prep_read(&io, 40 << 20, buf, 4096);
	io.done = flag_done;
	io.priv = &done;
	t0 = now_s();
	CHECK_OK(lun_submit(a, &io));
	CHECK_OK(lun_kick(a));
	while (!done) {
		CHECK_EQ(poll(&p, 1, 5000), 1);
		CHECK(lun_poll(a, 0, 0) >= 0);
		wakeups++;
		CHECK(wakeups < 50);
	}
	dt = now_s() - t0;
	CHECK_OK(kill(tgt.pid, SIGCONT));
	printf("   event fd: -ETIMEDOUT after %.3f s, %u wake-ups\n", dt,
	       wakeups);
	CHECK_EQ(io.result, -ETIMEDOUT);
	CHECK(dt >= 0.65 && dt < 1.5);
	lun_close(a);
	free(buf);
}

struct load {
	struct lun *lun;
	struct lun_io io[16];
	uint8_t *buf;
	bool running;
	unsigned int ok, inflight, n;
	int errs[8];     /* first errors seen */
	unsigned int nerr;
};

static void load_issue(struct load *ld, unsigned int i);

static void
load_done(struct lun_io *io)
{
	struct load *ld = io->priv;

	ld->inflight--;
	if (io->result >= 0)
		ld->ok++;
	else if (ld->nerr < ARRAY_SIZE(ld->errs))
		ld->errs[ld->nerr++] = (int)io->result;
	else
		ld->nerr++;
	if (ld->running)
		load_issue(ld, (unsigned int)(io - ld->io));
}

static void
load_issue(struct load *ld, unsigned int i)
{
	uint64_t off = (4ull << 20) + (uint64_t)((ld->n++ * 7 + i) % 512) * 4096;

	if (i % 2)
		lun_io_prep_write(&ld->io[i], off, ld->buf + i * 4096, 4096, 0);
	else
		lun_io_prep_read(&ld->io[i], off, ld->buf + i * 4096, 4096);
	ld->io[i].done = load_done;
	ld->io[i].priv = ld;
	CHECK_OK(lun_submit(ld->lun, &ld->io[i]));
	ld->inflight++;
}

static void
load_start(struct load *ld, struct lun *lun)
{
	memset(ld, 0, sizeof(*ld));
	ld->lun = lun;
	ld->buf = xalloc(16 * 4096);
	ld->running = true;
	for (unsigned int i = 0; i < 16; i++)
		load_issue(ld, i);
}

static bool
has_err(const struct load *ld, int err)
{
	for (unsigned int i = 0; i < MIN(ld->nerr, ARRAY_SIZE(ld->errs)); i++)
		if (ld->errs[i] == err)
			return true;
	return false;
}

static void
kill_target(struct tgt_fixture *t)
{
	CHECK_OK(kill(t->pid, SIGKILL));
	CHECK(waitpid(t->pid, NULL, 0) == t->pid);
	t->pid = 0;
}

static void
test_target_killed_mid_io(void)
{
	struct lun_config dead_cfg = { .io_timeout_ms = 1500,
				       .no_reconnect = true };
	struct lun_config re_cfg = { .io_timeout_ms = 1500 };
	struct tgt_fixture t2;
	char dir[600];
	struct load la, lb;
	struct lun *a, *b;
	uint8_t *buf = xalloc(1 << 20);
	double t0, dt;

	snprintf(dir, sizeof(dir), "%s/t2", test_tmpdir());
	CHECK_OK(mkdir(dir, 0700) == 0 ? 0 : -errno);
	CHECK_OK(tgt_start(&t2, dir, 1, 16 << 20));
	a = open_ok(t2.url[0], &dead_cfg);
	b = open_ok(t2.url[0], &re_cfg);
	test_pattern_fill(buf, 1 << 20, 9, 0);
	CHECK_OK(lun_write(a, 0, buf, 1 << 20, 0));
	CHECK_OK(lun_flush(a));
	load_start(&la, a);
	load_start(&lb, b);
	t0 = now_s();
	while (now_s() - t0 < 0.2) {
		CHECK(lun_poll(a, 0, 0) >= 0);
		CHECK(lun_poll(b, 1, 5) >= 0);
	}
	CHECK(la.ok > 0 && lb.ok > 0);
	kill_target(&t2);
	t0 = now_s();
	la.running = lb.running = false;
	while (la.inflight || lb.inflight) {
		CHECK(lun_poll(a, 0, 0) >= 0);
		CHECK(lun_poll(b, 1, 10) >= 0);
		CHECK(now_s() - t0 < 3.0);
	}
	dt = now_s() - t0;
	printf("   killed mid-I/O: all in flight done after %.3f s; "
	       "no_reconnect: %u errors, reconnecting: %u errors\n", dt,
	       la.nerr, lb.nerr);
	CHECK(la.nerr > 0 && has_err(&la, -ENOTCONN));
	CHECK(lb.nerr > 0);
	for (unsigned int i = 0; i < MIN(lb.nerr, 8u); i++)
		CHECK(lb.errs[i] == -ETIMEDOUT || lb.errs[i] == -ECONNRESET);
	CHECK_EQ(lun_read(a, 0, buf, 4096), -ENOTCONN);
	t0 = now_s();
	CHECK_EQ(lun_read(b, 0, buf, 4096), -ETIMEDOUT);
	CHECK(now_s() - t0 < 2.5);
	/* The target comes back on the same port: only 'b' follows. */
	CHECK_OK(tgt_restart(&t2));
	memset(buf, 0, 1 << 20);
	CHECK_OK(lun_read(b, 0, buf, 1 << 20));
	CHECK(test_pattern_check(buf, 1 << 20, 9, 0));
	CHECK_EQ(lun_read(a, 0, buf, 4096), -ENOTCONN);
	lun_close(a);
	lun_close(b);
	free(la.buf);
	free(lb.buf);
	free(buf);
	tgt_stop(&t2);
}

/*
 * A read and a write are on the wire when the target dies and comes back:
 * the read is sent again on the new session, the write is not.
 */
static void
test_reconnect_reissues_reads_only(void)
{
	struct lun_config cfg = { .io_timeout_ms = 5000 };
	struct tgt_fixture t3;
	struct lun_io rd, wr;
	bool rd_done = false, wr_done = false;
	uint8_t *rbuf = xalloc(4096), *wbuf = xalloc(4096);
	char dir[600];
	struct lun *lun;
	double t0;

	snprintf(dir, sizeof(dir), "%s/t3", test_tmpdir());
	CHECK_OK(mkdir(dir, 0700) == 0 ? 0 : -errno);
	CHECK_OK(tgt_start(&t3, dir, 1, 16 << 20));
	lun = open_ok(t3.url[0], &cfg);
	test_pattern_fill(rbuf, 4096, 3, 8192);
	CHECK_OK(lun_write(lun, 8192, rbuf, 4096, LUN_IO_FUA));
	memset(rbuf, 0, 4096);
	CHECK_OK(kill(t3.pid, SIGSTOP));
	lun_io_prep_read(&rd, 8192, rbuf, 4096);
	rd.done = flag_done;
	rd.priv = &rd_done;
	lun_io_prep_write(&wr, 16384, wbuf, 4096, 0);
	wr.done = flag_done;
	wr.priv = &wr_done;
	CHECK_OK(lun_submit(lun, &rd));
	CHECK_OK(lun_submit(lun, &wr));
	/* Put both on the wire. */
	for (int i = 0; i < 5; i++)
		CHECK(lun_poll(lun, 0, 0) >= 0);
	kill_target(&t3);
	CHECK_OK(tgt_restart(&t3));
	t0 = now_s();
	while (!rd_done || !wr_done) {
		CHECK(lun_poll(lun, 1, 100) >= 0);
		CHECK(now_s() - t0 < 6);
	}
	CHECK_EQ(rd.result, 4096);
	CHECK(test_pattern_check(rbuf, 4096, 3, 8192));
	CHECK_EQ(wr.result, -ECONNRESET);
	lun_close(lun);
	tgt_stop(&t3);
	free(rbuf);
	free(wbuf);
}

/* ---- CHAP ---- */

static void
setup_chap_target(void)
{
	char args[1024], file[600];

	snprintf(chap_iqn, sizeof(chap_iqn), "%s-chap", tgt.iqn);
	snprintf(file, sizeof(file), "%s/chap.img", tgt.dir);
	CHECK_OK(test_make_file(file, 16 << 20));
	snprintf(args, sizeof(args), "--op new --mode target --tid 2 -T %s",
		 chap_iqn);
	CHECK_OK(tgtadm(&tgt, args));
	snprintf(args, sizeof(args),
		 "--op new --mode logicalunit --tid 2 --lun 1 -b '%s'", file);
	CHECK_OK(tgtadm(&tgt, args));
	CHECK_OK(tgtadm(&tgt, "--op bind --mode target --tid 2 -I ALL"));
	CHECK_OK(tgtadm(&tgt, "--op new --mode account --user " CHAP_USER
			      " --password " CHAP_PASS));
	CHECK_OK(tgtadm(&tgt, "--op bind --mode account --tid 2 --user "
			      CHAP_USER));
}

static void
test_chap(void)
{
	char uri[600];
	uint8_t *buf = xalloc(4096);
	struct lun *lun;

	setup_chap_target();
	snprintf(uri, sizeof(uri), "iscsi://%s%%%s@127.0.0.1:%d/%s/1",
		 CHAP_USER, CHAP_PASS, tgt.port, chap_iqn);
	lun = open_ok(uri, NULL);
	CHECK_OK(lun_read(lun, 0, buf, 4096));
	lun_close(lun);
	snprintf(uri, sizeof(uri), "iscsi://%s%%wrong-password-1@127.0.0.1:%d/%s/1",
		 CHAP_USER, tgt.port, chap_iqn);
	expect_open(uri, -EACCES);
	snprintf(uri, sizeof(uri), "iscsi://127.0.0.1:%d/%s/1", tgt.port,
		 chap_iqn);
	expect_open(uri, -EACCES);
	/* The same credentials from the environment. */
	setenv("LIBISCSI_CHAP_USERNAME", CHAP_USER, 1);
	setenv("LIBISCSI_CHAP_PASSWORD", CHAP_PASS, 1);
	lun = open_ok(uri, NULL);
	CHECK_OK(lun_read(lun, 0, buf, 4096));
	lun_close(lun);
	setenv("LIBISCSI_CHAP_PASSWORD", "wrong-password-2", 1);
	expect_open(uri, -EACCES);
	unsetenv("LIBISCSI_CHAP_USERNAME");
	unsetenv("LIBISCSI_CHAP_PASSWORD");
	free(buf);
}

/* ---- persistent reservations ---- */

static struct lun *
open_keyed(uint64_t key, uint32_t timeout_ms)
{
	struct lun_config cfg = { .pr_key = key, .io_timeout_ms = timeout_ms };

	return open_ok(tgt.url[2], &cfg);
}

static void
expect_keys(struct lun *lun, unsigned int n, bool reserved)
{
	struct lun_pr_state st;

	CHECK_OK(lun_pr_read(lun, &st));
	CHECK_EQ(st.nkeys, n);
	CHECK_EQ(st.reserved, reserved);
}

static bool
key_present(struct lun *lun, uint64_t key)
{
	struct lun_pr_state st;

	CHECK_OK(lun_pr_read(lun, &st));
	for (uint32_t i = 0; i < st.nkeys && i < ARRAY_SIZE(st.keys); i++)
		if (st.keys[i] == key)
			return true;
	return false;
}

static void
test_pr_fencing(void)
{
	struct lun_config plain = { .ats_method = LUN_ATS_NONE };
	struct lun *a = open_keyed(0xa1, 0), *b = open_keyed(0xb2, 0);
	struct lun *c = open_ok(tgt.url[2], &plain);
	uint8_t *x = xalloc(512), *y = xalloc(512);
	struct lun_pr_state st;
	struct lun_stats s;

	expect_keys(c, 2, false);
	CHECK_EQ(lun_pr_key(c), 0);
	CHECK_OK(lun_pr_reserve(b, LUN_PR_WRITE_EXCLUSIVE_REG_ONLY));
	/* Registrants write; the unregistered handle only reads. */
	CHECK_OK(lun_write(a, 0, x, 512, 0));
	CHECK_OK(lun_write(b, 0, x, 512, 0));
	CHECK_EQ(lun_write(c, 0, x, 512, 0), -EBADE);
	CHECK_OK(lun_read(c, 0, y, 512));
	/* B fences A (tgtd lacks PREEMPT AND ABORT: plain PREEMPT). */
	CHECK_OK(lun_pr_preempt(b, 0xa1, LUN_PR_WRITE_EXCLUSIVE_REG_ONLY, true));
	CHECK_EQ(lun_write(a, 0, x, 512, 0), -EBADE);
	memset(y, 'y', 512);
	CHECK_EQ(lun_ats(a, 0, x, y, 512), -EBADE);
	CHECK_OK(lun_read(a, 0, y, 512));
	CHECK(memcmp(x, y, 512) == 0);
	/* B still writes, and its ATS runs under the reservation it holds:
	 * a READ and a WRITE, no RESERVE or RELEASE. */
	CHECK_OK(lun_write(b, 512, x, 512, 0));
	memset(y, 'b', 512);
	lun_reset_stats(b);
	CHECK_OK(lun_ats(b, 0, x, y, 512));
	lun_get_stats(b, &s);
	CHECK_EQ(lun_stats_ios(&s), 2);
	CHECK_OK(lun_read(c, 0, x, 512));
	CHECK(memcmp(x, y, 512) == 0);
	CHECK_OK(lun_pr_read(c, &st));
	CHECK_EQ(st.nkeys, 1);
	CHECK_EQ(st.keys[0], 0xb2);
	CHECK(st.reserved);
	CHECK_EQ(st.type, LUN_PR_WRITE_EXCLUSIVE_REG_ONLY);
	CHECK_EQ(st.holder_key, 0xb2);
	CHECK_OK(lun_pr_release(b, LUN_PR_WRITE_EXCLUSIVE_REG_ONLY));
	lun_close(a);
	lun_close(b);
	/* B's registration was made by open and went with the handle. */
	expect_keys(c, 0, false);
	lun_close(c);
	free(x);
	free(y);
}

static void
drop_connection(const char *initiator)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "sid=$(tgtadm -C %d --lld iscsi --op show --mode conn --tid 1 "
		 "| awk '/^Session:/{s=$2} /Initiator: %s$/{print s}') && "
		 "[ -n \"$sid\" ] && tgtadm -C %d --lld iscsi --op delete "
		 "--mode conn --tid 1 --sid $sid --cid 0",
		 tgt.control_port, initiator, tgt.control_port);
	CHECK_OK(test_sh("%s", cmd));
}

/*
 * A reconnecting handle registers its key again on the new session, but
 * not if another host removed the key meanwhile: fencing sticks.
 */
static void
test_reconnect_keeps_fencing(void)
{
	struct lun_config fc = { .pr_key = 0xf1, .io_timeout_ms = 2000,
				 .initiator_iqn = "iqn.2026-11.org.vstack:fenced" };
	struct lun_config hc = { .pr_key = 0xf3, .io_timeout_ms = 2000,
				 .initiator_iqn = "iqn.2026-11.org.vstack:healthy" };
	struct lun *f = open_ok(tgt.url[2], &fc), *h = open_ok(tgt.url[2], &hc);
	struct lun *g = open_keyed(0xf2, 0);
	uint8_t *x = xalloc(512);
	struct lun_stats st;

	CHECK_OK(lun_write(f, 1024, x, 512, 0));
	CHECK_OK(lun_write(h, 1024, x, 512, 0));
	drop_connection(fc.initiator_iqn);
	drop_connection(hc.initiator_iqn);
	CHECK_OK(lun_pr_preempt(g, 0xf1, LUN_PR_WRITE_EXCLUSIVE_REG_ONLY, false));
	CHECK_OK(lun_pr_reserve(g, LUN_PR_WRITE_EXCLUSIVE_REG_ONLY));
	CHECK_EQ(lun_write(f, 1024, x, 512, 0), -EBADE);
	CHECK_EQ(lun_pr_key(f), 0);
	lun_get_stats(f, &st);
	CHECK_EQ(st.reconnects, 1);
	CHECK_OK(lun_write(h, 1024, x, 512, 0));
	CHECK_EQ(lun_pr_key(h), 0xf3);
	lun_get_stats(h, &st);
	CHECK_EQ(st.reconnects, 1);
	CHECK(!key_present(g, 0xf1));
	CHECK_OK(lun_pr_release(g, LUN_PR_WRITE_EXCLUSIVE_REG_ONLY));
	lun_close(f);
	lun_close(h);
	/* tgtd keeps the registration of h's first session: clear it. */
	CHECK_OK(lun_pr_preempt(g, 0xf3, LUN_PR_WRITE_EXCLUSIVE_REG_ONLY, false));
	lun_close(g);
	free(x);
}

/* ---- the PR-mutex ATS: a holder that died, one that was paused ---- */

static void
fill_sector(uint8_t *s, char c)
{
	memset(s, c, 512);
}

static void
test_ats_dead_holder_preempted(void)
{
	struct lun *w;
	uint8_t *a = xalloc(512), *b = xalloc(512);
	struct lun_stats st;
	pid_t child;
	double t0, dt;
	int status;

	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		/* Takes the ATS reservation and dies holding it. */
		struct lun *h = open_keyed(0xdead, 0);

		if (lun_pr_reserve(h, LUN_PR_WRITE_EXCLUSIVE_REG_ONLY) < 0)
			_exit(1);
		_exit(0);
	}
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	w = open_keyed(0xc3, 1500);
	CHECK(key_present(w, 0xdead));
	fill_sector(a, 'a');
	fill_sector(b, 'b');
	CHECK_OK(lun_write(w, 4096, a, 512, LUN_IO_FUA));
	t0 = now_s();
	CHECK_OK(lun_ats(w, 4096, a, b, 512));
	dt = now_s() - t0;
	lun_get_stats(w, &st);
	printf("   dead holder preempted: ATS took %.3f s, %llu retries\n", dt,
	       (unsigned long long)st.ats_retries);
	/* The stale limit is the I/O timeout; waiting stops at 1.5 x. */
	CHECK(dt >= 1.45 && dt < 2.25);
	CHECK(st.ats_retries > 0);
	CHECK(!key_present(w, 0xdead));
	expect_keys(w, 1, false);
	lun_close(w);
	free(a);
	free(b);
}

/*
 * A standing fencing reservation (its holder's key tagged as an anchor)
 * is never taken for a stuck ATS: a PR-mutex ATS times out instead of
 * preempting it, and the reservation stays.
 */
static void
test_ats_spares_anchor(void)
{
	const uint64_t anchor = (uint64_t)LUN_PR_ANCHOR_TAG << 32 | 0x77;
	uint8_t *a = xalloc(512), *b = xalloc(512);
	struct lun_pr_state st;
	struct lun *h, *w;
	double t0;

	fill_sector(a, 'a');
	fill_sector(b, 'b');
	h = open_keyed(anchor, 400);
	CHECK_OK(lun_pr_reserve(h, LUN_PR_WRITE_EXCLUSIVE_REG_ONLY));
	/* Registered by lun_pr_register(): stays after the close. */
	CHECK_OK(lun_pr_register(h, anchor));
	lun_close(h);
	w = open_keyed(0xd1, 400);
	CHECK_OK(lun_write(w, 12288, a, 512, LUN_IO_FUA));
	t0 = now_s();
	CHECK_EQ(lun_ats(w, 12288, a, b, 512), -ETIMEDOUT);
	CHECK(now_s() - t0 >= 0.5);
	CHECK_OK(lun_pr_read(w, &st));
	CHECK(st.reserved && st.holder_key == anchor);
	/* Clean up for the tests after: take it over, let it go. */
	CHECK_OK(lun_pr_preempt(w, anchor, LUN_PR_WRITE_EXCLUSIVE_REG_ONLY,
				false));
	CHECK_OK(lun_pr_release(w, LUN_PR_WRITE_EXCLUSIVE_REG_ONLY));
	CHECK_OK(lun_ats(w, 12288, a, b, 512));
	lun_close(w);
	free(a);
	free(b);
}

static void
test_ats_paused_holder(void)
{
	uint8_t *v0 = xalloc(512), *vp = xalloc(512), *vw = xalloc(512);
	uint8_t *r = xalloc(512);
	struct lun *w;
	int pfd[2], rc = 0;
	pid_t child;
	char ready;

	fill_sector(v0, '0');
	fill_sector(vp, 'p');
	fill_sector(vw, 'w');
	CHECK_OK(pipe(pfd));
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		struct lun *p = open_keyed(0xe5, 1500);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (lun_write(p, 8192, v0, 512, LUN_IO_FUA) < 0 ||
		    lun_pr_reserve(p, LUN_PR_WRITE_EXCLUSIVE_REG_ONLY) < 0)
			_exit(1);
		/* Mid-ATS, holding the reservation: freeze. */
		if (write(pfd[1], "r", 1) != 1)
			_exit(1);
		raise(SIGSTOP);
		rc = lun_ats(p, 8192, v0, vp, 512);
		if (write(pfd[1], &rc, sizeof(rc)) != sizeof(rc))
			_exit(1);
		lun_close(p);
		_exit(0);
	}
	CHECK_EQ(read(pfd[0], &ready, 1), 1);
	w = open_keyed(0xc4, 1500);
	CHECK_OK(lun_ats(w, 8192, v0, vw, 512));
	CHECK_OK(kill(child, SIGCONT));
	CHECK_EQ(read(pfd[0], &rc, sizeof(rc)), sizeof(rc));
	/* The resumed holder learns it was preempted; it writes nothing. */
	CHECK_EQ(rc, -EBADE);
	CHECK_OK(lun_read(w, 8192, r, 512));
	CHECK(memcmp(r, vw, 512) == 0);
	CHECK(waitpid(child, NULL, 0) == child);
	CHECK(!key_present(w, 0xe5));
	lun_close(w);
	close(pfd[0]);
	close(pfd[1]);
	free(v0);
	free(vp);
	free(vw);
	free(r);
}

static void
test_ats_race(void)
{
	lun_conformance_ats_race(tgt.url[2], NULL, 3, 2000, 16384);
}

int
main(void)
{
	int rc;

	rc = tgt_start(&tgt, test_tmpdir(), 3, LUN_BYTES);
	if (rc == TEST_SKIP)
		test_skip("no tgtd");
	CHECK_OK(rc);
	/* LUN 2 thin-provisioned, so UNMAP is advertised. */
	CHECK_OK(tgtadm(&tgt, "--op update --mode logicalunit --tid 1 --lun 2 "
			      "--params thin_provisioning=1"));
	RUN_TEST(test_conformance);
	RUN_TEST(test_conformance_thin);
	RUN_TEST(test_info_and_methods);
	RUN_TEST(test_bad_urls);
	RUN_TEST(test_silent_and_rude_listeners);
	RUN_TEST(test_stopped_target_deadlines);
	RUN_TEST(test_event_fd_deadline);
	RUN_TEST(test_target_killed_mid_io);
	RUN_TEST(test_reconnect_reissues_reads_only);
	RUN_TEST(test_chap);
	RUN_TEST(test_pr_fencing);
	RUN_TEST(test_reconnect_keeps_fencing);
	RUN_TEST(test_ats_dead_holder_preempted);
	RUN_TEST(test_ats_paused_holder);
	RUN_TEST(test_ats_spares_anchor);
	RUN_TEST(test_ats_race);
	tgt_stop(&tgt);
	test_tmpdir_remove();
	return 0;
}
