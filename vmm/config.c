/* SPDX-License-Identifier: MIT */
/*
 * vm.cfg parser: "key = value" lines, '#' comments, values optionally in
 * double quotes (with \" and \\ escapes), keys case-insensitive, as in a
 * VMware .vmx file. One declarative table names every key, its type,
 * bounds and meaning; it drives parsing, vmm_config_set() and the key
 * list in --help. Every error names the file, the line and the key.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/json.h"
#include "vmm/config.h"

#define CFG_MAX_LINE 4096
#define CFG_MAX_FILE (1u << 20)

enum key_type {
	KT_STR,
	KT_PATH,
	KT_SIZE,
	KT_UINT,
	KT_BOOL,
	KT_LATENCY,   /* normal or high */
	KT_SERIAL,
	KT_CONSOLE,   /* virtio-console back end */
	KT_DISK,      /* diskN */
	KT_DISK_MODE, /* diskN.mode */
	KT_DISK_RO,   /* diskN.readonly */
	KT_NIC,       /* nicN */
	KT_NIC_MAC,   /* nicN.mac */
};

struct key_def {
	const char *name;    /* "disk#" stands for disk0..disk7 */
	enum key_type type;
	size_t off;          /* field in struct vmm_config (scalar keys) */
	uint64_t min, max;   /* KT_SIZE, KT_UINT */
	const char *help;
};

#define F(m) offsetof(struct vmm_config, m)

static const struct key_def keys[] = {
	{ "name", KT_STR, F(name), 0, 0, "VM name, shown by vmctl status" },
	{ "memory", KT_SIZE, F(memory_bytes), 2u << 20, 1ull << 40,
	  "guest RAM (K/M/G suffixes), default 128M" },
	{ "vcpus", KT_UINT, F(vcpus), 1, VMM_MAX_VCPUS,
	  "number of virtual CPUs, default 1" },
	{ "kernel", KT_PATH, F(kernel), 0, 0,
	  "Linux bzImage to boot (needs hardware KVM, not PVM)" },
	{ "initrd", KT_PATH, F(initrd), 0, 0, "initramfs for 'kernel'" },
	{ "cmdline", KT_STR, F(cmdline), 0, 0,
	  "kernel command line, or the test guest's mode words" },
	{ "testguest", KT_PATH, F(testguest), 0, 0,
	  "flat binary of the freestanding test guest (instead of kernel)" },
	{ "serial", KT_SERIAL, 0, 0, 0,
	  "console: stdio, none, file:PATH or unix:PATH (listening socket)" },
	{ "console", KT_CONSOLE, 0, 0, 0,
	  "virtio-console (hvc0): none (default: no device), stdio, "
	  "file:PATH or unix:PATH" },
	{ "control", KT_PATH, F(control), 0, 0,
	  "control socket path for vmctl" },
	{ "ksm", KT_BOOL, F(ksm), 0, 0,
	  "offer guest memory to KSM page sharing (not with vhost-user NICs)" },
	{ "balloon", KT_BOOL, F(balloon), 0, 0,
	  "add a virtio-balloon device, default true" },
	{ "cpu.shares", KT_UINT, F(cpu_shares), 2, 262144,
	  "relative CPU weight through cgroups (1024 = normal)" },
	{ "cpu.latency", KT_LATENCY, F(latency_high), 0, 0,
	  "normal (default) or high: vCPUs and disk I/O threads poll "
	  "briefly instead of sleeping (lower I/O latency, more host CPU)" },
	{ "memory.limit", KT_SIZE, F(memory_limit_bytes), 1u << 20,
	  1ull << 42, "memory limit of the VMM process through cgroups" },
	{ "disk#", KT_DISK, 0, 0, 0,
	  "virtio-blk disk, # = 0..7: LUN:/dir/disk.vmdk (datastore), a "
	  "vdisk descriptor, or a raw image file or block device" },
	{ "disk#.mode", KT_DISK_MODE, 0, 0, 0,
	  "persistent, nonpersistent or undoable" },
	{ "disk#.readonly", KT_DISK_RO, 0, 0, 0, "true: the guest cannot write" },
	{ "nic#", KT_NIC, 0, 0, 0,
	  "vhostuser:PATH, a vhost-user socket the VMM listens on, # = 0..3" },
	{ "nic#.mac", KT_NIC_MAC, 0, 0, 0,
	  "MAC address xx:xx:xx:xx:xx:xx, default 52:54:00:xx:xx:xx" },
};

