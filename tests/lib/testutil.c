/* SPDX-License-Identifier: MIT */
/* Test helpers and shared fixtures; see testutil.h. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/pattern.h"
#include "tests/lib/testutil.h"

static char tmpdir[512];

void
test_skip(const char *fmt, ...)
{
	va_list ap;

	printf("SKIP: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(TEST_SKIP);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
test_run(const char *name, void (*fn)(void))
{
	double t0 = now_s();

	printf("-- %s\n", name);
	fflush(stdout);
	fn();
	printf("   ok (%.3f s)\n", now_s() - t0);
	fflush(stdout);
}

bool
test_is_root(void)
{
	return geteuid() == 0;
}

bool
test_is_sanitized(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return true;
#endif
#endif
	return false;
}

void
test_require_root(void)
{
	if (!test_is_root())
		test_skip("needs root");
}

const char *
test_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (tmpdir[0])
		return tmpdir;
	snprintf(tmpdir, sizeof(tmpdir), "%s/vstack-test.XXXXXX",
		 base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		exit(1);
	}
	/* Failed checks exit(1): clean up then too, unless asked not to. */
	if (!getenv("KEEP_TEST_TMPDIR"))
		atexit(test_tmpdir_remove);
	return tmpdir;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

void
test_tmpdir_remove(void)
{
	if (!tmpdir[0])
		return;
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

int
test_make_file(const char *path, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		err = -errno;
	close(fd);
	return err;
}

void
test_pattern_fill(void *buf, size_t len, uint64_t seed, uint64_t offset)
{
	pattern_fill(buf, len, seed, offset);
}

bool
test_pattern_check(const void *buf, size_t len, uint64_t seed,
		   uint64_t offset)
{
	return pattern_check(buf, len, seed, offset);
}

int
test_free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd, port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		port = -errno;
	} else {
		port = ntohs(sa.sin_port);
	}
	close(fd);
	return port;
}

int
test_sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

bool
test_have_program(const char *name)
{
	const char *path = getenv("PATH");
	char buf[1024];

	if (strchr(name, '/'))
		return access(name, X_OK) == 0;
	if (!path)
		path = "/usr/sbin:/usr/bin:/sbin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name);
		if (access(buf, X_OK) == 0)
			return true;
		path += n + (path[n] == ':');
	}
	/* Debian keeps tgtd in sbin, which a non-login PATH may lack. */
	snprintf(buf, sizeof(buf), "/usr/sbin/%s", name);
	return access(buf, X_OK) == 0;
}

/* ---- tgtd ---- */

static int
tgtadm(const struct tgt_fixture *t, const char *args)
{
	return test_sh("tgtadm -C %d --lld iscsi %s >>'%s/tgtadm.log' 2>&1",
		       t->control_port, args, t->dir);
}

/*
 * tgtd's management socket is /var/run/tgtd/socket.N with N <= 32767;
 * derive N from the portal port and step past names in use.
 */
static int
pick_control_port(int port)
{
	char path[64];

	for (int n = 1000 + port % 31000, i = 0; i < 31000; i++) {
		snprintf(path, sizeof(path), "/var/run/tgtd/socket.%d", n);
		if (access(path, F_OK) < 0)
			return n;
		n = n + 1 > 31999 ? 1000 : n + 1;
	}
	return 1000 + port % 31000;
}

static pid_t
spawn_tgtd(const struct tgt_fixture *t)
{
	char portal[64], ctl[16], log[600];
	pid_t pid = fork();
	int fd;

	if (pid != 0)
		return pid;
	/* Die with the test, however it ends. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(portal, sizeof(portal), "portal=127.0.0.1:%d", t->port);
	snprintf(ctl, sizeof(ctl), "%d", t->control_port);
	snprintf(log, sizeof(log), "%s/tgtd.log", t->dir);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execlp("tgtd", "tgtd", "-f", "--iscsi", portal, "-C", ctl,
	       (char *)NULL);
	execl("/usr/sbin/tgtd", "tgtd", "-f", "--iscsi", portal, "-C", ctl,
	      (char *)NULL);
	_exit(127);
}

static int
wait_ready(const struct tgt_fixture *t)
{
	for (int i = 0; i < 100; i++) {
		int st;

		if (waitpid(t->pid, &st, WNOHANG) == t->pid)
			return -ECHILD;
		if (test_sh("tgtadm -C %d --op show --mode sys >/dev/null 2>&1",
			    t->control_port) == 0)
			return 0;
		usleep(50000);
	}
	return -ETIMEDOUT;
}

static int
tgt_configure(struct tgt_fixture *t, unsigned int nluns, uint64_t lun_bytes)
{
	char args[1024];
	int err;

	snprintf(args, sizeof(args), "--op new --mode target --tid 1 -T %s",
		 t->iqn);
	if (tgtadm(t, args) != 0)
		return -EIO;
	for (unsigned int i = 0; i < nluns; i++) {
		snprintf(t->file[i], sizeof(t->file[i]), "%s/lun%u.img", t->dir,
			 i + 1);
		/* lun_bytes 0: a restart, keep the files and their data. */
		err = lun_bytes ? test_make_file(t->file[i], lun_bytes) : 0;
		if (err < 0)
			return err;
		snprintf(args, sizeof(args),
			 "--op new --mode logicalunit --tid 1 --lun %u -b '%s'",
			 i + 1, t->file[i]);
		if (tgtadm(t, args) != 0)
			return -EIO;
		snprintf(t->url[i], sizeof(t->url[i]), "iscsi://127.0.0.1:%d/%s/%u",
			 t->port, t->iqn, i + 1);
	}
	t->nluns = nluns;
	if (tgtadm(t, "--op bind --mode target --tid 1 -I ALL") != 0)
		return -EIO;
	return 0;
}

