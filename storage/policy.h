/* Stored withdrawal policies (the withdrawal_policies table of
 * storage/migrations/0004_withdrawals.sql), read and written with blocking libpq for
 * `fiberlinkd policy` (core/cli_policy.c). The policy itself and the configured defaults an app
 * without a row gets are core/policy.h. */
#ifndef FL_STORAGE_POLICY_H
#define FL_STORAGE_POLICY_H

#include <stddef.h>

#include <libpq-fe.h>

#include "core/policy.h"

/* A change to one policy: only the fields whose set_* flag is on are written. */
struct policy_update {
    int set_allowed, set_min, set_max_per_request, set_user_daily, set_app_daily, set_cooldown,
        set_max_fee;
    struct withdrawal_policy v;
};

/* Every function writes a message into err on failure (libpq's end in a newline). */

/* 1 when the app is registered, 0 when not, -1 on error. */
int policy_db_app_exists(PGconn *conn, const char *app_id, char *err, size_t errsz);

/* The stored policy of app_id for asset: 1 found (in *out), 0 none, -1 error. */
int policy_db_get(PGconn *conn, const char *app_id, const char *asset,
                  struct withdrawal_policy *out, char *err, size_t errsz);

/* One upsert: fields not set keep the stored value, or take defaults when the row is new, so two
 * operators editing different limits at once do not undo each other's change. The row as stored
 * afterwards goes to *out. 0 or -1. */
int policy_db_upsert(PGconn *conn, const char *app_id, const char *asset,
                     const struct policy_update *u, const struct withdrawal_policy *defaults,
                     struct withdrawal_policy *out, char *err, size_t errsz);

#endif
