/* Queries of the operator's money views (handlers/admin_money.h, storage/migrations/
 * 0017_admin_timelines.sql): tips and withdrawals listed newest first a keyset page at a time,
 * and one tip or withdrawal with its timeline. Each is one read-only statement (one round trip).
 *
 * Scope is a Postgres text[] literal of app ids (handlers/admin.h admin_scope_array): only rows of
 * those apps are read; NULL reads every app (a SUPER_ADMIN without an appId filter). A row outside
 * the scope is never read, so a COMMUNITY_ADMIN's answers cannot be shaped by another app's rows.
 *
 * Pages: rows in (created_at DESC, id DESC) order strictly after the cursor (created_at in
 * microseconds since the epoch, and id), read by one ordered, limited index scan per app and state
 * that is merged (see 0017 for the indexes and why); never OFFSET, so a page costs the same
 * wherever it is. */
#ifndef FL_STORAGE_ADMIN_MONEY_H
#define FL_STORAGE_ADMIN_MONEY_H

#include <stdint.h>

#include "storage/pg.h"
#include "storage/tips.h"
#include "storage/withdrawals.h"

/* What to list. Strings are borrowed; they must stay valid until the query is sent (it is at
 * once: the pool copies its parameters). */
struct admin_page_query {
    const char *apps;    /* text[] literal of the apps to read, or NULL: every app */
    const char *states;  /* text[] literal of the states to read (never NULL: pass every state of
                          * the kind when the caller did not filter) */
    const char *user_id; /* tips: sender or receiver; withdrawals: the user; NULL: any */
    int has_after;       /* a cursor: only rows strictly after (after_us, after_id) */
    int64_t after_us;
    const char *after_id; /* uuid text */
    int limit;            /* rows to read */
};

/* One listed row and its position (the cursor of the page that ends with it): u.tip for
 * admin_money_tips, u.w for admin_money_withdrawals. */
struct admin_money_row {
    int64_t created_us; /* created_at, microseconds since the epoch */
    const char *id;     /* the row's id (uuid text) */
    union {
        struct tip tip;
        struct withdrawal w;
    } u;
};

/* rows is NULL unless outcome is PG_OK; rows and their strings are valid during the callback. */
typedef void (*admin_rows_cb)(void *ctx, enum pg_outcome outcome,
                              const struct admin_money_row *rows, int n);
struct pg_query *admin_money_tips(struct pg_pool *pool, const struct admin_page_query *q,
                                  admin_rows_cb cb, void *ctx);
struct pg_query *admin_money_withdrawals(struct pg_pool *pool, const struct admin_page_query *q,
                                         admin_rows_cb cb, void *ctx);

/* One tip (by tip_id, or by invoice when tip_id is NULL) or withdrawal of the apps in scope
 * (NULL: any), with its timeline: a JSON array text [{"at", "kind", "item": {...}}, ...] oldest
 * first, amounts in base units (fl_admin_tip_timeline / fl_admin_withdrawal_timeline). keep: the
 * node checks (tips) or middle events (withdrawals) kept at each end when there are more than
 * 2 × keep. t / w and timeline are NULL when there is no such row in scope. */
typedef void (*admin_tip_get_cb)(void *ctx, enum pg_outcome outcome, const struct tip *t,
                                 const char *timeline);
typedef void (*admin_withdrawal_get_cb)(void *ctx, enum pg_outcome outcome,
                                        const struct withdrawal *w, const char *timeline);
struct pg_query *admin_money_tip_get(struct pg_pool *pool, const char *apps, const char *tip_id,
                                     const char *invoice, int keep, admin_tip_get_cb cb, void *ctx);
struct pg_query *admin_money_withdrawal_get(struct pg_pool *pool, const char *apps, const char *id,
                                            int keep, admin_withdrawal_get_cb cb, void *ctx);

#endif
