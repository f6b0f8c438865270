/* SPDX-License-Identifier: MIT */
/*
 * vmm: runs one VM from a vm.cfg file until it powers off or vmctl
 * stops it.
 *   vmm [--set KEY=VALUE]... [--undoable keep|discard|commit]
 *       [--log LEVEL] vm.cfg
 *   vmm keys [--json]   lists the configuration keys
 * Exit: 0 the VM ended normally (or the test guest reported success),
 * 1 it failed or the test guest reported failure, 2 usage or config
 * error. SIGINT/SIGTERM power the VM off. At the end, the disks' modes
 * apply: nonpersistent changes are discarded; undoable ones follow
 * vmctl's --undoable, else ours, else a question on the terminal, else
 * they are kept.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/log.h"
#include "vmm/vmm.h"

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: vmm [OPTIONS] VM.CFG\n"
		"       vmm keys [--json]\n\n"
		"Runs one virtual machine described by VM.CFG (key = value lines)\n"
		"until it powers off or 'vmctl SOCKET stop|poweroff' ends it.\n\n"
		"Options:\n"
		"  --set KEY=VALUE  override one config key (repeatable)\n"
		"  --undoable WHAT  at the end, keep, discard or commit the\n"
		"                   changes of undoable disks (default: ask on\n"
		"                   a terminal, else keep)\n"
		"  --log LEVEL      error, warn, info or debug (default warn)\n"
		"  -h, --help       this text\n\n"
		"Exit status: 0 normal end (test guest passed), 1 failure,\n"
		"2 usage or configuration error.\n");
}

struct sig_ctx {
	struct vmm_vm *vm;
	sigset_t set;
};

static void *
signal_thread(void *arg)
{
	struct sig_ctx *s = arg;
	int sig;

	if (sigwait(&s->set, &sig) == 0)
		vmm_vm_request_exit(s->vm, VMM_EXIT_POWEROFF);
	return NULL;
}

static int
apply_sets(struct vmm_config *cfg, char **sets, int nsets)
{
	char err[512];

	for (int i = 0; i < nsets; i++) {
		char *eq = strchr(sets[i], '=');

		if (!eq)
			return cli_usage_error("--set needs KEY=VALUE, got '%s'",
					       sets[i]);
		*eq = '\0';
		if (vmm_config_set(cfg, sets[i], eq + 1, err, sizeof(err)) < 0) {
			cli_error("--set %s: %s", sets[i], err);
			return CLI_EXIT_USAGE;
		}
	}
	return 0;
}

/* Asks on the terminal what to do with the undoable disks' changes. */
static enum vmm_undoable
ask_undoable(const struct vmm_config *cfg, unsigned int ndisks)
{
	char line[64];
	enum vmm_undoable how;

	for (;;) {
		fprintf(stderr, "%s: %u undoable disk%s: keep, discard or commit "
			"the changes of this run? [keep] ", vmm_config_name(cfg),
			ndisks, ndisks == 1 ? "" : "s");
		fflush(stderr);
		if (!fgets(line, sizeof(line), stdin))
			return VMM_UNDOABLE_KEEP;
		line[strcspn(line, " \r\n")] = '\0';
		if (!line[0])
			return VMM_UNDOABLE_KEEP;
		if (vmm_undoable_parse(line, &how) == 0)
			return how;
	}
}

