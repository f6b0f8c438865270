/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a process holding disks open (a VMM, `vdisk
 * serve`) answers snapshot requests for them, so `vsnap create` works on
 * a running disk. One unix socket per disk, named after a hash of the
 * disk's identity (its real path, or LUN:/path) under $VSTACK_RUN_DIR
 * (default /run/vstack); each connection is served by a thread of its
 * own (a group create's session lasts several requests, and a resolve
 * from another holder must get through meanwhile).
 *
 * Protocol: one JSON request line, one JSON reply line, then close.
 *   {"op":"ping"}
 *   {"op":"create","disks":[ID,...],"name":N,"description":D}
 *   {"op":"delete","disks":[ID],"name":N}
 *   {"op":"commit","disks":[ID]}
 *   {"op":"resolve","group":G,"coordinator":ID}
 * Reply: {"ok":true,"pid":P,"pause_ns":..,"total_ns":..,"bytes":..},
 *        {"ok":true,"pid":P,"decision":"commit"|"abort"} (resolve) or
 *        {"ok":false,"pid":P,"errno":E,"error":"one line"}
 * A snapshot over disks of several processes (group.c) is a session:
 *   {"op":"prepare","disks":[ID,...],"name":N,"description":D,
 *    "group":G,"coordinator":ID,"hold_ms":T}, then on the same
 *   connection {"op":"hold"}, then {"op":"decide"} (the holder of the
 *   coordinator disk: one line once the decision is written, one once
 *   switched) or {"op":"switch"} (the others, after the decision), or
 *   {"op":"abort"} at any point; one reply line each, with "hold_start_ns",
 *   "hold_end_ns" (CLOCK_MONOTONIC) and "hold_ns" once the gates are
 *   open again. When the client goes away or the hold's deadline passes
 *   first, the holder ends the session itself and leaves one last line
 *   {"ok":false,...,"outcome":"committed"|"aborted"|"pending"}.
 * Requests are untrusted bytes: snap_control_parse() is fuzzed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "snapshot/control.h"
#include "snapshot/snap-internal.h"

#define MAX_REQ (64u << 10)
#define IO_TIMEOUT_MS 600000
/* Between a group's prepare and its hold (the client prepares others). */
#define PREPARED_IDLE_MS 60000

struct snap_control {
	pthread_t thread;
	int stop[2];
	unsigned int n;
	struct vdisk *disks[SNAP_MAX_DISKS];
	char ids[SNAP_MAX_DISKS][4096];
	int fds[SNAP_MAX_DISKS];
	char paths[SNAP_MAX_DISKS][108];
	pthread_mutex_t conn_mu;
	pthread_cond_t conn_cv;
	unsigned int nconn;            /* connection threads running */
};

struct conn {
	struct snap_control *c;
	int fd;
};

static const char *
run_dir(void)
{
	const char *d = getenv("VSTACK_RUN_DIR");

	return d && *d ? d : "/run/vstack";
}

static uint64_t
fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

