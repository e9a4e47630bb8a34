// SPDX-License-Identifier: MIT
#include "kube/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/log.h"

#define BODY_MAX (1u << 30)	/* a 150k-pod list page is far below */
#define ERR_BODY_MAX 65536
/*
 * Dead connections, within client-go's bound (HTTP/2 PING after 30 s idle,
 * 15 s to answer): TCP keepalive and TCP_USER_TIMEOUT catch a blackholed
 * path in about 30 s; a probe request after 30 s without a byte on any
 * stream catches a server that is up but frozen (its kernel still ACKs).
 */
#define KEEPIDLE_S 15
#define KEEPINTVL_S 5
#define KEEPCNT 3
#define USER_TIMEOUT_MS 30000
#define PROBE_IDLE_MS 30000
#define PROBE_TIMEOUT_S 15
#define RETRY_AFTER_MAX_S 300

struct kube_req {
	struct kube_client *c;
	CURL *easy;
	struct curl_slist *hdrs;
	bool stream;
	bool ok;		/* 2xx seen */
	bool dead;		/* to end with -ETIMEDOUT: the server stopped answering */
	long status;
	char errbuf[CURL_ERROR_SIZE];
	char *body;
	size_t len, cap;
	kube_data_cb on_data;
	kube_done_cb on_done;
	void *arg;
	struct kube_req *next;
};

struct kube_client {
	struct loop *loop;
	struct kube_config *cfg;
	struct kube_client_opts opts;
	CURLM *multi;
	struct loop_timer *timer;	/* libcurl's timeout */
	struct loop_timer *token_timer;
	struct loop_timer *probe_timer;
	struct kube_req *reqs;
	struct kube_req *probe;
	uint64_t last_rx_ns;	/* a byte of any response */
	uint64_t probe_ns;	/* when the probe in flight was sent */
	struct kube_client_stats st;
};

static void check_done(struct kube_client *c);
static void req_free(struct kube_req *r);
static struct kube_req *request(struct kube_client *c, const char *path, const char *accept,
				const char *post, long timeout_s, kube_data_cb on_data,
				kube_done_cb on_done, void *arg);

static void on_fd(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct kube_client *c = arg;
	int running, flags = 0;

	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(c->multi, fd, flags, &running);
	check_done(c);
}

