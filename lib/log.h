#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H
/* The one logger. Every line:
 *   <time> <process>[<pid>]: <level>: [session=<hex> remote=<ip> user=<u>:
 * ]<text> Control bytes and non-ASCII in the final line are escaped (\xNN), so
 * a peer string can never forge a log line. Callers write key=value fields in
 * the text. Output goes to stderr (the master redirects it when daemonized). */
#include <stdarg.h>
#include <stdint.h>

#include "compat.h"

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_FATAL,
	LOG_LEVEL_PANIC,
};

/* Per-connection context printed in front of the text. Any field may be
 * 0/empty. Copy strings in; the logger never keeps pointers into it. */
struct log_ctx {
	uint64_t session; /* 0 = none */
	char remote[64];
	char user[256];
};

void log_init(const char *process_name);
void log_set_level(enum log_level level);
/* "debug", "info", "warn", "error": 0, or -1 for an unknown name. */
int log_level_parse(const char *name, enum log_level *level_r);
/* Context used by the plain log_* calls (NULL clears). Copied. */
void log_set_default_ctx(const struct log_ctx *ctx);

void log_msg(enum log_level level, const struct log_ctx *ctx, const char *fmt,
	     ...) POSTERN_PRINTF(3, 4);
void log_vmsg(enum log_level level, const struct log_ctx *ctx, const char *fmt,
	      va_list ap) POSTERN_PRINTF(3, 0);

#define log_debug(...)	     log_msg(LOG_LEVEL_DEBUG, NULL, __VA_ARGS__)
#define log_info(...)	     log_msg(LOG_LEVEL_INFO, NULL, __VA_ARGS__)
#define log_warn(...)	     log_msg(LOG_LEVEL_WARN, NULL, __VA_ARGS__)
#define log_error(...)	     log_msg(LOG_LEVEL_ERROR, NULL, __VA_ARGS__)
#define clog_debug(ctx, ...) log_msg(LOG_LEVEL_DEBUG, (ctx), __VA_ARGS__)
#define clog_info(ctx, ...)  log_msg(LOG_LEVEL_INFO, (ctx), __VA_ARGS__)
#define clog_warn(ctx, ...)  log_msg(LOG_LEVEL_WARN, (ctx), __VA_ARGS__)
#define clog_error(ctx, ...) log_msg(LOG_LEVEL_ERROR, (ctx), __VA_ARGS__)

/* The environment is broken: logs and exits with status 89. */
void log_fatal(const char *fmt, ...) POSTERN_PRINTF(1, 2) POSTERN_NORETURN;
/* A bug: logs and aborts. */
void log_panic(const char *fmt, ...) POSTERN_PRINTF(1, 2) POSTERN_NORETURN;

/* Exit status of log_fatal; the master logs it and restarts with backoff. */
#define LOG_FATAL_EXIT 89

#endif
