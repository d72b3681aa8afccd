/* submission-login: the pre-auth SMTP submission process of its login pool
 * (ports 587 with STARTTLS, 465 with implicit TLS).
 *
 * SECURITY: the same as imap-login (imap-login/imap_login.c), which shares
 * lib/login_*: started as root only to read the config and the TLS key; then
 * login_user, connected to auth's login socket, chrooted into the empty
 * login_chroot, no capabilities, no-new-privs. Every client line is bounded
 * (login_max_line), it never learns whether a password is right, and a
 * hand-off carries auth's one-time ticket, which the master redeems -- a
 * compromised submission-login cannot claim a user it did not authenticate,
 * nor hand a connection to another service (the master checks the ticket's
 * service). */
#include "submission_login_client.h"

int main(int argc, char *argv[])
{
	return login_service_main(&submission_login_proto, argc, argv);
}
