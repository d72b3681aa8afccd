/* lib/tls.c against a real in-process GnuTLS client over a non-blocking
 * socketpair: handshake steps, record I/O with partial progress, data left
 * inside GnuTLS (tls_pending), client-certificate SPKI fingerprints, clean
 * EOF and the broken state. Certificates are generated here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "tap.h"
#include "tls.h"

struct keypair {
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
};

static void keypair_make(struct keypair *kp, const char *cn)
{
	time_t now = time(NULL);
	unsigned char serial[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	CHECK(gnutls_x509_privkey_init(&kp->key) == 0);
	CHECK(gnutls_x509_privkey_generate(
		      kp->key, GNUTLS_PK_ECDSA,
		      GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
		      0) == 0);
	CHECK(gnutls_x509_crt_init(&kp->crt) == 0);
	CHECK(gnutls_x509_crt_set_version(kp->crt, 3) == 0);
	CHECK(gnutls_x509_crt_set_serial(kp->crt, serial, sizeof(serial)) == 0);
	CHECK(gnutls_x509_crt_set_activation_time(kp->crt, now - 3600) == 0);
	CHECK(gnutls_x509_crt_set_expiration_time(kp->crt, now + 86400) == 0);
	CHECK(gnutls_x509_crt_set_dn_by_oid(kp->crt,
					    GNUTLS_OID_X520_COMMON_NAME, 0, cn,
					    (unsigned)strlen(cn)) == 0);
	CHECK(gnutls_x509_crt_set_key(kp->crt, kp->key) == 0);
	CHECK(gnutls_x509_crt_sign2(kp->crt, kp->crt, kp->key,
				    GNUTLS_DIG_SHA256, 0) == 0);
}

static void keypair_free(struct keypair *kp)
{
	gnutls_x509_crt_deinit(kp->crt);
	gnutls_x509_privkey_deinit(kp->key);
}

static void write_pem(const char *path, const gnutls_datum_t *d)
{
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK(fwrite(d->data, 1, d->size, f) == d->size);
	fclose(f);
}

static void keypair_save(struct keypair *kp, const char *cert_path,
			 const char *key_path)
{
	gnutls_datum_t d;
	CHECK(gnutls_x509_crt_export2(kp->crt, GNUTLS_X509_FMT_PEM, &d) == 0);
	write_pem(cert_path, &d);
	gnutls_free(d.data);
	CHECK(gnutls_x509_privkey_export2(kp->key, GNUTLS_X509_FMT_PEM, &d) ==
	      0);
	write_pem(key_path, &d);
	gnutls_free(d.data);
}

/* SHA-256 of the DER SPKI, computed independently of lib/tls.c. */
static void keypair_spki_sha256(struct keypair *kp, unsigned char out[32])
{
	gnutls_pubkey_t pub;
	gnutls_datum_t der;
	CHECK(gnutls_pubkey_init(&pub) == 0);
	CHECK(gnutls_pubkey_import_x509(pub, kp->crt, 0) == 0);
	CHECK(gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der) == 0);
	CHECK(gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, out) ==
	      0);
	gnutls_free(der.data);
	gnutls_pubkey_deinit(pub);
}

struct pair {
	int sv[2];
	struct tls_conn *server;
	gnutls_session_t client;
	gnutls_certificate_credentials_t ccred;
};

static void pair_open(struct pair *p, struct tls_server *srv,
		      struct keypair *client_kp, const char *prio)
{
	const char *error;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->sv) == 0);
	p->server = tls_conn_new(srv, p->sv[0], &error);
	CHECK(p->server != NULL);
	CHECK(gnutls_certificate_allocate_credentials(&p->ccred) == 0);
	if (client_kp != NULL)
		CHECK(gnutls_certificate_set_x509_key(p->ccred, &client_kp->crt,
						      1, client_kp->key) == 0);
	CHECK(gnutls_init(&p->client, GNUTLS_CLIENT | GNUTLS_NONBLOCK |
					      GNUTLS_NO_SIGNAL) == 0);
	CHECK(gnutls_priority_set_direct(p->client, prio, NULL) == 0);
	CHECK(gnutls_credentials_set(p->client, GNUTLS_CRD_CERTIFICATE,
				     p->ccred) == 0);
	gnutls_transport_set_int(p->client, p->sv[1]);
}

