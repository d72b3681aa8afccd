#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "str.h"
#include "strnum.h"

/* One line is written with a single write(2) so lines from the processes
 * sharing stderr never interleave; longer text is cut. */
#define LOG_LINE_MAX 2048

static char log_process[32] = "postern";
static enum log_level log_min = LOG_LEVEL_INFO;
static struct log_ctx log_default;
static bool log_have_default;

static const char *const log_level_names[] = {
	"debug", "info", "warn", "error", "fatal", "panic",
};

/* stderr is systemd-journald's stream (sd-daemon(3): $JOURNAL_STREAM holds
 * its "device:inode", checked so a redirected stderr of a child of a
 * service is not mistaken for it): each line then starts with "<N>", the
 * syslog priority journald files it under, and carries no time stamp
 * (journald adds its own). */
static int log_journal = -1;

static bool log_to_journal(void)
{
	if (log_journal >= 0)
		return log_journal == 1;
	log_journal = 0;
	const char *v = getenv("JOURNAL_STREAM");
	const char *colon = v != NULL ? strchr(v, ':') : NULL;
	uint64_t dev, ino;
	struct stat st;
	if (colon != NULL &&
	    strnum_u64(v, (size_t)(colon - v), &dev) == 0 &&
	    strnum_cstr_u64(colon + 1, &ino) == 0 &&
	    fstat(STDERR_FILENO, &st) == 0 && (uint64_t)st.st_dev == dev &&
	    (uint64_t)st.st_ino == ino)
		log_journal = 1;
	return log_journal == 1;
}

void log_init(const char *process_name)
{
	if (str_cpy(log_process, process_name, sizeof(log_process)) < 0)
		log_process[sizeof(log_process) - 1] = '\0';
}

void log_set_level(enum log_level level)
{
	log_min = level;
}

int log_level_parse(const char *name, enum log_level *level_r)
{
	for (size_t i = 0; i <= LOG_LEVEL_ERROR; i++) {
		if (strcmp(name, log_level_names[i]) == 0) {
			*level_r = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void log_set_default_ctx(const struct log_ctx *ctx)
{
	log_have_default = ctx != NULL;
	if (ctx != NULL)
		log_default = *ctx;
}

/* Appends text to line[*pos], escaping bytes a terminal or log parser could
 * misread (control characters, DEL, 8-bit). */
static void log_put_escaped(char *line, size_t *pos, size_t max,
			    const char *text)
{
	static const char hex[] = "0123456789abcdef";
	for (const unsigned char *p = (const unsigned char *)text; *p != '\0';
	     p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
			if (*pos + 1 >= max)
				return;
			line[(*pos)++] = (char)*p;
		} else {
			if (*pos + 4 >= max)
				return;
			line[(*pos)++] = '\\';
			if (*p == '\\') {
				line[(*pos)++] = '\\';
				continue;
			}
			line[(*pos)++] = 'x';
			line[(*pos)++] = hex[*p >> 4];
			line[(*pos)++] = hex[*p & 15];
		}
	}
}

void log_vmsg(enum log_level level, const struct log_ctx *ctx, const char *fmt,
	      va_list ap)
{
	if (level >= LOG_LEVEL_WARN)
		metrics_count(level == LOG_LEVEL_WARN ? METRICS_LOG_WARN
						      : METRICS_LOG_ERROR,
			      1);
	if (level < log_min)
		return;
	int saved_errno = errno;
	char text[LOG_LINE_MAX], line[LOG_LINE_MAX * 2], prefix[512];
	errno = saved_errno;
	vsnprintf(text, sizeof(text), fmt, ap);

	if (ctx == NULL && log_have_default)
		ctx = &log_default;
	prefix[0] = '\0';
	if (ctx != NULL) {
		size_t n = 0;
		if (ctx->session != 0)
			n += (size_t)snprintf(prefix, sizeof(prefix),
					      "session=%016" PRIx64 " ",
					      ctx->session);
		if (ctx->remote[0] != '\0' && n < sizeof(prefix))
			n += (size_t)snprintf(prefix + n, sizeof(prefix) - n,
					      "remote=%s ", ctx->remote);
		if (ctx->user[0] != '\0' && n < sizeof(prefix))
			snprintf(prefix + n, sizeof(prefix) - n, "user=%s ",
				 ctx->user);
	}

	int n;
	if (log_to_journal()) {
		/* debug info warn error fatal panic -> syslog priorities */
		static const int prio[] = {7, 6, 4, 3, 2, 2};
		n = snprintf(line, sizeof(line), "<%d>%s[%ld]: %s: ",
			     prio[level], log_process, (long)getpid(),
			     log_level_names[level]);
	} else {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line),
			     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%ld]: %s: ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			     tm.tm_hour, tm.tm_min, tm.tm_sec,
			     ts.tv_nsec / 1000000, log_process, (long)getpid(),
			     log_level_names[level]);
	}
	size_t pos = n < 0 ? 0 : (size_t)n;
	log_put_escaped(line, &pos, sizeof(line) - 1, prefix);
	log_put_escaped(line, &pos, sizeof(line) - 1, text);
	line[pos++] = '\n';
	ssize_t ret;
	do {
		ret = write(STDERR_FILENO, line, pos);
	} while (ret < 0 && errno == EINTR);
	errno = saved_errno;
}

void log_msg(enum log_level level, const struct log_ctx *ctx, const char *fmt,
	     ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, ctx, fmt, ap);
	va_end(ap);
}

void log_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_FATAL, NULL, fmt, ap);
	va_end(ap);
	exit(LOG_FATAL_EXIT);
}

void log_panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_PANIC, NULL, fmt, ap);
	va_end(ap);
	abort();
}
