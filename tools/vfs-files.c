/* SPDX-License-Identifier: MIT */
/*
 * The commands that change a datastore: mkfs, mkdir, rm, mv, create, put,
 * get. Each mounts read-write for its own duration (a heartbeat slot and
 * a journal), does its work and unmounts cleanly.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/progress.h"
#include "tools/vfs-cli.h"

#define COPY_CHUNK (8u << 20)

/* Options shared by simple commands: -h, and one flag letter. */
static int
simple_opts(int argc, char **argv, const char *letters, const char *flag,
	    bool *set, int nargs)
{
	const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ flag ? flag : "-", no_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, letters, opts, NULL)) != -1) {
		if (c == 'h')
			return vt_help(argv[0]);
		if (c == '?' || !set)
			return CLI_EXIT_USAGE;
		*set = true;
	}
	if (argc - optind != nargs)
		return cli_usage_error("%s needs %d argument%s", argv[0], nargs,
				       nargs > 1 ? "s" : "");
	return -1;
}

int
vt_cmd_mkfs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "label", required_argument, NULL, 'L' },
		{ "block-size", required_argument, NULL, 'b' },
		{ "lease", required_argument, NULL, 'l' },
		{ "slots", required_argument, NULL, 's' },
		{ "journals", required_argument, NULL, 'j' },
		{ "journal-size", required_argument, NULL, 'J' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vfs_mkfs_opts o = { 0 };
	uint64_t v;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hfL:b:l:", opts, NULL)) != -1) {
		switch (c) {
		case 'L':
			if (strlen(optarg) > VFS_LABEL_MAX)
				return cli_usage_error("label longer than %d "
						       "bytes", VFS_LABEL_MAX);
			o.label = optarg;
			break;
		case 'b':
			if (cli_parse_size(optarg, &v) < 0 || !IS_POW2(v) ||
			    v < (64u << 10) || v > (64u << 20))
				return cli_usage_error("--block-size: a power "
						       "of two, 64K..64M");
			o.block_bytes = (uint32_t)v;
			break;
		case 'l':
			if (cli_parse_u64(optarg, 1, 300, &v) < 0)
				return cli_usage_error("--lease: 1..300 "
						       "seconds");
			o.lease_ms = (uint32_t)v * 1000;
			break;
		case 's':
			if (cli_parse_u64(optarg, 1024, 65536, &v) < 0)
				return cli_usage_error("--slots: 1024..65536");
			o.slots = (uint32_t)v;
			break;
		case 'j':
			if (cli_parse_u64(optarg, 1, 65536, &v) < 0)
				return cli_usage_error("--journals: 1..65536");
			o.journals = (uint32_t)v;
			break;
		case 'J':
			if (cli_parse_size(optarg, &v) < 0 || v % 4096 ||
			    v < (64u << 10) || v > (64u << 20))
				return cli_usage_error("--journal-size: 64K.."
						       "64M, 4K multiple");
			o.journal_bytes = (uint32_t)v;
			break;
		case 'f':
			o.force = true;
			break;
		case 'h':
			return vt_help(argv[0]);
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("mkfs needs one LUN");
	rc = vfs_mkfs(argv[optind], &o);
	if (rc == -EEXIST) {
		cli_error("%s: already holds a datastore (use --force to "
			  "destroy it)", argv[optind]);
		return CLI_EXIT_FAIL;
	}
	if (rc < 0)
		return vt_fail(argv[optind], rc);
	return CLI_EXIT_OK;
}

/* Mounts the LUN of "LUN:/path" read-write. */
static int
mount_path(const char *arg, struct vfs **vfs, char **lun, const char **path)
{
	int rc;

	if (vt_split(arg, true, lun, path) < 0)
		return cli_usage_error("expected LUN:/path, got '%s'", arg);
	rc = vt_mount(*lun, 0, vfs);
	if (rc)
		free(*lun);
	return rc;
}

static int
mkdir_p(struct vfs *vfs, const char *path)
{
	char *p = strdup(path);
	int rc = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
		if (s)
			*s = '\0';
		rc = vfs_mkdir(vfs, p);
		if (rc == -EEXIST)
			rc = 0;
		if (!s || rc < 0)
			break;
		*s = '/';
	}
	free(p);
	return rc;
}

