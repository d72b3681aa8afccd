#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "fdio.h"
#include "tls_private.h"

/* One record at a time: tls_write reports partial progress per record. */
#define TLS_MAX_WRITE 16384

struct tls_server {
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	bool have_ticket_key;
	unsigned char ticket_key[TLS_TICKET_KEY_SIZE];
};

int tls_server_new(const char *cert_path, const char *key_path,
		   const char *priority, struct tls_server **srv_r,
		   const char **error_r)
{
	struct tls_server *srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	int ret = gnutls_certificate_allocate_credentials(&srv->cred);
	if (ret < 0) {
		free(srv);
		*error_r = gnutls_strerror(ret);
		return -1;
	}
	ret = gnutls_certificate_set_x509_key_file(
		srv->cred, cert_path, key_path, GNUTLS_X509_FMT_PEM);
	if (ret < 0) {
		*error_r = gnutls_strerror(ret);
		tls_server_free(&srv);
		return -1;
	}
	const char *err_pos = NULL;
	ret = gnutls_priority_init(&srv->prio, priority, &err_pos);
	if (ret < 0) {
		srv->prio = NULL;
		*error_r = ret == GNUTLS_E_INVALID_REQUEST
				   ? "syntax error in tls_priority"
				   : gnutls_strerror(ret);
		tls_server_free(&srv);
		return -1;
	}
	*srv_r = srv;
	return 0;
}

int tls_server_add_sni_certs(struct tls_server *srv, const char *list,
			     const char **error_r)
{
	static char err[2 * 8192 + 256];
	for (const char *p = list; *p != '\0';) {
		size_t n = strcspn(p, " ,");
		if (n == 0) {
			p++;
			continue;
		}
		char pair[2 * 4096 + 2];
		if (n >= sizeof(pair)) {
			*error_r = "tls_sni_certs: entry too long";
			return -1;
		}
		memcpy(pair, p, n);
		pair[n] = '\0';
		p += n;
		char *colon = strchr(pair, ':');
		if (colon == NULL) {
			snprintf(err, sizeof(err),
				 "tls_sni_certs: %s: expected CERT:KEY", pair);
			*error_r = err;
			return -1;
		}
		*colon = '\0';
		int ret = gnutls_certificate_set_x509_key_file(
			srv->cred, pair, colon + 1, GNUTLS_X509_FMT_PEM);
		if (ret < 0) {
			snprintf(err, sizeof(err), "tls_sni_certs: %s / %s: %s",
				 pair, colon + 1, gnutls_strerror(ret));
			*error_r = err;
			return -1;
		}
	}
	return 0;
}

void tls_server_free(struct tls_server **srvp)
{
	struct tls_server *srv = *srvp;
	if (srv == NULL)
		return;
	*srvp = NULL;
	if (srv->prio != NULL)
		gnutls_priority_deinit(srv->prio);
	gnutls_certificate_free_credentials(srv->cred);
	explicit_bzero(srv->ticket_key, sizeof(srv->ticket_key));
	free(srv);
}

/* A TLS 1.3 client that rejects our certificate may send its alert in
 * the clear (OpenSSL does, before it has switched to its handshake keys);
 * GnuTLS then only says "Decryption has failed". So during the handshake
 * the transport remembers the last bytes it read: a handshake that broke
 * on a plaintext fatal alert record (15 03 0x 00 02 02 desc) ended on the
 * alert. Remove once GnuTLS reports such alerts itself. */
static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
	struct tls_conn *conn = ptr;
	ssize_t r = recv(conn->fd, data, len, 0);

	if (r > 0 && conn->handshaking) {
		size_t n = (size_t)r, keep = sizeof(conn->tail);

		if (n >= keep) {
			memcpy(conn->tail, (unsigned char *)data + n - keep,
			       keep);
			conn->tail_len = keep;
		} else {
			size_t old = conn->tail_len + n > keep ? keep - n
							       : conn->tail_len;

			memmove(conn->tail, conn->tail + conn->tail_len - old,
				old);
			memcpy(conn->tail + old, data, n);
			conn->tail_len = old + n;
		}
	}
	return r;
}

