/* SPDX-License-Identifier: MIT */
/*
 * The iSCSI backend's engine: the lists a command moves through (see
 * lun-iscsi-internal.h), libiscsi's callbacks, sessions (connect, login,
 * the post-login chain, teardown and what it means for each command in
 * flight) and the event loop that drives them. The policy it implements
 * is described at the top of lun-iscsi.c.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "vfs-cluster/lun-iscsi-internal.h"

#define RECONNECT_MAX_BACKOFF_NS (2 * NS_PER_SEC)
/* flush_out(): how recent a read still vouches for the connection */
#define FLUSH_FRESH_NS (1 * NS_PER_MS)

/* ---- command lists ---- */

static void
list_add(struct cmd_list *list, struct iscsi_cmd *cmd)
{
	cmd->next = NULL;
	cmd->prev = list->tail;
	if (list->tail)
		list->tail->next = cmd;
	else
		list->head = cmd;
	list->tail = cmd;
	list->n++;
}

static void
list_del(struct cmd_list *list, struct iscsi_cmd *cmd)
{
	if (cmd->prev)
		cmd->prev->next = cmd->next;
	else
		list->head = cmd->next;
	if (cmd->next)
		cmd->next->prev = cmd->prev;
	else
		list->tail = cmd->prev;
	cmd->prev = cmd->next = NULL;
	list->n--;
}

static struct cmd_list *
list_of(struct lun_iscsi *l, struct iscsi_cmd *cmd)
{
	switch (cmd->where) {
	case CMD_QUEUED: return &l->queued;
	case CMD_SENT: return &l->sent;
	case CMD_COMPLETED: return cmd->kind == KIND_IO ? &l->completed : NULL;
	}
	return NULL;
}

static void
cmd_move(struct lun_iscsi *l, struct iscsi_cmd *cmd, enum cmd_where to)
{
	struct cmd_list *from = list_of(l, cmd);

	if (from)
		list_del(from, cmd);
	cmd->where = (uint8_t)to;
	if (list_of(l, cmd))
		list_add(list_of(l, cmd), cmd);
}

uint64_t
iscsi_deadline(const struct lun_iscsi *l)
{
	return clock_mono_ns() + l->io_timeout_ns;
}

/*
 * Records the outcome. Callers' I/O then waits in 'completed' for
 * lun_poll(); own commands keep a good task (its data is wanted) until
 * iscsi_cmd_release(), and their on_done() runs at once.
 */
void
iscsi_cmd_finish(struct lun_iscsi *l, struct iscsi_cmd *cmd, int64_t result)
{
	cmd->result = result;
	if (cmd->task && (cmd->kind == KIND_IO || result < 0)) {
		scsi_free_scsi_task(cmd->task);
		cmd->task = NULL;
	}
	cmd_move(l, cmd, CMD_COMPLETED);
	if (cmd->kind != KIND_IO && cmd->on_done)
		cmd->on_done(cmd);
}

/* ---- sending ---- */

static void cmd_cb(struct iscsi_context *iscsi, int status, void *data,
		   void *priv);

static bool
can_send(const struct lun_iscsi *l, const struct iscsi_cmd *cmd)
{
	return l->state == SESS_UP || (l->state == SESS_SETUP && cmd->setup);
}

static void
cmd_send(struct lun_iscsi *l, struct iscsi_cmd *cmd)
{
	struct scsi_task *task = iscsi_cmd_build(l, cmd, cmd_cb);

	if (!task) {
		log_err(LOG_TOPIC, "%s: cannot queue %s: %s", l->log_name,
			iscsi_cmd_name(cmd), iscsi_get_error(l->iscsi));
		iscsi_cmd_finish(l, cmd, -EIO);
		return;
	}
	cmd->task = task;
	cmd->tx_epoch = l->tx_epoch;
	cmd_move(l, cmd, CMD_SENT);
}

static void
send_queued(struct lun_iscsi *l, uint64_t now)
{
	struct iscsi_cmd *cmd, *next;

	for (cmd = l->queued.head; cmd; cmd = next) {
		next = cmd->next;
		if (can_send(l, cmd) && cmd->not_before_ns <= now)
			cmd_send(l, cmd);
	}
}

