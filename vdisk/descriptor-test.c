/* SPDX-License-Identifier: MIT */
/* Tests for descriptor.c: round trips, VMware/qemu texts, bad input. */
#include <string.h>

#include "tests/lib/testutil.h"
#include "vdisk/vdisk-internal.h"

static struct vdisk_desc d, d2;
static char err[256];

static int
parse(const char *text)
{
	return vdisk_desc_parse(text, strlen(text), &d, err, sizeof(err));
}

static void
test_round_trip(void)
{
	char buf[4096];
	int n;

	vdisk_desc_init(&d, 10ull << 30, VDISK_ZEROEDTHICK, "x-flat.vmdk");
	strcpy(d.change_track, "x-ctk.vmdk");
	strcpy(d.extra[0].key, "ddb.vstack.delta.grain");
	strcpy(d.extra[0].value, "4096");
	d.nextra = 1;
	n = vdisk_desc_format(&d, buf, sizeof(buf));
	CHECK(n > 0);
	CHECK_OK(vdisk_desc_parse(buf, (size_t)n, &d2, err, sizeof(err)));
	CHECK_EQ(vdisk_desc_capacity(&d2), 10ull << 30);
	CHECK_EQ(d2.type, VDISK_ZEROEDTHICK);
	CHECK_EQ(d2.cid, d.cid);
	CHECK_EQ(d2.parent_cid, DESC_NO_PARENT);
	CHECK(!strcmp(d2.ext[0].file, "x-flat.vmdk"));
	CHECK(!strcmp(d2.change_track, "x-ctk.vmdk"));
	CHECK_EQ(d2.nextra, 1);
	CHECK(!strcmp(d2.extra[0].value, "4096"));
	CHECK_EQ(vdisk_desc_format(&d, buf, 20), -ENOSPC);
}

static void
test_vmware_texts(void)
{
	/* What ESX writes for a thin disk. */
	CHECK_OK(parse("# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\n"
		       "CID=fffffffe\nparentCID=ffffffff\n"
		       "createType=\"vmfs\"\n\n# Extent description\n"
		       "RW 8388608 VMFS \"vm-flat.vmdk\"\n\n#DDB\n\n"
		       "ddb.adapterType = \"lsilogic\"\n"
		       "ddb.thinProvisioned = \"1\"\n"
		       "ddb.uuid = \"60 00 C2 9b\"\n"));
	CHECK_EQ(d.type, VDISK_THIN);
	CHECK_EQ(vdisk_desc_capacity(&d), 4ull << 30);
	CHECK_EQ(d.cid, 0xfffffffe);
	CHECK_EQ(d.nextra, 2);
	/* A monolithicFlat from qemu-img, with offsets and two extents. */
	CHECK_OK(parse("version=1\nCID=12345678\nparentCID=ffffffff\n"
		       "createType=\"twoGbMaxExtentFlat\"\n"
		       "RW 4192256 FLAT \"a-f001.vmdk\" 0\n"
		       "RW 2048 FLAT \"a-f002.vmdk\" 0\nRDONLY 100 ZERO\n"));
	CHECK_EQ(d.nextents, 3);
	CHECK_EQ(d.ext[2].kind, DESC_EXT_ZERO);
	CHECK_EQ(d.ext[2].access, DESC_RDONLY);
	CHECK_EQ(d.type, VDISK_ZEROEDTHICK);
	/* A delta disk for the snapshot layer: kept, not opened here. */
	CHECK_OK(parse("CID=1\nparentCID=2\ncreateType=\"vstackDelta\"\n"
		       "parentFileNameHint=\"base.vmdk\"\n"
		       "RW 2048 VSDELTA \"d-delta.vmdk\"\n"));
	CHECK_EQ(d.ext[0].kind, DESC_EXT_DELTA);
	CHECK(!strcmp(d.parent_hint, "base.vmdk"));
	CHECK_EQ(vdisk_desc_check_openable(&d, "d.vmdk"), -EOPNOTSUPP);
}

static void
test_bad_input(void)
{
	static const char *const bad[] = {
		"",
		"createType=\"vmfs\"\n",                       /* no extents */
		"RW 10 VMFS \"a\"\n",                          /* no type */
		"createType=\"vmfs\"\nRW 0 VMFS \"a\"\n",      /* empty */
		"createType=\"vmfs\"\nRW -5 VMFS \"a\"\n",
		"createType=\"vmfs\"\nRW 10 BOGUS \"a\"\n",
		"createType=\"vmfs\"\nRW 10 VMFS a\n",          /* unquoted */
		"createType=\"vmfs\"\nRW 10 VMFS \"a\n",        /* open quote */
		"createType=\"vmfs\"\nRW 99999999999999999999 VMFS \"a\"\n",
		("createType=\"vmfs\"\nRW 137438953472 VMFS \"a\"\n"
		 "RW 1 VMFS \"b\"\n"),                         /* > 64 TiB */
		"createType=\"vmfs\"\nCID=xyz\nRW 1 VMFS \"a\"\n",
		"createType=\"vmfs\"\nversion=9\nRW 1 VMFS \"a\"\n",
		"createType=\"vmfs\"\nddb.vstack.type=\"fat\"\nRW 1 VMFS \"a\"\n",
		"createType=\"vmfs\"\nnonsense\nRW 1 VMFS \"a\"\n",
		"createType=\"vmfs\"\nRW 1 VMFS \"a\" 0 junk\n",
		"createType=\"vmfs\"\nk\x01=1\nRW 1 VMFS \"a\"\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i]) != -EUCLEAN) {
			fprintf(stderr, "accepted bad descriptor %zu\n", i);
			exit(1);
		}
		CHECK(err[0] != '\0');
	}
	/* A line past the limit. */
	{
		static char big[3000];

		memset(big, 'a', sizeof(big) - 1);
		CHECK_EQ(parse(big), -EUCLEAN);
		CHECK(strstr(err, "longer"));
	}
}

static void
test_openable(void)
{
	vdisk_desc_init(&d, 1 << 20, VDISK_THIN, "x-flat.vmdk");
	CHECK_OK(vdisk_desc_check_openable(&d, "x"));
	strcpy(d.ext[0].file, "../etc/passwd");
	CHECK_EQ(vdisk_desc_check_openable(&d, "x"), -EUCLEAN);
	strcpy(d.ext[0].file, "x-flat.vmdk");
	d.nextents = 2;
	d.ext[1] = d.ext[0];
	CHECK_EQ(vdisk_desc_check_openable(&d, "x"), -EOPNOTSUPP);
}

int
main(void)
{
	RUN_TEST(test_round_trip);
	RUN_TEST(test_vmware_texts);
	RUN_TEST(test_bad_input);
	RUN_TEST(test_openable);
	return 0;
}
