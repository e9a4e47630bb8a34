// SPDX-License-Identifier: MIT
#include "harness.h"
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int handler(const char *path, struct strbuf *body, const char **ctype, void *arg)
{
	if (!strcmp(path, "/healthz")) {
		sb_printf(body, "ok\n");
		return 200;
	}
	if (!strcmp(path, "/big")) {
		for (int i = 0; i < 20000; i++)
			sb_printf(body, "line %d\n", i);
		return 200;
	}
	return 404;
}

/* The client runs in a child so the single-threaded loop can serve it. */
static pid_t client(int port, const char *req, int out)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	char buf[65536];
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)))
		_exit(1);
	if (write(fd, req, strlen(req)) < 0)
		_exit(1);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			_exit(1);
	_exit(0);
}

struct result {
	struct strbuf got;
};

static void on_pipe(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct result *r = arg;
	char buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n <= 0) {
		loop_stop(loop, 0);
		return;
	}
	sb_printf(&r->got, "%.*s", (int)n, buf);
}

static char *fetch(const char *req)
{
	struct loop *loop = loop_new();
	struct httpd *h = NULL;
	struct result r = {};
	int p[2];
	pid_t pid;

	if (!ASSERT_OK(httpd_start(&h, loop, "127.0.0.1:0", handler, NULL), "start"))
		return NULL;
	ASSERT_OK(pipe(p), "pipe");
	pid = client(httpd_port(h), req, p[1]);
	close(p[1]);
	loop_add(loop, p[0], EPOLLIN, on_pipe, &r);
	loop_run(loop);
	waitpid(pid, NULL, 0);
	loop_del(loop, p[0]);
	close(p[0]);
	httpd_stop(h);
	loop_free(loop);
	return r.got.buf;
}

TEST(serves_health)
{
	char *resp = fetch("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");

	ASSERT_OK_PTR(resp, "response");
	ASSERT_TRUE(resp && !strncmp(resp, "HTTP/1.1 200 OK\r\n", 17), "status line");
	ASSERT_TRUE(resp && strstr(resp, "\r\n\r\nok\n"), "body");
	free(resp);
}

TEST(unknown_path_is_404_and_query_ignored)
{
	char *resp = fetch("GET /nope?x=1 HTTP/1.0\r\n\r\n");

	ASSERT_TRUE(resp && !strncmp(resp, "HTTP/1.1 404", 12), "404");
	free(resp);
}

TEST(large_body_arrives_whole)
{
	char *resp = fetch("GET /big HTTP/1.1\r\n\r\n");

	ASSERT_TRUE(resp && strstr(resp, "line 19999\n"), "last line");
	free(resp);
}

TEST(non_get_and_garbage_rejected)
{
	char *resp = fetch("POST /healthz HTTP/1.1\r\n\r\n");

	ASSERT_TRUE(resp && !strncmp(resp, "HTTP/1.1 405", 12), "405");
	free(resp);
	resp = fetch("\r\n\r\n");
	ASSERT_TRUE(resp && !strncmp(resp, "HTTP/1.1 400", 12), "400");
	free(resp);
}

TEST(bad_listen_address)
{
	struct loop *loop = loop_new();
	struct httpd *h = NULL;

	ASSERT_EQ(httpd_start(&h, loop, "nonsense", handler, NULL), -EINVAL, "no port");
	ASSERT_EQ(httpd_start(&h, loop, "1.2.3:80", handler, NULL), -EINVAL, "bad host");
	ASSERT_EQ(httpd_start(&h, loop, ":99999", handler, NULL), -EINVAL, "bad port");
	loop_free(loop);
}