int
vt_cmd_mkdir(int argc, char **argv)
{
	bool parents = false;
	const char *path;
	struct vfs *vfs;
	char *lun;
	int rc = simple_opts(argc, argv, "hp", "parents", &parents, 1);

	if (rc >= 0)
		return rc;
	rc = mount_path(argv[optind], &vfs, &lun, &path);
	if (rc)
		return rc;
	rc = parents ? mkdir_p(vfs, path) : vfs_mkdir(vfs, path);
	free(lun);
	return vt_unmount(vfs, rc < 0 ? vt_fail(path, rc) : CLI_EXIT_OK);
}

static int
rm_tree(struct vfs *vfs, const char *path)
{
	struct vfs_dirent e;
	struct vfs_dir *d;
	struct vfs_stat st;
	int rc = vfs_stat(vfs, path, &st);

	if (rc < 0)
		return rc;
	if (st.type == VFS_TYPE_FILE)
		return vfs_unlink(vfs, path);
	rc = vfs_dir_open(vfs, path, &d);
	if (rc < 0)
		return rc;
	while (rc >= 0 && vfs_dir_next(d, &e) == 1) {
		char *child;

		if (asprintf(&child, "%s/%s", strcmp(path, "/") ? path : "",
			     e.name) < 0) {
			rc = -ENOMEM;
			break;
		}
		rc = rm_tree(vfs, child);
		free(child);
	}
	vfs_dir_close(d);
	if (rc == 0 && strcmp(path, "/"))
		rc = vfs_rmdir(vfs, path);
	return rc;
}

int
vt_cmd_rm(int argc, char **argv)
{
	bool recursive = false;
	struct vfs_stat st;
	const char *path;
	struct vfs *vfs;
	char *lun;
	int rc = simple_opts(argc, argv, "hr", "recursive", &recursive, 1);

	if (rc >= 0)
		return rc;
	rc = mount_path(argv[optind], &vfs, &lun, &path);
	if (rc)
		return rc;
	if (recursive) {
		rc = rm_tree(vfs, path);
	} else {
		rc = vfs_stat(vfs, path, &st);
		if (rc == 0)
			rc = st.type == VFS_TYPE_DIR ? vfs_rmdir(vfs, path) :
						       vfs_unlink(vfs, path);
	}
	free(lun);
	return vt_unmount(vfs, rc < 0 ? vt_fail(path, rc) : CLI_EXIT_OK);
}

int
vt_cmd_mv(int argc, char **argv)
{
	bool noreplace = false;
	const char *from, *to;
	struct vfs *vfs;
	char *lun, *lun2 = NULL;
	int rc = simple_opts(argc, argv, "hn", "no-replace", &noreplace, 2);

	if (rc >= 0)
		return rc;
	rc = mount_path(argv[optind], &vfs, &lun, &from);
	if (rc)
		return rc;
	/* The target repeats the LUN ("LUN:/to") or is a path ("/to"). */
	if (vt_split(argv[optind + 1], true, &lun2, &to) < 0 ||
	    strcmp(lun, lun2) != 0) {
		if (argv[optind + 1][0] == '/' && !strstr(argv[optind + 1], ":/")) {
			free(lun2);
			lun2 = NULL;
			to = argv[optind + 1];
		}
	}
	if (lun2 && strcmp(lun, lun2) != 0) {
		rc = -EXDEV;
		cli_error("mv: both paths must be on the same datastore");
	} else {
		rc = vfs_rename(vfs, from, to,
				noreplace ? VFS_RENAME_NOREPLACE : 0);
		if (rc < 0)
			vt_fail(from, rc);
	}
	free(lun);
	free(lun2);
	return vt_unmount(vfs, cli_exit_code(rc));
}

static int
parse_alloc(const char *s, enum vfs_alloc *out)
{
	if (vfs_alloc_parse(s, out) < 0)
		return cli_usage_error("--alloc: thin, lazy-zeroed or "
				       "eager-zeroed");
	return -1;
}

int
vt_cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "alloc", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vfs_create_opts o = { 0 };
	bool have_size = false;
	const char *path;
	struct vfs *vfs;
	char *lun;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hs:a:", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (cli_parse_size(optarg, &o.size_bytes) < 0)
				return cli_usage_error("bad --size '%s'",
						       optarg);
			have_size = true;
			break;
		case 'a':
			rc = parse_alloc(optarg, &o.alloc);
			if (rc >= 0)
				return rc;
			break;
		case 'h':
			return vt_help(argv[0]);
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind != 1 || !have_size)
		return cli_usage_error("create needs LUN:/path and --size");
	rc = mount_path(argv[optind], &vfs, &lun, &path);
	if (rc)
		return rc;
	rc = vfs_file_create(vfs, path, &o, 0, NULL);
	free(lun);
	return vt_unmount(vfs, rc < 0 ? vt_fail(path, rc) : CLI_EXIT_OK);
}

