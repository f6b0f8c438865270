/* SPDX-License-Identifier: MIT */
/* The NBD server's per-connection entry, for vdisk_nbd_serve() and the
 * fuzzer (nbd-fuzz.c), which drives a whole session over a socketpair. */
#ifndef VDISK_NBD_SERVER_H
#define VDISK_NBD_SERVER_H

#include "vdisk/vdisk.h"

/* Runs one client session on connected socket 'fd' (not closed here). */
int vdisk_nbd_session(struct vdisk *disk, int fd,
		      const struct vdisk_nbd_opts *o);

#endif
