/* SPDX-License-Identifier: MIT */
/*
 * Port groups, as VMware's port groups on a standard switch: a named
 * policy (VLAN mode, tag and trunks, MAC limit, MTU, shaping both ways)
 * that ports join with --group. A member takes the group's policy and
 * cannot override it (set-port refuses policy options for it); set-group
 * changes the group and applies the change to every member at once; a
 * port leaves with --group none and keeps what it had. Groups belong to
 * one switch and are saved with it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "vswitch/vsw-internal.h"

static struct vsw_group *
group_find(struct vsw *vsw, const char *name)
{
	for (int i = 0; i < VSW_MAX_GROUPS; i++)
		if (vsw->group[i] && !strcmp(vsw->group[i]->cfg.name, name))
			return vsw->group[i];
	return NULL;
}

static void
policy_copy(struct vsw_port_config *dst, const struct vsw_port_config *g)
{
	dst->vlan = g->vlan;
	dst->mac_limit = g->mac_limit;
	dst->mtu = g->mtu;
	dst->shape_in = g->shape_in;
	dst->shape_out = g->shape_out;
}

static bool
policy_given(const struct vsw_req *req)
{
	return req->has_vlan || req->has_mac_limit || req->has_mtu ||
	       req->has_shape_in || req->has_shape_out;
}

int
vsw_group_apply(struct vsw *vsw, const char *sw_name, const struct vsw_req *req,
		struct vsw_port_config *c, char *err, size_t errlen)
{
	struct vsw_group *g = group_find(vsw, c->group);

	if (!g) {
		snprintf(err, errlen, "no group '%s'", c->group);
		return -ENOENT;
	}
	if (strcmp(g->sw->name, sw_name)) {
		snprintf(err, errlen, "group '%s' belongs to switch '%s'",
			 c->group, g->sw->name);
		return -EINVAL;
	}
	if (req && policy_given(req)) {
		snprintf(err, errlen, "port '%s' follows group '%s': change the "
			 "group (set-group) or leave it (--group none)",
			 c->name, c->group);
		return -EINVAL;
	}
	policy_copy(c, &g->cfg);
	return 0;
}

/* Checks a policy the way a port's is checked; fills defaults. */
static int
policy_check(struct vsw *vsw, struct vsw_port_config *c, char *err,
	     size_t errlen)
{
	struct vsw_port_config t = *c;

	t.type = VSW_PORT_NULL;
	t.addr = 0;
	t.addr_prefix = 0;
	t.gateway = 0;
	if (vsw_port_config_check(vsw, &t) < 0) {
		snprintf(err, errlen, "group '%s': bad MTU, VLANs or shaping",
			 c->name);
		return -EINVAL;
	}
	*c = t;
	return 0;
}

int
vsw_group_add(struct vsw *vsw, const char *sw_name,
	      const struct vsw_port_config *policy, char *err, size_t errlen)
{
	struct vsw_switch *s;
	struct vsw_group *g;
	int slot = -1, r = 0;

	pthread_mutex_lock(&vsw->lock);
	s = vsw_switch_find(vsw, sw_name);
	if (!s) {
		snprintf(err, errlen, "no switch '%s'", sw_name);
		r = -ENOENT;
		goto out;
	}
	if (group_find(vsw, policy->group)) {
		snprintf(err, errlen, "group '%s' exists", policy->group);
		r = -EEXIST;
		goto out;
	}
	for (int i = 0; i < VSW_MAX_GROUPS && slot < 0; i++)
		if (!vsw->group[i])
			slot = i;
	if (slot < 0) {
		snprintf(err, errlen, "limit reached (%d groups)", VSW_MAX_GROUPS);
		r = -ENOSPC;
		goto out;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		r = -ENOMEM;
		goto out;
	}
	g->cfg = *policy;
	snprintf(g->cfg.name, sizeof(g->cfg.name), "%s", policy->group);
	g->cfg.group[0] = '\0';
	r = policy_check(vsw, &g->cfg, err, errlen);
	if (r < 0) {
		free(g);
		goto out;
	}
	g->sw = s;
	vsw->group[slot] = g;
out:
	pthread_mutex_unlock(&vsw->lock);
	return r;
}

