#ifndef POSTERN_AUTH_SETTINGS_H
#define POSTERN_AUTH_SETTINGS_H
/* The admin commands that change an account's settings (quota limits,
 * trace level: user_settings.h). Each one updates the account record and
 * then pushes the new settings to the master, which passes them to the
 * account's running workers: a change takes effect in live sessions. */
#include <stdint.h>

#include "buf.h"
#include "user_settings.h"

/* "user-quota ACCOUNT STORAGE MESSAGES": each limit "none" (or 0:
 * unlimited), a decimal number (STORAGE may end in K, M, G or T, powers of
 * 1024), or "-" to keep it. */
uint32_t settings_admin_quota(const char *account, const char *storage,
			      const char *messages, struct buf *out);
/* "user-trace ACCOUNT LEVEL" (none, trace, traceauth, tracedata). */
uint32_t settings_admin_trace(const char *account, const char *level,
			      struct buf *out);
/* "user-set ACCOUNT NAME VALUE": NAME save-sent, VALUE on or off. */
uint32_t settings_admin_set(const char *account, const char *name,
			    const char *value, struct buf *out);
/* The "user-show" lines for s, appended to out. */
void settings_show(const struct user_settings *s, struct buf *out);

#endif