static ssize_t tls_push(gnutls_transport_ptr_t ptr, const giovec_t *iov,
			int iovcnt)
{
	struct tls_conn *conn = ptr;
	struct msghdr mh;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = (struct iovec *)(uintptr_t)iov; /* same layout */
	mh.msg_iovlen = (size_t)iovcnt;
	return sendmsg(conn->fd, &mh, MSG_NOSIGNAL);
}

static int tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct tls_conn *conn = ptr;
	struct pollfd pfd = {.fd = conn->fd, .events = POLLIN};

	return poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
}

struct tls_conn *tls_conn_new(struct tls_server *srv, int fd,
			      const char **error_r)
{
	struct tls_conn *conn = calloc(1, sizeof(*conn));
	if (conn == NULL) {
		*error_r = "out of memory";
		return NULL;
	}
	/* NO_SIGNAL: a peer that went away must not SIGPIPE the process. */
	int ret = gnutls_init(&conn->session, GNUTLS_SERVER | GNUTLS_NONBLOCK |
						      GNUTLS_NO_SIGNAL);
	if (ret < 0) {
		free(conn);
		*error_r = gnutls_strerror(ret);
		return NULL;
	}
	if ((ret = gnutls_priority_set(conn->session, srv->prio)) < 0 ||
	    (ret = gnutls_credentials_set(conn->session, GNUTLS_CRD_CERTIFICATE,
					  srv->cred)) < 0) {
		gnutls_deinit(conn->session);
		free(conn);
		*error_r = gnutls_strerror(ret);
		return NULL;
	}
	/* Request, never require; no CA list to advertise since any key may
	 * be registered. Without a verify function GnuTLS accepts any chain. */
	gnutls_certificate_server_set_request(conn->session,
					      GNUTLS_CERT_REQUEST);
	gnutls_certificate_send_x509_rdn_sequence(conn->session, 1);
	if (srv->have_ticket_key) {
		gnutls_datum_t key = {srv->ticket_key, TLS_TICKET_KEY_SIZE};

		/* GnuTLS copies the key into the session */
		if ((ret = gnutls_session_ticket_enable_server(conn->session,
							       &key)) < 0) {
			gnutls_deinit(conn->session);
			free(conn);
			*error_r = gnutls_strerror(ret);
			return NULL;
		}
	}
	tls_conn_set_fd(conn, fd);
	return conn;
}

void tls_conn_free(struct tls_conn **connp)
{
	struct tls_conn *conn = *connp;
	if (conn == NULL)
		return;
	*connp = NULL;
	gnutls_deinit(conn->session);
	free(conn);
}

/* Server and client sessions (tls_client.c) alike run on our transport
 * (see tls_pull), on the fd given here. */
void tls_conn_set_fd(struct tls_conn *conn, int fd)
{
	conn->fd = fd;
	gnutls_transport_set_ptr(conn->session, conn);
	gnutls_transport_set_pull_function(conn->session, tls_pull);
	gnutls_transport_set_pull_timeout_function(conn->session,
						   tls_pull_timeout);
	gnutls_transport_set_vec_push_function(conn->session, tls_push);
}

bool tls_is_broken(const struct tls_conn *conn)
{
	return conn->broken;
}

static void tls_break(struct tls_conn *conn, int ret, const char **error_r)
{
	conn->broken = true;
	*error_r = gnutls_strerror(ret);
	errno = EPIPE;
}

static int plaintext_alert(const struct tls_conn *conn)
{
	const unsigned char *t = conn->tail;

	if (conn->tail_len == 7 && t[0] == 0x15 && t[1] == 3 && t[3] == 0 &&
	    t[4] == 2 && t[5] == 2)
		return t[6];
	return -1;
}