int
snap_control_socket_path(const char *disk_id, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/snap-%016llx.sock", run_dir(),
			 (unsigned long long)fnv1a(disk_id));

	if (n < 0 || (size_t)n >= len ||
	    (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

/* ---- requests ---- */

static const struct {
	const char *name;
	enum snap_ctl_op op;
} op_names[] = {
	{ "ping", CTL_PING },       { "create", CTL_CREATE },
	{ "delete", CTL_DELETE },   { "commit", CTL_COMMIT },
	{ "prepare", CTL_PREPARE }, { "hold", CTL_HOLD },
	{ "decide", CTL_DECIDE },   { "switch", CTL_SWITCH },
	{ "abort", CTL_ABORT },     { "resolve", CTL_RESOLVE },
};

static bool
needs_disks(enum snap_ctl_op op)
{
	return op == CTL_CREATE || op == CTL_DELETE || op == CTL_COMMIT ||
	       op == CTL_PREPARE;
}

static bool
hex_word(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* "name" .. "coordinator" and "hold_ms"; 0 or -EINVAL with 'err'. */
static int
parse_fields(const struct json_node *root, struct snap_ctl_req *r, char *err,
	     size_t errlen)
{
	bool group_op = r->op == CTL_PREPARE || r->op == CTL_RESOLVE;
	const char *s;
	int64_t v;
	int rc;

	s = json_get_str(root, "name", "");
	if (strlen(s) >= sizeof(r->name)) {
		snprintf(err, errlen, "name too long");
		return -EINVAL;
	}
	strcpy(r->name, s);
	s = json_get_str(root, "description", "");
	if (strlen(s) >= sizeof(r->description)) {
		snprintf(err, errlen, "description too long");
		return -EINVAL;
	}
	strcpy(r->description, s);
	if ((r->op == CTL_CREATE || r->op == CTL_DELETE ||
	     r->op == CTL_PREPARE) && !r->name[0]) {
		snprintf(err, errlen, "a name is needed");
		return -EINVAL;
	}
	if (!group_op)
		return 0;
	s = json_get_str(root, "group", "");
	if (strlen(s) >= sizeof(r->group) || !hex_word(s)) {
		snprintf(err, errlen, "'group' must be 1 to %zu hex digits",
			 sizeof(r->group) - 1);
		return -EINVAL;
	}
	strcpy(r->group, s);
	s = json_get_str(root, "coordinator", "");
	if (!s[0] || strlen(s) >= sizeof(r->coordinator)) {
		snprintf(err, errlen, "bad 'coordinator'");
		return -EINVAL;
	}
	strcpy(r->coordinator, s);
	r->hold_ms = SNAP_CTL_HOLD_MS_DEFAULT;
	rc = json_get_int(root, "hold_ms", 1, SNAP_CTL_HOLD_MS_MAX, &v);
	if (rc == -EINVAL) {
		snprintf(err, errlen, "'hold_ms' must be 1 to %u",
			 SNAP_CTL_HOLD_MS_MAX);
		return -EINVAL;
	}
	if (rc == 0)
		r->hold_ms = (unsigned int)v;
	return 0;
}

int
snap_control_parse(const char *text, size_t len, struct snap_ctl_req *r,
		   char *err, size_t errlen)
{
	const struct json_node *root, *d;
	struct json_doc *doc;
	const char *op;
	int rc;

	memset(r, 0, sizeof(*r));
	if (len > MAX_REQ) {
		snprintf(err, errlen, "request too long");
		return -EINVAL;
	}
	rc = json_parse(text, len, &doc, err, errlen);
	if (rc < 0)
		return rc == -ENOMEM ? rc : -EINVAL;
	root = json_root(doc);
	rc = -EINVAL;
	if (root->type != JSON_OBJECT) {
		snprintf(err, errlen, "a request is an object");
		goto out;
	}
	op = json_get_str(root, "op", "");
	for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (!strcmp(op, op_names[i].name))
			r->op = op_names[i].op;
	if (!r->op) {
		snprintf(err, errlen, "unknown op '%.40s'", op);
		goto out;
	}
	d = json_get(root, "disks");
	if (needs_disks(r->op)) {
		if (!d || d->type != JSON_ARRAY) {
			snprintf(err, errlen, "'disks' must be a list");
			goto out;
		}
		for (d = d->child; d; d = d->next) {
			if (d->type != JSON_STRING || !d->str[0] ||
			    strlen(d->str) >= sizeof(r->disks[0]) ||
			    r->ndisks >= SNAP_MAX_DISKS) {
				snprintf(err, errlen, "bad disk in 'disks'");
				goto out;
			}
			strcpy(r->disks[r->ndisks++], d->str);
		}
		if (r->ndisks == 0 ||
		    ((r->op == CTL_DELETE || r->op == CTL_COMMIT) &&
		     r->ndisks != 1)) {
			snprintf(err, errlen, "wrong number of disks");
			goto out;
		}
	}
	rc = parse_fields(root, r, err, errlen);
out:
	json_free(doc);
	return rc;
}

/* ---- server ---- */

static int
listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat sb;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* A socket left by a process that died; never anything else. */
	if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 8) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	chmod(path, 0600);
	return fd;
}

/*
 * Reads one line within 'timeout_ms' (-ETIMEDOUT), -ECANCELED when
 * 'stop_fd' (>= 0) becomes readable first.
 */
static int
read_line_or_stop(int fd, int stop_fd, char *buf, size_t len, int timeout_ms)
{
	uint64_t end = clock_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	size_t n = 0;

	while (n < len - 1) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = stop_fd, .events = POLLIN } };
		uint64_t now = clock_mono_ns();
		ssize_t k;
		int r;

		if (now >= end)
			return -ETIMEDOUT;
		r = poll(p, stop_fd >= 0 ? 2 : 1,
			 (int)((end - now + 999999) / 1000000));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		if (stop_fd >= 0 && p[1].revents)
			return -ECANCELED;
		k = read(fd, buf + n, len - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -ECONNRESET;
		n += (size_t)k;
		if (memchr(buf, '\n', n))
			break;
	}
	buf[n] = '\0';
	return (int)n;
}

