/* SPDX-License-Identifier: MIT */
/*
 * vlun: look at, exercise and benchmark a LUN through the same LUN layer
 * the datastore uses. A LUN is a path (file or block device), an
 * iscsi:// URL, or any of them wrapped in faulty[,options]: (see
 * vfs-cluster/lun-faulty.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/json.h"
#include "common/log.h"
#include "common/pattern.h"
#include "tools/vlun.h"
#include "vfs-cluster/lun.h"

static int
open_lun(const char *uri, bool read_only, struct lun **out)
{
	struct lun_config cfg = { .read_only = read_only };
	int err = lun_open(uri, &cfg, out);

	if (err < 0)
		cli_error("%s: %s", uri, strerror(-err));
	return err;
}

static void *
aligned_buf(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, len ? len : 4096))
		return NULL;
	memset(p, 0, len);
	return p;
}

/* Parses OFFSET and LENGTH arguments (sizes with K/M/G). */
static int
parse_range(const char *off_s, const char *len_s, uint64_t *off,
	    uint64_t *len)
{
	if (cli_parse_size(off_s, off) < 0)
		return cli_usage_error("bad offset '%s'", off_s);
	if (len_s && cli_parse_size(len_s, len) < 0)
		return cli_usage_error("bad length '%s'", len_s);
	return 0;
}

/* ---- info ---- */

static const struct {
	uint32_t bit;
	const char *name;
} cap_names[] = {
	{ LUN_CAP_FUA, "fua" },
	{ LUN_CAP_ATS, "ats" },
	{ LUN_CAP_COMPARE_WRITE, "compare-and-write" },
	{ LUN_CAP_PR, "persistent-reservations" },
	{ LUN_CAP_SHARED, "shared" },
	{ LUN_CAP_DISCARD, "discard" },
	{ LUN_CAP_FIXED_BUFS, "fixed-buffers" },
};

static void
print_info_json(const char *uri, const struct lun_info *info)
{
	struct json_writer w;

	json_writer_init(&w, stdout);
	json_obj_begin(&w, NULL);
	json_str(&w, "uri", uri);
	json_str(&w, "scheme", info->scheme);
	json_u64(&w, "size_bytes", info->size_bytes);
	json_u64(&w, "logical_sector_bytes", info->logical_sector_bytes);
	json_u64(&w, "physical_sector_bytes", info->physical_sector_bytes);
	json_u64(&w, "max_io_bytes", info->max_io_bytes);
	json_u64(&w, "queue_depth", info->queue_depth);
	json_str(&w, "ats_method", lun_ats_method_name(info->ats_method));
	json_arr_begin(&w, "caps");
	for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
		if (info->caps & cap_names[i].bit)
			json_str(&w, NULL, cap_names[i].name);
	json_arr_end(&w);
	json_obj_end(&w);
	json_end_document(&w);
}

static void
print_info_text(const char *uri, const struct lun_info *info)
{
	char size[32];

	printf("LUN:             %s\n", uri);
	printf("backend:         %s\n", info->scheme);
	printf("size:            %s (%" PRIu64 " bytes)\n",
	       cli_format_size(info->size_bytes, size, sizeof(size)),
	       info->size_bytes);
	printf("sectors:         %u logical, %u physical\n",
	       info->logical_sector_bytes, info->physical_sector_bytes);
	printf("max request:     %u bytes, queue depth %u\n",
	       info->max_io_bytes, info->queue_depth);
	printf("atomic test-set: %s\n", lun_ats_method_name(info->ats_method));
	printf("capabilities:   ");
	for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
		if (info->caps & cap_names[i].bit)
			printf(" %s", cap_names[i].name);
	printf("\n");
}

static int
cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool json = false;
	struct lun *lun;
	int c;

	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'h')
			return printf("Usage: vlun info LUN [--json]\n\n"
				      "Shows size, sector sizes, the atomic "
				      "test-and-set method and capabilities.\n"),
			       0;
		else
			return CLI_EXIT_USAGE;
	}
	if (argc - optind != 1)
		return cli_usage_error("info takes one LUN");
	if (open_lun(argv[optind], true, &lun) < 0)
		return CLI_EXIT_FAIL;
	if (json)
		print_info_json(argv[optind], lun_get_info(lun));
	else
		print_info_text(argv[optind], lun_get_info(lun));
	lun_close(lun);
	return 0;
}

