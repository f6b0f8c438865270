/* SPDX-License-Identifier: MIT */
/* TEMPORARY */
#include "tg.h"
int tg_balloon_run(struct tg_pci_dev *devs, int n) { return 1; }
