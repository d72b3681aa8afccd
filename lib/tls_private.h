#ifndef POSTERN_TLS_PRIVATE_H
#define POSTERN_TLS_PRIVATE_H
/* What tls.c (sessions, server side) and tls_client.c share. */
#include <stdbool.h>
#include <stddef.h>

#include <gnutls/gnutls.h>

struct tls_conn {
	gnutls_session_t session;
	int fd;
	bool broken;
	bool client;
	/* size of the record_send that returned EAGAIN; it must be repeated
	 * with the same parameters */
	size_t write_pending;
	char desc[128];
	/* the handshake failed on the server's certificate (client) */
	bool verify_failed;
	/* why the server's certificate was refused (client sessions) */
	char verify_error[256];
	bool handshaking;
	unsigned char tail[7]; /* the last bytes read while handshaking */
	size_t tail_len;
	char error[96];
};

/* The reason a client handshake failed certificate verification, formatted
 * into conn->verify_error. */
const char *tls_client_verify_error(struct tls_conn *conn);

#endif
