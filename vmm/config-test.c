/* SPDX-License-Identifier: MIT */
/* Tests for the vm.cfg parser: defaults, every key type, every error. */
#include <string.h>

#include "tests/lib/testutil.h"
#include "vmm/config.h"

static struct vmm_config *
parse_ok(const char *text)
{
	struct vmm_config *c = NULL;
	char err[512] = "";
	int rc = vmm_config_parse(text, strlen(text), "vm.cfg", "/base", &c,
				  err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "unexpected error: %s\n", err);
	CHECK_OK(rc);
	return c;
}

/* Parses text that must fail with a message containing 'want'. */
static void
parse_bad(const char *text, const char *want)
{
	struct vmm_config *c = NULL;
	char err[512] = "";
	int rc = vmm_config_parse(text, strlen(text), "vm.cfg", NULL, &c, err,
				  sizeof(err));

	if (rc != -EINVAL || !strstr(err, want)) {
		fprintf(stderr, "input:\n%s\nrc %d, message '%s', want '%s'\n",
			text, rc, err, want);
		exit(1);
	}
	CHECK(c == NULL);
}

static void
test_defaults(void)
{
	struct vmm_config *c = parse_ok("testguest = tg.bin\n");

	CHECK_EQ(c->memory_bytes, 128u << 20);
	CHECK_EQ(c->vcpus, 1);
	CHECK(c->balloon);
	CHECK(!c->ksm);
	CHECK_EQ(c->serial, VMM_SERIAL_STDIO);
	CHECK(!strcmp(c->testguest, "/base/tg.bin"));
	CHECK(!strcmp(vmm_config_name(c), "vm"));
	vmm_config_free(c);
}

static void
test_all_keys(void)
{
	struct vmm_config *c = parse_ok(
		"# a VM\n"
		"name = \"web 1\"   # trailing comment\n"
		"MEMORY = 1G\n"
		"vcpus = 4\n"
		"kernel = /boot/vmlinuz\n"
		"initrd = initrd.img\n"
		"cmdline = \"console=ttyS0 quiet # not a comment\"\n"
		"serial = file:console.log\n"
		"control = /run/vm1.sock\n"
		"balloon = no\n"
		"cpu.shares = 2048\n"
		"cpu.latency = High\n"
		"memory.limit = 2G\n"
		"disk0 = /data/d0.img\n"
		"disk0.mode = persistent\n"
		"disk3 = d3.img\n"
		"disk3.readonly = true\n"
		"nic0 = vhostuser:/run/sw/vm1-0.sock\n"
		"nic0.mac = 52:54:00:12:34:56\n"
		"nic1 = vhostuser:sw.sock\n");

	CHECK(!strcmp(c->name, "web 1"));
	CHECK_EQ(c->memory_bytes, 1ull << 30);
	CHECK_EQ(c->vcpus, 4);
	CHECK(!strcmp(c->initrd, "/base/initrd.img"));
	CHECK(!strcmp(c->cmdline, "console=ttyS0 quiet # not a comment"));
	CHECK_EQ(c->serial, VMM_SERIAL_FILE);
	CHECK(!strcmp(c->serial_path, "/base/console.log"));
	CHECK(!c->balloon);
	CHECK_EQ(c->cpu_shares, 2048);
	CHECK(c->latency_high);
	CHECK_EQ(c->memory_limit_bytes, 2ull << 30);
	CHECK(!strcmp(c->disk[0].path, "/data/d0.img"));
	CHECK(!strcmp(c->disk[3].path, "/base/d3.img"));
	CHECK(c->disk[3].readonly);
	CHECK(c->disk[1].path == NULL);
	CHECK(!strcmp(c->nic[0].socket, "/run/sw/vm1-0.sock"));
	CHECK_EQ(c->nic[0].mac[5], 0x56);
	/* A default MAC is locally administered and stable. */
	CHECK_EQ(c->nic[1].mac[0], 0x52);
	CHECK_EQ(c->nic[1].mac[5] & 0xf, 1);
	vmm_config_free(c);
}

