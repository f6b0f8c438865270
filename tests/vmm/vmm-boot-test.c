/* SPDX-License-Identifier: MIT */
/*
 * The real VMM boots the test guest under KVM: serial output, PCI
 * enumeration, exit codes, configuration errors, the serial console on
 * a Unix socket.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tests/vmm/vmtest.h"

static void
test_boot_pci(void)
{
	struct vmt t;
	char *s;

	CHECK_OK(vmt_start(&t, "pci", "cmdline = pci\n"));
	if (vmt_wait(&t, 10000) != 0)
		vmt_dump(&t);
	CHECK_EQ(t.exit_code, 0);
	s = vmt_slurp(t.serial);
	CHECK(s && strstr(s, "testguest: up, 64 MiB"));
	CHECK(strstr(s, "1b36:0008 class 060000"));   /* host bridge */
	CHECK(strstr(s, "1af4:1045 class 050000"));   /* balloon */
	CHECK(strstr(s, "testguest: done"));
	free(s);
}

static void
test_guest_failure_is_exit_1(void)
{
	struct vmt t;

	/* 'blk' without a disk: the guest reports failure. */
	CHECK_OK(vmt_start(&t, "fail", "cmdline = blk\nballoon = false\n"));
	CHECK_EQ(vmt_wait(&t, 10000), 1);
	CHECK(vmt_count_serial(&t, "no virtio-blk device") == 1);
}

static void
test_config_errors(void)
{
	struct vmt t;
	char *log;

	CHECK_OK(vmt_start(&t, "badcfg", "vcpus = lots\n"));
	CHECK_EQ(vmt_wait(&t, 10000), 2);
	log = vmt_slurp(t.log);
	CHECK(log && strstr(log, "vm.cfg:6: key 'vcpus': expected a number"));
	free(log);
	CHECK_OK(vmt_start(&t, "nodisk", "disk0 = /nonexistent/disk.img\n"));
	CHECK_EQ(vmt_wait(&t, 10000), 1);
	log = vmt_slurp(t.log);
	CHECK(log && strstr(log, "disk0: /nonexistent/disk.img: No such file"));
	free(log);
}

static void
test_serial_unix_socket(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char path[600], buf[4096];
	size_t got = 0;
	struct vmt t;
	int fd = -1;

	snprintf(path, sizeof(path), "%s/con.sock", test_tmpdir());
	CHECK_OK(vmt_start(&t, "unix", "serial = unix:%s\ncmdline = ticks=3 stay\n",
			   path));
	CHECK(strlen(path) < sizeof(a.sun_path));
	memcpy(a.sun_path, path, strlen(path) + 1);
	for (int i = 0; i < 200 && fd < 0; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			close(fd);
			fd = -1;
			usleep(10000);
		}
	}
	CHECK(fd >= 0);
	/* Early output waited in the backlog for us. */
	while (got < sizeof(buf) - 1 && !strstr(buf, "tick 2")) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);

		CHECK(n > 0);
		got += (size_t)n;
		buf[got] = '\0';
	}
	CHECK(strstr(buf, "testguest: up"));
	close(fd);
	vmt_kill(&t);
}

static void
test_start_to_first_line(void)
{
	struct timespec t0, t1;
	struct vmt t;
	double ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_OK(vmt_start(&t, "fast", "cmdline = stay\n"));
	CHECK(vmt_wait_serial(&t, "testguest: up", 5000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	     (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("   start to first serial line: %.1f ms (polled every 5 ms)\n", ms);
	vmt_kill(&t);
}

int
main(int argc, char **argv)
{
	vmt_init(argc, argv);
	RUN_TEST(test_boot_pci);
	RUN_TEST(test_guest_failure_is_exit_1);
	RUN_TEST(test_config_errors);
	RUN_TEST(test_serial_unix_socket);
	RUN_TEST(test_start_to_first_line);
	test_tmpdir_remove();
	return 0;
}
