/* SPDX-License-Identifier: MIT */
/*
 * The disk descriptor: VMDK-descriptor text (the format ESX keeps in
 * "disk.vmdk" beside "disk-flat.vmdk", and that monolithicFlat and sparse
 * VMDK images embed). The parser takes untrusted bytes: every line is
 * bounded, every number range-checked, and any nonsense is -EUCLEAN with
 * the line number. Keys we do not interpret are kept in order, so the
 * snapshot layer (and VMware's ddb.* entries) survive a rewrite.
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
#include <sys/random.h>

#include "vdisk/vdisk-internal.h"

#define LINE_MAX_BYTES 1024

static const char *const kind_names[] = {
	[DESC_EXT_FLAT] = "FLAT",
	[DESC_EXT_VMFS] = "VMFS",
	[DESC_EXT_ZERO] = "ZERO",
	[DESC_EXT_SPARSE] = "SPARSE",
	[DESC_EXT_VMFSSPARSE] = "VMFSSPARSE",
	[DESC_EXT_SESPARSE] = "SESPARSE",
	[DESC_EXT_DELTA] = "VSDELTA",
};

static const char *const access_names[] = {
	[DESC_RW] = "RW",
	[DESC_RDONLY] = "RDONLY",
	[DESC_NOACCESS] = "NOACCESS",
};

const char *
vdisk_desc_kind_name(enum desc_kind kind)
{
	if ((unsigned int)kind >= ARRAY_SIZE(kind_names))
		return "?";
	return kind_names[kind];
}

uint32_t
vdisk_new_cid(void)
{
	uint32_t cid = 0;

	/* Never the "no parent" value, which would make a child look
	 * parentless. */
	while (cid == 0 || cid == DESC_NO_PARENT)
		if (getrandom(&cid, sizeof(cid), 0) != sizeof(cid))
			cid = (uint32_t)rand();
	return cid;
}

void
vdisk_desc_init(struct vdisk_desc *d, uint64_t capacity_bytes,
		enum vdisk_type type, const char *data_file)
{
	memset(d, 0, sizeof(*d));
	d->version = 1;
	d->cid = vdisk_new_cid();
	d->parent_cid = DESC_NO_PARENT;
	snprintf(d->create_type, sizeof(d->create_type), "vmfs");
	d->type = type;
	d->nextents = 1;
	d->ext[0].access = DESC_RW;
	d->ext[0].kind = DESC_EXT_VMFS;
	d->ext[0].sectors = capacity_bytes / VDISK_SECTOR;
	snprintf(d->ext[0].file, sizeof(d->ext[0].file), "%s", data_file);
}

uint64_t
vdisk_desc_capacity(const struct vdisk_desc *d)
{
	uint64_t s = 0;

	for (unsigned int i = 0; i < d->nextents; i++)
		s += d->ext[i].sectors;
	return s * VDISK_SECTOR;
}

/* ---- parser ---- */

struct parse {
	struct vdisk_desc *d;
	unsigned int line;
	char *err;
	size_t errlen;
	bool have_version, have_type_key, thin_flag;
};

static int printf_like(2, 3)
fail(struct parse *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err && p->errlen) {
		n = snprintf(p->err, p->errlen, "line %u: ", p->line);
		if (n < 0 || (size_t)n >= p->errlen)
			n = 0;
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EUCLEAN;
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

/* Takes a quoted or bare word from '*s' into 'out'; advances '*s'. */
static int
take_word(char **s, char *out, size_t len, bool *quoted)
{
	char *p = *s, *start;
	size_t n;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '"') {
		start = ++p;
		while (*p && *p != '"')
			p++;
		if (*p != '"')
			return -EINVAL;
		n = (size_t)(p - start);
		p++;
		*quoted = true;
	} else {
		start = p;
		while (*p && *p != ' ' && *p != '\t') {
			/* A quote inside a bare word would not write back. */
			if (*p == '"')
				return -EINVAL;
			p++;
		}
		n = (size_t)(p - start);
		*quoted = false;
	}
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(out, start, n);
	out[n] = '\0';
	*s = p;
	return 0;
}

static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if ((uint64_t)(*s - '0') > max ||
		    v > (max - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static int
parse_hex32(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 8)
		return -EINVAL;
	for (; *s; s++) {
		int c = tolower((unsigned char)*s);

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint32_t)(c - 'a' + 10);
		else
			return -EINVAL;
	}
	*out = v;
	return 0;
}