/* "alert=\"unknown ca\"" for the alert the peer sent; NULL if none. */
static const char *alert_text(struct tls_conn *conn, int ret)
{
	const char *name;
	int alert = -1;
	size_t o = 0;

	if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED)
		alert = (int)gnutls_alert_get(conn->session);
	else
		alert = plaintext_alert(conn);
	name = alert < 0 ? NULL
			 : gnutls_alert_get_strname(
				   (gnutls_alert_description_t)alert);
	if (name == NULL)
		return NULL;
	if (strncmp(name, "GNUTLS_A_", 9) == 0)
		name += 9;
	o = (size_t)snprintf(conn->error, sizeof(conn->error), "alert=\"");
	for (; *name != '\0' && o + 2 < sizeof(conn->error); name++) {
		char ch = *name;

		conn->error[o++] = ch == '_' ? ' '
				   : ch >= 'A' && ch <= 'Z'
					   ? (char)(ch - 'A' + 'a')
					   : ch;
	}
	conn->error[o++] = '"';
	conn->error[o] = '\0';
	return conn->error;
}

enum tls_step tls_handshake(struct tls_conn *conn, const char **error_r)
{
	if (conn->broken) {
		*error_r = "connection broken";
		return TLS_STEP_ERROR;
	}
	for (;;) {
		conn->handshaking = true;
		int ret = gnutls_handshake(conn->session);
		conn->handshaking = false;
		if (ret == GNUTLS_E_SUCCESS)
			return TLS_STEP_DONE;
		if (ret == GNUTLS_E_INTERRUPTED)
			continue;
		if (ret == GNUTLS_E_AGAIN) {
			return tls_want_write(conn) ? TLS_STEP_WANT_WRITE
						    : TLS_STEP_WANT_READ;
		}
		if (gnutls_error_is_fatal(ret) == 0)
			continue; /* warning alert: go on */
		tls_break(conn, ret, error_r);
		if (ret == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
			conn->verify_failed = true;
			*error_r = tls_client_verify_error(conn);
		} else if (alert_text(conn, ret) != NULL) {
			*error_r = conn->error;
		}
		return TLS_STEP_ERROR;
	}
}

ssize_t tls_read(struct tls_conn *conn, void *p, size_t n, const char **error_r)
{
	if (conn->broken) {
		*error_r = "connection broken";
		errno = EPIPE;
		return -1;
	}
	for (;;) {
		ssize_t ret = gnutls_record_recv(conn->session, p, n);
		if (ret >= 0)
			return ret;
		switch (ret) {
		case GNUTLS_E_INTERRUPTED:
			continue;
		case GNUTLS_E_AGAIN:
			errno = EAGAIN;
			return -1;
		case GNUTLS_E_PREMATURE_TERMINATION:
			/* EOF without close_notify: the client is gone just
			 * the same; nothing more will be written to it. */
			conn->broken = true;
			return 0;
		case GNUTLS_E_REHANDSHAKE:
			/* TLS 1.2 renegotiation is refused by ignoring it. */
			continue;
		default:
			if (gnutls_error_is_fatal((int)ret) == 0)
				continue;
			tls_break(conn, (int)ret, error_r);
			return -1;
		}
	}
}

ssize_t tls_write(struct tls_conn *conn, const void *p, size_t n,
		  const char **error_r)
{
	if (conn->broken) {
		*error_r = "connection broken";
		errno = EPIPE;
		return -1;
	}
	size_t len = conn->write_pending > 0 ? conn->write_pending : n;
	if (len > TLS_MAX_WRITE)
		len = TLS_MAX_WRITE;
	if (len > n) {
		/* the caller dropped bytes GnuTLS had already encrypted */
		*error_r = "TLS write buffer shrank";
		conn->broken = true;
		errno = EPIPE;
		return -1;
	}
	for (;;) {
		ssize_t ret = gnutls_record_send(conn->session, p, len);
		if (ret >= 0) {
			conn->write_pending = 0;
			return ret;
		}
		if (ret == GNUTLS_E_INTERRUPTED)
			continue;
		if (ret == GNUTLS_E_AGAIN) {
			conn->write_pending = len;
			errno = EAGAIN;
			return -1;
		}
		tls_break(conn, (int)ret, error_r);
		return -1;
	}
}

