/* SPDX-License-Identifier: MIT */
/*
 * The persisted configuration: every successful change rewrites one JSON
 * file atomically (temporary file, fsync, rename, fsync of the folder), and
 * a starting daemon reads it back and re-creates switches and ports, so
 * vhost-user and af_packet ports carry traffic again right after a
 * restart. A file that does not parse is moved aside to FILE.bad and the
 * daemon starts empty, saying so in one line.
 *
 *   {"version": 1, "switches": [{"name": "br0", "aging": 300,
 *     "ports": [{"name": "p1", "type": "tap", "iface": "tap1",
 *                "vlan_mode": "access", "vlan": 10, ...}]}]}
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "vswitch/vsw-internal.h"

#define CONFIG_MAX_BYTES (16u << 20)

static void
config_json(struct vsw *vsw, struct json_writer *w)
{
	json_obj_begin(w, NULL);
	json_u64(w, "version", 1);
	json_arr_begin(w, "switches");
	for (int i = 0; i < VSW_MAX_SWITCHES; i++) {
		struct vsw_switch *s = vsw->sw[i];

		if (!s)
			continue;
		json_obj_begin(w, NULL);
		json_str(w, "name", s->name);
		json_u64(w, "aging", s->aging_s);
		json_arr_begin(w, "ports");
		for (int k = 0; k < VSW_MAX_PORTS; k++) {
			struct vsw_port *p = vsw->port[k];

			if (!p || p->sw != s)
				continue;
			json_obj_begin(w, NULL);
			vsw_port_config_json(&p->cfg, w);
			json_obj_end(w);
		}
		json_arr_end(w);
		json_arr_begin(w, "groups");
		for (int k = 0; k < VSW_MAX_GROUPS; k++) {
			struct vsw_group *g = vsw->group[k];

			if (!g || g->sw != s)
				continue;
			json_obj_begin(w, NULL);
			json_str(w, "name", g->cfg.name);
			vsw_group_policy_json(&g->cfg, w);
			json_obj_end(w);
		}
		json_arr_end(w);
		json_arr_begin(w, "networks");
		for (int k = 0; k < VSW_MAX_NETS; k++) {
			struct vsw_net *n = vsw->net[k];

			if (!n || n->sw != s)
				continue;
			json_obj_begin(w, NULL);
			vsw_net_config_json(&n->cfg, w);
			vsw_forwards_json(n->fwd, n->nfwd, w);
			json_obj_end(w);
		}
		json_arr_end(w);
		json_obj_end(w);
	}
	json_arr_end(w);
	json_obj_end(w);
}

static int
write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
save_text(const char *path, const char *text)
{
	char tmp[VSW_PATH_MAX * 2 + 8], dir[VSW_PATH_MAX * 2];
	int fd, err, dfd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = write_all(fd, text, strlen(text));
	if (!err)
		err = write_all(fd, "\n", 1);
	if (!err && fsync(fd) < 0)
		err = -errno;
	close(fd);
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int
vsw_config_save(struct vsw *vsw)
{
	struct json_writer w;
	char *text;
	int err;

	if (!vsw->opts.config_path)
		return 0;
	json_writer_init_mem(&w);
	pthread_mutex_lock(&vsw->lock);
	config_json(vsw, &w);
	text = json_writer_take(&w);
	err = text ? save_text(vsw->opts.config_path, text) : -ENOMEM;
	pthread_mutex_unlock(&vsw->lock);
	free(text);
	if (err < 0)
		log_err("vswitch.config", "cannot write %s: %s",
			vsw->opts.config_path, strerror(-err));
	return err;
}

static int
read_file(const char *path, char **text, size_t *len)
{
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_size > CONFIG_MAX_BYTES) {
		close(fd);
		return -EFBIG;
	}
	*text = malloc((size_t)st.st_size + 1);
	if (!*text) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, *text, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(*text);
		return -EIO;
	}
	*len = (size_t)n;
	return 0;
}

int
vsw_config_restore(struct vsw *vsw, const char *path)
{
	struct vsw_config_doc *doc;
	char err[256] = "", bad[VSW_PATH_MAX * 2 + 8];
	size_t len = 0;
	char *text = NULL;
	int r;

	r = read_file(path, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		log_err("vswitch.config", "cannot read %s: %s", path,
			strerror(-r));
		return r;
	}
	doc = calloc(1, sizeof(*doc));
	if (!doc) {
		free(text);
		return -ENOMEM;
	}
	r = vsw_config_parse(text, len, doc, err, sizeof(err));
	free(text);
	if (r < 0) {
		snprintf(bad, sizeof(bad), "%s.bad", path);
		rename(path, bad);
		log_err("vswitch.config", "%s: %s; moved to %s, starting empty",
			path, err, bad);
		free(doc);
		return r;
	}
	for (unsigned int i = 0; i < doc->nswitches; i++) {
		r = vsw_switch_add(vsw, doc->sw[i].name);
		if (r == 0)
			r = vsw_switch_set_aging(vsw, doc->sw[i].name,
						 doc->sw[i].aging_s);
		if (r < 0)
			log_err("vswitch.config", "switch %s: %s", doc->sw[i].name,
				strerror(-r));
	}
	for (unsigned int i = 0; i < doc->ngroups; i++) {
		const char *sw = doc->sw[doc->group[i].sw].name;

		if (vsw_group_add(vsw, sw, &doc->group[i].cfg, err,
				  sizeof(err)) < 0)
			log_err("vswitch.config", "%s", err);
	}
	for (unsigned int i = 0; i < doc->nports; i++) {
		const char *sw = doc->sw[doc->port[i].sw].name;

		r = vsw_port_restore(vsw, sw, &doc->port[i].cfg);
		if (r < 0)
			log_err("vswitch.config", "port %s on %s: %s",
				doc->port[i].cfg.name, sw, strerror(-r));
	}
	for (unsigned int i = 0; i < doc->nnets; i++) {
		const struct vsw_config_net *cn = &doc->net[i];
		const char *sw = doc->sw[cn->sw].name;

		r = vsw_net_add(vsw, sw, &cn->cfg, err, sizeof(err));
		if (r < 0) {
			log_err("vswitch.config", "network %s on %s: %s",
				cn->cfg.name, sw, err[0] ? err : strerror(-r));
			continue;
		}
		for (unsigned int k = 0; k < cn->nfwd; k++)
			if (vsw_forward_add(vsw, cn->cfg.name, &cn->fwd[k], err,
					    sizeof(err)) < 0)
				log_err("vswitch.config", "network %s: forward: %s",
					cn->cfg.name, err);
	}
	log_info("vswitch.config", "restored %u switches, %u ports, %u networks "
		 "from %s", doc->nswitches, doc->nports, doc->nnets, path);
	free(doc);
	return 0;
}
