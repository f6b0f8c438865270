/* SPDX-License-Identifier: MIT */
/*
 * virtio-console: the test guest says hello on it and echoes every line
 * it receives. Over a Unix socket: the hello waits in the backlog until
 * a client connects; a burst of lines bigger than the device's input
 * buffer arrives whole (input pauses while the guest has no buffers);
 * "quit" ends the guest. To a file: the hello is there.
 */
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/vmm/vmtest.h"

#define LINES 50

static int
connect_to(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (strlen(path) >= sizeof(a.sun_path))
		return -1;
	memcpy(a.sun_path, path, strlen(path) + 1);
	for (int i = 0; i < 500; i++) {
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		usleep(10000);
	}
	close(fd);
	return -1;
}

/* Reads until 'buf' holds 'count' newlines or 10 s pass. */
static size_t
read_lines(int fd, char *buf, size_t cap, int count)
{
	size_t len = 0;
	int seen = 0;

	while (seen < count && len + 1 < cap) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 10000) <= 0)
			break;
		n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			seen += buf[len + i] == '\n';
		len += (size_t)n;
	}
	buf[len] = '\0';
	return len;
}

static void
test_unix_echo(void)
{
	static char out[65536];
	char sock[600], line[128], *burst, *p;
	struct vmt t;
	int fd, n = 0;

	snprintf(sock, sizeof(sock), "%s/con.sock", test_tmpdir());
	CHECK_OK(vmt_start(&t, "con", "console = unix:%s\ncmdline = console=30\n",
			   sock));
	CHECK(vmt_wait_serial(&t, "console: said hello", 20000));
	fd = connect_to(sock);
	CHECK(fd >= 0);
	read_lines(fd, out, sizeof(out), 1);
	CHECK(!strcmp(out, "console: hello from the test guest\n"));
	CHECK_EQ(write(fd, "ping\n", 5), 5);
	read_lines(fd, out, sizeof(out), 1);
	CHECK(!strcmp(out, "echo: ping\n"));
	/* 50 lines of 100 bytes at once: more than the device buffers. */
	burst = malloc(LINES * 101 + 1);
	for (int i = 0; i < LINES; i++) {
		memset(burst + i * 101, 'a' + i % 26, 100);
		burst[i * 101 + 100] = '\n';
	}
	CHECK_EQ(write(fd, burst, LINES * 101), LINES * 101);
	read_lines(fd, out, sizeof(out), LINES);
	for (p = out; (p = strstr(p, "echo: ")); p++) {
		memset(line, 'a' + n % 26, 100);
		CHECK(!memcmp(p + 6, line, 100) && p[106] == '\n');
		n++;
	}
	CHECK_EQ(n, LINES);
	CHECK_EQ(vmt_vmctl(&t, out, sizeof(out), "stats"), 0);
	CHECK(strstr(out, "console: virtio-console"));
	CHECK_EQ(write(fd, "quit\n", 5), 5);
	CHECK_EQ(vmt_wait(&t, 20000), 0);
	CHECK(vmt_count_serial(&t, ", quit") == 1);
	free(burst);
	close(fd);
}

static void
test_file(void)
{
	char path[600], *s;
	struct vmt t;

	snprintf(path, sizeof(path), "%s/console.log", test_tmpdir());
	CHECK_OK(vmt_start(&t, "confile", "console = file:%s\ncmdline = console=0\n",
			   path));
	CHECK_EQ(vmt_wait(&t, 20000), 0);
	s = vmt_slurp(path);
	CHECK(s && !strcmp(s, "console: hello from the test guest\n"));
	free(s);
}

int
main(int argc, char **argv)
{
	vmt_init(argc, argv);
	RUN_TEST(test_unix_echo);
	RUN_TEST(test_file);
	test_tmpdir_remove();
	return 0;
}
