/* SPDX-License-Identifier: MIT */
/*
 * The snapshot tree file ("disk.vsnap"): the nodes of one disk with their
 * names, descriptions, dates and parents, the disk mode, and the
 * operation in progress (snap-internal.h). JSON, written atomically
 * (temp file, rename). The parser takes untrusted bytes: everything is
 * bounded and cross-checked (unique ids and names, parents that exist,
 * no loops), and any nonsense is -EUCLEAN with a reason.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "snapshot/snap-internal.h"

#define TREE_FORMAT "vstack-snapshot-tree"
#define TREE_VERSION 1
#define TREE_MAX_BYTES (4u << 20)
#define MAX_SECONDS (1ll << 40)

static const char *const mode_names[] = {
	[MODE_PERSISTENT] = "persistent",
	[MODE_NONPERSISTENT] = "nonpersistent",
	[MODE_UNDOABLE] = "undoable",
};

static const char *const op_names[] = {
	[INTENT_NONE] = "none",
	[INTENT_CREATE] = "create",
	[INTENT_REVERT] = "revert",
	[INTENT_DELETE] = "delete",
};

static const char *const how_names[] = {
	[MERGE_LEAF] = "leaf",
	[MERGE_UP] = "up",
	[MERGE_DOWN] = "down",
	[MERGE_ANON] = "anon",
};

const char *
snap_mode_name(enum snap_mode_kind m)
{
	return (unsigned int)m < ARRAY_SIZE(mode_names) ? mode_names[m] : "?";
}

int
snap_mode_parse(const char *s, enum snap_mode_kind *out)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(mode_names); i++) {
		if (!strcmp(s, mode_names[i])) {
			*out = (enum snap_mode_kind)i;
			return 0;
		}
	}
	return -EINVAL;
}

static int
lookup(const char *const *names, unsigned int n, const char *s)
{
	for (unsigned int i = 0; i < n; i++)
		if (names[i] && !strcmp(s, names[i]))
			return (int)i;
	return -1;
}

struct snap_tree *
snap_tree_new(void)
{
	struct snap_tree *t = calloc(1, sizeof(*t));

	if (t)
		t->next_id = 1;
	return t;
}

void
snap_tree_free(struct snap_tree *t)
{
	if (!t)
		return;
	free(t->nodes);
	free(t);
}

struct snap_node *
snap_tree_find(struct snap_tree *t, uint32_t id)
{
	for (unsigned int i = 0; id && i < t->n; i++)
		if (t->nodes[i].id == id)
			return &t->nodes[i];
	return NULL;
}

struct snap_node *
snap_tree_by_name(struct snap_tree *t, const char *name)
{
	for (unsigned int i = 0; name[0] && i < t->n; i++)
		if (!strcmp(t->nodes[i].name, name))
			return &t->nodes[i];
	return NULL;
}

struct snap_node *
snap_tree_by_file(struct snap_tree *t, const char *file)
{
	for (unsigned int i = 0; file[0] && i < t->n; i++)
		if (!strcmp(t->nodes[i].file, file))
			return &t->nodes[i];
	return NULL;
}

int
snap_tree_add(struct snap_tree *t, const struct snap_node *n)
{
	struct snap_node *p;

	if (t->n >= SNAP_MAX_NODES)
		return -ENOSPC;
	p = realloc(t->nodes, (t->n + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	t->nodes = p;
	t->nodes[t->n++] = *n;
	if (n->id >= t->next_id)
		t->next_id = n->id + 1;
	return 0;
}

void
snap_tree_remove(struct snap_tree *t, uint32_t id)
{
	for (unsigned int i = 0; i < t->n; i++) {
		if (t->nodes[i].id != id)
			continue;
		memmove(&t->nodes[i], &t->nodes[i + 1],
			(t->n - i - 1) * sizeof(t->nodes[0]));
		t->n--;
		return;
	}
}

uint32_t
snap_tree_next_id(struct snap_tree *t, struct vdisk_store *st,
		  const char *leaf)
{
	char a[DESC_NAME_MAX + 1], b[DESC_NAME_MAX + 1];

	for (;;) {
		uint32_t id = t->next_id++;

		snap_name_node(leaf, id, a, sizeof(a));
		snap_name_delta(leaf, id, b, sizeof(b));
		if (snap_tree_find(t, id))
			continue;
		if (st->ops->exists(st, a) == 0 && st->ops->exists(st, b) == 0)
			return id;
	}
}

/* ---- writing ---- */

