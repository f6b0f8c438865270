/* SPDX-License-Identifier: MIT */
/* Tests for common/: crc32c, size parsing, JSON writer and parser. */
#include <stdio.h>
#include <string.h>

#include "common/cli.h"
#include "common/crc32c.h"
#include "common/json.h"
#include "tests/lib/testutil.h"

static void
test_crc32c_known_values(void)
{
	CHECK_EQ(crc32c(0, "123456789", 9), 0xe3069283u);
	CHECK_EQ(crc32c(0, "", 0), 0);
	/* Running sums equal one pass. */
	CHECK_EQ(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
}

static void
test_parse_size(void)
{
	uint64_t v;

	CHECK_OK(cli_parse_size("4096", &v));
	CHECK_EQ(v, 4096);
	CHECK_OK(cli_parse_size("1M", &v));
	CHECK_EQ(v, 1 << 20);
	CHECK_OK(cli_parse_size("16GiB", &v));
	CHECK_EQ(v, 16ull << 30);
	CHECK_OK(cli_parse_size("2k", &v));
	CHECK_EQ(v, 2048);
	CHECK_OK(cli_parse_size("3TB", &v));
	CHECK_EQ(v, 3ull << 40);
	CHECK_EQ(cli_parse_size("", &v), -EINVAL);
	CHECK_EQ(cli_parse_size("-1", &v), -EINVAL);
	CHECK_EQ(cli_parse_size("1 M", &v), -EINVAL);
	CHECK_EQ(cli_parse_size("1X", &v), -EINVAL);
	CHECK_EQ(cli_parse_size("1Mx", &v), -EINVAL);
	CHECK_EQ(cli_parse_size("99999999999999999999", &v), -ERANGE);
	CHECK_EQ(cli_parse_size("17179869184G", &v), -ERANGE);
}

static void
test_json_roundtrip(void)
{
	struct json_writer w;
	struct json_doc *doc;
	const struct json_node *root, *arr;
	char err[128];
	char *text;
	int64_t n;

	json_writer_init_mem(&w);
	json_obj_begin(&w, NULL);
	json_str(&w, "name", "a \"quoted\"\n\x01 name");
	json_u64(&w, "size", 1ull << 40);
	json_bool(&w, "ok", true);
	json_arr_begin(&w, "list");
	json_i64(&w, NULL, -5);
	json_null(&w, NULL);
	json_arr_end(&w);
	json_obj_end(&w);
	text = json_writer_take(&w);
	CHECK(text);
	CHECK_OK(json_parse(text, strlen(text), &doc, err, sizeof(err)));
	root = json_root(doc);
	CHECK(!strcmp(json_get_str(root, "name", ""), "a \"quoted\"\n\x01 name"));
	CHECK_OK(json_get_int(root, "size", 0, INT64_MAX, &n));
	CHECK_EQ(n, 1ll << 40);
	CHECK(json_get_bool(root, "ok", false));
	arr = json_get(root, "list");
	CHECK(arr && arr->type == JSON_ARRAY && arr->child->num == -5);
	CHECK(arr->child->next->type == JSON_NULL);
	CHECK_EQ(json_get_int(root, "missing", 0, 1, &n), -ENOENT);
	CHECK_EQ(json_get_int(root, "name", 0, 1, &n), -EINVAL);
	json_free(doc);
	free(text);
}

static void
test_json_rejects_garbage(void)
{
	static const char *const bad[] = {
		"", "{", "[1,]", "{\"a\"}", "{\"a\":}", "\"abc", "tru", "01x",
		"{\"a\":1}x", "\"\\u00\"", "\"\\u0000\"", "[\"\x01\"]", "1e999",
	};
	struct json_doc *doc;
	char deep[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(json_parse(bad[i], strlen(bad[i]), &doc, NULL, 0),
			 -EINVAL);
	memset(deep, '[', sizeof(deep));
	CHECK_EQ(json_parse(deep, sizeof(deep), &doc, NULL, 0), -E2BIG);
}

int
main(void)
{
	RUN_TEST(test_crc32c_known_values);
	RUN_TEST(test_parse_size);
	RUN_TEST(test_json_roundtrip);
	RUN_TEST(test_json_rejects_garbage);
	return 0;
}
