/* IPC_T_PROXY_CLIENT / IPC_T_LOGIN_CLIENT bodies. Both peers that read one
 * (master, login process) face a process that faces the network, so every
 * string is bounded and NUL-free and every length checked. */
#include "proxy_client.h"

#include <string.h>

#include "str.h"

void proxy_client_add(struct ipc_msg *m, const struct proxy_client *pc)
{
	const struct tls_facts *t = &pc->tls;

	ipc_add_u64(m, pc->session);
	ipc_add_str(m, pc->listener);
	ipc_add_str(m, pc->remote_ip);
	ipc_add_u32(m, pc->remote_port);
	ipc_add_str(m, pc->local_ip);
	ipc_add_u32(m, pc->local_port);
	ipc_add_str(m, t->describe);
	ipc_add_u32(m, t->resumed ? 1 : 0);
	ipc_add_str(m, t->cb_type);
	ipc_add_data(m, t->cb, t->cb_len);
	ipc_add_data(m, t->has_spki ? t->spki : (const unsigned char *)"",
		     t->has_spki ? sizeof(t->spki) : 0);
	ipc_add_data(m, t->cert != NULL ? t->cert : "", t->cert_len);
	ipc_add_u32(m, pc->plain ? 1 : 0);
	ipc_add_u32(m, pc->proxy_pid);
}

static int get_str(struct ipc_msg *m, char *out, size_t outsz)
{
	const char *s;

	if (ipc_get_str(m, &s) < 0 || str_cpy(out, s, outsz) < 0)
		return -1;
	return 0;
}

int proxy_client_get(struct ipc_msg *m, struct proxy_client *pc,
		     const char **error_r)
{
	struct tls_facts *t = &pc->tls;
	const void *cb, *spki, *cert;
	size_t cb_len, spki_len, cert_len;
	uint32_t resumed, plain;

	memset(pc, 0, sizeof(*pc));
	if (ipc_get_u64(m, &pc->session) < 0 ||
	    get_str(m, pc->listener, sizeof(pc->listener)) < 0 ||
	    get_str(m, pc->remote_ip, sizeof(pc->remote_ip)) < 0 ||
	    ipc_get_u32(m, &pc->remote_port) < 0 ||
	    get_str(m, pc->local_ip, sizeof(pc->local_ip)) < 0 ||
	    ipc_get_u32(m, &pc->local_port) < 0 ||
	    get_str(m, t->describe, sizeof(t->describe)) < 0 ||
	    ipc_get_u32(m, &resumed) < 0 ||
	    get_str(m, t->cb_type, sizeof(t->cb_type)) < 0 ||
	    ipc_get_data(m, &cb, &cb_len) < 0 ||
	    ipc_get_data(m, &spki, &spki_len) < 0 ||
	    ipc_get_data(m, &cert, &cert_len) < 0 ||
	    ipc_get_u32(m, &plain) < 0 || ipc_get_u32(m, &pc->proxy_pid) < 0 ||
	    ipc_end(m) < 0) {
		*error_r = "malformed proxied-client record";
		return -1;
	}
	if (cb_len > sizeof(t->cb) || (spki_len != 0 && spki_len !=
							   sizeof(t->spki)) ||
	    cert_len > TLS_CERT_DER_MAX || pc->remote_port > 65535 ||
	    pc->local_port > 65535 || resumed > 1 ||
	    (cb_len == 0) != (t->cb_type[0] == '\0') || plain > 1 ||
	    (plain != 0 && (t->describe[0] != '\0' || cb_len != 0 ||
			    spki_len != 0 || cert_len != 0))) {
		*error_r = "proxied-client record out of range";
		return -1;
	}
	pc->plain = plain != 0;
	t->resumed = resumed != 0;
	memcpy(t->cb, cb, cb_len);
	t->cb_len = cb_len;
	t->has_spki = spki_len != 0;
	if (t->has_spki)
		memcpy(t->spki, spki, spki_len);
	t->cert = cert_len != 0 ? cert : NULL;
	t->cert_len = cert_len;
	return 0;
}
