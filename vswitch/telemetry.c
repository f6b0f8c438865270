/* SPDX-License-Identifier: MIT */
/*
 * Counters through rte_telemetry (dpdk-telemetry.py -f PREFIX, or the
 * socket /var/run/dpdk/PREFIX/dpdk_telemetry.v2):
 *   /vswitch/ports             names of all ports
 *   /vswitch/switches          names of all switches
 *   /vswitch/port,NAME         a port's counters, drops by reason
 *   /vswitch/switch,NAME       a switch's counters
 * rte_telemetry has no way to unregister a command nor a user pointer,
 * so the commands are registered once and find the live switch process
 * through one pointer guarded by a mutex.
 */
#include <errno.h>
#include <string.h>

#include "vswitch/vsw-internal.h"

#include <rte_telemetry.h>

static pthread_mutex_t tel_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vsw *tel_vsw;
static bool tel_registered;

static int
names(struct rte_tel_data *d, bool ports)
{
	rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
	if (!tel_vsw)
		return 0;
	pthread_mutex_lock(&tel_vsw->lock);
	if (ports) {
		for (int i = 0; i < VSW_MAX_PORTS; i++)
			if (tel_vsw->port[i])
				rte_tel_data_add_array_string(
					d, tel_vsw->port[i]->cfg.name);
	} else {
		for (int i = 0; i < VSW_MAX_SWITCHES; i++)
			if (tel_vsw->sw[i])
				rte_tel_data_add_array_string(d,
							      tel_vsw->sw[i]->name);
	}
	pthread_mutex_unlock(&tel_vsw->lock);
	return 0;
}

static int
cmd_ports(const char *cmd, const char *params, struct rte_tel_data *d)
{
	int r;

	pthread_mutex_lock(&tel_lock);
	r = names(d, true);
	pthread_mutex_unlock(&tel_lock);
	return r;
}

static int
cmd_switches(const char *cmd, const char *params, struct rte_tel_data *d)
{
	int r;

	pthread_mutex_lock(&tel_lock);
	r = names(d, false);
	pthread_mutex_unlock(&tel_lock);
	return r;
}

static void
port_dict(struct vsw_port *p, struct rte_tel_data *d)
{
	const struct vsw_port_stats *st = &p->rt->st;

	rte_tel_data_add_dict_string(d, "switch", p->sw->name);
	rte_tel_data_add_dict_string(d, "type", vsw_port_type_name(p->cfg.type));
	rte_tel_data_add_dict_u64(d, "rx_packets", st->rx_packets);
	rte_tel_data_add_dict_u64(d, "rx_bytes", st->rx_bytes);
	rte_tel_data_add_dict_u64(d, "tx_packets", st->tx_packets);
	rte_tel_data_add_dict_u64(d, "tx_bytes", st->tx_bytes);
	rte_tel_data_add_dict_u64(d, "flooded", st->flooded);
	rte_tel_data_add_dict_u64(d, "learn_limit", st->learn_limit);
	if (p->cfg.type == VSW_PORT_VHOSTUSER)
		rte_tel_data_add_dict_u64(d, "guest_tx_stalls",
					  p->guest_tx_stalls);
	for (int r = 1; r < VSW_DROP_COUNT; r++) {
		char key[48];

		snprintf(key, sizeof(key), "drop_%s",
			 vsw_drop_name((enum vsw_drop)r));
		rte_tel_data_add_dict_u64(d, key, st->drops[r]);
	}
}

static int
cmd_port(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct vsw_port *p;
	int r = -EINVAL;

	if (!params || !*params)
		return -EINVAL;
	pthread_mutex_lock(&tel_lock);
	if (tel_vsw) {
		pthread_mutex_lock(&tel_vsw->lock);
		p = vsw_port_find(tel_vsw, params);
		if (p) {
			rte_tel_data_start_dict(d);
			port_dict(p, d);
			r = 0;
		}
		pthread_mutex_unlock(&tel_vsw->lock);
	}
	pthread_mutex_unlock(&tel_lock);
	return r;
}

static int
cmd_switch(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct vsw_switch *s;
	int r = -EINVAL;

	if (!params || !*params)
		return -EINVAL;
	pthread_mutex_lock(&tel_lock);
	if (tel_vsw) {
		pthread_mutex_lock(&tel_vsw->lock);
		s = vsw_switch_find(tel_vsw, params);
		if (s) {
			const struct vsw_switch_stats *st = &s->rt->st;

			rte_tel_data_start_dict(d);
			rte_tel_data_add_dict_u64(d, "macs", s->rt->mac_count);
			rte_tel_data_add_dict_u64(d, "unicast", st->unicast);
			rte_tel_data_add_dict_u64(d, "flooded", st->flooded);
			rte_tel_data_add_dict_u64(d, "learned", st->learned);
			rte_tel_data_add_dict_u64(d, "moved", st->moved);
			rte_tel_data_add_dict_u64(d, "aged", st->aged);
			rte_tel_data_add_dict_u64(d, "table_full", st->table_full);
			r = 0;
		}
		pthread_mutex_unlock(&tel_vsw->lock);
	}
	pthread_mutex_unlock(&tel_lock);
	return r;
}

void
vsw_telemetry_register(struct vsw *vsw)
{
	pthread_mutex_lock(&tel_lock);
	tel_vsw = vsw;
	if (!tel_registered) {
		rte_telemetry_register_cmd("/vswitch/ports", cmd_ports,
					   "Names of the switch ports");
		rte_telemetry_register_cmd("/vswitch/switches", cmd_switches,
					   "Names of the switches");
		rte_telemetry_register_cmd("/vswitch/port", cmd_port,
					   "A port's counters. Parameter: port name");
		rte_telemetry_register_cmd("/vswitch/switch", cmd_switch,
					   "A switch's counters. Parameter: switch name");
		tel_registered = true;
	}
	pthread_mutex_unlock(&tel_lock);
}

void
vsw_telemetry_unregister(struct vsw *vsw)
{
	pthread_mutex_lock(&tel_lock);
	if (tel_vsw == vsw)
		tel_vsw = NULL;
	pthread_mutex_unlock(&tel_lock);
}
