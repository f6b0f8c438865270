/* SPDX-License-Identifier: MIT */
/*
 * vfs mount LUN MOUNTPOINT: the datastore as a FUSE filesystem (libfuse3,
 * the path-based API), so ordinary tools (ls, cp, mv, rm, dd, df,
 * fallocate) see it. One datastore session for the mount: files opened
 * through it take their datastore lock exclusively (read-only mounts:
 * unlocked, as a backup proxy reads), so another host's open of a file
 * kept open here gets EBUSY and so does ours of a file another host
 * holds (we never wait for a lock: the FUSE loop would stall).
 *
 * Several opens of one file share one datastore handle. Modes, owners
 * and times other than the modification time are not stored: files read
 * as 0644 (0444 read-only), directories 0755, all owned by whoever
 * mounted; chmod, chown and utimens succeed and change nothing.
 * fallocate maps to the datastore's provisioning: plain (lazy-zeroed
 * thick), PUNCH_HOLE (vfs_file_punch) and ZERO_RANGE
 * (vfs_file_zero_range).
 *
 * The command forks: the child mounts the datastore and the filesystem
 * and reports back before the parent exits, so errors reach the shell;
 * with --foreground it stays in the terminal. It ends at umount (or
 * SIGINT/SIGTERM), unmounting the datastore cleanly.
 */
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/vfs-cli.h"

/* One datastore handle per open file, shared by its FUSE opens. */
struct open_file {
	uint64_t ino;
	struct vfs_file *f;
	unsigned int refs;
	struct open_file *next;
};

struct mnt {
	struct vfs *vfs;
	bool read_only;
	uint32_t block_bytes;
	pthread_mutex_t mu;          /* the table of open files */
	struct open_file *files;
	uid_t uid;
	gid_t gid;
};

static struct mnt *
ctx(void)
{
	return fuse_get_context()->private_data;
}

static void
fill_stat(const struct mnt *m, const struct vfs_stat *st, struct stat *sb)
{
	memset(sb, 0, sizeof(*sb));
	sb->st_ino = st->ino;
	if (st->type == VFS_TYPE_DIR) {
		sb->st_mode = S_IFDIR | 0755;
		sb->st_nlink = 2;
	} else {
		sb->st_mode = S_IFREG | (m->read_only ? 0444 : 0644);
		sb->st_nlink = 1;
	}
	sb->st_uid = m->uid;
	sb->st_gid = m->gid;
	sb->st_size = (off_t)st->size_bytes;
	sb->st_blksize = (blksize_t)m->block_bytes;
	sb->st_blocks = (blkcnt_t)(st->allocated_bytes / 512);
	sb->st_mtim.tv_sec = (time_t)(st->mtime_ns / 1000000000ull);
	sb->st_mtim.tv_nsec = (long)(st->mtime_ns % 1000000000ull);
	sb->st_ctim.tv_sec = (time_t)(st->ctime_ns / 1000000000ull);
	sb->st_ctim.tv_nsec = (long)(st->ctime_ns % 1000000000ull);
	sb->st_atim = sb->st_mtim;
}

static struct vfs_file *
fh(struct fuse_file_info *fi)
{
	return ((struct open_file *)(uintptr_t)fi->fh)->f;
}

static int
fs_getattr(const char *path, struct stat *sb, struct fuse_file_info *fi)
{
	struct vfs_stat st;
	int rc;

	rc = fi ? vfs_file_stat(fh(fi), &st) : vfs_stat(ctx()->vfs, path, &st);
	if (rc == 0)
		fill_stat(ctx(), &st, sb);
	return rc;
}

static int
fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
	   struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct vfs_dirent e;
	struct vfs_dir *d;
	int rc = vfs_dir_open(ctx()->vfs, path, &d);

	if (rc < 0)
		return rc;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	while ((rc = vfs_dir_next(d, &e)) == 1)
		if (fill(buf, e.name, NULL, 0, 0))
			break;
	vfs_dir_close(d);
	return rc < 0 ? rc : 0;
}

static int
fs_mkdir(const char *path, mode_t mode)
{
	return vfs_mkdir(ctx()->vfs, path);
}

static int
fs_unlink(const char *path)
{
	return vfs_unlink(ctx()->vfs, path);
}

