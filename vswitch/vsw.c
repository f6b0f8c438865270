/* SPDX-License-Identifier: MIT */
/*
 * The switch process object: switches and ports as the control thread
 * sees them, and the snapshot (struct vsw_cfg) the data plane reads.
 * Every change builds a fresh snapshot, publishes it with one atomic
 * store, and waits on RCU until the data plane has left the old one
 * before freeing it or tearing down a removed port's device.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "vswitch/l3.h"
#include "vswitch/vsw-internal.h"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

/* Idle polls before the loop may sleep, when sleeping is allowed. */
#define IDLE_POLLS 2048

struct vsw_switch *
vsw_switch_find(struct vsw *vsw, const char *name)
{
	for (int i = 0; i < VSW_MAX_SWITCHES; i++)
		if (vsw->sw[i] && !strcmp(vsw->sw[i]->name, name))
			return vsw->sw[i];
	return NULL;
}

struct vsw_port *
vsw_port_find(struct vsw *vsw, const char *name)
{
	for (int i = 0; i < VSW_MAX_PORTS; i++)
		if (vsw->port[i] && !strcmp(vsw->port[i]->cfg.name, name))
			return vsw->port[i];
	return NULL;
}

struct vsw_net *
vsw_net_find(struct vsw *vsw, const char *name)
{
	for (int i = 0; i < VSW_MAX_NETS; i++)
		if (vsw->net[i] && !strcmp(vsw->net[i]->cfg.name, name))
			return vsw->net[i];
	return NULL;
}

static void
net_build(struct vsw *vsw, struct vsw_cfg *cfg, int i)
{
	struct vsw_net *n = vsw->net[i];
	struct vsw_dp_net *d = &cfg->net[i];
	struct vsw_dp_switch *ds = &cfg->sw[n->sw->idx];
	struct vsw_port *up = n->cfg.nat_uplink[0]
			      ? vsw_port_find(vsw, n->cfg.nat_uplink) : NULL;

	if (up && up->missing)
		up = NULL;

	d->active = true;
	d->isolated = n->cfg.isolated;
	d->sw = (uint8_t)n->sw->idx;
	d->vid = n->cfg.vlan;
	d->mask = vsw_prefix_mask(n->cfg.prefix_len);
	d->subnet = n->cfg.subnet;
	d->gw_ip = n->cfg.gateway;
	memcpy(d->gw_mac, n->gw_mac, 6);
	/* Resolved by name each time: an uplink may come and go. */
	d->uplink = up && up->cfg.addr ? (int16_t)up->slot : -1;
	d->port_min = n->cfg.nat_port_min;
	d->port_max = n->cfg.nat_port_max;
	d->rt = n->rt;
	d->nfwd = (uint16_t)n->nfwd;
	memcpy(d->fwd, n->fwd, n->nfwd * sizeof(n->fwd[0]));
	ds->nets[ds->nnets++] = (uint8_t)i;
	cfg->net_prefix[cfg->nnets].subnet = d->subnet;
	cfg->net_prefix[cfg->nnets].mask = d->mask;
	cfg->nets[cfg->nnets++] = (uint8_t)i;
}

static void
port_build(struct vsw *vsw, struct vsw_cfg *cfg, struct vsw_port *p,
	   struct vsw_dp_port *d)
{
	d->dhcp = p->cfg.dhcp && p->dhcp;
	/* Waiting for a lease, a DHCP uplink is routed all the same. */
	d->l3 = p->cfg.addr != 0 || d->dhcp;
	d->addr = p->cfg.addr;
	d->mask = vsw_prefix_mask(p->cfg.addr_prefix);
	d->gateway = p->cfg.gateway;
	memcpy(d->mac, p->mac, 6);
	memcpy(d->gateway_mac, p->cfg.gateway_mac, 6);
	for (int dir = 0; dir < 2; dir++) {
		const struct vsw_shape_config *sc = dir ? &p->cfg.shape_out
							: &p->cfg.shape_in;

		d->shaped[dir] = sc->avg_bps && p->rt->shaper_q[dir];
		d->shape[dir] = *sc;
		d->shape_gen[dir] = p->shape_gen[dir];
	}
	if (d->shaped[1])
		cfg->shaped_out[cfg->nshaped_out++] = (uint16_t)p->slot;
}

