/* SPDX-License-Identifier: MIT */
/*
 * A small test harness in the style of the kernel's BPF selftests
 * (tools/testing/selftests/bpf/test_progs.h): ASSERT_* return bool so a test
 * can bail out with `if (!ASSERT_OK(err, "load")) goto cleanup;`.
 *
 * A test file defines its cases with TEST(name) and nothing else: the harness
 * provides main(), runs every case (or those named on the command line),
 * prints one line per case and exits 0 (all passed), 77 (all skipped) or 1.
 */
#ifndef STEER_TEST_HARNESS_H
#define STEER_TEST_HARNESS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"

struct test_case {
	const char *name;
	void (*fn)(void);
};

void harness_register(const char *name, void (*fn)(void));
void harness_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runs fn with stderr (where the logs go) captured; returns it, to be freed. */
char *harness_capture(void (*fn)(void));

/* An address literal of either family (IPv4 as mapped); aborts on a typo. */
static inline struct steer_addr addr_lit(const char *s)
{
	struct steer_addr a = {};

	if (addr_parse_ip(s, &a))
		abort();
	return a;
}

/* The same, as a pointer, for the map layer's functions. */
#define IPP(s) ((const struct steer_addr[]){ addr_lit(s) })

/* An IPv4 address in network order, mapped, as a pointer. */
static inline const struct steer_addr *v4_of_(struct steer_addr *a, __be32 v4)
{
	addr_from_v4(a, v4);
	return a;
}
#define v4_of(v4) v4_of_(&(struct steer_addr){}, (v4))

#define TEST(name)							\
	static void test_##name(void);					\
	__attribute__((constructor)) static void reg_##name(void)	\
	{ harness_register(#name, test_##name); }			\
	static void test_##name(void)

#define CHECK_(cond, ...) ({						\
	bool ok_ = (cond);						\
	if (!ok_)							\
		harness_fail(__FILE__, __LINE__, __VA_ARGS__);		\
	ok_;								\
})

#define ASSERT_TRUE(c, name) CHECK_((c), "%s: expected true", (name))
#define ASSERT_FALSE(c, name) CHECK_(!(c), "%s: expected false", (name))
#define ASSERT_EQ(a, b, name) ({					\
	long long a_ = (long long)(a), b_ = (long long)(b);		\
	CHECK_(a_ == b_, "%s: got %lld, expected %lld", (name), a_, b_); })
#define ASSERT_NEQ(a, b, name) ({					\
	long long a_ = (long long)(a), b_ = (long long)(b);		\
	CHECK_(a_ != b_, "%s: got %lld, expected anything else", (name), a_); })
#define ASSERT_GE(a, b, name) ({					\
	long long a_ = (long long)(a), b_ = (long long)(b);		\
	CHECK_(a_ >= b_, "%s: got %lld, expected >= %lld", (name), a_, b_); })
#define ASSERT_LE(a, b, name) ({					\
	long long a_ = (long long)(a), b_ = (long long)(b);		\
	CHECK_(a_ <= b_, "%s: got %lld, expected <= %lld", (name), a_, b_); })
#define ASSERT_OK(err, name) ({						\
	long long e_ = (long long)(err);				\
	CHECK_(e_ == 0, "%s: unexpected error %lld (%s)", (name), e_,	\
	       strerror(e_ < 0 ? (int)-e_ : (int)e_)); })
#define ASSERT_ERR(err, name) ({					\
	long long e_ = (long long)(err);				\
	CHECK_(e_ < 0, "%s: expected an error, got %lld", (name), e_); })
#define ASSERT_OK_PTR(p, name)						\
	CHECK_((p) != NULL, "%s: unexpected NULL", (name))
#define ASSERT_STREQ(a, b, name) ({					\
	const char *a_ = (a), *b_ = (b);				\
	CHECK_(a_ && b_ && !strcmp(a_, b_), "%s: got \"%s\", expected \"%s\"", \
	       (name), a_ ? a_ : "(null)", b_ ? b_ : "(null)"); })

#endif /* STEER_TEST_HARNESS_H */
