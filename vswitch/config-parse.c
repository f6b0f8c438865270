/* SPDX-License-Identifier: MIT */
/*
 * Parses a saved configuration (config.c writes it) into a struct
 * vsw_config_doc without applying anything, so a damaged or hostile file
 * is refused whole; pure, driven directly by the config fuzzer.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "vswitch/vsw-internal.h"

/* The "networks" of the switch just parsed (optional). */
static int
nets_parse(const struct json_node *s, struct vsw_config_doc *doc,
	   const char *swname, char *err, size_t errlen)
{
	const struct json_node *nets = json_get(s, "networks"), *n, *fw, *f;

	if (!nets)
		return 0;
	if (nets->type != JSON_ARRAY) {
		snprintf(err, errlen, "switch %s: 'networks' must be an array",
			 swname);
		return -EINVAL;
	}
	for (n = nets->child; n; n = n->next) {
		const char *name = json_get_str(n, "name", "");
		struct vsw_config_net *cn;

		if (doc->nnets >= VSW_MAX_NETS || !vsw_name_valid(name)) {
			snprintf(err, errlen, "bad or too many networks");
			return -EINVAL;
		}
		cn = &doc->net[doc->nnets];
		memset(cn, 0, sizeof(*cn));
		cn->sw = doc->nswitches - 1;
		snprintf(cn->cfg.name, sizeof(cn->cfg.name), "%s", name);
		if (vsw_req_net_fields(n, &cn->cfg, err, errlen) < 0)
			return -EINVAL;
		fw = json_get(n, "forwards");
		if (fw && fw->type != JSON_ARRAY) {
			snprintf(err, errlen, "network %s: 'forwards' must be an "
				 "array", name);
			return -EINVAL;
		}
		for (f = fw ? fw->child : NULL; f; f = f->next) {
			if (cn->nfwd >= VSW_MAX_FORWARDS) {
				snprintf(err, errlen, "network %s: too many "
					 "forwards", name);
				return -EINVAL;
			}
			if (vsw_req_forward_fields(f, &cn->fwd[cn->nfwd++], err,
						   errlen) < 0)
				return -EINVAL;
		}
		doc->nnets++;
	}
	return 0;
}

static int
groups_parse(const struct json_node *s, struct vsw_config_doc *doc,
	     const char *sw, char *err, size_t errlen)
{
	const struct json_node *gs = json_get(s, "groups"), *g;

	if (!gs)
		return 0;
	if (gs->type != JSON_ARRAY) {
		snprintf(err, errlen, "switch %s: 'groups' must be an array", sw);
		return -EINVAL;
	}
	for (g = gs->child; g; g = g->next) {
		struct vsw_req req;
		const char *name = json_get_str(g, "name", "");

		if (doc->ngroups >= VSW_MAX_GROUPS || !vsw_name_valid(name)) {
			snprintf(err, errlen, "bad or too many groups");
			return -EINVAL;
		}
		memset(&req, 0, sizeof(req));
		req.op = VSW_REQ_GROUP_ADD;
		if (vsw_req_port_fields(g, &req, err, errlen) < 0)
			return -EINVAL;
		snprintf(req.pcfg.group, sizeof(req.pcfg.group), "%s", name);
		doc->group[doc->ngroups].sw = doc->nswitches - 1;
		doc->group[doc->ngroups].cfg = req.pcfg;
		doc->ngroups++;
	}
	return 0;
}

int
vsw_config_parse(const char *text, size_t len, struct vsw_config_doc *doc,
		 char *err, size_t errlen)
{
	const struct json_node *root, *sws, *s, *ports, *p;
	struct json_doc *jd;
	int64_t version;
	int r;

	memset(doc, 0, sizeof(*doc));
	r = json_parse(text, len, &jd, err, errlen);
	if (r < 0)
		return -EINVAL;
	root = json_root(jd);
	r = -EINVAL;
	if (root->type != JSON_OBJECT) {
		snprintf(err, errlen, "not a JSON object");
		goto out;
	}
	if (json_get_int(root, "version", 1, 1, &version) < 0) {
		snprintf(err, errlen, "missing or unknown 'version' (want 1)");
		goto out;
	}
	sws = json_get(root, "switches");
	if (!sws || sws->type != JSON_ARRAY) {
		snprintf(err, errlen, "'switches' must be an array");
		goto out;
	}
	for (s = sws->child; s; s = s->next) {
		struct vsw_config_switch *cs;
		int64_t aging = VSW_AGING_DEFAULT_S;
		const char *name = json_get_str(s, "name", "");

		if (doc->nswitches >= VSW_MAX_SWITCHES || !vsw_name_valid(name)) {
			snprintf(err, errlen, "bad or too many switches");
			goto out;
		}
		cs = &doc->sw[doc->nswitches++];
		snprintf(cs->name, sizeof(cs->name), "%s", name);
		if (json_get_int(s, "aging", 1, 1000000, &aging) == -EINVAL) {
			snprintf(err, errlen, "switch %s: bad 'aging'", name);
			goto out;
		}
		cs->aging_s = (uint32_t)aging;
		ports = json_get(s, "ports");
		if (!ports)
			continue;
		if (ports->type != JSON_ARRAY) {
			snprintf(err, errlen, "switch %s: 'ports' must be an array",
				 name);
			goto out;
		}
		for (p = ports->child; p; p = p->next) {
			struct vsw_req req;
			const char *pname = json_get_str(p, "name", "");

			if (doc->nports >= VSW_MAX_PORTS || !vsw_name_valid(pname)) {
				snprintf(err, errlen, "bad or too many ports");
				goto out;
			}
			memset(&req, 0, sizeof(req));
			req.op = VSW_REQ_PORT_ADD;
			snprintf(req.port, sizeof(req.port), "%s", pname);
			if (vsw_req_port_fields(p, &req, err, errlen) < 0)
				goto out;
			doc->port[doc->nports].sw = doc->nswitches - 1;
			doc->port[doc->nports].cfg = req.pcfg;
			doc->nports++;
		}
		if (groups_parse(s, doc, name, err, errlen) < 0)
			goto out;
		if (nets_parse(s, doc, name, err, errlen) < 0)
			goto out;
	}
	r = 0;
out:
	json_free(jd);
	return r;
}

