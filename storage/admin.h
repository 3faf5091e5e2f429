/* Admin tokens and the audit log in the database (0014_admin.sql, docs/admin.md "Tokens").
 *
 * The serving path looks a token up asynchronously by the SHA-256 of the presented token, on every
 * call (no cache: a revoke takes effect on the next call); the daemon then compares the hash
 * again in constant time. The command line (core/cli_admin.c) creates, revokes and lists tokens
 * with blocking libpq, each change together with its audit_log row (actor "cli") in one
 * transaction. audit.list reads the log newest first, a keyset page at a time. */
#ifndef FL_STORAGE_ADMIN_H
#define FL_STORAGE_ADMIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/crypto.h"
#include "storage/pg.h"

/* ---- serving path ---- */

/* A live (not revoked) token. Strings are borrowed from the result: valid during the callback. */
struct admin_token_row {
    const char *name;
    const char *role; /* "SUPER_ADMIN" | "COMMUNITY_ADMIN" */
    uint8_t token_hash[CRYPTO_SHA256_LEN];
    int napps;
    const char *const *app_ids; /* napps entries (none for SUPER_ADMIN) */
};

/* row is NULL when no live token has this hash (or outcome is not PG_OK). */
typedef void (*admin_token_cb)(void *ctx, enum pg_outcome outcome,
                               const struct admin_token_row *row);
/* Looks the live token with this hash up and notes when it was last used (at most once a minute
 * per token, so a busy token does not write on every call). */
struct pg_query *admin_token_lookup(struct pg_pool *pool, const uint8_t hash[CRYPTO_SHA256_LEN],
                                    admin_token_cb cb, void *ctx);

/* One audit_log row; strings borrowed from the result. params/before/after are JSON texts
 * (before/after NULL when absent); at is ISO-8601 UTC with microseconds. */
struct audit_item {
    int64_t id;
    const char *at;
    const char *actor;
    const char *method;
    const char *app_id;  /* NULL: hub-wide */
    const char *subject; /* NULL when none */
    const char *params;
    const char *before;
    const char *after;
};
typedef void (*audit_page_cb)(void *ctx, enum pg_outcome outcome, const struct audit_item *items,
                              int n);
/* Up to limit rows with id < before_id (every row when before_id ≤ 0), newest first. scope is a
 * text[] literal of the app ids whose rows may be seen, or NULL for every row (SUPER_ADMIN);
 * with a scope, hub-wide rows (app_id NULL) are not seen. */
struct pg_query *audit_page(struct pg_pool *pool, const char *scope, int64_t before_id, int limit,
                            audit_page_cb cb, void *ctx);

/* ---- command line (blocking) ---- */

enum admin_store_result {
    ADMIN_STORE_OK,
    ADMIN_STORE_EXISTS,      /* create: the name is taken (revoked or not) */
    ADMIN_STORE_UNKNOWN_APP, /* create: an app id is not a registered app (named in err) */
    ADMIN_STORE_NOT_FOUND,   /* revoke: no such name */
    ADMIN_STORE_ALREADY,     /* revoke: already revoked (when: in err) */
    ADMIN_STORE_ERROR,       /* message in err */
};

/* Inserts the token (only its hash) and its audit row "admin.create" in one transaction. app_ids
 * empty for SUPER_ADMIN. */
enum admin_store_result admin_token_create(const char *conninfo, const char *name, const char *role,
                                           const char *const *app_ids, int napps,
                                           const uint8_t hash[CRYPTO_SHA256_LEN], char *err,
                                           size_t errsz);
/* Sets revoked_at and writes the audit row "admin.revoke" in one transaction. */
enum admin_store_result admin_token_revoke(const char *conninfo, const char *name, char *err,
                                           size_t errsz);
/* Prints one line per token, oldest first: name, role, apps, created, last used, revoked (never
 * the hash). */
enum admin_store_result admin_token_print(const char *conninfo, FILE *out, char *err, size_t errsz);

#endif
