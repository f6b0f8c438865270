/* SPDX-License-Identifier: MIT */
/*
 * Tests for the split-virtqueue reader: well-formed chains (direct and
 * indirect) come out as iovecs inside guest RAM; each kind of malformed
 * ring is refused and marks the queue broken.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/lib/testutil.h"
#include "vmm/virtio/virtio.h"

#define RAM (1u << 20)
#define QSIZE 16
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define BUF 0x10000

static struct vmm_mem mem;
static struct vmm_vq vq;
static struct vring_desc *desc;
static struct vring_avail *avail;

static void
setup(void)
{
	memset(&vq, 0, sizeof(vq));
	memset(mem.base, 0, RAM);
	vq.size = QSIZE;
	vq.desc_gpa = DESC;
	vq.avail_gpa = AVAIL;
	vq.used_gpa = USED;
	CHECK_OK(vmm_vq_map(&vq, &mem));
	desc = (struct vring_desc *)(mem.base + DESC);
	avail = (struct vring_avail *)(mem.base + AVAIL);
}

static void
post(uint16_t head)
{
	avail->ring[avail->idx % QSIZE] = head;
	avail->idx++;
}

static void
set(unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
    uint16_t next)
{
	desc[i] = (struct vring_desc){ addr, len, flags, next };
}

static void
test_chain(void)
{
	struct vmm_vq_elem e;

	setup();
	set(0, BUF, 16, VRING_DESC_F_NEXT, 1);
	set(1, BUF + 512, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set(2, BUF + 8192, 1, VRING_DESC_F_WRITE, 0);
	post(0);
	CHECK_EQ(vmm_vq_pop(&vq, &e), 1);
	CHECK_EQ(e.nout, 1);
	CHECK_EQ(e.nin, 2);
	CHECK_EQ(e.out_len, 16);
	CHECK_EQ(e.in_len, 4097);
	CHECK(e.iov[1].iov_base == mem.base + BUF + 512);
	CHECK_EQ(vmm_vq_pop(&vq, &e), 0);
	vmm_vq_push(&vq, e.head, 4097);
	CHECK_EQ(((struct vring_used *)(mem.base + USED))->idx, 1);
}

static void
test_indirect(void)
{
	struct vring_desc *t = (struct vring_desc *)(mem.base + 0x4000);
	struct vmm_vq_elem e;

	setup();
	t[0] = (struct vring_desc){ BUF, 16, VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ BUF + 64, 1, VRING_DESC_F_WRITE, 0 };
	set(3, 0x4000, 32, VRING_DESC_F_INDIRECT, 0);
	post(3);
	CHECK_EQ(vmm_vq_pop(&vq, &e), 1);
	CHECK_EQ(e.head, 3);
	CHECK_EQ(e.nout + e.nin, 2);
}

/* Each case must be refused and leave the queue broken. */
static void
expect_broken(void)
{
	struct vmm_vq_elem e;

	CHECK_EQ(vmm_vq_pop(&vq, &e), -EIO);
	CHECK(vq.broken);
	CHECK_EQ(vmm_vq_pop(&vq, &e), -EIO);
}

static void
test_malformed(void)
{
	struct vring_desc *t = (struct vring_desc *)(mem.base + 0x4000);

	setup(); /* outside RAM */
	set(0, RAM - 8, 16, 0, 0);
	post(0);
	expect_broken();
	setup(); /* 64-bit wrap */
	set(0, UINT64_MAX - 4, 16, 0, 0);
	post(0);
	expect_broken();
	setup(); /* loop */
	set(0, BUF, 16, VRING_DESC_F_NEXT, 1);
	set(1, BUF, 16, VRING_DESC_F_NEXT, 0);
	post(0);
	expect_broken();
	setup(); /* next out of range */
	set(0, BUF, 16, VRING_DESC_F_NEXT, QSIZE);
	post(0);
	expect_broken();
	setup(); /* head out of range */
	post(QSIZE + 1);
	expect_broken();
	setup(); /* avail index runs ahead */
	avail->idx = QSIZE + 1;
	expect_broken();
	setup(); /* readable after writable */
	set(0, BUF, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set(1, BUF, 16, 0, 0);
	post(0);
	expect_broken();
	setup(); /* nested indirect */
	t[0] = (struct vring_desc){ 0x4000, 16, VRING_DESC_F_INDIRECT, 0 };
	set(0, 0x4000, 16, VRING_DESC_F_INDIRECT, 0);
	post(0);
	expect_broken();
	setup(); /* indirect length not a multiple of 16 */
	set(0, 0x4000, 24, VRING_DESC_F_INDIRECT, 0);
	post(0);
	expect_broken();
	setup(); /* indirect with NEXT */
	set(0, 0x4000, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	post(0);
	expect_broken();
	setup(); /* indirect chain loop */
	t[0] = (struct vring_desc){ BUF, 16, VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ BUF, 16, VRING_DESC_F_NEXT, 0 };
	set(0, 0x4000, 32, VRING_DESC_F_INDIRECT, 0);
	post(0);
	expect_broken();
}

static void
test_map_checks(void)
{
	memset(&vq, 0, sizeof(vq));
	vq.size = 3;
	vq.desc_gpa = DESC;
	vq.avail_gpa = AVAIL;
	vq.used_gpa = USED;
	CHECK_EQ(vmm_vq_map(&vq, &mem), -EINVAL);
	vq.size = 16;
	vq.used_gpa = RAM - 8;
	CHECK_EQ(vmm_vq_map(&vq, &mem), -EINVAL);
	vq.used_gpa = USED + 2; /* misaligned */
	CHECK_EQ(vmm_vq_map(&vq, &mem), -EINVAL);
	vq.used_gpa = USED;
	vq.size = 2048;
	CHECK_EQ(vmm_vq_map(&vq, &mem), -EINVAL);
}

int
main(void)
{
	CHECK_OK(vmm_mem_init(&mem, RAM, false));
	RUN_TEST(test_chain);
	RUN_TEST(test_indirect);
	RUN_TEST(test_malformed);
	RUN_TEST(test_map_checks);
	vmm_mem_fini(&mem);
	return 0;
}
