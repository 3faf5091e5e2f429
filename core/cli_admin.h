/* `fiberlinkd admin create|revoke|list` (docs/admin.md "Tokens"): the operator's tokens for
 * POST /admin/rpc.
 *
 *   admin create --name N --role SUPER_ADMIN|COMMUNITY_ADMIN [--app-id ID]...
 *       makes 32 random bytes, prints them once as `token=<64 lowercase hex>`, and stores only the
 *       SHA-256 of those 64 characters. A COMMUNITY_ADMIN needs at least one registered app; a
 *       SUPER_ADMIN takes none (it sees every app). An existing name, revoked or not, is refused.
 *   admin revoke --name N
 *       the token stops working on its next call; revoking twice says so and succeeds.
 *   admin list
 *       one line per token: name, role, apps, created, last used, revoked; never the token or hash.
 *
 * create and revoke write their audit_log row (actor "cli") in the same transaction as the
 * change. The rows are storage/admin.h. */
#ifndef FL_CLI_ADMIN_H
#define FL_CLI_ADMIN_H

struct config;

/* argv holds the words after `admin`; usage is printed on a bad argument. Returns the exit code:
 * 0, 1 (refused or database error), 2 (usage). */
int cli_admin(const struct config *cfg, const char *usage, int argc, char **argv);

#endif
