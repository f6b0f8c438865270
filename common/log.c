/* SPDX-License-Identifier: MIT */
/* Logging to stderr with a monotonic timestamp, topic and level. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"

static atomic_int log_level = -1;

static const char *const level_names[] = {
	[LOG_LVL_ERR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

int
log_parse_level(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void
log_set_level(enum log_level level)
{
	atomic_store(&log_level, (int)level);
}

enum log_level
log_get_level(void)
{
	int level = atomic_load_explicit(&log_level, memory_order_relaxed);
	enum log_level parsed = LOG_LVL_WARN;
	const char *env;

	if (likely(level >= 0))
		return (enum log_level)level;
	env = getenv("VSTACK_LOG");
	if (env)
		log_parse_level(env, &parsed);
	atomic_store(&log_level, (int)parsed);
	return parsed;
}

void
log_msg(enum log_level level, const char *topic, const char *fmt, ...)
{
	char line[1024];
	uint64_t now = clock_mono_ns();
	va_list ap;
	int n;

	if (level > log_get_level())
		return;
	n = snprintf(line, sizeof(line), "[%llu.%06llu] %s %s: ",
		     (unsigned long long)(now / NS_PER_SEC),
		     (unsigned long long)(now % NS_PER_SEC / 1000),
		     level_names[level], topic);
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One fputs per line keeps lines from different threads whole. */
	fprintf(stderr, "%s\n", line);
}
