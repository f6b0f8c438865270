/* SPDX-License-Identifier: MIT */
/* vdisk import, export, serve and cbt: the subcommands that move data. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/progress.h"
#include "snapshot/snapshot.h"
#include "tools/vdisk-tool.h"

struct io_args {
	bool json, read_only, once, chain;
	const char *snapshot;
	enum vdisk_format fmt;
	bool have_fmt;
	enum vdisk_type type;
	const char *nbd, *name;
};

static int
io_opt(int opt, const char *arg, void *priv)
{
	struct io_args *a = priv;

	switch (opt) {
	case 'j': a->json = true; return 0;
	case 'r': a->read_only = true; return 0;
	case 'o': a->once = true; return 0;
	case 'n': a->nbd = arg; return 0;
	case 'N': a->name = arg; return 0;
	case 'c': a->chain = true; return 0;
	case 'S': a->snapshot = arg; return 0;
	case 't': return vdisk_tool_type(arg, &a->type);
	case 'f':
		if (vdisk_format_parse(arg, &a->fmt) < 0) {
			cli_usage_error("bad format '%s' (raw, qcow2, vmdk, "
					"vmdk-stream)", arg);
			return -1;
		}
		a->have_fmt = true;
		return 0;
	}
	return -1;
}

static const struct option io_longopts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "format", required_argument, NULL, 'f' },
	{ "type", required_argument, NULL, 't' },
	{ "nbd", required_argument, NULL, 'n' },
	{ "name", required_argument, NULL, 'N' },
	{ "readonly", no_argument, NULL, 'r' },
	{ "read-only", no_argument, NULL, 'r' },
	{ "once", no_argument, NULL, 'o' },
	{ "chain", no_argument, NULL, 'c' },
	{ "snapshot", required_argument, NULL, 'S' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static void
print_stats(bool json, const char *verb, const char *src, const char *dst,
	    const struct vdisk_convert_stats *st)
{
	char a[32], b[32];

	if (json) {
		struct json_writer w;

		json_writer_init(&w, stdout);
		json_obj_begin(&w, NULL);
		json_str(&w, "source", src);
		json_str(&w, "destination", dst);
		json_u64(&w, "bytes_written", st->bytes_written);
		json_u64(&w, "bytes_skipped", st->bytes_skipped);
		json_obj_end(&w);
		json_end_document(&w);
		return;
	}
	printf("%s %s -> %s: %s written, %s zero or unallocated skipped\n",
	       verb, src, dst,
	       cli_format_size(st->bytes_written, a, sizeof(a)),
	       cli_format_size(st->bytes_skipped, b, sizeof(b)));
}

int
vdisk_cmd_import(int argc, char **argv)
{
	struct io_args a = { .type = VDISK_THIN };
	struct vdisk_convert_stats st = { 0 };
	struct progress *p;
	uint64_t cap;
	int rc, i;

	i = vdisk_tool_getopt(vdisk_tool_cmd("import"), argc, argv,
			      io_longopts, io_opt, &a, 2, 2, &rc);
	if (i < 0)
		return rc;
	rc = vdisk_image_capacity(argv[i], a.have_fmt ? a.fmt : VDISK_FMT_AUTO,
				  &cap);
	if (rc < 0)
		return vdisk_tool_fail(argv[i], rc);
	p = progress_start("import", cap);
	if (a.chain)
		rc = snap_import_qcow2(argv[i], argv[i + 1], p);
	else
		rc = vdisk_import(argv[i], a.have_fmt ? a.fmt : VDISK_FMT_AUTO,
				  argv[i + 1], a.type, p, &st);
	progress_stop(p);
	if (rc < 0)
		return vdisk_tool_fail(argv[i], rc);
	print_stats(a.json, "imported", argv[i], argv[i + 1], &st);
	return CLI_EXIT_OK;
}

int
vdisk_cmd_export(int argc, char **argv)
{
	struct io_args a = { 0 };
	struct vdisk_convert_stats st = { 0 };
	struct vdisk_info in;
	struct progress *p;
	int rc, i;

	i = vdisk_tool_getopt(vdisk_tool_cmd("export"), argc, argv,
			      io_longopts, io_opt, &a, 2, 2, &rc);
	if (i < 0)
		return rc;
	if (!a.have_fmt || a.fmt == VDISK_FMT_AUTO)
		return cli_usage_error("export: --format raw|qcow2|vmdk|"
				       "vmdk-stream is required");
	if (a.chain && a.fmt != VDISK_FMT_QCOW2)
		return cli_usage_error("export: --chain writes qcow2");
	rc = vdisk_stat(argv[i], &in);
	if (rc < 0)
		return vdisk_tool_fail(argv[i], rc);
	p = progress_start("export", in.capacity_bytes);
	if (a.chain) {
		rc = snap_export_qcow2(argv[i], a.snapshot, argv[i + 1], true, p);
	} else if (a.snapshot) {
		char point[4096];

		rc = snap_point_path(argv[i], a.snapshot, point, sizeof(point));
		if (rc == 0)
			rc = vdisk_export(point, argv[i + 1], a.fmt, p, &st);
	} else {
		rc = vdisk_export(argv[i], argv[i + 1], a.fmt, p, &st);
	}
	progress_stop(p);
	if (rc < 0)
		return vdisk_tool_fail(argv[i + 1], rc);
	print_stats(a.json, "exported", argv[i], argv[i + 1], &st);
	return CLI_EXIT_OK;
}

static volatile int serve_stop;

static void
on_signal(int sig)
{
	serve_stop = 1;
}

int
vdisk_cmd_serve(int argc, char **argv)
{
	struct io_args a = { 0 };
	struct vdisk_nbd_opts o = { 0 };
	struct sigaction sa = { 0 };
	struct snap_control *ctl = NULL;
	struct vdisk *disk;
	int rc, i;

	i = vdisk_tool_getopt(vdisk_tool_cmd("serve"), argc, argv,
			      io_longopts, io_opt, &a, 1, 1, &rc);
	if (i < 0)
		return rc;
	if (!a.nbd)
		return cli_usage_error("serve: --nbd unix:PATH|tcp:HOST:PORT "
				       "is required");
	rc = vdisk_open(argv[i], a.read_only ? VDISK_OPEN_RDONLY : 0, &disk);
	if (rc < 0)
		return vdisk_tool_fail(argv[i], rc);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	o.listen = a.nbd;
	o.export_name = a.name;
	o.read_only = a.read_only;
	o.max_connections = a.once ? 1 : 0;
	o.ready_fd = -1;
	o.stop = &serve_stop;
	/* Snapshot requests (vsnap) while it runs: best effort. */
	if (!a.read_only && snap_control_start(&disk, 1, &ctl) < 0)
		log_warn("vdisk", "no snapshot control socket: %s",
			 vdisk_last_error());
	rc = vdisk_nbd_serve(disk, &o);
	snap_control_stop(ctl);
	vdisk_close(disk);
	if (rc < 0)
		return vdisk_tool_fail(a.nbd, rc);
	return CLI_EXIT_OK;
}