/* ---- create ---- */

static int
cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "prealloc", no_argument, NULL, 'p' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool prealloc = false, force = false;
	uint64_t size = 0;
	int c, fd, flags, err;

	while ((c = getopt_long(argc, argv, "s:pfh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (cli_parse_size(optarg, &size) < 0 || size == 0 ||
			    size % 4096)
				return cli_usage_error(
					"bad size '%s' (a multiple of 4K)",
					optarg);
			break;
		case 'p': prealloc = true; break;
		case 'f': force = true; break;
		case 'h':
			printf("Usage: vlun create PATH --size SIZE "
			       "[--prealloc] [--force]\n\nCreates a file LUN "
			       "(sparse unless --prealloc); refuses to "
			       "overwrite an existing file without --force.\n");
			return 0;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind != 1 || !size)
		return cli_usage_error("create takes PATH and --size");
	flags = O_RDWR | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
	fd = open(argv[optind], flags, 0600);
	if (fd < 0) {
		cli_error("%s: %s%s", argv[optind], strerror(errno),
			  errno == EEXIST ? " (use --force to replace it)" : "");
		return CLI_EXIT_FAIL;
	}
	if (prealloc)
		err = posix_fallocate(fd, 0, (off_t)size);
	else
		err = ftruncate(fd, (off_t)size) < 0 ? errno : 0;
	if (err) {
		cli_error("%s: cannot size to %" PRIu64 ": %s", argv[optind],
			  size, strerror(err));
		close(fd);
		return CLI_EXIT_FAIL;
	}
	close(fd);
	return 0;
}

/* ---- read / write / verify ---- */

static int
cmd_read(int argc, char **argv)
{
	uint64_t off, len;
	struct lun *lun;
	void *buf;
	int err, fd = STDOUT_FILENO;

	if (argc >= 2 && !strcmp(argv[1], "--help"))
		return printf("Usage: vlun read LUN OFFSET LENGTH [OUTFILE]\n\n"
			      "Copies bytes to OUTFILE or stdout.\n"),
		       0;
	if (argc < 4 || argc > 5)
		return cli_usage_error("read takes LUN OFFSET LENGTH [OUTFILE]");
	if (parse_range(argv[2], argv[3], &off, &len))
		return CLI_EXIT_USAGE;
	if (argc == 5) {
		fd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			  0644);
		if (fd < 0) {
			cli_error("%s: %s", argv[4], strerror(errno));
			return CLI_EXIT_FAIL;
		}
	}
	if (open_lun(argv[1], true, &lun) < 0)
		return CLI_EXIT_FAIL;
	buf = aligned_buf(len);
	err = buf ? lun_read(lun, off, buf, len) : -ENOMEM;
	if (err < 0)
		cli_error("read %" PRIu64 "+%" PRIu64 ": %s", off, len,
			  strerror(-err));
	else if (write(fd, buf, len) != (ssize_t)len)
		err = -errno;
	free(buf);
	lun_close(lun);
	if (fd != STDOUT_FILENO)
		close(fd);
	return cli_exit_code(err);
}

static int
cmd_write_or_verify(int argc, char **argv, bool verify)
{
	uint64_t off, len, seed;
	unsigned int flags = 0;
	struct lun *lun;
	void *buf;
	int err;

	if (argc >= 2 && !strcmp(argv[1], "--help"))
		return printf("Usage: vlun %s LUN OFFSET LENGTH SEED%s\n\n%s\n",
			      verify ? "verify" : "write",
			      verify ? "" : " [--fua]",
			      verify ? "Checks the pattern 'vlun write' wrote "
				       "with SEED." :
				       "Writes a position-dependent pattern "
				       "derived from SEED."),
		       0;
	if (!verify && argc == 6 && !strcmp(argv[5], "--fua")) {
		flags = LUN_IO_FUA;
		argc--;
	}
	if (argc != 5)
		return cli_usage_error("takes LUN OFFSET LENGTH SEED");
	if (parse_range(argv[2], argv[3], &off, &len))
		return CLI_EXIT_USAGE;
	if (cli_parse_u64(argv[4], 0, UINT64_MAX, &seed) < 0)
		return cli_usage_error("bad seed '%s'", argv[4]);
	if (open_lun(argv[1], verify, &lun) < 0)
		return CLI_EXIT_FAIL;
	buf = aligned_buf(len);
	if (!buf) {
		lun_close(lun);
		return CLI_EXIT_FAIL;
	}
	if (verify) {
		err = lun_read(lun, off, buf, len);
		if (err == 0 && !pattern_check(buf, len, seed, off)) {
			cli_error("verify %" PRIu64 "+%" PRIu64
				  ": data differs from pattern %" PRIu64,
				  off, len, seed);
			err = -EUCLEAN;
		}
	} else {
		pattern_fill(buf, len, seed, off);
		err = lun_write(lun, off, buf, len, flags);
	}
	if (err < 0 && err != -EUCLEAN)
		cli_error("%s %" PRIu64 "+%" PRIu64 ": %s",
			  verify ? "read" : "write", off, len, strerror(-err));
	free(buf);
	lun_close(lun);
	return cli_exit_code(err);
}

