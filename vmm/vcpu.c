/* SPDX-License-Identifier: MIT */
/*
 * vCPUs: creation with CPUID from KVM_GET_SUPPORTED_CPUID and a base set
 * of MSRs, boot register state, and the thread that runs KVM_RUN and
 * hands port-I/O and MMIO exits to the buses.
 *
 * Pausing: vm.c sets the state to PAUSED and immediate_exit on every
 * vCPU under vm->lock, then sends SIGUSR1; a vCPU that sees the state
 * parks on vm->cond. immediate_exit covers the window between the check
 * and KVM_RUN, the signal covers a vCPU already inside KVM_RUN.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "vmm/vmm-internal.h"

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_IA32_TSC 0x10
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MISC_ENABLE_FAST_STRING 1
#define MSR_MTRR_DEF_TYPE 0x2ff
/* MTRRs enabled, default type write-back, as firmware leaves them. */
#define MTRR_DEF_WB ((1u << 11) | 6)

static int
vcpu_set_cpuid(struct vmm_vcpu *v)
{
	struct kvm_cpuid2 *src = v->vm->cpuid, *c;
	size_t sz = sizeof(*c) + src->nent * sizeof(c->entries[0]);
	int err = 0;

	c = malloc(sz);
	if (!c)
		return -ENOMEM;
	memcpy(c, src, sz);
	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			/* Initial APIC ID and the hypervisor-present bit. */
			e->ebx = (e->ebx & 0x00ffffff) | (v->id << 24);
			e->ecx |= 1u << 31;
			break;
		case 0xb:
		case 0x1f:
			e->edx = v->id; /* x2APIC ID */
			break;
		default:
			break;
		}
	}
	if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0)
		err = -errno;
	free(c);
	return err;
}

static int
vcpu_set_msrs(struct vmm_vcpu *v)
{
	static const uint32_t idx[] = {
		MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_ESP,
		MSR_IA32_SYSENTER_EIP, MSR_STAR, MSR_LSTAR, MSR_CSTAR,
		MSR_SYSCALL_MASK, MSR_KERNEL_GS_BASE, MSR_IA32_TSC,
		MSR_IA32_MISC_ENABLE, MSR_MTRR_DEF_TYPE,
	};
	/* struct kvm_msrs ends in a flexible array: room for 'idx' after it. */
	union {
		struct kvm_msrs hdr;
		uint8_t bytes[sizeof(struct kvm_msrs) +
			      ARRAY_SIZE(idx) * sizeof(struct kvm_msr_entry)];
	} m;
	int n;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = ARRAY_SIZE(idx);
	for (size_t i = 0; i < ARRAY_SIZE(idx); i++) {
		m.hdr.entries[i].index = idx[i];
		if (idx[i] == MSR_IA32_MISC_ENABLE)
			m.hdr.entries[i].data = MISC_ENABLE_FAST_STRING;
		if (idx[i] == MSR_MTRR_DEF_TYPE)
			m.hdr.entries[i].data = MTRR_DEF_WB;
	}
	n = ioctl(v->fd, KVM_SET_MSRS, &m);
	if (n < 0)
		return -errno;
	/* Some hypervisors (PVM) refuse a few of these: not fatal. */
	if ((size_t)n < ARRAY_SIZE(idx))
		log_debug("vmm.vcpu", "vcpu%u: KVM_SET_MSRS set %d of %zu",
			  v->id, n, ARRAY_SIZE(idx));
	return 0;
}

int
vmm_vcpu_init(struct vmm_vm *vm, struct vmm_vcpu *v, unsigned int id)
{
	int err;

	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0)
		return -errno;
	v->run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		err = -errno;
		v->run = NULL;
		return err;
	}
	err = vcpu_set_cpuid(v);
	if (err < 0)
		return err;
	return vcpu_set_msrs(v);
}

