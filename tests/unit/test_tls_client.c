/* lib/tls's client side (tls_client.c) against its server side, both in
 * this process over a non-blocking socketpair: a chain that verifies and
 * names the host, a wrong name, a foreign CA, the pinned no-name-check
 * mode, no verification, matching channel bindings, and a client
 * certificate made on the fly for an existing key (x509_cert_for_key) that
 * the server sees with the key's fingerprint. Certificates come from
 * lib/x509's generator. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "tap.h"
#include "tls.h"
#include "x509.h"

static char dir[] = "/tmp/postern-tlsc-XXXXXX";

static void save(const char *name, const struct buf *b, char *path,
		 size_t size)
{
	snprintf(path, size, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK(fwrite(b->data, 1, b->len, f) == b->len);
	fclose(f);
}

/* A server certificate for "mail.test" and 127.0.0.1 into cert/key. */
static void make_server(const char *stem, char *cert, char *key, size_t size)
{
	struct x509_gen g = {.cn = "mail.test", .dns_name = "mail.test",
			     .loopback_ips = true, .server = true,
			     .not_before = time(NULL) - 60,
			     .not_after = time(NULL) + 86400};
	struct buf k, c;
	const char *error = NULL;
	char name[64];

	buf_init(&k, 65536);
	buf_init(&c, 65536);
	CHECK(x509_generate(&g, &k, &c, &error) == 0);
	snprintf(name, sizeof(name), "%s.crt", stem);
	save(name, &c, cert, size);
	snprintf(name, sizeof(name), "%s.key", stem);
	save(name, &k, key, size);
	buf_deinit(&k);
	buf_deinit(&c);
}

struct pair {
	int sv[2];
	struct tls_conn *server, *client;
};

/* Steps both handshakes; 1 both done, 0 the client failed (verify_r says
 * whether on the certificate), -1 other failure. */
static int handshake(struct pair *p, bool *verify_r)
{
	bool sdone = false, cdone = false;
	const char *error = NULL;

	*verify_r = false;
	for (int i = 0; i < 1000 && !(sdone && cdone); i++) {
		if (!cdone) {
			enum tls_step st = tls_handshake(p->client, &error);
			if (st == TLS_STEP_ERROR) {
				*verify_r = tls_conn_verify_failed(p->client);
				return 0;
			}
			cdone = st == TLS_STEP_DONE;
		}
		if (!sdone) {
			enum tls_step st = tls_handshake(p->server, &error);
			if (st == TLS_STEP_ERROR)
				return cdone ? -1 : 0;
			sdone = st == TLS_STEP_DONE;
		}
	}
	return sdone && cdone ? 1 : -1;
}

static int connect_pair(struct tls_server *srv, struct tls_client *cli,
			const char *name, struct pair *p, bool *verify_r)
{
	const char *error = NULL;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->sv) == 0);
	p->server = tls_conn_new(srv, p->sv[0], &error);
	p->client = tls_client_conn_new(cli, p->sv[1], name, &error);
	CHECK(p->server != NULL && p->client != NULL);
	return handshake(p, verify_r);
}

static void close_pair(struct pair *p)
{
	tls_conn_free(&p->server);
	tls_conn_free(&p->client);
	close(p->sv[0]);
	close(p->sv[1]);
}

static int try(struct tls_server *srv, const struct tls_client_opts *o,
	       const char *name, bool *verify_r)
{
	struct tls_client *cli = NULL;
	const char *error = NULL;
	struct pair p;
	int ret;

	CHECK(tls_client_new(o, &cli, &error) == 0);
	if (cli == NULL)
		return -1;
	ret = connect_pair(srv, cli, name, &p, verify_r);
	close_pair(&p);
	tls_client_free(&cli);
	CHECK(cli == NULL);
	return ret;
}

static void test_verification(struct tls_server *srv, const char *cert,
			      const char *other_cert)
{
	struct tls_client_opts o = {.ca_file = cert};
	bool verify;

	CHECK(try(srv, &o, "mail.test", &verify) == 1);
	CHECK(try(srv, &o, "127.0.0.1", &verify) == 1);
	/* the certificate does not name this host */
	CHECK(try(srv, &o, "other.test", &verify) == 0 && verify);
	CHECK(try(srv, &o, "127.0.0.2", &verify) == 0 && verify);
	/* pinned: the chain must verify, the name is not checked */
	o.no_name_check = true;
	CHECK(try(srv, &o, "other.test", &verify) == 1);
	/* a CA that did not sign it */
	struct tls_client_opts foreign = {.ca_file = other_cert};
	CHECK(try(srv, &foreign, "mail.test", &verify) == 0 && verify);
	foreign.no_name_check = true;
	CHECK(try(srv, &foreign, "mail.test", &verify) == 0 && verify);
	/* no verification at all (tests only) */
	struct tls_client_opts none = {.no_verify = true};
	CHECK(try(srv, &none, "other.test", &verify) == 1);
	/* unreadable or empty CA files fail at setup */
	struct tls_client *cli = NULL;
	const char *error = NULL;
	struct tls_client_opts bad = {.ca_file = "/nonexistent/ca.pem"};
	CHECK(tls_client_new(&bad, &cli, &error) == -1 && cli == NULL);
	bad.ca_file = "/dev/null";
	CHECK(tls_client_new(&bad, &cli, &error) == -1 && cli == NULL);
	/* a certificate without its key */
	struct tls_client_opts half = {.ca_file = cert, .cert_file = cert};
	CHECK(tls_client_new(&half, &cli, &error) == -1);
}

