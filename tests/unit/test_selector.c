// SPDX-License-Identifier: MIT
/* The label selector engine: labels.Parse grammar and matching. */
#include <cjson/cJSON.h>

#include "harness.h"
#include "kube/labels.h"

static bool match(const char *sel, const char *labels_json)
{
	struct selector s;
	struct labels l;
	const char *bad;
	cJSON *obj = cJSON_Parse(labels_json);
	bool ok;

	if (selector_parse(&s, sel)) {
		cJSON_Delete(obj);
		return false;
	}
	labels_from_json(&l, obj, &bad);
	ok = selector_match(&s, &l);
	selector_free(&s);
	labels_free(&l);
	cJSON_Delete(obj);
	return ok;
}

static bool valid(const char *sel)
{
	struct selector s;
	int err = selector_parse(&s, sel);

	selector_free(&s);
	return !err;
}

#define L "{\"app\":\"nginx\",\"enabled\":\"true\",\"tier\":\"web\",\"steer.dev/quarantine\":\"\"}"

TEST(equality)
{
	ASSERT_TRUE(match("app=nginx", L), "=");
	ASSERT_TRUE(match("app==nginx", L), "==");
	ASSERT_FALSE(match("app=redis", L), "= mismatch");
	ASSERT_TRUE(match("app!=redis", L), "!=");
	ASSERT_FALSE(match("app!=nginx", L), "!= mismatch");
	ASSERT_TRUE(match("missing!=x", L), "!= on a missing key matches");
	ASSERT_TRUE(match("app=nginx,enabled=true", L), "and");
	ASSERT_FALSE(match("app=nginx,enabled=false", L), "and mismatch");
	ASSERT_TRUE(match(" app = nginx , enabled == true ", L), "spaces");
	ASSERT_TRUE(match("steer.dev/quarantine=", L), "empty value");
}

TEST(sets)
{
	ASSERT_TRUE(match("tier in (web, api)", L), "in");
	ASSERT_FALSE(match("tier in (api,db)", L), "in mismatch");
	ASSERT_FALSE(match("missing in (a)", L), "in on a missing key");
	ASSERT_TRUE(match("tier notin (api,db)", L), "notin");
	ASSERT_FALSE(match("tier notin (web)", L), "notin mismatch");
	ASSERT_TRUE(match("missing notin (a)", L), "notin on a missing key");
	ASSERT_TRUE(match("app in (nginx),tier notin (db),enabled", L), "mixed");
}

TEST(existence)
{
	ASSERT_TRUE(match("steer.dev/quarantine", L), "exists (default flag)");
	ASSERT_FALSE(match("steer.dev/quarantine", "{\"app\":\"nginx\"}"), "absent");
	ASSERT_TRUE(match("!canary", L), "!key");
	ASSERT_FALSE(match("!app", L), "!key mismatch");
	ASSERT_TRUE(match("", L), "empty selector matches everything");
	ASSERT_TRUE(match("", "{}"), "even no labels");
}

TEST(invalid)
{
	ASSERT_TRUE(valid("app="), "empty value is valid");
	ASSERT_FALSE(valid("=x"), "no key");
	ASSERT_FALSE(valid("app in web"), "in without parens");
	ASSERT_FALSE(valid("app in (web"), "unclosed");
	ASSERT_FALSE(valid("app=a b"), "space in value");
	ASSERT_FALSE(valid("app=nginx,"), "trailing comma");
	ASSERT_FALSE(valid("!app=x"), "!key with value");
	ASSERT_FALSE(valid("-app=x"), "key starts with dash");
	ASSERT_FALSE(valid("app=x-"), "value ends with dash");
	ASSERT_FALSE(valid("Example.COM/app=x"), "upper-case prefix");
	ASSERT_FALSE(valid("app exists"), "unknown operator");
	ASSERT_FALSE(valid("app=(x)"), "parens in value");
	ASSERT_FALSE(valid("a=1,,b=2"), "empty requirement");
	ASSERT_TRUE(valid("example.com/app-name_1.x in (a,b),!c"), "prefixed key");
}

TEST(map_form)
{
	struct selector s;
	struct labels sel, pod;
	const char *bad;
	cJSON *a = cJSON_Parse("{\"app\":\"nginx\",\"enabled\":\"true\"}");
	cJSON *b = cJSON_Parse(L);

	ASSERT_OK(labels_from_json(&sel, a, &bad), "selector labels");
	ASSERT_OK(labels_from_json(&pod, b, &bad), "pod labels");
	ASSERT_OK(selector_from_labels(&s, &sel), "from map");
	ASSERT_TRUE(selector_match(&s, &pod), "matches");
	ASSERT_STREQ(labels_get(&pod, "tier"), "web", "labels_get");
	selector_free(&s);
	labels_free(&sel);
	labels_free(&pod);
	cJSON_Delete(a);
	cJSON_Delete(b);
}