static void
node_out(struct json_writer *w, const char *key, const struct snap_node *n)
{
	json_obj_begin(w, key);
	json_u64(w, "id", n->id);
	json_u64(w, "parent", n->parent);
	json_str(w, "file", n->file);
	json_str(w, "name", n->name);
	json_str(w, "description", n->description);
	json_u64(w, "created", n->created_ns / 1000000000ull);
	json_str(w, "group", n->group);
	json_arr_begin(w, "clones");
	for (unsigned int i = 0; i < n->nclones; i++)
		json_str(w, NULL, n->clones[i]);
	json_arr_end(w);
	json_obj_end(w);
}

char *
snap_tree_format(const struct snap_tree *t)
{
	const struct snap_intent *in = &t->intent;
	struct json_writer w;

	json_writer_init_mem(&w);
	json_obj_begin(&w, NULL);
	json_str(&w, "format", TREE_FORMAT);
	json_u64(&w, "version", TREE_VERSION);
	json_u64(&w, "next_id", t->next_id);
	json_str(&w, "mode", snap_mode_name(t->mode));
	json_u64(&w, "redo", t->redo);
	json_arr_begin(&w, "nodes");
	for (unsigned int i = 0; i < t->n; i++)
		node_out(&w, NULL, &t->nodes[i]);
	json_arr_end(&w);
	if (in->op != INTENT_NONE) {
		json_obj_begin(&w, "intent");
		json_str(&w, "op", op_names[in->op]);
		node_out(&w, "node", &in->node);
		json_str(&w, "old_top", in->old_top);
		json_str(&w, "new_top", in->new_top);
		json_str(&w, "coordinator", in->coordinator);
		json_bool(&w, "committed", in->committed);
		json_str(&w, "how", how_names[in->how]);
		json_arr_begin(&w, "kids");
		for (unsigned int i = 0; i < in->nkids; i++)
			json_u64(&w, NULL, in->kids[i]);
		json_arr_end(&w);
		json_u64(&w, "kids_done", in->kids_done);
		json_bool(&w, "commit", in->commit);
		json_obj_end(&w);
	}
	json_obj_end(&w);
	return json_writer_take(&w);
}

/* ---- parsing ---- */

struct tp {
	char *err;
	size_t errlen;
};

static int printf_like(2, 3)
tbad(struct tp *p, const char *fmt, ...)
{
	va_list ap;

	if (p->err && p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
	}
	return -EUCLEAN;
}

static int
get_u32(struct tp *p, const struct json_node *o, const char *key,
	uint32_t *out)
{
	int64_t v;

	if (json_get_int(o, key, 0, UINT32_MAX, &v) < 0)
		return tbad(p, "'%s' missing or out of range", key);
	*out = (uint32_t)v;
	return 0;
}

static int
get_text(struct tp *p, const struct json_node *o, const char *key, char *out,
	 size_t len, bool plain)
{
	const char *s = json_get_str(o, key, NULL);

	if (!s)
		return tbad(p, "'%s' missing", key);
	if (strlen(s) >= len)
		return tbad(p, "'%s' too long", key);
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20)
			return tbad(p, "'%s' holds a control character", key);
	if (plain && s[0] && !snap_plain_name(s))
		return tbad(p, "'%s' is not a file name beside the disk", key);
	strcpy(out, s);
	return 0;
}

