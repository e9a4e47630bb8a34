/* SPDX-License-Identifier: MIT */
/*
 * steerd's single-threaded event loop: epoll over file descriptors, timers
 * (one timerfd each) and signals (signalfd). Callbacks run to completion;
 * there are no locks anywhere in the agent.
 */
#ifndef STEER_LIB_LOOP_H
#define STEER_LIB_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

#include "lib/clock.h"

struct loop;
struct loop_timer;

typedef void (*loop_fd_cb)(struct loop *loop, int fd, uint32_t events, void *arg);
typedef void (*loop_timer_cb)(struct loop *loop, void *arg);
typedef void (*loop_signal_cb)(struct loop *loop, int signo, void *arg);

struct loop *loop_new(void);
void loop_free(struct loop *loop);

/* Watch fd for EPOLLIN/EPOLLOUT/...; the loop never closes fd itself. */
int loop_add(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb, void *arg);
int loop_mod(struct loop *loop, int fd, uint32_t events);
int loop_del(struct loop *loop, int fd);

/* One-shot timers; arm again from the callback for periodic work. */
struct loop_timer *loop_timer_new(struct loop *loop, loop_timer_cb cb, void *arg);
int loop_timer_arm(struct loop_timer *t, uint64_t delay_ms);
int loop_timer_disarm(struct loop_timer *t);
void loop_timer_free(struct loop_timer *t);

/* Blocks sigs and delivers them through the loop. */
int loop_signals(struct loop *loop, const int *sigs, int n, loop_signal_cb cb, void *arg);

/* Runs until loop_stop(); returns the code given to it, or a negative errno. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop, int code);

#endif /* STEER_LIB_LOOP_H */