static int
parse_extent(struct parse *p, char *s)
{
	struct desc_extent *e;
	char word[DESC_NAME_MAX + 1];
	bool quoted;
	unsigned int i;
	uint64_t v;

	if (p->d->nextents >= DESC_MAX_EXTENTS)
		return fail(p, "more than %u extents", DESC_MAX_EXTENTS);
	e = &p->d->ext[p->d->nextents];
	memset(e, 0, sizeof(*e));
	if (take_word(&s, word, sizeof(word), &quoted) < 0)
		return fail(p, "bad extent access");
	for (i = 0; i < ARRAY_SIZE(access_names); i++)
		if (!strcmp(word, access_names[i]))
			break;
	if (i == ARRAY_SIZE(access_names))
		return fail(p, "bad extent access '%s'", word);
	e->access = (enum desc_access)i;
	if (take_word(&s, word, sizeof(word), &quoted) < 0 ||
	    parse_u64(word, VDISK_MAX_CAPACITY / VDISK_SECTOR, &v) < 0 ||
	    v == 0)
		return fail(p, "bad extent size '%s'", word);
	e->sectors = v;
	if (take_word(&s, word, sizeof(word), &quoted) < 0)
		return fail(p, "bad extent type");
	for (i = 0; i < ARRAY_SIZE(kind_names); i++)
		if (!strcmp(word, kind_names[i]))
			break;
	if (i == ARRAY_SIZE(kind_names))
		return fail(p, "unknown extent type '%s'", word);
	e->kind = (enum desc_kind)i;
	if (e->kind != DESC_EXT_ZERO) {
		int rc = take_word(&s, e->file, sizeof(e->file), &quoted);

		if (rc == -ENAMETOOLONG)
			return fail(p, "extent file name too long");
		if (rc < 0 || !quoted || !e->file[0])
			return fail(p, "extent file name must be quoted");
		/* An optional start offset (FLAT); "0" on others. */
		s = trim(s);
		if (*s) {
			if (take_word(&s, word, sizeof(word), &quoted) < 0 ||
			    parse_u64(word, VDISK_MAX_CAPACITY / VDISK_SECTOR,
				      &v) < 0)
				return fail(p, "bad extent offset '%s'", word);
			e->offset_sectors = v;
		}
	}
	if (*trim(s))
		return fail(p, "trailing text after extent");
	if (vdisk_desc_capacity(p->d) + e->sectors * VDISK_SECTOR >
	    VDISK_MAX_CAPACITY)
		return fail(p, "capacity larger than %llu TiB",
			    VDISK_MAX_CAPACITY >> 40);
	p->d->nextents++;
	return 0;
}

static int
keep_extra(struct parse *p, const char *key, const char *value)
{
	struct desc_kv *kv;

	if (p->d->nextra >= DESC_MAX_EXTRA)
		return fail(p, "more than %u entries", DESC_MAX_EXTRA);
	if (strlen(key) >= sizeof(kv->key) ||
	    strlen(value) >= sizeof(kv->value))
		return fail(p, "entry too long");
	kv = &p->d->extra[p->d->nextra++];
	strcpy(kv->key, key);
	strcpy(kv->value, value);
	return 0;
}

static int
copy_name(struct parse *p, char *dst, size_t len, const char *v,
	  const char *what)
{
	if (strlen(v) >= len)
		return fail(p, "%s too long", what);
	strcpy(dst, v);
	return 0;
}

static int
parse_kv(struct parse *p, char *s)
{
	struct vdisk_desc *d = p->d;
	char key[64], value[DESC_NAME_MAX + 1];
	char *eq = strchr(s, '=');
	bool quoted;
	uint64_t v;
	char *vs;

	if (!eq)
		return fail(p, "expected KEY=VALUE or an extent");
	*eq = '\0';
	s = trim(s);
	if (!*s || strlen(s) >= sizeof(key))
		return fail(p, "bad key");
	for (char *c = s; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '.' && *c != '_')
			return fail(p, "bad character in key '%s'", s);
	for (unsigned int i = 0; i < ARRAY_SIZE(access_names); i++)
		if (!strcmp(s, access_names[i]))
			return fail(p, "'%s' is not a key", s);
	strcpy(key, s);
	vs = eq + 1;
	if (take_word(&vs, value, sizeof(value), &quoted) < 0)
		return fail(p, "bad value for %s", key);
	if (*trim(vs))
		return fail(p, "trailing text after %s", key);

	if (!strcmp(key, "version")) {
		if (parse_u64(value, 3, &v) < 0 || v < 1)
			return fail(p, "unsupported version '%s'", value);
		d->version = (unsigned int)v;
		p->have_version = true;
	} else if (!strcmp(key, "CID")) {
		if (parse_hex32(value, &d->cid) < 0)
			return fail(p, "bad CID '%s'", value);
	} else if (!strcmp(key, "parentCID")) {
		if (parse_hex32(value, &d->parent_cid) < 0)
			return fail(p, "bad parentCID '%s'", value);
	} else if (!strcmp(key, "createType")) {
		return copy_name(p, d->create_type, sizeof(d->create_type),
				 value, "createType");
	} else if (!strcmp(key, "parentFileNameHint")) {
		return copy_name(p, d->parent_hint, sizeof(d->parent_hint),
				 value, "parentFileNameHint");
	} else if (!strcmp(key, "changeTrackPath")) {
		return copy_name(p, d->change_track, sizeof(d->change_track),
				 value, "changeTrackPath");
	} else if (!strcmp(key, "ddb.vstack.type")) {
		if (vdisk_type_parse(value, &d->type) < 0)
			return fail(p, "bad disk type '%s'", value);
		p->have_type_key = true;
	} else if (!strcmp(key, "ddb.thinProvisioned")) {
		p->thin_flag = !strcmp(value, "1");
	} else if (!strcmp(key, "encoding")) {
		if (strcasecmp(value, "UTF-8") && strcasecmp(value, "windows-1252"))
			return fail(p, "unsupported encoding '%s'", value);
	} else {
		return keep_extra(p, key, value);
	}
	return 0;
}

