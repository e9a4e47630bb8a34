// SPDX-License-Identifier: MIT
#include "lib/loop.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

struct watch {
	int fd;
	bool dead;
	loop_fd_cb cb;
	void *arg;
	struct watch *next;	/* all watches, for lookup by fd */
};

struct loop {
	int epfd;
	bool stop;
	int code;
	struct watch *watches;
	/* Watches deleted while a batch of events is being dispatched. */
	struct watch *graveyard;
	int sigfd;
	loop_signal_cb sig_cb;
	void *sig_arg;
};

struct loop_timer {
	struct loop *loop;
	int fd;
	loop_timer_cb cb;
	void *arg;
};

struct loop *loop_new(void)
{
	struct loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	loop->sigfd = -1;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		free(loop);
		return NULL;
	}
	return loop;
}

static void bury(struct watch *list)
{
	while (list) {
		struct watch *next = list->next;

		free(list);
		list = next;
	}
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	if (loop->sigfd >= 0) {
		loop_del(loop, loop->sigfd);
		close(loop->sigfd);
	}
	bury(loop->watches);
	bury(loop->graveyard);
	close(loop->epfd);
	free(loop);
}

int loop_add(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb, void *arg)
{
	struct epoll_event ev = { .events = events };
	struct watch *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	*w = (struct watch){ .fd = fd, .cb = cb, .arg = arg, .next = loop->watches };
	ev.data.ptr = w;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		int err = -errno;

		free(w);
		return err;
	}
	loop->watches = w;
	return 0;
}

static struct watch **find(struct loop *loop, int fd)
{
	struct watch **pp;

	for (pp = &loop->watches; *pp; pp = &(*pp)->next)
		if ((*pp)->fd == fd)
			return pp;
	return NULL;
}

int loop_mod(struct loop *loop, int fd, uint32_t events)
{
	struct watch **pp = find(loop, fd);
	struct epoll_event ev = { .events = events };

	if (!pp)
		return -ENOENT;
	ev.data.ptr = *pp;
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) ? -errno : 0;
}

int loop_del(struct loop *loop, int fd)
{
	struct watch **pp = find(loop, fd), *w;

	if (!pp)
		return -ENOENT;
	w = *pp;
	*pp = w->next;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	/* The current batch may still hold a pointer to w: free it later. */
	w->dead = true;
	w->next = loop->graveyard;
	loop->graveyard = w;
	return 0;
}

static void timer_ready(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct loop_timer *t = arg;
	uint64_t expirations;

	if (read(fd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return;
	t->cb(loop, t->arg);
}

struct loop_timer *loop_timer_new(struct loop *loop, loop_timer_cb cb, void *arg)
{
	struct loop_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	*t = (struct loop_timer){ .loop = loop, .cb = cb, .arg = arg };
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->fd < 0 || loop_add(loop, t->fd, EPOLLIN, timer_ready, t)) {
		if (t->fd >= 0)
			close(t->fd);
		free(t);
		return NULL;
	}
	return t;
}

int loop_timer_arm(struct loop_timer *t, uint64_t delay_ms)
{
	struct itimerspec its = {
		.it_value.tv_sec = delay_ms / 1000,
		.it_value.tv_nsec = (delay_ms % 1000) * 1000000,
	};

	/* A zero it_value would disarm: fire "now" as 1 ns instead. */
	if (!delay_ms)
		its.it_value.tv_nsec = 1;
	return timerfd_settime(t->fd, 0, &its, NULL) ? -errno : 0;
}

int loop_timer_disarm(struct loop_timer *t)
{
	struct itimerspec its = {};

	return timerfd_settime(t->fd, 0, &its, NULL) ? -errno : 0;
}

void loop_timer_free(struct loop_timer *t)
{
	if (!t)
		return;
	loop_del(t->loop, t->fd);
	close(t->fd);
	free(t);
}

static void signal_ready(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si))
		loop->sig_cb(loop, (int)si.ssi_signo, loop->sig_arg);
}

int loop_signals(struct loop *loop, const int *sigs, int n, loop_signal_cb cb, void *arg)
{
	sigset_t set;
	int err;

	sigemptyset(&set);
	for (int i = 0; i < n; i++)
		sigaddset(&set, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	loop->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (loop->sigfd < 0)
		return -errno;
	loop->sig_cb = cb;
	loop->sig_arg = arg;
	err = loop_add(loop, loop->sigfd, EPOLLIN, signal_ready, NULL);
	return err;
}

int loop_run(struct loop *loop)
{
	struct epoll_event evs[64];

	loop->stop = false;
	while (!loop->stop) {
		int n = epoll_wait(loop->epfd, evs, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !loop->stop; i++) {
			struct watch *w = evs[i].data.ptr;

			if (!w->dead)
				w->cb(loop, w->fd, evs[i].events, w->arg);
		}
		bury(loop->graveyard);
		loop->graveyard = NULL;
	}
	return loop->code;
}

void loop_stop(struct loop *loop, int code)
{
	loop->stop = true;
	loop->code = code;
}