static struct vsw_cfg *
cfg_build(struct vsw *vsw)
{
	struct vsw_cfg *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	for (int i = 0; i < VSW_MAX_SWITCHES; i++) {
		struct vsw_switch *s = vsw->sw[i];

		if (!s)
			continue;
		cfg->sw[i].active = true;
		cfg->sw[i].rt = s->rt;
		cfg->sw[i].aging_tsc = (uint64_t)s->aging_s * vsw->tsc_hz;
	}
	for (int i = 0; i < VSW_MAX_PORTS; i++) {
		struct vsw_port *p = vsw->port[i];
		struct vsw_dp_port *d = &cfg->port[i];
		struct vsw_dp_switch *ds;

		if (!p || p->missing)
			continue;
		d->active = true;
		d->vhost = p->cfg.type == VSW_PORT_VHOSTUSER;
		d->sw = (uint8_t)p->sw->idx;
		d->eth = p->eth;
		d->rt = p->rt;
		d->mac_limit = p->cfg.mac_limit;
		d->max_frame = p->cfg.mtu + 14;
		vsw_vlan_tables_build(&p->cfg.vlan, &d->vlan);
		port_build(vsw, cfg, p, d);
		ds = &cfg->sw[d->sw];
		ds->ports[ds->nports++] = (uint16_t)i;
		/* A null port is a sink: its "received" frames are stale buffers. */
		if (p->cfg.type != VSW_PORT_NULL)
			cfg->rx[cfg->nrx++] = (uint16_t)i;
	}
	for (int i = 0; i < VSW_MAX_NETS; i++)
		if (vsw->net[i])
			net_build(vsw, cfg, i);
	return cfg;
}

int
vsw_publish(struct vsw *vsw)
{
	struct vsw_cfg *cfg = cfg_build(vsw), *old;

	if (!cfg)
		return -ENOMEM;
	old = atomic_exchange_explicit(&vsw->cfg, cfg, memory_order_acq_rel);
	rte_rcu_qsbr_synchronize(vsw->rcu, RTE_QSBR_THRID_INVALID);
	free(old);
	return 0;
}

uint64_t
vsw_dp_call(struct vsw *vsw, enum vsw_dp_op op, int sw, int slot)
{
	struct vsw_dp *dp = vsw->dp;

	if (!atomic_load(&vsw->dp_running))
		return vsw_dp_exec(vsw, op, sw, slot);
	pthread_mutex_lock(&vsw->lock);
	dp->op = op;
	dp->op_sw = sw;
	dp->op_slot = slot;
	atomic_store_explicit(&dp->pending, 1, memory_order_release);
	while (atomic_load_explicit(&dp->pending, memory_order_acquire))
		usleep(50);
	pthread_mutex_unlock(&vsw->lock);
	return dp->op_result;
}

uint64_t
vsw_dp_run(struct vsw *vsw, uint64_t (*fn)(struct vsw *, void *), void *arg)
{
	uint64_t r;

	pthread_mutex_lock(&vsw->lock);
	vsw->dp->op_fn = fn;
	vsw->dp->op_arg = arg;
	r = vsw_dp_call(vsw, VSW_DP_OP_CALL, -1, -1);
	pthread_mutex_unlock(&vsw->lock);
	return r;
}

