/* SPDX-License-Identifier: MIT */
/*
 * The control socket vmctl talks to: a Unix stream socket, one JSON
 * request line per connection ({"cmd":"status"}, {"cmd":"balloon",
 * "bytes":N}, ...) answered by one JSON line ({"ok":true,...} or
 * {"ok":false,"error":"..."}). Served on the main loop; requests are
 * parsed by common/json with its limits, and anything unexpected gets
 * an error reply, never a crash.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/json.h"
#include "snapshot/snapshot.h"
#include "vmm/control.h"
#include "vmm/devices/devices.h"

#define MAX_CLIENTS 8
#define REQ_MAX 4096

struct ctl_client {
	struct vmm_event ev;
	struct vmm_control *ctl;
	char buf[REQ_MAX];
	size_t len;
	bool used;
};

struct vmm_control {
	struct vmm_vm *vm;
	char *path;
	int fd;
	struct vmm_event ev;
	struct ctl_client client[MAX_CLIENTS];
};

static const char *
state_name(enum vmm_run_state s)
{
	switch (s) {
	case VMM_STATE_RUNNING: return "running";
	case VMM_STATE_PAUSED: return "paused";
	default: return "stopping";
	}
}

static uint64_t
status_kb(const char *key)
{
	char line[256];
	unsigned long long v = 0;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':') {
			sscanf(line + n + 1, "%llu", &v);
			break;
		}
	fclose(f);
	return v * 1024;
}

void
vmm_control_memory(struct vmm_vm *vm, struct vmm_mem_stats *m)
{
	memset(m, 0, sizeof(*m));
	m->guest_bytes = vm->mem.size;
	vmm_mem_usage(&vm->mem, &m->resident_bytes, &m->shared_bytes);
	if (vm->balloon)
		vmm_balloon_info(vm->balloon, &m->ballooned_bytes,
				 &m->balloon_target_bytes);
	m->process_rss_bytes = status_kb("VmRSS");
	/* Guest pages of a memfd count as RssShmem; the rest is ours. */
	if (vm->mem.fd >= 0)
		m->vmm_overhead_bytes = status_kb("RssAnon") + status_kb("RssFile");
	else
		m->vmm_overhead_bytes = m->process_rss_bytes > m->resident_bytes
						? m->process_rss_bytes - m->resident_bytes
						: 0;
}

static void
put_rates(struct json_writer *w, const struct vmm_io_stats *s, bool net)
{
	json_u64(w, net ? "rx_frames" : "read_ops", s->rd_ops);
	json_u64(w, net ? "tx_frames" : "write_ops", s->wr_ops);
	if (!net) {
		json_u64(w, "read_bytes", s->rd_bytes);
		json_u64(w, "write_bytes", s->wr_bytes);
		json_u64(w, "flush_ops", s->flush_ops);
		json_u64(w, "errors", s->errors);
		json_double(w, "read_bytes_per_s", s->rd_bytes_s);
		json_double(w, "write_bytes_per_s", s->wr_bytes_s);
	}
	json_double(w, net ? "rx_frames_per_s" : "read_ops_per_s", s->rd_ops_s);
	json_double(w, net ? "tx_frames_per_s" : "write_ops_per_s", s->wr_ops_s);
}

