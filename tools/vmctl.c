/* SPDX-License-Identifier: MIT */
/*
 * vmctl: controls a running VM through its control socket.
 *   vmctl SOCKET status|pause|resume [--json]
 *   vmctl SOCKET stop|poweroff [--undoable keep|discard|commit] [--json]
 *   vmctl SOCKET balloon SIZE [--json]
 *   vmctl SOCKET stats [--json]
 * Exit: 0 done, 1 failed (no VM there, or it refused), 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/json.h"
#include "vmm/vmm.h"

static const char *sock_path;
static bool json_out;
static const char *undoable;   /* stop, poweroff: --undoable */

/* Takes --json and --help out of argv; returns -1 after printing help. */
static int
parse_flags(const struct cli_cmd *cmd, int *argc, char **argv)
{
	int n = 1;

	for (int i = 1; i < *argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json_out = true;
		} else if (!strcmp(argv[i], "--undoable") ||
			   !strncmp(argv[i], "--undoable=", 11)) {
			const char *v = argv[i][10] == '=' ? argv[i] + 11
							   : argv[++i];
			enum vmm_undoable u;

			if (strcmp(cmd->name, "stop") &&
			    strcmp(cmd->name, "poweroff"))
				return cli_usage_error("--undoable goes with stop "
						       "and poweroff");
			if (!v || vmm_undoable_parse(v, &u) < 0)
				return cli_usage_error("--undoable takes keep, "
						       "discard or commit");
			undoable = v;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			cli_cmd_usage(cmd);
			return -1;
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			return cli_usage_error("unknown option '%s'", argv[i]);
		} else {
			argv[n++] = argv[i];
		}
	}
	*argc = n;
	return 0;
}

