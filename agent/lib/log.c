// SPDX-License-Identifier: MIT
#include "lib/log.h"

#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level cur_level = LOG_INFO;
static const char *cli_prog;

/*
 * The agent's lines are rate-limited (debug excepted, it is opt-in): a label
 * storm or a hostile API server must not turn into a disk-filling log.
 */
#define LOG_BURST 200
#define LOG_PER_SEC 100

static double tokens = LOG_BURST;
static struct timespec refilled;
static unsigned long suppressed;

static bool take_token(const struct timespec *now)
{
	double dt = (double)(now->tv_sec - refilled.tv_sec) +
		    (double)(now->tv_nsec - refilled.tv_nsec) / 1e9;

	if (refilled.tv_sec)
		tokens += dt * LOG_PER_SEC;
	if (tokens > LOG_BURST)
		tokens = LOG_BURST;
	refilled = *now;
	if (tokens < 1)
		return false;
	tokens -= 1;
	return true;
}

static const char *const level_names[] = { "warn", "info", "debug" };

void log_set_level(enum log_level level)
{
	cur_level = level;
}

enum log_level log_get_level(void)
{
	return cur_level;
}

void log_set_cli(const char *prog)
{
	cli_prog = prog;
}

/* A message that starts with key= is already logfmt and is kept as is. */
static bool is_logfmt(const char *msg)
{
	const char *p = msg;

	while (*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
		p++;
	return p != msg && *p == '=';
}

static void vlog(enum log_level level, const char *fmt, va_list ap)
{
	char msg[1024], ts[40];
	struct timespec now;
	struct tm tm;
	size_t n;

	if (level > cur_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	if (cli_prog) {
		fprintf(stderr, "%s: %s\n", cli_prog, msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	if (level != LOG_DEBUG && !take_token(&now)) {
		suppressed++;
		return;
	}
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	if (suppressed) {
		fprintf(stderr, "ts=%s.%06ldZ level=warn component=log suppressed=%lu "
			"msg=\"rate limit: lines dropped\"\n", ts, now.tv_nsec / 1000, suppressed);
		suppressed = 0;
	}
	if (is_logfmt(msg)) {
		fprintf(stderr, "ts=%s.%06ldZ level=%s %s\n", ts,
			now.tv_nsec / 1000, level_names[level], msg);
		return;
	}
	fprintf(stderr, "ts=%s.%06ldZ level=%s msg=\"", ts, now.tv_nsec / 1000,
		level_names[level]);
	for (const char *p = msg; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', stderr);
		fputc(*p == '\n' ? ' ' : *p, stderr);
	}
	fputs("\"\n", stderr);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	enum log_level l = level == LIBBPF_WARN ? LOG_WARN :
			   level == LIBBPF_INFO ? LOG_INFO : LOG_DEBUG;

	/* libbpf's info lines are chatty too: keep them for -v. */
	if (l == LOG_INFO)
		l = LOG_DEBUG;
	vlog(l, fmt, ap);
	return 0;
}

void log_setup_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
