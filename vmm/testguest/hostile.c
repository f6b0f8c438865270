/* SPDX-License-Identifier: MIT */
/* TEMPORARY */
#include "tg.h"
int tg_hostile(struct tg_pci_dev *devs, int n) { return 1; }