static void
put_stats(struct vmm_vm *vm, struct json_writer *w)
{
	struct vmm_mem_stats m;
	struct vmm_io_stats s;
	struct rusage ru;
	uint64_t total = 0;
	bool up;

	json_obj_begin(w, "cpu");
	json_arr_begin(w, "vcpu_ns");
	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		uint64_t ns = vmm_vcpu_cpu_ns(&vm->vcpu[i]);

		total += ns;
		json_u64(w, NULL, ns);
	}
	json_arr_end(w);
	json_u64(w, "vcpu_total_ns", total);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		json_u64(w, "process_ns",
			 (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
					 NS_PER_SEC +
				 (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) *
					 1000);
	json_obj_end(w);
	vmm_control_memory(vm, &m);
	json_obj_begin(w, "memory");
	json_u64(w, "guest_bytes", m.guest_bytes);
	json_u64(w, "used_bytes", m.resident_bytes);
	json_u64(w, "shared_bytes", m.shared_bytes);
	json_u64(w, "ballooned_bytes", m.ballooned_bytes);
	json_u64(w, "balloon_target_bytes", m.balloon_target_bytes);
	json_u64(w, "vmm_overhead_bytes", m.vmm_overhead_bytes);
	json_u64(w, "process_rss_bytes", m.process_rss_bytes);
	json_obj_end(w);
	json_arr_begin(w, "disks");
	for (unsigned int i = 0; i < vm->nblk; i++) {
		vmm_blk_stats(vm->blk[i], &s);
		json_obj_begin(w, NULL);
		json_str(w, "path", vmm_blk_path(vm->blk[i]));
		json_str(w, "backend", vmm_blk_kind(vm->blk[i]));
		json_str(w, "mode", snap_mode_string((enum snap_mode)
			 vm->disk_mode[vmm_blk_index(vm->blk[i])]));
		put_rates(w, &s, false);
		json_obj_end(w);
	}
	json_arr_end(w);
	json_arr_begin(w, "nics");
	for (unsigned int i = 0; i < vm->nnet; i++) {
		vmm_net_stats(vm->net[i], &s, &up);
		json_obj_begin(w, NULL);
		json_str(w, "socket", vmm_net_socket(vm->net[i]));
		json_bool(w, "connected", up);
		put_rates(w, &s, true);
		json_obj_end(w);
	}
	json_arr_end(w);
	if (vm->console) {
		uint64_t rx, tx;

		vmm_console_stats(vm->console, &rx, &tx);
		json_obj_begin(w, "console");
		json_u64(w, "rx_bytes", rx);
		json_u64(w, "tx_bytes", tx);
		json_obj_end(w);
	}
}

static void
put_status(struct vmm_vm *vm, struct json_writer *w)
{
	enum vmm_run_state st = vmm_vm_state(vm);

	json_str(w, "name", vmm_config_name(vm->cfg));
	json_str(w, "state", state_name(st));
	json_u64(w, "pid", (uint64_t)getpid());
	json_u64(w, "vcpus", vm->nvcpus);
	json_u64(w, "memory_bytes", vm->mem.size);
	json_double(w, "uptime_s",
		    (double)(clock_mono_ns() - vm->started_ns) / 1e9);
	json_u64(w, "disks", vm->nblk);
	json_u64(w, "nics", vm->nnet);
	json_str(w, "cgroups", vm->cgroup_note[0] ? vm->cgroup_note : "none");
	json_bool(w, "ksm", vm->cfg->ksm);
}

/* Runs one request; fills 'w' (inside the reply object) or 'err'. */
static int
run_request(struct vmm_vm *vm, const struct vmm_ctl_req *req,
	    struct json_writer *w, char *err, size_t errlen)
{
	int rc;

	switch (req->cmd) {
	case VMM_CTL_STATUS:
		put_status(vm, w);
		return 0;
	case VMM_CTL_STATS:
		put_stats(vm, w);
		return 0;
	case VMM_CTL_PAUSE:
	case VMM_CTL_RESUME:
		rc = req->cmd == VMM_CTL_PAUSE ? vmm_vm_pause(vm)
					       : vmm_vm_resume(vm);
		if (rc < 0) {
			snprintf(err, errlen, "the VM is shutting down");
			return rc;
		}
		json_str(w, "state", state_name(vmm_vm_state(vm)));
		return 0;
	case VMM_CTL_STOP:
	case VMM_CTL_POWEROFF:
		if (req->undoable != VMM_UNDOABLE_ASK)
			atomic_store(&vm->undoable_req, (int)req->undoable);
		vmm_vm_request_exit(vm, req->cmd == VMM_CTL_STOP
						? VMM_EXIT_STOPPED
						: VMM_EXIT_POWEROFF);
		json_str(w, "state", "stopping");
		return 0;
	case VMM_CTL_BALLOON:
		if (!vm->balloon) {
			snprintf(err, errlen, "this VM has no balloon device "
				 "(balloon = false)");
			return -ENODEV;
		}
		rc = vmm_balloon_set_target(vm->balloon, req->bytes);
		if (rc < 0) {
			snprintf(err, errlen, "balloon size must be between 0 and "
				 "the guest memory (%llu bytes)",
				 (unsigned long long)vm->mem.size);
			return rc;
		}
		json_u64(w, "target_bytes", req->bytes);
		return 0;
	}
	return -EINVAL;
}