static void
cmd_retry_later(struct lun_iscsi *l, struct iscsi_cmd *cmd, uint64_t delay)
{
	if (cmd->task) {
		scsi_free_scsi_task(cmd->task);
		cmd->task = NULL;
	}
	cmd->retries++;
	cmd->not_before_ns = clock_mono_ns() + delay;
	cmd_move(l, cmd, CMD_QUEUED);
}

/*
 * libiscsi's completion callback, called from inside iscsi_service() (or
 * iscsi_destroy_context(), which we ignore: teardown settles commands).
 * Nothing here calls back into the caller's code.
 */
static void
cmd_cb(struct iscsi_context *iscsi, int status, void *data, void *priv)
{
	struct iscsi_cmd *cmd = priv;
	struct lun_iscsi *l = cmd->l;
	struct scsi_task *task = data;

	if (l->tearing || iscsi != l->iscsi || cmd->where != CMD_SENT)
		return;
	if (status == SCSI_STATUS_CANCELLED) {
		/* libiscsi dropped the connection: teardown decides. */
		l->link_lost = true;
		return;
	}
	cmd->status = status;
	cmd->sense = task->sense;
	if (iscsi_cmd_retryable(cmd)) {
		bool pr_ua = status == SCSI_STATUS_CHECK_CONDITION &&
			     iscsi_sense_is_pr_ua(&cmd->sense);

		if (pr_ua)
			iscsi_pr_note_ua(l, &cmd->sense);
		/* Preempted: whatever we held under the reservation is
		 * gone, so the ATS step must not run after all. */
		if (pr_ua && cmd->abort_on_pr_ua && cmd->sense.ascq != 0x2a04) {
			iscsi_cmd_finish(l, cmd, -EBADE);
			return;
		}
		if (cmd->retries < 8 && clock_mono_ns() < cmd->deadline_ns) {
			uint64_t delay = status == SCSI_STATUS_CHECK_CONDITION ?
					 0 : (uint64_t)(cmd->retries + 1) * NS_PER_MS;

			log_debug(LOG_TOPIC, "%s: %s: retrying after status "
				  "0x%x sense %x/%04x", l->log_name,
				  iscsi_cmd_name(cmd), status, cmd->sense.key,
				  cmd->sense.ascq);
			cmd_retry_later(l, cmd, delay);
			return;
		}
	}
	iscsi_cmd_finish(l, cmd, iscsi_cmd_result(l, cmd, task));
}

/* ---- sessions ---- */

static int
error_from_message(const char *msg)
{
	const char *p = strrchr(msg, '(');
	long code = p ? strtol(p + 1, NULL, 10) : 0;

	if (strstr(msg, "log in")) {
		/* iSCSI login status class and detail, RFC 7143 11.13.5 */
		switch (code) {
		case 0x0201: case 0x0202: return -EACCES;
		case 0x0203: case 0x0204: return -ENOENT;
		case 0x0300: case 0x0301: case 0x0302: return -EAGAIN;
		}
		return -EPROTO;
	}
	if (strstr(msg, "Can not resolv") || strstr(msg, "Invalid target"))
		return -EHOSTUNREACH;
	if (code > 0 && code < 4096 &&
	    (strstr(msg, "socket error") || strstr(msg, "errno")))
		return -(int)code;
	return -ECONNREFUSED;
}

static bool
connecting(const struct lun_iscsi *l, const struct iscsi_context *iscsi)
{
	return iscsi == l->iscsi && l->state == SESS_CONNECTING &&
	       l->connect_status == 0;
}

static void
connect_error(struct lun_iscsi *l, struct iscsi_context *iscsi)
{
	l->connect_status = error_from_message(iscsi_get_error(iscsi));
	snprintf(l->connect_msg, sizeof(l->connect_msg), "%s",
		 iscsi_get_error(iscsi));
}

