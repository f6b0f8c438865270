/* SPDX-License-Identifier: MIT */
/*
 * Shared by the `vfs` tool's command files: naming LUN:/path arguments,
 * mounting for a command, and reporting errors the CLI way.
 */
#ifndef TOOLS_VFS_CLI_H
#define TOOLS_VFS_CLI_H

#include <stdbool.h>

#include "common/cli.h"
#include "common/json.h"
#include "vfs-cluster/vfs.h"

/*
 * Splits "LUN:/path" at the last ":/" that does not start "://"; with
 * 'need_path' false a bare LUN is accepted and '*path' is "/". '*lun'
 * is malloc()ed. Returns 0 or -EINVAL.
 */
int vt_split(const char *arg, bool need_path, char **lun, const char **path);
/* Mounts for one command; prints the error. flags: VFS_MOUNT_*. */
int vt_mount(const char *lun, unsigned int flags, struct vfs **out);
/* Unmounts, printing a failure. Returns the exit code. */
int vt_unmount(struct vfs *vfs, int code);
/* "prog: WHAT: meaning" and the matching exit code. */
int vt_fail(const char *what, int err);
/* Prints the usage of the running subcommand (for --help). */
int vt_help(const char *name);
/* ISO-8601 UTC from wall-clock ns into 'buf'. */
const char *vt_time(uint64_t wall_ns, char *buf, unsigned int len);

int vt_cmd_mkfs(int argc, char **argv);
int vt_cmd_info(int argc, char **argv);
int vt_cmd_ls(int argc, char **argv);
int vt_cmd_stat(int argc, char **argv);
int vt_cmd_mkdir(int argc, char **argv);
int vt_cmd_rm(int argc, char **argv);
int vt_cmd_mv(int argc, char **argv);
int vt_cmd_create(int argc, char **argv);
int vt_cmd_put(int argc, char **argv);
int vt_cmd_get(int argc, char **argv);
int vt_cmd_hosts(int argc, char **argv);
int vt_cmd_locks(int argc, char **argv);
int vt_cmd_lock(int argc, char **argv);
int vt_cmd_fsck(int argc, char **argv);
int vt_cmd_mount(int argc, char **argv);

#endif
