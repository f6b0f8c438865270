/* SPDX-License-Identifier: MIT */
/*
 * vsnap: snapshot trees of virtual disks. Thin main() over
 * snapshot/snapshot.h; works on disks nobody holds, and on disks a VMM or
 * `vdisk serve` holds through their control socket.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cli.h"
#include "common/json.h"
#include "common/progress.h"
#include "snapshot/snapshot.h"

struct args {
	bool json, quiet;
	const char *name, *description;
	unsigned int hold_limit_ms;
};

static int
fail(const char *what, int err)
{
	const char *why = vdisk_last_error();

	if (why[0])
		cli_error("%s", why);
	else
		cli_error("%s: %s", what, strerror(-err));
	return cli_exit_code(err);
}

static const struct cli_cmd *cmd_by_name(const char *name);

/* Options, then 'min'..'max' positional arguments; -1 with *rc set. */
static int
parse(const char *cmd, int argc, char **argv, struct args *a, int min,
      int max, int *rc)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "name", required_argument, NULL, 'n' },
		{ "description", required_argument, NULL, 'd' },
		{ "hold-limit", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt;

	memset(a, 0, sizeof(*a));
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (opt) {
		case 'h':
			cli_cmd_usage(cmd_by_name(cmd));
			*rc = CLI_EXIT_OK;
			return -1;
		case 'j':
			a->json = true;
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'n':
			a->name = optarg;
			break;
		case 'd':
			a->description = optarg;
			break;
		case 'H': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end || v < 1 || v > 60000) {
				*rc = cli_usage_error("%s: --hold-limit is 1 to "
						      "60000 ms", cmd);
				return -1;
			}
			a->hold_limit_ms = (unsigned int)v;
			break;
		}
		default:
			*rc = cli_usage_error("%s: bad option '%s'", cmd,
					      argv[optind - 1]);
			return -1;
		}
	}
	if (argc - optind < min || argc - optind > max) {
		*rc = cli_usage_error("%s: expected %s", cmd,
				      cmd_by_name(cmd)->args);
		return -1;
	}
	return optind;
}

/* The holder's program name, for a line a person reads. */
static void
holder_name(int pid, char *out, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(out, len, "?");
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(out, (int)len, f))
		out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

static void
print_done(bool json, const char *what, const struct snap_op_stats *st,
	   char **disks)
{
	char who[32];

	if (json) {
		struct json_writer w;

		json_writer_init(&w, stdout);
		json_obj_begin(&w, NULL);
		json_str(&w, "done", what);
		json_u64(&w, "pause_ns", st->pause_ns);
		json_u64(&w, "total_ns", st->total_ns);
		json_u64(&w, "bytes_copied", st->bytes_copied);
		if (st->nholds) {
			json_arr_begin(&w, "holds");
			for (unsigned int k = 0; k < st->nholds; k++) {
				const struct snap_hold *h = &st->holds[k];

				json_obj_begin(&w, NULL);
				json_i64(&w, "pid", h->pid);
				json_arr_begin(&w, "disks");
				for (unsigned int i = 0; i < h->ndisks; i++)
					json_str(&w, NULL, disks[h->disk[i]]);
				json_arr_end(&w);
				json_u64(&w, "hold_ns", h->hold_ns);
				json_u64(&w, "hold_start_ns", h->start_ns);
				json_u64(&w, "hold_end_ns", h->end_ns);
				json_obj_end(&w);
			}
			json_arr_end(&w);
		}
		json_obj_end(&w);
		json_end_document(&w);
		return;
	}
	/* A create over several VMs: each one's hold of guest I/O. */
	for (unsigned int k = 0; k < st->nholds; k++) {
		const struct snap_hold *h = &st->holds[k];

		holder_name(h->pid, who, sizeof(who));
		printf("pid %d (%s): guest I/O held %.1f ms for", h->pid, who,
		       (double)h->hold_ns / 1e6);
		for (unsigned int i = 0; i < h->ndisks; i++)
			printf(" %s", disks[h->disk[i]]);
		printf("\n");
	}
	if (st->nholds)
		printf("%s: one point in time over %u processes; longest hold "
		       "%.1f ms\n", what, st->nholds, (double)st->pause_ns / 1e6);
}

static int
cmd_create(int argc, char **argv)
{
	struct snap_op_stats st = { 0 };
	struct args a;
	int rc, i;

	i = parse("create", argc, argv, &a, 1, SNAP_MAX_DISKS, &rc);
	if (i < 0)
		return rc;
	if (!a.name || !a.name[0])
		return cli_usage_error("create: --name NAME is required");
	if (a.hold_limit_ms)
		snap_set_hold_limit_ms(a.hold_limit_ms);
	rc = snap_create((const char *const *)&argv[i], (unsigned int)(argc - i),
			 a.name, a.description, &st);
	if (rc < 0)
		return fail(argv[i], rc);
	print_done(a.json, "create", &st, &argv[i]);
	return CLI_EXIT_OK;
}