int
vsw_create(const struct vsw_options *opts, struct vsw **out)
{
	struct vsw *vsw;
	size_t sz;
	int err;

	vsw = calloc(1, sizeof(*vsw));
	if (!vsw)
		return -ENOMEM;
	vsw->opts = *opts;
	if (!vsw->opts.mac_table_entries)
		vsw->opts.mac_table_entries = VSW_MAC_ENTRIES_DEFAULT;
	if (!vsw->opts.mac_limit_default)
		vsw->opts.mac_limit_default = VSW_MAC_LIMIT_DEFAULT;
	if (!vsw->opts.mbufs)
		vsw->opts.mbufs = VSW_MBUFS_DEFAULT;
	if (!vsw->opts.conntrack_entries)
		vsw->opts.conntrack_entries = VSW_CT_ENTRIES_DEFAULT;
	vsw_ct_timeouts_default(&vsw->ct_timeouts);
	if (opts->ct_timeouts) {
		char e[256];

		if (vsw_ct_timeouts_parse(opts->ct_timeouts, &vsw->ct_timeouts, e,
					  sizeof(e)) < 0) {
			log_err("vswitch", "conntrack timeouts: %s", e);
			free(vsw);
			return -EINVAL;
		}
	}
	vsw->opts.ct_timeouts = NULL;
	if (opts->config_path)
		snprintf(vsw->config_path, sizeof(vsw->config_path), "%s",
			 opts->config_path);
	vsw->opts.config_path = vsw->config_path[0] ? vsw->config_path : NULL;
	{
		pthread_mutexattr_t a;

		/* Recursive: requests hold it across the calls they make. */
		pthread_mutexattr_init(&a);
		pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
		pthread_mutex_init(&vsw->lock, &a);
		pthread_mutexattr_destroy(&a);
	}
	vsw->tsc_base = rte_rdtsc();
	vsw->tsc_hz = vsw_tsc_hz();
	vsw->dhcpc_efd = -1;
	err = -ENOMEM;
	vsw->pool = vsw_pool_create("vsw_pool", vsw->opts.mbufs, 256);
	if (!vsw->pool) {
		log_err("vswitch", "cannot allocate %u packet buffers: %s",
			vsw->opts.mbufs, rte_strerror(rte_errno));
		goto err_free;
	}
	sz = rte_rcu_qsbr_get_memsize(RTE_MAX_LCORE);
	vsw->rcu = rte_zmalloc("vsw_rcu", sz, RTE_CACHE_LINE_SIZE);
	if (!vsw->rcu)
		goto err_pool;
	rte_rcu_qsbr_init(vsw->rcu, RTE_MAX_LCORE);
	err = vsw_uplink_dhcp_init(vsw);
	if (err < 0)
		goto err_rcu;
	err = vsw_dp_create(vsw, &vsw->dp);
	if (err < 0)
		goto err_rcu;
	vsw->cfg = cfg_build(vsw);
	if (!vsw->cfg) {
		err = -ENOMEM;
		goto err_dp;
	}
	vsw_telemetry_register(vsw);
	*out = vsw;
	return 0;

err_dp:
	vsw_dp_destroy(vsw->dp);
err_rcu:
	vsw_uplink_dhcp_fini(vsw);
	rte_free(vsw->rcu);
err_pool:
	rte_mempool_free(vsw->pool);
err_free:
	free(vsw);
	return err;
}

void
vsw_destroy(struct vsw *vsw)
{
	if (!vsw)
		return;
	vsw_telemetry_unregister(vsw);
	vsw_dp_stop(vsw);
	pthread_mutex_lock(&vsw->lock);
	if (vsw->capture)
		vsw_capture_stop(vsw);
	pthread_mutex_unlock(&vsw->lock);
	/* Networks go first (keeping their leases), then ports, switches.
	 * TAP interfaces stay for the next start (closing). */
	vsw->closing = true;
	vsw_nets_close(vsw);
	for (int i = 0; i < VSW_MAX_PORTS; i++)
		if (vsw->port[i] && vsw_port_del(vsw, vsw->port[i]->cfg.name) < 0)
			log_warn("vswitch", "a port was not removed cleanly");
	for (int i = 0; i < VSW_MAX_SWITCHES; i++)
		if (vsw->sw[i] && vsw_switch_del(vsw, vsw->sw[i]->name) < 0)
			log_warn("vswitch", "a switch was not removed cleanly");
	vsw_groups_drop(vsw, NULL);
	free(atomic_load(&vsw->cfg));
	vsw_dp_destroy(vsw->dp);
	vsw_uplink_dhcp_fini(vsw);
	rte_free(vsw->rcu);
	rte_mempool_free(vsw->pool);
	pthread_mutex_destroy(&vsw->lock);
	free(vsw);
}

/* ---- the data-plane lcore ---- */