/* Sends 'req'; on success returns the parsed reply ("ok": true). */
static int
call(const char *req, char **text, struct json_doc **doc)
{
	const struct json_node *root;
	char err[128];
	int rc;

	rc = vmm_control_call(sock_path, req, 10000, text);
	if (rc == -ENOENT || rc == -ECONNREFUSED) {
		cli_error("%s: no VM is listening there", sock_path);
		return CLI_EXIT_FAIL;
	}
	if (rc < 0) {
		cli_error("%s: %s", sock_path, strerror(-rc));
		return cli_exit_code(rc);
	}
	if (json_parse(*text, strlen(*text), doc, err, sizeof(err)) < 0) {
		cli_error("%s: bad reply: %s", sock_path, err);
		return CLI_EXIT_FAIL;
	}
	root = json_root(*doc);
	if (!json_get_bool(root, "ok", false)) {
		cli_error("%s", json_get_str(root, "error", "request refused"));
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

static double
num(const struct json_node *o, const char *key)
{
	const struct json_node *n = json_get(o, key);

	return n && n->type == JSON_NUMBER ? n->num : 0;
}

static const char *
size_str(double bytes, char *buf)
{
	return cli_format_size((uint64_t)bytes, buf, 32);
}

static void
print_status(const struct json_node *r)
{
	char b[32];

	printf("name:    %s\n", json_get_str(r, "name", "?"));
	printf("state:   %s\n", json_get_str(r, "state", "?"));
	printf("pid:     %.0f\n", num(r, "pid"));
	printf("uptime:  %.1f s\n", num(r, "uptime_s"));
	printf("vcpus:   %.0f\n", num(r, "vcpus"));
	printf("memory:  %s\n", size_str(num(r, "memory_bytes"), b));
	printf("disks:   %.0f\nnics:    %.0f\n", num(r, "disks"), num(r, "nics"));
	printf("ksm:     %s\n", json_get_bool(r, "ksm", false) ? "on" : "off");
	printf("cgroups: %s\n", json_get_str(r, "cgroups", "none"));
}

static void
print_stats(const struct json_node *r)
{
	const struct json_node *cpu = json_get(r, "cpu"), *mem = json_get(r, "memory");
	const struct json_node *v, *arr;
	char b1[32], b2[32], b3[32], b4[32], b5[32];
	int i = 0;

	printf("cpu:     ");
	arr = json_get(cpu, "vcpu_ns");
	for (v = arr && arr->type == JSON_ARRAY ? arr->child : NULL; v; v = v->next)
		printf("vcpu%d %.2f s  ", i++, v->num / 1e9);
	printf("process %.2f s\n", num(cpu, "process_ns") / 1e9);
	printf("memory:  guest %s, used %s, shared %s, ballooned %s (target %s)\n",
	       size_str(num(mem, "guest_bytes"), b1),
	       size_str(num(mem, "used_bytes"), b2),
	       size_str(num(mem, "shared_bytes"), b3),
	       size_str(num(mem, "ballooned_bytes"), b4),
	       size_str(num(mem, "balloon_target_bytes"), b5));
	printf("         vmm overhead %s (process RSS %s)\n",
	       size_str(num(mem, "vmm_overhead_bytes"), b1),
	       size_str(num(mem, "process_rss_bytes"), b2));
	arr = json_get(r, "disks");
	i = 0;
	for (v = arr && arr->type == JSON_ARRAY ? arr->child : NULL; v; v = v->next, i++)
		printf("disk%d:   %s (%s, %s)\n         read %.0f op/s %s/s, write %.0f op/s "
		       "%s/s; total %.0f reads, %.0f writes, %.0f flushes, %.0f errors\n",
		       i, json_get_str(v, "path", "?"),
		       json_get_str(v, "backend", "?"),
		       json_get_str(v, "mode", "persistent"),
		       num(v, "read_ops_per_s"),
		       size_str(num(v, "read_bytes_per_s"), b1),
		       num(v, "write_ops_per_s"),
		       size_str(num(v, "write_bytes_per_s"), b2),
		       num(v, "read_ops"), num(v, "write_ops"), num(v, "flush_ops"),
		       num(v, "errors"));
	arr = json_get(r, "nics");
	i = 0;
	for (v = arr && arr->type == JSON_ARRAY ? arr->child : NULL; v; v = v->next, i++)
		printf("nic%d:    %s (%s)\n         rx %.0f frames/s, tx %.0f "
		       "frames/s; total rx %.0f, tx %.0f\n",
		       i, json_get_str(v, "socket", "?"),
		       json_get_bool(v, "connected", false) ? "connected"
							    : "switch not connected",
		       num(v, "rx_frames_per_s"), num(v, "tx_frames_per_s"),
		       num(v, "rx_frames"), num(v, "tx_frames"));
	v = json_get(r, "console");
	if (v && v->type == JSON_OBJECT)
		printf("console: virtio-console, %.0f bytes to the guest, %.0f "
		       "from it\n", num(v, "rx_bytes"), num(v, "tx_bytes"));
}

static int
simple(const struct cli_cmd *cmd, int argc, char **argv, const char *req,
       void (*print)(const struct json_node *))
{
	struct json_doc *doc = NULL;
	char *text = NULL;
	int rc = parse_flags(cmd, &argc, argv);

	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (argc != 1)
		return cli_usage_error("%s takes no arguments", cmd->name);
	rc = call(req, &text, &doc);
	if (rc == CLI_EXIT_OK) {
		if (json_out)
			printf("%s\n", text);
		else if (print)
			print(json_root(doc));
		else
			printf("%s: %s\n", cmd->name,
			       json_get_str(json_root(doc), "state", "done"));
	}
	json_free(doc);
	free(text);
	return rc;
}

static const struct cli_cmd cmds[];

#define SIMPLE_CMD(fn, idx, req, print)                              \
	static int fn(int argc, char **argv)                         \
	{                                                            \
		return simple(&cmds[idx], argc, argv, req, print);   \
	}

SIMPLE_CMD(cmd_status, 0, "{\"cmd\":\"status\"}", print_status)
SIMPLE_CMD(cmd_pause, 1, "{\"cmd\":\"pause\"}", NULL)
SIMPLE_CMD(cmd_resume, 2, "{\"cmd\":\"resume\"}", NULL)

/* stop and poweroff: the request carries the undoable disks' fate. */
static int
end_vm(const struct cli_cmd *cmd, int argc, char **argv)
{
	char req[96];
	int rc = parse_flags(cmd, &argc, argv);

	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (undoable)
		snprintf(req, sizeof(req),
			 "{\"cmd\":\"%s\",\"undoable\":\"%s\"}", cmd->name,
			 undoable);
	else
		snprintf(req, sizeof(req), "{\"cmd\":\"%s\"}", cmd->name);
	return simple(cmd, argc, argv, req, NULL);
}

static int
cmd_stop(int argc, char **argv)
{
	return end_vm(&cmds[3], argc, argv);
}

static int
cmd_poweroff(int argc, char **argv)
{
	return end_vm(&cmds[4], argc, argv);
}
SIMPLE_CMD(cmd_stats, 6, "{\"cmd\":\"stats\"}", print_stats)

static int
cmd_balloon(int argc, char **argv)
{
	struct json_doc *doc = NULL;
	char req[128], *text = NULL, b[32];
	uint64_t bytes;
	int rc = parse_flags(&cmds[5], &argc, argv);

	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (argc != 2)
		return cli_usage_error("balloon needs one SIZE");
	if (cli_parse_size(argv[1], &bytes) < 0)
		return cli_usage_error("bad size '%s' (e.g. 512M, 1G)", argv[1]);
	snprintf(req, sizeof(req), "{\"cmd\":\"balloon\",\"bytes\":%" PRIu64 "}",
		 bytes);
	rc = call(req, &text, &doc);
	if (rc == CLI_EXIT_OK) {
		if (json_out)
			printf("%s\n", text);
		else
			printf("balloon target %s\n", cli_format_size(bytes, b, 32));
	}
	json_free(doc);
	free(text);
	return rc;
}

static const struct cli_cmd cmds[] = {
	{ "status", "[--json]", "name, state, uptime, size of the VM", cmd_status },
	{ "pause", "[--json]", "stop the vCPUs (devices keep their state)", cmd_pause },
	{ "resume", "[--json]", "run a paused VM again", cmd_resume },
	{ "stop", "[--undoable keep|discard|commit] [--json]",
	  "end the VM cleanly: drain and flush its disks, then apply their "
	  "modes (nonpersistent: changes discarded; undoable: as --undoable "
	  "says, else as vmm was told or asks)", cmd_stop },
	{ "poweroff", "[--undoable keep|discard|commit] [--json]",
	  "end the VM at once, like pulling the plug; disk modes as for stop",
	  cmd_poweroff },
	{ "balloon", "SIZE [--json]", "ask the guest to give SIZE of its memory back", cmd_balloon },
	{ "stats", "[--json]", "CPU time, memory, per-disk and per-NIC rates", cmd_stats },
};

int
main(int argc, char **argv)
{
	static const char about[] =
		"Controls a running VM through its control socket "
		"(vm.cfg 'control').\nUsage: vmctl SOCKET COMMAND [ARGS] [--json]";

	cli_set_prog("vmctl");
	if (argc < 2 || argv[1][0] == '-' || !strcmp(argv[1], "help"))
		return cli_dispatch("vmctl", about, cmds, ARRAY_SIZE(cmds), argc,
				    argv);
	sock_path = argv[1];
	if (argc < 3)
		return cli_usage_error("missing command after the socket");
	return cli_dispatch("vmctl", about, cmds, ARRAY_SIZE(cmds), argc - 1,
			    argv + 1);
}
