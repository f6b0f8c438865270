/* SPDX-License-Identifier: MIT */
/*
 * Control requests from untrusted bytes: one JSON object with "cmd" and,
 * for balloon, "bytes", for stop and poweroff an optional "undoable"
 * (keep, discard or commit). Parsed with common/json's limits into a small
 * struct before anything acts on it (control.c), so the whole of what a
 * client can send is covered by vmm-control-fuzz.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "vmm/control.h"

static const char *const names[] = {
	[VMM_CTL_STATUS] = "status",   [VMM_CTL_STATS] = "stats",
	[VMM_CTL_PAUSE] = "pause",     [VMM_CTL_RESUME] = "resume",
	[VMM_CTL_STOP] = "stop",       [VMM_CTL_POWEROFF] = "poweroff",
	[VMM_CTL_BALLOON] = "balloon",
};

int
vmm_control_parse(const char *text, size_t len, struct vmm_ctl_req *req,
		  char *err, size_t errlen)
{
	const struct json_node *root;
	struct json_doc *doc = NULL;
	const char *cmd;
	int64_t bytes;
	int rc;

	memset(req, 0, sizeof(*req));
	rc = json_parse(text, len, &doc, err, errlen);
	if (rc < 0)
		return rc;
	root = json_root(doc);
	rc = -EINVAL;
	if (root->type != JSON_OBJECT) {
		snprintf(err, errlen, "request is not a JSON object");
		goto out;
	}
	cmd = json_get_str(root, "cmd", NULL);
	if (!cmd) {
		snprintf(err, errlen, "request has no \"cmd\"");
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strcmp(cmd, names[i])) {
			req->cmd = (enum vmm_ctl_cmd)i;
			rc = 0;
		}
	}
	if (rc < 0) {
		snprintf(err, errlen, "unknown command '%.40s'", cmd);
		goto out;
	}
	if (req->cmd == VMM_CTL_BALLOON) {
		rc = json_get_int(root, "bytes", 0, INT64_MAX, &bytes);
		if (rc < 0) {
			snprintf(err, errlen, "balloon needs \"bytes\": a number "
				 "from 0 up");
			goto out;
		}
		req->bytes = (uint64_t)bytes;
	}
	if (req->cmd == VMM_CTL_STOP || req->cmd == VMM_CTL_POWEROFF) {
		const char *u = json_get_str(root, "undoable", NULL);

		if (u && vmm_undoable_parse(u, &req->undoable) < 0) {
			snprintf(err, errlen, "\"undoable\" must be keep, discard "
				 "or commit, not '%.40s'", u);
			rc = -EINVAL;
			goto out;
		}
	}
out:
	json_free(doc);
	return rc;
}
