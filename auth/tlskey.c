#include "tlskey.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "auth.h"
#include "ipc.h"
#include "ipc_proto.h"
#include "log.h"
#include "record.h"
#include "str.h"

/* Record layout, version 1, integers big-endian:
 *   u8  version = 1
 *   u64 created
 *   u32 flags (TLSKEY_F_*; unknown bits are refused)
 *   u8  length, account     u8 length, login
 *   u8  length, name        u8 length, key type
 *   u16 length, certificate PEM
 * The fingerprint is the db key and is not repeated. */
#define RECORD_VERSION 1

bool tlskey_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > TLSKEY_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c >= 0x7f)
			return false;
	}
	return true;
}

int tlskey_encode(const struct tlskey *k, struct buf *out)
{
	record_put_be(out, RECORD_VERSION, 1);
	record_put_be(out, k->created, 8);
	record_put_be(out, k->flags, 4);
	record_put_text(out, 1, k->account, strlen(k->account));
	record_put_text(out, 1, k->login, strlen(k->login));
	record_put_text(out, 1, k->name, strlen(k->name));
	record_put_text(out, 1, k->key_type, strlen(k->key_type));
	if (k->pem_len > X509_PEM_MAX)
		return -1;
	record_put_text(out, 2, k->pem, k->pem_len);
	return out->overflow ? -1 : 0;
}

int tlskey_decode(const void *p, size_t len, struct tlskey *k_r,
		  const char **error_r)
{
	struct record_reader r;

	memset(k_r, 0, sizeof(*k_r));
	record_reader_init(&r, p, len);
	if (record_get_be(&r, 1) != RECORD_VERSION || r.bad) {
		*error_r = "unknown key record version";
		return -1;
	}
	k_r->created = record_get_be(&r, 8);
	k_r->flags = (uint32_t)record_get_be(&r, 4);
	record_get_text(&r, 1, k_r->account, sizeof(k_r->account));
	record_get_text(&r, 1, k_r->login, sizeof(k_r->login));
	record_get_text(&r, 1, k_r->name, sizeof(k_r->name));
	record_get_text(&r, 1, k_r->key_type, sizeof(k_r->key_type));
	record_get_text(&r, 2, k_r->pem, sizeof(k_r->pem));
	k_r->pem_len = strlen(k_r->pem);
	if (r.bad || r.left != 0 || (k_r->flags & ~TLSKEY_F_ALL) != 0 ||
	    k_r->account[0] == '\0' || k_r->login[0] == '\0') {
		*error_r = "malformed key record";
		return -1;
	}
	return 0;
}

int tlskey_lookup(const char *fingerprint, struct tlskey *k_r)
{
	const char *error;

	if (fingerprint == NULL || !x509_fingerprint_valid(fingerprint))
		return 0;
	switch (authdb_key_get(auth.db, fingerprint, k_r, &error)) {
	case AUTHDB_OK:
		return 1;
	case AUTHDB_NOTFOUND:
		return 0;
	default:
		log_error("key table: %s", error);
		return -1;
	}
}

/* ---- admin commands ---- */

static void fmt_time(uint64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "%llu", (unsigned long long)t);
}

/* The account of an address given by the admin (canonicalised, aliases
 * resolved); an error reply otherwise. */
static int admin_account(const char *in, char *addr, char *account,
			 struct buf *out, uint32_t *code_r)
{
	const char *error;

	if (admin_address(in, addr, out, code_r) < 0)
		return -1;
	switch (authdb_resolve(auth.db, addr, account, &error)) {
	case AUTHDB_OK:
		return 0;
	case AUTHDB_NOTFOUND:
		*code_r = admin_reply(out, IPC_ADMIN_E_NOTFOUND,
				      "no account has the address %s", addr);
		return -1;
	default:
		*code_r = admin_db_error(out, error);
		return -1;
	}
}

/* A fingerprint given by the admin, or an E_INVALID reply. */
static int admin_fingerprint(const char *fp, struct buf *out, uint32_t *code_r)
{
	if (x509_fingerprint_valid(fp))
		return 0;
	*code_r = admin_reply(out, IPC_ADMIN_E_INVALID,
			      "invalid fingerprint: %s (43 base64url "
			      "characters expected)",
			      fp);
	return -1;
}