static int
read_line(int fd, char *buf, size_t len, int timeout_ms)
{
	return read_line_or_stop(fd, -1, buf, len, timeout_ms);
}

static void
write_all(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n) {
		/* MSG_NOSIGNAL: a peer that went away is no reason to die. */
		ssize_t k = send(fd, s, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		s += k;
		n -= (size_t)k;
	}
}

/* What a reply may carry beyond ok/error. */
struct reply_extra {
	const struct snap_op_stats *st;
	const struct snap_group_part *g;  /* hold times, once open again */
	const char *decision;             /* resolve */
	const char *outcome;              /* a session ended by the holder */
};

static void
reply(int fd, int rc, const struct reply_extra *x)
{
	struct json_writer w;
	uint64_t t0, t1;
	char *text;

	json_writer_init_mem(&w);
	json_obj_begin(&w, NULL);
	json_bool(&w, "ok", rc == 0);
	json_i64(&w, "pid", (int64_t)getpid());
	if (rc < 0) {
		json_i64(&w, "errno", -rc);
		json_str(&w, "error", vdisk_last_error()[0] ?
			 vdisk_last_error() : strerror(-rc));
	}
	if (rc == 0 && x && x->st) {
		json_u64(&w, "pause_ns", x->st->pause_ns);
		json_u64(&w, "total_ns", x->st->total_ns);
		json_u64(&w, "bytes", x->st->bytes_copied);
	}
	if (x && x->g) {
		snap_group_times(x->g, &t0, &t1);
		if (t0 && t1 >= t0) {
			json_u64(&w, "hold_start_ns", t0);
			json_u64(&w, "hold_end_ns", t1);
			json_u64(&w, "hold_ns", t1 - t0);
		}
	}
	if (x && x->decision)
		json_str(&w, "decision", x->decision);
	if (x && x->outcome)
		json_str(&w, "outcome", x->outcome);
	json_obj_end(&w);
	text = json_writer_take(&w);
	if (text) {
		write_all(fd, text);
		write_all(fd, "\n");
	}
	free(text);
}

static struct vdisk *
disk_by_id(struct snap_control *c, const char *id)
{
	for (unsigned int i = 0; i < c->n; i++)
		if (!strcmp(c->ids[i], id))
			return c->disks[i];
	return NULL;
}

/*
 * The rest of a group create after its prepare: hold, then decide or
 * switch, or abort; the deadlines are the holder's own.
 */
