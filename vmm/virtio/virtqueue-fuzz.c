/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the virtqueue reader over guest memory the fuzzer
 * writes. The input is copied into a small guest RAM holding the rings;
 * every chain popped must lie inside that RAM.
 */
#include <string.h>

#include "vmm/virtio/virtio.h"

#define RAM (64u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vmm_mem mem;
	static struct vmm_vq_elem e;
	struct vmm_vq vq = { 0 };
	uint8_t sink[64];

	if (!mem.base && vmm_mem_init(&mem, RAM, false) < 0)
		return 0;
	if (size < 2)
		return 0;
	memset(mem.base, 0, RAM);
	memcpy(mem.base, data + 2, MIN(size - 2, (size_t)RAM));
	vq.size = (uint16_t)(1u << (data[0] % 11)); /* 1 .. 1024 */
	vq.desc_gpa = 0;
	vq.avail_gpa = 16ull * vq.size;
	vq.used_gpa = ALIGN_UP(vq.avail_gpa + 6 + 2ull * vq.size, 4);
	vq.last_avail = data[1];
	if (vmm_vq_map(&vq, &mem) < 0)
		return 0;
	for (int i = 0; i < 64; i++) {
		int rc = vmm_vq_pop(&vq, &e);

		if (rc <= 0)
			break;
		for (unsigned int k = 0; k < e.nout + e.nin; k++) {
			uint8_t *p = e.iov[k].iov_base;

			if (p < mem.base || p + e.iov[k].iov_len > mem.base + RAM)
				__builtin_trap();
		}
		vmm_vq_copy_out(&e, 0, sink, sizeof(sink));
		vmm_vq_copy_in(&e, 3, sink, sizeof(sink));
		vmm_vq_push(&vq, e.head, 1);
	}
	return 0;
}