static void
reply(struct ctl_client *c)
{
	struct vmm_vm *vm = c->ctl->vm;
	struct vmm_ctl_req req;
	struct json_writer w;
	char err[200] = "";
	char *text;
	int rc;

	rc = vmm_control_parse(c->buf, c->len, &req, err, sizeof(err));
	json_writer_init_mem(&w);
	if (rc == 0) {
		json_obj_begin(&w, NULL);
		json_bool(&w, "ok", true);
		rc = run_request(vm, &req, &w, err, sizeof(err));
		if (rc < 0) {
			free(json_writer_take(&w));
			json_writer_init_mem(&w);
		}
	}
	if (rc < 0) {
		json_obj_begin(&w, NULL);
		json_bool(&w, "ok", false);
		json_str(&w, "error", err[0] ? err : strerror(-rc));
	}
	json_obj_end(&w);
	text = json_writer_take(&w);
	if (text) {
		size_t n = strlen(text);

		text[n] = '\n'; /* over the NUL: the buffer holds n + 1 */
		if (write(c->ev.fd, text, n + 1) < 0)
			log_debug("vmm.control", "reply: %s", strerror(errno));
		free(text);
	}
}

static void
client_close(struct ctl_client *c)
{
	vmm_loop_del(c->ctl->vm, &c->ev);
	close(c->ev.fd);
	c->used = false;
}

static void
client_read(struct vmm_vm *vm, void *opaque, uint32_t events)
{
	struct ctl_client *c = opaque;
	ssize_t n = read(c->ev.fd, c->buf + c->len, REQ_MAX - 1 - c->len);
	char *nl;

	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		client_close(c);
		return;
	}
	c->len += (size_t)n;
	nl = memchr(c->buf, '\n', c->len);
	if (!nl && c->len < REQ_MAX - 1)
		return;
	c->len = nl ? (size_t)(nl - c->buf) : c->len;
	reply(c);
	client_close(c);
}

static void
ctl_accept(struct vmm_vm *vm, void *opaque, uint32_t events)
{
	struct vmm_control *ctl = opaque;
	int fd = accept4(ctl->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct ctl_client *c = NULL;

	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CLIENTS && !c; i++)
		if (!ctl->client[i].used)
			c = &ctl->client[i];
	if (!c) {
		close(fd); /* busy: vmctl reports a failed call */
		return;
	}
	c->used = true;
	c->len = 0;
	c->ctl = ctl;
	c->ev = (struct vmm_event){ fd, client_read, c };
	if (vmm_loop_add(vm, &c->ev, EPOLLIN) < 0) {
		close(fd);
		c->used = false;
	}
}

int
vmm_control_create(struct vmm_vm *vm, const char *path,
		   struct vmm_control **out)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct vmm_control *ctl;
	int err;

	if (strlen(path) >= sizeof(a.sun_path)) {
		log_err("vmm.control", "%s: path too long for a socket", path);
		return -ENAMETOOLONG;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->vm = vm;
	ctl->path = strdup(path);
	strcpy(a.sun_path, path);
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (!ctl->path || ctl->fd < 0) {
		err = ctl->path ? -errno : -ENOMEM;
		goto err;
	}
	/* A stale socket from a dead VMM is replaced; a live one is not. */
	if (connect(ctl->fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
		log_err("vmm.control", "%s: another VMM is listening there", path);
		err = -EADDRINUSE;
		goto err;
	}
	close(ctl->fd);
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	unlink(path);
	if (ctl->fd < 0 || bind(ctl->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(ctl->fd, 8) < 0) {
		err = -errno;
		log_err("vmm.control", "%s: %s", path, strerror(errno));
		goto err;
	}
	ctl->ev = (struct vmm_event){ ctl->fd, ctl_accept, ctl };
	err = vmm_loop_add(vm, &ctl->ev, EPOLLIN);
	if (err < 0)
		goto err;
	*out = ctl;
	return 0;
err:
	if (ctl->fd >= 0)
		close(ctl->fd);
	free(ctl->path);
	free(ctl);
	return err;
}

void
vmm_control_destroy(struct vmm_control *ctl)
{
	if (!ctl)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (ctl->client[i].used)
			client_close(&ctl->client[i]);
	vmm_loop_del(ctl->vm, &ctl->ev);
	close(ctl->fd);
	unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}
