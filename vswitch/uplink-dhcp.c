/* SPDX-License-Identifier: MIT */
/*
 * An uplink that takes its address from DHCP (set-port --dhcp): the
 * client (dhcp-client.c) runs in the control thread, which owns the
 * port's configuration; the data plane hands it the server's replies
 * through a ring (and wakes it with an eventfd) and sends what it writes
 * from another ring, so that nothing here touches a device queue. A
 * lease becomes the port's address, prefix and gateway like a static
 * --address does (publish, old connections flushed); losing it removes
 * the address, and the networks that NAT through the port stop until a
 * new one comes. The lease is kept in FILE.PORT.dhcp-lease beside the
 * saved config, so a restarted daemon asks for it again (INIT-REBOOT).
 * While the client checks an ACKed address with ARP probes, the data
 * plane also hands it the ARP frames that name that address
 * (vsw->dhcpc_probe[slot]); its probes, announcement and DECLINE go out
 * through the same ring as its DHCP frames.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "vswitch/dhcp-client.h"
#include "vswitch/l3.h"
#include "vswitch/vsw-internal.h"

#include <rte_mbuf.h>
#include <rte_ring.h>

#define RING_SIZE 256
/* m->hash.usr of a frame to send: its IP destination wants a next hop. */
#define TX_ROUTE 1u

struct vsw_uplink_dhcp {
	struct vsw_dhcpc c;
	uint8_t server_mac[6];   /* the server's, when it is on the link */
	bool server_mac_known;
	uint64_t on_ms;          /* switched on (for the time to an address) */
	uint64_t bound_after_ms; /* first address this many ms after 'on' */
};

static uint64_t
wall_s(void)
{
	return (uint64_t)time(NULL);
}

int
vsw_uplink_dhcp_init(struct vsw *vsw)
{
	static unsigned int seq;
	char name[32];

	vsw->dhcpc_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vsw->dhcpc_efd < 0)
		return -errno;
	/* A process may create switch objects one after another (tests). */
	snprintf(name, sizeof(name), "vsw_dhcpc_rx%u", seq);
	vsw->dhcpc_rx = rte_ring_create(name, RING_SIZE, SOCKET_ID_ANY,
					RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "vsw_dhcpc_tx%u", seq++);
	vsw->dhcpc_tx = rte_ring_create(name, RING_SIZE, SOCKET_ID_ANY,
					RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!vsw->dhcpc_rx || !vsw->dhcpc_tx) {
		vsw_uplink_dhcp_fini(vsw);
		return -ENOMEM;
	}
	return 0;
}

static void
ring_drain(struct rte_ring *r)
{
	struct rte_mbuf *m;

	while (r && rte_ring_dequeue(r, (void **)&m) == 0)
		rte_pktmbuf_free(m);
}

void
vsw_uplink_dhcp_fini(struct vsw *vsw)
{
	ring_drain(vsw->dhcpc_rx);
	ring_drain(vsw->dhcpc_tx);
	rte_ring_free(vsw->dhcpc_rx);
	rte_ring_free(vsw->dhcpc_tx);
	vsw->dhcpc_rx = vsw->dhcpc_tx = NULL;
	if (vsw->dhcpc_efd >= 0)
		close(vsw->dhcpc_efd);
	vsw->dhcpc_efd = -1;
}

int
vsw_uplink_dhcp_fd(struct vsw *vsw)
{
	return vsw->dhcpc_efd;
}

/*
 * The control loop sleeps at most this long, so that the ARP probes
 * (200 ms apart) and retransmissions go out on time and not up to a
 * housekeeping period late.
 */
int
vsw_uplink_dhcp_wait_ms(struct vsw *vsw, int max_ms)
{
	uint64_t now = clock_mono_ms(), w = max_ms > 1 ? (uint64_t)max_ms : 1;

	pthread_mutex_lock(&vsw->lock);
	for (int i = 0; i < VSW_MAX_PORTS; i++) {
		const struct vsw_port *p = vsw->port[i];

		if (p && p->dhcp && !p->missing)
			w = MIN(w, vsw_dhcpc_next(&p->dhcp->c, now));
	}
	pthread_mutex_unlock(&vsw->lock);
	/* Not 0: a timer due now is run by the housekeeping after the
	 * poll; 1 ms keeps a stuck one from spinning the loop. */
	return w ? (int)w : 1;
}