static int
cmd_revert(int argc, char **argv)
{
	struct args a;
	int rc, i;

	i = parse("revert", argc, argv, &a, 2, 2, &rc);
	if (i < 0)
		return rc;
	rc = snap_revert(argv[i], argv[i + 1]);
	return rc < 0 ? fail(argv[i], rc) : CLI_EXIT_OK;
}

static int
merge_cmd(const char *cmd, int argc, char **argv, bool commit)
{
	struct snap_op_stats st = { 0 };
	struct vdisk_info in;
	struct progress *p = NULL;
	struct args a;
	int rc, i;

	i = parse(cmd, argc, argv, &a, commit ? 1 : 2, commit ? 1 : 2, &rc);
	if (i < 0)
		return rc;
	if (!a.json && !a.quiet && vdisk_stat(argv[i], &in) == 0)
		p = progress_start(cmd, in.capacity_bytes);
	rc = commit ? snap_commit(argv[i], p, &st) :
		      snap_delete(argv[i], argv[i + 1], p, &st);
	progress_stop(p);
	if (rc < 0)
		return fail(argv[i], rc);
	print_done(a.json, cmd, &st, &argv[i]);
	return CLI_EXIT_OK;
}

static int
cmd_delete(int argc, char **argv)
{
	return merge_cmd("delete", argc, argv, false);
}

static int
cmd_commit(int argc, char **argv)
{
	return merge_cmd("commit", argc, argv, true);
}

/* ---- list ---- */

static const char *
when(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm);
	return buf;
}

static void
list_json(const char *disk, const struct snap_list *l)
{
	struct json_writer w;

	json_writer_init(&w, stdout);
	json_obj_begin(&w, NULL);
	json_str(&w, "disk", disk);
	json_str(&w, "mode", l->mode);
	if (l->pending[0])
		json_str(&w, "pending", l->pending);
	else
		json_null(&w, "pending");
	json_obj_begin(&w, "current");
	if (l->position)
		json_u64(&w, "parent", l->position);
	else
		json_null(&w, "parent");
	json_str(&w, "file", l->current_file);
	json_u64(&w, "bytes", l->current_bytes);
	if (l->base[0])
		json_str(&w, "linked_base", l->base);
	json_obj_end(&w);
	json_arr_begin(&w, "snapshots");
	for (unsigned int i = 0; i < l->n; i++) {
		const struct snap_info *s = &l->snaps[i];

		json_obj_begin(&w, NULL);
		json_u64(&w, "id", s->id);
		if (s->parent)
			json_u64(&w, "parent", s->parent);
		else
			json_null(&w, "parent");
		json_str(&w, "name", s->name);
		json_str(&w, "description", s->description);
		json_u64(&w, "created", s->created_ns / 1000000000ull);
		json_u64(&w, "bytes", s->size_bytes);
		json_str(&w, "file", s->file);
		json_str(&w, "group", s->group);
		json_u64(&w, "linked_clones", s->nclones);
		json_bool(&w, "current_position", s->id == l->position);
		json_obj_end(&w);
	}
	json_arr_end(&w);
	json_obj_end(&w);
	json_end_document(&w);
}

static unsigned int
depth_of(const struct snap_list *l, const struct snap_info *s)
{
	unsigned int d = 0;
	uint32_t up = s->parent;

	while (up && d < l->n) {
		for (unsigned int i = 0; i < l->n; i++)
			if (l->snaps[i].id == up) {
				up = l->snaps[i].parent;
				break;
			}
		d++;
	}
	return d;
}

static void
list_text(const char *disk, const struct snap_list *l)
{
	char a[32], b[40];

	printf("%s: %u snapshot%s, mode %s%s%s\n", disk, l->n,
	       l->n == 1 ? "" : "s", l->mode, l->pending[0] ? ", pending " : "",
	       l->pending);
	if (l->base[0])
		printf("  linked clone of %s\n", l->base);
	for (unsigned int i = 0; i < l->n; i++) {
		const struct snap_info *s = &l->snaps[i];
		unsigned int d = depth_of(l, s);

		printf("  %*s%s %-20s %s  %9s  %s", (int)(2 * d), "",
		       d ? "`-" : "*", s->name[0] ? s->name : "(unnamed)",
		       when(s->created_ns, b, sizeof(b)),
		       cli_format_size(s->size_bytes, a, sizeof(a)),
		       s->description);
		if (s->nclones)
			printf("%s(base of %u linked clone%s)",
			       s->description[0] ? "  " : "", s->nclones,
			       s->nclones == 1 ? "" : "s");
		printf("\n");
		if (s->id == l->position)
			printf("  %*s`- (current) %s  %s\n", (int)(2 * d + 2),
			       "", l->current_file,
			       cli_format_size(l->current_bytes, a, sizeof(a)));
	}
	if (!l->position)
		printf("  (current) %s  %s\n", l->current_file,
		       cli_format_size(l->current_bytes, a, sizeof(a)));
}

