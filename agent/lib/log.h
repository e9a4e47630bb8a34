/* SPDX-License-Identifier: MIT */
/* One logging module for steerd and steerctl, and libbpf's print hook. */
#ifndef STEER_LIB_LOG_H
#define STEER_LIB_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_WARN = 0,
	LOG_INFO = 1,
	LOG_DEBUG = 2,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Plain "steerctl: message" lines for a CLI instead of logfmt for the agent. */
void log_set_cli(const char *prog);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Routes libbpf's output through log_msg; its debug lines only with -v. */
void log_setup_libbpf(void);

#define pr_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define pr_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif /* STEER_LIB_LOG_H */
