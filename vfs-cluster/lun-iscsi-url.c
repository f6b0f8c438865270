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

/* Where the "user[%pass]@" part ends, or NULL if there is none. */
static const char *
userinfo_end(const char *url)
{
	const char *at = strchr(url + 8, '@');
	size_t host = strcspn(url + 8, "/?");

	return at && at < url + 8 + host ? at : NULL;
}

static int
check_url(const char *url)
{
	const char *p, *q;

	if (strlen(url) > ISCSI_MAX_URL)
		return -ENAMETOOLONG;
	if (strncmp(url, "iscsi://", 8) != 0)
		return -EINVAL;
	/* libiscsi takes the first '@' anywhere as the end of the user. */
	if (strchr(url, '@') && !userinfo_end(url))
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
	static const char secret[] = "target_password=";
	const char *at, *src;
	char *out, *dst, *q;

	if (strncmp(url, "iscsi://", 8) != 0)
		return strdup(url);
	out = malloc(strlen(url) + 4);
	if (!out)
		return NULL;
	at = userinfo_end(url);
	memcpy(out, url, 8);
	dst = out + 8;
	src = url + 8;
	if (at) {
		size_t user = strcspn(src, "%:@");

		memcpy(dst, src, user);
		dst += user;
		src = at;
	}
	strcpy(dst, src);
	/* Mutual CHAP's secret sits in the query. */
	q = strstr(out, secret);
	if (q && strchr(out, '?') && strchr(out, '?') < q) {
		q += sizeof(secret) - 1;
		memmove(q + 3, q + strcspn(q, "&"), strlen(q + strcspn(q, "&")) + 1);
		memcpy(q, "***", 3);
	}
	return out;
}

static int
check_parsed(struct lun_iscsi *l, struct iscsi_url *u)
{
	if (!u->portal[0] || u->portal[0] == ':' || !u->target[0])
		return -EINVAL;
	if (u->lun < 0 || u->lun > 16383)
		return -EINVAL;
	/* A user without a password would silently drop CHAP. */
	if (userinfo_end(l->url) && !u->user[0])
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
