#ifndef POSTERN_SUBMISSION_LOGIN_CLIENT_H
#define POSTERN_SUBMISSION_LOGIN_CLIENT_H
/* The pre-auth SMTP submission grammar on top of lib/login_client.h. */
#include "login_client.h"

extern const struct login_proto submission_login_proto;

#endif
