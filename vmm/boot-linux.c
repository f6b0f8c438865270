/* SPDX-License-Identifier: MIT */
/* TEMPORARY */
#include <errno.h>
#include "vmm/vmm-internal.h"
int vmm_boot_linux(struct vmm_vm *vm) { return -ENOTSUP; }
