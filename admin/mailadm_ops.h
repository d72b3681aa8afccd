#ifndef POSTERN_MAILADM_OPS_H
#define POSTERN_MAILADM_OPS_H
/* mailadm's operator commands that read the server's state directly
 * (stats, who from run_dir/metrics; the quota use and last login of user
 * show from the user's home) and the --json form of every listing.
 * Private to admin/. */
#include <stdbool.h>

#include "config.h"

/* stats: the metrics, as OpenMetrics text or a JSON object. Exit status. */
int ops_stats(const struct config *cfg, bool json);
/* who: the live sessions (user, service, remote, since, session, pid). */
int ops_who(const struct config *cfg, bool json);

/* A listing's reply text (one item per line) as JSON on stdout: kind
 * "user-list" (array of addresses), "tlskey-list" (array of objects) or
 * "user-show" (one object; extra lines from ops_user_extra included). */
void ops_json_listing(const char *kind, const char *text);

/* user show, run as root: the quota use and last login read from the home
 * named in the reply's "home:" line, as more "key: value" lines appended
 * to *text (realloc'd). Without root (or when the home is absent) the lines
 * say why. */
void ops_user_extra(const struct config *cfg, char **text);

#endif
