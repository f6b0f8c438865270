/* SPDX-License-Identifier: MIT */
/*
 * One VM: builds the KVM VM (irqchip, memory slots, vCPUs), its devices
 * and boot image from a config, then runs the main event loop until a
 * vCPU fails, the guest exits, or vmctl says stop/poweroff. Pause and
 * resume park and release the vCPU threads (see vcpu.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/clock.h"
#include "vmm/devices/devices.h"
#include "vmm/pci.h"
#include "vmm/vmm-internal.h"

static void
kick_handler(int sig)
{
	(void)sig;
}

static void
exit_port(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	  bool is_write)
{
	struct vmm_vm *vm = opaque;

	if (!is_write) {
		data[0] = 0;
		return;
	}
	pthread_mutex_lock(&vm->lock);
	vm->guest_code = data[0];
	pthread_mutex_unlock(&vm->lock);
	vmm_vm_request_exit(vm, VMM_EXIT_GUEST_CODE);
}

static void
wake(struct vmm_vm *vm)
{
	uint64_t one = 1;

	if (write(vm->wake_fd, &one, sizeof(one)) < 0)
		log_debug("vmm", "wake: %s", strerror(errno));
}

static void
wake_read(struct vmm_vm *vm, void *opaque, uint32_t events)
{
	uint64_t n;

	if (read(vm->wake_fd, &n, sizeof(n)) < 0)
		log_debug("vmm", "wake: %s", strerror(errno));
}

static int
kvm_open(struct vmm_vm *vm)
{
	int n = 256, ver;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		int err = -errno;

		log_err("vmm", "/dev/kvm: %s", strerror(errno));
		return err;
	}
	ver = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION) {
		log_err("vmm", "KVM API version %d, want %d", ver,
			KVM_API_VERSION);
		return -ENOTSUP;
	}
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0 || vm->run_size <= 0) {
		log_err("vmm", "KVM_CREATE_VM: %s", strerror(errno));
		return -errno;
	}
	for (;;) {
		vm->cpuid = calloc(1, sizeof(*vm->cpuid) +
					      (size_t)n * sizeof(vm->cpuid->entries[0]));
		if (!vm->cpuid)
			return -ENOMEM;
		vm->cpuid->nent = (uint32_t)n;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, vm->cpuid) == 0)
			break;
		free(vm->cpuid);
		vm->cpuid = NULL;
		if (errno != E2BIG || n > 4096)
			return -errno;
		n *= 2;
	}
	return 0;
}

/*
 * cpu.latency = high: a halted vCPU polls for its next interrupt up to
 * HALT_POLL_HIGH_NS before it sleeps (KVM's default is 200 us, and it
 * stops polling once halts outlast that). A disk read on a virtual LUN
 * takes a few hundred microseconds; a vCPU that sleeps through it pays
 * a sleep and a wake-up for every interrupt, which under PVM or nested
 * virtualization costs about 100 us. KVM still stops polling at once
 * when another task wants the CPU, and shrinks the window for a guest
 * that stays idle longer.
 */
#define HALT_POLL_HIGH_NS 1000000

static void
halt_poll_longer(struct vmm_vm *vm)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_HALT_POLL,
		.args[0] = HALT_POLL_HIGH_NS,
	};

	if (ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_HALT_POLL) <= 0 ||
	    ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		log_warn("vmm", "cpu.latency = high: this KVM cannot set the "
			 "halt polling window; only the I/O threads poll");
}

static int
kvm_machine(struct vmm_vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	/* Needed by VMX for real-mode emulation; harmless elsewhere. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
		log_debug("vmm", "KVM_SET_TSS_ADDR: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		log_err("vmm", "KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -errno;
	}
	/* Linux calibrates with the PIT; the test guest does not need it. */
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		log_debug("vmm", "KVM_CREATE_PIT2: %s", strerror(errno));
	if (vm->cfg->latency_high)
		halt_poll_longer(vm);
	return 0;
}

static int
memory_setup(struct vmm_vm *vm)
{
	const struct vmm_config *cfg = vm->cfg;
	int err;

	err = vmm_mem_init(&vm->mem, cfg->memory_bytes, !cfg->ksm);
	if (err < 0) {
		log_err("vmm", "guest memory (%llu bytes): %s",
			(unsigned long long)cfg->memory_bytes, strerror(-err));
		return err;
	}
	if (cfg->ksm && madvise(vm->mem.base, vm->mem.size, MADV_MERGEABLE) < 0)
		log_warn("vmm", "madvise(MERGEABLE): %s: no page sharing",
			 strerror(errno));
	for (unsigned int i = 0; i < vm->mem.nregions; i++) {
		struct kvm_userspace_memory_region r = {
			.slot = i,
			.guest_phys_addr = vm->mem.region[i].gpa,
			.memory_size = vm->mem.region[i].size,
			.userspace_addr = (uintptr_t)vm->mem.region[i].hva,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
			err = -errno;
			log_err("vmm", "KVM_SET_USER_MEMORY_REGION: %s",
				strerror(errno));
			return err;
		}
	}
	return 0;
}

