/* SPDX-License-Identifier: MIT */
/*
 * CPU shares and memory limits for the whole VMM process through
 * cgroups: a v2 controller where the unified hierarchy has it (cpu.weight,
 * memory.max), else the v1 hierarchy (cpu.shares, memory.limit_in_bytes).
 * The group is vstack-vmm/NAME-PID under the process's current group,
 * removed when the VM ends. A limit
 * that was asked for but cannot be applied is an error naming what the
 * host lacks, never silently ignored.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/vmm-internal.h"

static bool
write_file(const char *dir, const char *file, const char *val)
{
	char path[512];
	int fd;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok;
}

/* The mount point of the cgroup2 hierarchy, if any. */
static bool
find_v2(char *out, size_t len)
{
	char dev[64], mnt[256], type[32];
	FILE *f = fopen("/proc/self/mounts", "re");
	bool found = false;

	if (!f)
		return false;
	while (fscanf(f, "%63s %255s %31s %*[^\n]", dev, mnt, type) == 3) {
		if (!strcmp(type, "cgroup2")) {
			snprintf(out, len, "%s", mnt);
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

static bool
v2_has(const char *root, const char *ctl)
{
	char path[300], buf[256], *tok, *save;
	FILE *f;
	bool has = false;

	snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f))
		for (tok = strtok_r(buf, " \n", &save); tok;
		     tok = strtok_r(NULL, " \n", &save))
			has |= !strcmp(tok, ctl);
	fclose(f);
	return has;
}

/*
 * The process's current group in 'ctl' ("cpu", "memory"; "" for the v2
 * hierarchy), from /proc/self/cgroup: our groups nest under it, so the
 * limits of whoever started the VMM still apply.
 */
static void
current_group(const char *ctl, char *out, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/self/cgroup", "re");

	snprintf(out, len, "/");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		bool match = false;

		if (!c2)
			continue;
		*c2 = '\0';
		if (!*ctl) {
			match = c1[1] == '\0';
		} else {
			for (char *tok = strtok(c1 + 1, ","); tok; tok = strtok(NULL, ","))
				match |= !strcmp(tok, ctl);
		}
		if (match) {
			c2[1 + strcspn(c2 + 1, "\n")] = '\0';
			snprintf(out, len, "%s", c2 + 1);
			break;
		}
	}
	fclose(f);
}

