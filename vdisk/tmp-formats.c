#include <errno.h>
#include "vdisk/image.h"
int img_qcow2_open(struct img_src *src, unsigned int depth, struct img_reader **out) { src->close(src); return -EOPNOTSUPP; }
int img_vmdk_open(struct img_src *src, struct img_reader **out) { src->close(src); return -EOPNOTSUPP; }
int img_qcow2_create(const char *path, uint64_t capacity, struct img_writer **out) { return -EOPNOTSUPP; }
int img_vmdk_create(const char *path, uint64_t capacity, bool stream, struct img_writer **out) { return -EOPNOTSUPP; }
int vdisk_nbd_serve(struct vdisk *disk, const struct vdisk_nbd_opts *opts) { return -EOPNOTSUPP; }