static int
cmd_list(int argc, char **argv)
{
	struct snap_list *l;
	struct args a;
	int rc, i;

	i = parse("list", argc, argv, &a, 1, 1, &rc);
	if (i < 0)
		return rc;
	rc = snap_list(argv[i], &l);
	if (rc < 0)
		return fail(argv[i], rc);
	if (a.json)
		list_json(argv[i], l);
	else
		list_text(argv[i], l);
	snap_list_free(l);
	return CLI_EXIT_OK;
}

/* ---- disk modes ---- */

static int
cmd_mode(int argc, char **argv)
{
	enum snap_mode m;
	struct args a;
	bool redo;
	int rc, i;

	i = parse("mode", argc, argv, &a, 1, 2, &rc);
	if (i < 0)
		return rc;
	if (argc - i == 2) {
		if (snap_mode_from_string(argv[i + 1], &m) < 0)
			return cli_usage_error("mode: persistent, nonpersistent "
					       "or undoable");
		rc = snap_mode_set(argv[i], m);
		if (rc < 0)
			return fail(argv[i], rc);
	}
	rc = snap_mode_get(argv[i], &m, &redo);
	if (rc < 0)
		return fail(argv[i], rc);
	if (a.json) {
		struct json_writer w;

		json_writer_init(&w, stdout);
		json_obj_begin(&w, NULL);
		json_str(&w, "disk", argv[i]);
		json_str(&w, "mode", snap_mode_string(m));
		json_bool(&w, "redo_log", redo);
		json_obj_end(&w);
		json_end_document(&w);
	} else {
		printf("%s: %s%s\n", argv[i], snap_mode_string(m),
		       redo ? ", redo log present" : "");
	}
	return CLI_EXIT_OK;
}

static int
cmd_poweroff(int argc, char **argv)
{
	enum snap_poweroff act;
	struct args a;
	int rc, i;

	i = parse("poweroff", argc, argv, &a, 2, 2, &rc);
	if (i < 0)
		return rc;
	if (!strcmp(argv[i + 1], "keep"))
		act = SNAP_KEEP;
	else if (!strcmp(argv[i + 1], "discard"))
		act = SNAP_DISCARD;
	else if (!strcmp(argv[i + 1], "commit"))
		act = SNAP_COMMIT;
	else
		return cli_usage_error("poweroff: keep, discard or commit");
	rc = snap_poweroff(argv[i], act, NULL);
	return rc < 0 ? fail(argv[i], rc) : CLI_EXIT_OK;
}

static const struct cli_cmd cmds[] = {
	{ "create", "DISK... --name NAME [--description TEXT] "
	  "[--hold-limit MS] [--json]",
	  "snapshot one or more disks at one point in time, also disks of "
	  "several running VMs (each VM's guest I/O is held only for the "
	  "switch, and never beyond --hold-limit, default 5000 ms; a VM that "
	  "fails rolls all of it back)", cmd_create },
	{ "list", "DISK [--json]", "the snapshot tree, the current position, "
	  "sizes and dates", cmd_list },
	{ "revert", "DISK NAME", "discard the current state and continue "
	  "from snapshot NAME (the disk must be closed)", cmd_revert },
	{ "delete", "DISK NAME [--json]", "merge snapshot NAME away, keeping "
	  "every other snapshot and the current state", cmd_delete },
	{ "commit", "DISK [--json]", "fold the current state into the "
	  "snapshot it is over (which goes away)", cmd_commit },
	{ "mode", "DISK [persistent|nonpersistent|undoable] [--json]",
	  "show or set the disk mode", cmd_mode },
	{ "poweroff", "DISK keep|discard|commit", "end an undoable disk's "
	  "redo log", cmd_poweroff },
};

static const struct cli_cmd *
cmd_by_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "--quiet"))
			progress_set_enabled(false);
	return cli_dispatch("vsnap", "Snapshots of virtual disks: trees, "
			    "revert, delete, commit, disk modes.", cmds,
			    ARRAY_SIZE(cmds), argc, argv);
}
