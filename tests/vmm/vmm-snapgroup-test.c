/* SPDX-License-Identifier: MIT */
/*
 * One snapshot over the disks of two running VMs (a consistency group),
 * with two real vmm processes running the test guest: VM A on a disk in
 * a datastore on a file LUN, VM B on a local vdisk disk, plus a disk no
 * one holds.
 *   - while both guests write their pattern over empty disks, one
 *     `vsnap create` over all three: both guests finish and check their
 *     pattern; the two holds of guest I/O overlap (one instant), and
 *     after the VMs stop and both disks are reverted, each holds the
 *     pattern up to one point and zeros after it: what the guest had
 *     written at that instant
 *   - a disk that cannot take the snapshot (its name exists there):
 *     refused naming the disk and the VM, nothing taken anywhere, both
 *     guests go on
 *   - vsnap stopped while both VMs hold (past --hold-limit): each VMM
 *     lets its guest go on by itself, nothing taken
 *   - the VMM of the coordinator disk killed (SIGKILL) while holding:
 *     the other VM's I/O is released, nothing taken, the dead VM's disk
 *     rolled back at its next open
 *   - the other VMM killed while holding: the snapshot is decided, the
 *     dead VM's disk finished by vsnap, both disks have it
 *   vmm-snapgroup-test VMM VMCTL TESTGUEST.BIN VDISK VFS VSNAP
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/pattern.h"
#include "tests/vmm/vmtest.h"

#define DISK_MB 96
#define BIG_MB 320
#define CHUNK (64u << 10)

static char lun[600], disk_a[700], disk_b[700], disk_c[700];
static int nrun;
/* A vsnap started in the background, killed if a check fails first. */
static pid_t vsnap_pid;

static void
kill_vsnap(void)
{
	if (vsnap_pid > 0)
		kill(vsnap_pid, SIGKILL);
}

/* Fresh empty disks for a case (names made unique per case). */
static void
make_disks(int mb_b)
{
	nrun++;
	snprintf(disk_a, sizeof(disk_a), "%s:/vm1/a%d.vmdk", lun, nrun);
	snprintf(disk_b, sizeof(disk_b), "%s/b%d.vmdk", test_tmpdir(), nrun);
	snprintf(disk_c, sizeof(disk_c), "%s/c%d.vmdk", test_tmpdir(), nrun);
	CHECK_EQ(test_sh("%s create %s --size %dM >/dev/null", vmt_vdisk,
			 disk_a, DISK_MB), 0);
	CHECK_EQ(test_sh("%s create %s --size %dM >/dev/null", vmt_vdisk,
			 disk_b, mb_b), 0);
	CHECK_EQ(test_sh("%s create %s --size 4M >/dev/null", vmt_vdisk,
			 disk_c), 0);
}

/* Both VMs writing their pattern (then staying up). */
static void
start_writers(struct vmt *a, struct vmt *b, uint64_t sa, uint64_t sb)
{
	char na[32], nb[32];

	snprintf(na, sizeof(na), "a%d", nrun);
	snprintf(nb, sizeof(nb), "b%d", nrun);
	CHECK_OK(vmt_start(a, na, "cmdline = blk seed=%llu stay\n"
			   "disk0 = %s\n", (unsigned long long)sa, disk_a));
	CHECK_OK(vmt_start(b, nb, "cmdline = blk seed=%llu stay\n"
			   "disk0 = %s\n", (unsigned long long)sb, disk_b));
	CHECK(vmt_wait_serial(a, "writing pattern", 20000));
	CHECK(vmt_wait_serial(b, "writing pattern", 20000));
}

static void
stop_vm(struct vmt *t)
{
	char out[4096];

	if (vmt_vmctl(t, out, sizeof(out), "stop") != 0 ||
	    vmt_wait(t, 20000) != 0) {
		vmt_dump(t);
		CHECK(false);
	}
}

/* The guest finished its write-and-check pass: its I/O goes on. */
static void
check_guest_passed(struct vmt *t)
{
	if (!vmt_wait_serial(t, "blk0: passed", 30000)) {
		vmt_dump(t);
		CHECK(false);
	}
}