static int
dp_main(void *arg)
{
	struct vsw *vsw = arg;
	unsigned int id = rte_lcore_id();
	uint64_t idle = 0;

	rte_rcu_qsbr_thread_register(vsw->rcu, id);
	rte_rcu_qsbr_thread_online(vsw->rcu, id);
	log_info("vswitch.dp", "data plane running on lcore %u", id);
	while (!atomic_load_explicit(&vsw->dp_stop, memory_order_relaxed)) {
		unsigned int n = vsw_dp_iter(vsw, vsw->dp, rte_rdtsc());

		rte_rcu_qsbr_quiescent(vsw->rcu, id);
		if (n || !vsw->idle_sleep_us) {
			idle = 0;
			continue;
		}
		if (++idle < IDLE_POLLS)
			continue;
		/* Nothing for a while: sleep, longer the longer it stays idle. */
		rte_rcu_qsbr_thread_offline(vsw->rcu, id);
		rte_delay_us_sleep(MIN((uint32_t)(idle / IDLE_POLLS),
				       vsw->idle_sleep_us));
		rte_rcu_qsbr_thread_online(vsw->rcu, id);
	}
	rte_rcu_qsbr_thread_offline(vsw->rcu, id);
	rte_rcu_qsbr_thread_unregister(vsw->rcu, id);
	return 0;
}

int
vsw_dp_start(struct vsw *vsw, unsigned int lcore, uint32_t idle_sleep_us)
{
	int err;

	if (atomic_load(&vsw->dp_running))
		return -EBUSY;
	if (lcore == rte_lcore_id() || !rte_lcore_is_enabled(lcore))
		return -EINVAL;
	vsw->idle_sleep_us = idle_sleep_us;
	vsw->dp_lcore = lcore;
	atomic_store(&vsw->dp_stop, false);
	atomic_store(&vsw->dp_running, true);
	err = rte_eal_remote_launch(dp_main, vsw, lcore);
	if (err < 0) {
		atomic_store(&vsw->dp_running, false);
		return err;
	}
	return 0;
}

void
vsw_dp_stop(struct vsw *vsw)
{
	if (!atomic_load(&vsw->dp_running))
		return;
	pthread_mutex_lock(&vsw->lock);
	atomic_store(&vsw->dp_stop, true);
	rte_eal_wait_lcore(vsw->dp_lcore);
	atomic_store(&vsw->dp_running, false);
	pthread_mutex_unlock(&vsw->lock);
}

unsigned int
vsw_dp_poll(struct vsw *vsw)
{
	return vsw_dp_iter(vsw, vsw->dp, rte_rdtsc());
}

/* ---- switches ---- */

