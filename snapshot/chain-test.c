/* SPDX-License-Identifier: MIT */
/*
 * The chain's data path against a model: random reads, writes (whole and
 * partial grains, unaligned to grains), write-zeroes, discards and
 * flushes through the vdisk engine with many requests in flight, across
 * online snapshots, reopen, revert, delete in the middle of a chain and
 * online commit. Every snapshot's content is checked byte for byte
 * against the model's copy taken when it was made.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "snapshot/snapshot.h"
#include "tests/lib/testutil.h"
#include "vdisk/vdisk.h"

#define CAP (24ull << 20)
#define QD 8

static char dir[512], disk_path[700];
static unsigned char *model;
static uint64_t rng = 12345;
/* Discard punches holes in a thin flat disk, a delta keeps contents. */
static bool layered;
/* While a commit may switch the top from a delta to the flat base. */
static bool no_discard;

struct snapimg {
	char name[32];
	unsigned char *img;
};

static struct snapimg snaps[16];
static unsigned int nsnaps;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct slot {
	struct vdisk_io io;
	void *buf;
	bool busy;
	uint64_t off, len;
	int op;
	unsigned int *done;
};

static void
slot_done(struct vdisk_io *io)
{
	struct slot *s = io->priv;

	if (io->result < 0) {
		fprintf(stderr, "I/O op %d at %llu+%llu failed: %lld\n", s->op,
			(unsigned long long)s->off, (unsigned long long)s->len,
			(long long)io->result);
		exit(1);
	}
	if (s->op == VDISK_OP_READ &&
	    memcmp(s->buf, model + s->off, s->len) != 0) {
		fprintf(stderr, "read at %llu+%llu differs from the model\n",
			(unsigned long long)s->off, (unsigned long long)s->len);
		exit(1);
	}
	s->busy = false;
	(*s->done)++;
}

static bool
overlaps(struct slot *slots, uint64_t off, uint64_t len)
{
	for (int i = 0; i < QD; i++)
		if (slots[i].busy && off < slots[i].off + slots[i].len &&
		    slots[i].off < off + len)
			return true;
	return false;
}

/* 'n' random requests, QD in flight, never two overlapping at once. */
static void
run_io(struct vdisk *disk, unsigned int n, bool writes)
{
	struct slot slots[QD];
	struct vdisk_queue *q;
	unsigned int issued = 0, done = 0;

	CHECK_OK(vdisk_queue_create(disk, QD, &q));
	memset(slots, 0, sizeof(slots));
	for (int i = 0; i < QD; i++) {
		CHECK(posix_memalign(&slots[i].buf, 4096, 256 << 10) == 0);
		slots[i].done = &done;
	}
	while (done < n) {
		for (int i = 0; i < QD && issued < n; i++) {
			struct slot *s = &slots[i];
			uint64_t r = rnd() % 100;
			uint64_t len = ((rnd() % 3 == 0) ? (rnd() % 512) + 1 :
					(rnd() % 16) + 1) * 512;
			uint64_t off = (rnd() % ((CAP - len) / 512)) * 512;

			if (s->busy || overlaps(slots, off, len))
				continue;
			s->off = off;
			s->len = len;
			if (!writes || r < 40) {
				s->op = VDISK_OP_READ;
				vdisk_io_prep_read(&s->io, off, s->buf, len);
			} else if (r < 85) {
				s->op = VDISK_OP_WRITE;
				test_pattern_fill(s->buf, len, rnd(), off);
				memcpy(model + off, s->buf, len);
				vdisk_io_prep_write(&s->io, off, s->buf, len,
						    r < 45 ? VDISK_IO_FUA : 0);
			} else if (r < 92) {
				s->op = VDISK_OP_WRITE_ZEROES;
				memset(model + off, 0, len);
				vdisk_io_prep_write_zeroes(&s->io, off, len, 0);
			} else if (r < 96) {
				/* Contents stay or become zeros: keep it
				 * simple, discard only what is zero. */
				s->op = VDISK_OP_FLUSH;
				vdisk_io_prep_flush(&s->io);
				s->len = 0;
			} else if (no_discard) {
				s->op = VDISK_OP_READ;
				vdisk_io_prep_read(&s->io, off, s->buf, len);
			} else {
				s->op = VDISK_OP_DISCARD;
				vdisk_io_prep_discard(&s->io, off, len);
				if (!layered)
					memset(model + off, 0, len);
			}
			s->io.done = slot_done;
			s->io.priv = s;
			CHECK_OK(vdisk_submit(q, &s->io));
			s->busy = true;
			issued++;
		}
		CHECK(vdisk_poll(q, 1, -1) >= 0);
	}
	vdisk_queue_destroy(q);
	for (int i = 0; i < QD; i++)
		free(slots[i].buf);
}

/* After discards, the model takes what the disk reads. */
static void
resync_model(struct vdisk *disk)
{
	CHECK_OK(vdisk_pread(disk, model, CAP, 0));
}

static void
check_image(const char *path, const unsigned char *img)
{
	struct vdisk *d;
	unsigned char *buf = malloc(CAP);

	CHECK(buf);
	CHECK_OK(vdisk_open(path, VDISK_OPEN_RDONLY, &d));
	CHECK_EQ(vdisk_capacity(d), CAP);
	CHECK_OK(vdisk_pread(d, buf, CAP, 0));
	vdisk_close(d);
	if (memcmp(buf, img, CAP)) {
		for (uint64_t i = 0; i < CAP; i++)
			if (buf[i] != img[i]) {
				fprintf(stderr, "%s differs at %llu\n", path,
					(unsigned long long)i);
				break;
			}
		CHECK(!"image differs");
	}
	free(buf);
}

