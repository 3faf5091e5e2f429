/* Stored withdrawal policies (the withdrawal_policies table of
 * storage/migrations/0004_withdrawals.sql), read and written by `fiberlinkd policy`
 * (core/cli_policy.c, blocking libpq) and by the admin API's policy.get and policy.set
 * (handlers/admin_policy.c, on the pool). Both write through the one function
 * fl_policy_set (storage/migrations/0019_policy_ledger.sql): the upsert and its audit_log row in
 * one transaction. The policy itself, the rules for its values and the configured defaults an app
 * without a row gets are core/policy.h. */
#ifndef FL_STORAGE_POLICY_H
#define FL_STORAGE_POLICY_H

#include <stddef.h>

#include <libpq-fe.h>

#include "core/policy.h"
#include "storage/pg.h"

/* ---- blocking (the command line); every function writes a message into err on failure
 * (libpq's end in a newline) ---- */

/* 1 when the app is registered, 0 when not, -1 on error. */
int policy_db_app_exists(PGconn *conn, const char *app_id, char *err, size_t errsz);

/* The stored policy of app_id for asset: 1 found (in *out), 0 none, -1 error. */
int policy_db_get(PGconn *conn, const char *app_id, const char *asset,
                  struct withdrawal_policy *out, char *err, size_t errsz);

/* fl_policy_set: fields of u not set keep the stored value, or take defaults when the row is new;
 * one audit_log row by actor with params (a JSON object text) and the row before and after. The
 * row as stored afterwards goes to *out. 1 written, 0 the app is not registered (nothing
 * written), -1 error. */
int policy_db_set(PGconn *conn, const char *actor, const char *params_json, const char *app_id,
                  const char *asset, const struct policy_update *u,
                  const struct withdrawal_policy *defaults, struct withdrawal_policy *out,
                  char *err, size_t errsz);

/* ---- asynchronous (the daemon) ---- */

/* One stored policy; strings borrowed from the result, valid during the callback. */
struct policy_row {
    const char *asset;
    struct withdrawal_policy p;
    const char *updated_at; /* ISO-8601 UTC with microseconds */
};

/* app_found 0: the app is not registered. rows: its stored policies (n ≥ 0), each asset at most
 * once. Both meaningful only when outcome is PG_OK. */
typedef void (*policy_read_cb)(void *ctx, enum pg_outcome outcome, int app_found,
                               const struct policy_row *rows, int n);
struct pg_query *policy_read(struct pg_pool *pool, const char *app_id, policy_read_cb cb,
                             void *ctx);

/* row NULL with PG_OK: the app is not registered, nothing was written. */
typedef void (*policy_write_cb)(void *ctx, enum pg_outcome outcome, const struct policy_row *row);
/* policy_db_set on the pool: method names the change in the audit row ("policy.set"). */
struct pg_query *policy_write(struct pg_pool *pool, const char *actor, const char *method,
                              const char *params_json, const char *app_id, const char *asset,
                              const struct policy_update *u,
                              const struct withdrawal_policy *defaults, policy_write_cb cb,
                              void *ctx);

#endif
