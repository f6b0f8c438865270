/* SPDX-License-Identifier: MIT */
/*
 * iSCSI LUNs through libiscsi's asynchronous API: one session per handle,
 * driven by this handle's lun_poll() (ppoll on the session's socket, then
 * iscsi_service()). This file holds open, close and the lun_ops entry
 * points, and states the policy; lun-iscsi-session.c runs sessions and
 * the event loop, lun-iscsi-url.c checks URLs, lun-iscsi-scsi.c builds
 * commands, probes the LUN and maps SCSI status, lun-iscsi-pr.c does
 * persistent reservations and ATS. docs/LUN.md has the user's view.
 *
 * URL: iscsi://[user[%pass]@]host[:port]/target-iqn/lun, parsed by
 * iscsi_parse_full_url(); CHAP from the URL or LIBISCSI_CHAP_USERNAME and
 * LIBISCSI_CHAP_PASSWORD. The initiator is lun_config.initiator_iqn or
 * "iqn.2026-11.org.vstack:HOSTNAME", with a random ISID per handle. Logs
 * never show the password.
 *
 * Deadlines. Every command has one (lun_io.deadline_ns for callers' I/O,
 * io_timeout_ms for our own). Connecting and logging in get io_timeout_ms
 * too, so a closed port, a dead host or a listener that never answers
 * fails lun_open() within it. A command past its deadline completes with
 * -ETIMEDOUT and the session is torn down (the socket closed) at once, so
 * no late completion can be reported on this handle; a write the target
 * had already taken may still land there, which is why lease code keeps
 * a margin of 2 x io_timeout.
 *
 * A lost session (the target died, the connection reset, or a deadline
 * teardown) is never recovered by libiscsi: its auto-reconnect replays
 * every command, writes included, on a new session with a new ISID. We
 * turn it off and decide per command:
 *
 *   no_reconnect    the handle is dead: every command in flight completes
 *                   with -ENOTCONN (the one whose deadline passed with
 *                   -ETIMEDOUT), and so does every later request.
 *   reconnecting    reads and flushes in flight are re-issued on the next
 *                   session (both are idempotent); writes and discards
 *                   that were sent complete with -ECONNRESET: they may or
 *                   may not have reached the medium, the caller decides.
 *                   A command libiscsi had not yet written to the socket
 *                   was never seen by the target and is simply re-sent.
 *                   Requests wait for the new session up to their own
 *                   deadlines. Reconnecting starts at once, then backs
 *                   off to one attempt every 2 s while requests wait.
 *
 * The new session keeps the handle's ISID (so targets that key
 * registrations by initiator port keep them), clears unit attentions, and
 * re-registers this handle's persistent-reservation key only if the key
 * is still registered: a host preempted (fenced) while it was
 * disconnected stays fenced. tgtd ties registrations to the I_T nexus,
 * which a new session is not, so there the key is registered again on
 * the new nexus and the old registration lingers until preempted. A
 * reservation the lost session held stays with it (see lun-iscsi-pr.c
 * for ATS).
 *
 * Writes to a dropped connection would raise SIGPIPE (libiscsi's writev
 * does not suppress it), so the first open sets SIGPIPE to SIG_IGN if it
 * was at its default.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "vfs-cluster/lun-iscsi-internal.h"

static int
set_initiator(struct lun_iscsi *l, const char *iqn)
{
	char host[128] = "localhost";
	size_t n = 0;

	if (iqn) {
		if (!*iqn || strlen(iqn) >= sizeof(l->initiator) ||
		    strpbrk(iqn, " \t\n"))
			return -EINVAL;
		strcpy(l->initiator, iqn);
		return 0;
	}
	gethostname(host, sizeof(host) - 1);
	n = (size_t)snprintf(l->initiator, sizeof(l->initiator),
			     "iqn.2026-11.org.vstack:");
	for (const char *p = host; *p && n + 1 < sizeof(l->initiator); p++) {
		char c = *p;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-'))
			c = '-';
		l->initiator[n++] = c;
	}
	l->initiator[n] = '\0';
	return 0;
}

static void
ignore_sigpipe(void)
{
	struct sigaction sa;

	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
		sa.sa_handler = SIG_IGN;
		sigaction(SIGPIPE, &sa, NULL);
	}
}

static int
alloc_cmds(struct lun_iscsi *l, uint32_t depth)
{
	l->pool = calloc(depth, sizeof(*l->pool));
	if (!l->pool)
		return -ENOMEM;
	for (uint32_t i = 0; i < depth; i++) {
		l->pool[i].next = l->free_cmds;
		l->free_cmds = &l->pool[i];
	}
	return 0;
}

static void
free_handle(struct lun_iscsi *l)
{
	iscsi_events_close(l);
	free(l->pool);
	free(l->url);
	free(l->log_name);
	free(l);
}

static int
iscsi_open(const char *target, const struct lun_config *cfg,
	   struct lun **out)
{
	struct lun_iscsi *l = calloc(1, sizeof(*l));
	uint8_t rnd[5];
	int err;

	if (!l)
		return -ENOMEM;
	l->epfd = l->tfd = l->efd = -1;
	l->url = strdup(target);
	l->log_name = iscsi_url_redact(target);
	if (!l->url || !l->log_name) {
		err = -ENOMEM;
		goto err_free;
	}
	l->io_timeout_ns = (uint64_t)cfg->io_timeout_ms * NS_PER_MS;
	l->no_reconnect = cfg->no_reconnect;
	l->read_only = cfg->read_only;
	l->opening = true;
	err = set_initiator(l, cfg->initiator_iqn);
	if (err < 0) {
		log_err(LOG_TOPIC, "%s: bad initiator name '%s'", l->log_name,
			cfg->initiator_iqn);
		goto err_free;
	}
	err = iscsi_url_parse(l);
	if (err < 0)
		goto err_free;
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		memset(rnd, getpid() & 0xff, sizeof(rnd));
	l->isid_rnd = (uint32_t)rnd[0] << 16 | (uint32_t)rnd[1] << 8 | rnd[2];
	l->isid_qual = (uint16_t)(rnd[3] << 8 | rnd[4]);
	err = alloc_cmds(l, cfg->queue_depth);
	if (err < 0)
		goto err_free;
	ignore_sigpipe();
	err = iscsi_session_open(l);
	if (err < 0)
		goto err_close;
	err = iscsi_probe_lun(l, cfg);
	if (err < 0)
		goto err_close;
	l->opening = false;
	*out = &l->base;
	return 0;

err_close:
	iscsi_session_teardown(l, SESS_DEAD);
err_free:
	free_handle(l);
	return err;
}

static void
iscsi_close(struct lun *lun)
{
	struct lun_iscsi *l = to_iscsi(lun);

	/* A registration open made for the PR mutex goes with the handle;
	 * one made through lun_pr_register() outlives it, as in SCSI. */
	if (l->state == SESS_UP && l->implicit_reg && l->base.pr_key)
		iscsi_pr_register_key(l, 0);
	/* A reservation held stays with the I_T nexus, as the caller
	 * meant it to (a lost session is what teardown warns about). */
	l->held_type = 0;
	iscsi_session_teardown(l, SESS_DEAD);
	free_handle(l);
}

