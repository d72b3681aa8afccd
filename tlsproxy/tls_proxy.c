/* tls-proxy: the TLS end of client connections (config
 * tls_proxy_processes), implicit TLS and STARTTLS, many connections per
 * process.
 *
 * SECURITY: started by the master as root (or as the invoking user in dev
 * mode). While root it only reads the config, the TLS certificate and key
 * and the shared session-ticket key, and raises its descriptor limit; then
 * it becomes login_user, chroots into the empty login_chroot and drops
 * every capability (no-new-privs). It parses TLS records from clients
 * (GnuTLS) and nothing else (where a STARTTLS switch is, the login process
 * tells it through the master): the plaintext goes unread to a login process
 * before authentication and to the user's worker after it, over the same
 * socketpair. It never sees a ticket or learns who logged in. Because one
 * process holds many sessions, a flaw in GnuTLS exploited here exposes that
 * process's other connections (doc/security.md); the master restarts a
 * crashed proxy, and only its own connections are lost. */
#include "login_client.h"

int main(int argc, char *argv[])
{
	return login_tlsproxy_main(argc, argv);
}
