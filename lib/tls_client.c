#include "tls.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "tls_private.h"

struct tls_client {
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	bool no_verify;
	bool no_name_check;
};

bool tls_client_opts_have_cert(const struct tls_client_opts *o)
{
	return o->key_file != NULL || o->key_pem != NULL;
}

static int client_cert_load(struct tls_client *cli,
			    const struct tls_client_opts *o)
{
	if (o->cert_pem != NULL || o->key_pem != NULL) {
		if (o->cert_pem == NULL || o->key_pem == NULL ||
		    o->cert_pem_len > UINT32_MAX || o->key_pem_len > UINT32_MAX)
			return GNUTLS_E_INVALID_REQUEST;
		gnutls_datum_t c = {(unsigned char *)o->cert_pem,
				    (unsigned)o->cert_pem_len};
		gnutls_datum_t k = {(unsigned char *)o->key_pem,
				    (unsigned)o->key_pem_len};
		return gnutls_certificate_set_x509_key_mem(
			cli->cred, &c, &k, GNUTLS_X509_FMT_PEM);
	}
	if (o->key_file == NULL)
		return o->cert_file == NULL ? 0 : GNUTLS_E_INVALID_REQUEST;
	return gnutls_certificate_set_x509_key_file(
		cli->cred, o->cert_file != NULL ? o->cert_file : o->key_file,
		o->key_file, GNUTLS_X509_FMT_PEM);
}

int tls_client_new(const struct tls_client_opts *o, struct tls_client **cli_r,
		   const char **error_r)
{
	struct tls_client *cli = calloc(1, sizeof(*cli));
	const char *err_pos = NULL;
	int ret;

	if (cli == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	cli->no_verify = o->no_verify;
	cli->no_name_check = o->no_name_check;
	if ((ret = gnutls_certificate_allocate_credentials(&cli->cred)) < 0) {
		free(cli);
		*error_r = gnutls_strerror(ret);
		return -1;
	}
	if (!o->no_verify) {
		ret = gnutls_certificate_set_x509_trust_file(
			cli->cred,
			o->ca_file != NULL ? o->ca_file : TLS_SYSTEM_CA,
			GNUTLS_X509_FMT_PEM);
		if (ret <= 0) {
			/* 0 certificates is as useless as an unreadable file */
			*error_r = ret == 0 ? "no CA certificate in the CA file"
					    : "cannot read the CA file";
			tls_client_free(&cli);
			return -1;
		}
	}
	if ((ret = client_cert_load(cli, o)) < 0) {
		*error_r = ret == GNUTLS_E_INVALID_REQUEST
				   ? "a client certificate needs its key"
				   : gnutls_strerror(ret);
		tls_client_free(&cli);
		return -1;
	}
	ret = gnutls_priority_init(
		&cli->prio, o->priority != NULL ? o->priority : TLS_CLIENT_PRIORITY,
		&err_pos);
	if (ret < 0) {
		cli->prio = NULL;
		*error_r = "bad TLS priority string";
		tls_client_free(&cli);
		return -1;
	}
	*cli_r = cli;
	return 0;
}

void tls_client_free(struct tls_client **clip)
{
	struct tls_client *cli = *clip;

	if (cli == NULL)
		return;
	*clip = NULL;
	if (cli->prio != NULL)
		gnutls_priority_deinit(cli->prio);
	gnutls_certificate_free_credentials(cli->cred);
	free(cli);
}

static bool is_ip_literal(const char *name)
{
	unsigned char a[16];

	return inet_pton(AF_INET, name, a) == 1 ||
	       inet_pton(AF_INET6, name, a) == 1;
}

struct tls_conn *tls_client_conn_new(struct tls_client *cli, int fd,
				     const char *server_name,
				     const char **error_r)
{
	struct tls_conn *conn = calloc(1, sizeof(*conn));
	int ret;

	if (conn == NULL) {
		*error_r = "out of memory";
		return NULL;
	}
	conn->client = true;
	ret = gnutls_init(&conn->session,
			  GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (ret < 0) {
		free(conn);
		*error_r = gnutls_strerror(ret);
		return NULL;
	}
	if ((ret = gnutls_priority_set(conn->session, cli->prio)) < 0 ||
	    (ret = gnutls_credentials_set(conn->session, GNUTLS_CRD_CERTIFICATE,
					  cli->cred)) < 0 ||
	    (!is_ip_literal(server_name) &&
	     (ret = gnutls_server_name_set(conn->session, GNUTLS_NAME_DNS,
					   server_name,
					   strlen(server_name))) < 0)) {
		gnutls_deinit(conn->session);
		free(conn);
		*error_r = gnutls_strerror(ret);
		return NULL;
	}
	/* GnuTLS copies the name; the handshake fails unless the chain
	 * verifies and names server_name (DNS or IP SAN) */
	if (!cli->no_verify)
		gnutls_session_set_verify_cert(
			conn->session, cli->no_name_check ? NULL : server_name,
			0);
	tls_conn_set_fd(conn, fd);
	return conn;
}

bool tls_conn_verify_failed(const struct tls_conn *conn)
{
	return conn->verify_failed;
}

const char *tls_client_verify_error(struct tls_conn *conn)
{
	gnutls_datum_t out = {NULL, 0};
	unsigned status = gnutls_session_get_verify_cert_status(conn->session);

	if (gnutls_certificate_verification_status_print(
		    status, GNUTLS_CRT_X509, &out, 0) < 0) {
		return "server certificate verification failed";
	}
	snprintf(conn->verify_error, sizeof(conn->verify_error),
		 "server certificate refused: %.*s", (int)out.size,
		 (const char *)out.data);
	gnutls_free(out.data);
	return conn->verify_error;
}
