/* LIST and LSUB (RFC 9051 6.3.9, RFC 3501 6.3.9): reference + pattern with
 * the wildcards '*' (anything) and '%' (anything but the delimiter). Until
 * storage exists the only mailbox is INBOX, which is subscribed. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "imap_client.h"
#include "imap_commands.h"
#include "str.h"

#define MAILBOX_DELIM '/'

static bool ascii_eq_ci(char a, char b)
{
	if (a >= 'a' && a <= 'z')
		a = (char)(a - 'a' + 'A');
	if (b >= 'a' && b <= 'z')
		b = (char)(b - 'a' + 'A');
	return a == b;
}

/* Matches name against pattern. Dynamic programming over name positions, so
 * a pattern full of wildcards costs O(len(pattern) * len(name)) instead of
 * backtracking exponentially. The INBOX component of a name matches
 * case-insensitively (RFC 9051 5.1). -1 on allocation failure. */
static int mailbox_match(struct str pat, struct str name)
{
	size_t inbox_len = 0;
	bool *row;
	int ret;

	if (name.len >= 5 && str_eq_ci((struct str){name.p, 5}, "INBOX") &&
	    (name.len == 5 || name.p[5] == MAILBOX_DELIM))
		inbox_len = 5;
	row = calloc(name.len + 1, sizeof(*row));
	if (row == NULL)
		return -1;
	/* row[j]: pattern prefix so far matches name prefix of length j */
	row[0] = true;
	for (size_t i = 0; i < pat.len; i++) {
		char pc = pat.p[i];

		if (pc == '*' || pc == '%') {
			/* row[j] |= row[j-1] while the skipped char is allowed
			 */
			for (size_t j = 1; j <= name.len; j++) {
				if (pc == '%' && name.p[j - 1] == MAILBOX_DELIM)
					continue;
				row[j] = row[j] || row[j - 1];
			}
			continue;
		}
		for (size_t j = name.len; j > 0; j--) {
			char nc = name.p[j - 1];
			bool eq = j - 1 < inbox_len ? ascii_eq_ci(pc, nc)
						    : pc == nc;

			row[j] = row[j - 1] && eq;
		}
		row[0] = false;
	}
	ret = row[name.len] ? 1 : 0;
	free(row);
	return ret;
}

/* LIST reference mailbox / LSUB reference mailbox */
static void list_common(struct client *c, const struct imap_cmd *cmd,
			const char *resp)
{
	static const char *const mailboxes[] = {"INBOX"};
	struct str ref, pat;
	char *full;

	if (cmd->nargs != 2 || !imap_arg_get_astring(&cmd->args[0], &ref) ||
	    !imap_arg_get_astring(&cmd->args[1], &pat)) {
		/* LIST-EXTENDED selection/return options are not offered */
		cmd_bad_args(c, cmd);
		return;
	}
	if (pat.len == 0) {
		/* the hierarchy delimiter and root of the reference */
		client_send(c, "* %s (\\Noselect) \"/\" \"\"", resp);
		client_send_tagged(c, cmd->tag, "OK %s completed", resp);
		return;
	}
	full = malloc(ref.len + pat.len + 1);
	if (full == NULL) {
		client_send_tagged(c, cmd->tag, "NO [SERVERBUG] Out of memory");
		return;
	}
	memcpy(full, ref.p, ref.len);
	memcpy(full + ref.len, pat.p, pat.len);
	pat = (struct str){full, ref.len + pat.len};
	for (size_t i = 0; i < sizeof(mailboxes) / sizeof(mailboxes[0]); i++) {
		int m = mailbox_match(pat, str_from_cstr(mailboxes[i]));

		if (m < 0) {
			free(full);
			client_send_tagged(c, cmd->tag,
					   "NO [SERVERBUG] Out of memory");
			return;
		}
		if (m == 0)
			continue;
		if (resp[1] == 'S') /* LSUB */
			client_send(c, "* LSUB () \"/\" %s", mailboxes[i]);
		else
			client_send(c, "* LIST (\\HasNoChildren) \"/\" %s",
				    mailboxes[i]);
	}
	free(full);
	client_send_tagged(c, cmd->tag, "OK %s completed", resp);
}

void cmd_list(struct client *c, const struct imap_cmd *cmd)
{
	list_common(c, cmd, "LIST");
}

void cmd_lsub(struct client *c, const struct imap_cmd *cmd)
{
	list_common(c, cmd, "LSUB");
}
