#include "user_settings.h"

#include <string.h>

#include "ipc.h"

static const char *const trace_names[] = {"none", "trace", "traceauth",
					  "tracedata"};

const char *user_trace_name(uint32_t trace)
{
	return trace <= USER_TRACE_MAX ? trace_names[trace] : "?";
}

int user_trace_parse(const char *s, uint32_t *trace_r)
{
	for (uint32_t i = 0; i <= USER_TRACE_MAX; i++) {
		if (strcmp(s, trace_names[i]) == 0) {
			*trace_r = i;
			return 0;
		}
	}
	return -1;
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
