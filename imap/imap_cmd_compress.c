/* COMPRESS (RFC 4978): the command only; the stream layer it switches on
 * lives in imap_client.c, below every command. */
#include <stddef.h>

#include "imap_client.h"
#include "imap_commands.h"
#include "imap_worker.h"
#include "zstream.h"

void cmd_compress(struct client *c, const struct imap_cmd *cmd)
{
	struct zstream *z;
	struct str algo;
	const char *error;

	if (cmd->nargs != 1 || !imap_arg_get_atom(&cmd->args[0], &algo)) {
		client_send_tagged(c, cmd->tag,
				   "BAD COMPRESS takes one algorithm name");
		return;
	}
	if (!c->compress_offered) {
		client_send_tagged(c, cmd->tag,
				   "NO COMPRESS is not offered on this port");
		return;
	}
	if (c->z != NULL) {
		client_send_tagged(c, cmd->tag,
				   "NO [COMPRESSIONACTIVE] DEFLATE already "
				   "active");
		return;
	}
	if (!str_eq_ci(algo, "DEFLATE")) {
		client_send_tagged(c, cmd->tag,
				   "NO Unknown compression algorithm");
		return;
	}
	z = zstream_new((int)worker.cfg.imap_compress_level, &error);
	if (z == NULL) {
		clog_error(&c->log, "COMPRESS: %s", error);
		client_send_tagged(c, cmd->tag,
				   "NO [UNAVAILABLE] Cannot start compression");
		return;
	}
	client_send_tagged(c, cmd->tag, "OK DEFLATE active");
	client_compress_start(c, z);
}
