#ifndef POSTERN_USER_SETTINGS_H
#define POSTERN_USER_SETTINGS_H
/* The per-account settings an admin changes with mailadm and that the
 * processes serving the account act on: quota limits (storage/ enforces
 * them) and the protocol trace level. The auth daemon stores them in the
 * account record; they travel with ticket redemption (IPC_T_TICKET_USER ->
 * IPC_T_CLIENT), with a user lookup (IPC_T_USER_INFO), and as a live push
 * when an admin changes them (IPC_T_USER_SETTINGS: auth -> master -> the
 * account's workers). This is their one wire form: four fields appended
 * in this order, u64 quota_storage, u64 quota_messages, u32 trace, u32
 * flags. */
#include <stdint.h>

struct ipc_msg;

/* Protocol trace levels, in increasing order of what is written. */
enum user_trace {
	USER_TRACE_NONE = 0,
	USER_TRACE_TRACE,     /* the protocol; secrets as ***, data as ... */
	USER_TRACE_TRACEAUTH, /* also secrets */
	USER_TRACE_TRACEDATA, /* also message and literal data */
};
#define USER_TRACE_MAX USER_TRACE_TRACEDATA

struct user_settings {
	uint64_t quota_storage;	 /* bytes of RFC822.SIZE; 0 = unlimited */
	uint64_t quota_messages; /* messages; 0 = unlimited */
	uint32_t trace;		 /* enum user_trace */
	uint32_t flags;		 /* USER_F_* */
};

/* The submission worker saves a copy of every message the account submits
 * into its \Sent mailbox (for clients that do not do it themselves). */
#define USER_F_SAVE_SENT 0x1u
#define USER_F_ALL	 0x1u

/* "none", "trace", "traceauth", "tracedata"; "?" for an invalid value. */
const char *user_trace_name(uint32_t trace);
/* The level named s (exact, lowercase). 0, or -1 if s names none. */
int user_trace_parse(const char *s, uint32_t *trace_r);

/* Appends the four fields to m. */
void user_settings_add(struct ipc_msg *m, const struct user_settings *s);
/* Reads the four fields from m into s_r. 0, or -1 (m->bad set) if a field
 * is missing, the trace level is out of range or a flag unknown; s_r is
 * then zeroed. */
int user_settings_get(struct ipc_msg *m, struct user_settings *s_r);

#endif
