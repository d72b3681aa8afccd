#ifndef POSTERN_AUTH_THROTTLE_H
#define POSTERN_AUTH_THROTTLE_H
/* Brute-force protection. Failed authentications are counted per remote
 * address (IPv6 by /64: one host usually owns a whole prefix) and per
 * attempted account, each in a bounded table (THROTTLE_TABLE_SIZE entries;
 * when full, an expired entry or else the least recently touched one is
 * reused, so memory is fixed whatever an attacker sends). Counts run over
 * fixed windows of `window` seconds.
 *
 * An address with `limit` failures in one window is blocked for `block`
 * seconds: every new exchange from it, whatever the mechanism (certificate
 * logins included), is refused with IPC_AUTH_FAIL_THROTTLED.
 *
 * Accounts are never blocked: refusing an account would let anyone lock its
 * owner out from everywhere by failing on purpose. An account past the limit
 * is logged (warn, once per window) so the admin sees the attack; the
 * per-attempt failure delay of the login processes still applies. */
#include <stdbool.h>
#include <stdint.h>

#define THROTTLE_TABLE_SIZE 4096

/* limit 0 disables blocking (counting and logging stay). */
void throttle_init(unsigned limit, unsigned window_s, unsigned block_s);
/* New limits (config reload); the counts gathered so far are kept. */
void throttle_set_limits(unsigned limit, unsigned window_s, unsigned block_s);

/* Whether new attempts from remote (an IP literal from the login process)
 * are refused now. now is unix seconds (time(NULL); tests pass their own).
 */
bool throttle_blocked(const char *remote, uint64_t now);

/* Records one failed attempt from remote for account (the name the client
 * claimed; may be ""). Starts the block when the address reaches the
 * limit. */
void throttle_fail(const char *remote, const char *account, uint64_t now);

#endif
