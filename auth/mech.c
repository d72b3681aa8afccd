#include "mech.h"

#include <strings.h>
#include <string.h>

static const struct mech *const mechs[] = {
	&mech_plain,
	&mech_login,
	&mech_scram_sha256_plus,
	&mech_scram_sha256,
	&mech_scram_sha1_plus,
	&mech_scram_sha1,
	&mech_external,
};

const struct mech *mech_find(const char *name)
{
	for (size_t i = 0; i < N_ELEMENTS(mechs); i++) {
		if (strcasecmp(mechs[i]->name, name) == 0)
			return mechs[i];
	}
	return NULL;
}
