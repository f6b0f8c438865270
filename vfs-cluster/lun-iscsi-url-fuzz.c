/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for iSCSI URL checking (lun-iscsi-url.c), which must
 * keep every malformed URL away from libiscsi's parser (it dereferences a
 * query argument without '=') and never log a CHAP password. Seeds:
 * vfs-cluster/fuzz-seeds/lun-iscsi-url/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vfs-cluster/lun-iscsi-internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Every bad URL logs an error line: send the log (stdio's stderr) to
 * /dev/null. libFuzzer keeps the stream it captured at start and the
 * sanitizers write to file descriptor 2, so their reports still show.
 */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FILE *null = fopen("/dev/null", "w");

	if (null)
		stderr = null;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lun_iscsi *l = calloc(1, sizeof(*l));
	char *url = malloc(size + 1);
	const char *at, *pw, *name;

	if (!l || !url)
		abort();
	memcpy(url, data, size);
	url[size] = '\0';
	l->url = url;
	strcpy(l->initiator, "iqn.2026-11.org.vstack:fuzz");
	l->log_name = iscsi_url_redact(url);
	if (!l->log_name)
		abort();
	if (iscsi_url_parse(l) == 0) {
		if (!l->portal[0] || l->lun < 0 || l->lun > 16383)
			abort();
	}
	/* No password survives in what logs show. */
	name = l->log_name;
	if (strncmp(name, "iscsi://", 8) == 0) {
		at = strchr(name + 8, '@');
		if (at && at < name + 8 + strcspn(name + 8, "/?") &&
		    strcspn(name + 8, "%:") < (size_t)(at - name - 8))
			abort();
		pw = strstr(name, "target_password=");
		if (pw && strchr(name, '?') && strchr(name, '?') < pw &&
		    strncmp(pw + 16, "***", 3) != 0)
			abort();
	}
	free(l->log_name);
	free(url);
	free(l);
	return 0;
}