static void
session(struct snap_control *c, int fd, struct snap_group_part *g,
	const char *group, char *buf)
{
	struct reply_extra x = { .g = g };
	struct snap_ctl_req *r;
	char err[160];
	int rc = -ENOMEM, wait_ms;

	r = malloc(sizeof(*r));
	if (!r)
		goto abort;
	for (;;) {
		if (snap_group_holding(g)) {
			uint64_t now = clock_mono_ns();
			uint64_t dl = snap_group_deadline(g);

			wait_ms = dl > now ? (int)((dl - now) / 1000000) : 0;
		} else {
			wait_ms = PREPARED_IDLE_MS;
		}
		rc = read_line_or_stop(fd, c->stop[0], buf, MAX_REQ + 1,
				       wait_ms);
		if (rc < 0)
			break;
		vdisk_clear_error();
		rc = snap_control_parse(buf, strlen(buf), r, err, sizeof(err));
		if (rc < 0) {
			vdisk_err("snapshot", "bad request: %s", err);
			break;
		}
		switch (r->op) {
		case CTL_HOLD:
			rc = snap_group_holding(g) ? -EPROTO :
			     snap_group_hold(g);
			if (rc < 0)
				goto abort_rc;
			reply(fd, 0, NULL);
			continue;
		case CTL_DECIDE:
			/* Never past the hold's deadline, even when the
			   request was waiting (this process was stopped):
			   another holder may have given up by then. */
			if (clock_mono_ns() >= snap_group_deadline(g)) {
				rc = -ETIMEDOUT;
				vdisk_err("snapshot", "group %s: the decision "
					  "came after the hold's deadline",
					  group);
				goto abort_rc;
			}
			/* Two answers: decided (the others may switch at
			   once), then switched like a switch. */
			rc = snap_group_decide(g);
			if (rc < 0)
				goto abort_rc;
			reply(fd, 0, NULL);
			rc = snap_group_switch(g);
			break;
		case CTL_SWITCH:
			rc = snap_group_switch(g);
			break;
		case CTL_ABORT:
			x.outcome = snap_group_abort(g);
			reply(fd, 0, &x);
			goto out;
		default:
			vdisk_err("snapshot", "op not allowed in a group "
				  "session");
			rc = -EPROTO;
			goto abort_rc;
		}
		if (rc < 0 && snap_group_switched(g)) {
			/* Decided and switched as far as it went. */
			x.outcome = "committed";
			reply(fd, rc, &x);
			goto out;
		}
		if (rc < 0)
			goto abort_rc;
		reply(fd, 0, &x);
		snap_group_finish(g);
		goto out;
	}
	/* The client went away or the deadline passed. */
	if (rc == -ETIMEDOUT)
		vdisk_err("snapshot", "group %s: no decision within the "
			  "hold's deadline", group);
	else
		vdisk_err("snapshot", "the client of a group snapshot went "
			  "away (%s)", strerror(-rc));
abort_rc:
	if (rc >= 0)
		rc = -EPROTO;
abort:
	x.outcome = snap_group_abort(g);
	log_warn("snapshot", "group snapshot ended here: %s; %s",
		 vdisk_last_error(), x.outcome);
	reply(fd, rc < 0 ? rc : -ECONNABORTED, &x);
out:
	free(r);
}

