/* SPDX-License-Identifier: MIT */
/*
 * Interrupt plumbing on the in-kernel irqchip: the GSI routing table
 * (the 24 IOAPIC pins plus one MSI route per MSI-X vector in use),
 * irqfds and ioeventfds. KVM_SET_GSI_ROUTING replaces the whole table,
 * so the pin routes are kept in it too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/vmm-internal.h"

#define IRQ_PINS 24
#define IRQ_MAX_ROUTES 512

static struct kvm_irq_routing_entry *
route_find(struct vmm_vm *vm, unsigned int gsi)
{
	for (unsigned int i = 0; i < vm->routes->nr; i++)
		if (vm->routes->entries[i].gsi == gsi)
			return &vm->routes->entries[i];
	return NULL;
}

static int
routes_commit(struct vmm_vm *vm)
{
	if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, vm->routes) < 0)
		return -errno;
	return 0;
}

static int
routes_init(struct vmm_vm *vm)
{
	struct kvm_irq_routing_entry *e;

	vm->routes = calloc(1, sizeof(*vm->routes) +
				       IRQ_MAX_ROUTES * sizeof(*e));
	if (!vm->routes)
		return -ENOMEM;
	for (unsigned int pin = 0; pin < IRQ_PINS; pin++) {
		if (pin < 16 && pin != 2) {
			e = &vm->routes->entries[vm->routes->nr++];
			e->gsi = pin;
			e->type = KVM_IRQ_ROUTING_IRQCHIP;
			e->u.irqchip.irqchip = pin < 8 ? KVM_IRQCHIP_PIC_MASTER
						       : KVM_IRQCHIP_PIC_SLAVE;
			e->u.irqchip.pin = pin % 8;
		}
		e = &vm->routes->entries[vm->routes->nr++];
		e->gsi = pin;
		e->type = KVM_IRQ_ROUTING_IRQCHIP;
		e->u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e->u.irqchip.pin = pin;
	}
	vm->next_gsi = IRQ_PINS;
	return routes_commit(vm);
}

int
vmm_irq_msi_alloc(struct vmm_vm *vm)
{
	int gsi, err = 0;

	pthread_mutex_lock(&vm->irq_lock);
	if (!vm->routes)
		err = routes_init(vm);
	if (err == 0 && vm->routes->nr >= IRQ_MAX_ROUTES)
		err = -ENOSPC;
	gsi = err ? err : (int)vm->next_gsi++;
	pthread_mutex_unlock(&vm->irq_lock);
	return gsi;
}

int
vmm_irq_msi_route(struct vmm_vm *vm, int gsi, uint64_t addr, uint32_t data,
		  bool enabled)
{
	struct kvm_irq_routing_entry *e;
	int err;

	pthread_mutex_lock(&vm->irq_lock);
	e = route_find(vm, (unsigned int)gsi);
	if (!e) {
		if (vm->routes->nr >= IRQ_MAX_ROUTES) {
			pthread_mutex_unlock(&vm->irq_lock);
			return -ENOSPC;
		}
		e = &vm->routes->entries[vm->routes->nr++];
	}
	memset(e, 0, sizeof(*e));
	e->gsi = (unsigned int)gsi;
	e->type = KVM_IRQ_ROUTING_MSI;
	/* A disabled route points nowhere useful: vector 0 is never used. */
	e->u.msi.address_lo = enabled ? (uint32_t)addr : 0xfee00000u;
	e->u.msi.address_hi = enabled ? (uint32_t)(addr >> 32) : 0;
	e->u.msi.data = enabled ? data : 0;
	err = routes_commit(vm);
	pthread_mutex_unlock(&vm->irq_lock);
	return err;
}

int
vmm_irq_msi_signal(struct vmm_vm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};

	if (ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
		return -errno;
	return 0;
}

void
vmm_irq_line(struct vmm_vm *vm, unsigned int irq, int level)
{
	struct kvm_irq_level l = { .irq = irq, .level = (uint32_t)level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		log_warn("vmm.irq", "KVM_IRQ_LINE %u: %s", irq, strerror(errno));
}

int
vmm_irqfd(struct vmm_vm *vm, int efd, int gsi, bool assign)
{
	struct kvm_irqfd req = {
		.fd = (uint32_t)efd,
		.gsi = (uint32_t)gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};

	if (ioctl(vm->vm_fd, KVM_IRQFD, &req) < 0)
		return -errno;
	return 0;
}

int
vmm_ioeventfd(struct vmm_vm *vm, int efd, uint64_t addr, bool assign)
{
	struct kvm_ioeventfd req = {
		.addr = addr,
		.len = 0, /* any length: drivers write 2 or 4 bytes */
		.fd = efd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &req) < 0)
		return -errno;
	return 0;
}
