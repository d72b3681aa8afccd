#include "throttle.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "str.h"

/* Keys: an address in canonical text form or an account name. */
#define THROTTLE_KEY_MAX 256

struct throttle_entry {
	char key[THROTTLE_KEY_MAX];
	uint64_t window_start;
	uint64_t last;
	uint64_t blocked_until;
	unsigned count;
	bool warned; /* account: logged in this window */
};

struct throttle_table {
	struct throttle_entry e[THROTTLE_TABLE_SIZE];
};

static struct {
	unsigned limit, window, block;
	struct throttle_table addrs, accounts;
} thr;

void throttle_set_limits(unsigned limit, unsigned window_s, unsigned block_s)
{
	thr.limit = limit;
	thr.window = window_s == 0 ? 1 : window_s;
	thr.block = block_s;
}

void throttle_init(unsigned limit, unsigned window_s, unsigned block_s)
{
	memset(&thr, 0, sizeof(thr));
	throttle_set_limits(limit, window_s, block_s);
}

/* IPv6 addresses count per /64, IPv4 (and v4-mapped) per address; anything
 * that does not parse is taken verbatim. */
static void addr_key(const char *remote, char *out, size_t outsz)
{
	unsigned char a6[16];
	char text[INET6_ADDRSTRLEN];

	if (strchr(remote, ':') != NULL &&
	    inet_pton(AF_INET6, remote, a6) == 1) {
		static const unsigned char v4mapped[12] = {
			0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a6, v4mapped, sizeof(v4mapped)) != 0)
			memset(a6 + 8, 0, 8);
		if (inet_ntop(AF_INET6, a6, text, sizeof(text)) != NULL) {
			snprintf(out, outsz, "%s%s", text,
				 memcmp(a6, v4mapped, 12) != 0 ? "/64" : "");
			return;
		}
	}
	if (str_cpy(out, remote, outsz) < 0)
		out[0] = '\0';
}

static bool entry_idle(const struct throttle_entry *e, uint64_t now)
{
	return now >= e->blocked_until &&
	       (now < e->window_start || now - e->window_start >= thr.window);
}

/* The entry of key; when absent and create, a reused one: an empty slot,
 * else an idle one (no block, window over), else the least recently
 * touched. NULL if absent and !create. */
static struct throttle_entry *
table_get(struct throttle_table *t, const char *key, uint64_t now, bool create)
{
	struct throttle_entry *empty = NULL, *idle = NULL, *oldest = NULL;
	struct throttle_entry *victim;

	for (size_t i = 0; i < THROTTLE_TABLE_SIZE; i++) {
		struct throttle_entry *e = &t->e[i];
		if (e->key[0] == '\0') {
			if (empty == NULL)
				empty = e;
			continue;
		}
		if (strcmp(e->key, key) == 0)
			return e;
		if (idle == NULL && entry_idle(e, now))
			idle = e;
		if (oldest == NULL || e->last < oldest->last)
			oldest = e;
	}
	if (!create)
		return NULL;
	victim = empty != NULL ? empty : idle != NULL ? idle : oldest;
	memset(victim, 0, sizeof(*victim));
	(void)str_cpy(victim->key, key, sizeof(victim->key));
	victim->window_start = now;
	victim->last = now;
	return victim;
}

/* Starts a new window once the old one is over. */
static void entry_tick(struct throttle_entry *e, uint64_t now)
{
	if (now < e->window_start || now - e->window_start >= thr.window) {
		e->window_start = now;
		e->count = 0;
		e->warned = false;
	}
	e->last = now;
}

bool throttle_blocked(const char *remote, uint64_t now)
{
	char key[THROTTLE_KEY_MAX];
	struct throttle_entry *e;

	if (thr.limit == 0)
		return false;
	addr_key(remote, key, sizeof(key));
	e = table_get(&thr.addrs, key, now, false);
	return e != NULL && now < e->blocked_until;
}

void throttle_fail(const char *remote, const char *account, uint64_t now)
{
	char key[THROTTLE_KEY_MAX];
	struct throttle_entry *e;

	addr_key(remote, key, sizeof(key));
	e = table_get(&thr.addrs, key, now, true);
	entry_tick(e, now);
	e->count++;
	if (thr.limit != 0 && e->count >= thr.limit &&
	    now >= e->blocked_until) {
		e->blocked_until = now + thr.block;
		log_warn("auth: blocking remote=%s for %us after %u failed "
			 "authentications within %us",
			 key, thr.block, e->count, thr.window);
		/* the block, not the window, now decides */
		e->count = 0;
		e->window_start = now;
	}
	if (account == NULL || account[0] == '\0')
		return;
	e = table_get(&thr.accounts, account, now, true);
	entry_tick(e, now);
	e->count++;
	if (thr.limit != 0 && e->count >= thr.limit && !e->warned) {
		e->warned = true;
		log_warn("auth: %u failed authentications within %us for "
			 "account name=%s (not blocked: see "
			 "auth_fail_limit in doc/config.md)",
			 e->count, thr.window, account);
	}
}
