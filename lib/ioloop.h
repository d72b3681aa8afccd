#ifndef POSTERN_IOLOOP_H
#define POSTERN_IOLOOP_H
/* One event loop per process (epoll). Order of one iteration: wait for fds,
 * run fd callbacks, run expired timers, free what was removed. An io or timer
 * may be removed from inside any callback, including its own. */
#include <stdbool.h>

#define IO_READ	 0x1u
#define IO_WRITE 0x2u
#define IO_ERROR 0x4u /* reported only, never requested */

struct io;
struct timer;
typedef void io_cb_t(void *ctx, unsigned events);
typedef void timer_cb_t(void *ctx);

/* Call once per process before anything else here. Fatal on failure. */
void ioloop_init(void);
/* Frees signal handlers, timers and the epoll fd (for leak checkers); call
 * after ioloop_run returned, once. ios still added are the caller's leak. */
void ioloop_deinit(void);
/* Runs until ioloop_stop(). */
void ioloop_run(void);
void ioloop_stop(void);
/* Monotonic milliseconds. */
unsigned long long ioloop_now_ms(void);

/* fd must stay open until io_remove. events: IO_READ|IO_WRITE (may be 0). */
struct io *io_add(int fd, unsigned events, io_cb_t *cb, void *ctx);
void io_set_events(struct io *io, unsigned events);
/* Accepts NULL; NULLs *io. Does not close the fd. */
void io_remove(struct io **io);

/* One-shot timer after msecs. */
struct timer *timer_add(unsigned msecs, timer_cb_t *cb, void *ctx);
/* Accepts NULL; NULLs *t. */
void timer_remove(struct timer **t);

/* Delivers signo through the loop (signalfd); the signal is blocked for the
 * process. cb's events argument is unused. */
void signal_add(int signo, io_cb_t *cb, void *ctx);

#endif
