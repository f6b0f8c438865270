/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the LUN layer's parsers of outside bytes: fault
 * rule lines (scripts) and write logs (files a crashed run left behind),
 * which are replayed onto an in-memory LUN. The first byte picks one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vfs-cluster/lun-faulty.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_rule(const uint8_t *data, size_t size)
{
	struct lun_fault_rule r;
	char *line = strndup((const char *)data, size);

	if (line) {
		lun_faulty_parse_rule(line, &r);
		free(line);
	}
}

static void
fuzz_writelog(const uint8_t *data, size_t size)
{
	struct lun_writelog *log;
	struct lun *lun;
	char path[64];
	int fd = memfd_create("wlog", MFD_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (lun_writelog_open(path, &log) == 0) {
			if (lun_open("mem:fuzz?size=1M", NULL, &lun) == 0) {
				for (unsigned int p = 0;
				     p <= lun_writelog_points(log) && p < 4; p++)
					(void)!lun_writelog_replay(log, lun, p,
								   p + 1);
				lun_close(lun);
			}
			lun_writelog_close(log);
		}
	}
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_writelog(data + 1, size - 1);
	else
		fuzz_rule(data + 1, size - 1);
	return 0;
}