static int
cmd_write(int argc, char **argv)
{
	return cmd_write_or_verify(argc, argv, false);
}

static int
cmd_verify(int argc, char **argv)
{
	return cmd_write_or_verify(argc, argv, true);
}

/* ---- ats ---- */

static int
cmd_ats(int argc, char **argv)
{
	uint64_t off;
	uint32_t s;
	struct lun *lun;
	char *expect, *set;
	int rc;

	if (argc >= 2 && !strcmp(argv[1], "--help"))
		return printf("Usage: vlun ats LUN OFFSET EXPECTED NEW\n\n"
			      "Atomically replaces the sector at OFFSET with "
			      "the text NEW (zero padded)\nif it holds the "
			      "text EXPECTED (zero padded; \"\" for a zeroed "
			      "sector).\nExit 0 swapped, 1 the sector held "
			      "something else (it is printed).\n"),
		       0;
	if (argc != 5)
		return cli_usage_error("ats takes LUN OFFSET EXPECTED NEW");
	if (parse_range(argv[2], NULL, &off, NULL))
		return CLI_EXIT_USAGE;
	if (open_lun(argv[1], false, &lun) < 0)
		return CLI_EXIT_FAIL;
	s = lun_get_info(lun)->logical_sector_bytes;
	expect = aligned_buf(s + 1);
	set = aligned_buf(s + 1);
	if (strlen(argv[3]) >= s || strlen(argv[4]) >= s) {
		lun_close(lun);
		return cli_usage_error("texts must be shorter than a sector");
	}
	strcpy(expect, argv[3]);
	strcpy(set, argv[4]);
	rc = lun_ats(lun, off, expect, set, s);
	if (rc == LUN_ATS_MISCOMPARE) {
		if (lun_read(lun, off, expect, s) == 0) {
			expect[s] = '\0';
			cli_error("miscompare: the sector holds \"%.*s\"", 64,
				  expect);
		}
		rc = -EAGAIN;
	} else if (rc < 0) {
		cli_error("ats at %" PRIu64 ": %s", off, strerror(-rc));
	} else {
		printf("swapped (%s)\n",
		       lun_ats_method_name(lun_get_info(lun)->ats_method));
	}
	free(expect);
	free(set);
	lun_close(lun);
	return rc == -EAGAIN ? CLI_EXIT_FAIL : cli_exit_code(rc);
}

/* ---- pr ---- */

static const char *
pr_type_name(enum lun_pr_type t)
{
	switch (t) {
	case LUN_PR_WRITE_EXCLUSIVE: return "write-exclusive";
	case LUN_PR_EXCLUSIVE_ACCESS: return "exclusive-access";
	case LUN_PR_WRITE_EXCLUSIVE_REG_ONLY: return "write-exclusive-registrants-only";
	case LUN_PR_EXCLUSIVE_ACCESS_REG_ONLY: return "exclusive-access-registrants-only";
	case LUN_PR_WRITE_EXCLUSIVE_ALL_REG: return "write-exclusive-all-registrants";
	case LUN_PR_EXCLUSIVE_ACCESS_ALL_REG: return "exclusive-access-all-registrants";
	}
	return "unknown";
}

