/* SPDX-License-Identifier: MIT */
/* JSON writer (streaming) and parser (arena-allocated tree). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"
#include "common/json.h"

/* ---- writer ---- */

void
json_writer_init(struct json_writer *w, FILE *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
	w->first[0] = true;
}

void
json_writer_init_mem(struct json_writer *w)
{
	json_writer_init(w, NULL);
}

char *
json_writer_take(struct json_writer *w)
{
	char *text = w->buf;

	if (w->oom) {
		free(w->buf);
		text = NULL;
	} else if (!text) {
		text = strdup("");
	}
	w->buf = NULL;
	w->len = w->cap = 0;
	return text;
}

static void
put_mem(struct json_writer *w, const char *s, size_t n)
{
	if (w->oom)
		return;
	if (w->len + n + 1 > w->cap) {
		size_t cap = MAX(w->cap * 2, w->len + n + 256);
		char *buf = realloc(w->buf, cap);

		if (!buf) {
			w->oom = true;
			return;
		}
		w->buf = buf;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void
put(struct json_writer *w, const char *s, size_t n)
{
	if (w->out)
		fwrite(s, 1, n, w->out);
	else
		put_mem(w, s, n);
}

static void
putf(struct json_writer *w, const char *fmt, ...) printf_like(2, 3);

static void
putf(struct json_writer *w, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(w, tmp, MIN((size_t)n, sizeof(tmp) - 1));
}

static void
put_string(struct json_writer *w, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	put(w, "\"", 1);
	for (; *p; p++) {
		switch (*p) {
		case '"': put(w, "\\\"", 2); break;
		case '\\': put(w, "\\\\", 2); break;
		case '\n': put(w, "\\n", 2); break;
		case '\r': put(w, "\\r", 2); break;
		case '\t': put(w, "\\t", 2); break;
		default:
			if (*p < 0x20)
				putf(w, "\\u%04x", *p);
			else
				put(w, (const char *)p, 1);
		}
	}
	put(w, "\"", 1);
}

static void
put_key(struct json_writer *w, const char *key)
{
	if (!w->first[w->depth])
		put(w, ",", 1);
	w->first[w->depth] = false;
	if (key) {
		put_string(w, key);
		put(w, ":", 1);
	}
}

static void
open_level(struct json_writer *w, const char *key, const char *brace)
{
	put_key(w, key);
	put(w, brace, 1);
	assert(w->depth < JSON_MAX_DEPTH);
	w->depth++;
	w->first[w->depth] = true;
}

void
json_obj_begin(struct json_writer *w, const char *key)
{
	open_level(w, key, "{");
}

void
json_obj_end(struct json_writer *w)
{
	assert(w->depth > 0);
	w->depth--;
	put(w, "}", 1);
}

void
json_arr_begin(struct json_writer *w, const char *key)
{
	open_level(w, key, "[");
}

void
json_arr_end(struct json_writer *w)
{
	assert(w->depth > 0);
	w->depth--;
	put(w, "]", 1);
}

void
json_str(struct json_writer *w, const char *key, const char *v)
{
	put_key(w, key);
	if (v)
		put_string(w, v);
	else
		put(w, "null", 4);
}

void
json_u64(struct json_writer *w, const char *key, uint64_t v)
{
	put_key(w, key);
	putf(w, "%" PRIu64, v);
}

void
json_i64(struct json_writer *w, const char *key, int64_t v)
{
	put_key(w, key);
	putf(w, "%" PRId64, v);
}

void
json_double(struct json_writer *w, const char *key, double v)
{
	put_key(w, key);
	if (isfinite(v))
		putf(w, "%.6g", v);
	else
		put(w, "null", 4);
}

void
json_bool(struct json_writer *w, const char *key, bool v)
{
	put_key(w, key);
	put(w, v ? "true" : "false", v ? 4 : 5);
}

void
json_null(struct json_writer *w, const char *key)
{
	put_key(w, key);
	put(w, "null", 4);
}

void
json_end_document(struct json_writer *w)
{
	if (w->out) {
		put(w, "\n", 1);
		fflush(w->out);
	}
}

/* ---- parser ---- */

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	max_align_t data[];
};

struct json_doc {
	struct arena_chunk *chunks;
	struct json_node *root;
};

struct parser {
	const char *p, *end;
	struct json_doc *doc;
	int depth;
	char *err;
	size_t errlen;
};

static void *
arena_alloc(struct json_doc *doc, size_t n)
{
	struct arena_chunk *c = doc->chunks;

	n = ALIGN_UP(n, sizeof(max_align_t));
	if (!c || c->cap - c->used < n) {
		size_t cap = MAX(n, (size_t)4096);

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = doc->chunks;
		doc->chunks = c;
	}
	c->used += n;
	return (char *)c->data + c->used - n;
}

static int
fail(struct parser *ps, const char *what)
{
	if (ps->err)
		snprintf(ps->err, ps->errlen, "%s at byte %zu", what,
			 (size_t)(ps->end - ps->p));
	return -EINVAL;
}

static void
skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
				   *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int
hex4(const char *s, unsigned int *out)
{
	unsigned int v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned int)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v |= (unsigned int)((c | 0x20) - 'a' + 10);
		else
			return -EINVAL;
	}
	*out = v;
	return 0;
}