static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct kube_client *c = userp;
	uint32_t ev = 0;

	if (what == CURL_POLL_REMOVE) {
		if (socketp)
			loop_del(c->loop, s);
		curl_multi_assign(c->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (socketp)
		return loop_mod(c->loop, s, ev) ? -1 : 0;
	if (loop_add(c->loop, s, ev, on_fd, c)) {
		pr_warn("watch socket %d: cannot add to the event loop", s);
		return -1;
	}
	curl_multi_assign(c->multi, s, c);
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct kube_client *c = userp;

	if (timeout_ms < 0)
		return loop_timer_disarm(c->timer) ? -1 : 0;
	return loop_timer_arm(c->timer, timeout_ms) ? -1 : 0;
}

static void on_timeout(struct loop *loop, void *arg)
{
	struct kube_client *c = arg;
	int running;

	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

static void on_token_timer(struct loop *loop, void *arg)
{
	struct kube_client *c = arg;

	if (kube_config_reload_token(c->cfg) > 0)
		pr_info("service account token rotated");
	loop_timer_arm(c->token_timer, c->opts.token_reload_s * 1000ULL);
}

static void finish(struct kube_req *r, long status, int err)
{
	/* Unlink first: on_done may start the next request. */
	curl_multi_remove_handle(r->c->multi, r->easy);
	r->on_done(r->arg, status, err, r->body, r->len);
	req_free(r);
}

/* Each watch ends with -ETIMEDOUT; its reflector reconnects. */
static void drop_streams(struct kube_client *c)
{
	struct kube_req *r;
	unsigned int n = 0;

	for (r = c->reqs; r; r = r->next)
		r->dead = r->stream;
	for (;;) {
		for (r = c->reqs; r && !r->dead; r = r->next)
			;
		if (!r)
			break;
		r->dead = false;
		n++;
		finish(r, 0, -ETIMEDOUT);
	}
	c->st.dead += n;
	pr_warn("API server %s: no answer to a probe within %d s: reconnecting %u watch(es) (enforcement unchanged)",
		c->cfg->server, PROBE_TIMEOUT_S, n);
}

static void probe_done(void *arg, long status, int err, const char *body, size_t len)
{
	struct kube_client *c = arg;
	uint64_t sent = c->probe_ns;

	c->probe = NULL;
	c->st.probes++;
	/* Any HTTP answer, or a byte on a stream meanwhile, shows it alive. */
	if (err && c->last_rx_ns < sent)
		drop_streams(c);
	loop_timer_arm(c->probe_timer, PROBE_IDLE_MS);
}

static bool have_streams(const struct kube_client *c)
{
	for (const struct kube_req *r = c->reqs; r; r = r->next)
		if (r->stream)
			return true;
	return false;
}

static void on_probe_timer(struct loop *loop, void *arg)
{
	struct kube_client *c = arg;
	uint64_t idle_ms = (now_ns() - c->last_rx_ns) / 1000000;

	if (c->probe)
		return;
	if (idle_ms < PROBE_IDLE_MS || !have_streams(c)) {
		loop_timer_arm(c->probe_timer, idle_ms < PROBE_IDLE_MS ?
			       PROBE_IDLE_MS - idle_ms : PROBE_IDLE_MS);
		return;
	}
	c->probe_ns = now_ns();
	c->probe = request(c, "/livez", NULL, NULL, PROBE_TIMEOUT_S, NULL, probe_done, c);
	if (!c->probe)
		loop_timer_arm(c->probe_timer, PROBE_IDLE_MS);
}

void kube_client_get_stats(const struct kube_client *c, struct kube_client_stats *st)
{
	*st = c->st;
}

unsigned int kube_req_retry_after(const struct kube_req *r)
{
	curl_off_t s = 0;

	if (curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &s) || s <= 0)
		return 0;
	return s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : (unsigned int)s;
}

void kube_client_auth_failed(struct kube_client *c)
{
	if (kube_config_reload_token(c->cfg) > 0)
		pr_info("re-read the token after a 401");
}

struct kube_client *kube_client_new(struct loop *loop, struct kube_config *cfg,
				    const struct kube_client_opts *opts)
{
	struct kube_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c->loop = loop;
	c->cfg = cfg;
	if (opts)
		c->opts = *opts;
	if (!c->opts.stream_idle_s)
		c->opts.stream_idle_s = 90;
	if (!c->opts.token_reload_s)
		c->opts.token_reload_s = 60;
	c->multi = curl_multi_init();
	c->timer = loop_timer_new(loop, on_timeout, c);
	c->token_timer = loop_timer_new(loop, on_token_timer, c);
	c->probe_timer = loop_timer_new(loop, on_probe_timer, c);
	c->last_rx_ns = now_ns();
	if (!c->multi || !c->timer || !c->token_timer || !c->probe_timer) {
		kube_client_free(c);
		return NULL;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	if (cfg->token_file)
		loop_timer_arm(c->token_timer, c->opts.token_reload_s * 1000ULL);
	loop_timer_arm(c->probe_timer, PROBE_IDLE_MS);
	return c;
}

static void req_free(struct kube_req *r)
{
	struct kube_client *c = r->c;
	struct kube_req **pp;

	for (pp = &c->reqs; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	curl_multi_remove_handle(c->multi, r->easy);
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	free(r->body);
	free(r);
}

void kube_client_free(struct kube_client *c)
{
	if (!c)
		return;
	while (c->reqs)
		req_free(c->reqs);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	loop_timer_free(c->timer);
	loop_timer_free(c->token_timer);
	loop_timer_free(c->probe_timer);
	free(c);
}

static int buffer(struct kube_req *r, const char *data, size_t n, size_t max)
{
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 65536;
		char *p;

		while (cap < r->len + n + 1)
			cap *= 2;
		if (cap > max)
			return -E2BIG;
		p = realloc(r->body, cap);
		if (!p)
			return -ENOMEM;
		r->body = p;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return 0;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct kube_req *r = userp;
	size_t n = size * nmemb;

	r->c->last_rx_ns = now_ns();
	if (!r->status) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
		r->ok = r->status >= 200 && r->status < 300;
	}
	if (r->stream && r->ok)
		return r->on_data(r->arg, data, n) ? 0 : n;
	if (buffer(r, data, n, r->ok ? BODY_MAX : ERR_BODY_MAX))
		return r->ok ? 0 : n;	/* keep only the head of an error body */
	return n;
}

static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_WRITE_ERROR:
		return -ECANCELED;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		return -EPROTO;
	default:
		return -EIO;
	}
}

static void check_done(struct kube_client *c)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(c->multi, &left))) {
		struct kube_req *r = NULL;
		long status = 0, oserr = 0;
		int err;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_OS_ERRNO, &oserr);
		err = curl_errno(msg->data.result);
		/*
		 * Keepalive or TCP_USER_TIMEOUT gave up on the peer; over TLS
		 * libcurl 7.88 keeps the errno in its message only.
		 */
		if (err == -EIO && (oserr == ETIMEDOUT || strstr(r->errbuf, "timed out")))
			err = -ETIMEDOUT;
		if (err == -ETIMEDOUT && r->stream)
			c->st.dead++;
		if (err && err != -ECANCELED)
			pr_debug("GET %s: %s", r->c->cfg->server,
				 r->errbuf[0] ? r->errbuf : curl_easy_strerror(msg->data.result));
		finish(r, status, err);
	}
}