static int
run(struct vmm_config *cfg, enum vmm_undoable undoable)
{
	unsigned int nundo;
	struct sig_ctx sc = { 0 };
	struct vmm_vm *vm;
	pthread_t th;
	enum vmm_exit how;
	int code = 0, err;

	/* Signals go to one thread that turns them into a power-off. */
	sigemptyset(&sc.set);
	sigaddset(&sc.set, SIGINT);
	sigaddset(&sc.set, SIGTERM);
	sigaddset(&sc.set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sc.set, NULL);
	signal(SIGPIPE, SIG_IGN);
	err = vmm_vm_create(cfg, &vm);
	if (err < 0) {
		cli_error("%s: cannot start: %s (see the messages above)",
			  vmm_config_name(cfg), strerror(-err));
		return cli_exit_code(err);
	}
	sc.vm = vm;
	pthread_create(&th, NULL, signal_thread, &sc);
	pthread_detach(th);
	vmm_vm_set_undoable(vm, undoable);
	how = vmm_vm_run(vm, &code);
	undoable = vmm_vm_undoable(vm, &nundo);
	if (undoable == VMM_UNDOABLE_ASK && nundo && isatty(STDIN_FILENO) &&
	    isatty(STDERR_FILENO))
		undoable = ask_undoable(cfg, nundo);
	if (vmm_vm_close_disks(vm, undoable, stderr) < 0 &&
	    how != VMM_EXIT_ERROR) {
		vmm_vm_destroy(vm);
		return CLI_EXIT_FAIL;
	}
	vmm_vm_destroy(vm);
	switch (how) {
	case VMM_EXIT_GUEST_CODE:
		if (code)
			cli_error("%s: test guest exited with code %d",
				  vmm_config_name(cfg), code);
		return code ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	case VMM_EXIT_ERROR:
		return CLI_EXIT_FAIL;
	default:
		return CLI_EXIT_OK;
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "set", required_argument, NULL, 's' },
		{ "undoable", required_argument, NULL, 'u' },
		{ "log", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "json", no_argument, NULL, 'j' },
		{ 0 },
	};
	struct vmm_config *cfg;
	char err[512], *sets[64];
	enum vmm_undoable undoable = VMM_UNDOABLE_ASK;
	bool json = false;
	enum log_level lvl;
	int c, nsets = 0, rc;

	/*
	 * The VMM's own memory is part of what a VM costs (DESIGN 6: <= 8
	 * MiB beyond guest RAM). One malloc arena for all threads (each
	 * thread's arena kept ~600 KiB), and a fixed mmap threshold: glibc
	 * otherwise raises it after the datastore's transient 0.5-1 MiB I/O
	 * buffers (mount, journal replay, lock scans) are freed, so the next
	 * ones come from the heap and stay resident for the VM's lifetime.
	 */
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 128 << 10);

	cli_set_prog("vmm");
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (nsets == (int)ARRAY_SIZE(sets))
				return cli_usage_error("too many --set options");
			sets[nsets++] = optarg;
			break;
		case 'u':
			if (vmm_undoable_parse(optarg, &undoable) < 0)
				return cli_usage_error("--undoable takes keep, "
						       "discard or commit");
			break;
		case 'l':
			if (log_parse_level(optarg, &lvl) < 0)
				return cli_usage_error("unknown log level '%s'",
						       optarg);
			log_set_level(lvl);
			break;
		case 'h':
			usage(stdout);
			return CLI_EXIT_OK;
		case 'j':
			json = true;
			break;
		case 'V':
			printf("vmm %s\n", VSTACK_VERSION);
			return CLI_EXIT_OK;
		default:
			return cli_usage_error("unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("expected one VM.CFG argument");
	if (!strcmp(argv[optind], "keys") && json) {
		vmm_config_print_keys_json(stdout);
		return CLI_EXIT_OK;
	}
	if (json)
		return cli_usage_error("--json goes with 'vmm keys'");
	if (!strcmp(argv[optind], "keys")) {
		printf("Keys of a vm.cfg file:\n");
		vmm_config_print_keys(stdout);
		return CLI_EXIT_OK;
	}
	if (vmm_config_load(argv[optind], &cfg, err, sizeof(err)) < 0) {
		cli_error("%s", err);
		return CLI_EXIT_USAGE;
	}
	rc = apply_sets(cfg, sets, nsets);
	if (rc == 0)
		rc = run(cfg, undoable);
	vmm_config_free(cfg);
	return rc;
}