/* Removes groups left by VMMs that were killed (their PID is gone). */
static void
sweep(const char *parent)
{
	char path[1200];
	struct dirent *e;
	DIR *d = opendir(parent);

	if (!d)
		return;
	while ((e = readdir(d))) {
		const char *dash = strrchr(e->d_name, '-');
		long pid = dash ? strtol(dash + 1, NULL, 10) : 0;

		if (e->d_type != DT_DIR || pid <= 0 ||
		    (kill((pid_t)pid, 0) < 0 && errno != ESRCH))
			continue;
		if (kill((pid_t)pid, 0) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
		rmdir(path); /* fails harmlessly if something still lives there */
	}
	closedir(d);
}

/* Makes ROOT/vstack-vmm/NAME-PID and moves the process into it. */
static int
join(const char *root, const char *name, char *dir, size_t len)
{
	snprintf(dir, len, "%s/vstack-vmm", root);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	sweep(dir);
	snprintf(dir, len, "%s/vstack-vmm/%s-%d", root, name, (int)getpid());
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int
enter(const char *dir)
{
	char pid[24];

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	return write_file(dir, "cgroup.procs", pid) ? 0 : -EACCES;
}

/* Remembers a group we made so vmm_cgroup_release() can remove it. */
static void
remember(struct vmm_vm *vm, const char *root, const char *dir)
{
	for (int i = 0; i < 2; i++) {
		if (!vm->cgroup_dir[i][0]) {
			snprintf(vm->cgroup_root[i], sizeof(vm->cgroup_root[i]),
				 "%s", root);
			snprintf(vm->cgroup_dir[i], sizeof(vm->cgroup_dir[i]),
				 "%s", dir);
			return;
		}
	}
}

void
vmm_cgroup_release(struct vmm_vm *vm)
{
	for (int i = 0; i < 2; i++) {
		if (!vm->cgroup_dir[i][0])
			continue;
		/* Back to the root group, then the empty group can go. */
		enter(vm->cgroup_root[i]);
		rmdir(vm->cgroup_dir[i]);
		vm->cgroup_dir[i][0] = '\0';
	}
}

static int
apply_one(struct vmm_vm *vm, const char *ctl, const char *v1file,
	  const char *v2file, uint64_t v1val, uint64_t v2val, char *where,
	  size_t wlen)
{
	const char *name = vmm_config_name(vm->cfg);
	char root[600], dir[1024], val[32] = "";
	int err;

	char mnt[256], cur[256];

	if (find_v2(mnt, sizeof(mnt)) && v2_has(mnt, ctl)) {
		current_group("", cur, sizeof(cur));
		snprintf(root, sizeof(root), "%s%s", mnt, strcmp(cur, "/") ? cur : "");
		err = join(root, name, dir, sizeof(dir));
		if (err == 0) {
			write_file(root, "cgroup.subtree_control",
				   !strcmp(ctl, "cpu") ? "+cpu" : "+memory");
			snprintf(val, sizeof(val), "%" PRIu64, v2val);
			if (!write_file(dir, v2file, val) || enter(dir) < 0)
				err = -EACCES;
			remember(vm, root, dir);
		}
		snprintf(where, wlen, "%s=%s in %s (cgroup v2)", v2file, val, dir);
		return err;
	}
	current_group(ctl, cur, sizeof(cur));
	snprintf(root, sizeof(root), "/sys/fs/cgroup/%s%s", ctl,
		 strcmp(cur, "/") ? cur : "");
	snprintf(dir, sizeof(dir), "%s/%s", root, v1file);
	if (access(dir, W_OK) == 0) {
		err = join(root, name, dir, sizeof(dir));
		if (err == 0) {
			snprintf(val, sizeof(val), "%" PRIu64, v1val);
			if (!write_file(dir, v1file, val) || enter(dir) < 0)
				err = -EACCES;
			remember(vm, root, dir);
		}
		snprintf(where, wlen, "%s=%s in %s (cgroup v1)", v1file, val, dir);
		return err;
	}
	return -ENOTSUP;
}

int
vmm_cgroup_apply(struct vmm_vm *vm)
{
	const struct vmm_config *c = vm->cfg;
	char cpu[1100] = "", mem[1100] = "";
	int err;

	if (c->cpu_shares) {
		/* cgroup v2 weight 1..10000 from v1 shares 2..262144. */
		uint64_t w = 1 + ((c->cpu_shares - 2) * 9999) / 262142;

		err = apply_one(vm, "cpu", "cpu.shares", "cpu.weight",
				c->cpu_shares, w, cpu, sizeof(cpu));
		if (err == -ENOTSUP) {
			log_err("vmm", "cpu.shares: this host has no cgroup cpu "
				"controller (neither cgroup v1 'cpu' nor a v2 "
				"hierarchy with 'cpu' enabled)");
			return err;
		}
		if (err < 0) {
			log_err("vmm", "cpu.shares: %s: %s", cpu, strerror(-err));
			return err;
		}
	}
	if (c->memory_limit_bytes) {
		err = apply_one(vm, "memory", "memory.limit_in_bytes",
				"memory.max", c->memory_limit_bytes,
				c->memory_limit_bytes, mem, sizeof(mem));
		if (err == -ENOTSUP) {
			log_err("vmm", "memory.limit: this host has no cgroup "
				"memory controller (neither cgroup v1 'memory' "
				"nor a v2 hierarchy with 'memory' enabled)");
			return err;
		}
		if (err < 0) {
			log_err("vmm", "memory.limit: %s: %s", mem,
				strerror(-err));
			return err;
		}
	}
	snprintf(vm->cgroup_note, sizeof(vm->cgroup_note), "%s%s%s",
		 cpu[0] ? cpu : "", cpu[0] && mem[0] ? ", " : "",
		 mem[0] ? mem : "");
	if (vm->cgroup_note[0])
		log_info("vmm", "cgroups: %s", vm->cgroup_note);
	return 0;
}
