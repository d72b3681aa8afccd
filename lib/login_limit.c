/* The pre-auth connection limit per remote address (login_max_per_ip):
 * what one login process serves at once from one address. Real clients
 * open a few connections at a time; a flood from one address would
 * otherwise take every slot of login_max_clients. The count is per login
 * process, so the pool as a whole admits up to login_processes times the
 * limit (connections are spread over the pool by the kernel). */
#include "login_private.h"

#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "metrics.h"

bool login_limit_preauth(struct login_client *c)
{
	unsigned max = login_svc.cfg.login_max_per_ip;
	if (max == 0 || c->remote_ip[0] == '\0')
		return false;
	unsigned n = 0;
	for (struct login_client *o = login_svc.clients; o != NULL;
	     o = o->priv->next) {
		if (o != c && !o->closing &&
		    strcmp(o->remote_ip, c->remote_ip) == 0)
			n++;
	}
	if (n < max)
		return false;
	clog_warn(&c->log, "limit login_max_per_ip=%u hit: connection refused",
		  max);
	metrics_count(METRICS_LIMIT_PREAUTH_IP, 1);
	/* the protocol has not started (no greeting): one fixed line, in
	 * plaintext or through a tls-proxy that already did the handshake;
	 * nothing before a handshake of our own */
	if (!c->implicit_tls || c->secured) {
		const char *line =
			strcmp(login_svc.proto->service, "imap") == 0
				? "* BYE [UNAVAILABLE] Too many connections "
				  "from your address\r\n"
				: "421 4.7.0 Too many connections from your "
				  "address\r\n";
		(void)send(c->fd, line, strlen(line),
			   MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	login_client_close(c, "login_max_per_ip");
	return true;
}
