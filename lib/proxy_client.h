#ifndef POSTERN_PROXY_CLIENT_H
#define POSTERN_PROXY_CLIENT_H
/* The record of one client connection whose TLS session a tls-proxy
 * process holds: sent by the proxy with the plaintext end of its socketpair
 * (IPC_T_PROXY_CLIENT), checked and passed on by the master to a login
 * process of the listener's service (IPC_T_LOGIN_CLIENT). Field order:
 * ipc_proto.h. */
#include <stdbool.h>
#include <stdint.h>

#include "ipc.h"
#include "tls.h"

struct proxy_client {
	uint64_t session; /* born at accept in the proxy */
	char listener[32];
	char remote_ip[64];
	uint32_t remote_port;
	char local_ip[64];
	uint32_t local_port;
	struct tls_facts tls; /* tls.cert points into the message read */
	bool plain; /* plaintext listener, TLS not (yet) up: tls all empty */
	uint32_t proxy_pid; /* written by the master */
};

void proxy_client_add(struct ipc_msg *m, const struct proxy_client *pc);
/* Reads every field (and ipc_end). 0, or -1 with *error_r for a malformed
 * or oversized record. */
int proxy_client_get(struct ipc_msg *m, struct proxy_client *pc,
		     const char **error_r);

#endif