static int
switch_add_locked(struct vsw *vsw, const char *name)
{
	struct vsw_switch *s;
	int idx = -1;

	if (!vsw_name_valid(name))
		return -EINVAL;
	if (vsw_switch_find(vsw, name))
		return -EEXIST;
	for (int i = 0; i < VSW_MAX_SWITCHES && idx < 0; i++)
		if (!vsw->sw[i])
			idx = i;
	if (idx < 0)
		return -ENOSPC;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->rt = rte_zmalloc("vsw_swrt", sizeof(*s->rt), RTE_CACHE_LINE_SIZE);
	if (!s->rt) {
		free(s);
		return -ENOMEM;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->idx = (unsigned int)idx;
	s->aging_s = VSW_AGING_DEFAULT_S;
	vsw->sw[idx] = s;
	log_info("vswitch", "switch %s added", name);
	return vsw_publish(vsw);
}

int
vsw_switch_add(struct vsw *vsw, const char *name)
{
	int err;

	pthread_mutex_lock(&vsw->lock);
	err = switch_add_locked(vsw, name);
	pthread_mutex_unlock(&vsw->lock);
	return err;
}

static int
switch_del_locked(struct vsw *vsw, const char *name)
{
	struct vsw_switch *s = vsw_switch_find(vsw, name);
	int err;

	if (!s)
		return -ENOENT;
	if (s->nports || s->nnets)
		return -ENOTEMPTY;
	vsw->sw[s->idx] = NULL;
	err = vsw_publish(vsw);
	if (err < 0) {
		vsw->sw[s->idx] = s;
		return err;
	}
	vsw_dp_call(vsw, VSW_DP_OP_FLUSH, (int)s->idx, -1);
	vsw_groups_drop(vsw, s);
	/* 'name' may be s->name: say so before freeing it. */
	log_info("vswitch", "switch %s removed", s->name);
	rte_free(s->rt);
	free(s);
	return 0;
}

int
vsw_switch_del(struct vsw *vsw, const char *name)
{
	int err;

	pthread_mutex_lock(&vsw->lock);
	err = switch_del_locked(vsw, name);
	pthread_mutex_unlock(&vsw->lock);
	return err;
}

int
vsw_switch_set_aging(struct vsw *vsw, const char *name, uint32_t aging_s)
{
	struct vsw_switch *s;
	int err = -ENOENT;

	if (aging_s == 0 || aging_s > 1000000)
		return -EINVAL;
	pthread_mutex_lock(&vsw->lock);
	s = vsw_switch_find(vsw, name);
	if (s) {
		s->aging_s = aging_s;
		err = vsw_publish(vsw);
	}
	pthread_mutex_unlock(&vsw->lock);
	return err;
}

int
vsw_mac_add_static(struct vsw *vsw, const char *port, const uint8_t *mac,
		   uint16_t vid)
{
	struct vsw_port *p;
	uint64_t r;

	if ((mac[0] & 1) || vid > VSW_VID_MAX)
		return -EINVAL;
	pthread_mutex_lock(&vsw->lock);
	p = vsw_port_find(vsw, port);
	if (!p) {
		pthread_mutex_unlock(&vsw->lock);
		return -ENOENT;
	}
	memcpy(vsw->dp->op_mac, mac, 6);
	vsw->dp->op_vid = vid;
	r = vsw_dp_call(vsw, VSW_DP_OP_MAC_ADD, (int)p->sw->idx, (int)p->slot);
	pthread_mutex_unlock(&vsw->lock);
	return r ? -ENOSPC : 0;
}

/* ---- ports ---- */

int
vsw_port_config_check(struct vsw *vsw, struct vsw_port_config *c)
{
	if (!vsw_name_valid(c->name))
		return -EINVAL;
	if ((unsigned int)c->type >= VSW_PORT_TYPE_COUNT)
		return -EINVAL;
	if ((c->type == VSW_PORT_TAP || c->type == VSW_PORT_AFPACKET) &&
	    !vsw_name_valid(c->iface))
		return -EINVAL;
	if ((c->type == VSW_PORT_VHOSTUSER || c->type == VSW_PORT_MEMIF) &&
	    (c->path[0] != '/' || strlen(c->path) >= VSW_PATH_MAX ||
	     strchr(c->path, ',')))
		return -EINVAL;
	if (!c->mac_limit)
		c->mac_limit = vsw->opts.mac_limit_default;
	if (!c->mtu)
		c->mtu = VSW_MTU_DEFAULT;
	if (c->mtu < 68 || c->mtu > VSW_MTU_MAX)
		return -EINVAL;
	if ((unsigned int)c->vlan.mode >= VSW_VLAN_MODE_COUNT)
		return -EINVAL;
	if (c->addr && (c->addr_prefix < 1 || c->addr_prefix > 32))
		return -EINVAL;
	if (!c->addr && (c->gateway || c->addr_prefix))
		return -EINVAL;
	for (int d = 0; d < 2; d++) {
		const struct vsw_shape_config *sc = d ? &c->shape_out : &c->shape_in;

		if (sc->avg_bps && (sc->avg_bps < VSW_SHAPE_MIN_BPS ||
				    sc->avg_bps > VSW_SHAPE_MAX_BPS ||
				    sc->peak_bps < sc->avg_bps ||
				    sc->peak_bps > VSW_SHAPE_MAX_BPS ||
				    sc->burst_bytes > VSW_SHAPE_MAX_BURST))
			return -EINVAL;
	}
	return 0;
}

/* Queue storage for the shapers the config asks for (kept until deletion). */
static int
shapers_alloc(struct vsw_port *p, const struct vsw_port_config *c)
{
	for (int d = 0; d < 2; d++) {
		const struct vsw_shape_config *sc = d ? &c->shape_out : &c->shape_in;

		if (!sc->avg_bps || p->rt->shaper_q[d])
			continue;
		p->rt->shaper_q[d] = rte_zmalloc("vsw_shaperq",
						 VSW_SHAPER_QMAX *
						 sizeof(struct vsw_shaper_item), 0);
		if (!p->rt->shaper_q[d])
			return -ENOMEM;
	}
	return 0;
}

/* Frees what a shaper the data plane no longer sees still holds. */
static void
shaper_drain(struct vsw_port *p, int dir)
{
	void *m[64];
	unsigned int n;

	while ((n = vsw_shaper_drain(&p->rt->shaper[dir], m, 64)))
		rte_pktmbuf_free_bulk((struct rte_mbuf **)m, n);
}

/* 'keep': a device that cannot be opened leaves the port missing (kept,
 * retried) instead of failing. */
static int
port_add_locked(struct vsw *vsw, const char *sw_name,
		const struct vsw_port_config *cfg, bool keep)
{
	struct vsw_switch *s = vsw_switch_find(vsw, sw_name);
	struct vsw_port *p;
	int slot = -1, err;

	if (!s)
		return -ENOENT;
	if (vsw_port_find(vsw, cfg->name))
		return -EEXIST;
	for (int i = 0; i < VSW_MAX_PORTS && slot < 0; i++)
		if (!vsw->port[i])
			slot = i;
	if (slot < 0)
		return -ENOSPC;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cfg = *cfg;
	err = vsw_port_config_check(vsw, &p->cfg);
	if (err < 0)
		goto err_free;
	for (int i = 0; i < VSW_MAX_PORTS; i++) {
		struct vsw_port *q = vsw->port[i];

		if (!q || q->cfg.type != p->cfg.type)
			continue;
		if (((p->cfg.type == VSW_PORT_TAP ||
		      p->cfg.type == VSW_PORT_AFPACKET) &&
		     !strcmp(q->cfg.iface, p->cfg.iface)) ||
		    ((p->cfg.type == VSW_PORT_VHOSTUSER ||
		      p->cfg.type == VSW_PORT_MEMIF) &&
		     !strcmp(q->cfg.path, p->cfg.path))) {
			err = -EEXIST;
			goto err_free;
		}
	}
	p->rt = rte_zmalloc("vsw_portrt", sizeof(*p->rt), RTE_CACHE_LINE_SIZE);
	if (!p->rt) {
		err = -ENOMEM;
		goto err_free;
	}
	p->slot = (unsigned int)slot;
	p->sw = s;
	p->shape_gen[0] = p->shape_gen[1] = 1;
	err = shapers_alloc(p, &p->cfg);
	if (err < 0)
		goto err_rt;
	/* A memif client waits for its server as a vhost-user one does. */
	if (p->cfg.type == VSW_PORT_MEMIF)
		keep = true;
	err = vsw_port_open(vsw, p, keep);
	if (err < 0 && !keep)
		goto err_rt;
	if (err < 0) {
		p->missing = true;
		p->missing_err = err;
		p->eth = UINT16_MAX;
		p->retry_wait_ms = 1000;
		p->retry_ms = clock_mono_ms() + p->retry_wait_ms;
		log_warn("vswitch.port", "%s: device missing (%s); the port "
			 "stays in the config and is tried again", cfg->name,
			 p->cfg.type == VSW_PORT_MEMIF ? "no memif server"
			 : "cannot open it");
	}
	if (p->cfg.dhcp) {
		p->cfg.addr = 0;
		p->cfg.addr_prefix = 0;
		p->cfg.gateway = 0;
		err = vsw_uplink_dhcp_on(vsw, p);
		if (err < 0) {
			vsw_port_close(vsw, p, true);
			goto err_rt;
		}
	}
	vsw->port[slot] = p;
	s->nports++;
	err = vsw_publish(vsw);
	if (err < 0) {
		vsw->port[slot] = NULL;
		s->nports--;
		vsw_uplink_dhcp_off(vsw, p, false);
		vsw_port_close(vsw, p, true);
		goto err_rt;
	}
	vsw_uplink_dhcp_kick(vsw, p);
	return 0;

err_rt:
	rte_free(p->rt->shaper_q[0]);
	rte_free(p->rt->shaper_q[1]);
	rte_free(p->rt);
err_free:
	free(p);
	return err;
}

int
vsw_port_add(struct vsw *vsw, const char *sw_name,
	     const struct vsw_port_config *cfg)
{
	int err;

	pthread_mutex_lock(&vsw->lock);
	err = port_add_locked(vsw, sw_name, cfg, false);
	pthread_mutex_unlock(&vsw->lock);
	return err;
}

int
vsw_port_restore(struct vsw *vsw, const char *sw_name,
		 const struct vsw_port_config *cfg)
{
	int err;

	pthread_mutex_lock(&vsw->lock);
	err = port_add_locked(vsw, sw_name, cfg, true);
	pthread_mutex_unlock(&vsw->lock);
	return err;
}

/*
 * DPDK's memif client connects once, when the device starts: after its
 * server went away (a VM restarted) the port is closed and opened again
 * like a missing one. Called with the lock held.
 */
static void
memif_check(struct vsw *vsw, struct vsw_port *p, uint64_t now)
{
	struct rte_eth_link link;

	memset(&link, 0, sizeof(link));
	rte_eth_link_get_nowait(p->eth, &link);
	if (link.link_status) {
		p->down_since_ms = 0;
		return;
	}
	if (!p->down_since_ms) {
		p->down_since_ms = now;
		return;
	}
	/* Give a fresh connection time for its handshake. */
	if (now - p->down_since_ms < 2000)
		return;
	p->missing = true;
	if (vsw_publish(vsw) < 0) {
		p->missing = false;
		return;
	}
	vsw_dp_call(vsw, VSW_DP_OP_FLUSH, -1, (int)p->slot);
	p->missing = false;
	vsw_port_close(vsw, p, false);
	p->missing = true;
	p->missing_err = -ENOTCONN;
	p->down_since_ms = 0;
	p->retry_wait_ms = 500;
	p->retry_ms = now + p->retry_wait_ms;
	log_info("vswitch.port", "%s: memif peer gone; reconnecting",
		 p->cfg.name);
}

/* Opens missing ports whose time has come; waits double up to 8 s. */
void
vsw_ports_retry(struct vsw *vsw)
{
	uint64_t now = clock_mono_ms();
	bool changed = false;

	pthread_mutex_lock(&vsw->lock);
	for (int i = 0; i < VSW_MAX_PORTS; i++) {
		struct vsw_port *p = vsw->port[i];
		int err;

		if (p && !p->missing && p->cfg.type == VSW_PORT_MEMIF)
			memif_check(vsw, p, now);
		if (p && !p->missing && p->cfg.type == VSW_PORT_VHOSTUSER)
			vsw_vhost_check(p, now);
		if (!p || !p->missing || now < p->retry_ms)
			continue;
		err = vsw_port_open(vsw, p, true);
		if (err < 0) {
			p->missing_err = err;
			if (p->retry_wait_ms < (p->cfg.type == VSW_PORT_MEMIF
						? 1000u : 8000u))
				p->retry_wait_ms *= 2;
			p->retry_ms = now + p->retry_wait_ms;
			continue;
		}
		p->missing = false;
		changed = true;
		log_info("vswitch.port", "%s: device found, port up",
			 p->cfg.name);
	}
	if (changed && vsw_publish(vsw) < 0)
		log_err("vswitch.port", "cannot publish the ports found");
	pthread_mutex_unlock(&vsw->lock);
}

int
vsw_port_set_locked(struct vsw *vsw, const struct vsw_port_config *cfg)
{
	struct vsw_port *p = vsw_port_find(vsw, cfg->name);
	struct vsw_port_config c, old;
	int err;

	if (!p)
		return -ENOENT;
	c = p->cfg;
	c.vlan = cfg->vlan;
	c.mac_limit = cfg->mac_limit;
	c.mtu = cfg->mtu;
	c.addr = cfg->addr;
	c.addr_prefix = cfg->addr_prefix;
	c.gateway = cfg->gateway;
	memcpy(c.gateway_mac, cfg->gateway_mac, 6);
	c.dhcp = cfg->dhcp;
	c.shape_in = cfg->shape_in;
	c.shape_out = cfg->shape_out;
	memcpy(c.group, cfg->group, sizeof(c.group));
	err = vsw_port_config_check(vsw, &c);
	if (err < 0)
		return err;
	err = shapers_alloc(p, &c);
	if (err < 0)
		return err;
	old = p->cfg;
	if (c.dhcp && !old.dhcp) {
		/* The lease will say; until then the port has no address. */
		c.addr = 0;
		c.addr_prefix = 0;
		c.gateway = 0;
		memset(c.gateway_mac, 0, 6);
		err = vsw_uplink_dhcp_on(vsw, p);
		if (err < 0)
			return err;
	} else if (!c.dhcp && old.dhcp) {
		/* Released while the data plane still sends for the client. */
		vsw_uplink_dhcp_off(vsw, p, true);
	}
	p->cfg = c;
	if (memcmp(&old.shape_in, &c.shape_in, sizeof(c.shape_in)))
		p->shape_gen[0]++;
	if (memcmp(&old.shape_out, &c.shape_out, sizeof(c.shape_out)))
		p->shape_gen[1]++;
	err = vsw_publish(vsw);
	if (err < 0) {
		if (c.dhcp && !old.dhcp)
			vsw_uplink_dhcp_off(vsw, p, false);
		p->cfg = old;
		return err;
	}
	if (c.dhcp && !old.dhcp)
		vsw_uplink_dhcp_kick(vsw, p);
	/* A shaper switched off: the data plane left it, free its queue. */
	if (old.shape_in.avg_bps && !c.shape_in.avg_bps)
		shaper_drain(p, 0);
	if (old.shape_out.avg_bps && !c.shape_out.avg_bps)
		shaper_drain(p, 1);
	/* What was learned under the old VLANs no longer holds. */
	if (memcmp(&old.vlan, &c.vlan, sizeof(c.vlan)) ||
	    old.mac_limit != c.mac_limit || !old.addr != !c.addr)
		vsw_dp_call(vsw, VSW_DP_OP_FLUSH, (int)p->sw->idx, (int)p->slot);
	/* Mappings onto the old uplink address are void. */
	if (old.addr && (old.addr != c.addr || old.gateway != c.gateway))
		vsw_dp_call(vsw, VSW_DP_OP_CT_FLUSH, -1, (int)p->slot);
	return 0;
}

int
vsw_port_set(struct vsw *vsw, const struct vsw_port_config *cfg)
{
	int err;

	pthread_mutex_lock(&vsw->lock);
	err = vsw_port_set_locked(vsw, cfg);
	pthread_mutex_unlock(&vsw->lock);
	return err;
}

static int
port_del_locked(struct vsw *vsw, const char *name)
{
	struct vsw_port *p = vsw_port_find(vsw, name);
	int err;

	if (!p)
		return -ENOENT;
	if (vsw->capture && atomic_load(&p->rt->capture))
		vsw_capture_stop(vsw);
	/* A removed port gives its lease back; a stopping daemon keeps it
	 * for the next start. */
	vsw_uplink_dhcp_off(vsw, p, !vsw->closing);
	vsw->port[p->slot] = NULL;
	err = vsw_publish(vsw);
	if (err < 0) {
		vsw->port[p->slot] = p;
		return err;
	}
	/* The data plane no longer sees the port: forget it, then close it. */
	vsw_dp_call(vsw, VSW_DP_OP_FLUSH, -1, (int)p->slot);
	if (p->cfg.addr)
		vsw_dp_call(vsw, VSW_DP_OP_CT_FLUSH, -1, (int)p->slot);
	p->sw->nports--;
	vsw_port_close(vsw, p, !vsw->closing);
	for (int d = 0; d < 2; d++) {
		shaper_drain(p, d);
		rte_free(p->rt->shaper_q[d]);
	}
	rte_free(p->rt);
	free(p);
	return 0;
}

int
vsw_port_del(struct vsw *vsw, const char *name)
{
	int err;

	pthread_mutex_lock(&vsw->lock);
	err = port_del_locked(vsw, name);
	pthread_mutex_unlock(&vsw->lock);
	return err;
}
