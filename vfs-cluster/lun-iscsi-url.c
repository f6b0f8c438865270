/* SPDX-License-Identifier: MIT */
/*
 * Checking an iSCSI URL before anything connects:
 * iscsi://[user[%pass]@]host[:port]/target-iqn/lun[?arg=value&...].
 * libiscsi's iscsi_parse_full_url() does the parsing; this adds what it
 * lets through (it truncates past 255 characters, dereferences a query
 * argument without '=', accepts negative LUNs and an empty host, and
 * silently drops CHAP for a user without a password), and makes the
 * URL's password-free form for log lines. Fuzzed by
 * lun-iscsi-url-fuzz.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "vfs-cluster/lun-iscsi-internal.h"

#define ISCSI_MAX_URL 255

static int
check_url(const char *url)
{
	const char *p, *q;

	if (strlen(url) > ISCSI_MAX_URL)
		return -ENAMETOOLONG;
	if (strncmp(url, "iscsi://", 8) != 0)
		return -EINVAL;
	/* libiscsi trusts every query argument to have a value. */
	q = strchr(url, '?');
	for (p = q; p && *p; p = strchr(p + 1, '&')) {
		const char *end = strchr(p + 1, '&');
		const char *eq = strchr(p + 1, '=');

		if (!eq || (end && eq > end) || eq == p + 1)
			return -EINVAL;
	}
	return 0;
}

char *
iscsi_url_redact(const char *url)
{
	const char *at = strchr(url + 8, '@');
	const char *slash = strchr(url + 8, '/');
	char *out;

	if (!at || (slash && at > slash))
		return strdup(url);
	out = malloc(strlen(url) + 1);
	if (!out)
		return NULL;
	memcpy(out, url, 8);
	out[8] = '\0';
	strncat(out, url + 8, strcspn(url + 8, "%:@"));
	strcat(out, at);
	return out;
}

static int
check_parsed(struct lun_iscsi *l, struct iscsi_url *u)
{
	const char *user = strchr(l->url + 8, '@');
	const char *slash = strchr(l->url + 8, '/');

	if (!u->portal[0] || u->portal[0] == ':' || !u->target[0])
		return -EINVAL;
	if (u->lun < 0 || u->lun > 16383)
		return -EINVAL;
	/* A user without a password would silently drop CHAP. */
	if (user && (!slash || user < slash) && !u->user[0])
		return -EINVAL;
	snprintf(l->portal, sizeof(l->portal), "%s", u->portal);
	l->lun = u->lun;
	return 0;
}

int
iscsi_url_parse(struct lun_iscsi *l)
{
	struct iscsi_context *iscsi;
	struct iscsi_url *u;
	int err = check_url(l->url);

	if (err < 0) {
		log_err(LOG_TOPIC, "%s: bad iSCSI URL (want %s)", l->log_name,
			ISCSI_URL_SYNTAX);
		return err;
	}
	iscsi = iscsi_create_context(l->initiator);
	if (!iscsi)
		return -ENOMEM;
	u = iscsi_parse_full_url(iscsi, l->url);
	if (!u) {
		const char *msg = iscsi_get_error(iscsi);

		log_err(LOG_TOPIC, "%s: bad iSCSI URL: %.*s", l->log_name,
			(int)strcspn(msg, "\n"), msg);
		iscsi_destroy_context(iscsi);
		return -EINVAL;
	}
	err = check_parsed(l, u);
	if (err < 0)
		log_err(LOG_TOPIC, "%s: bad iSCSI URL (want %s; LUN 0-16383, "
			"a CHAP user needs a password)", l->log_name,
			ISCSI_URL_SYNTAX);
	iscsi_destroy_url(u);
	iscsi_destroy_context(iscsi);
	return err;
}
