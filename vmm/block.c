/* SPDX-License-Identifier: MIT */
/*
 * Picks the block backend for a disk path (block.h): datastore paths and
 * local vdisk descriptors go to the vdisk engine (block-vdisk.c), other
 * local files and block devices are raw images (block-raw.c). Images in
 * formats the VMM does not run directly are refused with the command
 * that converts them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/block.h"

#define DESCRIPTOR_MAGIC "# Disk DescriptorFile"

/*
 * "LUN:/dir/disk": a ':' followed by '/' that is not part of "://", the
 * rule vdisk uses, tried only when no local file has the name.
 */
static bool
datastore_path(const char *path)
{
	for (const char *p = path; (p = strstr(p, ":/")) != NULL; p += 2)
		if (p > path && p[2] != '/')
			return true;
	return false;
}

enum kind { KIND_RAW, KIND_VDISK, KIND_QCOW2, KIND_VMDK_SPARSE };

static int
probe(const char *path, enum kind *out)
{
	char head[64] = "";
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*out = KIND_RAW;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		n = pread(fd, head, sizeof(head) - 1, 0);
		if (n > 0 && !strncmp(head, DESCRIPTOR_MAGIC,
				      strlen(DESCRIPTOR_MAGIC)))
			*out = KIND_VDISK;
		else if (n >= 4 && !memcmp(head, "QFI\xfb", 4))
			*out = KIND_QCOW2;
		else if (n >= 4 && (!memcmp(head, "KDMV", 4) ||
				    !memcmp(head, "COWD", 4)))
			*out = KIND_VMDK_SPARSE;
	}
	close(fd);
	return 0;
}

bool
vmm_blk_is_vdisk(const char *path)
{
	enum kind kind;
	int rc = probe(path, &kind);

	if (rc == -ENOENT)
		return datastore_path(path);
	return rc == 0 && kind == KIND_VDISK;
}

int
vmm_blk_open(const char *path, bool readonly, unsigned int depth,
	     struct vmm_blk_backend **out, char *err, size_t errlen)
{
	enum kind kind;
	int rc;

	rc = probe(path, &kind);
	if (rc == -ENOENT && datastore_path(path))
		return vmm_blk_vdisk_open(path, readonly, depth, out, err,
					  errlen);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	switch (kind) {
	case KIND_VDISK:
		return vmm_blk_vdisk_open(path, readonly, depth, out, err,
					  errlen);
	case KIND_QCOW2:
	case KIND_VMDK_SPARSE:
		snprintf(err, errlen, "%s: a %s image; the VMM runs raw images "
			 "and vdisk disks: convert it with 'vdisk import %s "
			 "DISK.vmdk'", path,
			 kind == KIND_QCOW2 ? "qcow2" : "sparse vmdk", path);
		return -EINVAL;
	default:
		return vmm_blk_raw_open(path, readonly, depth, out, err,
					errlen);
	}
}