/* The node descriptor of snapshot 'name' (through the list). */
static void
node_path(const char *name, char *out, size_t len)
{
	struct snap_list *l;

	CHECK_OK(snap_list(disk_path, &l));
	for (unsigned int i = 0; i < l->n; i++)
		if (!strcmp(l->snaps[i].name, name)) {
			snprintf(out, len, "%s/%s", dir, l->snaps[i].file);
			snap_list_free(l);
			return;
		}
	snap_list_free(l);
	CHECK(!"no such snapshot");
}

static void
check_all(void)
{
	char p[900];

	check_image(disk_path, model);
	for (unsigned int i = 0; i < nsnaps; i++) {
		if (!snaps[i].img)
			continue;
		node_path(snaps[i].name, p, sizeof(p));
		check_image(p, snaps[i].img);
	}
}

static void
remember(const char *name)
{
	struct snapimg *s = &snaps[nsnaps++];

	snprintf(s->name, sizeof(s->name), "%s", name);
	s->img = malloc(CAP);
	CHECK(s->img);
	memcpy(s->img, model, CAP);
}

static void
forget(const char *name)
{
	for (unsigned int i = 0; i < nsnaps; i++)
		if (!strcmp(snaps[i].name, name)) {
			free(snaps[i].img);
			snaps[i].img = NULL;
		}
}

static void
test_online_snapshots(void)
{
	struct vdisk_create_opts o = { .capacity_bytes = CAP };
	struct snap_op_stats st;
	struct vdisk *disk;
	char name[16];

	CHECK_OK(vdisk_create(disk_path, &o));
	CHECK_OK(vdisk_open(disk_path, 0, &disk));
	run_io(disk, 400, true);
	resync_model(disk);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		CHECK_OK(snap_create_open(&disk, 1, name, "test", &st));
		layered = true;
		remember(name);
		run_io(disk, 600, true);
		resync_model(disk);
	}
	CHECK_EQ(snap_create_open(&disk, 1, "s1", NULL, &st), -EEXIST);
	vdisk_close(disk);
	check_all();
}

static void
test_reopen_revert(void)
{
	struct vdisk *disk;

	CHECK_OK(vdisk_open(disk_path, 0, &disk));
	run_io(disk, 300, true);
	resync_model(disk);
	vdisk_close(disk);
	check_all();
	/* Revert to s2, write: a branch; s3 stays. */
	CHECK_OK(snap_revert(disk_path, "s2"));
	memcpy(model, snaps[2].img, CAP);
	check_all();
	CHECK_OK(vdisk_open(disk_path, 0, &disk));
	run_io(disk, 300, true);
	resync_model(disk);
	CHECK_EQ(snap_revert(disk_path, "s1"), -EBUSY);
	vdisk_close(disk);
	CHECK_EQ(snap_revert(disk_path, "nope"), -ENOENT);
	check_all();
}

static void
test_delete_middle(void)
{
	struct vdisk *disk;

	/* Offline: s1 (one child, s2). */
	CHECK_OK(snap_delete(disk_path, "s1", NULL, NULL));
	forget("s1");
	check_all();
	/* Online: s2 has two children (s3 and the current). */
	CHECK_OK(vdisk_open(disk_path, 0, &disk));
	CHECK_OK(snap_delete_open(disk, "s2", NULL, NULL));
	forget("s2");
	run_io(disk, 300, true);
	resync_model(disk);
	vdisk_close(disk);
	check_all();
	CHECK_EQ(snap_delete(disk_path, "s2", NULL, NULL), -ENOENT);
}

struct bg {
	struct vdisk *disk;
	unsigned int n;
};

static void *
bg_io(void *arg)
{
	struct bg *b = arg;

	run_io(b->disk, b->n, true);
	return NULL;
}

/* Commit into the base with writes going on from another thread. */
static void
test_commit_online(void)
{
	struct vdisk_check_report rep;
	struct snap_op_stats st = { 0 };
	struct vdisk *disk;
	struct snap_list *l;
	pthread_t t;
	struct bg b;

	CHECK_OK(vdisk_open(disk_path, 0, &disk));
	/* s0 has another branch (s3): refused, nothing changed. */
	CHECK_EQ(snap_commit_open(disk, NULL, NULL), -EOPNOTSUPP);
	CHECK_OK(snap_delete_open(disk, "s3", NULL, NULL));
	forget("s3");
	run_io(disk, 200, true);
	b = (struct bg){ disk, 3000 };
	no_discard = true;
	CHECK(pthread_create(&t, NULL, bg_io, &b) == 0);
	CHECK_OK(snap_commit_open(disk, NULL, &st));
	pthread_join(t, NULL);
	no_discard = false;
	layered = false;
	fprintf(stderr, "commit: pause %.1f ms, total %.1f ms\n",
		st.pause_ns / 1e6, st.total_ns / 1e6);
	resync_model(disk);
	vdisk_close(disk);
	forget("s0");
	check_all();
	CHECK_OK(vdisk_check(disk_path, false, &rep));
	if (rep.errors)
		fprintf(stderr, "check: %s\n", rep.first);
	CHECK_EQ(rep.errors, 0);
	CHECK_OK(snap_list(disk_path, &l));
	CHECK_EQ(l->n, 0);
	CHECK_EQ(l->position, 0);
	snap_list_free(l);
	CHECK_EQ(snap_commit(disk_path, NULL, NULL), -EOPNOTSUPP);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "%s", test_tmpdir());
	snprintf(disk_path, sizeof(disk_path), "%s/disk.vmdk", dir);
	model = calloc(1, CAP);
	CHECK(model);
	RUN_TEST(test_online_snapshots);
	RUN_TEST(test_reopen_revert);
	RUN_TEST(test_delete_middle);
	RUN_TEST(test_commit_online);
	test_tmpdir_remove();
	return 0;
}