static int
loop_setup(struct vmm_vm *vm)
{
	vm->epfd = epoll_create1(EPOLL_CLOEXEC);
	vm->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->epfd < 0 || vm->wake_fd < 0)
		return -errno;
	vm->wake_ev = (struct vmm_event){ vm->wake_fd, wake_read, vm };
	return vmm_loop_add(vm, &vm->wake_ev, EPOLLIN);
}

static int
vcpus_setup(struct vmm_vm *vm)
{
	int err;

	vm->vcpu = calloc(vm->nvcpus, sizeof(*vm->vcpu));
	if (!vm->vcpu)
		return -ENOMEM;
	for (unsigned int i = 0; i < vm->nvcpus; i++)
		vm->vcpu[i].fd = -1;
	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		err = vmm_vcpu_init(vm, &vm->vcpu[i], i);
		if (err < 0) {
			log_err("vmm", "vcpu%u: %s", i, strerror(-err));
			return err;
		}
	}
	return 0;
}

static int
build(struct vmm_vm *vm)
{
	const struct vmm_config *cfg = vm->cfg;
	int err;

	err = kvm_open(vm);
	if (err == 0)
		err = kvm_machine(vm);
	if (err == 0)
		err = loop_setup(vm);
	if (err == 0)
		err = memory_setup(vm);
	if (err == 0)
		err = vcpus_setup(vm);
	if (err == 0)
		err = vmm_bus_add(&vm->pio, VMM_PORT_EXIT, 1, exit_port, vm);
	if (err == 0)
		err = vmm_serial_create(vm, &vm->serial);
	if (err == 0)
		err = vmm_pci_create(vm, &vm->pci);
	for (unsigned int i = 0; err == 0 && i < VMM_MAX_DISKS; i++)
		if (cfg->disk[i].path)
			err = vmm_blk_create(vm, i, &vm->blk[vm->nblk++]);
	for (unsigned int i = 0; err == 0 && i < VMM_MAX_NICS; i++)
		if (cfg->nic[i].socket)
			err = vmm_net_create(vm, i, &vm->net[vm->nnet++]);
	if (err == 0 && cfg->balloon)
		err = vmm_balloon_create(vm, &vm->balloon);
	if (err == 0 && cfg->console != VMM_SERIAL_NONE)
		err = vmm_console_create(vm, &vm->console);
	if (err == 0)
		vmm_disk_snapshots_start(vm);
	if (err == 0)
		err = cfg->testguest ? vmm_boot_testguest(vm)
				     : vmm_boot_linux(vm);
	for (unsigned int i = 0; err == 0 && i < vm->nvcpus; i++)
		err = vmm_vcpu_setup_boot(&vm->vcpu[i]);
	if (err == 0 && cfg->control)
		err = vmm_control_create(vm, cfg->control, &vm->control);
	if (err == 0)
		err = vmm_cgroup_apply(vm);
	return err;
}

int
vmm_vm_create(const struct vmm_config *cfg, struct vmm_vm **out)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	struct vmm_vm *vm;
	int err;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->created_ns = clock_mono_ns();
	vm->cfg = cfg;
	vm->kvm_fd = vm->vm_fd = vm->epfd = vm->wake_fd = -1;
	vm->mem.fd = -1;
	vm->nvcpus = cfg->vcpus;
	vm->state = VMM_STATE_RUNNING;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	pthread_mutex_init(&vm->irq_lock, NULL);
	vmm_bus_init(&vm->pio);
	vmm_bus_init(&vm->mmio);
	/* No SA_RESTART: the kick must make KVM_RUN return EINTR. */
	sigaction(SIGUSR1, &sa, NULL);
	err = build(vm);
	if (err < 0) {
		vmm_vm_destroy(vm);
		return err;
	}
	*out = vm;
	return 0;
}

/* Under vm->lock: makes every vCPU leave KVM_RUN soon. */
static void
kick_vcpus_locked(struct vmm_vm *vm)
{
	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		struct vmm_vcpu *v = &vm->vcpu[i];

		if (!v->thread_started)
			continue;
		v->run->immediate_exit = 1;
		pthread_kill(v->thread, SIGUSR1);
	}
}

