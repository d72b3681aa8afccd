#include "user_settings.h"

#include <string.h>

#include "ipc.h"
#include "trace.h"

/* the level names are lib/trace's: one spelling for config and mailadm */
_Static_assert(USER_TRACE_NONE == (int)TRACE_OFF &&
		       USER_TRACE_TRACE == (int)TRACE_PROTO &&
		       USER_TRACE_TRACEAUTH == (int)TRACE_AUTH &&
		       USER_TRACE_TRACEDATA == (int)TRACE_DATA,
	       "user_trace and trace_level differ");

const char *user_trace_name(uint32_t trace)
{
	return trace <= USER_TRACE_MAX
		       ? trace_level_name((enum trace_level)trace)
		       : "?";
}

int user_trace_parse(const char *s, uint32_t *trace_r)
{
	enum trace_level level;

	if (trace_level_parse(s, &level) < 0)
		return -1;
	*trace_r = (uint32_t)level;
	return 0;
}

void user_settings_add(struct ipc_msg *m, const struct user_settings *s)
{
	ipc_add_u64(m, s->quota_storage);
	ipc_add_u64(m, s->quota_messages);
	ipc_add_u32(m, s->trace);
	ipc_add_u32(m, s->flags);
}

int user_settings_get(struct ipc_msg *m, struct user_settings *s_r)
{
	if (ipc_get_u64(m, &s_r->quota_storage) < 0 ||
	    ipc_get_u64(m, &s_r->quota_messages) < 0 ||
	    ipc_get_u32(m, &s_r->trace) < 0 || s_r->trace > USER_TRACE_MAX ||
	    ipc_get_u32(m, &s_r->flags) < 0 || (s_r->flags & ~USER_F_ALL) != 0) {
		m->bad = true;
		memset(s_r, 0, sizeof(*s_r));
		return -1;
	}
	return 0;
}
