/* The admin API's apps methods (docs/admin.md "Apps and secrets"): apps.list, apps.create,
 * apps.rotate_secret and apps.finish_rotation, on the /admin/rpc dispatcher (handlers/admin.h).
 *
 * Secrets are generated and sealed here (core/seal.h, with the daemon's keys, rpc_env.keys) before
 * any query, so the database only ever receives sealed values; a new secret is shown once, in the
 * answer, and never logged or audited. Each change is one statement that also writes its audit row
 * (storage/migrations/0016_app_secrets.sql), after which this daemon's app caches forget the app
 * (app_caches_forget), so the change holds here at once; other daemons see a finished rotation
 * within APP_CACHE_TTL_ROTATING and a new secret at once (handlers/auth.h). */
#ifndef FL_ADMIN_APPS_H
#define FL_ADMIN_APPS_H

#include "handlers/admin.h"

void admin_apps_register(struct rpc *admin);

/* apps.list's cursor: "<created_at in microseconds since the epoch>.<app id>". Pure; 0 with the
 * parts in micros (digits, NUL-terminated) and *app_id (borrowed from cursor), or -1. */
int admin_apps_cursor_parse(const char *cursor, char micros[24], const char **app_id);

#endif