bool tls_pending(struct tls_conn *conn)
{
	return !conn->broken && gnutls_record_check_pending(conn->session) > 0;
}

bool tls_want_write(struct tls_conn *conn)
{
	return gnutls_record_get_direction(conn->session) == 1;
}

void tls_bye(struct tls_conn *conn)
{
	if (conn->broken)
		return;
	(void)gnutls_bye(conn->session, GNUTLS_SHUT_WR);
}

const char *tls_describe(struct tls_conn *conn)
{
	const char *proto = gnutls_protocol_get_name(
		gnutls_protocol_get_version(conn->session));
	const char *suite = gnutls_ciphersuite_get(conn->session);
	if (proto == NULL)
		proto = "unknown";
	if (suite == NULL)
		suite = "unknown";
	/* GnuTLS says "TLS1.3"; logs and the hand-off use OpenSSL's
	 * "TLSv1.3", which admins grep for. */
	if (strncmp(proto, "TLS", 3) == 0 && proto[3] != 'v')
		snprintf(conn->desc, sizeof(conn->desc), "TLSv%s %s", proto + 3,
			 suite);
	else
		snprintf(conn->desc, sizeof(conn->desc), "%s %s", proto, suite);
	return conn->desc;
}

int tls_peer_spki_sha256(struct tls_conn *conn,
			 unsigned char out[TLS_SPKI_SHA256_SIZE])
{
	unsigned int count = 0;
	const gnutls_datum_t *certs =
		gnutls_certificate_get_peers(conn->session, &count);
	if (certs == NULL || count == 0)
		return -1;
	if (gnutls_certificate_type_get(conn->session) != GNUTLS_CRT_X509)
		return -1;

	gnutls_x509_crt_t crt = NULL;
	gnutls_pubkey_t key = NULL;
	gnutls_datum_t spki = {NULL, 0};
	int ret = -1;
	if (gnutls_x509_crt_init(&crt) < 0)
		return -1;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_pubkey_init(&key) < 0)
		goto out;
	if (gnutls_pubkey_import_x509(key, crt, 0) < 0 ||
	    gnutls_pubkey_export2(key, GNUTLS_X509_FMT_DER, &spki) < 0)
		goto out;
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size, out) < 0)
		goto out;
	ret = 0;
out:
	gnutls_free(spki.data);
	if (key != NULL)
		gnutls_pubkey_deinit(key);
	gnutls_x509_crt_deinit(crt);
	return ret;
}

int tls_channel_binding(struct tls_conn *conn, const char **type_r,
			unsigned char buf[TLS_CB_MAX], size_t *len_r)
{
	gnutls_channel_binding_t cbt;
	gnutls_datum_t cb = {NULL, 0};

	if (conn->broken)
		return -1;
	switch (gnutls_protocol_get_version(conn->session)) {
	case GNUTLS_TLS1_3:
		cbt = GNUTLS_CB_TLS_EXPORTER;
		*type_r = "tls-exporter";
		break;
	case GNUTLS_TLS1_2:
		cbt = GNUTLS_CB_TLS_UNIQUE;
		*type_r = "tls-unique";
		break;
	default:
		return -1;
	}
	if (gnutls_session_channel_binding(conn->session, cbt, &cb) < 0)
		return -1;
	if (cb.size == 0 || cb.size > TLS_CB_MAX) {
		gnutls_free(cb.data);
		return -1;
	}
	memcpy(buf, cb.data, cb.size);
	*len_r = cb.size;
	gnutls_free(cb.data);
	return 0;
}