/* Datastore disks: a relative LUN file follows the config, URIs stay. */
static void
test_disk_paths(void)
{
	struct vmm_config *c = parse_ok(
		"testguest = tg.bin\n"
		"disk0 = lun0.img:/vm1/disk.vmdk\n"
		"disk1 = /dev/sdb:/vm1/data.vmdk\n"
		"disk2 = iscsi://127.0.0.1:3260/iqn.2026-01.x:t/1:/vm1/d.vmdk\n"
		"disk3 = faulty,seed=1:/tmp/l.img:/vm1/d.vmdk\n"
		"disk4 = vm1/disk.vmdk\n"
		"disk5 = mem:lab:/d.vmdk\n");

	CHECK(!strcmp(c->disk[0].path, "/base/lun0.img:/vm1/disk.vmdk"));
	CHECK(!strcmp(c->disk[1].path, "/dev/sdb:/vm1/data.vmdk"));
	CHECK(!strcmp(c->disk[2].path,
		      "iscsi://127.0.0.1:3260/iqn.2026-01.x:t/1:/vm1/d.vmdk"));
	CHECK(!strcmp(c->disk[3].path, "faulty,seed=1:/tmp/l.img:/vm1/d.vmdk"));
	CHECK(!strcmp(c->disk[4].path, "/base/vm1/disk.vmdk"));
	CHECK(!strcmp(c->disk[5].path, "mem:lab:/d.vmdk"));
	vmm_config_free(c);
}

static void
test_errors(void)
{
	parse_bad("", "nothing to boot");
	parse_bad("testguest = a\nconsole = stdio\n",
		  "vm.cfg:2: key 'console': the serial port already uses stdio");
	parse_bad("testguest = a\nserial = unix:/s\nconsole = unix:/s\n",
		  "key 'console': the serial port listens on the same socket");
	parse_bad("testguest = a\nconsole = tty\n",
		  "key 'console': expected stdio, none, file:PATH or unix:PATH");
	parse_bad("testguest = a\nfoo = 1\n", "vm.cfg:2: key 'foo': unknown key");
	parse_bad("testguest = a\nmemory = 12Q\n", "vm.cfg:2: key 'memory': expected a size");
	parse_bad("testguest = a\nmemory = 1K\n", "key 'memory'");
	parse_bad("testguest = a\nvcpus = 0\n", "vm.cfg:2: key 'vcpus': expected a number from 1 to 64");
	parse_bad("testguest = a\nvcpus = 2\nvcpus = 3\n", "vm.cfg:3: key 'vcpus': already set on line 2");
	parse_bad("testguest = a\njust words\n", "vm.cfg:2: expected 'key = value'");
	parse_bad("testguest = a\n = 4\n", "missing key");
	parse_bad("testguest = a\nname = \"open\n", "unbalanced quotes");
	parse_bad("testguest = a\nname = a\"b\n", "unbalanced quotes");
	parse_bad("testguest = a\ndisk0 = d\ndisk0.mode = sometimes\n",
		  "vm.cfg:3: key 'disk0.mode': expected persistent, nonpersistent or undoable");
	parse_bad("testguest = a\ndisk1.mode = persistent\n",
		  "vm.cfg:2: key 'disk1.mode': disk1 is not set");
	parse_bad("testguest = a\ndisk8 = x\n", "key 'disk8'");
	parse_bad("testguest = a\ndisk12 = x\n", "unknown key");
	parse_bad("testguest = a\nnic0 = tap:x\n", "expected vhostuser:PATH");
	parse_bad("testguest = a\nnic4 = vhostuser:x\n", "at most 4 NICs");
	parse_bad("testguest = a\nnic0 = vhostuser:x\nnic0.mac = 01:00:00:00:00:01\n",
		  "multicast");
	parse_bad("testguest = a\nnic0 = vhostuser:x\nnic0.mac = 52:54:00:zz:00:01\n",
		  "expected xx:xx");
	parse_bad("testguest = a\nnic2.mac = 52:54:00:00:00:01\n", "nic2 is not set");
	parse_bad("testguest = a\nserial = tty\n", "expected stdio, none");
	parse_bad("testguest = a\nksm = maybe\n", "expected true or false");
	parse_bad("testguest = a\ncpu.latency = low\n",
		  "vm.cfg:2: key 'cpu.latency': expected normal or high, got 'low'");
	parse_bad("testguest = a\nksm = true\nnic0 = vhostuser:/s\n",
		  "vm.cfg:2: key 'ksm': page sharing cannot be used with vhost-user NICs (nic0, line 3)");
	parse_bad("kernel = k\ntestguest = a\n", "vm.cfg:2: key 'testguest': 'kernel' and 'testguest' are both set");
	parse_bad("testguest = a\ninitrd = i\n", "vm.cfg:2: key 'initrd': 'initrd' needs 'kernel'");
	parse_bad("testguest = a\ndisk0 = d\ndisk0.mode = undoable\n"
		  "disk0.readonly = true\n",
		  "vm.cfg:3: key 'disk0.mode': disk0 is read-only: only persistent applies");
	parse_bad("testguest = a\nname = a\001b\n", "control character");
	parse_bad("testguest = a\nna-me = x\n", "bad character in key");
}