static void
login_cb(struct iscsi_context *iscsi, int status, void *data, void *priv)
{
	struct lun_iscsi *l = priv;

	if (!connecting(l, iscsi))
		return;
	if (status == SCSI_STATUS_GOOD) {
		l->connect_status = 1;
	} else if (status == SCSI_STATUS_REDIRECT) {
		l->connect_status = -EPROTO;
		snprintf(l->connect_msg, sizeof(l->connect_msg),
			 "the target redirects to %s (not followed)",
			 iscsi_get_target_address(iscsi));
	} else {
		connect_error(l, iscsi);
	}
}

/*
 * TCP connected (or not): log in. We do not use iscsi_full_connect_async(),
 * whose helper allocation leaks when a login is abandoned at a deadline.
 */
static void
socket_cb(struct iscsi_context *iscsi, int status, void *data, void *priv)
{
	struct lun_iscsi *l = priv;

	if (!connecting(l, iscsi))
		return;
	if (status != SCSI_STATUS_GOOD ||
	    iscsi_login_async(iscsi, login_cb, l) != 0)
		connect_error(l, iscsi);
}

static struct iscsi_context *
session_new(struct lun_iscsi *l)
{
	struct iscsi_context *iscsi = iscsi_create_context(l->initiator);
	struct iscsi_url *url;

	if (!iscsi)
		return NULL;
	/* Before parsing: a header_digest= in the URL overrides it. */
	iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	url = iscsi_parse_full_url(iscsi, l->url);
	if (!url) {
		iscsi_destroy_context(iscsi);
		return NULL;
	}
	iscsi_destroy_url(url);
	iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_isid_random(iscsi, l->isid_rnd, l->isid_qual);
	iscsi_set_noautoreconnect(iscsi, 1);
	iscsi_set_reconnect_max_retries(iscsi, 0);
	iscsi_set_tcp_user_timeout(iscsi, (int)(l->io_timeout_ns / NS_PER_MS));
	return iscsi;
}

static void settle_sent(struct lun_iscsi *l, uint64_t now);

/*
 * Closes the session (callbacks of the dying context are ignored) and
 * settles every command that was sent on it; see the top of the file.
 */
void
iscsi_session_teardown(struct lun_iscsi *l, enum session_state next)
{
	struct iscsi_context *iscsi = l->iscsi;
	bool was_up = l->state == SESS_UP;

	l->iscsi = NULL;
	l->tearing = true;
	if (iscsi)
		iscsi_destroy_context(iscsi);
	l->tearing = false;
	l->link_lost = false;
	l->state = next;
	if (was_up && l->held_type) {
		log_warn(LOG_TOPIC, "%s: the lost session held a persistent "
			 "reservation; it stays with that session until "
			 "preempted", l->log_name);
		l->held_type = 0;
	}
	settle_sent(l, clock_mono_ns());
	for (struct iscsi_cmd *cmd = l->queued.head, *n; cmd; cmd = n) {
		n = cmd->next;
		/* The login chain belongs to the session that died. */
		if (next == SESS_DEAD || cmd->setup)
			iscsi_cmd_finish(l, cmd, next == SESS_DEAD ? -ENOTCONN :
							      -ECONNRESET);
	}
}

static void
settle_sent(struct lun_iscsi *l, uint64_t now)
{
	struct iscsi_cmd *cmd;

	while ((cmd = l->sent.head) != NULL) {
		bool expired = now >= cmd->deadline_ns;
		bool never_sent = cmd->tx_epoch == l->tx_epoch;
		bool idempotent = cmd->kind == KIND_IO ?
				  cmd->io->op == LUN_OP_READ ||
					  cmd->io->op == LUN_OP_FLUSH :
				  false;

		if (cmd->task) {
			scsi_free_scsi_task(cmd->task);
			cmd->task = NULL;
		}
		if (expired)
			iscsi_cmd_finish(l, cmd, -ETIMEDOUT);
		else if (l->state == SESS_DEAD)
			iscsi_cmd_finish(l, cmd, -ENOTCONN);
		else if (cmd->setup)
			iscsi_cmd_finish(l, cmd, -ECONNRESET);
		else if (never_sent || idempotent)
			cmd_move(l, cmd, CMD_QUEUED);
		else
			iscsi_cmd_finish(l, cmd, -ECONNRESET);
	}
}