static bool
is_extent_line(const char *s)
{
	return !strncmp(s, "RW ", 3) || !strncmp(s, "RDONLY ", 7) ||
	       !strncmp(s, "NOACCESS ", 9) || !strncmp(s, "RW\t", 3);
}

static int
parse_line(struct parse *p, char *s)
{
	s = trim(s);
	if (!*s || *s == '#')
		return 0;
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 && *c != '\t')
			return fail(p, "control character");
	if (is_extent_line(s))
		return parse_extent(p, s);
	return parse_kv(p, s);
}

int
vdisk_desc_parse(const char *text, size_t len, struct vdisk_desc *out,
		 char *err, size_t errlen)
{
	struct parse p = { .d = out, .err = err, .errlen = errlen };
	char line[LINE_MAX_BYTES + 1];
	size_t i = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->parent_cid = DESC_NO_PARENT;
	out->version = 1;
	if (err && errlen)
		err[0] = '\0';
	if (len > DESC_MAX_BYTES)
		return fail(&p, "descriptor larger than %u bytes",
			    DESC_MAX_BYTES);
	while (i < len) {
		size_t n = 0;

		p.line++;
		while (i < len && text[i] != '\n') {
			/* Sparse images pad the embedded descriptor with NULs. */
			if (text[i] == '\0')
				goto end;
			if (n >= LINE_MAX_BYTES)
				return fail(&p, "line longer than %u bytes",
					    LINE_MAX_BYTES);
			line[n++] = text[i++];
		}
		line[n] = '\0';
		i++;
		rc = parse_line(&p, line);
		if (rc < 0)
			return rc;
	}
end:
	if (out->nextents == 0)
		return fail(&p, "no extents");
	if (!out->create_type[0])
		return fail(&p, "no createType");
	if (!p.have_type_key)
		out->type = p.thin_flag ? VDISK_THIN : VDISK_ZEROEDTHICK;
	return 0;
}

/* ---- writer ---- */

struct outbuf {
	char *buf;
	size_t len, used;
	bool full;
};

static void printf_like(2, 3)
out(struct outbuf *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->used, o->len - o->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->len - o->used) {
		o->full = true;
		return;
	}
	o->used += (size_t)n;
}

int
vdisk_desc_format(const struct vdisk_desc *d, char *buf, size_t len)
{
	struct outbuf o = { buf, len, 0, false };

	if (len == 0)
		return -ENOSPC;
	out(&o, "# Disk DescriptorFile\nversion=%u\nencoding=\"UTF-8\"\n",
	    d->version);
	out(&o, "CID=%08" PRIx32 "\nparentCID=%08" PRIx32 "\n", d->cid,
	    d->parent_cid);
	out(&o, "createType=\"%s\"\n", d->create_type);
	if (d->parent_hint[0])
		out(&o, "parentFileNameHint=\"%s\"\n", d->parent_hint);
	if (d->change_track[0])
		out(&o, "changeTrackPath=\"%s\"\n", d->change_track);
	out(&o, "\n# Extent description\n");
	for (unsigned int i = 0; i < d->nextents; i++) {
		const struct desc_extent *e = &d->ext[i];

		out(&o, "%s %" PRIu64 " %s", access_names[e->access],
		    e->sectors, vdisk_desc_kind_name(e->kind));
		if (e->kind != DESC_EXT_ZERO)
			out(&o, " \"%s\"", e->file);
		if (e->kind == DESC_EXT_FLAT)
			out(&o, " %" PRIu64, e->offset_sectors);
		out(&o, "\n");
	}
	out(&o, "\n# The Disk Data Base\n#DDB\n\n");
	if (d->type == VDISK_THIN)
		out(&o, "ddb.thinProvisioned = \"1\"\n");
	out(&o, "ddb.vstack.type = \"%s\"\n", vdisk_type_name(d->type));
	for (unsigned int i = 0; i < d->nextra; i++)
		out(&o, "%s = \"%s\"\n", d->extra[i].key, d->extra[i].value);
	if (o.full)
		return -ENOSPC;
	return (int)o.used;
}

/* ---- types ---- */

static const char *const type_names[] = {
	[VDISK_THIN] = "thin",
	[VDISK_ZEROEDTHICK] = "zeroedthick",
	[VDISK_EAGERZEROEDTHICK] = "eagerzeroedthick",
};

const char *
vdisk_type_name(enum vdisk_type type)
{
	if ((unsigned int)type >= ARRAY_SIZE(type_names))
		return NULL;
	return type_names[type];
}

int
vdisk_type_parse(const char *name, enum vdisk_type *out)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(type_names); i++) {
		if (!strcmp(name, type_names[i])) {
			*out = (enum vdisk_type)i;
			return 0;
		}
	}
	return -EINVAL;
}