/* Reads a key file that must be ours alone: 1 read, 0 missing, -1 error. */
static int ticket_key_read(const char *path, unsigned char *key,
			   const char **error_r)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		*error_r = "cannot open the TLS ticket key";
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 077) != 0 ||
	    st.st_size != TLS_TICKET_KEY_SIZE) {
		close(fd);
		*error_r = "TLS ticket key file is not a 64-byte file of ours "
			   "with mode 0600";
		return -1;
	}
	do {
		n = read(fd, key, TLS_TICKET_KEY_SIZE);
	} while (n < 0 && errno == EINTR);
	close(fd);
	if (n != TLS_TICKET_KEY_SIZE) {
		*error_r = "cannot read the TLS ticket key";
		return -1;
	}
	return 1;
}

/* Writes a fresh key under a temporary name and links it into place: of
 * processes racing here, the first link wins and the others read its key. */
static int ticket_key_create(const char *path, const char **error_r)
{
	char tmp[4096];
	gnutls_datum_t key = {NULL, 0};
	bool written = false;
	int fd, ret = -1;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path,
			     (long)getpid()) >= sizeof(tmp)) {
		*error_r = "TLS ticket key path too long";
		return -1;
	}
	if (gnutls_session_ticket_key_generate(&key) < 0 ||
	    key.size != TLS_TICKET_KEY_SIZE) {
		gnutls_free(key.data);
		*error_r = "cannot generate a TLS ticket key";
		return -1;
	}
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd >= 0) {
		written = fdio_write_all(fd, key.data, key.size) == 0;
		close(fd);
	}
	explicit_bzero(key.data, key.size);
	gnutls_free(key.data);
	if (!written) {
		*error_r = "cannot write the TLS ticket key";
	} else if (link(tmp, path) < 0 && errno != EEXIST) {
		*error_r = "cannot link the TLS ticket key into place";
	} else {
		ret = 0;
	}
	(void)unlink(tmp);
	return ret;
}

int tls_server_load_ticket_key(struct tls_server *srv, const char *path,
			       const char **error_r)
{
	int ret = ticket_key_read(path, srv->ticket_key, error_r);

	if (ret == 0) {
		if (ticket_key_create(path, error_r) < 0)
			return -1;
		ret = ticket_key_read(path, srv->ticket_key, error_r);
		if (ret == 0)
			*error_r = "TLS ticket key vanished after creation";
	}
	if (ret <= 0)
		return -1;
	srv->have_ticket_key = true;
	return 0;
}

void tls_conn_no_client_cert(struct tls_conn *conn)
{
	gnutls_certificate_server_set_request(conn->session,
					      GNUTLS_CERT_IGNORE);
}

bool tls_is_resumed(struct tls_conn *conn)
{
	return gnutls_session_is_resumed(conn->session) != 0;
}

int tls_peer_cert_der(struct tls_conn *conn, const void **der_r,
		      size_t *len_r)
{
	unsigned int count = 0;
	const gnutls_datum_t *certs =
		gnutls_certificate_get_peers(conn->session, &count);

	if (certs == NULL || count == 0 ||
	    gnutls_certificate_type_get(conn->session) != GNUTLS_CRT_X509)
		return -1;
	*der_r = certs[0].data;
	*len_r = certs[0].size;
	return 0;
}

void tls_facts_capture(struct tls_conn *conn, struct tls_facts *f)
{
	const char *cb_type;

	memset(f, 0, sizeof(*f));
	snprintf(f->describe, sizeof(f->describe), "%s", tls_describe(conn));
	f->resumed = tls_is_resumed(conn);
	if (tls_channel_binding(conn, &cb_type, f->cb, &f->cb_len) == 0)
		snprintf(f->cb_type, sizeof(f->cb_type), "%s", cb_type);
	else
		f->cb_len = 0;
	f->has_spki = tls_peer_spki_sha256(conn, f->spki) == 0;
	if (tls_peer_cert_der(conn, &f->cert, &f->cert_len) < 0 ||
	    f->cert_len > TLS_CERT_DER_MAX) {
		f->cert = NULL;
		f->cert_len = 0;
	}
}
