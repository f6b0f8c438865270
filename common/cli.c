/* SPDX-License-Identifier: MIT */
/* Subcommand dispatch, size parsing and error printing for the tools. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cli.h"

static const char *prog_name = "vstack";

void
cli_set_prog(const char *prog)
{
	prog_name = prog;
}

const char *
cli_prog(void)
{
	return prog_name;
}

void
cli_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see '%s --help')\n", prog_name);
	return CLI_EXIT_USAGE;
}

int
cli_exit_code(int err)
{
	if (err >= 0)
		return CLI_EXIT_OK;
	if (err == -EBUSY || err == -EAGAIN)
		return CLI_EXIT_AGAIN;
	return CLI_EXIT_FAIL;
}

void
cli_cmd_usage(const struct cli_cmd *cmd)
{
	printf("Usage: %s %s %s\n\n%s\n", prog_name, cmd->name, cmd->args,
	       cmd->summary);
}

static void
print_command_list(const char *about, const struct cli_cmd *cmds,
		   size_t ncmds)
{
	printf("Usage: %s COMMAND [OPTIONS] ARGS...\n\n%s\n\nCommands:\n",
	       prog_name, about);
	for (size_t i = 0; i < ncmds; i++)
		printf("  %-12s %s\n", cmds[i].name, cmds[i].summary);
	printf("\nRun '%s COMMAND --help' for a command's options.\n",
	       prog_name);
}

static const struct cli_cmd *
find_cmd(const struct cli_cmd *cmds, size_t ncmds, const char *name)
{
	for (size_t i = 0; i < ncmds; i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

int
cli_dispatch(const char *prog, const char *about, const struct cli_cmd *cmds,
	     size_t ncmds, int argc, char **argv)
{
	const struct cli_cmd *cmd;
	const char *name;

	cli_set_prog(prog);
	if (argc < 2)
		return cli_usage_error("missing command");
	name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
		print_command_list(about, cmds, ncmds);
		return CLI_EXIT_OK;
	}
	if (!strcmp(name, "--version")) {
		printf("%s %s\n", prog, VSTACK_VERSION);
		return CLI_EXIT_OK;
	}
	if (!strcmp(name, "help")) {
		if (argc < 3) {
			print_command_list(about, cmds, ncmds);
			return CLI_EXIT_OK;
		}
		cmd = find_cmd(cmds, ncmds, argv[2]);
		if (!cmd)
			return cli_usage_error("unknown command '%s'", argv[2]);
		cli_cmd_usage(cmd);
		return CLI_EXIT_OK;
	}
	cmd = find_cmd(cmds, ncmds, name);
	if (!cmd)
		return cli_usage_error("unknown command '%s'", name);
	return cmd->run(argc - 1, argv + 1);
}

int
cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end != '\0' || end == s)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static int
suffix_shift(const char *sfx, unsigned int *shift)
{
	static const char units[] = "BKMGTP";
	const char *u;

	if (*sfx == '\0') {
		*shift = 0;
		return 0;
	}
	/* Upper-casing a space gives NUL, which strchr would find. */
	if ((sfx[0] & ~0x20) == 0)
		return -EINVAL;
	u = strchr(units, sfx[0] & ~0x20);
	if (!u)
		return -EINVAL;
	*shift = (unsigned int)(u - units) * 10;
	sfx++;
	if (*shift && (!strcasecmp(sfx, "ib") || !strcasecmp(sfx, "b")))
		return 0;
	return *sfx == '\0' ? 0 : -EINVAL;
}

int
cli_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (suffix_shift(end, &shift) < 0)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

const char *
cli_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB",
					     "PiB", "EiB" };
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", bytes);
		return buf;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}
