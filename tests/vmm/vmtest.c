/* SPDX-License-Identifier: MIT */
/* VMM system-test fixtures; see vmtest.h. */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/pattern.h"
#include "tests/vmm/vmtest.h"
#include "vmm/vmm.h"

const char *vmt_vmm, *vmt_vmctl_path, *vmt_guest;
const char *vmt_vmm_option;
const char *vmt_vdisk, *vmt_vfs, *vmt_vsnap;

void
vmt_init(int argc, char **argv)
{
	int fd;

	if (argc < 4) {
		fprintf(stderr, "usage: %s VMM VMCTL TESTGUEST.BIN\n", argv[0]);
		exit(1);
	}
	vmt_vmm = argv[1];
	vmt_vmctl_path = argv[2];
	vmt_guest = argv[3];
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		test_skip("/dev/kvm: %s", strerror(errno));
	close(fd);
	signal(SIGPIPE, SIG_IGN);
}

void
vmt_init_tools(int argc, char **argv, bool with_vsnap)
{
	if (argc < (with_vsnap ? 7 : 6)) {
		fprintf(stderr, "usage: %s VMM VMCTL TESTGUEST.BIN VDISK "
			"VFS%s\n", argv[0], with_vsnap ? " VSNAP" : "");
		exit(1);
	}
	vmt_vdisk = argv[4];
	vmt_vfs = argv[5];
	vmt_vsnap = with_vsnap ? argv[6] : NULL;
}

bool
vmt_is_pvm(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

int
vmt_start(struct vmt *t, const char *name, const char *extra, ...)
{
	const char *base = test_tmpdir();
	char more[4096];
	va_list ap;
	FILE *f;
	int fd;

	va_start(ap, extra);
	vsnprintf(more, sizeof(more), extra, ap);
	va_end(ap);
	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "%s/%s", base, name);
	mkdir(t->dir, 0755);
	snprintf(t->cfg, sizeof(t->cfg), "%s/vm.cfg", t->dir);
	snprintf(t->serial, sizeof(t->serial), "%s/serial.log", t->dir);
	snprintf(t->ctl, sizeof(t->ctl), "%s/ctl.sock", t->dir);
	snprintf(t->log, sizeof(t->log), "%s/vmm.log", t->dir);
	unlink(t->serial);
	f = fopen(t->cfg, "w");
	if (!f)
		return -errno;
	/* Defaults first; 'extra' may replace serial and memory. */
	fprintf(f, "name = %s\ncontrol = %s\n", name, t->ctl);
	if (!strstr(more, "kernel ="))
		fprintf(f, "testguest = %s\n", vmt_guest);
	if (!strstr(more, "memory ="))
		fprintf(f, "memory = 64M\n");
	if (!strstr(more, "serial ="))
		fprintf(f, "serial = file:%s\n", t->serial);
	fputs(more, f);
	fclose(f);
	t->pid = fork();
	if (t->pid < 0)
		return -errno;
	if (t->pid == 0) {
		/* The VM dies with the test, whatever way the test ends. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(t->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		if (vmt_vmm_option)
			execl(vmt_vmm, vmt_vmm, "--log", "info", vmt_vmm_option,
			      t->cfg, (char *)NULL);
		else
			execl(vmt_vmm, vmt_vmm, "--log", "info", t->cfg,
			      (char *)NULL);
		_exit(127);
	}
	return 0;
}

int
vmt_wait(struct vmt *t, int timeout_ms)
{
	uint64_t end = clock_mono_ms() + (uint64_t)timeout_ms;
	int st;

	if (t->exited)
		return t->exit_code;
	for (;;) {
		pid_t r = waitpid(t->pid, &st, WNOHANG);

		if (r == t->pid) {
			t->exited = true;
			t->exit_code = WIFEXITED(st) ? WEXITSTATUS(st)
						     : 128 + WTERMSIG(st);
			return t->exit_code;
		}
		if (clock_mono_ms() > end)
			return -ETIMEDOUT;
		usleep(5000);
	}
}

char *
vmt_slurp(const char *path)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *nb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	/* Read to the end: /proc files report size 0. */
	while (fd >= 0 && buf && (n = read(fd, buf + len, cap - 1 - len)) > 0) {
		len += (size_t)n;
		if (len + 1 == cap) {
			nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	if (fd < 0 || !buf) {
		if (fd >= 0)
			close(fd);
		free(buf);
		return NULL;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

int
vmt_count_serial(struct vmt *t, const char *needle)
{
	char *s = vmt_slurp(t->serial), *p;
	int n = 0;

	for (p = s; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(s);
	return n;
}

bool
vmt_wait_serial(struct vmt *t, const char *needle, int timeout_ms)
{
	uint64_t end = clock_mono_ms() + (uint64_t)timeout_ms;

	while (clock_mono_ms() < end) {
		if (vmt_count_serial(t, needle) > 0)
			return true;
		if (vmt_wait(t, 0) >= 0)
			return vmt_count_serial(t, needle) > 0;
		usleep(5000);
	}
	return false;
}

void
vmt_kill(struct vmt *t)
{
	if (t->pid > 0 && !t->exited) {
		kill(t->pid, SIGKILL);
		vmt_wait(t, 5000);
	}
}

char *
vmt_ctl(struct vmt *t, const char *request)
{
	char *reply = NULL;

	if (vmm_control_call(t->ctl, request, 5000, &reply) < 0)
		return NULL;
	return reply;
}

int
vmt_vmctl(struct vmt *t, char *out, size_t outlen, const char *args, ...)
{
	char cmd[2048], a[1024];
	va_list ap;
	FILE *p;
	size_t n;
	int st;

	va_start(ap, args);
	vsnprintf(a, sizeof(a), args, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s %s %s", vmt_vmctl_path, t->ctl, a);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void
vmt_dump(struct vmt *t)
{
	char *s = vmt_slurp(t->log);

	fprintf(stderr, "--- vmm stderr (%s):\n%s", t->log, s ? s : "");
	free(s);
	s = vmt_slurp(t->serial);
	fprintf(stderr, "--- serial (%s):\n%s\n---\n", t->serial, s ? s : "");
	free(s);
}

int64_t
vmt_check_image(const char *path, uint64_t seed)
{
	uint64_t buf[8192], off = 0, size;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) < 0)
		return 0;
	size = (uint64_t)st.st_size;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n / 8; i++, off += 8) {
			uint64_t want = 0;

			if (off < size - 65536)
				pattern_fill(&want, 8, seed, off);
			if (buf[i] != want) {
				close(fd);
				return (int64_t)off;
			}
		}
	}
	close(fd);
	return -1;
}

int64_t
vmt_check_disk(const char *vdisk, const char *disk, uint64_t seed)
{
	char raw[700];
	int64_t bad;

	snprintf(raw, sizeof(raw), "%s/export.raw", test_tmpdir());
	unlink(raw);
	CHECK_EQ(test_sh("%s export %s %s --format raw >/dev/null", vdisk,
			 disk, raw), 0);
	bad = vmt_check_image(raw, seed);
	if (bad >= 0)
		fprintf(stderr, "%s does not hold pattern %llu (byte %lld)\n",
			disk, (unsigned long long)seed, (long long)bad);
	unlink(raw);
	return bad;
}
