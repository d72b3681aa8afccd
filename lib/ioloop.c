#include "ioloop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct io {
	int fd;
	unsigned events;
	io_cb_t *cb;
	void *ctx;
	bool dead;
	struct io *next_dead;
};

/* Timers sit in a list sorted by expiry; most timers in one process have the
 * same duration, so insertion scans from the tail and stays short. */
struct timer {
	unsigned long long expire;
	timer_cb_t *cb;
	void *ctx;
	bool running; /* its callback is on the stack: freed after it returns */
	struct timer *prev, *next;
};

struct ioloop {
	int epfd;
	bool running;
	struct io *dead;
	struct timer *thead, *ttail;
};

static struct ioloop loop = {.epfd = -1};

void ioloop_init(void)
{
	if (loop.epfd >= 0)
		close(loop.epfd);
	loop.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop.epfd < 0)
		log_fatal("epoll_create1: %m");
	loop.running = false;
	loop.dead = NULL;
	loop.thead = loop.ttail = NULL;
}

unsigned long long ioloop_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000ULL +
	       (unsigned long long)ts.tv_nsec / 1000000ULL;
}

static uint32_t io_epoll_events(unsigned events)
{
	uint32_t e = 0;
	if (events & IO_READ)
		e |= EPOLLIN | EPOLLRDHUP;
	if (events & IO_WRITE)
		e |= EPOLLOUT;
	return e;
}

struct io *io_add(int fd, unsigned events, io_cb_t *cb, void *ctx)
{
	struct io *io = calloc(1, sizeof(*io));
	if (io == NULL)
		log_fatal("out of memory");
	io->fd = fd;
	io->events = events;
	io->cb = cb;
	io->ctx = ctx;
	struct epoll_event ev = {.events = io_epoll_events(events),
				 .data.ptr = io};
	if (epoll_ctl(loop.epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		log_panic("epoll_ctl(ADD, %d): %m", fd);
	return io;
}

void io_set_events(struct io *io, unsigned events)
{
	if (io->events == events)
		return;
	io->events = events;
	struct epoll_event ev = {.events = io_epoll_events(events),
				 .data.ptr = io};
	if (epoll_ctl(loop.epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
		log_panic("epoll_ctl(MOD, %d): %m", io->fd);
}

void io_remove(struct io **iop)
{
	struct io *io = *iop;
	if (io == NULL)
		return;
	*iop = NULL;
	/* The fd may already be closed by a careless caller; ignore
	 * ENOENT/EBADF since closing removes it from the epoll set anyway. */
	epoll_ctl(loop.epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->dead = true;
	io->next_dead = loop.dead;
	loop.dead = io;
}

struct timer *timer_add(unsigned msecs, timer_cb_t *cb, void *ctx)
{
	struct timer *t = calloc(1, sizeof(*t));
	if (t == NULL)
		log_fatal("out of memory");
	t->expire = ioloop_now_ms() + msecs;
	t->cb = cb;
	t->ctx = ctx;
	struct timer *after = loop.ttail;
	while (after != NULL && after->expire > t->expire)
		after = after->prev;
	t->prev = after;
	t->next = after != NULL ? after->next : loop.thead;
	if (t->next != NULL)
		t->next->prev = t;
	else
		loop.ttail = t;
	if (after != NULL)
		after->next = t;
	else
		loop.thead = t;
	return t;
}

static void timer_unlink(struct timer *t)
{
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		loop.thead = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	else
		loop.ttail = t->prev;
}

void timer_remove(struct timer **tp)
{
	struct timer *t = *tp;
	if (t == NULL)
		return;
	*tp = NULL;
	if (t->running)
		return; /* already unlinked; ioloop_run_timers frees it */
	timer_unlink(t);
	free(t);
}

static void ioloop_free_dead(void)
{
	while (loop.dead != NULL) {
		struct io *io = loop.dead;
		loop.dead = io->next_dead;
		free(io);
	}
}

struct signal_io {
	int fd;
	io_cb_t *cb;
	void *ctx;
	struct io *io;
	struct signal_io *next;
};

static struct signal_io *signal_ios;

static void signal_io_read(void *ctx, unsigned events)
{
	struct signal_io *s = ctx;
	struct signalfd_siginfo si;
	while (read(s->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		s->cb(s->ctx, events);
}

void signal_add(int signo, io_cb_t *cb, void *ctx)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, signo);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		log_fatal("sigprocmask: %m");
	struct signal_io *s = calloc(1, sizeof(*s));
	if (s == NULL)
		log_fatal("out of memory");
	s->fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->fd < 0)
		log_fatal("signalfd: %m");
	s->cb = cb;
	s->ctx = ctx;
	s->io = io_add(s->fd, IO_READ, signal_io_read, s);
	s->next = signal_ios;
	signal_ios = s;
}

void ioloop_deinit(void)
{
	while (signal_ios != NULL) {
		struct signal_io *s = signal_ios;
		signal_ios = s->next;
		io_remove(&s->io);
		close(s->fd);
		free(s);
	}
	while (loop.thead != NULL) {
		struct timer *t = loop.thead;
		timer_unlink(t);
		free(t);
	}
	ioloop_free_dead();
	if (loop.epfd >= 0)
		close(loop.epfd);
	loop.epfd = -1;
}

void ioloop_stop(void)
{
	loop.running = false;
}

static int ioloop_timeout(void)
{
	if (loop.thead == NULL)
		return -1;
	unsigned long long now = ioloop_now_ms();
	if (loop.thead->expire <= now)
		return 0;
	unsigned long long d = loop.thead->expire - now;
	return d > 86400000ULL ? 86400000 : (int)d;
}

static void ioloop_run_timers(void)
{
	unsigned long long now = ioloop_now_ms();
	/* A callback may add timers expiring now; run only those that were due
	 * at the start so a zero-length timer cannot starve the fds. */
	struct timer *last = loop.ttail;
	while (loop.thead != NULL && loop.thead->expire <= now) {
		struct timer *t = loop.thead;
		bool was_last = t == last;
		timer_unlink(t);
		t->running = true;
		t->cb(t->ctx);
		free(t);
		if (was_last)
			break;
	}
}

void ioloop_run(void)
{
	struct epoll_event evs[64];
	loop.running = true;
	while (loop.running) {
		int n = epoll_wait(loop.epfd, evs, (int)N_ELEMENTS(evs),
				   ioloop_timeout());
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_fatal("epoll_wait: %m");
		}
		for (int i = 0; i < n && loop.running; i++) {
			struct io *io = evs[i].data.ptr;
			if (io->dead)
				continue;
			unsigned ev = 0;
			if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
				ev |= IO_READ;
			if (evs[i].events & EPOLLOUT)
				ev |= IO_WRITE;
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				ev |= IO_ERROR;
			io->cb(io->ctx, ev);
		}
		if (loop.running)
			ioloop_run_timers();
		ioloop_free_dead();
	}
}