static void pair_close(struct pair *p)
{
	tls_conn_free(&p->server);
	CHECK(p->server == NULL);
	gnutls_deinit(p->client);
	gnutls_certificate_free_credentials(p->ccred);
	close(p->sv[0]);
	if (p->sv[1] >= 0)
		close(p->sv[1]);
}

/* Both sides step in turn until both are done; true on success. */
static bool pair_handshake(struct pair *p)
{
	bool sdone = false, cdone = false;
	for (int i = 0; i < 1000 && !(sdone && cdone); i++) {
		const char *error;
		if (!sdone) {
			enum tls_step st = tls_handshake(p->server, &error);
			if (st == TLS_STEP_ERROR) {
				fprintf(stderr, "server handshake: %s\n",
					error);
				return false;
			}
			sdone = st == TLS_STEP_DONE;
		}
		if (!cdone) {
			int ret = gnutls_handshake(p->client);
			if (ret < 0 && gnutls_error_is_fatal(ret)) {
				fprintf(stderr, "client handshake: %s\n",
					gnutls_strerror(ret));
				return false;
			}
			cdone = ret == 0;
		}
	}
	return sdone && cdone;
}

static void test_basic(struct tls_server *srv, const char *prio,
		       const char *want_proto)
{
	struct pair p;
	pair_open(&p, srv, NULL, prio);
	CHECK(pair_handshake(&p));
	const char *desc = tls_describe(p.server);
	CHECK(strncmp(desc, want_proto, strlen(want_proto)) == 0);
	CHECK(strchr(desc, ' ') != NULL && strlen(desc) > 12);

	unsigned char fp[TLS_SPKI_SHA256_SIZE];
	CHECK(tls_peer_spki_sha256(p.server, fp) == -1);

	/* nothing there yet */
	char buf[64];
	const char *error;
	errno = 0;
	CHECK(tls_read(p.server, buf, sizeof(buf), &error) == -1 &&
	      errno == EAGAIN);
	CHECK(!tls_want_write(p.server));

	/* one record, read in small pieces: the rest waits inside GnuTLS
	 * where the fd no longer shows it */
	CHECK(gnutls_record_send(p.client, "abcdefgh", 8) == 8);
	CHECK(tls_read(p.server, buf, 3, &error) == 3);
	CHECK(memcmp(buf, "abc", 3) == 0);
	CHECK(tls_pending(p.server));
	CHECK(tls_read(p.server, buf, sizeof(buf), &error) == 5);
	CHECK(memcmp(buf, "defgh", 5) == 0);
	CHECK(!tls_pending(p.server));

	/* server -> client, far more than the socket buffer holds: partial
	 * progress and EAGAIN, with the same bytes retried */
	size_t total = 1024 * 1024, sent = 0, got = 0;
	unsigned char *out = malloc(total), *in = malloc(total);
	for (size_t i = 0; i < total; i++)
		out[i] = (unsigned char)(i * 7 + (i >> 9));
	bool again_seen = false;
	for (int i = 0; i < 100000 && got < total; i++) {
		/* fill the socket first, so EAGAIN happens mid-stream */
		while (sent < total) {
			ssize_t n = tls_write(p.server, out + sent,
					      total - sent, &error);
			if (n > 0) {
				sent += (size_t)n;
				continue;
			}
			if (n < 0 && errno == EAGAIN)
				again_seen = true;
			else
				CHECK(!"tls_write failed");
			break;
		}
		ssize_t r = gnutls_record_recv(p.client, in + got, total - got);
		if (r > 0)
			got += (size_t)r;
	}
	CHECK(again_seen);
	CHECK(sent == total && got == total);
	CHECK(memcmp(in, out, total) == 0);
	free(in);
	free(out);

	/* close_notify: clean end of stream */
	int ret;
	do {
		ret = gnutls_bye(p.client, GNUTLS_SHUT_WR);
	} while (ret == GNUTLS_E_AGAIN);
	CHECK(tls_read(p.server, buf, sizeof(buf), &error) == 0);
	tls_bye(p.server);
	pair_close(&p);
}