/* ---- the request path ---- */

static int
iscsi_submit(struct lun *lun, struct lun_io *io)
{
	struct lun_iscsi *l = to_iscsi(lun);
	struct iscsi_cmd *cmd = l->free_cmds;

	if (!cmd)
		return -EAGAIN;
	l->free_cmds = cmd->next;
	iscsi_cmd_init(l, cmd, KIND_IO, io->deadline_ns);
	cmd->io = io;
	if (io->op == LUN_OP_DISCARD && !iscsi_unmap_fits(l, io)) {
		log_err(LOG_TOPIC, "%s: discard of %llu bytes exceeds the "
			"target's UNMAP limits", l->log_name,
			(unsigned long long)io->len_bytes);
		iscsi_cmd_finish(l, cmd, -EINVAL);
		return 0;
	}
	iscsi_cmd_start(cmd);
	/* The command may now wait in libiscsi's output queue. */
	iscsi_events_sync(l);
	return 0;
}

/* Runs done() for what completed; returns how many. */
static int
drain(struct lun_iscsi *l)
{
	struct iscsi_cmd *cmd;
	int n = 0;

	while ((cmd = iscsi_cmd_take_completed(l)) != NULL) {
		struct lun_io *io = cmd->io;

		cmd->next = l->free_cmds;
		l->free_cmds = cmd;
		lun_io_complete(&l->base, io, cmd->result);
		n++;
	}
	return n;
}

static int
iscsi_kick(struct lun *lun)
{
	iscsi_engine_round(to_iscsi(lun), 0);
	return 0;
}

static int
iscsi_poll(struct lun *lun, unsigned int min_done, int timeout_ms)
{
	struct lun_iscsi *l = to_iscsi(lun);
	uint64_t until = timeout_ms < 0 ? UINT64_MAX :
			 clock_mono_ns() + (uint64_t)timeout_ms * NS_PER_MS;
	unsigned int done = (unsigned int)drain(l);

	while (done < min_done && lun->inflight > 0 &&
	       clock_mono_ns() < until) {
		iscsi_engine_round(l, until);
		done += (unsigned int)drain(l);
	}
	if (min_done == 0) {
		/* A non-blocking poll is also the caller's kick. */
		iscsi_engine_round(l, 0);
		done += (unsigned int)drain(l);
	}
	iscsi_events_sync(l);
	return (int)done;
}

static int
iscsi_event_fd(struct lun *lun)
{
	return iscsi_events_open(to_iscsi(lun));
}

const struct lun_ops lun_iscsi_ops = {
	.scheme = "iscsi",
	.open = iscsi_open,
	.close = iscsi_close,
	.submit = iscsi_submit,
	.kick = iscsi_kick,
	.poll = iscsi_poll,
	.event_fd = iscsi_event_fd,
	.ats = lun_iscsi_ats,
	.pr_register = lun_iscsi_pr_register,
	.pr_reserve = lun_iscsi_pr_reserve,
	.pr_release = lun_iscsi_pr_release,
	.pr_preempt = lun_iscsi_pr_preempt,
	.pr_read = lun_iscsi_pr_read,
};