static int parse_flags(const char *in, uint32_t *flags_r)
{
	/* a comma-separated list; "" = none */
	const char *p = in;

	*flags_r = 0;
	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);

		if (n == 15 && memcmp(p, "no-imap-preauth", 15) == 0)
			*flags_r |= TLSKEY_F_NO_IMAP_PREAUTH;
		else if (n != 0)
			return -1;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* The subject (or "unnamed") as a default name, cut to fit. */
static void default_name(const struct x509_cert_info *info, char *out,
			 size_t size)
{
	const char *src = info->subject[0] != '\0' ? info->subject : "unnamed";
	size_t n = strlen(src);

	if (n > TLSKEY_NAME_MAX)
		n = TLSKEY_NAME_MAX;
	if (n >= size)
		n = size - 1;
	memcpy(out, src, n);
	out[n] = '\0';
}

uint32_t tlskey_admin_add(const char *address, const char *name,
			  const char *flags, const char *pem, struct buf *out)
{
	char addr[ACCOUNT_ADDR_MAX + 1];
	struct x509_cert_info info;
	struct tlskey *k;
	struct buf cert;
	const char *error;
	uint32_t code = IPC_ADMIN_OK, fl;

	if (parse_flags(flags, &fl) < 0)
		return admin_reply(out, IPC_ADMIN_E_USAGE,
				   "unknown key flag: %s", flags);
	if (name[0] != '\0' && !tlskey_name_valid(name))
		return admin_reply(out, IPC_ADMIN_E_INVALID,
				   "invalid key name: 1 to %d printable ASCII "
				   "characters",
				   TLSKEY_NAME_MAX);
	buf_init(&cert, X509_PEM_MAX + 1);
	if (x509_parse_pem(pem, strlen(pem), &info, &cert, &error) < 0) {
		buf_deinit(&cert);
		return admin_reply(out, IPC_ADMIN_E_INVALID, "%s", error);
	}
	if (info.key_problem != NULL) {
		buf_deinit(&cert);
		return admin_reply(out, IPC_ADMIN_E_INVALID,
				   "weak or unsupported key %s: %s",
				   info.key_type, info.key_problem);
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		buf_deinit(&cert);
		return admin_reply(out, IPC_ADMIN_E_INTERNAL, "out of memory");
	}
	if (admin_account(address, addr, k->account, out, &code) < 0)
		goto out;
	memcpy(k->fingerprint, info.fingerprint, sizeof(k->fingerprint));
	memcpy(k->login, addr, sizeof(k->login));
	if (name[0] != '\0')
		(void)str_cpy(k->name, name, sizeof(k->name));
	else
		default_name(&info, k->name, sizeof(k->name));
	(void)str_cpy(k->key_type, info.key_type, sizeof(k->key_type));
	k->created = (uint64_t)time(NULL);
	k->flags = fl;
	k->pem_len = cert.len;
	memcpy(k->pem, cert.data, cert.len);
	switch (authdb_key_add(auth.db, k, &error)) {
	case AUTHDB_OK:
		code = admin_reply(out, IPC_ADMIN_OK, "%s", k->fingerprint);
		break;
	case AUTHDB_EXISTS: {
		struct tlskey *old = malloc(sizeof(*old));
		if (old != NULL && authdb_key_get(auth.db, k->fingerprint, old,
						  &error) == AUTHDB_OK)
			code = admin_reply(
				out, IPC_ADMIN_E_EXISTS,
				"key %s is already registered (account "
				"%s, name \"%s\")",
				k->fingerprint, old->account, old->name);
		else
			code = admin_reply(out, IPC_ADMIN_E_EXISTS,
					   "key %s is already registered",
					   k->fingerprint);
		free(old);
		break;
	}
	case AUTHDB_NOTFOUND: /* deleted meanwhile */
		code = admin_reply(out, IPC_ADMIN_E_NOTFOUND,
				   "no such account: %s", k->account);
		break;
	default:
		code = admin_db_error(out, error);
		break;
	}
out:
	buf_deinit(&cert);
	free(k);
	return code;
}

/* One listing line; fields separated by tabs (names hold no tabs). */
static int list_line(const struct tlskey *k, void *ctx)
{
	struct buf *out = ctx;
	char created[32];
	size_t before = out->len;

	fmt_time(k->created, created, sizeof(created));
	if (buf_printf(out, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k->fingerprint,
		       k->account, k->login, k->key_type, created,
		       (k->flags & TLSKEY_F_NO_IMAP_PREAUTH) != 0
			       ? "no-imap-preauth"
			       : "imap-preauth",
		       k->name) < 0) {
		/* full: the page ends before this key */
		out->len = before;
		out->overflow = false;
		return 1;
	}
	return 0;
}