static int
session_start(struct lun_iscsi *l)
{
	l->iscsi = session_new(l);
	if (!l->iscsi)
		return -ENOMEM;
	l->state = SESS_CONNECTING;
	l->connect_status = 0;
	l->connect_deadline_ns = iscsi_deadline(l);
	if (iscsi_connect_async(l->iscsi, l->portal, socket_cb, l) != 0) {
		int err = error_from_message(iscsi_get_error(l->iscsi));

		snprintf(l->connect_msg, sizeof(l->connect_msg), "%s",
			 iscsi_get_error(l->iscsi));
		iscsi_session_teardown(l, SESS_DOWN);
		return err;
	}
	return 0;
}

static void
connect_failed(struct lun_iscsi *l, int err)
{
	uint64_t backoff = (100 * NS_PER_MS) << MIN(l->connect_failures, 5u);

	l->last_error = err;
	if (!l->opening && l->connect_failures == 0)
		log_warn(LOG_TOPIC, "%s: reconnect failed: %s", l->log_name,
			 l->connect_msg);
	l->connect_failures++;
	/* Only a reconnecting handle (or lun_open()) gets here. */
	iscsi_session_teardown(l, SESS_DOWN);
	l->retry_at_ns = clock_mono_ns() + MIN(backoff, RECONNECT_MAX_BACKOFF_NS);
}

/* ---- after login: unit attentions, then our registration ---- */

static void setup_next(struct iscsi_cmd *cmd);

static void
setup_issue(struct lun_iscsi *l, enum cmd_kind kind)
{
	struct iscsi_cmd *cmd = &l->setup_cmd;

	iscsi_cmd_init(l, cmd, kind, iscsi_deadline(l));
	cmd->setup = true;
	cmd->on_done = setup_next;
	if (kind == KIND_PR_IN) {
		cmd->arg.sa = SCSI_PERSISTENT_RESERVE_READ_KEYS;
		cmd->arg.alloc = PR_KEYS_ALLOC;
	} else if (kind == KIND_PR_OUT) {
		cmd->arg.sa = SCSI_PERSISTENT_RESERVE_REGISTER_AND_IGNORE_EXISTING_KEY;
		cmd->arg.sa_key = l->base.pr_key;
	}
	iscsi_cmd_start(cmd);
}

static void
setup_done(struct lun_iscsi *l)
{
	l->state = SESS_UP;
	l->connect_failures = 0;
	if (!l->opening) {
		l->base.stats.reconnects++;
		log_info(LOG_TOPIC, "%s: reconnected", l->log_name);
	}
}

static bool
key_listed(struct scsi_task *task, uint64_t key)
{
	struct scsi_persistent_reserve_in_read_keys *rk =
		task ? scsi_datain_unmarshall(task) : NULL;

	if (!rk)
		return false;
	for (int i = 0; i < rk->num_keys; i++)
		if (rk->keys[i] == key)
			return true;
	return false;
}

static void
setup_forget_key(struct lun_iscsi *l, const char *why)
{
	log_warn(LOG_TOPIC, "%s: key 0x%llx %s; not registering again",
		 l->log_name, (unsigned long long)l->base.pr_key, why);
	l->base.pr_key = 0;
	l->implicit_reg = false;
}

static void
setup_next(struct iscsi_cmd *cmd)
{
	struct lun_iscsi *l = cmd->l;
	int64_t result = cmd->result;
	bool listed = cmd->kind == KIND_PR_IN && result >= 0 &&
		      key_listed(cmd->task, l->base.pr_key);

	iscsi_cmd_release(cmd);
	if (l->state != SESS_SETUP)
		return;
	if (cmd->kind == KIND_TUR && result < 0) {
		l->connect_status = (int)result;
		if (result == -ENOENT)
			snprintf(l->connect_msg, sizeof(l->connect_msg),
				 "the target has no LUN %d", l->lun);
		else
			snprintf(l->connect_msg, sizeof(l->connect_msg),
				 "TEST UNIT READY failed: %s",
				 strerror((int)-result));
		return;
	}
	if (cmd->kind == KIND_TUR && l->base.pr_key && !l->opening) {
		setup_issue(l, KIND_PR_IN);
		return;
	}
	if (cmd->kind == KIND_PR_IN) {
		if (result < 0)
			setup_forget_key(l, "could not be checked");
		else if (!listed)
			setup_forget_key(l, "is no longer registered (this "
					    "host was fenced, or the target "
					    "lost its reservations)");
		else {
			setup_issue(l, KIND_PR_OUT);
			return;
		}
	}
	if (cmd->kind == KIND_PR_OUT && result < 0)
		setup_forget_key(l, "could not be registered again");
	setup_done(l);
}

