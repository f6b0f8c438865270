/* SPDX-License-Identifier: MIT */
/*
 * Shared pieces of the command-line tools: a subcommand table, size
 * parsing and printing, and the exit-code convention
 *   0 done, 1 failed, 2 usage error, 75 try again (-EBUSY, -EAGAIN).
 * Diagnostics go to stderr as one line "prog: message".
 */
#ifndef COMMON_CLI_H
#define COMMON_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_AGAIN 75

struct cli_cmd {
	const char *name;
	const char *args;    /* usage after the name, e.g. "LUN [--label L]" */
	const char *summary; /* one line for the command list */
	/* argv[0] is the subcommand name; returns an exit code. */
	int (*run)(int argc, char **argv);
};

/*
 * Runs the subcommand named by argv[1] from 'cmds'. Handles "--help",
 * "-h", "help [CMD]" and "--version"; an unknown or missing subcommand is
 * a usage error. 'about' is the tool's one-line description.
 */
int cli_dispatch(const char *prog, const char *about,
		 const struct cli_cmd *cmds, size_t ncmds, int argc,
		 char **argv);

/* Prints "Usage: prog name args" and the summary; for --help handlers. */
void cli_cmd_usage(const struct cli_cmd *cmd);
/* The running tool's name, as given to cli_dispatch() or cli_set_prog(). */
const char *cli_prog(void);
void cli_set_prog(const char *prog);

/* "prog: message" on stderr. */
void cli_error(const char *fmt, ...) printf_like(1, 2);
/* "prog: message" plus a hint to --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) printf_like(1, 2);
/* Maps 0 / -errno to an exit code (0, 75 for -EBUSY/-EAGAIN, else 1). */
int cli_exit_code(int err);

/*
 * Parses a size: a number with an optional suffix K, M, G, T, P (powers
 * of 1024; "KiB", "KB", "k" all accepted) or "B" / none for bytes.
 * Returns 0, or -EINVAL on bad syntax, -ERANGE on overflow.
 */
int cli_parse_size(const char *s, uint64_t *out);
/* Parses a decimal or 0x-hex unsigned integer in [min, max]. */
int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Formats bytes for people: "512 B", "4.0 KiB", "1.5 GiB". */
const char *cli_format_size(uint64_t bytes, char *buf, size_t len);

#endif