static int
fs_rmdir(const char *path)
{
	return vfs_rmdir(ctx()->vfs, path);
}

static int
fs_rename(const char *from, const char *to, unsigned int flags)
{
	if (flags & ~RENAME_NOREPLACE)
		return -EINVAL; /* no RENAME_EXCHANGE */
	return vfs_rename(ctx()->vfs, from, to,
			  flags ? VFS_RENAME_NOREPLACE : 0);
}

/* ---- open files ---- */

/* Finds or makes the shared handle of 'path' (mu held). */
static int
file_get(struct mnt *m, const char *path, bool create,
	 struct open_file **out)
{
	struct vfs_stat st;
	struct open_file *o;
	int rc;

	if (create) {
		struct vfs_file *f;

		rc = vfs_file_create(m->vfs, path, NULL, VFS_O_NOWAIT, &f);
		if (rc < 0)
			return rc;
		rc = vfs_file_stat(f, &st);
		if (rc < 0) {
			vfs_file_close(f);
			return rc;
		}
		o = calloc(1, sizeof(*o));
		if (!o) {
			vfs_file_close(f);
			return -ENOMEM;
		}
		o->f = f;
		goto add;
	}
	rc = vfs_stat(m->vfs, path, &st);
	if (rc < 0)
		return rc;
	if (st.type == VFS_TYPE_DIR)
		return -EISDIR;
	for (o = m->files; o; o = o->next) {
		if (o->ino == st.ino) {
			o->refs++;
			*out = o;
			return 0;
		}
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	/* Never wait for another host here: the loop would stall. */
	rc = vfs_file_open(m->vfs, path, VFS_O_NOWAIT, &o->f);
	if (rc < 0) {
		free(o);
		return rc;
	}
add:
	o->ino = st.ino;
	o->refs = 1;
	o->next = m->files;
	m->files = o;
	*out = o;
	return 0;
}

static void
file_put(struct mnt *m, struct open_file *o)
{
	struct open_file **pp;

	if (--o->refs)
		return;
	for (pp = &m->files; *pp != o; pp = &(*pp)->next)
		;
	*pp = o->next;
	vfs_file_close(o->f);
	free(o);
}

static int
open_common(const char *path, struct fuse_file_info *fi, bool create)
{
	struct mnt *m = ctx();
	struct open_file *o;
	int rc;

	if (m->read_only && (create || (fi->flags & O_ACCMODE) != O_RDONLY))
		return -EROFS;
	pthread_mutex_lock(&m->mu);
	rc = file_get(m, path, create, &o);
	pthread_mutex_unlock(&m->mu);
	if (rc < 0)
		return rc;
	fi->fh = (uintptr_t)o;
	if ((fi->flags & O_TRUNC) && !create) {
		rc = vfs_file_truncate(o->f, 0);
		if (rc < 0) {
			pthread_mutex_lock(&m->mu);
			file_put(m, o);
			pthread_mutex_unlock(&m->mu);
		}
	}
	return rc;
}

static int
fs_open(const char *path, struct fuse_file_info *fi)
{
	return open_common(path, fi, false);
}

static int
fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return open_common(path, fi, true);
}

static int
fs_release(const char *path, struct fuse_file_info *fi)
{
	struct mnt *m = ctx();

	pthread_mutex_lock(&m->mu);
	file_put(m, (struct open_file *)(uintptr_t)fi->fh);
	pthread_mutex_unlock(&m->mu);
	return 0;
}

static int
fs_read(const char *path, char *buf, size_t len, off_t off,
	struct fuse_file_info *fi)
{
	/* FUSE requests are at most a few MiB: the count fits an int. */
	return (int)vfs_file_pread(fh(fi), buf, len, (uint64_t)off);
}

static int
fs_write(const char *path, const char *buf, size_t len, off_t off,
	 struct fuse_file_info *fi)
{
	return (int)vfs_file_pwrite(fh(fi), buf, len, (uint64_t)off);
}

static int
fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	return vfs_file_sync(fh(fi));
}

static int
fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct fuse_file_info tmp = { .flags = O_WRONLY };
	int rc;

	if (size < 0)
		return -EINVAL;
	if (fi)
		return vfs_file_truncate(fh(fi), (uint64_t)size);
	rc = open_common(path, &tmp, false);
	if (rc < 0)
		return rc;
	rc = vfs_file_truncate(fh(&tmp), (uint64_t)size);
	fs_release(path, &tmp);
	return rc;
}

