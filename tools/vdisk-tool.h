/* SPDX-License-Identifier: MIT */
/* Shared by the vdisk tool's files: option parsing and error printing. */
#ifndef TOOLS_VDISK_TOOL_H
#define TOOLS_VDISK_TOOL_H

#include <getopt.h>
#include <stdint.h>

#include "common/cli.h"
#include "vdisk/vdisk.h"

/* Prints vdisk_last_error() (or strerror) as the one error line. */
int vdisk_tool_fail(const char *what, int err);
int vdisk_tool_getopt(const struct cli_cmd *cmd, int argc, char **argv,
		      const struct option *longopts,
		      int (*handle)(int opt, const char *arg, void *priv),
		      void *priv, int min_pos, int max_pos, int *rc);
int vdisk_tool_size(const char *arg, uint64_t *out);
int vdisk_tool_type(const char *arg, enum vdisk_type *out);
const struct cli_cmd *vdisk_tool_cmd(const char *name);

int vdisk_cmd_import(int argc, char **argv);
int vdisk_cmd_export(int argc, char **argv);
int vdisk_cmd_serve(int argc, char **argv);
int vdisk_cmd_cbt(int argc, char **argv);
int vdisk_cmd_bench(int argc, char **argv);

#endif