struct parse_ctx {
	struct vmm_config *cfg;
	unsigned int line;
	char *err;
	size_t errlen;
};

static int printf_like(4, 5)
fail(struct parse_ctx *p, unsigned int line, const char *key,
     const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->err && p->errlen) {
		char where[300];

		/* Line 0: a key set from the command line (--set). */
		if (line)
			snprintf(where, sizeof(where), "%s:%u", p->cfg->file, line);
		else
			snprintf(where, sizeof(where), "%s", p->cfg->file);
		if (key)
			snprintf(p->err, p->errlen, "%s: key '%s': %s", where,
				 key, msg);
		else
			snprintf(p->err, p->errlen, "%s: %s", where, msg);
	}
	return -EINVAL;
}

/* Matches "disk3.mode" against "disk#.mode"; '*idx' gets 3. */
static bool
key_match(const char *pat, const char *key, unsigned int *idx)
{
	while (*pat) {
		if (*pat == '#') {
			if (!isdigit((unsigned char)*key))
				return false;
			*idx = (unsigned int)(*key - '0');
			key++;
			if (isdigit((unsigned char)*key))
				return false; /* one digit: at most 8 disks */
			pat++;
			continue;
		}
		if (tolower((unsigned char)*pat) != tolower((unsigned char)*key))
			return false;
		pat++;
		key++;
	}
	return *key == '\0';
}

static int
set_str(struct parse_ctx *p, char **field, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*field);
	*field = s;
	return 0;
}

static int
set_path(struct parse_ctx *p, const char *key, char **field, const char *v)
{
	char *s;

	if (!*v)
		return fail(p, p->line, key, "empty path");
	if (v[0] == '/' || !p->cfg->basedir)
		return set_str(p, field, v);
	if (asprintf(&s, "%s/%s", p->cfg->basedir, v) < 0)
		return -ENOMEM;
	free(*field);
	*field = s;
	return 0;
}

/*
 * A disk is a local path or a datastore file "LUN:/dir/disk.vmdk" (the
 * last ':' followed by '/' that is not part of "://"). A LUN given as a
 * relative file name is relative to the config file like other paths;
 * URIs (iscsi://..., mem:..., faulty,...:...) are kept as they are.
 */
static int
set_disk_path(struct parse_ctx *p, const char *key, char **field,
	      const char *v)
{
	const char *sep = NULL;
	char *s;

	for (const char *q = v; (q = strstr(q, ":/")) != NULL; q += 2)
		if (q > v && q[2] != '/')
			sep = q;
	if (!sep || v[0] == '/' || !p->cfg->basedir)
		return set_path(p, key, field, v);
	if (memchr(v, ':', (size_t)(sep - v)))
		return set_str(p, field, v);
	if (asprintf(&s, "%s/%s", p->cfg->basedir, v) < 0)
		return -ENOMEM;
	free(*field);
	*field = s;
	return 0;
}

