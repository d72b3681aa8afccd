#ifndef POSTERN_SCRAM_STUBS_H
#define POSTERN_SCRAM_STUBS_H
/* What the auth daemon provides to a mechanism, for tests that run the SCRAM
 * mechanism alone (unit test, fuzz target): one account named "user" whose
 * secrets the test sets. */
#include <stdbool.h>

#include "scram.h"

extern struct scram_secret stub_secret256, stub_secret1, stub_dummy;
extern bool stub_have_sha1;

#endif
