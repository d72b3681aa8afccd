#ifndef POSTERN_SMTPC_PRIVATE_H
#define POSTERN_SMTPC_PRIVATE_H
/* What the files of the SMTP client share (never leaves lib/). */
#include "cliconn.h"
#include "smtpc.h"
#include "tls.h"

/* Longest SASL message we send or accept (base64 of a SCRAM message). */
#define SMTPC_SASL_MAX 8192

struct smtpc {
	struct cliconn *conn;
	struct smtpc_parser parser;
	/* EHLO keyword lines, "KEYWORD params" each */
	char *ext[SMTPC_MAX_LINES];
	size_t next;
	char mech[32];
	bool need_rset;
};

/* A reply the client makes up (local = true). */
void smtpc_reply_local(struct smtpc_reply *r, unsigned code, const char *enh,
		       enum smtpc_err err, const char *text);
/* The local reply for the connection's failure; returns -1. */
int smtpc_conn_failed(struct smtpc *c, struct smtpc_reply *r);
/* Reads one reply into *r (a 4xx/5xx gets err SMTPC_E_REFUSED). 0, or -1
 * with the local failure in *r (the connection is broken). */
int smtpc_read_reply(struct smtpc *c, enum cliconn_part part,
		     struct smtpc_reply *r);
/* Queues "cmd arg\r\n" (arg may be NULL). 0 or -1. */
int smtpc_send_cmd(struct smtpc *c, const char *cmd, const char *arg);
/* smtpc_send_cmd and smtpc_read_reply. */
int smtpc_command(struct smtpc *c, const char *cmd, const char *arg,
		  struct smtpc_reply *r);

#endif
