/* The account record: version 3 round-trips the settings, versions 2 and 1
 * records (written before quotas) still read, and anything malformed is
 * refused. */
#include <string.h>

#include "account.h"
#include "ipc.h"
#include "record.h"
#include "tap.h"

static void make(struct account *a)
{
	const char *error;

	memset(a, 0, sizeof(*a));
	a->created = 1700000000;
	CHECK(account_set_password(a, "pw", 2, 4096, &error) == 0);
}

/* A version 1 record as the old encoder wrote it: version, created, the
 * secrets, nothing after them. */
static void encode_v1(const struct account *a, struct buf *out)
{
	const struct scram_secret *s[2] = {&a->sha256, &a->sha1};

	record_put_be(out, 1, 1);
	record_put_be(out, a->created, 8);
	record_put_be(out, 2, 1);
	for (int i = 0; i < 2; i++) {
		size_t n = scram_hash_len(s[i]->alg);

		record_put_be(out, (uint64_t)s[i]->alg, 1);
		record_put_be(out, s[i]->iterations, 4);
		record_put_text(out, 1, s[i]->salt, s[i]->salt_len);
		record_put_be(out, n, 1);
		(void)buf_append(out, s[i]->stored_key, n);
		(void)buf_append(out, s[i]->server_key, n);
	}
}

int main(void)
{
	struct account a, b;
	struct buf rec;
	const char *error;

	make(&a);
	a.settings.quota_storage = 5ull << 30;
	a.settings.quota_messages = 12345;
	a.settings.trace = USER_TRACE_TRACEDATA;
	a.settings.flags = USER_F_SAVE_SENT;
	buf_init(&rec, ACCOUNT_RECORD_MAX);
	CHECK(account_encode(&a, &rec) == 0);
	CHECK(rec.data[0] == 3);
	CHECK(account_decode(rec.data, rec.len, &b, &error) == 0);
	CHECK(b.settings.quota_storage == 5ull << 30 &&
	      b.settings.quota_messages == 12345 &&
	      b.settings.trace == USER_TRACE_TRACEDATA &&
	      b.settings.flags == USER_F_SAVE_SENT);
	CHECK(b.created == a.created && b.have_sha1 &&
	      memcmp(b.sha256.stored_key, a.sha256.stored_key, 32) == 0);

	/* an unknown flag, a trace level past the last one, a short and a
	 * long record */
	rec.data[rec.len - 1] = 0x80;
	CHECK(account_decode(rec.data, rec.len, &b, &error) < 0);
	rec.data[rec.len - 1] = USER_F_SAVE_SENT;
	rec.data[rec.len - 2] = USER_TRACE_MAX + 1;
	CHECK(account_decode(rec.data, rec.len, &b, &error) < 0);
	rec.data[rec.len - 2] = USER_TRACE_TRACEDATA;
	/* version 2: the same without the flags */
	rec.data[0] = 2;
	CHECK(account_decode(rec.data, rec.len - 1, &b, &error) == 0);
	CHECK(b.settings.trace == USER_TRACE_TRACEDATA && b.settings.flags == 0);
	CHECK(account_decode(rec.data, rec.len, &b, &error) < 0);
	rec.data[0] = 3;
	rec.data[rec.len - 1] = 0;
	CHECK(account_decode(rec.data, rec.len - 1, &b, &error) < 0);
	CHECK(buf_append(&rec, "", 1) == 0);
	CHECK(account_decode(rec.data, rec.len, &b, &error) < 0 &&
	      strcmp(error, "trailing bytes") == 0);

	/* version 1: no settings, read as unlimited and no trace */
	buf_clear(&rec);
	encode_v1(&a, &rec);
	CHECK(!rec.overflow);
	CHECK(account_decode(rec.data, rec.len, &b, &error) == 0);
	CHECK(b.settings.quota_storage == 0 && b.settings.quota_messages == 0 &&
	      b.settings.trace == USER_TRACE_NONE);
	/* ... but a version 1 record carrying settings is malformed */
	record_put_be(&rec, 1, 8);
	record_put_be(&rec, 1, 8);
	record_put_be(&rec, 0, 1);
	CHECK(account_decode(rec.data, rec.len, &b, &error) < 0);
	rec.data[0] = 4;
	CHECK(account_decode(rec.data, rec.len, &b, &error) < 0 &&
	      strcmp(error, "unknown record version") == 0);

	/* the wire form of the settings */
	{
		struct ipc_msg m;
		struct user_settings s;
		uint32_t t;

		ipc_msg_init(&m, 1, 0);
		user_settings_add(&m, &a.settings);
		CHECK(user_settings_get(&m, &s) == 0 && ipc_end(&m) == 0 &&
		      s.quota_storage == a.settings.quota_storage &&
		      s.quota_messages == 12345 && s.trace == a.settings.trace);
		ipc_msg_deinit(&m);
		ipc_msg_init(&m, 1, 0);
		ipc_add_u64(&m, 1);
		ipc_add_u64(&m, 2);
		ipc_add_u32(&m, 9);
		ipc_add_u32(&m, 0);
		CHECK(user_settings_get(&m, &s) < 0 && s.quota_storage == 0);
		ipc_msg_deinit(&m);
		ipc_msg_init(&m, 1, 0);
		ipc_add_u64(&m, 1);
		ipc_add_u64(&m, 2);
		ipc_add_u32(&m, 0);
		ipc_add_u32(&m, 0x80); /* an unknown flag */
		CHECK(user_settings_get(&m, &s) < 0 && s.quota_storage == 0);
		ipc_msg_deinit(&m);
		CHECK(user_trace_parse("traceauth", &t) == 0 &&
		      t == USER_TRACE_TRACEAUTH);
		CHECK(user_trace_parse("TRACE", &t) < 0);
		CHECK(strcmp(user_trace_name(USER_TRACE_TRACE), "trace") == 0);
	}
	buf_deinit(&rec);
	account_wipe(&a);
	account_wipe(&b);
	return tap_done();
}