static int
fs_fallocate(const char *path, int mode, off_t off, off_t len,
	     struct fuse_file_info *fi)
{
	struct vfs_file *f = fh(fi);
	struct vfs_stat st;
	int rc;

	if (off < 0 || len <= 0)
		return -EINVAL;
	if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE))
		return vfs_file_punch(f, (uint64_t)off, (uint64_t)len);
	if (mode == FALLOC_FL_ZERO_RANGE ||
	    mode == (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)) {
		rc = vfs_file_stat(f, &st);
		if (rc == 0 && !(mode & FALLOC_FL_KEEP_SIZE) &&
		    (uint64_t)(off + len) > st.size_bytes)
			rc = vfs_file_truncate(f, (uint64_t)(off + len));
		return rc ? rc : vfs_file_zero_range(f, (uint64_t)off,
						     (uint64_t)len);
	}
	if (mode & ~FALLOC_FL_KEEP_SIZE)
		return -EOPNOTSUPP;
	rc = vfs_file_stat(f, &st);
	if (rc == 0 && !(mode & FALLOC_FL_KEEP_SIZE) &&
	    (uint64_t)(off + len) > st.size_bytes)
		rc = vfs_file_truncate(f, (uint64_t)(off + len));
	return rc ? rc : vfs_file_allocate(f, (uint64_t)off, (uint64_t)len,
					   VFS_ALLOC_LAZY_ZEROED);
}

static int
fs_statfs(const char *path, struct statvfs *s)
{
	struct vfs_info in;
	int rc = vfs_get_info(ctx()->vfs, &in);

	if (rc < 0)
		return rc;
	memset(s, 0, sizeof(*s));
	s->f_bsize = in.block_bytes;
	s->f_frsize = in.block_bytes;
	s->f_blocks = in.data_blocks;
	s->f_bfree = in.free_blocks;
	s->f_bavail = in.free_blocks;
	s->f_files = in.inodes;
	s->f_ffree = in.free_inodes;
	s->f_favail = in.free_inodes;
	s->f_namemax = VFS_NAME_MAX;
	return 0;
}

/* Not stored: accepted so that cp -p, touch and tar do not fail. */
static int
fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return ctx()->read_only ? -EROFS : 0;
}

static int
fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	return ctx()->read_only ? -EROFS : 0;
}

static int
fs_utimens(const char *path, const struct timespec tv[2],
	   struct fuse_file_info *fi)
{
	return ctx()->read_only ? -EROFS : 0;
}

static void *
fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* Our inode numbers are stable: show them. Other hosts change the
	 * datastore behind the kernel's back: keep its caches short. */
	cfg->use_ino = 1;
	cfg->attr_timeout = 1;
	cfg->entry_timeout = 1;
	cfg->negative_timeout = 0;
	return fuse_get_context()->private_data;
}

static const struct fuse_operations ops = {
	.init = fs_init,
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.rename = fs_rename,
	.open = fs_open,
	.create = fs_create,
	.release = fs_release,
	.read = fs_read,
	.write = fs_write,
	.fsync = fs_fsync,
	.truncate = fs_truncate,
	.fallocate = fs_fallocate,
	.statfs = fs_statfs,
	.chmod = fs_chmod,
	.chown = fs_chown,
	.utimens = fs_utimens,
};

/* ---- the command ---- */

