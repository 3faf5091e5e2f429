/* `fiberlinkd app …`: forum apps and their secrets from the command line (docs/operations.md
 * "Apps", "Rotating an app secret", "Rotating secrets_key"). Rows and sealing are storage/apps.h.
 *
 *   app create --app-id ID [--secret S]    prints app_id=… and secret=… (the secret once)
 *   app rotate-secret --app-id ID [--grace-seconds N]
 *                                          prints app_id=…, secret=<new> and previous_retires_at=…
 *   app finish-rotation --app-id ID        prints app_id=… and finished_at=…
 *   app reseal                             seals every stored secret under the current key
 *
 * Every change writes its audit_log row (actor "cli") in its own transaction. The keys come from
 * the same settings as `serve` (secrets_key, secrets_key_previous, preimage_key). */
#ifndef FL_CLI_APP_H
#define FL_CLI_APP_H

#include <stddef.h>

struct config;
struct seal_keyring;

/* secret NULL → 32 random bytes as 64 lowercase hex. An existing app id is an error unless the
 * same secret is given (then it is a no-op, so the demo script can run twice). keys NULL: no key is
 * configured, the secret is stored unsealed until a daemon or `migrate` with a key seals it (a
 * warning says so). Returns 0 with the secret in secret_out, or -1 with a message on stderr. */
int cli_app_create(const char *conninfo, const struct seal_keyring *keys, const char *app_id,
                   const char *secret, char *secret_out, size_t secret_out_sz);

/* Seals legacy plaintext secrets and seals again what an older key of the ring sealed (storage/
 * apps.h apps_reseal), for `serve` at start-up, `migrate` and `app reseal`. *changed = rows
 * changed. 0; -2 when the database cannot be reached (message in err); or -1 with a message in
 * err naming the setting to fix. */
int cli_app_reseal(const char *conninfo, const struct seal_keyring *keys, const char *actor,
                   int *changed, char *summary, size_t summarysz, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* For `migrate`: reseals when the configuration has a key (secrets_key or preimage_key), else
 * tells how many secrets wait to be sealed. 0 or -1 (message on stderr). */
int cli_app_after_migrate(const struct config *cfg);

/* argv holds the words after `app`; usage is printed on a bad argument. Returns the exit code: 0,
 * 1 (refused or database error), 2 (usage). */
int cli_app(const struct config *cfg, const char *usage, int argc, char **argv);

#endif
