#include "scram_stubs.h"

#include <string.h>

#include "mech.h"

struct scram_secret stub_secret256, stub_secret1, stub_dummy;
bool stub_have_sha1 = true;

int mech_lookup_account(const char *name, size_t len, struct account *acct_r)
{
	memset(acct_r, 0, sizeof(*acct_r));
	if (len != 4 || memcmp(name, "user", 4) != 0)
		return 0;
	memcpy(acct_r->address, "user", 5);
	acct_r->sha256 = stub_secret256;
	acct_r->sha1 = stub_secret1;
	acct_r->have_sha1 = stub_have_sha1;
	return 1;
}

const struct scram_secret *mech_dummy_secret(void)
{
	return &stub_dummy;
}
