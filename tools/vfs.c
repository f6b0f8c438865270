/* SPDX-License-Identifier: MIT */
/*
 * vfs: the clustered datastore's command-line tool. A thin main() over
 * vfs-cluster/vfs.h: the subcommand table here, the commands in
 * vfs-query.c (read-only views), vfs-files.c (changes) and vfs-lock.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "tools/vfs-cli.h"

static const struct cli_cmd cmds[] = {
	{ "mkfs", "LUN [--label L] [--block-size 1M] [--lease SECONDS] "
		  "[--slots N] [--journals N] [--journal-size SIZE] [--force]",
	  "format a LUN as a datastore", vt_cmd_mkfs },
	{ "info", "LUN [--json]", "show the volume: geometry, space, features",
	  vt_cmd_info },
	{ "ls", "LUN[:/path] [-l] [--json]", "list a directory", vt_cmd_ls },
	{ "stat", "LUN:/path [--json]", "show one file or directory",
	  vt_cmd_stat },
	{ "mkdir", "LUN:/path [-p]", "make a directory", vt_cmd_mkdir },
	{ "rm", "LUN:/path [-r]", "remove a file (or, with -r, a tree)",
	  vt_cmd_rm },
	{ "mv", "LUN:/from LUN:/to [--no-replace]", "rename atomically",
	  vt_cmd_mv },
	{ "create", "LUN:/path --size SIZE [--alloc thin|lazy-zeroed|"
		    "eager-zeroed]", "create a file of a given size",
	  vt_cmd_create },
	{ "put", "LOCAL LUN:/path [--alloc TYPE] [--force]",
	  "copy a local file into the datastore", vt_cmd_put },
	{ "get", "LUN:/path LOCAL [--force]",
	  "copy a file out of the datastore", vt_cmd_get },
	{ "hosts", "LUN [--json]",
	  "list the hosts: slots, names, heartbeat ages, state", vt_cmd_hosts },
	{ "locks", "LUN[:/path] [--internal] [--json]",
	  "list held locks: holder, mode, since when, heartbeat age",
	  vt_cmd_locks },
	{ "lock", "[--shared|--multi-writer] [--nowait] LUN:/path -- "
		  "COMMAND [ARG...]",
	  "run COMMAND while holding a file's lock (like flock(1))",
	  vt_cmd_lock },
	{ "mount", "LUN MOUNTPOINT [--read-only] [--foreground]",
	  "mount as a filesystem (FUSE); umount MOUNTPOINT ends it",
	  vt_cmd_mount },
	{ "fsck", "LUN [--repair] [--json]",
	  "check the datastore (exit 0 clean, 1 repaired or repairable, "
	  "2 corrupt)", vt_cmd_fsck },
};

int
vt_help(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (strcmp(cmds[i].name, name) == 0) {
			cli_cmd_usage(&cmds[i]);
			return CLI_EXIT_OK;
		}
	}
	return CLI_EXIT_USAGE;
}

int
vt_split(const char *arg, bool need_path, char **lun, const char **path)
{
	const char *sep = NULL;

	for (const char *p = arg; (p = strstr(p, ":/")) != NULL; p++)
		if (p[2] != '/')
			sep = p;
	/* "file:/x" and "mem:/x" are LUNs, not "file" plus a path. */
	if (sep && !memchr(arg, '/', (size_t)(sep - arg)) &&
	    !memchr(arg, ':', (size_t)(sep - arg)) &&
	    (strncmp(arg, "file", 4) == 0 || strncmp(arg, "mem", 3) == 0))
		sep = NULL;
	if (!sep) {
		if (need_path)
			return -EINVAL;
		*lun = strdup(arg);
		*path = "/";
		return *lun ? 0 : -ENOMEM;
	}
	*lun = strndup(arg, (size_t)(sep - arg));
	*path = sep + 1;
	return *lun && **lun ? 0 : -EINVAL;
}

int
vt_fail(const char *what, int err)
{
	cli_error("%s: %s", what, vfs_strerror(err));
	return cli_exit_code(err);
}

int
vt_mount(const char *lun, unsigned int flags, struct vfs **out)
{
	struct vfs_mount_opts o = { .flags = flags };
	int rc = vfs_mount(lun, &o, out);

	if (rc < 0)
		return vt_fail(lun, rc);
	return CLI_EXIT_OK;
}

int
vt_unmount(struct vfs *vfs, int code)
{
	int rc = vfs_unmount(vfs);

	if (rc < 0 && code == CLI_EXIT_OK)
		return vt_fail("unmount", rc);
	return code;
}

const char *
vt_time(uint64_t wall_ns, char *buf, unsigned int len)
{
	time_t t = (time_t)(wall_ns / 1000000000ull);
	struct tm tm;

	if (!wall_ns) {
		snprintf(buf, len, "-");
		return buf;
	}
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

int
main(int argc, char **argv)
{
	return cli_dispatch("vfs", "The clustered VM datastore on a shared LUN.",
			    cmds, ARRAY_SIZE(cmds), argc, argv);
}