int
tgt_start(struct tgt_fixture *t, const char *dir, unsigned int nluns,
	  uint64_t lun_bytes)
{
	int err;

	memset(t, 0, sizeof(*t));
	if (!test_is_root()) {
		printf("tgtd needs root\n");
		return TEST_SKIP;
	}
	if (!test_have_program("tgtd") || !test_have_program("tgtadm")) {
		printf("tgtd is not installed (Debian package tgt)\n");
		return TEST_SKIP;
	}
	if (nluns == 0 || nluns > TGT_MAX_LUNS)
		return -EINVAL;
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	for (int attempt = 0; attempt < 5; attempt++) {
		t->port = test_free_port();
		if (t->port < 0)
			return t->port;
		t->control_port = pick_control_port(t->port);
		snprintf(t->iqn, sizeof(t->iqn),
			 "iqn.2026-11.org.vstack.test:t%d", t->port);
		t->pid = spawn_tgtd(t);
		if (t->pid < 0)
			return -errno;
		err = wait_ready(t);
		if (err == 0)
			break;
		/* Lost the port to someone else: try another. */
		tgt_stop(t);
	}
	if (err < 0)
		return err;
	err = tgt_configure(t, nluns, lun_bytes);
	if (err < 0) {
		fprintf(stderr, "tgtd configuration failed; see %s/tgtadm.log\n",
			t->dir);
		tgt_stop(t);
	}
	return err;
}

int
tgt_restart(struct tgt_fixture *t)
{
	int err;

	if (t->pid > 0)
		return -EBUSY;
	t->pid = spawn_tgtd(t);
	if (t->pid < 0)
		return -errno;
	err = wait_ready(t);
	if (err == 0)
		err = tgt_configure(t, t->nluns, 0);
	if (err < 0)
		tgt_stop(t);
	return err;
}

void
tgt_stop(struct tgt_fixture *t)
{
	char path[128];
	int st;

	if (t->pid <= 0)
		return;
	/* tgtd -f ignores SIGTERM, and holds nothing a kill could hurt. */
	kill(t->pid, SIGKILL);
	waitpid(t->pid, &st, 0);
	t->pid = 0;
	snprintf(path, sizeof(path), "/var/run/tgtd/socket.%d", t->control_port);
	unlink(path);
	snprintf(path, sizeof(path), "/var/run/tgtd/socket.%d.lock",
		 t->control_port);
	unlink(path);
}

/* ---- network namespaces ---- */

int
netns_create(const char *name, char *out, size_t outlen)
{
	snprintf(out, outlen, "vt%d-%s", (int)getpid(), name);
	if (test_sh("ip netns add '%s' 2>/dev/null", out) != 0)
		return -EIO;
	if (test_sh("ip -n '%s' link set lo up", out) != 0) {
		netns_destroy(out);
		return -EIO;
	}
	return 0;
}

void
netns_destroy(const char *full_name)
{
	test_sh("ip netns del '%s' 2>/dev/null", full_name);
}

/* ---- hugepages ---- */

static long
read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

long
hugepages_reserve(long pages)
{
	const char *dir = "/sys/kernel/mm/hugepages/hugepages-2048kB";
	char path[128];
	long total, free_pages;
	FILE *f;

	snprintf(path, sizeof(path), "%s/free_hugepages", dir);
	free_pages = read_long(path);
	if (free_pages < 0 || free_pages >= pages)
		return free_pages < 0 ? 0 : free_pages;
	snprintf(path, sizeof(path), "%s/nr_hugepages", dir);
	total = read_long(path);
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%ld", total + (pages - free_pages));
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/free_hugepages", dir);
	free_pages = read_long(path);
	return free_pages < 0 ? 0 : free_pages;
}
