// SPDX-License-Identifier: MIT
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"

#define REQ_MAX 4096
#define MAX_CONNS 64

struct conn {
	struct httpd *h;
	int fd;
	char req[REQ_MAX];
	size_t req_len;
	struct strbuf out;
	size_t sent;
	struct conn *next;
};

struct httpd {
	struct loop *loop;
	int fd;
	int port;
	int nconns;
	struct conn *conns;
	httpd_handler handler;
	void *arg;
};

void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb->err)
		return;
	for (;;) {
		size_t room = sb->cap - sb->len;

		va_start(ap, fmt);
		n = vsnprintf(sb->buf ? sb->buf + sb->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			sb->err = -EINVAL;
			return;
		}
		if ((size_t)n < room) {
			sb->len += (size_t)n;
			return;
		}
		size_t cap = sb->cap ? sb->cap * 2 : 4096;

		while (cap - sb->len <= (size_t)n)
			cap *= 2;
		char *p = realloc(sb->buf, cap);

		if (!p) {
			sb->err = -ENOMEM;
			return;
		}
		sb->buf = p;
		sb->cap = cap;
	}
}

void sb_free(struct strbuf *sb)
{
	free(sb->buf);
	*sb = (struct strbuf){};
}

static void conn_close(struct conn *c)
{
	struct httpd *h = c->h;
	struct conn **pp;

	for (pp = &h->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	loop_del(h->loop, c->fd);
	close(c->fd);
	sb_free(&c->out);
	h->nconns--;
	free(c);
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

static void respond(struct conn *c)
{
	struct strbuf body = {};
	const char *ctype = "text/plain; charset=utf-8";
	char method[8] = "", path[256];
	int status;

	if (sscanf(c->req, "%7s %255s", method, path) != 2) {
		status = 400;
		sb_printf(&body, "bad request\n");
	} else if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		status = 405;
		sb_printf(&body, "only GET\n");
	} else {
		char *q = strchr(path, '?');

		if (q)
			*q = '\0';
		status = c->h->handler(path, &body, &ctype, c->h->arg);
	}
	sb_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
		  "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		  status, reason(status), ctype, body.len);
	if (strcmp(method, "HEAD") && body.len)
		sb_printf(&c->out, "%.*s", (int)body.len, body.buf);
	sb_free(&body);
}

static void conn_ready(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct conn *c = arg;
	ssize_t n;

	if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) {
		conn_close(c);
		return;
	}
	if (!c->out.buf) {
		n = read(fd, c->req + c->req_len, sizeof(c->req) - 1 - c->req_len);
		if (n <= 0) {
			if (n < 0 && errno == EAGAIN)
				return;
			conn_close(c);
			return;
		}
		c->req_len += (size_t)n;
		c->req[c->req_len] = '\0';
		if (!strstr(c->req, "\r\n\r\n") && !strstr(c->req, "\n\n")) {
			if (c->req_len == sizeof(c->req) - 1)
				conn_close(c);	/* headers too large */
			return;
		}
		respond(c);
		if (c->out.err) {
			conn_close(c);
			return;
		}
		loop_mod(loop, fd, EPOLLOUT);
		return;
	}
	n = write(fd, c->out.buf + c->sent, c->out.len - c->sent);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0 || (c->sent += (size_t)n) == c->out.len)
		conn_close(c);
}

static void accept_ready(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct httpd *h = arg;
	int cfd;

	while ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct conn *c;

		/* A scraper storm must not grow memory without bound. */
		if (h->nconns >= MAX_CONNS || !(c = calloc(1, sizeof(*c)))) {
			close(cfd);
			continue;
		}
		c->h = h;
		c->fd = cfd;
		if (loop_add(loop, cfd, EPOLLIN, conn_ready, c)) {
			close(cfd);
			free(c);
			continue;
		}
		c->next = h->conns;
		h->conns = c;
		h->nconns++;
	}
}

int httpd_parse_addr(const char *addr, struct sockaddr_in *sin)
{
	const char *colon = strrchr(addr, ':');
	char host[64];
	char *end;
	long port;

	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 0 || port > 65535)
		return -EINVAL;
	*sin = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (!host[0])
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

int httpd_start(struct httpd **hp, struct loop *loop, const char *addr,
		httpd_handler handler, void *arg)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct httpd *h = NULL;
	int one = 1, err;

	err = httpd_parse_addr(addr, &sin);
	if (err) {
		pr_warn("metrics address '%s': expected HOST:PORT, e.g. 0.0.0.0:9767", addr);
		return err;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	*h = (struct httpd){ .loop = loop, .handler = handler, .arg = arg };
	h->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd < 0) {
		err = -errno;
		goto cleanup;
	}
	setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(h->fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(h->fd, 64)) {
		err = -errno;
		pr_warn("listen on %s: %s", addr, strerror(-err));
		goto cleanup;
	}
	getsockname(h->fd, (struct sockaddr *)&sin, &len);
	h->port = ntohs(sin.sin_port);
	err = loop_add(loop, h->fd, EPOLLIN, accept_ready, h);
	if (err)
		goto cleanup;
	*hp = h;
	return 0;
cleanup:
	if (h->fd >= 0)
		close(h->fd);
	free(h);
	return err;
}

void httpd_stop(struct httpd *h)
{
	if (!h)
		return;
	while (h->conns)
		conn_close(h->conns);
	loop_del(h->loop, h->fd);
	close(h->fd);
	free(h);
}

int httpd_port(const struct httpd *h)
{
	return h->port;
}