/* ---- cbt ---- */

struct changes_out {
	struct json_writer *w;
	uint64_t bytes;
};

static int
change_line(void *priv, uint64_t off, uint64_t len, unsigned int flags)
{
	struct changes_out *c = priv;

	c->bytes += len;
	if (c->w) {
		json_obj_begin(c->w, NULL);
		json_u64(c->w, "start", off);
		json_u64(c->w, "length", len);
		json_obj_end(c->w);
	} else {
		printf("%#" PRIx64 " %#" PRIx64 "\n", off, len);
	}
	return 0;
}

static int
cbt_changes(struct vdisk *disk, const char *epoch_s, bool json)
{
	struct changes_out c = { NULL, 0 };
	struct json_writer w;
	uint64_t epoch;
	int rc;

	if (cli_parse_u64(epoch_s, 0, UINT64_MAX, &epoch) < 0)
		return cli_usage_error("cbt: bad epoch '%s'", epoch_s);
	if (json) {
		json_writer_init_mem(&w);
		json_obj_begin(&w, NULL);
		json_u64(&w, "epoch", epoch);
		json_arr_begin(&w, "changes");
		c.w = &w;
	}
	rc = vdisk_cbt_query(disk, epoch, change_line, &c);
	if (json) {
		char *text;

		json_arr_end(&w);
		json_u64(&w, "bytes", c.bytes);
		json_obj_end(&w);
		text = json_writer_take(&w);
		if (rc == 0 && text)
			printf("%s\n", text);
		free(text);
	}
	if (rc == -ESTALE) {
		cli_error("changed-block map cannot answer for epoch %" PRIu64
			  " (unknown or another epoch): do a full backup",
			  epoch);
		return CLI_EXIT_FAIL;
	}
	return rc < 0 ? vdisk_tool_fail("cbt", rc) : CLI_EXIT_OK;
}

int
vdisk_cmd_cbt(int argc, char **argv)
{
	struct io_args a = { 0 };
	struct vdisk_info in;
	struct vdisk *disk;
	const char *path, *verb;
	uint64_t epoch;
	int rc, i;

	i = vdisk_tool_getopt(vdisk_tool_cmd("cbt"), argc, argv, io_longopts,
			      io_opt, &a, 2, 3, &rc);
	if (i < 0)
		return rc;
	path = argv[i];
	verb = argv[i + 1];
	if (!strcmp(verb, "enable") || !strcmp(verb, "disable")) {
		rc = verb[0] == 'e' ? vdisk_cbt_enable(path) :
				      vdisk_cbt_disable(path);
		return rc < 0 ? vdisk_tool_fail(path, rc) : CLI_EXIT_OK;
	}
	if (!strcmp(verb, "status")) {
		rc = vdisk_stat(path, &in);
		if (rc < 0)
			return vdisk_tool_fail(path, rc);
		if (a.json) {
			struct json_writer w;

			json_writer_init(&w, stdout);
			json_obj_begin(&w, NULL);
			json_bool(&w, "enabled", in.cbt_enabled);
			json_bool(&w, "known", in.cbt_known);
			json_u64(&w, "epoch", in.cbt_epoch);
			json_obj_end(&w);
			json_end_document(&w);
		} else {
			printf("cbt %s, epoch %" PRIu64 ", map %s\n",
			       in.cbt_enabled ? "on" : "off", in.cbt_epoch,
			       in.cbt_known ? "known" : "unknown");
		}
		return CLI_EXIT_OK;
	}
	if (strcmp(verb, "changes") && strcmp(verb, "reset"))
		return cli_usage_error("cbt: unknown action '%s'", verb);
	if (!strcmp(verb, "changes") && argc - i != 3)
		return cli_usage_error("cbt: changes needs an EPOCH");
	rc = vdisk_open(path, verb[0] == 'c' ? VDISK_OPEN_RDONLY : 0, &disk);
	if (rc < 0)
		return vdisk_tool_fail(path, rc);
	if (verb[0] == 'c') {
		rc = cbt_changes(disk, argv[i + 2], a.json);
		vdisk_close(disk);
		return rc;
	}
	rc = vdisk_cbt_reset(disk, &epoch);
	vdisk_close(disk);
	if (rc < 0)
		return vdisk_tool_fail(path, rc);
	if (a.json)
		printf("{\"epoch\":%" PRIu64 "}\n", epoch);
	else
		printf("cbt epoch %" PRIu64 " started\n", epoch);
	return CLI_EXIT_OK;
}
