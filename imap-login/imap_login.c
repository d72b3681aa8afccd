/* imap-login: the pre-auth IMAP process of the login pool.
 *
 * SECURITY: started by the master as root (or as the invoking user in dev
 * mode). While root it only reads the config, the TLS certificate and key
 * and the shared session-ticket key (run_dir/tls-ticket-key); then it becomes login_user, connects to the auth daemon's login
 * socket (so auth sees that uid through SO_PEERCRED), chroots into the empty
 * login_chroot and drops every capability for good (no-new-privs). From
 * then on it trusts nothing a client sends: every line and literal is
 * bounded (login_max_line, login_literal_max_*, login_max_clients),
 * and it never learns whether a password is right -- only auth does, and a
 * hand-off carries auth's one-time ticket, which the master redeems at auth,
 * so a compromised login process cannot claim a user it did not
 * authenticate. It trusts the master (fd 3) and auth (run_dir/auth-login)
 * as peers; their messages are still checked against the channel rules.
 * With the tls-proxy pool its clients come from the proxies (TLS and
 * STARTTLS are theirs); without it, handed-off TLS connections are proxied
 * by forked children that keep only the two sockets, stderr and the
 * lifeline. */
#include "imap_login_client.h"

int main(int argc, char *argv[])
{
	return login_service_main(&imap_login_proto, argc, argv);
}