/* ---- the event loop ---- */

static uint64_t
next_timer(const struct lun_iscsi *l, uint64_t until)
{
	uint64_t t = until;

	for (const struct iscsi_cmd *c = l->sent.head; c; c = c->next)
		t = MIN(t, c->deadline_ns);
	for (const struct iscsi_cmd *c = l->queued.head; c; c = c->next) {
		t = MIN(t, c->deadline_ns);
		if (can_send(l, c))
			t = MIN(t, c->not_before_ns);
	}
	if (l->state == SESS_CONNECTING)
		t = MIN(t, l->connect_deadline_ns);
	if (l->state == SESS_DOWN && l->queued.n)
		t = MIN(t, l->retry_at_ns);
	return t;
}

static void
wait_events(struct lun_iscsi *l, uint64_t now, uint64_t wake)
{
	uint64_t ns = wake > now ? wake - now : 0;
	struct timespec ts = {
		.tv_sec = (time_t)MIN(ns / NS_PER_SEC, (uint64_t)INT32_MAX),
		.tv_nsec = (long)(ns % NS_PER_SEC),
	};
	struct pollfd pfd;
	int rc, in;

	if (!l->iscsi) {
		if (ns)
			ppoll(NULL, 0, &ts, NULL);
		return;
	}
	pfd.fd = iscsi_get_fd(l->iscsi);
	pfd.events = (short)iscsi_which_events(l->iscsi);
	pfd.revents = 0;
	if (pfd.fd < 0) {
		l->link_lost = true;
		return;
	}
	rc = ppoll(&pfd, 1, &ts, NULL);
	if (rc <= 0)
		return;
	/*
	 * Reading before writing notices a connection the target closed
	 * before more is written to it, so commands queued meanwhile are
	 * known never to have been sent (tx_epoch) and may go again.
	 */
	in = pfd.revents & ~POLLOUT;
	if (in && iscsi_service(l->iscsi, in) < 0)
		l->link_lost = true;
	if (in & (POLLERR | POLLHUP | POLLNVAL))
		l->link_lost = true;
	if ((in & POLLIN) && !l->link_lost)
		l->rx_ns = clock_mono_ns();
	if (l->link_lost || !(pfd.revents & POLLOUT))
		return;
	l->tx_epoch++;
	if (iscsi_service(l->iscsi, POLLOUT) < 0)
		l->link_lost = true;
}

static void
expire(struct lun_iscsi *l, uint64_t now)
{
	struct iscsi_cmd *cmd, *next;

	for (cmd = l->sent.head; cmd; cmd = cmd->next) {
		if (now < cmd->deadline_ns)
			continue;
		log_err(LOG_TOPIC, "%s: %s timed out; closing the session",
			l->log_name, iscsi_cmd_name(cmd));
		iscsi_session_teardown(l, l->no_reconnect ? SESS_DEAD : SESS_DOWN);
		l->retry_at_ns = now;
		break;
	}
	for (cmd = l->queued.head; cmd; cmd = next) {
		next = cmd->next;
		if (now >= cmd->deadline_ns)
			iscsi_cmd_finish(l, cmd, -ETIMEDOUT);
	}
}

static void
check_login(struct lun_iscsi *l, uint64_t now)
{
	if (l->state == SESS_CONNECTING && l->connect_status == 1) {
		l->state = SESS_SETUP;
		setup_issue(l, KIND_TUR);
	} else if (l->connect_status < 0) {
		connect_failed(l, l->connect_status);
	} else if (l->link_lost) {
		snprintf(l->connect_msg, sizeof(l->connect_msg), "%s",
			 "the target closed the connection during login");
		connect_failed(l, -ECONNRESET);
	} else if (now >= l->connect_deadline_ns) {
		snprintf(l->connect_msg, sizeof(l->connect_msg),
			 "no answer within %llu ms",
			 (unsigned long long)(l->io_timeout_ns / NS_PER_MS));
		connect_failed(l, -ETIMEDOUT);
	}
}