static int
node_in(struct tp *p, const struct json_node *o, struct snap_node *n)
{
	const struct json_node *cl;
	int64_t secs;
	int rc;

	memset(n, 0, sizeof(*n));
	if (!o || o->type != JSON_OBJECT)
		return tbad(p, "a node is not an object");
	rc = get_u32(p, o, "id", &n->id);
	if (rc == 0)
		rc = get_u32(p, o, "parent", &n->parent);
	if (rc == 0)
		rc = get_text(p, o, "file", n->file, sizeof(n->file), true);
	if (rc == 0)
		rc = get_text(p, o, "name", n->name, sizeof(n->name), false);
	if (rc == 0)
		rc = get_text(p, o, "description", n->description,
			      sizeof(n->description), false);
	if (rc == 0)
		rc = get_text(p, o, "group", n->group, sizeof(n->group), false);
	if (rc < 0)
		return rc;
	if (json_get_int(o, "created", 0, MAX_SECONDS, &secs) < 0)
		return tbad(p, "'created' missing or out of range");
	n->created_ns = (uint64_t)secs * 1000000000ull;
	cl = json_get(o, "clones");
	if (!cl || cl->type != JSON_ARRAY)
		return tbad(p, "'clones' is not a list");
	for (cl = cl->child; cl; cl = cl->next) {
		if (cl->type != JSON_STRING || n->nclones >= SNAP_MAX_CLONES ||
		    strlen(cl->str) >= sizeof(n->clones[0]) || !cl->str[0])
			return tbad(p, "bad linked-clone entry");
		strcpy(n->clones[n->nclones++], cl->str);
	}
	return 0;
}

static int
intent_in(struct tp *p, const struct json_node *o, struct snap_intent *in)
{
	const char *op = json_get_str(o, "op", ""), *how;
	const struct json_node *k;
	int64_t v;
	int rc, i;

	memset(in, 0, sizeof(*in));
	if (o->type != JSON_OBJECT)
		return tbad(p, "the intent is not an object");
	i = lookup(op_names, ARRAY_SIZE(op_names), op);
	if (i <= 0)
		return tbad(p, "unknown intent '%s'", op);
	in->op = (enum snap_intent_op)i;
	rc = node_in(p, json_get(o, "node"), &in->node);
	if (rc == 0)
		rc = get_text(p, o, "old_top", in->old_top, sizeof(in->old_top),
			      true);
	if (rc == 0)
		rc = get_text(p, o, "new_top", in->new_top, sizeof(in->new_top),
			      true);
	if (rc == 0)
		rc = get_text(p, o, "coordinator", in->coordinator,
			      sizeof(in->coordinator), false);
	if (rc < 0)
		return rc;
	in->committed = json_get_bool(o, "committed", false);
	in->commit = json_get_bool(o, "commit", false);
	how = json_get_str(o, "how", "leaf");
	i = lookup(how_names, ARRAY_SIZE(how_names), how);
	if (i < 0)
		return tbad(p, "unknown merge '%s'", how);
	in->how = (enum snap_merge_how)i;
	k = json_get(o, "kids");
	if (!k || k->type != JSON_ARRAY)
		return tbad(p, "'kids' is not a list");
	for (k = k->child; k; k = k->next) {
		if (k->type != JSON_NUMBER || in->nkids >= ARRAY_SIZE(in->kids) ||
		    k->num < 0 || k->num > UINT32_MAX ||
		    k->num != (double)(uint32_t)k->num)
			return tbad(p, "bad child in the intent");
		in->kids[in->nkids++] = (uint32_t)k->num;
	}
	if (json_get_int(o, "kids_done", 0, UINT32_MAX, &v) < 0)
		return tbad(p, "bad 'kids_done'");
	in->kids_done = (uint32_t)v;
	return 0;
}

/* Ids unique, parents present, no loops, names unique. */
static int
cross_check(struct tp *p, struct snap_tree *t)
{
	for (unsigned int i = 0; i < t->n; i++) {
		struct snap_node *a = &t->nodes[i];
		unsigned int steps = 0;
		uint32_t up;

		if (a->id == 0 || a->id >= t->next_id)
			return tbad(p, "node id %u out of range", a->id);
		for (unsigned int j = i + 1; j < t->n; j++) {
			if (t->nodes[j].id == a->id)
				return tbad(p, "node id %u used twice", a->id);
			if (a->name[0] && !strcmp(a->name, t->nodes[j].name))
				return tbad(p, "snapshot name '%s' used twice",
					    a->name);
			if (!strcmp(a->file, t->nodes[j].file))
				return tbad(p, "file %s used twice", a->file);
		}
		for (up = a->parent; up; steps++) {
			struct snap_node *q = snap_tree_find(t, up);

			if (!q)
				return tbad(p, "node %u has a missing parent %u",
					    a->id, up);
			if (steps > t->n)
				return tbad(p, "a loop of parents at node %u",
					    a->id);
			up = q->parent;
		}
	}
	return 0;
}

