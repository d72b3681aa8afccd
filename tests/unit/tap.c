#include "tap.h"

#include <stdio.h>

static unsigned checks, failures;

void tap_check(bool ok, const char *expr, const char *file, int line)
{
	checks++;
	if (!ok) {
		failures++;
		fprintf(stderr, "FAIL %s:%d: %s\n", file, line, expr);
	}
}

int tap_done(void)
{
	printf("%u checks, %u failed\n", checks, failures);
	return failures == 0 && checks > 0 ? 0 : 1;
}