/* ---- the data plane's side ---- */

void
vsw_uplink_dhcp_rx(struct vsw *vsw, uint16_t slot, struct rte_mbuf *m)
{
	uint64_t one = 1;

	m->port = slot;
	if (rte_ring_sp_enqueue(vsw->dhcpc_rx, m) < 0) {
		rte_pktmbuf_free(m);
		return;
	}
	/* Rare (a DHCP reply): a system call is fine here. */
	if (write(vsw->dhcpc_efd, &one, sizeof(one)) < 0) {
		/* The counter is full only if nobody reads: nothing to do. */
	}
}

/* Sends what the client wrote; in the data plane, from the router tick. */
void
vsw_uplink_dhcp_tx(struct vsw *vsw, struct vsw_dp *dp,
		   const struct vsw_cfg *cfg)
{
	struct rte_mbuf *m;

	while (rte_ring_sc_dequeue(vsw->dhcpc_tx, (void **)&m) == 0) {
		uint16_t slot = m->port;
		const struct vsw_dp_port *up =
			slot < VSW_MAX_PORTS ? &cfg->port[slot] : NULL;

		if (!up || !up->active || !up->dhcp) {
			rte_pktmbuf_free(m);
			continue;
		}
		if (m->hash.usr == TX_ROUTE) {
			/* To the IPv4 destination, through its next hop. */
			uint32_t dst = vsw_get32(rte_pktmbuf_mtod(m, uint8_t *) +
						 14 + 16);

			vsw_router_uplink_send(vsw, dp, cfg, slot, m, dst);
		} else {
			vsw_dp_output(dp, cfg, slot, m);
		}
	}
}

static uint64_t
dp_tx_now(struct vsw *vsw, void *arg)
{
	(void)arg;
	vsw_uplink_dhcp_tx(vsw, vsw->dp, atomic_load(&vsw->cfg));
	vsw_dp_flush_tx(vsw, atomic_load(&vsw->cfg), vsw->dp);
	return 0;
}

/* ---- the control thread's side ---- */

static void
lease_path(struct vsw *vsw, const struct vsw_port *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s.%s.dhcp-lease", vsw->opts.config_path,
		 p->cfg.name);
}

static void
lease_save(struct vsw *vsw, struct vsw_port *p)
{
	char path[VSW_PATH_MAX * 2 + 48], text[256];
	int n, r;

	if (!vsw->opts.config_path || !p->dhcp->c.have_lease)
		return;
	n = vsw_dhcpc_lease_format(&p->dhcp->c.lease, text, sizeof(text));
	if (n < 0)
		return;
	lease_path(vsw, p, path, sizeof(path));
	r = vsw_write_file_atomic(path, text, (size_t)n);
	if (r < 0)
		log_err("vswitch.dhcpc", "cannot write %s: %s", path,
			strerror(-r));
}

static void
lease_forget(struct vsw *vsw, struct vsw_port *p)
{
	char path[VSW_PATH_MAX * 2 + 48];

	if (!vsw->opts.config_path)
		return;
	lease_path(vsw, p, path, sizeof(path));
	unlink(path);
}