int
snap_tree_parse(const char *text, size_t len, struct snap_tree **out,
		char *err, size_t errlen)
{
	struct tp p = { err, errlen };
	const struct json_node *root, *nodes, *o;
	struct json_doc *doc;
	struct snap_tree *t;
	const char *mode;
	char jerr[128];
	int64_t v;
	int rc, m;

	if (len > TREE_MAX_BYTES)
		return tbad(&p, "tree file larger than %u bytes",
			    TREE_MAX_BYTES);
	rc = json_parse(text, len, &doc, jerr, sizeof(jerr));
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		return tbad(&p, "not JSON: %s", jerr);
	t = snap_tree_new();
	if (!t) {
		json_free(doc);
		return -ENOMEM;
	}
	root = json_root(doc);
	rc = -EUCLEAN;
	if (root->type != JSON_OBJECT ||
	    strcmp(json_get_str(root, "format", ""), TREE_FORMAT)) {
		tbad(&p, "not a snapshot tree");
		goto out;
	}
	if (json_get_int(root, "version", 1, 1000, &v) < 0 ||
	    v != TREE_VERSION) {
		tbad(&p, "unsupported tree version");
		goto out;
	}
	if (get_u32(&p, root, "next_id", &t->next_id) < 0 ||
	    get_u32(&p, root, "redo", &t->redo) < 0)
		goto out;
	mode = json_get_str(root, "mode", "");
	m = lookup(mode_names, ARRAY_SIZE(mode_names), mode);
	if (m < 0) {
		tbad(&p, "unknown disk mode '%s'", mode);
		goto out;
	}
	t->mode = (enum snap_mode_kind)m;
	nodes = json_get(root, "nodes");
	if (!nodes || nodes->type != JSON_ARRAY) {
		tbad(&p, "'nodes' is not a list");
		goto out;
	}
	for (o = nodes->child; o; o = o->next) {
		struct snap_node n;

		if (node_in(&p, o, &n) < 0)
			goto out;
		if (t->n >= SNAP_MAX_NODES) {
			tbad(&p, "more than %u snapshots", SNAP_MAX_NODES);
			goto out;
		}
		if (snap_tree_add(t, &n) < 0) {
			rc = -ENOMEM;
			goto out;
		}
	}
	/* snap_tree_add() moved next_id past every id: check before. */
	if (json_get_int(root, "next_id", 1, UINT32_MAX, &v) < 0) {
		tbad(&p, "bad 'next_id'");
		goto out;
	}
	t->next_id = (uint32_t)v;
	if (cross_check(&p, t) < 0)
		goto out;
	if (t->redo && !snap_tree_find(t, t->redo)) {
		tbad(&p, "redo log over a missing node %u", t->redo);
		goto out;
	}
	o = json_get(root, "intent");
	if (o && intent_in(&p, o, &t->intent) < 0)
		goto out;
	rc = 0;
out:
	json_free(doc);
	if (rc < 0) {
		snap_tree_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int
snap_tree_load(struct vdisk_store *st, const char *leaf,
	       struct snap_tree **out)
{
	char name[DESC_NAME_MAX + 16], err[200];
	size_t len;
	char *text;
	int rc;

	snap_name_tree(leaf, name, sizeof(name));
	rc = st->ops->exists(st, name);
	if (rc <= 0)
		return rc ? rc : -ENOENT;
	rc = vdisk_store_read_all(st, name, TREE_MAX_BYTES, &text, &len);
	if (rc == -EFBIG)
		rc = -EUCLEAN;
	if (rc < 0)
		return rc;
	rc = snap_tree_parse(text, len, out, err, sizeof(err));
	free(text);
	if (rc == -EUCLEAN)
		vdisk_err("snapshot", "%s: corrupt snapshot tree: %s", name,
			  err);
	return rc;
}

int
snap_tree_store(struct vdisk_store *st, const char *leaf,
		const struct snap_tree *t)
{
	char name[DESC_NAME_MAX + 16];
	char *text = snap_tree_format(t);
	int rc;

	if (!text)
		return -ENOMEM;
	snap_name_tree(leaf, name, sizeof(name));
	rc = vdisk_store_write_atomic(st, name, text, strlen(text));
	free(text);
	return rc;
}