static int sockopt_cb(void *userp, curl_socket_t fd, curlsocktype purpose)
{
	int cnt = KEEPCNT, ut = USER_TIMEOUT_MS;

	/* libcurl 7.88 sets the keepalive idle time and interval, not these. */
	if (purpose == CURLSOCKTYPE_IPCXN &&
	    (setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) ||
	     setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof(ut))))
		pr_debug("API socket %d: TCP_USER_TIMEOUT: %s", fd, strerror(errno));
	return CURL_SOCKOPT_OK;
}

/* timeout_s 0: a stream, handed to on_data as it arrives. */
static struct kube_req *request(struct kube_client *c, const char *path, const char *accept,
				const char *post, long timeout_s, kube_data_cb on_data,
				kube_done_cb on_done, void *arg)
{
	bool stream = !timeout_s;
	struct kube_config *cfg = c->cfg;
	struct kube_req *r = calloc(1, sizeof(*r));
	char *url = NULL, *hdr = NULL;
	int running;

	if (!r)
		return NULL;
	r->c = c;
	r->stream = stream;
	r->on_data = on_data;
	r->on_done = on_done;
	r->arg = arg;
	r->easy = curl_easy_init();
	if (!r->easy || asprintf(&url, "%s%s", cfg->server, path) < 0)
		goto fail;
	if (asprintf(&hdr, "Accept: %s", accept ? accept : "application/json") < 0)
		goto fail;
	r->hdrs = curl_slist_append(r->hdrs, hdr);
	free(hdr);
	hdr = NULL;
	if (cfg->token) {
		if (asprintf(&hdr, "Authorization: Bearer %s", cfg->token) < 0)
			goto fail;
		r->hdrs = curl_slist_append(r->hdrs, hdr);
		free(hdr);
		hdr = NULL;
	}
	r->hdrs = curl_slist_append(r->hdrs, "User-Agent: steerd");
	if (post) {
		r->hdrs = curl_slist_append(r->hdrs, "Content-Type: application/json");
		curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, post);
	}
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT, 10L);
	/*
	 * HTTP/1.1, a connection per watch: libcurl 7.88 cannot send HTTP/2
	 * PINGs, and over one multiplexed connection a dead peer would take
	 * every watch, and new requests with them, until TCP gave up.
	 */
	curl_easy_setopt(r->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPIDLE, (long)KEEPIDLE_S);
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPINTVL, (long)KEEPINTVL_S);
	curl_easy_setopt(r->easy, CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
	/* A stall watchdog too: bookmarks come about once a minute. */
	curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_TIME,
			 stream ? (long)c->opts.stream_idle_s : 60L);
	if (!stream)
		curl_easy_setopt(r->easy, CURLOPT_TIMEOUT, timeout_s);
	if (cfg->ca_data) {
		struct curl_blob b = { .data = cfg->ca_data, .len = cfg->ca_len,
				       .flags = CURL_BLOB_NOCOPY };

		curl_easy_setopt(r->easy, CURLOPT_CAINFO_BLOB, &b);
	} else if (cfg->ca_file) {
		curl_easy_setopt(r->easy, CURLOPT_CAINFO, cfg->ca_file);
	}
	if (cfg->cert_data) {
		struct curl_blob b = { .data = cfg->cert_data, .len = cfg->cert_len,
				       .flags = CURL_BLOB_NOCOPY };

		curl_easy_setopt(r->easy, CURLOPT_SSLCERT_BLOB, &b);
	} else if (cfg->cert_file) {
		curl_easy_setopt(r->easy, CURLOPT_SSLCERT, cfg->cert_file);
	}
	if (cfg->key_data) {
		struct curl_blob b = { .data = cfg->key_data, .len = cfg->key_len,
				       .flags = CURL_BLOB_NOCOPY };

		curl_easy_setopt(r->easy, CURLOPT_SSLKEY_BLOB, &b);
	} else if (cfg->key_file) {
		curl_easy_setopt(r->easy, CURLOPT_SSLKEY, cfg->key_file);
	}
	if (cfg->insecure) {
		curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	free(url);
	url = NULL;
	if (curl_multi_add_handle(c->multi, r->easy))
		goto fail;
	r->next = c->reqs;
	c->reqs = r;
	/* Kick it: the timer callback will also do so, but not before we return. */
	(void)running;
	return r;
fail:
	free(url);
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	free(r);
	return NULL;
}

struct kube_req *kube_get(struct kube_client *c, const char *path, const char *accept,
			  bool stream, kube_data_cb on_data, kube_done_cb on_done, void *arg)
{
	return request(c, path, accept, NULL, stream ? 0 : 120, on_data, on_done, arg);
}

struct kube_req *kube_post(struct kube_client *c, const char *path, const char *json,
			   kube_done_cb on_done, void *arg)
{
	return request(c, path, NULL, json, 120, NULL, on_done, arg);
}

void kube_req_cancel(struct kube_req *r)
{
	if (r)
		req_free(r);
}
