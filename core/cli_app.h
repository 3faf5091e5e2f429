/* `fiberlinkd app create --app-id ID [--secret S]`: registers a forum app and prints
 * `app_id=…` and `secret=…` (the secret once: it is not shown again). The row itself is
 * storage/apps.h. */
#ifndef FL_CLI_APP_H
#define FL_CLI_APP_H

#include <stddef.h>

struct config;

/* secret NULL → 32 random bytes as 64 lowercase hex. An existing app id is an error unless the
 * same secret is given (then it is a no-op, so the demo script can run twice). Returns 0 with the
 * secret in secret_out, or -1 with a message on stderr. */
int cli_app_create(const char *conninfo, const char *app_id, const char *secret, char *secret_out,
                   size_t secret_out_sz);

/* argv holds the words after `app create`; usage is printed on a bad argument. Returns the exit
 * code: 0, 1 (refused or database error), 2 (usage). */
int cli_app(const struct config *cfg, const char *usage, int argc, char **argv);

#endif
