/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a whole NBD client session. The input is what the
 * client sends (flags, options, requests); one thread feeds it into a
 * socketpair, another drains the replies, and the real server session
 * runs on the other end against a small thin disk. The request and
 * option parsers are also fed the raw input directly.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vdisk/nbd-proto.h"
#include "vdisk/nbd-server.h"
#include "vdisk/vdisk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vdisk *disk;
static char disk_dir[] = "/tmp/vdisk-nbd-fuzz-XXXXXX";

static void
cleanup(void)
{
	char path[64];

	vdisk_close(disk);
	disk = NULL;
	snprintf(path, sizeof(path), "%s/d.vmdk", disk_dir);
	if (vdisk_remove(path) == 0)
		rmdir(disk_dir);
}

struct feed {
	int fd;
	const uint8_t *data;
	size_t size;
};

static void *
feeder(void *arg)
{
	struct feed *f = arg;
	size_t done = 0;

	while (done < f->size) {
		ssize_t n = send(f->fd, f->data + done, f->size - done,
				 MSG_NOSIGNAL);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	shutdown(f->fd, SHUT_WR);
	return NULL;
}

static void *
drainer(void *arg)
{
	char buf[65536];
	int fd = *(int *)arg;

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

static void
open_disk(void)
{
	struct vdisk_create_opts o = { .capacity_bytes = 1 << 20 };
	char path[64];

	if (!mkdtemp(disk_dir))
		abort();
	snprintf(path, sizeof(path), "%s/d.vmdk", disk_dir);
	if (vdisk_create(path, &o) < 0 || vdisk_open(path, 0, &disk) < 0)
		abort();
	atexit(cleanup);
}

static void
parsers(const uint8_t *data, size_t size)
{
	struct nbd_export_limits lim = { .size = 1 << 20, .min_block = 512,
					 .structured = true };
	static struct nbd_opt_info info;
	static struct nbd_opt_meta meta;
	struct nbd_req r;

	if (size >= NBD_REQ_BYTES && nbd_req_parse(data, &r) == 0)
		nbd_req_check(&r, &lim);
	nbd_opt_info_parse(data, size, &info);
	nbd_opt_meta_parse(data, size, &meta);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vdisk_nbd_opts o = { .ready_fd = -1 };
	struct feed f = { .data = data, .size = size };
	pthread_t tf, td;
	int sv[2];

	if (!disk)
		open_disk();
	parsers(data, size);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	f.fd = sv[1];
	pthread_create(&tf, NULL, feeder, &f);
	pthread_create(&td, NULL, drainer, &sv[1]);
	vdisk_nbd_session(disk, sv[0], &o);
	close(sv[0]);
	pthread_join(tf, NULL);
	pthread_join(td, NULL);
	close(sv[1]);
	return 0;
}
