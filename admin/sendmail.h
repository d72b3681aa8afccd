#ifndef POSTERN_ADMIN_SENDMAIL_H
#define POSTERN_ADMIN_SENDMAIL_H
/* mailadm sendmail: sendmail(8)-compatible submission (see doc/admin.md). */

/* Where the defaults of a command called as "sendmail" are read from
 * (options one per line, as on the command line); POSTERN_SENDMAIL_CONF
 * overrides it. */
#define SENDMAIL_CONF "/etc/postern/sendmail.conf"

/* Runs sendmail if argv asks for it: argv[0] named "sendmail", or the
 * command "sendmail" (after an optional -c CONFIG). Returns the sysexits.h
 * status, or -1 if argv is not a sendmail call. */
int sendmail_dispatch(int argc, char **argv, const char *default_config);

#endif
