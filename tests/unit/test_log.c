// SPDX-License-Identifier: MIT
#include "harness.h"
#include "lib/log.h"

#include <stdlib.h>
#include <unistd.h>

static void plain(void)
{
	pr_info("attach tc egress on %s: %s", "veth1a2b", "Operation \"not\" permitted");
}

static void kv(void)
{
	pr_info("component=model decision=quarantine object=pod/default/x");
}

static void debug_hidden(void)
{
	pr_debug("not shown");
}

static void storm(void)
{
	for (int i = 0; i < 1000; i++)
		pr_warn("line %d", i);
}

static int count(const char *s, const char *needle)
{
	int n = 0;

	for (; (s = strstr(s, needle)); s++)
		n++;
	return n;
}

TEST(logfmt_quotes_plain_messages)
{
	char *out = harness_capture(plain);

	ASSERT_TRUE(strstr(out, " level=info msg=\"attach tc egress on veth1a2b: "
			   "Operation \\\"not\\\" permitted\"\n") != NULL, "escaped msg");
	ASSERT_TRUE(!strncmp(out, "ts=", 3), "timestamp first");
	free(out);
}

TEST(logfmt_keeps_key_value_messages)
{
	char *out = harness_capture(kv);

	ASSERT_TRUE(strstr(out, " level=info component=model decision=quarantine "
			   "object=pod/default/x\n") != NULL, "kept as is");
	free(out);
}

TEST(debug_only_with_verbose)
{
	char *out = harness_capture(debug_hidden);

	ASSERT_STREQ(out, "", "hidden at info level");
	free(out);
	log_set_level(LOG_DEBUG);
	out = harness_capture(debug_hidden);
	ASSERT_TRUE(strstr(out, "not shown") != NULL, "shown with -v");
	log_set_level(LOG_INFO);
	free(out);
}

TEST(storm_is_rate_limited_and_says_so)
{
	char *out = harness_capture(storm);
	int lines = count(out, "msg=\"line ");

	ASSERT_LE(lines, 201, "at most the burst gets through");
	ASSERT_GE(lines, 100, "the burst does get through");
	free(out);
	/* The next line after the storm reports how many were dropped. */
	sleep(1);
	out = harness_capture(plain);
	ASSERT_TRUE(strstr(out, "component=log suppressed=") != NULL, "suppression reported");
	free(out);
}