static void
serve_one(struct snap_control *c, int fd)
{
	struct snap_op_stats st = { 0 };
	struct reply_extra x = { .st = &st };
	struct vdisk *disks[SNAP_MAX_DISKS];
	struct snap_group_part *g = NULL;
	struct snap_ctl_req *r;
	char *buf, err[160];
	bool commit = false;
	int rc;

	buf = malloc(MAX_REQ + 1);
	r = malloc(sizeof(*r));
	if (!buf || !r)
		goto out;
	rc = read_line(fd, buf, MAX_REQ + 1, 10000);
	if (rc < 0)
		goto out;
	vdisk_clear_error();
	rc = snap_control_parse(buf, strlen(buf), r, err, sizeof(err));
	if (rc < 0) {
		vdisk_err("snapshot", "bad request: %s", err);
		reply(fd, rc, NULL);
		goto out;
	}
	for (unsigned int i = 0; i < r->ndisks; i++) {
		disks[i] = disk_by_id(c, r->disks[i]);
		if (!disks[i]) {
			vdisk_err("snapshot", "%s is not held by the process "
				  "(pid %d) holding the other disks of this "
				  "request", r->disks[i], (int)getpid());
			reply(fd, -EBUSY, NULL);
			goto out;
		}
	}
	switch (r->op) {
	case CTL_CREATE:
		rc = snap_create_open(disks, r->ndisks, r->name,
				      r->description, &st);
		break;
	case CTL_DELETE:
		rc = snap_delete_open(disks[0], r->name, NULL, &st);
		break;
	case CTL_COMMIT:
		rc = snap_commit_open(disks[0], NULL, &st);
		break;
	case CTL_PREPARE:
		rc = snap_group_prepare(disks, r->ndisks, r, &g);
		reply(fd, rc, NULL);
		if (rc == 0)
			session(c, fd, g, r->group, buf);
		else
			log_info("snapshot", "group prepare failed: %s",
				 vdisk_last_error());
		snap_group_end(g);
		goto out;
	case CTL_RESOLVE:
		rc = snap_group_resolve(r->group, r->coordinator, &commit);
		x.st = NULL;
		x.decision = commit ? "commit" : "abort";
		break;
	case CTL_PING:
		rc = 0;
		break;
	default:
		vdisk_err("snapshot", "that op needs a group session");
		rc = -EPROTO;
	}
	if (rc < 0)
		log_info("snapshot", "control request failed: %s",
			 vdisk_last_error());
	reply(fd, rc, &x);
out:
	free(r);
	free(buf);
}

static void *
conn_thread(void *arg)
{
	struct conn *k = arg;
	struct snap_control *c = k->c;

	serve_one(c, k->fd);
	close(k->fd);
	free(k);
	pthread_mutex_lock(&c->conn_mu);
	c->nconn--;
	pthread_cond_broadcast(&c->conn_cv);
	pthread_mutex_unlock(&c->conn_mu);
	return NULL;
}

static void
spawn(struct snap_control *c, int fd)
{
	pthread_attr_t at;
	struct conn *k = malloc(sizeof(*k));
	pthread_t t;

	if (!k) {
		close(fd);
		return;
	}
	k->c = c;
	k->fd = fd;
	pthread_mutex_lock(&c->conn_mu);
	c->nconn++;
	pthread_mutex_unlock(&c->conn_mu);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, conn_thread, k) != 0) {
		/* No thread: answer here rather than not at all. */
		conn_thread(k);
	}
	pthread_attr_destroy(&at);
}

