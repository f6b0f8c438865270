/* SPDX-License-Identifier: MIT */
/*
 * The datastore store (store-vfs.c) under the engine: an event loop
 * sleeping on the queue's event fd wakes for a slow LUN completion when
 * it is there, not in small steps before; discard and write-zeroes give
 * space back or keep it by disk type, through the datastore's punch and
 * zero-range calls; a poll's count stays right when completions submit
 * more.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "tests/lib/testutil.h"
#include "vdisk/vdisk-provider.h"
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

static uint64_t
allocated(struct vdisk *d)
{
	struct vdisk_info in;

	CHECK_OK(vdisk_get_info(d, &in));
	return in.allocated_bytes;
}

struct req {
	struct vdisk_io io;
	int *order;       /* where its done() came in the run */
	int *seq;
};

static void
req_done(struct vdisk_io *io)
{
	struct req *r = io->priv;

	CHECK(io->result >= 0);
	*r->order = (*r->seq)++;
}

/* Submits 'n' requests at once and polls until all are done. */
static void
run(struct vdisk_queue *q, struct req *r, int n)
{
	for (int i = 0; i < n; i++) {
		r[i].io.done = req_done;
		r[i].io.priv = &r[i];
		CHECK_OK(vdisk_submit(q, &r[i].io));
	}
	while (vdisk_inflight(q))
		CHECK(vdisk_poll(q, 1, -1) >= 0);
}

static void
one(struct vdisk_queue *q, struct vdisk_io *io)
{
	int order, seq = 0;
	struct req r = { .io = *io, .order = &order, .seq = &seq };

	run(q, &r, 1);
}

static void
check_zero(struct vdisk *d, uint64_t off, size_t len)
{
	char *b = malloc(len);

	CHECK_OK(vdisk_pread(d, b, len, off));
	for (size_t i = 0; i < len; i++)
		CHECK(b[i] == 0);
	free(b);
}

/* Discard and write-zeroes by disk type, as on the local store. */
static void
test_discard_by_type(void)
{
	struct vdisk_queue *q;
	struct vdisk_io io;
	struct vdisk *d;
	uint64_t before;
	char *buf;

	CHECK_OK(posix_memalign((void **)&buf, 4096, 1 << 20));
	memset(buf, 0xab, 1 << 20);
	/* Thin: discard gives the space back, unaligned edges read zeros. */
	make_disk("dthin.vmdk", 8 << 20, VDISK_THIN);
	CHECK_OK(vdisk_open(disk, 0, &d));
	CHECK_OK(vdisk_queue_create(d, 8, &q));
	for (int i = 1; i < 4; i++) {
		vdisk_io_prep_write(&io, (uint64_t)i << 20, buf, 1 << 20, 0);
		one(q, &io);
	}
	/* New blocks count once the flush committed them. */
	vdisk_io_prep_flush(&io);
	one(q, &io);
	before = allocated(d);
	CHECK(before >= (3 << 20));
	vdisk_io_prep_discard(&io, (1 << 20) + 4096, 2 << 20);
	one(q, &io);
	CHECK_EQ(allocated(d), before - (1 << 20));
	check_zero(d, (1 << 20) + 4096, 2 << 20);
	/* Write-zeroes without unmap keeps the space. */
	before = allocated(d);
	vdisk_io_prep_write_zeroes(&io, 3 << 20, 1 << 20, VDISK_IO_NO_UNMAP);
	one(q, &io);
	CHECK_EQ(allocated(d), before);
	check_zero(d, 3 << 20, 1 << 20);
	vdisk_queue_destroy(q);
	vdisk_close(d);

	/* Thick: discard zeroes but keeps the reservation. */
	make_disk("dthick.vmdk", 8 << 20, VDISK_EAGERZEROEDTHICK);
	CHECK_OK(vdisk_open(disk, 0, &d));
	CHECK_OK(vdisk_queue_create(d, 8, &q));
	vdisk_io_prep_write(&io, 0, buf, 1 << 20, 0);
	one(q, &io);
	vdisk_io_prep_discard(&io, 0, 1 << 20);
	one(q, &io);
	check_zero(d, 0, 1 << 20);
	CHECK(allocated(d) >= (8 << 20));
	vdisk_queue_destroy(q);
	vdisk_close(d);
	free(buf);
}

/*
 * A discard submitted while a write to the same block is still on its
 * way to a slow LUN waits for it: the block is never given back (and
 * perhaps handed to another file) under a write still in flight.
 */
