/* SPDX-License-Identifier: MIT */
/*
 * The datastore store (store-vfs.c) under the engine: an event loop
 * sleeping on the queue's event fd wakes for a slow LUN completion when
 * it is there, not in small steps before; discard and write-zeroes give
 * space back or keep it by disk type, through the datastore's punch and
 * zero-range calls.
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "tests/lib/testutil.h"
#include "vdisk/vdisk.h"
#include "vfs-cluster/vfs.h"

static char lun[600], disk[800];

static void
make_disk(const char *name, uint64_t size, enum vdisk_type type)
{
	struct vdisk_create_opts o = { .capacity_bytes = size, .type = type };

	snprintf(disk, sizeof(disk), "%s:/%s", lun, name);
	CHECK_OK(vdisk_create(disk, &o));
}

/* The LUN offset of the data file's first byte (an inspect session). */
static uint64_t
data_lun_offset(const char *flat)
{
	struct vfs_mount_opts mo = { .flags = VFS_MOUNT_INSPECT };
	struct vfs_extent ext;
	struct vfs_file *f;
	struct vfs *vfs;
	char p[300];

	snprintf(p, sizeof(p), "/%s", flat);
	CHECK_OK(vfs_mount(lun, &mo, &vfs));
	CHECK_OK(vfs_file_open(vfs, p, 0, &f));
	CHECK_EQ(vfs_file_map(f, 0, 4096, 0, &ext, 1), 1);
	CHECK_EQ(ext.type, VFS_EXTENT_DATA);
	vfs_file_close(f);
	CHECK_OK(vfs_unmount(vfs));
	return ext.lun_offset;
}

static void
flag_done(struct vdisk_io *io)
{
	*(bool *)io->priv = true;
}

/*
 * Reads of the data file's first block take 200 ms on the LUN (a fault
 * script). The loop must sleep through them: few wake-ups, none of them
 * long before the completion.
 */
static void
test_event_fd_sleeps(void)
{
	char script[600], slow[1400];
	struct pollfd p = { .events = POLLIN };
	unsigned int wakeups = 0;
	struct vdisk_queue *q;
	struct vdisk_io io;
	struct vdisk *d;
	bool done = false;
	uint64_t off, t0, dt;
	FILE *f;
	char *buf;

	make_disk("slow.vmdk", 4 << 20, VDISK_EAGERZEROEDTHICK);
	off = data_lun_offset("slow-flat.vmdk");
	snprintf(script, sizeof(script), "%s/slow.rules", test_tmpdir());
	f = fopen(script, "w");
	CHECK(f);
	fprintf(f, "read delay=200 range=%llu-%llu\n",
		(unsigned long long)off, (unsigned long long)off + 4096);
	fclose(f);
	snprintf(slow, sizeof(slow), "faulty,script=%s:%s:/slow.vmdk", script,
		 lun);
	CHECK_OK(vdisk_open(slow, 0, &d));
	CHECK_OK(vdisk_queue_create(d, 4, &q));
	CHECK_OK(posix_memalign((void **)&buf, 4096, 4096));
	p.fd = vdisk_queue_event_fd(q);
	vdisk_io_prep_read(&io, 0, buf, 4096);
	io.done = flag_done;
	io.priv = &done;
	t0 = clock_mono_ns();
	CHECK_OK(vdisk_submit(q, &io));
	CHECK_OK(vdisk_kick(q));
	while (!done) {
		CHECK_EQ(poll(&p, 1, 5000), 1);
		CHECK(vdisk_poll(q, 0, 0) >= 0);
		wakeups++;
	}
	dt = clock_mono_ns() - t0;
	printf("   a 200 ms read: %u wake-ups, done after %llu ms\n", wakeups,
	       (unsigned long long)(dt / NS_PER_MS));
	CHECK_EQ(io.result, 4096);
	CHECK(dt >= 200 * NS_PER_MS);
	/* 1 ms steps would be ~200; the inner write's completion and the
	 * report may each wake it once. */
	CHECK(wakeups <= 4);
	vdisk_queue_destroy(q);
	vdisk_close(d);
	free(buf);
}

int
main(void)
{
	snprintf(lun, sizeof(lun), "%s/lun.img", test_tmpdir());
	CHECK_OK(test_make_file(lun, 256ull << 20));
	CHECK_OK(vfs_mkfs(lun, &(struct vfs_mkfs_opts){ .lease_ms = 3000 }));
	RUN_TEST(test_event_fd_sleeps);
	test_tmpdir_remove();
	return 0;
}
