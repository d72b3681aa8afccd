#ifndef POSTERN_IMAP_LOGIN_CLIENT_H
#define POSTERN_IMAP_LOGIN_CLIENT_H
/* The pre-auth IMAP grammar (RFC 9051 / RFC 3501 not-authenticated state)
 * on top of lib/login_client.h. */
#include "login_client.h"

extern const struct login_proto imap_login_proto;

#endif