static void
test_discard_waits_for_writes(void)
{
	char script[600], slow[1400];
	struct vdisk_queue *q;
	struct req r[2];
	struct vdisk *d;
	int order[2], seq = 0;
	uint64_t off, before;
	FILE *f;
	char *buf;

	CHECK_OK(posix_memalign((void **)&buf, 4096, 4096));
	memset(buf, 0x5a, 4096);
	make_disk("race.vmdk", 4 << 20, VDISK_THIN);
	CHECK_OK(vdisk_open(disk, 0, &d));
	CHECK_OK(vdisk_pwrite(d, buf, 4096, 0));
	CHECK_OK(vdisk_sync(d));
	before = allocated(d);
	vdisk_close(d);
	off = data_lun_offset("race-flat.vmdk");
	snprintf(script, sizeof(script), "%s/race.rules", test_tmpdir());
	f = fopen(script, "w");
	CHECK(f);
	fprintf(f, "write delay=200 range=%llu-%llu\n",
		(unsigned long long)off, (unsigned long long)off + (1 << 20));
	fclose(f);
	snprintf(slow, sizeof(slow), "faulty,script=%s:%s:/race.vmdk", script,
		 lun);
	CHECK_OK(vdisk_open(slow, 0, &d));
	CHECK_OK(vdisk_queue_create(d, 4, &q));
	memset(r, 0, sizeof(r));
	vdisk_io_prep_write(&r[0].io, 8192, buf, 4096, 0);
	vdisk_io_prep_discard(&r[1].io, 0, 1 << 20);
	r[0].order = &order[0];
	r[1].order = &order[1];
	r[0].seq = r[1].seq = &seq;
	run(q, r, 2);
	CHECK_EQ(order[0], 0);
	CHECK_EQ(order[1], 1);
	check_zero(d, 0, 1 << 20);
	CHECK_EQ(allocated(d), before - (1 << 20));
	vdisk_queue_destroy(q);
	vdisk_close(d);
	free(buf);
}

/*
 * vdisk_queue_wake() (what a layer calls when it finishes a request
 * without store I/O, e.g. a discard on a delta) must make the queue's
 * event fd readable: here that fd is an epoll set, which a write to it
 * would not wake.
 */
static void
test_wake_reaches_event_fd(void)
{
	struct pollfd p = { .events = POLLIN };
	struct vdisk_queue *q;
	struct vdisk *d;
	char path[700];

	make_disk("wake.vmdk", 1 << 20, VDISK_THIN);
	snprintf(path, sizeof(path), "%s:/wake.vmdk", lun);
	CHECK_OK(vdisk_open(path, 0, &d));
	CHECK_OK(vdisk_queue_create(d, 4, &q));
	p.fd = vdisk_queue_event_fd(q);
	CHECK_EQ(poll(&p, 1, 0), 0);
	vdisk_queue_wake(q);
	CHECK_EQ(poll(&p, 1, 1000), 1);
	CHECK(vdisk_poll(q, 0, 0) >= 0);
	vdisk_queue_destroy(q);
	vdisk_close(d);
}

/* A completion whose callback sends three more reads. */
struct fan {
	struct vdisk_queue *q;
	struct vdisk_io io[4];
	char *buf;
	unsigned int done;
};

static void
fan_done(struct vdisk_io *io)
{
	struct fan *f = io->priv;

	CHECK_EQ(io->result, 4096);
	if (f->done++ == 0) {
		for (unsigned int i = 1; i < 4; i++) {
			vdisk_io_prep_read(&f->io[i], i * 4096ull,
					   f->buf + i * 4096, 4096);
			f->io[i].done = fan_done;
			f->io[i].priv = f;
			CHECK_OK(vdisk_submit(f->q, &f->io[i]));
		}
	}
}

/*
 * A poll counts the requests it completed, whatever their callbacks
 * submit meanwhile (it once returned completed - submitted: -2 here,
 * which a snapshot merge took for an error, "No such process").
 */
static void
test_poll_count_with_resubmits(void)
{
	struct fan f = { 0 };
	struct vdisk *d;
	char path[700];
	unsigned int total = 0;

	make_disk("fan.vmdk", 1 << 20, VDISK_EAGERZEROEDTHICK);
	snprintf(path, sizeof(path), "%s:/fan.vmdk", lun);
	CHECK_OK(vdisk_open(path, 0, &d));
	CHECK_OK(vdisk_queue_create(d, 8, &f.q));
	CHECK_OK(posix_memalign((void **)&f.buf, 4096, 4 * 4096));
	vdisk_io_prep_read(&f.io[0], 0, f.buf, 4096);
	f.io[0].done = fan_done;
	f.io[0].priv = &f;
	CHECK_OK(vdisk_submit(f.q, &f.io[0]));
	CHECK_OK(vdisk_kick(f.q));
	while (f.done < 4) {
		int n = vdisk_poll(f.q, 1, 5000);

		CHECK(n >= 0);
		CHECK(n <= 4);
		total += (unsigned int)n;
		CHECK_OK(vdisk_kick(f.q));
	}
	CHECK_EQ(total, 4);
	vdisk_queue_destroy(f.q);
	vdisk_close(d);
	free(f.buf);
}

int
main(void)
{
	snprintf(lun, sizeof(lun), "%s/lun.img", test_tmpdir());
	CHECK_OK(test_make_file(lun, 256ull << 20));
	CHECK_OK(vfs_mkfs(lun, &(struct vfs_mkfs_opts){ .lease_ms = 3000 }));
	RUN_TEST(test_event_fd_sleeps);
	RUN_TEST(test_wake_reaches_event_fd);
	RUN_TEST(test_poll_count_with_resubmits);
	RUN_TEST(test_discard_by_type);
	RUN_TEST(test_discard_waits_for_writes);
	test_tmpdir_remove();
	return 0;
}
