/* Address lookups at the auth daemon's auth-master socket
 * (IPC_T_USER_LOOKUP): which account an address or alias belongs to, and
 * its home. The connection is made on first use and again after auth
 * restarted; lookups in flight when it breaks are answered TEMP. auth is
 * trusted: a malformed reply is logged as its bug and answered TEMP. */
#include "sub_worker.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioloop.h"
#include "ipc_proto.h"

/* Lookups waiting for auth at once (the sessions bound them anyway). */
#define SUB_LOOKUP_MAX 4096

struct sub_lookup_req {
	uint32_t id;
	sub_lookup_cb_t *cb;
	void *ctx;
	struct timer *later; /* a failure reported from the loop */
	struct sub_lookup_req *next;
};

static struct sub_lookup_req *reqs;
static size_t nreqs;
static uint32_t last_id;

static const struct ipc_rule auth_rules[] = {
	{IPC_T_USER_INFO, 8192, false, false},
	{IPC_T_USER_UNKNOWN, 1024, false, false},
};

static struct sub_lookup_req *req_take(uint32_t id)
{
	for (struct sub_lookup_req **p = &reqs; *p != NULL; p = &(*p)->next) {
		if ((*p)->id == id) {
			struct sub_lookup_req *r = *p;
			*p = r->next;
			nreqs--;
			return r;
		}
	}
	return NULL;
}

static void req_answer(uint32_t id, enum sub_lookup_result res,
		       const char *user, const char *home,
		       const struct user_settings *us)
{
	struct sub_lookup_req *r = req_take(id);
	if (r == NULL)
		return; /* cancelled */
	timer_remove(&r->later);
	sub_lookup_cb_t *cb = r->cb;
	void *ctx = r->ctx;
	free(r);
	cb(ctx, res, user, home, us);
}

static void auth_msg(struct ipc_chan *chan, struct ipc_msg *m, void *ctx)
{
	(void)chan;
	(void)ctx;
	const char *user, *home, *reason;
	struct user_settings us;
	if (m->type == IPC_T_USER_INFO) {
		if (ipc_get_str(m, &user) < 0 || ipc_get_str(m, &home) < 0 ||
		    user_settings_get(m, &us) < 0 || ipc_end(m) < 0 ||
		    user[0] == '\0' || home[0] != '/') {
			log_error("malformed USER_INFO from auth");
			req_answer(m->peer_id, SUB_LOOKUP_TEMP, NULL, NULL,
				   NULL);
			return;
		}
		req_answer(m->peer_id, SUB_LOOKUP_FOUND, user, home, &us);
		return;
	}
	if (ipc_get_str(m, &reason) < 0 || ipc_end(m) < 0)
		reason = "temporary failure";
	req_answer(m->peer_id,
		   strcmp(reason, "temporary failure") == 0 ? SUB_LOOKUP_TEMP
							    : SUB_LOOKUP_UNKNOWN,
		   NULL, NULL, NULL);
}

static void fail_all(void)
{
	while (reqs != NULL)
		req_answer(reqs->id, SUB_LOOKUP_TEMP, NULL, NULL, NULL);
}

static void auth_closed(struct ipc_chan *chan, const char *reason, void *ctx)
{
	(void)ctx;
	log_warn("auth-master connection lost: %s", reason);
	ipc_chan_free(&chan);
	sworker.auth = NULL;
	fail_all();
}

static int auth_connect(void)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", sworker.cfg.run_dir,
			     IPC_SOCK_AUTH_MASTER) >= sizeof(path))
		return -1;
	int fd = ipc_connect(path);
	if (fd < 0) {
		log_error("connect %s: %m", path);
		return -1;
	}
	sworker.auth = ipc_chan_new(fd, "auth-master", auth_rules,
				    N_ELEMENTS(auth_rules), auth_msg,
				    auth_closed, NULL);
	return 0;
}

static void later_fire(void *ctx)
{
	struct sub_lookup_req *r = ctx;
	r->later = NULL;
	req_answer(r->id, SUB_LOOKUP_TEMP, NULL, NULL, NULL);
}

uint32_t sub_lookup(const char *address, sub_lookup_cb_t *cb, void *ctx)
{
	struct sub_lookup_req *r = calloc(1, sizeof(*r));
	if (r == NULL)
		log_fatal("out of memory");
	do {
		r->id = ++last_id;
	} while (r->id == 0);
	r->cb = cb;
	r->ctx = ctx;
	r->next = reqs;
	reqs = r;
	nreqs++;
	if (nreqs > SUB_LOOKUP_MAX ||
	    (sworker.auth == NULL && auth_connect() < 0)) {
		r->later = timer_add(0, later_fire, r);
		return r->id;
	}
	struct ipc_msg m;
	ipc_msg_init(&m, IPC_T_USER_LOOKUP, r->id);
	ipc_add_str(&m, address);
	ipc_chan_send(sworker.auth, &m);
	return r->id;
}

void sub_lookup_cancel(uint32_t id)
{
	if (id == 0)
		return;
	struct sub_lookup_req *r = req_take(id);
	if (r != NULL) {
		timer_remove(&r->later);
		free(r);
	}
}

void sub_lookup_deinit(void)
{
	while (reqs != NULL)
		sub_lookup_cancel(reqs->id);
	ipc_chan_free(&sworker.auth);
}