static int
pr_show(struct lun *lun, bool json)
{
	struct lun_pr_state st;
	struct json_writer w;
	int err = lun_pr_read(lun, &st);

	if (err < 0) {
		cli_error("reading reservations: %s", strerror(-err));
		return cli_exit_code(err);
	}
	if (!json) {
		printf("generation %u, %u registered key(s)\n", st.generation,
		       st.nkeys);
		for (uint32_t i = 0; i < st.nkeys && i < ARRAY_SIZE(st.keys); i++)
			printf("  key 0x%016" PRIx64 "\n", st.keys[i]);
		if (st.reserved)
			printf("reservation: %s, holder 0x%016" PRIx64 "\n",
			       pr_type_name(st.type), st.holder_key);
		else
			printf("reservation: none\n");
		return 0;
	}
	json_writer_init(&w, stdout);
	json_obj_begin(&w, NULL);
	json_u64(&w, "generation", st.generation);
	json_arr_begin(&w, "keys");
	for (uint32_t i = 0; i < st.nkeys && i < ARRAY_SIZE(st.keys); i++)
		json_u64(&w, NULL, st.keys[i]);
	json_arr_end(&w);
	json_bool(&w, "reserved", st.reserved);
	if (st.reserved) {
		json_str(&w, "type", pr_type_name(st.type));
		json_u64(&w, "holder_key", st.holder_key);
	}
	json_obj_end(&w);
	json_end_document(&w);
	return 0;
}

static int
cmd_pr(int argc, char **argv)
{
	bool json = argc > 3 && !strcmp(argv[argc - 1], "--json");
	uint64_t key = 0, victim;
	struct lun *lun;
	int err;

	if (argc >= 2 && !strcmp(argv[1], "--help"))
		return printf("Usage: vlun pr LUN show [--json]\n"
			      "       vlun pr LUN preempt VICTIM-KEY [OWN-KEY]\n\n"
			      "Shows SCSI-3 persistent reservations, or "
			      "registers OWN-KEY (default: derived from the "
			      "host) and removes every registration of "
			      "VICTIM-KEY, fencing that host.\n"),
		       0;
	if (argc < 3)
		return cli_usage_error("pr takes LUN and show|preempt");
	if (json)
		argc--;
	/* Showing registers nothing: read-only. */
	if (open_lun(argv[1], !strcmp(argv[2], "show"), &lun) < 0)
		return CLI_EXIT_FAIL;
	if (!strcmp(argv[2], "show") && argc == 3) {
		err = pr_show(lun, json);
		lun_close(lun);
		return err;
	}
	if (strcmp(argv[2], "preempt") || argc < 4 || argc > 5 ||
	    cli_parse_u64(argv[3], 1, UINT64_MAX, &victim) < 0 ||
	    (argc == 5 && cli_parse_u64(argv[4], 1, UINT64_MAX, &key) < 0)) {
		lun_close(lun);
		return cli_usage_error("pr: expected 'show' or 'preempt KEY [OWN-KEY]'");
	}
	err = lun_pr_register(lun, key ? key : lun_pr_key(lun) ? lun_pr_key(lun) :
					     0x76756e0000000000ull | (uint64_t)getpid());
	if (err == 0)
		err = lun_pr_preempt(lun, victim, LUN_PR_WRITE_EXCLUSIVE_ALL_REG,
				     true);
	if (err < 0)
		cli_error("preempt 0x%" PRIx64 ": %s", victim, strerror(-err));
	lun_close(lun);
	return cli_exit_code(err);
}

static const struct cli_cmd commands[] = {
	{ "info", "LUN [--json]", "size, sectors, ATS method, capabilities",
	  cmd_info },
	{ "create", "PATH --size SIZE [--prealloc]", "create a file LUN",
	  cmd_create },
	{ "read", "LUN OFFSET LENGTH [OUTFILE]", "copy bytes out of a LUN",
	  cmd_read },
	{ "write", "LUN OFFSET LENGTH SEED [--fua]",
	  "write a checkable pattern", cmd_write },
	{ "verify", "LUN OFFSET LENGTH SEED", "check a pattern", cmd_verify },
	{ "ats", "LUN OFFSET EXPECTED NEW", "atomic test-and-set of a sector",
	  cmd_ats },
	{ "pr", "LUN show|preempt ...", "SCSI-3 persistent reservations",
	  cmd_pr },
	{ "bench", "LUN [--rw MODE] [--bs SIZE] [--qd N] [--seconds N]",
	  "measure IOPS, bandwidth and latency", vlun_cmd_bench },
};

int
main(int argc, char **argv)
{
	return cli_dispatch("vlun", "Inspect, exercise and benchmark LUNs.",
			    commands, ARRAY_SIZE(commands), argc, argv);
}