static void
test_nul_and_long_lines(void)
{
	static const char nul[] = "testguest = a\nname = x\0y\n";
	struct vmm_config *c = NULL;
	char err[256], *big;
	int rc;

	rc = vmm_config_parse(nul, sizeof(nul) - 1, "vm.cfg", NULL, &c, err,
			      sizeof(err));
	CHECK_EQ(rc, -EINVAL);
	CHECK(strstr(err, "vm.cfg:2: NUL byte"));
	big = malloc(10000);
	memset(big, 'x', 9999);
	big[9999] = '\0';
	memcpy(big, "name = ", 7);
	rc = vmm_config_parse(big, strlen(big), "vm.cfg", NULL, &c, err,
			      sizeof(err));
	CHECK_EQ(rc, -EINVAL);
	CHECK(strstr(err, "vm.cfg:1: line longer than"));
	free(big);
}

static void
test_set_override(void)
{
	struct vmm_config *c = parse_ok("testguest = a\nvcpus = 2\n");
	char err[256];

	CHECK_OK(vmm_config_set(c, "vcpus", "3", err, sizeof(err)));
	CHECK_EQ(c->vcpus, 3);
	CHECK_OK(vmm_config_set(c, "serial", "unix:/tmp/s", err, sizeof(err)));
	CHECK_EQ(c->serial, VMM_SERIAL_UNIX);
	CHECK_EQ(vmm_config_set(c, "bogus", "1", err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "unknown key"));
	vmm_config_free(c);
}

static void
test_load_file(void)
{
	const char *dir = test_tmpdir();
	struct vmm_config *c = NULL;
	char path[600], err[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/vm.cfg", dir);
	f = fopen(path, "w");
	CHECK(f);
	fprintf(f, "testguest = tg.bin\ndisk0 = disk.img\n");
	fclose(f);
	CHECK_OK(vmm_config_load(path, &c, err, sizeof(err)));
	snprintf(path, sizeof(path), "%s/disk.img", dir);
	CHECK(!strcmp(c->disk[0].path, path));
	vmm_config_free(c);
	CHECK_EQ(vmm_config_load("/nonexistent/vm.cfg", &c, err, sizeof(err)),
		 -ENOENT);
	CHECK(strstr(err, "/nonexistent/vm.cfg"));
	test_tmpdir_remove();
}

int
main(void)
{
	RUN_TEST(test_defaults);
	RUN_TEST(test_all_keys);
	RUN_TEST(test_disk_paths);
	RUN_TEST(test_errors);
	RUN_TEST(test_nul_and_long_lines);
	RUN_TEST(test_set_override);
	RUN_TEST(test_load_file);
	return 0;
}
