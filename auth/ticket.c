#include "ticket.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ioloop.h"
#include "log.h"
#include "rand.h"
#include "scram.h"
#include "str.h"

struct ticket {
	bool used;
	unsigned char ticket[IPC_TICKET_SIZE];
	unsigned long long expires_ms;
	char service[TICKET_SERVICE_MAX];
	struct ticket_user u;
};

/* Allocated on first use; a daemon that never authenticates anyone does
 * not pay for the table. */
static struct ticket *tickets;

static void ticket_clear(struct ticket *t)
{
	free(t->u.home);
	explicit_bzero(t, sizeof(*t));
}

static bool ticket_live(const struct ticket *t, unsigned long long now)
{
	return t->used && t->expires_ms > now;
}

int ticket_issue(const char *user, const char *home, const char *service,
		 uint64_t session, unsigned char ticket_r[IPC_TICKET_SIZE])
{
	unsigned long long now = ioloop_now_ms();
	struct ticket *t = NULL;

	if (tickets == NULL) {
		tickets = calloc(TICKET_MAX, sizeof(*tickets));
		if (tickets == NULL)
			log_fatal("out of memory");
	}
	for (size_t i = 0; i < TICKET_MAX; i++) {
		if (!ticket_live(&tickets[i], now)) {
			t = &tickets[i];
			break;
		}
	}
	if (t == NULL)
		return -1;
	ticket_clear(t);
	t->u.home = strdup(home);
	if (t->u.home == NULL)
		log_fatal("out of memory");
	if (str_cpy(t->u.user, user, sizeof(t->u.user)) < 0 ||
	    str_cpy(t->service, service, sizeof(t->service)) < 0) {
		ticket_clear(t);
		return -1;
	}
	rand_bytes(t->ticket, sizeof(t->ticket));
	t->u.session = session;
	t->expires_ms = now + IPC_TICKET_TTL_S * 1000ULL;
	t->used = true;
	memcpy(ticket_r, t->ticket, IPC_TICKET_SIZE);
	return 0;
}

int ticket_redeem(const void *ticket, size_t len, const char *service,
		  struct ticket_user *user_r, const char **reason_r)
{
	unsigned long long now = ioloop_now_ms();
	struct ticket *found = NULL;

	memset(user_r, 0, sizeof(*user_r));
	if (len != IPC_TICKET_SIZE || tickets == NULL) {
		*reason_r = len != IPC_TICKET_SIZE ? "malformed ticket"
						   : "unknown ticket";
		return -1;
	}
	/* No early exit: the time taken does not depend on where (or
	 * whether) the ticket sits in the table. */
	for (size_t i = 0; i < TICKET_MAX; i++) {
		bool eq = scram_mem_equal(tickets[i].ticket, ticket,
					  IPC_TICKET_SIZE);
		if (eq && tickets[i].used)
			found = &tickets[i];
	}
	if (found == NULL) {
		*reason_r = "unknown ticket";
		return -1;
	}
	if (found->expires_ms <= now) {
		*reason_r = "ticket expired";
		ticket_clear(found);
		return -1;
	}
	if (strcmp(found->service, service) != 0) {
		*reason_r = "ticket issued for another service";
		ticket_clear(found);
		return -1;
	}
	*user_r = found->u;
	found->u.home = NULL; /* moved to the caller */
	ticket_clear(found);
	return 0;
}

void ticket_user_deinit(struct ticket_user *u)
{
	free(u->home);
	u->home = NULL;
}

size_t ticket_count(void)
{
	unsigned long long now = ioloop_now_ms();
	size_t n = 0;

	for (size_t i = 0; tickets != NULL && i < TICKET_MAX; i++)
		n += ticket_live(&tickets[i], now) ? 1 : 0;
	return n;
}

void ticket_deinit(void)
{
	for (size_t i = 0; tickets != NULL && i < TICKET_MAX; i++)
		ticket_clear(&tickets[i]);
	free(tickets);
	tickets = NULL;
}
