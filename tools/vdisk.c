/* SPDX-License-Identifier: MIT */
/*
 * vdisk: create, inspect and change virtual disks. Thin main() over
 * vdisk/vdisk.h; the data-moving subcommands (import, export, serve,
 * bench, cbt) are in vdisk-io.c.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/json.h"
#include "common/progress.h"
#include "snapshot/snapshot.h"
#include "tools/vdisk-tool.h"
#include "vdisk/vdisk.h"

int
vdisk_tool_fail(const char *what, int err)
{
	const char *why = vdisk_last_error();

	if (why[0])
		cli_error("%s", why);
	else
		cli_error("%s: %s", what, strerror(-err));
	return cli_exit_code(err);
}

/*
 * Parses the options of one subcommand. 'longopts' ends with a zero
 * entry; returns the index of the first positional argument, or -1 after
 * printing usage (help: exit 0 via *rc, else 2).
 */
int
vdisk_tool_getopt(const struct cli_cmd *cmd, int argc, char **argv,
		  const struct option *longopts,
		  int (*handle)(int opt, const char *arg, void *priv),
		  void *priv, int min_pos, int max_pos, int *rc)
{
	int opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			cli_cmd_usage(cmd);
			*rc = CLI_EXIT_OK;
			return -1;
		}
		if (opt == '?' || opt == ':') {
			*rc = cli_usage_error("%s: bad option '%s'", cmd->name,
					      argv[optind - 1]);
			return -1;
		}
		if (handle(opt, optarg, priv) < 0) {
			*rc = CLI_EXIT_USAGE;
			return -1;
		}
	}
	if (argc - optind < min_pos || argc - optind > max_pos) {
		*rc = cli_usage_error("%s: expected %s", cmd->name, cmd->args);
		return -1;
	}
	return optind;
}

int
vdisk_tool_size(const char *arg, uint64_t *out)
{
	if (cli_parse_size(arg, out) < 0) {
		cli_usage_error("bad size '%s'", arg);
		return -1;
	}
	return 0;
}

int
vdisk_tool_type(const char *arg, enum vdisk_type *out)
{
	if (vdisk_type_parse(arg, out) < 0) {
		cli_usage_error("bad type '%s' (thin, zeroedthick, "
				"eagerzeroedthick)", arg);
		return -1;
	}
	return 0;
}

/* ---- create ---- */

struct create_args {
	uint64_t size;
	bool have_size;
	enum vdisk_type type;
	bool cbt;
};

static int
create_opt(int opt, const char *arg, void *priv)
{
	struct create_args *a = priv;

	switch (opt) {
	case 's':
		a->have_size = true;
		return vdisk_tool_size(arg, &a->size);
	case 't':
		return vdisk_tool_type(arg, &a->type);
	case 'c':
		a->cbt = true;
		return 0;
	}
	return -1;
}

static const struct cli_cmd *cmd_by_name(const char *name);

static int
cmd_create(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "size", required_argument, NULL, 's' },
		{ "type", required_argument, NULL, 't' },
		{ "cbt", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct create_args a = { .type = VDISK_THIN };
	struct vdisk_create_opts o;
	int rc, i;

	i = vdisk_tool_getopt(cmd_by_name("create"), argc, argv, lo,
			      create_opt, &a, 1, 1, &rc);
	if (i < 0)
		return rc;
	if (!a.have_size)
		return cli_usage_error("create: --size is required");
	if (a.size == 0 || a.size % 512 || a.size > VDISK_MAX_CAPACITY)
		return cli_usage_error("create: size must be a non-zero "
				       "multiple of 512 up to 64 TiB");
	o = (struct vdisk_create_opts){ .capacity_bytes = a.size,
					.type = a.type, .cbt = a.cbt };
	o.progress = progress_start("create", a.size);
	rc = vdisk_create(argv[i], &o);
	progress_stop(o.progress);
	if (rc < 0)
		return vdisk_tool_fail(argv[i], rc);
	return CLI_EXIT_OK;
}

/* ---- info ---- */

struct flag_args {
	bool json, force, repair, linked;
	uint64_t size;
	bool have_size;
	enum vdisk_type type;
	bool have_type;
	const char *snapshot;
};

static int
flag_opt(int opt, const char *arg, void *priv)
{
	struct flag_args *a = priv;

	switch (opt) {
	case 'j': a->json = true; return 0;
	case 'f': a->force = true; return 0;
	case 'r': a->repair = true; return 0;
	case 's': a->have_size = true; return vdisk_tool_size(arg, &a->size);
	case 't': a->have_type = true; return vdisk_tool_type(arg, &a->type);
	case 'L': a->linked = true; return 0;
	case 'S': a->snapshot = arg; return 0;
	}
	return -1;
}