static void *
serve(void *arg)
{
	struct snap_control *c = arg;
	struct pollfd p[SNAP_MAX_DISKS + 1];

	for (;;) {
		p[0] = (struct pollfd){ .fd = c->stop[0], .events = POLLIN };
		for (unsigned int i = 0; i < c->n; i++)
			p[i + 1] = (struct pollfd){ .fd = c->fds[i],
						    .events = POLLIN };
		if (poll(p, c->n + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		for (unsigned int i = 0; i < c->n; i++) {
			int fd;

			if (!(p[i + 1].revents & POLLIN))
				continue;
			fd = accept4(c->fds[i], NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				spawn(c, fd);
		}
	}
	return NULL;
}

int
snap_control_start(struct vdisk *const *disks, unsigned int ndisks,
		   struct snap_control **out)
{
	struct snap_control *c;
	int rc;

	if (ndisks == 0 || ndisks > SNAP_MAX_DISKS)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->stop[0] = c->stop[1] = -1;
	pthread_mutex_init(&c->conn_mu, NULL);
	pthread_cond_init(&c->conn_cv, NULL);
	mkdir(run_dir(), 0700);
	for (unsigned int i = 0; i < ndisks; i++) {
		c->fds[i] = -1;
		c->disks[i] = disks[i];
		rc = snap_disk_id(disks[i]->path, c->ids[i], sizeof(c->ids[i]));
		if (rc == 0)
			rc = snap_control_socket_path(c->ids[i], c->paths[i],
						      sizeof(c->paths[i]));
		if (rc == 0) {
			rc = listen_at(c->paths[i]);
			if (rc >= 0) {
				c->fds[i] = rc;
				rc = 0;
			}
		}
		c->n = i + 1;
		if (rc < 0) {
			vdisk_err("snapshot", "%s: control socket in %s: %s",
				  disks[i]->path, run_dir(), strerror(-rc));
			goto err;
		}
	}
	if (pipe2(c->stop, O_CLOEXEC) < 0) {
		rc = -errno;
		goto err;
	}
	rc = -pthread_create(&c->thread, NULL, serve, c);
	if (rc < 0)
		goto err;
	*out = c;
	return 0;
err:
	c->thread = 0;
	snap_control_stop(c);
	return rc;
}

void
snap_control_stop(struct snap_control *c)
{
	if (!c)
		return;
	if (c->thread) {
		(void)!write(c->stop[1], "x", 1);
		pthread_join(c->thread, NULL);
	}
	/* Sessions see the stop too and end (a hold is let go). */
	pthread_mutex_lock(&c->conn_mu);
	while (c->nconn)
		pthread_cond_wait(&c->conn_cv, &c->conn_mu);
	pthread_mutex_unlock(&c->conn_mu);
	for (unsigned int i = 0; i < c->n; i++) {
		if (c->fds[i] >= 0) {
			close(c->fds[i]);
			unlink(c->paths[i]);
		}
	}
	if (c->stop[0] >= 0)
		close(c->stop[0]);
	if (c->stop[1] >= 0)
		close(c->stop[1]);
	pthread_mutex_destroy(&c->conn_mu);
	pthread_cond_destroy(&c->conn_cv);
	free(c);
}

/* ---- client ---- */

int
snap_control_call_id(const char *id, const char *request, char *out,
		     size_t len, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	rc = snap_control_socket_path(id, sa.sun_path, sizeof(sa.sun_path));
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = errno == ECONNREFUSED || errno == ENOENT ? -ENOENT :
		     -errno;
		close(fd);
		return rc;
	}
	write_all(fd, request ? request : "{\"op\":\"ping\"}");
	write_all(fd, "\n");
	rc = read_line(fd, out, len, timeout_ms);
	close(fd);
	if (rc < 0)
		return rc == -ETIMEDOUT ? -ETIMEDOUT : -EPROTO;
	return 0;
}

int
snap_control_call(const char *disk, const char *request, char *out,
		  size_t len)
{
	char id[4096];
	int rc;

	rc = snap_disk_id(disk, id, sizeof(id));
	if (rc < 0)
		return rc;
	return snap_control_call_id(id, request, out, len, IO_TIMEOUT_MS);
}

int
snap_control_connect(const char *id, int *fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int rc;

	rc = snap_control_socket_path(id, sa.sun_path, sizeof(sa.sun_path));
	if (rc < 0)
		return rc;
	*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return -errno;
	if (connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = errno == ECONNREFUSED || errno == ENOENT ? -ENOENT :
		     -errno;
		close(*fd);
		*fd = -1;
		return rc;
	}
	return 0;
}

int
snap_control_write(int fd, const char *request)
{
	size_t n = strlen(request);
	const char *s = request;

	while (n) {
		ssize_t k = send(fd, s, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -ECONNRESET;
		s += k;
		n -= (size_t)k;
	}
	return send(fd, "\n", 1, MSG_NOSIGNAL) == 1 ? 0 : -ECONNRESET;
}

int
snap_control_read(int fd, char *out, size_t len, int timeout_ms)
{
	int rc = read_line(fd, out, len, timeout_ms);

	if (rc < 0)
		return rc == -ETIMEDOUT ? -ETIMEDOUT : -ECONNRESET;
	return 0;
}

int
snap_control_send(int fd, const char *request, char *out, size_t len,
		  int timeout_ms)
{
	/* A holder that ended the session may have left its last word:
	   read it even when the write fails. */
	snap_control_write(fd, request);
	return snap_control_read(fd, out, len, timeout_ms);
}
