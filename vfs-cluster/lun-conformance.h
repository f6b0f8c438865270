/* SPDX-License-Identifier: MIT */
/*
 * The LUN conformance suite: behaviour every backend must share (data
 * round trips, scatter-gather, FUA, flush, queue depth, validation
 * errors, ATS semantics, statistics). Test programs call it with a URI.
 */
#ifndef VFS_LUN_CONFORMANCE_H
#define VFS_LUN_CONFORMANCE_H

#include "vfs-cluster/lun.h"

/* Exits the process with a message on the first failed check. */
void lun_conformance_run(const char *uri, const struct lun_config *cfg);



/*
 * ATS race: 'nworkers' processes (threads for mem: LUNs, which do not
 * cross fork) each open 'uri' and race to advance a counter in one sector
 * with read + lun_ats() until it reaches 'rounds'. Checks that every
 * round was won exactly once. Prints per-worker wins and retries.
 */
void lun_conformance_ats_race(const char *uri, const struct lun_config *cfg,
			      unsigned int nworkers, unsigned int rounds,
			      uint64_t offset);
#endif