static const struct option flag_longopts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "force", no_argument, NULL, 'f' },
	{ "repair", no_argument, NULL, 'r' },
	{ "size", required_argument, NULL, 's' },
	{ "type", required_argument, NULL, 't' },
	{ "linked", no_argument, NULL, 'L' },
	{ "snapshot", required_argument, NULL, 'S' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static void
print_info_json(const char *path, const struct vdisk_info *in)
{
	struct json_writer w;

	json_writer_init(&w, stdout);
	json_obj_begin(&w, NULL);
	json_str(&w, "disk", path);
	json_u64(&w, "capacity", in->capacity_bytes);
	json_u64(&w, "allocated", in->allocated_bytes);
	json_str(&w, "type", vdisk_type_name(in->type));
	json_str(&w, "data_file", in->data_file);
	{
		char cid[16];

		snprintf(cid, sizeof(cid), "%08" PRIx32, in->cid);
		json_str(&w, "cid", cid);
	}
	json_arr_begin(&w, "chain");
	for (unsigned int i = 0; i < in->chain_len; i++)
		json_str(&w, NULL, in->chain[i]);
	json_arr_end(&w);
	json_obj_begin(&w, "cbt");
	json_bool(&w, "enabled", in->cbt_enabled);
	if (in->cbt_enabled) {
		json_bool(&w, "known", in->cbt_known);
		json_u64(&w, "epoch", in->cbt_epoch);
	}
	json_obj_end(&w);
	json_obj_begin(&w, "lock");
	json_bool(&w, "held", in->locked);
	if (in->locked)
		json_str(&w, "holder", in->lock_holder);
	json_obj_end(&w);
	json_obj_end(&w);
	json_end_document(&w);
}

static void
print_info_text(const char *path, const struct vdisk_info *in)
{
	char a[32], b[32];

	printf("disk:       %s\n", path);
	printf("capacity:   %s (%" PRIu64 " bytes)\n",
	       cli_format_size(in->capacity_bytes, a, sizeof(a)),
	       in->capacity_bytes);
	printf("type:       %s\n", vdisk_type_name(in->type));
	printf("allocated:  %s\n",
	       cli_format_size(in->allocated_bytes, b, sizeof(b)));
	printf("data file:  %s\n", in->data_file);
	printf("content id: %08" PRIx32 "\n", in->cid);
	printf("chain:     ");
	for (unsigned int i = 0; i < in->chain_len; i++)
		printf(" %s%s", i ? "-> " : "", in->chain[i]);
	printf("\n");
	if (in->cbt_enabled)
		printf("cbt:        on, epoch %" PRIu64 ", %s\n", in->cbt_epoch,
		       in->cbt_known ? "map known" :
				       "map unknown (next backup is full)");
	else
		printf("cbt:        off\n");
	printf("lock:       %s\n", in->locked ? in->lock_holder : "free");
}

static int
cmd_info(int argc, char **argv)
{
	struct flag_args a = { 0 };
	struct vdisk_info in;
	int rc, i;

	i = vdisk_tool_getopt(cmd_by_name("info"), argc, argv, flag_longopts,
			      flag_opt, &a, 1, 1, &rc);
	if (i < 0)
		return rc;
	rc = vdisk_stat(argv[i], &in);
	if (rc < 0)
		return vdisk_tool_fail(argv[i], rc);
	if (a.json)
		print_info_json(argv[i], &in);
	else
		print_info_text(argv[i], &in);
	return CLI_EXIT_OK;
}

/* ---- extend, inflate, clone, rename, rm, check ---- */

static int
cmd_extend(int argc, char **argv)
{
	struct flag_args a = { 0 };
	struct progress *p;
	int rc, i;

	i = vdisk_tool_getopt(cmd_by_name("extend"), argc, argv, flag_longopts,
			      flag_opt, &a, 1, 1, &rc);
	if (i < 0)
		return rc;
	if (!a.have_size)
		return cli_usage_error("extend: --size is required");
	p = progress_start("extend", a.size);
	rc = vdisk_extend(argv[i], a.size, p);
	progress_stop(p);
	return rc < 0 ? vdisk_tool_fail(argv[i], rc) : CLI_EXIT_OK;
}

static int
cmd_inflate(int argc, char **argv)
{
	struct flag_args a = { 0 };
	struct vdisk_info in;
	struct progress *p;
	int rc, i;

	i = vdisk_tool_getopt(cmd_by_name("inflate"), argc, argv,
			      flag_longopts, flag_opt, &a, 1, 1, &rc);
	if (i < 0)
		return rc;
	rc = vdisk_stat(argv[i], &in);
	if (rc < 0)
		return vdisk_tool_fail(argv[i], rc);
	p = progress_start("inflate", in.capacity_bytes);
	rc = vdisk_inflate(argv[i], p);
	progress_stop(p);
	return rc < 0 ? vdisk_tool_fail(argv[i], rc) : CLI_EXIT_OK;
}

static int
cmd_clone(int argc, char **argv)
{
	struct flag_args a = { 0 };
	struct vdisk_info in;
	struct progress *p;
	int rc, i;

	i = vdisk_tool_getopt(cmd_by_name("clone"), argc, argv, flag_longopts,
			      flag_opt, &a, 2, 2, &rc);
	if (i < 0)
		return rc;
	if (a.linked) {
		/* A delta over the base (or its snapshot): instant. */
		rc = snap_clone_linked(argv[i], a.snapshot, argv[i + 1]);
		return rc < 0 ? vdisk_tool_fail(argv[i + 1], rc) :
				CLI_EXIT_OK;
	}
	if (a.snapshot)
		return cli_usage_error("clone: --snapshot goes with --linked");
	rc = vdisk_stat(argv[i], &in);
	if (rc < 0)
		return vdisk_tool_fail(argv[i], rc);
	p = progress_start("clone", in.capacity_bytes);
	rc = vdisk_clone(argv[i], argv[i + 1], a.have_type ? a.type : in.type,
			 p);
	progress_stop(p);
	return rc < 0 ? vdisk_tool_fail(argv[i + 1], rc) : CLI_EXIT_OK;
}

static int
cmd_rename(int argc, char **argv)
{
	struct flag_args a = { 0 };
	int rc, i;

	i = vdisk_tool_getopt(cmd_by_name("rename"), argc, argv,
			      flag_longopts, flag_opt, &a, 2, 2, &rc);
	if (i < 0)
		return rc;
	rc = vdisk_rename(argv[i], argv[i + 1]);
	return rc < 0 ? vdisk_tool_fail(argv[i], rc) : CLI_EXIT_OK;
}

static int
cmd_rm(int argc, char **argv)
{
	struct flag_args a = { 0 };
	struct vdisk_info in;
	int rc, i;

	i = vdisk_tool_getopt(cmd_by_name("rm"), argc, argv, flag_longopts,
			      flag_opt, &a, 1, 1, &rc);
	if (i < 0)
		return rc;
	/* A disk that holds data goes only with --force; a broken
	 * descriptor can always be removed. */
	if (!a.force && vdisk_stat(argv[i], &in) == 0 &&
	    in.allocated_bytes > 0) {
		cli_error("%s holds data; add --force to remove it", argv[i]);
		return CLI_EXIT_FAIL;
	}
	vdisk_clear_error();
	rc = vdisk_remove(argv[i]);
	return rc < 0 ? vdisk_tool_fail(argv[i], rc) : CLI_EXIT_OK;
}

static int
cmd_check(int argc, char **argv)
{
	struct vdisk_check_report rep;
	struct flag_args a = { 0 };
	int rc, i;

	i = vdisk_tool_getopt(cmd_by_name("check"), argc, argv, flag_longopts,
			      flag_opt, &a, 1, 1, &rc);
	if (i < 0)
		return rc;
	rc = vdisk_check(argv[i], a.repair, &rep);
	if (rc < 0)
		return vdisk_tool_fail(argv[i], rc);
	if (a.json) {
		struct json_writer w;

		json_writer_init(&w, stdout);
		json_obj_begin(&w, NULL);
		json_str(&w, "disk", argv[i]);
		json_u64(&w, "errors", rep.errors);
		json_u64(&w, "repaired", rep.repaired);
		if (rep.errors)
			json_str(&w, "first", rep.first);
		json_obj_end(&w);
		json_end_document(&w);
	} else if (rep.errors) {
		printf("%s: %u problem(s), %u repaired; first: %s\n", argv[i],
		       rep.errors, rep.repaired, rep.first);
	} else {
		printf("%s: no problems found\n", argv[i]);
	}
	return rep.errors > rep.repaired ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* ---- map ---- */

struct map_out {
	struct json_writer *w;
};

static int
map_line(void *priv, uint64_t off, uint64_t len, unsigned int flags)
{
	struct map_out *m = priv;

	if (m->w) {
		json_obj_begin(m->w, NULL);
		json_u64(m->w, "start", off);
		json_u64(m->w, "length", len);
		json_bool(m->w, "data", flags & VDISK_EXTENT_DATA);
		json_bool(m->w, "zero", flags & VDISK_EXTENT_ZERO);
		json_bool(m->w, "allocated", flags & VDISK_EXTENT_ALLOCATED);
		json_obj_end(m->w);
	} else {
		printf("%#-16" PRIx64 " %#-16" PRIx64 " %s%s\n", off, len,
		       (flags & VDISK_EXTENT_DATA) ? "data" : "zero",
		       (flags & VDISK_EXTENT_ALLOCATED) ? ",allocated" : "");
	}
	return 0;
}

static int
cmd_map(int argc, char **argv)
{
	struct flag_args a = { 0 };
	struct json_writer w;
	struct map_out m = { NULL };
	struct vdisk *disk;
	int rc, i;

	i = vdisk_tool_getopt(cmd_by_name("map"), argc, argv, flag_longopts,
			      flag_opt, &a, 1, 1, &rc);
	if (i < 0)
		return rc;
	rc = vdisk_open(argv[i], VDISK_OPEN_RDONLY, &disk);
	if (rc < 0)
		return vdisk_tool_fail(argv[i], rc);
	if (a.json) {
		json_writer_init(&w, stdout);
		json_arr_begin(&w, NULL);
		m.w = &w;
	} else {
		printf("%-16s %-16s %s\n", "Offset", "Length", "Mapping");
	}
	rc = vdisk_map(disk, 0, vdisk_capacity(disk), map_line, &m);
	if (a.json) {
		json_arr_end(&w);
		json_end_document(&w);
	}
	vdisk_close(disk);
	return rc < 0 ? vdisk_tool_fail(argv[i], rc) : CLI_EXIT_OK;
}

static const struct cli_cmd cmds[] = {
	{ "create", "DISK --size SIZE [--type thin|zeroedthick|"
	  "eagerzeroedthick] [--cbt]", "create a disk", cmd_create },
	{ "info", "DISK [--json]", "capacity, type, allocation, parent chain, "
	  "CBT state and lock holder", cmd_info },
	{ "extend", "DISK --size SIZE", "grow a disk", cmd_extend },
	{ "inflate", "DISK", "make a disk eagerly zeroed thick", cmd_inflate },
	{ "clone", "SRC DST [--type T] | --linked [--snapshot NAME] BASE DST",
	  "copy a disk (zeros not written), or make a linked clone (a "
	  "delta over BASE's snapshot)", cmd_clone },
	{ "rename", "SRC DST", "rename a disk and its files", cmd_rename },
	{ "rm", "DISK [--force]", "remove a disk (--force if it holds data)",
	  cmd_rm },
	{ "check", "DISK [--repair] [--json]", "check (and repair) a disk",
	  cmd_check },
	{ "map", "DISK [--json]", "allocated and zero extents, like "
	  "'qemu-img map'", cmd_map },
	{ "import", "SRC DISK [--format raw|qcow2|vmdk] [--type T] [--chain] "
	  "[--json]", "make a disk from a raw, qcow2 or vmdk image (--chain: "
	  "a qcow2 backing chain as snapshots)", vdisk_cmd_import },
	{ "export", "DISK DST --format raw|qcow2|vmdk|vmdk-stream "
	  "[--snapshot NAME] [--chain] [--json]", "write a disk (or one of "
	  "its snapshots) as an image (--chain: a qcow2 backing chain)",
	  vdisk_cmd_export },
	{ "serve", "DISK --nbd unix:PATH|tcp:HOST:PORT [--readonly] "
	  "[--name NAME] [--once]", "export a disk over NBD", vdisk_cmd_serve },
	{ "cbt", "DISK enable|disable|status|changes EPOCH|reset [--json]",
	  "changed-block tracking", vdisk_cmd_cbt },
	{ "bench", "DISK [--raw] --pattern randwrite|randread|stride-write|"
	  "seqwrite|seqread [--bs SIZE] [--qd N] [--count N] [--stride SIZE] "
	  "[--json]", "measure the I/O engine on a disk", vdisk_cmd_bench },
};

static const struct cli_cmd *
cmd_by_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

const struct cli_cmd *
vdisk_tool_cmd(const char *name)
{
	return cmd_by_name(name);
}

int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "--quiet"))
			progress_set_enabled(false);
	return cli_dispatch("vdisk", "Virtual disks: thin and thick disks, "
			    "import/export, NBD, changed-block tracking.",
			    cmds, ARRAY_SIZE(cmds), argc, argv);
}