static int
parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(v, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int
parse_mac(const char *v, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;

	if (strlen(v) != 17 ||
	    sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (!isxdigit((unsigned char)v[i * 3]) ||
		    !isxdigit((unsigned char)v[i * 3 + 1]))
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	if (mac[0] & 1)
		return -EDOM; /* multicast bit set */
	return 0;
}

/* A console back end: stdio, none, file:PATH or unix:PATH. */
static int
set_chardev(struct parse_ctx *p, const char *key, const char *v,
	    enum vmm_serial_kind *kind, char **path)
{
	if (!strcasecmp(v, "stdio")) {
		*kind = VMM_SERIAL_STDIO;
	} else if (!strcasecmp(v, "none")) {
		*kind = VMM_SERIAL_NONE;
	} else if (!strncmp(v, "file:", 5)) {
		*kind = VMM_SERIAL_FILE;
		return set_path(p, key, path, v + 5);
	} else if (!strncmp(v, "unix:", 5)) {
		*kind = VMM_SERIAL_UNIX;
		return set_path(p, key, path, v + 5);
	} else {
		return fail(p, p->line, key,
			    "expected stdio, none, file:PATH or unix:PATH");
	}
	return 0;
}

static int
set_scalar(struct parse_ctx *p, const struct key_def *d, const char *key,
	   const char *v)
{
	char *base = (char *)p->cfg;
	char buf[32];
	uint64_t n;
	bool b;
	int err;

	switch (d->type) {
	case KT_STR:
		return set_str(p, (char **)(base + d->off), v);
	case KT_PATH:
		return set_path(p, key, (char **)(base + d->off), v);
	case KT_SERIAL:
		return set_chardev(p, key, v, &p->cfg->serial,
				   &p->cfg->serial_path);
	case KT_CONSOLE:
		return set_chardev(p, key, v, &p->cfg->console,
				   &p->cfg->console_path);
	case KT_BOOL:
		if (parse_bool(v, &b) < 0)
			return fail(p, p->line, key, "expected true or false");
		*(bool *)(base + d->off) = b;
		return 0;
	case KT_LATENCY:
		if (!strcasecmp(v, "normal"))
			b = false;
		else if (!strcasecmp(v, "high"))
			b = true;
		else
			return fail(p, p->line, key,
				    "expected normal or high, got '%s'", v);
		*(bool *)(base + d->off) = b;
		return 0;
	case KT_SIZE:
		err = cli_parse_size(v, &n);
		if (err == 0 && (n < d->min || n > d->max))
			err = -ERANGE;
		if (err < 0)
			return fail(p, p->line, key,
				    "expected a size from %s to %s, got '%s'",
				    cli_format_size(d->min, buf, 16),
				    cli_format_size(d->max, buf + 16, 16), v);
		*(uint64_t *)(base + d->off) = n;
		return 0;
	case KT_UINT:
		if (cli_parse_u64(v, d->min, d->max, &n) < 0)
			return fail(p, p->line, key,
				    "expected a number from %" PRIu64
				    " to %" PRIu64 ", got '%s'",
				    d->min, d->max, v);
		if (d->off == F(vcpus))
			p->cfg->vcpus = (unsigned int)n;
		else
			*(uint64_t *)(base + d->off) = n;
		return 0;
	default:
		return -EINVAL;
	}
}

static int
set_indexed(struct parse_ctx *p, const struct key_def *d, const char *key,
	    unsigned int idx, const char *v)
{
	struct vmm_config *c = p->cfg;
	struct vmm_disk_cfg *disk = &c->disk[idx % VMM_MAX_DISKS];
	struct vmm_nic_cfg *nic = &c->nic[idx % VMM_MAX_NICS];
	int err;

	switch (d->type) {
	case KT_DISK:
		if (idx >= VMM_MAX_DISKS)
			return fail(p, p->line, key, "at most %d disks",
				    VMM_MAX_DISKS);
		disk->line = p->line;
		return set_disk_path(p, key, &disk->path, v);
	case KT_DISK_MODE:
		if (idx >= VMM_MAX_DISKS)
			return fail(p, p->line, key, "at most %d disks",
				    VMM_MAX_DISKS);
		if (!strcasecmp(v, "persistent"))
			disk->mode = VMM_DISK_PERSISTENT;
		else if (!strcasecmp(v, "nonpersistent"))
			disk->mode = VMM_DISK_NONPERSISTENT;
		else if (!strcasecmp(v, "undoable"))
			disk->mode = VMM_DISK_UNDOABLE;
		else
			return fail(p, p->line, key,
				    "expected persistent, nonpersistent or "
				    "undoable, got '%s'", v);
		disk->mode_line = p->line;
		disk->mode_set = true;
		return 0;
	case KT_DISK_RO:
		if (idx >= VMM_MAX_DISKS)
			return fail(p, p->line, key, "at most %d disks",
				    VMM_MAX_DISKS);
		if (parse_bool(v, &disk->readonly) < 0)
			return fail(p, p->line, key, "expected true or false");
		return 0;
	case KT_NIC:
		if (idx >= VMM_MAX_NICS)
			return fail(p, p->line, key, "at most %d NICs",
				    VMM_MAX_NICS);
		if (strncmp(v, "vhostuser:", 10) != 0)
			return fail(p, p->line, key,
				    "expected vhostuser:PATH, got '%s'", v);
		nic->line = p->line;
		return set_path(p, key, &nic->socket, v + 10);
	case KT_NIC_MAC:
		if (idx >= VMM_MAX_NICS)
			return fail(p, p->line, key, "at most %d NICs",
				    VMM_MAX_NICS);
		err = parse_mac(v, nic->mac);
		if (err == -EDOM)
			return fail(p, p->line, key,
				    "'%s' is a multicast address", v);
		if (err < 0)
			return fail(p, p->line, key,
				    "expected xx:xx:xx:xx:xx:xx, got '%s'", v);
		nic->mac_set = true;
		nic->mac_line = p->line;
		return 0;
	default:
		return -EINVAL;
	}
}

static int
set_key(struct parse_ctx *p, const char *key, const char *v, bool once)
{
	unsigned int idx = 0;

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const struct key_def *d = &keys[i];
		unsigned int *seen;

		if (!key_match(d->name, key, &idx))
			continue;
		if (strchr(d->name, '#'))
			return set_indexed(p, d, key, idx, v);
		seen = &p->cfg->line_of[i];
		if (once && *seen)
			return fail(p, p->line, key,
				    "already set on line %u", *seen);
		*seen = p->line;
		if (!strcmp(d->name, "ksm"))
			p->cfg->ksm_line = p->line;
		return set_scalar(p, d, key, v);
	}
	return fail(p, p->line, key, "unknown key");
}

/* Unquotes "..." in place; returns -EINVAL on a bad quote. */
static int
unquote(char *v)
{
	size_t n = strlen(v);
	char *r, *w;

	if (v[0] != '"')
		return strchr(v, '"') ? -EINVAL : 0;
	if (n < 2 || v[n - 1] != '"')
		return -EINVAL;
	v[n - 1] = '\0';
	for (r = v + 1, w = v; *r; r++) {
		if (*r == '\\') {
			r++;
			if (*r != '"' && *r != '\\')
				return -EINVAL;
		} else if (*r == '"') {
			return -EINVAL;
		}
		*w++ = *r;
	}
	*w = '\0';
	return 0;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Cuts a '#' comment that is not inside quotes. */
static void
strip_comment(char *s)
{
	bool quoted = false;

	for (; *s; s++) {
		if (*s == '\\' && quoted && s[1]) {
			s++;
		} else if (*s == '"') {
			quoted = !quoted;
		} else if (*s == '#' && !quoted) {
			*s = '\0';
			return;
		}
	}
}

static int
parse_line(struct parse_ctx *p, char *line)
{
	char *eq, *key, *v;

	strip_comment(line);
	line = trim(line);
	if (!*line)
		return 0;
	eq = strchr(line, '=');
	if (!eq)
		return fail(p, p->line, NULL, "expected 'key = value'");
	*eq = '\0';
	key = trim(line);
	v = trim(eq + 1);
	if (!*key)
		return fail(p, p->line, NULL, "missing key before '='");
	for (char *k = key; *k; k++)
		if (!isalnum((unsigned char)*k) && *k != '.' && *k != '_')
			return fail(p, p->line, NULL,
				    "bad character in key name");
	if (unquote(v) < 0)
		return fail(p, p->line, key, "unbalanced quotes in value");
	for (char *c = v; *c; c++)
		if ((unsigned char)*c < 0x20)
			return fail(p, p->line, key,
				    "control character in value");
	return set_key(p, key, v, true);
}

static unsigned int
key_line(const struct vmm_config *c, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(keys[i].name, name))
			return c->line_of[i];
	return 0;
}

/* The first disk with a redo-log mode that is also read-only. */
static bool
nonpersistent_wanted(const struct vmm_config *c, int *which)
{
	for (int i = 0; i < VMM_MAX_DISKS; i++) {
		if (c->disk[i].path && c->disk[i].mode != VMM_DISK_PERSISTENT &&
		    c->disk[i].readonly) {
			*which = i;
			return true;
		}
	}
	return false;
}

/* Checks that need the whole file: pairs of keys, missing keys. */
static int
check_config(struct parse_ctx *p)
{
	struct vmm_config *c = p->cfg;
	char key[32];
	int i;

	if (!c->kernel && !c->testguest)
		return fail(p, p->line, NULL,
			    "neither 'kernel' nor 'testguest' is set: nothing "
			    "to boot");
	if (c->kernel && c->testguest)
		return fail(p, key_line(c, "testguest"), "testguest",
			    "'kernel' and 'testguest' are both set; choose one");
	if (c->initrd && !c->kernel)
		return fail(p, key_line(c, "initrd"), "initrd",
			    "'initrd' needs 'kernel'");
	for (i = 0; i < VMM_MAX_DISKS; i++) {
		snprintf(key, sizeof(key), "disk%d.mode", i);
		if (!c->disk[i].path && c->disk[i].mode_set)
			return fail(p, c->disk[i].mode_line, key,
				    "disk%d is not set", i);
	}
	for (i = 0; i < VMM_MAX_NICS; i++) {
		snprintf(key, sizeof(key), "nic%d.mac", i);
		if (!c->nic[i].socket && c->nic[i].mac_set)
			return fail(p, c->nic[i].mac_line, key,
				    "nic%d is not set", i);
		if (c->nic[i].socket && c->ksm)
			return fail(p, c->ksm_line, "ksm",
				    "page sharing cannot be used with vhost-user "
				    "NICs (nic%d, line %u): their guest memory is "
				    "shared with the switch and KSM merges only "
				    "private memory",
				    i, c->nic[i].line);
	}
	if (c->serial == VMM_SERIAL_STDIO && c->console == VMM_SERIAL_STDIO)
		return fail(p, key_line(c, "console"), "console",
			    "the serial port already uses stdio (the default); "
			    "set serial = none or file:PATH to give stdio to "
			    "the console");
	if (c->console == VMM_SERIAL_UNIX && c->serial == VMM_SERIAL_UNIX &&
	    !strcmp(c->console_path, c->serial_path))
		return fail(p, key_line(c, "console"), "console",
			    "the serial port listens on the same socket");
	if (nonpersistent_wanted(c, &i) && c->disk[i].readonly) {
		snprintf(key, sizeof(key), "disk%d.mode", i);
		return fail(p, c->disk[i].mode_line, key,
			    "disk%d is read-only: only persistent applies", i);
	}
	return 0;
}

static void
default_macs(struct vmm_config *c)
{
	uint32_t h = 2166136261u;

	/* Stable per VM name, so a VM keeps its MAC across restarts. */
	for (const char *s = c->name ? c->name : "vm"; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	for (int i = 0; i < VMM_MAX_NICS; i++) {
		if (c->nic[i].mac_set)
			continue;
		c->nic[i].mac[0] = 0x52;
		c->nic[i].mac[1] = 0x54;
		c->nic[i].mac[2] = 0x00;
		c->nic[i].mac[3] = (uint8_t)(h >> 16);
		c->nic[i].mac[4] = (uint8_t)(h >> 8);
		c->nic[i].mac[5] = (uint8_t)((h & 0xf0) | (unsigned int)i);
	}
}

static struct vmm_config *
config_new(const char *name, const char *basedir)
{
	struct vmm_config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->file = strdup(name ? name : "config");
	c->basedir = basedir ? strdup(basedir) : NULL;
	c->memory_bytes = 128u << 20;
	c->vcpus = 1;
	c->balloon = true;
	c->serial = VMM_SERIAL_STDIO;
	if (!c->file || (basedir && !c->basedir)) {
		vmm_config_free(c);
		return NULL;
	}
	return c;
}

int
vmm_config_parse(const char *text, size_t len, const char *name,
		 const char *basedir, struct vmm_config **out, char *err,
		 size_t errlen)
{
	struct parse_ctx p = { .err = err, .errlen = errlen };
	char line[CFG_MAX_LINE + 1];
	size_t pos = 0;
	int rc = 0;

	p.cfg = config_new(name, basedir);
	if (!p.cfg)
		return -ENOMEM;
	if (len > CFG_MAX_FILE) {
		rc = fail(&p, 0, NULL, "file larger than %u bytes",
			  CFG_MAX_FILE);
		goto out;
	}
	while (pos < len && rc == 0) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;

		p.line++;
		if (n > CFG_MAX_LINE) {
			rc = fail(&p, p.line, NULL, "line longer than %d bytes",
				  CFG_MAX_LINE);
			break;
		}
		if (memchr(text + pos, '\0', n)) {
			rc = fail(&p, p.line, NULL, "NUL byte in line");
			break;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		rc = parse_line(&p, line);
		pos += n + 1;
	}
	if (rc == 0)
		rc = check_config(&p);
	if (rc == 0)
		default_macs(p.cfg);
out:
	if (rc < 0) {
		vmm_config_free(p.cfg);
		return rc;
	}
	*out = p.cfg;
	return 0;
}

int
vmm_config_load(const char *path, struct vmm_config **out, char *err,
		size_t errlen)
{
	char *buf = NULL, *dir = NULL, *slash;
	struct stat st;
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > CFG_MAX_FILE) {
		snprintf(err, errlen, "%s: not a regular file of at most %u bytes",
			 path, CFG_MAX_FILE);
		rc = -EINVAL;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	dir = strdup(path);
	if (!buf || !dir) {
		rc = -ENOMEM;
		goto out;
	}
	n = read(fd, buf, (size_t)st.st_size);
	if (n < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	rc = vmm_config_parse(buf, (size_t)n, path, slash ? dir : NULL, out,
			      err, errlen);
out:
	free(buf);
	free(dir);
	close(fd);
	return rc;
}

int
vmm_config_set(struct vmm_config *cfg, const char *key, const char *value,
	       char *err, size_t errlen)
{
	struct parse_ctx p = { .cfg = cfg, .line = 0, .err = err,
			       .errlen = errlen };
	int rc;

	rc = set_key(&p, key, value, false);
	if (rc == 0)
		rc = check_config(&p);
	if (rc == 0)
		default_macs(cfg);
	return rc;
}

const char *
vmm_config_name(const struct vmm_config *cfg)
{
	return cfg->name ? cfg->name : "vm";
}

void
vmm_config_print_keys(void *file)
{
	FILE *f = file;

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		fprintf(f, "  %-16s %s\n", keys[i].name, keys[i].help);
}

void
vmm_config_print_keys_json(void *file)
{
	struct json_writer w;

	json_writer_init(&w, file);
	json_arr_begin(&w, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		json_obj_begin(&w, NULL);
		json_str(&w, "key", keys[i].name);
		json_str(&w, "help", keys[i].help);
		json_obj_end(&w);
	}
	json_arr_end(&w);
	json_end_document(&w);
}

void
vmm_config_free(struct vmm_config *c)
{
	if (!c)
		return;
	free(c->file);
	free(c->basedir);
	free(c->name);
	free(c->kernel);
	free(c->initrd);
	free(c->cmdline);
	free(c->testguest);
	free(c->serial_path);
	free(c->console_path);
	free(c->control);
	for (int i = 0; i < VMM_MAX_DISKS; i++)
		free(c->disk[i].path);
	for (int i = 0; i < VMM_MAX_NICS; i++)
		free(c->nic[i].socket);
	free(c);
}