static void
check_session(struct lun_iscsi *l, uint64_t now)
{
	if (l->state == SESS_CONNECTING || l->state == SESS_SETUP) {
		check_login(l, now);
	} else if (l->link_lost && l->iscsi) {
		log_warn(LOG_TOPIC, "%s: connection lost%s", l->log_name,
			 l->no_reconnect ? " (no_reconnect: the handle is "
					   "now unusable)" : "; reconnecting");
		iscsi_session_teardown(l, l->no_reconnect ? SESS_DEAD : SESS_DOWN);
		l->retry_at_ns = now;
	}
	if (l->state == SESS_DOWN && l->queued.n && now >= l->retry_at_ns &&
	    !l->opening) {
		int err = session_start(l);

		if (err < 0)
			connect_failed(l, err);
	}
}

/*
 * One round: waits for the socket or a timer (at most until 'until_ns'),
 * services the session, times out what is late, moves the session along
 * and sends what can be sent. Callers' completions wait in 'completed'.
 */
/*
 * In a closed loop (the socket delivered completions a moment ago and
 * their callbacks queued new commands), writes those without waiting for
 * ppoll() to report a writable socket (it nearly always is; libiscsi
 * stops at EAGAIN): one ppoll() per round. After a quiet spell the round
 * polls first, so a connection the target closed meanwhile is noticed
 * before anything is written to it (see wait_events()). Only on a
 * logged-in session: while connecting, a POLLOUT service would be taken
 * for the connect's completion.
 */
static void
flush_out(struct lun_iscsi *l, uint64_t now)
{
	if ((l->state != SESS_UP && l->state != SESS_SETUP) || !l->iscsi ||
	    now - l->rx_ns > FLUSH_FRESH_NS ||
	    !(iscsi_which_events(l->iscsi) & POLLOUT))
		return;
	l->tx_epoch++;
	if (iscsi_service(l->iscsi, POLLOUT) < 0)
		l->link_lost = true;
}

void
iscsi_engine_round(struct lun_iscsi *l, uint64_t until_ns)
{
	uint64_t now = clock_mono_ns();

	flush_out(l, now);
	if (!l->link_lost)
		wait_events(l, now, next_timer(l, until_ns));
	now = clock_mono_ns();
	check_session(l, now);
	expire(l, now);
	if (l->state == SESS_DEAD) {
		while (l->queued.head)
			iscsi_cmd_finish(l, l->queued.head, -ENOTCONN);
	}
	send_queued(l, now);
	iscsi_events_sync(l);
}

/* ---- the event fd ---- */

static uint32_t
epoll_events(int poll_events)
{
	uint32_t ev = 0;

	if (poll_events & POLLIN)
		ev |= EPOLLIN;
	if (poll_events & POLLOUT)
		ev |= EPOLLOUT;
	return ev;
}

static void
sync_socket(struct lun_iscsi *l)
{
	int fd = l->iscsi ? iscsi_get_fd(l->iscsi) : -1;
	uint32_t events = fd >= 0 ? epoll_events(iscsi_which_events(l->iscsi)) :
				    0;
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (l->ep_ctx == l->iscsi && l->ep_sock == fd &&
	    l->ep_events == events)
		return;
	/* A new session's socket may reuse the old number: the closed one
	 * left the epoll set by itself, so DEL may fail and MOD too. */
	if (l->ep_sock >= 0 && (l->ep_ctx != l->iscsi || l->ep_sock != fd))
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->ep_sock, NULL);
	l->ep_ctx = NULL;
	l->ep_sock = -1;
	if (fd < 0)
		return;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 &&
	    epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_warn(LOG_TOPIC, "%s: event fd: cannot watch the socket: %s",
			 l->log_name, strerror(errno));
		return;
	}
	l->ep_ctx = l->iscsi;
	l->ep_sock = fd;
	l->ep_events = events;
}