void
vmm_vm_request_exit(struct vmm_vm *vm, enum vmm_exit how)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->state != VMM_STATE_EXITING) {
		vm->state = VMM_STATE_EXITING;
		vm->exit_how = how;
		kick_vcpus_locked(vm);
		pthread_cond_broadcast(&vm->cond);
	}
	pthread_mutex_unlock(&vm->lock);
	wake(vm);
}

void
vmm_vm_fail(struct vmm_vm *vm, const char *why)
{
	log_err("vmm", "%s: %s: stopping the VM", vmm_config_name(vm->cfg),
		why);
	vmm_vm_request_exit(vm, VMM_EXIT_ERROR);
}

static unsigned int
running_vcpus(struct vmm_vm *vm)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < vm->nvcpus; i++)
		n += vm->vcpu[i].thread_started;
	return n;
}

int
vmm_vm_pause(struct vmm_vm *vm)
{
	int err = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->state == VMM_STATE_EXITING) {
		err = -ESHUTDOWN;
	} else if (vm->state == VMM_STATE_RUNNING) {
		vm->state = VMM_STATE_PAUSED;
		vm->paused_since_ns = clock_mono_ns();
		kick_vcpus_locked(vm);
		while (vm->state == VMM_STATE_PAUSED &&
		       vm->vcpus_parked < running_vcpus(vm))
			pthread_cond_wait(&vm->cond, &vm->lock);
	}
	pthread_mutex_unlock(&vm->lock);
	return err;
}

int
vmm_vm_resume(struct vmm_vm *vm)
{
	int err = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->state == VMM_STATE_EXITING) {
		err = -ESHUTDOWN;
	} else if (vm->state == VMM_STATE_PAUSED) {
		vm->state = VMM_STATE_RUNNING;
		vm->paused_total_ns += clock_mono_ns() - vm->paused_since_ns;
		pthread_cond_broadcast(&vm->cond);
	}
	pthread_mutex_unlock(&vm->lock);
	return err;
}

enum vmm_run_state
vmm_vm_state(struct vmm_vm *vm)
{
	enum vmm_run_state s;

	pthread_mutex_lock(&vm->lock);
	s = vm->state;
	pthread_mutex_unlock(&vm->lock);
	return s;
}

static bool
exiting(struct vmm_vm *vm)
{
	return vmm_vm_state(vm) == VMM_STATE_EXITING;
}

enum vmm_exit
vmm_vm_run(struct vmm_vm *vm, int *guest_code)
{
	struct epoll_event evs[16];
	enum vmm_exit how;
	int n, err;

	vm->started_ns = clock_mono_ns();
	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		err = vmm_vcpu_start(&vm->vcpu[i]);
		if (err < 0) {
			log_err("vmm", "vcpu%u thread: %s", i, strerror(-err));
			vmm_vm_request_exit(vm, VMM_EXIT_ERROR);
			break;
		}
	}
	while (!exiting(vm)) {
		n = epoll_wait(vm->epfd, evs, ARRAY_SIZE(evs), 100);
		for (int i = 0; i < n; i++) {
			struct vmm_event *ev = evs[i].data.ptr;

			ev->fn(vm, ev->opaque, evs[i].events);
		}
		vmm_devices_tick(vm);
	}
	for (unsigned int i = 0; i < vm->nvcpus; i++) {
		if (vm->vcpu[i].thread_started)
			pthread_join(vm->vcpu[i].thread, NULL);
		vm->vcpu[i].thread_started = false;
	}
	pthread_mutex_lock(&vm->lock);
	how = vm->exit_how;
	if (guest_code)
		*guest_code = vm->guest_code;
	pthread_mutex_unlock(&vm->lock);
	vmm_devices_stop(vm, how == VMM_EXIT_STOPPED);
	return how;
}

void
vmm_vm_destroy(struct vmm_vm *vm)
{
	if (!vm)
		return;
	vmm_control_destroy(vm->control);
	vmm_cgroup_release(vm);
	if (vmm_vm_close_disks(vm, vmm_vm_undoable(vm, NULL), NULL) < 0)
		log_err("vmm", "%s: the disk modes were not all applied",
			vmm_config_name(vm->cfg));
	vmm_devices_destroy(vm);
	vmm_pci_destroy(vm->pci);
	vmm_serial_destroy(vm->serial);
	for (unsigned int i = 0; vm->vcpu && i < vm->nvcpus; i++)
		vmm_vcpu_fini(&vm->vcpu[i]);
	free(vm->vcpu);
	vmm_mem_fini(&vm->mem);
	free(vm->routes);
	free(vm->cpuid);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->epfd >= 0)
		close(vm->epfd);
	if (vm->wake_fd >= 0)
		close(vm->wake_fd);
	vmm_bus_fini(&vm->pio);
	vmm_bus_fini(&vm->mmio);
	free(vm);
}