/* The saved lease, if there is a readable one. */
static bool
lease_load(struct vsw *vsw, struct vsw_port *p, struct vsw_dhcpc_lease *l)
{
	char path[VSW_PATH_MAX * 2 + 48], text[512];
	ssize_t n;
	int fd;

	if (!vsw->opts.config_path)
		return false;
	lease_path(vsw, p, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return false;
	text[n] = '\0';
	if (vsw_dhcpc_lease_parse(text, l) < 0) {
		log_warn("vswitch.dhcpc", "%s: ignoring unreadable %s",
			 p->cfg.name, path);
		return false;
	}
	return true;
}

/* Tells the data plane which address's ARP the client wants to see. */
static void
probe_publish(struct vsw *vsw, const struct vsw_port *p)
{
	const struct vsw_dhcpc *c = &p->dhcp->c;

	/* Before the probe goes out (the ring orders the two), so that
	 * an answer that comes at once finds it. */
	atomic_store_explicit(&vsw->dhcpc_probe[p->slot],
			      c->state == VSW_DHCPC_PROBING ? c->lease.addr : 0,
			      memory_order_release);
}

/* Hands a frame the client wrote to the data plane. */
static void
send_frame(struct vsw *vsw, struct vsw_port *p, uint8_t *f, size_t len,
	   bool unicast)
{
	struct rte_mbuf *m;
	uint8_t *d;

	if (!len)
		return;
	if (unicast && p->dhcp->server_mac_known)
		memcpy(f, p->dhcp->server_mac, 6);
	m = rte_pktmbuf_alloc(vsw->pool);
	if (!m)
		return;
	d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
	if (!d) {
		rte_pktmbuf_free(m);
		return;
	}
	memcpy(d, f, len);
	m->port = (uint16_t)p->slot;
	m->hash.usr = unicast && !p->dhcp->server_mac_known ? TX_ROUTE : 0;
	if (rte_ring_enqueue(vsw->dhcpc_tx, m) < 0)
		rte_pktmbuf_free(m);
}

/* The networks that NAT through 'p', for log lines. */
static void
nat_users(struct vsw *vsw, const struct vsw_port *p, char *buf, size_t len)
{
	size_t k = 0;

	buf[0] = '\0';
	for (int i = 0; i < VSW_MAX_NETS && k + 2 < len; i++) {
		const struct vsw_net *n = vsw->net[i];
		int w;

		if (!n || strcmp(n->cfg.nat_uplink, p->cfg.name))
			continue;
		w = snprintf(buf + k, len - k, "%s%s", k ? ", " : "", n->cfg.name);
		if (w < 0 || (size_t)w >= len - k)
			break;
		k += (size_t)w;
	}
}

/* Makes the port's address what the client holds (or none). */
static void
apply(struct vsw *vsw, struct vsw_port *p)
{
	const struct vsw_dhcpc *c = &p->dhcp->c;
	struct vsw_port_config cfg = p->cfg;
	char a[16], g[16], nets[256];
	int r;

	cfg.addr = c->have_lease ? c->lease.addr : 0;
	cfg.addr_prefix = c->have_lease ? c->lease.prefix_len : 0;
	cfg.gateway = c->have_lease ? c->lease.router : 0;
	memset(cfg.gateway_mac, 0, 6);
	r = vsw_port_set_locked(vsw, &cfg);
	nat_users(vsw, p, nets, sizeof(nets));
	if (r < 0) {
		log_err("vswitch.dhcpc", "%s: cannot apply the lease: %s",
			p->cfg.name, strerror(-r));
		return;
	}
	if (c->have_lease)
		log_info("vswitch.dhcpc", "%s: address %s/%u, gateway %s from "
			 "DHCP (lease %u s)%s%s", p->cfg.name,
			 vsw_ipv4_format(c->lease.addr, a), c->lease.prefix_len,
			 c->lease.router ? vsw_ipv4_format(c->lease.router, g)
					 : "none",
			 c->lease.lease_s, nets[0] ? "; NAT for " : "", nets);
	else
		log_warn("vswitch.dhcpc", "%s: no DHCP lease: the port has no "
			 "address%s%s", p->cfg.name,
			 nets[0] ? "; NAT stops for " : "", nets);
}

static void
events(struct vsw *vsw, struct vsw_port *p, int ev)
{
	const struct vsw_dhcpc *c = &p->dhcp->c;
	char a[16], s[16];

	if (ev & VSW_DHCPC_EV_PROBING)
		log_info("vswitch.dhcpc", "%s: %s ACKed by %s; ARP probes "
			 "first (%d, %d ms apart)", p->cfg.name,
			 vsw_ipv4_format(c->lease.addr, a),
			 vsw_ipv4_format(c->lease.server, s),
			 VSW_DHCPC_PROBE_NUM, VSW_DHCPC_PROBE_INTERVAL_MS);
	if (ev & VSW_DHCPC_EV_DECLINED) {
		const uint8_t *m = c->declined_by;

		log_warn("vswitch.dhcpc", "%s: %s is in use by "
			 "%02x:%02x:%02x:%02x:%02x:%02x (ARP); DHCPDECLINE "
			 "sent, DISCOVER again in %d s", p->cfg.name,
			 vsw_ipv4_format(c->declined, a), m[0], m[1], m[2],
			 m[3], m[4], m[5], VSW_DHCPC_DECLINE_WAIT_MS / 1000);
		p->dhcp->server_mac_known = false;
		lease_forget(vsw, p);
	}
	if (ev & (VSW_DHCPC_EV_BOUND | VSW_DHCPC_EV_LOST)) {
		if (ev & VSW_DHCPC_EV_BOUND && !p->dhcp->bound_after_ms) {
			p->dhcp->bound_after_ms =
				clock_mono_ms() - p->dhcp->on_ms;
			if (!p->dhcp->bound_after_ms)
				p->dhcp->bound_after_ms = 1;
		}
		apply(vsw, p);
	}
	if (ev & (VSW_DHCPC_EV_BOUND | VSW_DHCPC_EV_RENEWED))
		lease_save(vsw, p);
	if (ev & VSW_DHCPC_EV_LOST) {
		p->dhcp->server_mac_known = false;
		lease_forget(vsw, p);
	}
}

/* Runs the timers of 'p' until nothing is due. */
static void
poll_port(struct vsw *vsw, struct vsw_port *p)
{
	uint8_t f[VSW_DHCPC_FRAME_MAX];
	bool uni = false;
	size_t n;
	int ev = 0;

	for (int i = 0; i < 8; i++) {
		n = vsw_dhcpc_poll(&p->dhcp->c, clock_mono_ms(), wall_s(), f,
				   &uni, &ev);
		probe_publish(vsw, p);
		if (!n)
			break;
		send_frame(vsw, p, f, n, uni);
	}
	events(vsw, p, ev);
}

/* (Re)starts the client with the port's MAC and the saved lease. */
static void
client_start(struct vsw *vsw, struct vsw_port *p)
{
	struct vsw_dhcpc_lease saved;
	bool have = lease_load(vsw, p, &saved);

	p->dhcp->on_ms = clock_mono_ms();
	vsw_dhcpc_start(&p->dhcp->c, p->mac, have ? &saved : NULL,
			p->dhcp->on_ms, wall_s(), (uint32_t)getpid() ^ p->slot);
	if (p->dhcp->c.state == VSW_DHCPC_REBOOTING) {
		char a[16];

		log_info("vswitch.dhcpc", "%s: asking for the saved lease of %s "
			 "again", p->cfg.name,
			 vsw_ipv4_format(saved.addr, a));
	}
}

int
vsw_uplink_dhcp_on(struct vsw *vsw, struct vsw_port *p)
{
	if (p->dhcp)
		return 0;
	p->dhcp = calloc(1, sizeof(*p->dhcp));
	if (!p->dhcp)
		return -ENOMEM;
	client_start(vsw, p);
	return 0;
}

void
vsw_uplink_dhcp_kick(struct vsw *vsw, struct vsw_port *p)
{
	if (p->dhcp && !p->missing)
		poll_port(vsw, p);
}

void
vsw_uplink_dhcp_off(struct vsw *vsw, struct vsw_port *p, bool release)
{
	uint8_t f[VSW_DHCPC_FRAME_MAX];
	bool uni = false;
	size_t n;

	if (!p->dhcp)
		return;
	atomic_store_explicit(&vsw->dhcpc_probe[p->slot], 0,
			      memory_order_release);
	if (release) {
		n = vsw_dhcpc_release(&p->dhcp->c, f, &uni);
		if (n && !p->missing) {
			send_frame(vsw, p, f, n, uni);
			/* Out before the port changes or goes. */
			vsw_dp_run(vsw, dp_tx_now, NULL);
		}
		lease_forget(vsw, p);
	}
	free(p->dhcp);
	p->dhcp = NULL;
}

/* Called with the lock held, from housekeeping and on the eventfd. */
void
vsw_uplink_dhcp_housekeeping(struct vsw *vsw)
{
	uint8_t out[VSW_DHCPC_FRAME_MAX];
	uint64_t cnt;
	struct rte_mbuf *m;

	if (read(vsw->dhcpc_efd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: no frame since the last time. */
	}
	while (rte_ring_sc_dequeue(vsw->dhcpc_rx, (void **)&m) == 0) {
		struct vsw_port *p = m->port < VSW_MAX_PORTS ? vsw->port[m->port]
							     : NULL;
		const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
		uint32_t len = rte_pktmbuf_data_len(m);
		bool uni = false;
		size_t n;
		int ev = 0;

		if (p && p->dhcp) {
			n = vsw_dhcpc_input(&p->dhcp->c, f, len, clock_mono_ms(),
					    wall_s(), out, &uni, &ev);
			probe_publish(vsw, p);
			send_frame(vsw, p, out, n, uni);
			/* Unicast renewals go straight to the server's MAC
			 * when the server is on the link (IP source = id). */
			if ((ev & (VSW_DHCPC_EV_BOUND | VSW_DHCPC_EV_RENEWED |
				   VSW_DHCPC_EV_PROBING)) &&
			    len >= 34 && vsw_get32(f + 26) == p->dhcp->c.lease.server &&
			    !(f[6] & 1)) {
				memcpy(p->dhcp->server_mac, f + 6, 6);
				p->dhcp->server_mac_known = true;
			}
			events(vsw, p, ev);
		}
		rte_pktmbuf_free(m);
	}
	for (int i = 0; i < VSW_MAX_PORTS; i++) {
		struct vsw_port *p = vsw->port[i];

		if (!p || !p->dhcp || p->missing)
			continue;
		/* A device found after a restore has its MAC only now. */
		if (memcmp(p->dhcp->c.mac, p->mac, 6))
			client_start(vsw, p);
		poll_port(vsw, p);
	}
}

void
vsw_uplink_dhcp_json(const struct vsw_port *p, struct json_writer *w)
{
	const struct vsw_dhcpc *c;
	uint64_t now = clock_mono_ms();
	char a[16], buf[24];

	if (!p->dhcp)
		return;
	c = &p->dhcp->c;
	json_obj_begin(w, "dhcp_client");
	json_str(w, "state", vsw_dhcpc_state_name(c->state));
	if (c->state == VSW_DHCPC_PROBING)
		json_str(w, "probing", vsw_ipv4_format(c->lease.addr, a));
	if (c->have_lease) {
		const struct vsw_dhcpc_lease *l = &c->lease;
		uint64_t t1 = l->acquired_ms + (uint64_t)l->t1_s * 1000;
		uint64_t t2 = l->acquired_ms + (uint64_t)l->t2_s * 1000;
		uint64_t end = l->acquired_ms + (uint64_t)l->lease_s * 1000;

		snprintf(buf, sizeof(buf), "%s/%u", vsw_ipv4_format(l->addr, a),
			 l->prefix_len);
		json_str(w, "address", buf);
		if (l->router)
			json_str(w, "gateway", vsw_ipv4_format(l->router, a));
		json_str(w, "server", vsw_ipv4_format(l->server, a));
		json_u64(w, "lease_s", l->lease_s);
		json_u64(w, "t1_s", l->t1_s);
		json_u64(w, "t2_s", l->t2_s);
		json_u64(w, "acquired", l->acquired_wall);
		json_u64(w, "renew_in_s", t1 > now ? (t1 - now) / 1000 : 0);
		json_u64(w, "rebind_in_s", t2 > now ? (t2 - now) / 1000 : 0);
		json_u64(w, "expires_in_s", end > now ? (end - now) / 1000 : 0);
	}
	if (p->dhcp->bound_after_ms)
		json_u64(w, "first_address_ms", p->dhcp->bound_after_ms);
	json_u64(w, "discovers", c->st.discovers);
	json_u64(w, "requests", c->st.requests);
	json_u64(w, "offers", c->st.offers);
	json_u64(w, "acks", c->st.acks);
	json_u64(w, "naks", c->st.naks);
	json_u64(w, "renewals", c->st.renewals);
	json_u64(w, "rebinds", c->st.rebinds);
	json_u64(w, "reboots", c->st.reboots);
	json_u64(w, "expiries", c->st.expiries);
	json_u64(w, "releases", c->st.releases);
	json_u64(w, "bad_replies", c->st.bad_replies);
	json_u64(w, "arp_probes", c->st.probes);
	json_u64(w, "arp_announcements", c->st.announcements);
	json_u64(w, "declines", c->st.declines);
	if (c->declined) {
		const uint8_t *m = c->declined_by;

		snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x",
			 m[0], m[1], m[2], m[3], m[4], m[5]);
		json_str(w, "last_declined", vsw_ipv4_format(c->declined, a));
		json_str(w, "last_declined_by", buf);
	}
	json_obj_end(w);
}
