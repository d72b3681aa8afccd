/* The per-exchange request helpers every mechanism uses; apart from the
 * mechanism table (mech.c) so a mechanism can be built and tested alone. */
#include <string.h>

#include "mech.h"

void mech_request_init(struct mech_request *req, const struct mech *mech)
{
	memset(req, 0, sizeof(*req));
	req->mech = mech;
	buf_init(&req->out, MECH_MAX_OUT);
}

void mech_request_deinit(struct mech_request *req)
{
	if (req->mech != NULL && req->mech->deinit != NULL)
		req->mech->deinit(req);
	buf_deinit_secret(&req->out);
	explicit_bzero(req->user, sizeof(req->user));
	req->mech = NULL;
}

enum mech_status mech_fail(struct mech_request *req, uint32_t code,
			   const char *reason)
{
	req->fail_code = code;
	req->fail_reason = reason;
	return MECH_FAILURE;
}

void mech_set_attempted(struct mech_request *req, const unsigned char *name,
			size_t len)
{
	/* the logger escapes control bytes; an overlong name is cut */
	if (len > sizeof(req->attempted) - 1)
		len = sizeof(req->attempted) - 1;
	memcpy(req->attempted, name, len);
	req->attempted[len] = '\0';
	/* an embedded NUL would silently cut the log field: make it visible */
	for (size_t i = 0; i < len; i++) {
		if (req->attempted[i] == '\0')
			req->attempted[i] = '?';
	}
}