void
iscsi_events_sync(struct lun_iscsi *l)
{
	uint64_t wake, now;

	if (l->epfd < 0)
		return;
	sync_socket(l);
	lun_eventfd_drain(l->efd);
	if (l->completed.n)
		lun_eventfd_signal(l->efd);
	/* Deadlines only ever come closer by new commands; a timer left
	 * armed for a command that completed costs one empty poll. */
	wake = next_timer(l, UINT64_MAX);
	now = clock_mono_ns();
	if (wake < l->ep_timer_ns || l->ep_timer_ns <= now) {
		lun_timerfd_arm(l->tfd, wake);
		l->ep_timer_ns = wake;
	}
}

static int
epoll_add_in(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int
iscsi_events_open(struct lun_iscsi *l)
{
	int rc;

	if (l->epfd >= 0)
		return l->epfd;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->tfd = lun_timerfd_new();
	l->efd = lun_eventfd_new();
	rc = l->epfd < 0 ? -errno : l->tfd < 0 ? l->tfd :
	     l->efd < 0 ? l->efd : 0;
	if (rc == 0)
		rc = epoll_add_in(l->epfd, l->tfd);
	if (rc == 0)
		rc = epoll_add_in(l->epfd, l->efd);
	if (rc < 0) {
		iscsi_events_close(l);
		return rc;
	}
	l->ep_ctx = NULL;
	l->ep_sock = -1;
	l->ep_timer_ns = UINT64_MAX;
	iscsi_events_sync(l);
	return l->epfd;
}

void
iscsi_events_close(struct lun_iscsi *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->tfd >= 0)
		close(l->tfd);
	if (l->efd >= 0)
		close(l->efd);
	l->epfd = l->tfd = l->efd = -1;
}

/* ---- own commands ---- */

void
iscsi_cmd_init(struct lun_iscsi *l, struct iscsi_cmd *cmd, enum cmd_kind kind,
	       uint64_t deadline_ns)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->l = l;
	cmd->kind = kind;
	cmd->deadline_ns = deadline_ns;
}

void
iscsi_cmd_start(struct iscsi_cmd *cmd)
{
	struct lun_iscsi *l = cmd->l;

	if (l->state == SESS_DEAD) {
		cmd->where = CMD_FREE;
		iscsi_cmd_finish(l, cmd, -ENOTCONN);
		return;
	}
	cmd_move(l, cmd, CMD_QUEUED);
	if (can_send(l, cmd))
		cmd_send(l, cmd);
}

int
iscsi_cmd_run(struct iscsi_cmd *cmd)
{
	struct lun_iscsi *l = cmd->l;

	iscsi_cmd_start(cmd);
	while (cmd->where != CMD_COMPLETED)
		iscsi_engine_round(l, cmd->deadline_ns);
	return (int)cmd->result;
}

void
iscsi_cmd_release(struct iscsi_cmd *cmd)
{
	if (cmd->task) {
		scsi_free_scsi_task(cmd->task);
		cmd->task = NULL;
	}
}

struct iscsi_cmd *
iscsi_cmd_take_completed(struct lun_iscsi *l)
{
	struct iscsi_cmd *cmd = l->completed.head;

	if (cmd) {
		list_del(&l->completed, cmd);
		cmd->where = CMD_FREE;
	}
	return cmd;
}

/* Connects and logs in; the first session of a handle. */
int
iscsi_session_open(struct lun_iscsi *l)
{
	int err = session_start(l);

	while (err == 0 && (l->state == SESS_CONNECTING ||
			    l->state == SESS_SETUP))
		iscsi_engine_round(l, l->connect_deadline_ns);
	if (err == 0 && l->state != SESS_UP)
		err = l->last_error ? l->last_error : -EIO;
	if (err < 0)
		log_err(LOG_TOPIC, "%s: %s: %s", l->log_name,
			err == -EACCES ? "login refused (CHAP?)" :
			err == -ENOENT ? "no such target or LUN" :
					 "cannot connect",
			l->connect_msg[0] ? l->connect_msg : strerror(-err));
	return err;
}