static void test_cert_and_binding(struct tls_server *srv, const char *cert)
{
	struct buf key, crt1, crt2;
	struct x509_cert_info i1, i2;
	const char *error = NULL;
	unsigned char spki[TLS_SPKI_SHA256_SIZE];
	char fp[X509_FP_LEN + 1];

	/* a bare key, as mailadm tlskey gen writes it */
	buf_init(&key, 65536);
	buf_init(&crt1, 65536);
	buf_init(&crt2, 65536);
	CHECK(x509_generate_ed25519("k", &key, &crt1, &error) == 0);
	buf_clear(&crt1);
	CHECK(x509_cert_for_key(key.data, key.len, "a", &crt1, &error) == 0);
	CHECK(x509_cert_for_key(key.data, key.len, "a", &crt2, &error) == 0);
	CHECK(x509_parse_pem(crt1.data, crt1.len, &i1, NULL, &error) == 0);
	CHECK(x509_parse_pem(crt2.data, crt2.len, &i2, NULL, &error) == 0);
	/* two certificates, one key: one identity */
	CHECK(crt1.len != crt2.len ||
	      memcmp(crt1.data, crt2.data, crt1.len) != 0);
	CHECK(strcmp(i1.fingerprint, i2.fingerprint) == 0);
	CHECK(strcmp(i1.key_type, "Ed25519") == 0);
	CHECK(x509_cert_for_key("junk", 4, "a", &crt2, &error) == -1);

	struct tls_client_opts o = {.ca_file = cert,
				    .cert_pem = crt1.data,
				    .cert_pem_len = crt1.len,
				    .key_pem = key.data,
				    .key_pem_len = key.len};
	struct tls_client *cli = NULL;
	struct pair p;
	bool verify;
	CHECK(tls_client_opts_have_cert(&o));
	CHECK(tls_client_new(&o, &cli, &error) == 0);
	CHECK(connect_pair(srv, cli, "mail.test", &p, &verify) == 1);
	CHECK(tls_peer_spki_sha256(p.server, spki) == 0);
	x509_fingerprint(spki, fp);
	CHECK(strcmp(fp, i1.fingerprint) == 0);
	/* both ends derive the same channel binding */
	unsigned char a[TLS_CB_MAX], b[TLS_CB_MAX];
	const char *ta, *tb;
	size_t la = 0, lb = 0;
	CHECK(tls_channel_binding(p.client, &ta, a, &la) == 0);
	CHECK(tls_channel_binding(p.server, &tb, b, &lb) == 0);
	CHECK(strcmp(ta, tb) == 0 && la == lb && memcmp(a, b, la) == 0);
	/* and talk */
	ssize_t w = tls_write(p.client, "ping", 4, &error);
	char in[8];
	ssize_t r = -1;
	for (int i = 0; i < 100 && r < 0; i++)
		r = tls_read(p.server, in, sizeof(in), &error);
	CHECK(w == 4 && r == 4 && memcmp(in, "ping", 4) == 0);
	close_pair(&p);
	tls_client_free(&cli);
	buf_deinit_secret(&key);
	buf_deinit(&crt1);
	buf_deinit(&crt2);
}

int main(void)
{
	char cert[512], key[512], ocert[512], okey[512];
	struct tls_server *srv = NULL;
	const char *error = NULL;

	CHECK(mkdtemp(dir) != NULL);
	make_server("srv", cert, key, sizeof(cert));
	make_server("other", ocert, okey, sizeof(ocert));
	CHECK(tls_server_new(cert, key, "NORMAL", &srv, &error) == 0);
	if (srv != NULL) {
		test_verification(srv, cert, ocert);
		test_cert_and_binding(srv, cert);
	}
	tls_server_free(&srv);
	unlink(cert);
	unlink(key);
	unlink(ocert);
	unlink(okey);
	rmdir(dir);
	return tap_done();
}