static void test_client_cert(struct tls_server *srv, struct keypair *ckp)
{
	struct pair p;
	pair_open(&p, srv, ckp, "NORMAL");
	CHECK(pair_handshake(&p));
	unsigned char fp[TLS_SPKI_SHA256_SIZE], want[32];
	CHECK(tls_peer_spki_sha256(p.server, fp) == 0);
	keypair_spki_sha256(ckp, want);
	CHECK(memcmp(fp, want, sizeof(want)) == 0);
	pair_close(&p);
}

static void test_broken(struct tls_server *srv)
{
	struct pair p;
	const char *error;
	char buf[16];
	pair_open(&p, srv, NULL, "NORMAL");
	CHECK(pair_handshake(&p));
	/* garbage instead of a record: a fatal error marks the session */
	close(p.sv[1]);
	p.sv[1] = -1;
	ssize_t r = tls_read(p.server, buf, sizeof(buf), &error);
	CHECK(r == 0 || r == -1);
	/* the peer is gone: after the first failure nothing touches GnuTLS */
	for (int i = 0; i < 3; i++)
		(void)tls_write(p.server, "x", 1, &error);
	CHECK(tls_is_broken(p.server));
	errno = 0;
	CHECK(tls_write(p.server, "x", 1, &error) == -1 && errno == EPIPE);
	tls_bye(p.server); /* no-op */
	gnutls_deinit(p.client);
	p.client = NULL;
	tls_conn_free(&p.server);
	gnutls_certificate_free_credentials(p.ccred);
	close(p.sv[0]);

	/* a handshake against garbage fails cleanly */
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	struct tls_conn *c = tls_conn_new(srv, sv[0], &error);
	CHECK(write(sv[1], "a STARTTLS\r\nb CAPABILITY\r\n", 26) == 26);
	enum tls_step st = TLS_STEP_WANT_READ;
	for (int i = 0; i < 10 && st == TLS_STEP_WANT_READ; i++)
		st = tls_handshake(c, &error);
	CHECK(st == TLS_STEP_ERROR);
	CHECK(tls_is_broken(c));
	tls_conn_free(&c);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	char dir[] = "/tmp/test_tls.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char cert[64], key[64];
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);

	struct keypair server_kp, client_kp;
	keypair_make(&server_kp, "localhost");
	keypair_make(&client_kp, "a client");
	keypair_save(&server_kp, cert, key);

	struct tls_server *srv = NULL;
	const char *error;
	CHECK(tls_server_new(cert, key, "NOT-A-PRIORITY", &srv, &error) == -1);
	CHECK(tls_server_new("/nonexistent", key, "NORMAL", &srv, &error) ==
	      -1);
	CHECK(tls_server_new(cert, key,
			     "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
			     &srv, &error) == 0);
	if (srv != NULL) {
		test_basic(srv, "NORMAL", "TLSv1.3 TLS_");
		test_basic(srv, "NORMAL:-VERS-ALL:+VERS-TLS1.2", "TLSv1.2 ");
		test_client_cert(srv, &client_kp);
		test_broken(srv);
	}
	tls_server_free(&srv);
	CHECK(srv == NULL);
	tls_server_free(&srv); /* NULL is fine */

	keypair_free(&server_kp);
	keypair_free(&client_kp);
	unlink(cert);
	unlink(key);
	rmdir(dir);
	return tap_done();
}
