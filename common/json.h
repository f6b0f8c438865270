/* SPDX-License-Identifier: MIT */
/*
 * JSON for --json output and control-socket messages.
 *
 * Writer: streams one document to a FILE or a growing memory buffer;
 * the caller nests begin/end calls, 'key' is NULL inside arrays and at
 * the top level. No allocation for FILE output.
 *
 * Parser: json_parse() builds a tree from untrusted bytes with limits on
 * depth and size; every node lives in one arena freed by json_free().
 */
#ifndef COMMON_JSON_H
#define COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json_writer {
	FILE *out;           /* NULL: write into 'buf' */
	char *buf;           /* memory output, NUL-terminated, caller frees */
	size_t len, cap;
	bool oom;            /* a memory write failed: output is truncated */
	int depth;
	bool first[JSON_MAX_DEPTH + 1]; /* nothing written yet at this level */
};

void json_writer_init(struct json_writer *w, FILE *out);
/* Memory output; take the text with json_writer_take(). */
void json_writer_init_mem(struct json_writer *w);
/* Returns the text (caller frees) or NULL if memory ran out. */
char *json_writer_take(struct json_writer *w);

void json_obj_begin(struct json_writer *w, const char *key);
void json_obj_end(struct json_writer *w);
void json_arr_begin(struct json_writer *w, const char *key);
void json_arr_end(struct json_writer *w);
void json_str(struct json_writer *w, const char *key, const char *v);
void json_u64(struct json_writer *w, const char *key, uint64_t v);
void json_i64(struct json_writer *w, const char *key, int64_t v);
void json_double(struct json_writer *w, const char *key, double v);
void json_bool(struct json_writer *w, const char *key, bool v);
void json_null(struct json_writer *w, const char *key);
/* Ends a top-level document with a newline (FILE output). */
void json_end_document(struct json_writer *w);

enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json_node {
	enum json_type type;
	const char *key;         /* member name inside an object, else NULL */
	struct json_node *next;  /* next sibling */
	union {
		bool b;
		double num;
		const char *str;         /* NUL-terminated; may hold no NULs */
		struct json_node *child; /* first element or member */
	};
};

struct json_doc;

/*
 * Parses 'len' bytes. Returns 0 and sets '*out', or -EINVAL (syntax, with
 * a message in 'err' if not NULL), -E2BIG (deeper than JSON_MAX_DEPTH),
 * -ENOMEM.
 */
int json_parse(const char *text, size_t len, struct json_doc **out,
	       char *err, size_t errlen);
const struct json_node *json_root(const struct json_doc *doc);
void json_free(struct json_doc *doc);

/* Member lookup; NULL when absent or 'obj' is not an object. */
const struct json_node *json_get(const struct json_node *obj, const char *key);
/* Typed lookups: return 'def' when absent or of another type. */
const char *json_get_str(const struct json_node *obj, const char *key,
			 const char *def);
/* Integer member in [min, max]: 0, -ENOENT if absent, -EINVAL otherwise. */
int json_get_int(const struct json_node *obj, const char *key, int64_t min,
		 int64_t max, int64_t *out);
bool json_get_bool(const struct json_node *obj, const char *key, bool def);

#endif
