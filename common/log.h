/* SPDX-License-Identifier: MIT */
/*
 * Logging by topic and level. Topics mirror folders ("vfs.lun",
 * "vdisk.qcow2"). Levels by meaning: error, an operator must act; warn,
 * degraded but handled; info, a state change; debug, details.
 *
 * Output goes to stderr (component code never writes to stdout). The
 * threshold comes from log_set_level() or the VSTACK_LOG environment
 * variable ("error", "warn", "info", "debug"); the default is "warn" so
 * command-line tools stay quiet. Thread safe.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include "common/compiler.h"

enum log_level {
	LOG_LVL_ERR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error|warn|info|debug"; returns -EINVAL for anything else. */
int log_parse_level(const char *name, enum log_level *out);

void log_msg(enum log_level level, const char *topic, const char *fmt, ...)
	printf_like(3, 4);

#define log_enabled(level) ((level) <= log_get_level())
#define log_err(topic, ...) log_msg(LOG_LVL_ERR, topic, __VA_ARGS__)
#define log_warn(topic, ...) log_msg(LOG_LVL_WARN, topic, __VA_ARGS__)
#define log_info(topic, ...) log_msg(LOG_LVL_INFO, topic, __VA_ARGS__)
#define log_debug(topic, ...)                                         \
	do {                                                          \
		if (log_enabled(LOG_LVL_DEBUG))                       \
			log_msg(LOG_LVL_DEBUG, topic, __VA_ARGS__);   \
	} while (0)

#endif
