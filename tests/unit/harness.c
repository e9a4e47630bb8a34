// SPDX-License-Identifier: MIT
#include "harness.h"

#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_CASES 256

static struct test_case cases[MAX_CASES];
static int ncases;
static bool cur_failed, cur_skipped;

void harness_register(const char *name, void (*fn)(void))
{
	if (ncases == MAX_CASES) {
		fprintf(stderr, "harness: more than %d cases\n", MAX_CASES);
		exit(1);
	}
	cases[ncases++] = (struct test_case){ name, fn };
}

void harness_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "  %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cur_failed = true;
}

void test_skip(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "  skip: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cur_skipped = true;
}

static bool selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < ncases; i++) {
		if (!selected(cases[i].name, argc, argv))
			continue;
		cur_failed = cur_skipped = false;
		cases[i].fn();
		if (cur_failed) {
			printf("FAIL %s\n", cases[i].name);
			failed++;
		} else if (cur_skipped) {
			printf("SKIP %s\n", cases[i].name);
			skipped++;
		} else {
			printf("ok   %s\n", cases[i].name);
			passed++;
		}
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	if (failed)
		return 1;
	return passed ? 0 : 77;
}

char *harness_capture(void (*fn)(void))
{
	char *buf = NULL, chunk[4096];
	size_t len = 0, n;
	FILE *mem = open_memstream(&buf, &len), *tmp = tmpfile();
	int saved = dup(2);

	fflush(stderr);
	dup2(fileno(tmp), 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	while ((n = fread(chunk, 1, sizeof(chunk), tmp)) > 0)
		fwrite(chunk, 1, n, mem);
	fclose(tmp);
	fclose(mem);
	return buf;
}