static void
detach_output(void)
{
	int fd = open("/dev/null", O_WRONLY);

	if (fd < 0)
		return;
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

/* Mounts and serves; 'report' (a pipe, or -1) hears 0 or an errno once
 * the filesystem is mounted or has failed. */
static int
serve(const char *lun, const char *dir, bool read_only, int report)
{
	char *argv[] = { "vfs", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	struct mnt m = { .read_only = read_only, .uid = getuid(),
			 .gid = getgid() };
	struct vfs_info info;
	struct fuse *fuse = NULL;
	int rc, err = 0, code = CLI_EXIT_OK;

	pthread_mutex_init(&m.mu, NULL);
	rc = vfs_mount(lun, &(struct vfs_mount_opts){
			       .flags = read_only ? VFS_MOUNT_READ_ONLY : 0 },
		       &m.vfs);
	if (rc == 0)
		rc = vfs_get_info(m.vfs, &info);
	if (rc < 0) {
		err = rc;
		code = vt_fail(lun, rc);
		goto report;
	}
	m.block_bytes = info.block_bytes;
	fuse = fuse_new(&args, &ops, sizeof(ops), &m);
	if (!fuse) {
		err = -EIO;
		code = vt_fail("fuse", err);
		goto unmount;
	}
	if (fuse_mount(fuse, dir) != 0) {
		err = -errno ? -errno : -EIO;
		cli_error("%s: cannot mount the filesystem there", dir);
		code = CLI_EXIT_FAIL;
		goto destroy;
	}
	fuse_set_signal_handlers(fuse_get_session(fuse));
report:
	if (report >= 0) {
		/* Detach from the caller's output before it hears back, or
		 * a shell reading our pid with $(...) waits for us to end. */
		if (!err)
			detach_output();
		(void)!write(report, &err, sizeof(err));
		close(report);
	}
	if (err)
		goto destroy;
	/* One thread: metadata operations of a session run one at a time
	 * anyway, and the data path is no faster through FUSE threads. */
	if (fuse_loop(fuse) != 0)
		code = CLI_EXIT_FAIL;
	fuse_remove_signal_handlers(fuse_get_session(fuse));
	fuse_unmount(fuse);
destroy:
	if (fuse)
		fuse_destroy(fuse);
unmount:
	while (m.files) {
		m.files->refs = 1;
		file_put(&m, m.files);
	}
	if (m.vfs)
		code = vt_unmount(m.vfs, code);
	fuse_opt_free_args(&args);
	return code;
}

int
vt_cmd_mount(int argc, char **argv)
{
	bool read_only = false, foreground = false;
	const char *lun = NULL, *dir = NULL;
	int p[2], err = -EIO;
	struct stat sb;
	pid_t pid;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			vt_help("mount");
			fputs("\nOne datastore session serves the mount in the "
			      "background; its pid is printed.\n"
			      "A file open through the mount holds its "
			      "datastore lock (other hosts get EBUSY).\n"
			      "--read-only   a read-only session: writes only "
			      "its heartbeat, takes no locks\n"
			      "--foreground  stay in the terminal (messages "
			      "on stderr)\n"
			      "Not stored: modes, owners, times set by touch "
			      "(chmod, chown, touch succeed, change nothing).\n",
			      stdout);
			return CLI_EXIT_OK;
		}
		if (!strcmp(argv[i], "--read-only"))
			read_only = true;
		else if (!strcmp(argv[i], "--foreground") || !strcmp(argv[i], "-f"))
			foreground = true;
		else if (argv[i][0] == '-')
			return cli_usage_error("unknown option %s", argv[i]);
		else if (!lun)
			lun = argv[i];
		else if (!dir)
			dir = argv[i];
		else
			return cli_usage_error("too many arguments");
	}
	if (!lun || !dir)
		return cli_usage_error("need LUN and MOUNTPOINT");
	/* Checked first: no session for a mount that cannot happen, and
	 * one error line instead of libfuse's and ours. */
	if (stat(dir, &sb) < 0)
		return vt_fail(dir, -errno);
	if (!S_ISDIR(sb.st_mode))
		return vt_fail(dir, -ENOTDIR);
	if (foreground)
		return serve(lun, dir, read_only, -1);
	/* The session's threads must start in the process that stays. */
	if (pipe(p) < 0)
		return vt_fail("pipe", -errno);
	pid = fork();
	if (pid < 0)
		return vt_fail("fork", -errno);
	if (pid == 0) {
		close(p[0]);
		setsid();
		if (freopen("/dev/null", "r", stdin) == NULL)
			_exit(CLI_EXIT_FAIL);
		_exit(serve(lun, dir, read_only, p[1]));
	}
	close(p[1]);
	if (read(p[0], &err, sizeof(err)) != sizeof(err))
		err = -EIO;
	close(p[0]);
	if (err < 0) {
		int st;

		/* The child printed why; reap it. */
		waitpid(pid, &st, 0);
		return WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st) :
							  CLI_EXIT_FAIL;
	}
	printf("%d\n", (int)pid);
	return CLI_EXIT_OK;
}