static void
seg64(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xfffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

int
vmm_vcpu_setup_boot(struct vmm_vcpu *v)
{
	const struct vmm_boot_regs *b = &v->vm->boot;
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (v->id != 0)
		return 0; /* APs wait for INIT/SIPI in the in-kernel LAPIC */
	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	if (b->long_mode) {
		seg64(&sregs.cs, b->cs ? b->cs : 0x08, 0xb, true);
		seg64(&sregs.ds, b->ds ? b->ds : 0x10, 0x3, false);
		sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
		seg64(&sregs.tr, (uint16_t)((b->ds ? b->ds : 0x10) + 8), 0xb, false);
		sregs.tr.s = 0;
		sregs.tr.db = 0;
		sregs.gdt.base = b->gdt_base;
		sregs.gdt.limit = 6 * 8 - 1;
		sregs.cr3 = b->cr3;
		sregs.cr4 = 0x20 | 0x200 | 0x400; /* PAE, OSFXSR, OSXMMEXCPT */
		sregs.cr0 = 0x80000033;           /* PG, NE, ET, MP, PE */
		sregs.efer = 0x500;               /* LME, LMA */
	} else {
		/* 32-bit protected mode, flat, paging off (Linux 32-bit entry). */
		seg64(&sregs.cs, 0x10, 0xb, false);
		sregs.cs.db = 1;
		seg64(&sregs.ds, 0x18, 0x3, false);
		sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
		seg64(&sregs.tr, 0x20, 0xb, false);
		sregs.tr.s = 0;
		sregs.gdt.base = b->gdt_base;
		sregs.gdt.limit = 5 * 8 - 1;
		sregs.cr0 |= 1; /* PE */
		sregs.cr0 &= ~0x80000000ull;
		sregs.cr4 = 0;
		sregs.efer = 0;
	}
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 2;
	regs.rip = b->rip;
	regs.rsp = b->rsp;
	regs.rsi = b->rsi;
	regs.rdi = b->rdi;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

static void
vcpu_io(struct vmm_vcpu *v)
{
	struct kvm_run *r = v->run;
	uint8_t *data = (uint8_t *)r + r->io.data_offset;
	bool wr = r->io.direction == KVM_EXIT_IO_OUT;

	v->exits_pio++;
	for (uint32_t i = 0; i < r->io.count; i++) {
		if (!vmm_bus_access(&v->vm->pio, r->io.port, data, r->io.size,
				    wr) && !wr)
			memset(data, 0xff, r->io.size);
		data += r->io.size;
	}
}

static void
vcpu_mmio(struct vmm_vcpu *v)
{
	struct kvm_run *r = v->run;

	v->exits_mmio++;
	if (r->mmio.len > 8)
		return;
	if (!vmm_bus_access(&v->vm->mmio, r->mmio.phys_addr, r->mmio.data,
			    r->mmio.len, r->mmio.is_write) &&
	    !r->mmio.is_write)
		memset(r->mmio.data, 0xff, r->mmio.len);
}

/* Parks while paused; returns false when the VM is ending. */
static bool
vcpu_wait_running(struct vmm_vcpu *v)
{
	struct vmm_vm *vm = v->vm;
	bool run;

	pthread_mutex_lock(&vm->lock);
	while (vm->state == VMM_STATE_PAUSED) {
		if (!v->paused) {
			v->paused = true;
			vm->vcpus_parked++;
			pthread_cond_broadcast(&vm->cond);
		}
		pthread_cond_wait(&vm->cond, &vm->lock);
	}
	if (v->paused) {
		v->paused = false;
		vm->vcpus_parked--;
	}
	run = vm->state == VMM_STATE_RUNNING;
	if (run)
		v->run->immediate_exit = 0;
	pthread_mutex_unlock(&vm->lock);
	return run;
}

static void
vcpu_fatal(struct vmm_vcpu *v, const char *what)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "vcpu%u: %s", v->id, what);
	vmm_vm_fail(v->vm, msg);
}

static void *
vcpu_thread(void *arg)
{
	struct vmm_vcpu *v = arg;
	struct kvm_run *r = v->run;
	char msg[96];

	while (vcpu_wait_running(v)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(msg, sizeof(msg), "KVM_RUN: %s",
				 strerror(errno));
			vcpu_fatal(v, msg);
			break;
		}
		switch (r->exit_reason) {
		case KVM_EXIT_IO:
			vcpu_io(v);
			break;
		case KVM_EXIT_MMIO:
			vcpu_mmio(v);
			break;
		case KVM_EXIT_HLT:
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_SHUTDOWN:
			/* Linux reboots by triple fault: a VM that reboots
			   powers off (like Firecracker); the test guest
			   never does it on purpose. */
			if (v->vm->cfg->kernel) {
				log_info("vmm.vcpu", "guest reset: powering off");
				vmm_vm_request_exit(v->vm, VMM_EXIT_POWEROFF);
				return NULL;
			}
			vcpu_fatal(v, "triple fault (guest reset itself)");
			return NULL;
		case KVM_EXIT_SYSTEM_EVENT:
			vmm_vm_request_exit(v->vm, VMM_EXIT_POWEROFF);
			break;
		case KVM_EXIT_FAIL_ENTRY:
			snprintf(msg, sizeof(msg), "VM entry failed, reason 0x%llx",
				 (unsigned long long)r->fail_entry
					 .hardware_entry_failure_reason);
			vcpu_fatal(v, msg);
			return NULL;
		case KVM_EXIT_INTERNAL_ERROR:
			snprintf(msg, sizeof(msg), "KVM internal error %u",
				 r->internal.suberror);
			vcpu_fatal(v, msg);
			return NULL;
		default:
			snprintf(msg, sizeof(msg), "unhandled exit %u",
				 r->exit_reason);
			vcpu_fatal(v, msg);
			return NULL;
		}
	}
	return NULL;
}

int
vmm_vcpu_start(struct vmm_vcpu *v)
{
	int err = pthread_create(&v->thread, NULL, vcpu_thread, v);
	char name[16];

	if (err)
		return -err;
	/* top -H / ps -L show which thread of a VM spends the CPU. */
	snprintf(name, sizeof(name), "vcpu%u", v->id);
	pthread_setname_np(v->thread, name);
	v->thread_started = true;
	return 0;
}

uint64_t
vmm_vcpu_cpu_ns(const struct vmm_vcpu *v)
{
	struct timespec ts;
	clockid_t cid;

	if (!v->thread_started || pthread_getcpuclockid(v->thread, &cid) ||
	    clock_gettime(cid, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

void
vmm_vcpu_fini(struct vmm_vcpu *v)
{
	if (v->run)
		munmap(v->run, (size_t)v->vm->run_size);
	if (v->fd > 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}