int
vsw_group_set(struct vsw *vsw, const struct vsw_req *req, char *err,
	      size_t errlen)
{
	const struct vsw_port_config *in = &req->pcfg;
	struct vsw_port_config c;
	struct vsw_group *g;
	int r = 0;

	pthread_mutex_lock(&vsw->lock);
	g = group_find(vsw, in->group);
	if (!g) {
		snprintf(err, errlen, "no group '%s'", in->group);
		r = -ENOENT;
		goto out;
	}
	c = g->cfg;
	if (req->has_vlan)
		c.vlan = in->vlan;
	if (req->has_mac_limit)
		c.mac_limit = in->mac_limit;
	if (req->has_mtu)
		c.mtu = in->mtu;
	if (req->has_shape_in)
		c.shape_in = in->shape_in;
	if (req->has_shape_out)
		c.shape_out = in->shape_out;
	r = policy_check(vsw, &c, err, errlen);
	if (r < 0)
		goto out;
	g->cfg = c;
	for (int i = 0; i < VSW_MAX_PORTS; i++) {
		struct vsw_port *p = vsw->port[i];
		struct vsw_port_config pc;

		if (!p || strcmp(p->cfg.group, g->cfg.name))
			continue;
		pc = p->cfg;
		policy_copy(&pc, &g->cfg);
		r = vsw_port_set_locked(vsw, &pc);
		if (r < 0) {
			snprintf(err, errlen, "group '%s' changed, but port '%s' "
				 "could not follow: %s", g->cfg.name,
				 p->cfg.name, strerror(-r));
			goto out;
		}
	}
out:
	pthread_mutex_unlock(&vsw->lock);
	return r;
}

int
vsw_group_del(struct vsw *vsw, const char *name, char *err, size_t errlen)
{
	struct vsw_group *g;
	int r = 0;

	pthread_mutex_lock(&vsw->lock);
	g = group_find(vsw, name);
	if (!g) {
		snprintf(err, errlen, "no group '%s'", name);
		r = -ENOENT;
		goto out;
	}
	for (int i = 0; i < VSW_MAX_PORTS; i++) {
		if (vsw->port[i] && !strcmp(vsw->port[i]->cfg.group, name)) {
			snprintf(err, errlen, "group '%s' has ports (%s, ...)",
				 name, vsw->port[i]->cfg.name);
			r = -ENOTEMPTY;
			goto out;
		}
	}
	for (int i = 0; i < VSW_MAX_GROUPS; i++)
		if (vsw->group[i] == g)
			vsw->group[i] = NULL;
	free(g);
out:
	pthread_mutex_unlock(&vsw->lock);
	return r;
}

void
vsw_groups_drop(struct vsw *vsw, const struct vsw_switch *s)
{
	for (int i = 0; i < VSW_MAX_GROUPS; i++) {
		if (vsw->group[i] && (!s || vsw->group[i]->sw == s)) {
			free(vsw->group[i]);
			vsw->group[i] = NULL;
		}
	}
}

void
vsw_groups_json(struct vsw *vsw, const char *sw, struct json_writer *w)
{
	json_arr_begin(w, "groups");
	for (int i = 0; i < VSW_MAX_GROUPS; i++) {
		struct vsw_group *g = vsw->group[i];

		if (!g || (sw && strcmp(g->sw->name, sw)))
			continue;
		json_obj_begin(w, NULL);
		json_str(w, "name", g->cfg.name);
		json_str(w, "switch", g->sw->name);
		vsw_group_policy_json(&g->cfg, w);
		json_arr_begin(w, "ports");
		for (int k = 0; k < VSW_MAX_PORTS; k++) {
			struct vsw_port *p = vsw->port[k];

			if (p && !strcmp(p->cfg.group, g->cfg.name))
				json_str(w, NULL, p->cfg.name);
		}
		json_arr_end(w);
		json_obj_end(w);
	}
	json_arr_end(w);
}
