#ifndef POSTERN_TAP_H
#define POSTERN_TAP_H
/* Minimal test harness: CHECK records a failure with file:line and goes on;
 * tap_done() prints a summary and returns the exit status for main. */
#include <stdbool.h>

void tap_check(bool ok, const char *expr, const char *file, int line);
int tap_done(void);
#define CHECK(e) tap_check(!!(e), #e, __FILE__, __LINE__)

#endif