static size_t
utf8_put(char *o, unsigned int cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decodes a string after its opening quote; escapes never grow the text. */
static int
parse_string(struct parser *ps, const char **out)
{
	const char *s = ps->p;
	size_t n = 0;
	char *buf, *o;

	while (s < ps->end && *s != '"') {
		if (*s == '\\')
			s++;
		s++;
	}
	if (s >= ps->end)
		return fail(ps, "unterminated string");
	buf = arena_alloc(ps->doc, (size_t)(s - ps->p) + 1);
	if (!buf)
		return -ENOMEM;
	o = buf;
	while (*ps->p != '"') {
		unsigned char c = (unsigned char)*ps->p++;
		unsigned int cp;

		if (c < 0x20)
			return fail(ps, "control character in string");
		if (c != '\\') {
			*o++ = (char)c;
			continue;
		}
		c = (unsigned char)*ps->p++;
		switch (c) {
		case '"': case '\\': case '/': *o++ = (char)c; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			if (s - ps->p < 4 || hex4(ps->p, &cp) < 0)
				return fail(ps, "bad \\u escape");
			ps->p += 4;
			/* No NULs inside C strings; lone surrogates pass as is. */
			if (cp == 0)
				return fail(ps, "\\u0000 in string");
			n = utf8_put(o, cp);
			o += n;
			break;
		default:
			return fail(ps, "bad escape");
		}
	}
	*o = '\0';
	ps->p++;
	*out = buf;
	return 0;
}

static int parse_value(struct parser *ps, struct json_node *node);

static int
parse_container(struct parser *ps, struct json_node *node, bool is_obj)
{
	struct json_node **tail = &node->child;
	char close = is_obj ? '}' : ']';
	int err;

	if (++ps->depth > JSON_MAX_DEPTH)
		return -E2BIG;
	node->type = is_obj ? JSON_OBJECT : JSON_ARRAY;
	node->child = NULL;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return 0;
	}
	for (;;) {
		struct json_node *child = arena_alloc(ps->doc, sizeof(*child));

		if (!child)
			return -ENOMEM;
		memset(child, 0, sizeof(*child));
		skip_ws(ps);
		if (is_obj) {
			if (ps->p >= ps->end || *ps->p != '"')
				return fail(ps, "expected member name");
			ps->p++;
			err = parse_string(ps, &child->key);
			if (err < 0)
				return err;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return fail(ps, "expected ':'");
			ps->p++;
		}
		err = parse_value(ps, child);
		if (err < 0)
			return err;
		*tail = child;
		tail = &child->next;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			ps->depth--;
			return 0;
		}
		return fail(ps, is_obj ? "expected ',' or '}'" :
					 "expected ',' or ']'");
	}
}

