#include <errno.h>
#include "vdisk/vdisk.h"
int vdisk_nbd_serve(struct vdisk *disk, const struct vdisk_nbd_opts *opts) { return -EOPNOTSUPP; }
