/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the C tests: checks that report file and line, the exit
 * codes meson understands (0 pass, 1 fail, 77 skip), temporary folders,
 * free loopback ports, and the fixtures every integration test shares
 * (a private tgtd iSCSI target, network namespaces, hugepages).
 *
 * Fixtures start their own processes and stop them by pid, never by name.
 */
#ifndef TESTS_TESTUTIL_H
#define TESTS_TESTUTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define TEST_SKIP 77

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: %s: check failed: %s\n",   \
				__FILE__, __LINE__, __func__, #cond);      \
			exit(1);                                           \
		}                                                          \
	} while (0)

/* Checks an int-returning call for an exact value, printing both sides. */
#define CHECK_EQ(expr, want)                                               \
	do {                                                               \
		long long got_ = (long long)(expr);                        \
		long long want_ = (long long)(want);                       \
		if (got_ != want_) {                                       \
			fprintf(stderr,                                    \
				"%s:%d: %s: %s == %lld, want %lld (%s)\n", \
				__FILE__, __LINE__, __func__, #expr, got_, \
				want_, got_ < 0 ? strerror((int)-got_) : ""); \
			exit(1);                                           \
		}                                                          \
	} while (0)

#define CHECK_OK(expr) CHECK_EQ(expr, 0)

/* Prints the reason and exits 77. */
void test_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Runs one test function, printing its name and time. */
#define RUN_TEST(fn) test_run(#fn, fn)
void test_run(const char *name, void (*fn)(void));

/* True when running as root (namespaces, tgtd, hugepages need it). */
bool test_is_root(void);
/* True under AddressSanitizer (some tests scale down). */
bool test_is_sanitized(void);
/* Skips unless root. */
void test_require_root(void);

/*
 * A fresh folder under $TMPDIR (or /tmp), removed with everything in it by
 * test_tmpdir_remove(). Returns a static-lifetime string.
 */
const char *test_tmpdir(void);
void test_tmpdir_remove(void);
/* Creates a sparse file of 'size' bytes at 'path'; 0 or -errno. */
int test_make_file(const char *path, uint64_t size);
/* Fills with a pattern derived from (seed, offset) and checks it. */
void test_pattern_fill(void *buf, size_t len, uint64_t seed, uint64_t offset);
bool test_pattern_check(const void *buf, size_t len, uint64_t seed,
			uint64_t offset);

/* A TCP port on 127.0.0.1 that was free a moment ago; -errno on failure. */
int test_free_port(void);
/* Runs a shell command, returning its exit status (or -1). */
int test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Finds an executable on PATH (or the absolute path given). */
bool test_have_program(const char *name);

/* ---- tgtd: a private iSCSI target on a free loopback port ---- */

#define TGT_MAX_LUNS 8

struct tgt_fixture {
	pid_t pid;
	int port;             /* iSCSI portal on 127.0.0.1 */
	int control_port;     /* tgtadm -C */
	char iqn[128];
	char dir[512];        /* backing files live here */
	unsigned int nluns;
	char url[TGT_MAX_LUNS][256];   /* iscsi://127.0.0.1:PORT/IQN/N */
	char file[TGT_MAX_LUNS][600];
};

/*
 * Starts tgtd with one target and 'nluns' LUNs of 'lun_bytes' each, backed
 * by files in 'dir'. Returns 0, TEST_SKIP (tgtd missing or not root; a
 * message says why), or -errno.
 */
int tgt_start(struct tgt_fixture *t, const char *dir, unsigned int nluns,
	      uint64_t lun_bytes);
/*
 * Starts tgtd again on the same port with the same target and LUN files
 * (data kept), after the test killed it (t->pid must be 0: reap it and
 * clear it first). Persistent reservations do not survive: tgtd keeps
 * them in memory. Returns 0 or -errno.
 */
int tgt_restart(struct tgt_fixture *t);
/* Kills the tgtd started by tgt_start() (by pid) and waits for it. */
void tgt_stop(struct tgt_fixture *t);

/* ---- network namespaces ---- */

/*
 * Names are "vt<pid>-<name>" so parallel tests never collide; 'out' gets
 * the full name. Returns 0 or -errno.
 */
int netns_create(const char *name, char *out, size_t outlen);
void netns_destroy(const char *full_name);

/* ---- hugepages ---- */

/* Tries to have at least 'pages' 2 MiB pages free; returns how many are. */
long hugepages_reserve(long pages);

#endif
