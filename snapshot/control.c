/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a process holding disks open (a VMM, `vdisk
 * serve`) answers snapshot requests for them, so `vsnap create` works on
 * a running disk. One unix socket per disk, named after a hash of the
 * disk's identity (its real path, or LUN:/path) under $VSTACK_RUN_DIR
 * (default /run/vstack), served by one thread.
 *
 * Protocol: one JSON request line, one JSON reply line, then close.
 *   {"op":"ping"}
 *   {"op":"create","disks":[ID,...],"name":N,"description":D}
 *   {"op":"delete","disks":[ID],"name":N}
 *   {"op":"commit","disks":[ID]}
 * Reply: {"ok":true,"pause_ns":..,"total_ns":..,"bytes":..} or
 *        {"ok":false,"errno":E,"error":"one line"}
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

#include "common/json.h"
#include "common/log.h"
#include "snapshot/control.h"
#include "snapshot/snap-internal.h"

#define MAX_REQ (64u << 10)
#define IO_TIMEOUT_MS 600000

struct snap_control {
	pthread_t thread;
	int stop[2];
	unsigned int n;
	struct vdisk *disks[SNAP_MAX_DISKS];
	char ids[SNAP_MAX_DISKS][4096];
	int fds[SNAP_MAX_DISKS];
	char paths[SNAP_MAX_DISKS][108];
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

int
snap_control_parse(const char *text, size_t len, struct snap_ctl_req *r,
		   char *err, size_t errlen)
{
	const struct json_node *root, *d;
	struct json_doc *doc;
	const char *op, *s;
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
	if (!strcmp(op, "ping")) {
		r->op = CTL_PING;
	} else if (!strcmp(op, "create")) {
		r->op = CTL_CREATE;
	} else if (!strcmp(op, "delete")) {
		r->op = CTL_DELETE;
	} else if (!strcmp(op, "commit")) {
		r->op = CTL_COMMIT;
	} else {
		snprintf(err, errlen, "unknown op '%.40s'", op);
		goto out;
	}
	d = json_get(root, "disks");
	if (r->op != CTL_PING) {
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
		if (r->ndisks == 0 || (r->op != CTL_CREATE && r->ndisks != 1)) {
			snprintf(err, errlen, "wrong number of disks");
			goto out;
		}
	}
	s = json_get_str(root, "name", "");
	if (strlen(s) >= sizeof(r->name)) {
		snprintf(err, errlen, "name too long");
		goto out;
	}
	strcpy(r->name, s);
	s = json_get_str(root, "description", "");
	if (strlen(s) >= sizeof(r->description)) {
		snprintf(err, errlen, "description too long");
		goto out;
	}
	strcpy(r->description, s);
	if ((r->op == CTL_CREATE || r->op == CTL_DELETE) && !r->name[0]) {
		snprintf(err, errlen, "a name is needed");
		goto out;
	}
	rc = 0;
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

static int
read_line(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t n = 0;

	while (n < len - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t k;

		if (poll(&p, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
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

static void
write_all(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t k = write(fd, s, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		s += k;
		n -= (size_t)k;
	}
}

static void
reply(int fd, int rc, const struct snap_op_stats *st)
{
	struct json_writer w;
	char *text;

	json_writer_init_mem(&w);
	json_obj_begin(&w, NULL);
	json_bool(&w, "ok", rc == 0);
	if (rc < 0) {
		json_i64(&w, "errno", -rc);
		json_str(&w, "error", vdisk_last_error()[0] ?
			 vdisk_last_error() : strerror(-rc));
	} else if (st) {
		json_u64(&w, "pause_ns", st->pause_ns);
		json_u64(&w, "total_ns", st->total_ns);
		json_u64(&w, "bytes", st->bytes_copied);
	}
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

static void
serve_one(struct snap_control *c, int fd)
{
	struct snap_op_stats st = { 0 };
	struct vdisk *disks[SNAP_MAX_DISKS];
	struct snap_ctl_req *r;
	char *buf, err[160];
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
				  "(pid %d) holding the other disks: disks of "
				  "one snapshot must be held together or not "
				  "at all", r->disks[i], (int)getpid());
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
	default:
		rc = 0;
	}
	if (rc < 0)
		log_info("snapshot", "control request failed: %s",
			 vdisk_last_error());
	reply(fd, rc, &st);
out:
	free(r);
	free(buf);
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
			if (fd < 0)
				continue;
			serve_one(c, fd);
			close(fd);
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
	free(c);
}

/* ---- client ---- */

int
snap_control_call(const char *disk, const char *request, char *out,
		  size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char id[4096];
	int fd, rc;

	rc = snap_disk_id(disk, id, sizeof(id));
	if (rc < 0)
		return rc;
	rc = snap_control_socket_path(id, sa.sun_path, sizeof(sa.sun_path));
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = errno == ECONNREFUSED ? -ENOENT : -errno;
		close(fd);
		return rc;
	}
	write_all(fd, request ? request : "{\"op\":\"ping\"}");
	write_all(fd, "\n");
	rc = read_line(fd, out, len, IO_TIMEOUT_MS);
	close(fd);
	if (rc < 0)
		return rc == -ETIMEDOUT ? -ETIMEDOUT : -EPROTO;
	return 0;
}