static uint32_t list_account(const char *account, const char *after,
			     struct buf *out)
{
	struct buf fps;
	struct tlskey *k = malloc(sizeof(*k));
	const char *error;
	uint32_t code = IPC_ADMIN_OK;
	char *pos, *fp;

	if (k == NULL)
		return admin_reply(out, IPC_ADMIN_E_INTERNAL, "out of memory");
	buf_init(&fps, ADMIN_REPLY_MAX);
	if (authdb_links(auth.db, account, 'k', &fps, &error) < 0) {
		code = admin_db_error(out, error);
		goto out;
	}
	pos = (char *)buf_cstr(&fps);
	while ((fp = authdb_links_next(&pos)) != NULL) {
		if (strcmp(fp, after) <= 0)
			continue;
		if (authdb_key_get(auth.db, fp, k, &error) != AUTHDB_OK)
			continue; /* removed meanwhile */
		if (list_line(k, out) != 0)
			break;
	}
out:
	buf_deinit(&fps);
	free(k);
	return code;
}

uint32_t tlskey_admin_list(const char *account_in, const char *after,
			   struct buf *out)
{
	char addr[ACCOUNT_ADDR_MAX + 1], account[ACCOUNT_ADDR_MAX + 1];
	const char *error;
	size_t max = out->max;
	uint32_t code = IPC_ADMIN_OK;

	buf_clear(out);
	if (account_in[0] != '\0' &&
	    admin_account(account_in, addr, account, out, &code) < 0)
		return code;
	if (out->max > ADMIN_REPLY_MAX)
		out->max = ADMIN_REPLY_MAX;
	if (account_in[0] != '\0')
		code = list_account(account, after, out);
	else if (authdb_key_iter(auth.db, after, list_line, out, &error) < 0)
		code = admin_db_error(out, error);
	out->max = max;
	return code;
}

uint32_t tlskey_admin_show(const char *fp, struct buf *out)
{
	struct tlskey *k;
	struct x509_cert_info info;
	const char *error;
	char created[32], nb[32], na[32];
	uint32_t code;

	if (admin_fingerprint(fp, out, &code) < 0)
		return code;
	k = malloc(sizeof(*k));
	if (k == NULL)
		return admin_reply(out, IPC_ADMIN_E_INTERNAL, "out of memory");
	switch (authdb_key_get(auth.db, fp, k, &error)) {
	case AUTHDB_OK:
		break;
	case AUTHDB_NOTFOUND:
		free(k);
		return admin_reply(out, IPC_ADMIN_E_NOTFOUND, "no such key: %s",
				   fp);
	default:
		free(k);
		return admin_db_error(out, error);
	}
	if (x509_parse_pem(k->pem, k->pem_len, &info, NULL, &error) < 0)
		memset(&info, 0, sizeof(info));
	fmt_time(k->created, created, sizeof(created));
	if (info.not_before >= 0)
		fmt_time((uint64_t)info.not_before, nb, sizeof(nb));
	else
		str_cpy(nb, "-", sizeof(nb));
	if (info.not_after >= 0)
		fmt_time((uint64_t)info.not_after, na, sizeof(na));
	else
		str_cpy(na, "-", sizeof(na));
	code = admin_reply(
		out, IPC_ADMIN_OK,
		"fingerprint: %s\naccount: %s\nlogin: %s\nname: %s\n"
		"key: %s\ncreated: %s\nimap-preauth: %s\nsubject: %s\n"
		"issuer: %s\nnot-before: %s\nnot-after: %s (ignored)\n"
		"%.*s",
		k->fingerprint, k->account, k->login, k->name, k->key_type,
		created,
		(k->flags & TLSKEY_F_NO_IMAP_PREAUTH) != 0 ? "no" : "yes",
		info.subject, info.issuer, nb, na, (int)k->pem_len, k->pem);
	free(k);
	return code;
}

uint32_t tlskey_admin_rm(const char *fp, struct buf *out)
{
	const char *error;
	uint32_t code;

	if (admin_fingerprint(fp, out, &code) < 0)
		return code;
	switch (authdb_key_del(auth.db, fp, &error)) {
	case AUTHDB_OK:
		return admin_reply(out, IPC_ADMIN_OK, "%s", "");
	case AUTHDB_NOTFOUND:
		return admin_reply(out, IPC_ADMIN_E_NOTFOUND, "no such key: %s",
				   fp);
	default:
		return admin_db_error(out, error);
	}
}