static int
parse_number(struct parser *ps, struct json_node *node)
{
	char tmp[64];
	const char *s = ps->p;
	size_t n = 0;
	char *end;

	while (s < ps->end && n < sizeof(tmp) - 1 &&
	       strchr("+-0123456789.eE", *s))
		tmp[n++] = *s++;
	tmp[n] = '\0';
	if (n == 0 || n == sizeof(tmp) - 1)
		return fail(ps, "bad number");
	node->type = JSON_NUMBER;
	node->num = strtod(tmp, &end);
	if (*end != '\0' || !isfinite(node->num))
		return fail(ps, "bad number");
	ps->p = s;
	return 0;
}

static int
parse_word(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return fail(ps, "unexpected token");
	ps->p += n;
	return 0;
}

static int
parse_value(struct parser *ps, struct json_node *node)
{
	skip_ws(ps);
	if (ps->p >= ps->end)
		return fail(ps, "unexpected end");
	switch (*ps->p) {
	case '{':
		ps->p++;
		return parse_container(ps, node, true);
	case '[':
		ps->p++;
		return parse_container(ps, node, false);
	case '"':
		ps->p++;
		node->type = JSON_STRING;
		return parse_string(ps, &node->str);
	case 't':
		node->type = JSON_BOOL;
		node->b = true;
		return parse_word(ps, "true");
	case 'f':
		node->type = JSON_BOOL;
		node->b = false;
		return parse_word(ps, "false");
	case 'n':
		node->type = JSON_NULL;
		return parse_word(ps, "null");
	default:
		return parse_number(ps, node);
	}
}

void
json_free(struct json_doc *doc)
{
	struct arena_chunk *c, *next;

	if (!doc)
		return;
	for (c = doc->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(doc);
}

int
json_parse(const char *text, size_t len, struct json_doc **out, char *err,
	   size_t errlen)
{
	struct parser ps = { .p = text, .end = text + len, .err = err,
			     .errlen = errlen };
	int rc;

	ps.doc = calloc(1, sizeof(*ps.doc));
	if (!ps.doc)
		return -ENOMEM;
	ps.doc->root = arena_alloc(ps.doc, sizeof(*ps.doc->root));
	if (!ps.doc->root) {
		rc = -ENOMEM;
		goto err_free;
	}
	memset(ps.doc->root, 0, sizeof(*ps.doc->root));
	rc = parse_value(&ps, ps.doc->root);
	if (rc == -E2BIG)
		fail(&ps, "nested too deeply");
	if (rc < 0)
		goto err_free;
	skip_ws(&ps);
	if (ps.p != ps.end) {
		rc = fail(&ps, "trailing bytes");
		goto err_free;
	}
	*out = ps.doc;
	return 0;

err_free:
	json_free(ps.doc);
	return rc;
}

const struct json_node *
json_root(const struct json_doc *doc)
{
	return doc->root;
}

const struct json_node *
json_get(const struct json_node *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (const struct json_node *n = obj->child; n; n = n->next)
		if (strcmp(n->key, key) == 0)
			return n;
	return NULL;
}

const char *
json_get_str(const struct json_node *obj, const char *key, const char *def)
{
	const struct json_node *n = json_get(obj, key);

	return n && n->type == JSON_STRING ? n->str : def;
}

int
json_get_int(const struct json_node *obj, const char *key, int64_t min,
	     int64_t max, int64_t *out)
{
	const struct json_node *n = json_get(obj, key);

	if (!n)
		return -ENOENT;
	if (n->type != JSON_NUMBER || n->num != floor(n->num) ||
	    n->num < (double)min || n->num > (double)max)
		return -EINVAL;
	*out = (int64_t)n->num;
	return 0;
}

bool
json_get_bool(const struct json_node *obj, const char *key, bool def)
{
	const struct json_node *n = json_get(obj, key);

	return n && n->type == JSON_BOOL ? n->b : def;
}