/* Starts vsnap with 'args' (stdout and stderr to files); its pid. */
static pid_t
vsnap_start(const char *stop_at, const char *args)
{
	char cmd[4096];
	pid_t pid;

	snprintf(cmd, sizeof(cmd), "exec %s %s >%s/vsnap.out 2>%s/vsnap.err",
		 vmt_vsnap, args, test_tmpdir(), test_tmpdir());
	pid = fork();
	if (pid == 0) {
		if (stop_at)
			setenv("VSTACK_SNAP_TEST_STOP", stop_at, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	vsnap_pid = pid;
	return pid;
}

static int
vsnap_wait(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	vsnap_pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Waits until 'pid' stopped itself (VSTACK_SNAP_TEST_STOP). */
static bool
wait_stopped(pid_t pid)
{
	for (int i = 0; i < 2000; i++) {
		int st;

		if (waitpid(pid, &st, WUNTRACED | WNOHANG) == pid &&
		    WIFSTOPPED(st))
			return true;
		usleep(5000);
	}
	return false;
}

static char *
vsnap_stderr(void)
{
	char p[700];

	snprintf(p, sizeof(p), "%s/vsnap.err", test_tmpdir());
	return vmt_slurp(p);
}

/* 'disk' has snapshot 'name' (1), not (0); nothing pending either way. */
static int
has_snapshot(const char *disk, const char *name)
{
	if (test_sh("%s list %s | grep -q pending", vmt_vsnap, disk) == 0)
		return -1;
	return test_sh("%s list %s --json | grep -q '\"name\":\"%s\"'",
		       vmt_vsnap, disk, name) == 0;
}

/*
 * The disk holds pattern 'seed' in whole 64 KiB chunks up to some point
 * and zeros after it: returns that point in chunks, -1 if it does not.
 */
static int64_t
prefix_chunks(const char *disk, uint64_t seed)
{
	char raw[700], *buf = malloc(CHUNK), *zero = calloc(1, CHUNK);
	int64_t k = -1, i;
	bool zeros = false;
	FILE *f;

	snprintf(raw, sizeof(raw), "%s/prefix.raw", test_tmpdir());
	unlink(raw);
	CHECK_EQ(test_sh("%s export %s %s --format raw >/dev/null", vmt_vdisk,
			 disk, raw), 0);
	f = fopen(raw, "r");
	CHECK(f && buf && zero);
	for (i = 0; fread(buf, 1, CHUNK, f) == CHUNK; i++) {
		bool z = !memcmp(buf, zero, CHUNK);

		if (!zeros && z) {
			zeros = true;
			k = i;
		} else if (zeros && !z) {
			fprintf(stderr, "%s: data after the zeros at chunk "
				"%lld\n", disk, (long long)i);
			k = -2;
			break;
		} else if (!z && !pattern_check(buf, CHUNK, seed,
						(uint64_t)i * CHUNK)) {
			fprintf(stderr, "%s: chunk %lld is neither pattern "
				"%llu nor zero\n", disk, (long long)i,
				(unsigned long long)seed);
			k = -2;
			break;
		}
	}
	if (k == -1)
		k = i;        /* all written */
	if (k == -2)
		k = -1;
	fclose(f);
	unlink(raw);
	free(buf);
	free(zero);
	return k;
}

/* "hold_start_ns":N of the 'n'th hold in the JSON output. */
static uint64_t
json_nth(const char *text, const char *key, int n)
{
	const char *p = text;

	for (int i = 0; i <= n && p; i++) {
		p = strstr(p, key);
		if (p)
			p += strlen(key);
	}
	return p ? strtoull(p + 2, NULL, 10) : 0;
}

static void
test_consistent_while_writing(void)
{
	char args[4096], out[700], *json, *err;
	uint64_t s0, s1, e0, e1;
	/* The local disk is written faster: a bigger one, so both are
	   still being written when the snapshot comes. */
	int64_t ka, kb, ta = DISK_MB * 16, tb = BIG_MB * 16;
	struct vmt a, b;

	make_disks(BIG_MB);
	start_writers(&a, &b, 11, 22);
	snprintf(args, sizeof(args), "create %s %s %s --name mid --json",
		 disk_a, disk_b, disk_c);
	CHECK_EQ(vsnap_wait(vsnap_start(NULL, args)), 0);
	snprintf(out, sizeof(out), "%s/vsnap.out", test_tmpdir());
	json = vmt_slurp(out);
	err = vsnap_stderr();
	CHECK(json && err);
	if (!strstr(json, "\"holds\""))
		fprintf(stderr, "%s%s", json, err);
	s0 = json_nth(json, "\"hold_start_ns\"", 0);
	s1 = json_nth(json, "\"hold_start_ns\"", 1);
	e0 = json_nth(json, "\"hold_end_ns\"", 0);
	e1 = json_nth(json, "\"hold_end_ns\"", 1);
	/* One instant held by both: the later start before either end. */
	CHECK(s0 && s1 && e0 && e1);
	CHECK((s0 > s1 ? s0 : s1) < (e0 < e1 ? e0 : e1));
	printf("  holds: %.1f ms and %.1f ms, overlapping %.1f ms\n",
	       (double)(e0 - s0) / 1e6, (double)(e1 - s1) / 1e6,
	       (double)((e0 < e1 ? e0 : e1) - (s0 > s1 ? s0 : s1)) / 1e6);
	free(json);
	free(err);
	check_guest_passed(&a);
	check_guest_passed(&b);
	stop_vm(&a);
	stop_vm(&b);
	/* The current states went on after the snapshot. */
	CHECK_EQ(has_snapshot(disk_a, "mid"), 1);
	CHECK_EQ(has_snapshot(disk_b, "mid"), 1);
	CHECK_EQ(has_snapshot(disk_c, "mid"), 1);
	CHECK_EQ(test_sh("%s revert %s mid && %s revert %s mid", vmt_vsnap,
			 disk_a, vmt_vsnap, disk_b), 0);
	ka = prefix_chunks(disk_a, 11);
	kb = prefix_chunks(disk_b, 22);
	printf("  at the snapshot: A had written %lld of %lld chunks, B "
	       "%lld of %lld\n", (long long)ka, (long long)ta, (long long)kb,
	       (long long)tb);
	CHECK(ka >= 0 && kb >= 0);
	/* Taken while both were writing (else this proves nothing; the
	   last chunk stays zero, written last with write-zeroes). */
	CHECK(ka > 0 && ka < ta - 1);
	CHECK(kb > 0 && kb < tb - 1);
	CHECK_EQ(test_sh("%s fsck %s >/dev/null", vmt_vfs, lun), 0);
}

static void
test_disk_refuses(void)
{
	char args[4096], *err;
	struct vmt a, b;

	make_disks(DISK_MB);
	/* B's disk already has a snapshot of the name. */
	CHECK_EQ(test_sh("%s create %s --name dup", vmt_vsnap, disk_b), 0);
	start_writers(&a, &b, 31, 32);
	snprintf(args, sizeof(args), "create %s %s %s --name dup", disk_a,
		 disk_c, disk_b);
	CHECK_EQ(vsnap_wait(vsnap_start(NULL, args)), 1);
	err = vsnap_stderr();
	CHECK(err);
	fprintf(stderr, "  %s", err);
	CHECK(strstr(err, disk_b) && strstr(err, "held by pid") &&
	      strstr(err, "exists"));
	free(err);
	check_guest_passed(&a);
	check_guest_passed(&b);
	stop_vm(&a);
	stop_vm(&b);
	CHECK_EQ(has_snapshot(disk_a, "dup"), 0);
	CHECK_EQ(has_snapshot(disk_c, "dup"), 0);
}

/* vsnap stops after both VMs hold; their own deadline lets go. */
static void
test_client_gone_quiet(void)
{
	char args[4096], *err;
	struct vmt a, b;
	pid_t p;

	make_disks(BIG_MB);
	start_writers(&a, &b, 41, 42);
	snprintf(args, sizeof(args), "create %s %s --name q --hold-limit 300",
		 disk_a, disk_b);
	p = vsnap_start("hold", args);
	CHECK(wait_stopped(p));
	/* Both guests were held mid-pass; they finish once the VMMs let
	   go by themselves. */
	CHECK_EQ(vmt_count_serial(&a, "blk0: passed"), 0);
	CHECK_EQ(vmt_count_serial(&b, "blk0: passed"), 0);
	check_guest_passed(&a);
	check_guest_passed(&b);
	kill(p, SIGCONT);
	CHECK_EQ(vsnap_wait(p), 1);
	err = vsnap_stderr();
	CHECK(err && strstr(err, "deadline"));
	fprintf(stderr, "  %s", err);
	free(err);
	stop_vm(&a);
	stop_vm(&b);
	CHECK_EQ(has_snapshot(disk_a, "q"), 0);
	CHECK_EQ(has_snapshot(disk_b, "q"), 0);
}

/*
 * A VMM killed while both hold: 'coordinator' kills A (its disk is the
 * first), else B.
 */
static void
test_vmm_killed(bool coordinator)
{
	char args[4096], *err;
	struct vmt a, b, c;
	pid_t p;

	make_disks(coordinator ? BIG_MB : DISK_MB);
	start_writers(&a, &b, 51, 52);
	snprintf(args, sizeof(args), "create %s %s %s --name k",
		 disk_a, disk_b, disk_c);
	p = vsnap_start("hold", args);
	CHECK(wait_stopped(p));
	CHECK_EQ(vmt_count_serial(coordinator ? &b : &a, "blk0: passed"), 0);
	vmt_kill(coordinator ? &a : &b);
	kill(p, SIGCONT);
	CHECK_EQ(vsnap_wait(p), 1);
	err = vsnap_stderr();
	CHECK(err);
	fprintf(stderr, "  %s", err);
	CHECK(strstr(err, coordinator ? disk_a : disk_b) &&
	      strstr(err, "connection was lost"));
	free(err);
	/* The other VM's guest goes on. */
	check_guest_passed(coordinator ? &b : &a);
	stop_vm(coordinator ? &b : &a);
	if (coordinator) {
		/* Nothing taken; A's disk (its datastore lock outlives the
		   VMM by a lease) is rolled back by its next open. */
		CHECK_EQ(has_snapshot(disk_b, "k"), 0);
		CHECK_EQ(has_snapshot(disk_c, "k"), 0);
		CHECK_OK(vmt_start(&c, "a-again", "cmdline = pci\n"
				   "disk0 = %s\n", disk_a));
		if (vmt_wait(&c, 30000) != 0)
			vmt_dump(&c);
		CHECK_EQ(has_snapshot(disk_a, "k"), 0);
	} else {
		/* Decided: every disk has it (B's finished by vsnap, or,
		   when the decision could not be read then, by its next
		   open). */
		CHECK_EQ(has_snapshot(disk_a, "k"), 1);
		if (has_snapshot(disk_b, "k") == -1) {
			CHECK_OK(vmt_start(&c, "b-again", "cmdline = pci\n"
					   "disk0 = %s\n", disk_b));
			if (vmt_wait(&c, 30000) != 0)
				vmt_dump(&c);
		}
		CHECK_EQ(has_snapshot(disk_b, "k"), 1);
		CHECK_EQ(has_snapshot(disk_c, "k"), 1);
	}
	CHECK_EQ(test_sh("%s check %s >/dev/null && %s check %s >/dev/null",
			 vmt_vdisk, disk_a, vmt_vdisk, disk_b), 0);
}

static void
test_coordinator_killed(void)
{
	test_vmm_killed(true);
}

static void
test_participant_killed(void)
{
	test_vmm_killed(false);
}

int
main(int argc, char **argv)
{
	char run[700];

	vmt_init(argc, argv);
	vmt_init_tools(argc, argv, true);
	atexit(kill_vsnap);
	snprintf(run, sizeof(run), "%s/run", test_tmpdir());
	mkdir(run, 0700);
	setenv("VSTACK_RUN_DIR", run, 1);
	snprintf(lun, sizeof(lun), "%s/lun0.img", test_tmpdir());
	CHECK_OK(test_make_file(lun, 1024u << 20));
	CHECK_EQ(test_sh("%s mkfs %s --lease 2 >/dev/null", vmt_vfs, lun), 0);
	CHECK_EQ(test_sh("%s mkdir %s:/vm1", vmt_vfs, lun), 0);
	RUN_TEST(test_consistent_while_writing);
	RUN_TEST(test_disk_refuses);
	RUN_TEST(test_client_gone_quiet);
	RUN_TEST(test_participant_killed);
	RUN_TEST(test_coordinator_killed);
	test_tmpdir_remove();
	return 0;
}