static int
copy_in(struct vfs_file *f, int fd, uint64_t size, const char *name)
{
	struct progress *p = progress_start(name, size);
	uint8_t *buf = malloc(COPY_CHUNK);
	uint64_t off = 0;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	while (off < size) {
		ssize_t n = pread(fd, buf, COPY_CHUNK, (off_t)off);
		int64_t w;

		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		w = vfs_file_pwrite(f, buf, (uint64_t)n, off);
		if (w < 0) {
			rc = (int)w;
			break;
		}
		off += (uint64_t)n;
		progress_update(p, off);
	}
	progress_stop(p);
	free(buf);
	return rc ? rc : vfs_file_sync(f);
}

int
vt_cmd_put(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "alloc", required_argument, NULL, 'a' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vfs_create_opts o = { 0 };
	bool force = false;
	struct vfs_file *f;
	const char *path;
	struct vfs *vfs;
	struct stat st;
	char *lun;
	int c, fd, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hfa:", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			rc = parse_alloc(optarg, &o.alloc);
			if (rc >= 0)
				return rc;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			return vt_help(argv[0]);
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind != 2)
		return cli_usage_error("put needs LOCAL and LUN:/path");
	fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		cli_error("%s: %s", argv[optind], strerror(errno));
		if (fd >= 0)
			close(fd);
		return CLI_EXIT_FAIL;
	}
	rc = mount_path(argv[optind + 1], &vfs, &lun, &path);
	if (rc) {
		close(fd);
		return rc;
	}
	o.size_bytes = o.alloc == VFS_ALLOC_THIN ? 0 : (uint64_t)st.st_size;
	rc = vfs_file_create(vfs, path, &o, 0, &f);
	if (rc == -EEXIST && force) {
		/* Replace it: a new file of the requested type. */
		rc = vfs_unlink(vfs, path);
		if (rc == 0)
			rc = vfs_file_create(vfs, path, &o, 0, &f);
	}
	if (rc == 0) {
		rc = copy_in(f, fd, (uint64_t)st.st_size, path);
		vfs_file_close(f);
	}
	close(fd);
	free(lun);
	if (rc == -EEXIST)
		cli_error("%s: exists (use --force to overwrite)", path);
	else if (rc < 0)
		vt_fail(path, rc);
	return vt_unmount(vfs, cli_exit_code(rc));
}

int
vt_cmd_get(int argc, char **argv)
{
	bool force = false;
	struct vfs_file *f;
	struct vfs_stat st;
	struct progress *p;
	const char *path, *local;
	struct vfs *vfs;
	uint8_t *buf;
	uint64_t off = 0;
	char *lun;
	int fd, rc = simple_opts(argc, argv, "hf", "force", &force, 2);

	if (rc >= 0)
		return rc;
	local = argv[optind + 1];
	rc = mount_path(argv[optind], &vfs, &lun, &path);
	if (rc)
		return rc;
	free(lun);
	rc = vfs_file_open(vfs, path, VFS_O_SHARED, &f);
	if (rc < 0)
		return vt_unmount(vfs, vt_fail(path, rc));
	rc = vfs_file_stat(f, &st);
	fd = open(local, O_WRONLY | O_CREAT | O_CLOEXEC |
			 (force ? O_TRUNC : O_EXCL), 0644);
	if (fd < 0) {
		cli_error("%s: %s%s", local, strerror(errno),
			  errno == EEXIST ? " (use --force to overwrite)" : "");
		vfs_file_close(f);
		return vt_unmount(vfs, CLI_EXIT_FAIL);
	}
	buf = malloc(COPY_CHUNK);
	p = progress_start(path, st.size_bytes);
	while (rc == 0 && buf && off < st.size_bytes) {
		int64_t n = vfs_file_pread(f, buf, COPY_CHUNK, off);

		if (n <= 0) {
			rc = n < 0 ? (int)n : -EIO;
			break;
		}
		if (pwrite(fd, buf, (size_t)n, (off_t)off) != n) {
			cli_error("%s: %s", local, strerror(errno));
			rc = -EIO;
			break;
		}
		off += (uint64_t)n;
		progress_update(p, off);
	}
	progress_stop(p);
	if (!buf)
		rc = -ENOMEM;
	free(buf);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	vfs_file_close(f);
	if (rc < 0)
		vt_fail(path, rc);
	return vt_unmount(vfs, cli_exit_code(rc));
}
