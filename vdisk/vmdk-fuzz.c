/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the VMDK reader (sparse, stream, descriptor text). */
#include "vdisk/image-fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img_reader *r;
	struct img_src *src;

	if (img_src_mem_open(data, size, &src) < 0)
		return 0;
	if (img_vmdk_open(src, &r) < 0)
		return 0;
	fuzz_walk(r);
	img_close(r);
	return 0;
}
