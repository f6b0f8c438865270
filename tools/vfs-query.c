/* SPDX-License-Identifier: MIT */
/*
 * The read-only views: info, ls, stat, hosts, locks. They mount in
 * inspect mode: no heartbeat slot, nothing written, so they work next to
 * any number of live hosts (and on a LUN opened read-only).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "tools/vfs-cli.h"

enum { OPT_JSON = 1000, OPT_INTERNAL };

/* Parses the options common to queries; returns -1 to go on, else an
 * exit code. */
static int
query_opts(int argc, char **argv, bool *json, bool *long_fmt,
	   bool *internal)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "internal", no_argument, NULL, OPT_INTERNAL },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hl", opts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			*json = true;
			break;
		case OPT_INTERNAL:
			if (!internal)
				return cli_usage_error("unknown option "
						       "--internal");
			*internal = true;
			break;
		case 'l':
			if (!long_fmt)
				return cli_usage_error("unknown option -l");
			*long_fmt = true;
			break;
		case 'h':
			return vt_help(argv[0]);
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("%s needs one argument", argv[0]);
	return -1;
}

static void
uuid_str(const uint8_t *u, char *buf)
{
	sprintf(buf, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		"%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4], u[5],
		u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

int
vt_cmd_info(int argc, char **argv)
{
	bool json = false;
	struct vfs_info in;
	struct vfs *vfs;
	char uuid[40], s1[32], s2[32], s3[32], t[32];
	int rc = query_opts(argc, argv, &json, NULL, NULL);

	if (rc >= 0)
		return rc;
	rc = vt_mount(argv[optind], VFS_MOUNT_INSPECT, &vfs);
	if (rc)
		return rc;
	rc = vfs_get_info(vfs, &in);
	if (rc < 0)
		return vt_unmount(vfs, vt_fail("info", rc));
	uuid_str(in.uuid, uuid);
	if (json) {
		struct json_writer w;

		json_writer_init(&w, stdout);
		json_obj_begin(&w, NULL);
		json_str(&w, "uuid", uuid);
		json_str(&w, "label", in.label);
		json_u64(&w, "version", in.version);
		json_u64(&w, "lun_bytes", in.lun_bytes);
		json_u64(&w, "block_bytes", in.block_bytes);
		json_u64(&w, "data_blocks", in.data_blocks);
		json_u64(&w, "free_blocks", in.free_blocks);
		json_u64(&w, "capacity_bytes", in.data_blocks * in.block_bytes);
		json_u64(&w, "free_bytes", in.free_blocks * in.block_bytes);
		json_u64(&w, "meta_blocks", in.meta_blocks);
		json_u64(&w, "free_meta_blocks", in.free_meta_blocks);
		json_u64(&w, "inodes", in.inodes);
		json_u64(&w, "free_inodes", in.free_inodes);
		json_u64(&w, "slots", in.slots);
		json_u64(&w, "journals", in.journals);
		json_u64(&w, "journal_bytes", in.journal_bytes);
		json_u64(&w, "lease_ms", in.lease_ms);
		json_u64(&w, "incompat", in.incompat);
		json_u64(&w, "compat", in.compat);
		json_u64(&w, "autoclear", in.autoclear);
		json_arr_begin(&w, "features");
		if (in.incompat & VFS_FEATURE_SMALL_FILES)
			json_str(&w, NULL, "small-files");
		json_arr_end(&w);
		json_str(&w, "created", vt_time(in.created_wall_ns, t,
						sizeof(t)));
		json_str(&w, "ats_method", in.ats_method);
		json_obj_end(&w);
		json_end_document(&w);
	} else {
		printf("uuid         %s\n", uuid);
		printf("label        %s\n", in.label);
		printf("format       version %u (incompat %#" PRIx64
		       ", compat %#" PRIx64 ", autoclear %#" PRIx64 ")\n",
		       in.version, in.incompat, in.compat, in.autoclear);
		printf("features     %s\n",
		       in.incompat & VFS_FEATURE_SMALL_FILES ?
			       "small-files (thin files up to 3456 bytes in "
			       "their inode)" : "none");
		printf("created      %s\n", vt_time(in.created_wall_ns, t,
						   sizeof(t)));
		printf("capacity     %s in %" PRIu64 " blocks of %s\n",
		       cli_format_size(in.data_blocks * in.block_bytes, s1,
				       sizeof(s1)),
		       in.data_blocks,
		       cli_format_size(in.block_bytes, s2, sizeof(s2)));
		printf("free         %s (%" PRIu64 " blocks)\n",
		       cli_format_size(in.free_blocks * in.block_bytes, s3,
				       sizeof(s3)), in.free_blocks);
		printf("metadata     %" PRIu64 " of %" PRIu64
		       " 4 KiB blocks free\n", in.free_meta_blocks,
		       in.meta_blocks);
		printf("inodes       %" PRIu64 " of %" PRIu64 " free (one per "
		       "file or directory)\n", in.free_inodes, in.inodes);
		printf("hosts        %u heartbeat slots, %u journals of %s\n",
		       in.slots, in.journals,
		       cli_format_size(in.journal_bytes, s1, sizeof(s1)));
		printf("lease        %u ms\n", in.lease_ms);
		printf("atomic test  %s\n", in.ats_method);
	}
	return vt_unmount(vfs, CLI_EXIT_OK);
}

static const char *
type_name(enum vfs_file_type t)
{
	return t == VFS_TYPE_DIR ? "dir" : "file";
}

static void
stat_json(struct json_writer *w, const char *key, const char *name,
	  const struct vfs_stat *st)
{
	char t[32];

	json_obj_begin(w, key);
	if (name)
		json_str(w, "name", name);
	json_str(w, "type", type_name(st->type));
	json_u64(w, "ino", st->ino);
	json_u64(w, "generation", st->generation);
	json_u64(w, "size_bytes", st->size_bytes);
	json_u64(w, "allocated_bytes", st->allocated_bytes);
	if (st->type == VFS_TYPE_FILE)
		json_str(w, "alloc", vfs_alloc_name(st->alloc));
	else
		json_u64(w, "entries", st->nentries);
	json_str(w, "mtime", vt_time(st->mtime_ns, t, sizeof(t)));
	json_obj_end(w);
}

int
vt_cmd_ls(int argc, char **argv)
{
	bool json = false, long_fmt = false;
	struct json_writer w;
	struct vfs_dirent e;
	struct vfs_dir *d;
	struct vfs *vfs;
	const char *path;
	char *lun;
	int rc = query_opts(argc, argv, &json, &long_fmt, NULL);

	if (rc >= 0)
		return rc;
	if (vt_split(argv[optind], false, &lun, &path) < 0)
		return cli_usage_error("expected LUN[:/path]");
	rc = vt_mount(lun, VFS_MOUNT_INSPECT, &vfs);
	free(lun);
	if (rc)
		return rc;
	rc = vfs_dir_open(vfs, path, &d);
	if (rc < 0)
		return vt_unmount(vfs, vt_fail(path, rc));
	if (json) {
		json_writer_init(&w, stdout);
		json_obj_begin(&w, NULL);
		json_str(&w, "path", path);
		json_arr_begin(&w, "entries");
	}
	while (vfs_dir_next(d, &e) == 1) {
		char full[1300], sz[32], t[32];
		struct vfs_stat st;

		snprintf(full, sizeof(full), "%s%s%s", path,
			 path[strlen(path) - 1] == '/' ? "" : "/", e.name);
		if ((json || long_fmt) && vfs_stat(vfs, full, &st) < 0)
			continue; /* removed meanwhile */
		if (json)
			stat_json(&w, NULL, e.name, &st);
		else if (long_fmt)
			printf("%-4s %10s %-12s %s %s%s\n", type_name(st.type),
			       cli_format_size(st.size_bytes, sz, sizeof(sz)),
			       st.type == VFS_TYPE_FILE ?
				       vfs_alloc_name(st.alloc) : "-",
			       vt_time(st.mtime_ns, t, sizeof(t)), e.name,
			       st.type == VFS_TYPE_DIR ? "/" : "");
		else
			printf("%s%s\n", e.name,
			       e.type == VFS_TYPE_DIR ? "/" : "");
	}
	vfs_dir_close(d);
	if (json) {
		json_arr_end(&w);
		json_obj_end(&w);
		json_end_document(&w);
	}
	return vt_unmount(vfs, CLI_EXIT_OK);
}

int
vt_cmd_stat(int argc, char **argv)
{
	bool json = false;
	struct vfs_stat st;
	struct vfs *vfs;
	const char *path;
	char *lun, s1[32], s2[32], t[32];
	int rc = query_opts(argc, argv, &json, NULL, NULL);

	if (rc >= 0)
		return rc;
	if (vt_split(argv[optind], true, &lun, &path) < 0)
		return cli_usage_error("expected LUN:/path");
	rc = vt_mount(lun, VFS_MOUNT_INSPECT, &vfs);
	free(lun);
	if (rc)
		return rc;
	rc = vfs_stat(vfs, path, &st);
	if (rc < 0)
		return vt_unmount(vfs, vt_fail(path, rc));
	if (json) {
		struct json_writer w;

		json_writer_init(&w, stdout);
		stat_json(&w, NULL, path, &st);
		json_end_document(&w);
	} else {
		printf("path       %s\ntype       %s\nino        %" PRIu64
		       " (generation %u)\nsize       %s\nallocated  %s\n",
		       path, type_name(st.type), st.ino, st.generation,
		       cli_format_size(st.size_bytes, s1, sizeof(s1)),
		       cli_format_size(st.allocated_bytes, s2, sizeof(s2)));
		if (st.type == VFS_TYPE_FILE)
			printf("alloc      %s\n", vfs_alloc_name(st.alloc));
		else
			printf("entries    %u\n", st.nentries);
		printf("modified   %s\n", vt_time(st.mtime_ns, t, sizeof(t)));
	}
	return vt_unmount(vfs, CLI_EXIT_OK);
}

static const char *
state_name(enum vfs_host_state s)
{
	switch (s) {
	case VFS_HOST_LIVE: return "live";
	case VFS_HOST_DEAD: return "dead";
	case VFS_HOST_RECOVERING: return "recovering";
	}
	return "?";
}

int
vt_cmd_hosts(int argc, char **argv)
{
	bool json = false;
	struct vfs_host *h;
	struct vfs *vfs;
	unsigned int n;
	char t[32], u[40];
	int rc = query_opts(argc, argv, &json, NULL, NULL);

	if (rc >= 0)
		return rc;
	rc = vt_mount(argv[optind], VFS_MOUNT_INSPECT, &vfs);
	if (rc)
		return rc;
	rc = vfs_hosts_list(vfs, &h, &n);
	if (rc < 0)
		return vt_unmount(vfs, vt_fail("hosts", rc));
	if (json) {
		struct json_writer w;

		json_writer_init(&w, stdout);
		json_obj_begin(&w, NULL);
		json_arr_begin(&w, "hosts");
		for (unsigned int i = 0; i < n; i++) {
			json_obj_begin(&w, NULL);
			json_u64(&w, "slot", h[i].slot);
			json_str(&w, "host", h[i].host_name);
			uuid_str(h[i].host_uuid, u);
			json_str(&w, "host_uuid", u);
			json_u64(&w, "pid", h[i].pid);
			json_str(&w, "state", state_name(h[i].state));
			json_bool(&w, "read_only", h[i].read_only);
			json_u64(&w, "generation", h[i].generation);
			json_u64(&w, "counter", h[i].counter);
			json_u64(&w, "heartbeat_age_ms", h[i].heartbeat_age_ms);
			json_str(&w, "heartbeat_age_source",
				 h[i].age_observed ? "observed" : "wall-clock");
			json_str(&w, "mounted", vt_time(h[i].mounted_wall_ns, t,
							sizeof(t)));
			json_obj_end(&w);
		}
		json_arr_end(&w);
		json_obj_end(&w);
		json_end_document(&w);
	} else {
		printf("%-5s %-20s %-8s %-10s %-4s %-12s %s\n", "SLOT", "HOST",
		       "PID", "STATE", "MODE", "HEARTBEAT", "MOUNTED");
		for (unsigned int i = 0; i < n; i++) {
			char age[32];

			snprintf(age, sizeof(age), "%.1fs ago%s",
				 (double)h[i].heartbeat_age_ms / 1000,
				 h[i].age_observed ? "" : "*");
			printf("%-5u %-20s %-8u %-10s %-4s %-12s %s\n",
			       h[i].slot, h[i].host_name, h[i].pid,
			       state_name(h[i].state),
			       h[i].read_only ? "ro" : "rw", age,
			       vt_time(h[i].mounted_wall_ns, t, sizeof(t)));
		}
		if (!n)
			printf("(no hosts)\n");
		else
			printf("* heartbeat age from the host's own clock\n");
	}
	free(h);
	return vt_unmount(vfs, CLI_EXIT_OK);
}

int
vt_cmd_locks(int argc, char **argv)
{
	bool json = false, internal = false;
	struct vfs_lock_info *l;
	struct vfs *vfs;
	const char *path;
	unsigned int n;
	char *lun, t[32];
	int rc = query_opts(argc, argv, &json, NULL, &internal);

	if (rc >= 0)
		return rc;
	if (vt_split(argv[optind], false, &lun, &path) < 0)
		return cli_usage_error("expected LUN[:/path]");
	rc = vt_mount(lun, VFS_MOUNT_INSPECT, &vfs);
	free(lun);
	if (rc)
		return rc;
	rc = vfs_locks_list(vfs, path, internal, &l, &n);
	if (rc < 0)
		return vt_unmount(vfs, vt_fail(path, rc));
	if (json) {
		struct json_writer w;

		json_writer_init(&w, stdout);
		json_obj_begin(&w, NULL);
		json_arr_begin(&w, "locks");
		for (unsigned int i = 0; i < n; i++) {
			json_obj_begin(&w, NULL);
			json_str(&w, "path", l[i].path);
			json_str(&w, "mode", vfs_lock_mode_name(l[i].mode));
			json_u64(&w, "lock_generation", l[i].lock_generation);
			json_str(&w, "since", vt_time(l[i].since_wall_ns, t,
						      sizeof(t)));
			json_arr_begin(&w, "holders");
			for (unsigned int k = 0; k < l[i].nholders; k++) {
				const struct vfs_lock_holder *h =
					&l[i].holders[k];

				json_obj_begin(&w, NULL);
				json_u64(&w, "slot", h->slot);
				json_u64(&w, "slot_generation",
					 h->slot_generation);
				json_str(&w, "host", h->host_name);
				json_bool(&w, "alive", h->holder_alive);
				json_u64(&w, "heartbeat_age_ms",
					 h->heartbeat_age_ms);
				json_obj_end(&w);
			}
			json_arr_end(&w);
			json_obj_end(&w);
		}
		json_arr_end(&w);
		json_obj_end(&w);
		json_end_document(&w);
	} else {
		printf("%-32s %-12s %-5s %-20s %-21s %s\n", "PATH", "MODE",
		       "SLOT", "HOST", "SINCE", "HEARTBEAT");
		for (unsigned int i = 0; i < n; i++) {
			for (unsigned int k = 0; k < l[i].nholders; k++) {
				const struct vfs_lock_holder *h =
					&l[i].holders[k];
				char age[40];

				snprintf(age, sizeof(age), "%.1fs ago%s",
					 (double)h->heartbeat_age_ms / 1000,
					 h->holder_alive ? "" : " (stale)");
				printf("%-32s %-12s %-5u %-20s %-21s %s\n",
				       k ? "" : l[i].path,
				       k ? "" : vfs_lock_mode_name(l[i].mode),
				       h->slot, h->host_name,
				       vt_time(l[i].since_wall_ns, t,
					       sizeof(t)), age);
			}
		}
		if (!n)
			printf("(no locks held)\n");
	}
	free(l);
	return vt_unmount(vfs, CLI_EXIT_OK);
}

static void
fsck_msg(void *arg, const char *line)
{
	struct json_writer *w = arg;

	if (w)
		json_str(w, NULL, line);
	else
		fprintf(stderr, "%s: fsck: %s\n", cli_prog(), line);
}

int
vt_cmd_fsck(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "repair", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vfs_fsck_report rep;
	struct json_writer w;
	bool json = false;
	unsigned int flags = 0;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hr", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			flags |= VFS_FSCK_REPAIR;
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'h':
			return vt_help(argv[0]);
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("fsck needs one LUN");
	if (json) {
		json_writer_init(&w, stdout);
		json_obj_begin(&w, NULL);
		json_arr_begin(&w, "problems");
	}
	rc = vfs_fsck(argv[optind], flags, &rep, fsck_msg, json ? &w : NULL);
	if (json) {
		json_arr_end(&w);
		if (rc >= 0) {
			json_str(&w, "result", rc == 0 ? "clean" :
					       rc == 1 ? "repairable" :
							 "corrupt");
			json_u64(&w, "inodes", rep.inodes);
			json_u64(&w, "directories", rep.dirs);
			json_u64(&w, "files", rep.files);
			json_u64(&w, "data_blocks_used", rep.data_blocks_used);
			json_u64(&w, "meta_blocks_used", rep.meta_blocks_used);
			json_u64(&w, "errors", rep.errors);
			json_u64(&w, "repaired", rep.repaired);
			json_u64(&w, "unrepairable", rep.unrepairable);
			json_u64(&w, "journals_replayed",
				 rep.journals_replayed);
		} else {
			json_str(&w, "error", vfs_strerror(rc));
		}
		json_obj_end(&w);
		json_end_document(&w);
	}
	if (rc < 0) {
		if (!json)
			cli_error("%s: %s", argv[optind], vfs_strerror(rc));
		/* 2 only means corruption; an unreadable LUN fails. */
		return cli_exit_code(rc) == CLI_EXIT_AGAIN ? CLI_EXIT_AGAIN :
							     CLI_EXIT_FAIL;
	}
	if (!json)
		printf("%s: %s: %llu inodes (%llu directories, %llu files), "
		       "%llu data blocks, %llu metadata blocks; %llu problems"
		       ", %llu repaired, %llu journals replayed\n",
		       argv[optind], rc == 0 ? "clean" :
				      rc == 1 ? ((flags & VFS_FSCK_REPAIR) ?
						"repaired" : "repairable") :
						"CORRUPT",
		       (unsigned long long)rep.inodes,
		       (unsigned long long)rep.dirs,
		       (unsigned long long)rep.files,
		       (unsigned long long)rep.data_blocks_used,
		       (unsigned long long)rep.meta_blocks_used,
		       (unsigned long long)rep.errors,
		       (unsigned long long)rep.repaired,
		       (unsigned long long)rep.journals_replayed);
	return rc;
}
