/* SPDX-License-Identifier: MIT */
/* TEMPORARY: replaced by the vhost-user front end in this branch. */
#include <errno.h>
#include "vmm/devices/devices.h"
int vmm_net_create(struct vmm_vm *vm, unsigned int index, struct vmm_net_dev **out) { return -ENOTSUP; }
void vmm_net_destroy(struct vmm_net_dev *d) {}
void vmm_net_stop(struct vmm_net_dev *d) {}
void vmm_net_stats(struct vmm_net_dev *d, struct vmm_io_stats *s, bool *c) {}
const char *vmm_net_socket(const struct vmm_net_dev *d) { return ""; }
