/* SPDX-License-Identifier: MIT */
/*
 * vfs lock: runs a command while holding a file's on-disk lock, like
 * flock(1). The session's heartbeat thread keeps the lock alive while the
 * command runs; the lock is released when the command ends. With
 * --nowait a lock held elsewhere fails at once, naming the holder.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/vfs-cli.h"

static volatile sig_atomic_t child_pid;

static void
forward(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

static void
print_holder(struct vfs *vfs, const char *arg, const char *path)
{
	struct vfs_lock_info li;
	char t[32];

	if (vfs_lock_query(vfs, path, &li) < 0 || li.nholders == 0) {
		cli_error("%s: %s", arg, vfs_strerror(-EBUSY));
		return;
	}
	cli_error("%s: locked %s by host %s (slot %u) since %s, heartbeat "
		  "%.1f s ago%s", arg, vfs_lock_mode_name(li.mode),
		  li.holders[0].host_name, li.holders[0].slot,
		  vt_time(li.since_wall_ns, t, sizeof(t)),
		  (double)li.holders[0].heartbeat_age_ms / 1000,
		  li.nholders > 1 ? " (and others)" : "");
}

int
vt_cmd_lock(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "shared", no_argument, NULL, 's' },
		{ "multi-writer", no_argument, NULL, 'm' },
		{ "nowait", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned int flags = 0;
	struct vfs_file *f;
	const char *path, *target;
	struct vfs *vfs;
	char *lun;
	int c, rc, status;
	pid_t pid;

	optind = 1;
	/* '+': stop at the first non-option so COMMAND keeps its own. */
	while ((c = getopt_long(argc, argv, "+hsmn", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			flags |= VFS_O_SHARED;
			break;
		case 'm':
			flags |= VFS_O_MULTI_WRITER;
			break;
		case 'n':
			flags |= VFS_O_NOWAIT;
			break;
		case 'h':
			return vt_help(argv[0]);
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if ((flags & VFS_O_SHARED) && (flags & VFS_O_MULTI_WRITER))
		return cli_usage_error("--shared and --multi-writer exclude "
				       "each other");
	if (argc - optind < 2)
		return cli_usage_error("lock needs LUN:/path and a COMMAND");
	target = argv[optind];
	if (vt_split(target, true, &lun, &path) < 0)
		return cli_usage_error("expected LUN:/path");
	if (strcmp(argv[optind + 1], "--") == 0)
		optind++;
	if (argc - optind < 2)
		return cli_usage_error("lock needs a COMMAND");
	rc = vt_mount(lun, 0, &vfs);
	free(lun);
	if (rc)
		return rc;
	rc = vfs_file_open(vfs, path, flags, &f);
	if (rc == -EBUSY) {
		print_holder(vfs, target, path);
		return vt_unmount(vfs, CLI_EXIT_AGAIN);
	}
	if (rc < 0)
		return vt_unmount(vfs, vt_fail(path, rc));
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		vfs_file_close(f);
		return vt_unmount(vfs, vt_fail("fork", rc));
	}
	if (pid == 0) {
		execvp(argv[optind + 1], argv + optind + 1);
		fprintf(stderr, "%s: %s: %s\n", cli_prog(), argv[optind + 1],
			strerror(errno));
		_exit(127);
	}
	child_pid = pid;
	signal(SIGINT, forward);
	signal(SIGTERM, forward);
	signal(SIGHUP, forward);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	child_pid = 0;
	rc = vfs_is_fenced(vfs) ? -ESTALE : 0;
	vfs_file_close(f);
	if (rc < 0) {
		vt_fail(path, rc);
		return vt_unmount(vfs, CLI_EXIT_FAIL);
	}
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return vt_unmount(vfs, rc);
}
