/* The operator's money queries (storage/admin_money.h). A page is read by the statement shape
 * that lets every part of it come from an ordered, limited index scan (0017 "list indexes"):
 *   all apps, no user   one scan per state of (state, created_at, id), merged
 *   some apps, no user  one scan per app and state of (app_id, state, created_at, id), merged
 *   a user              per app (all apps when none is in scope), the user's own index
 * Parameters: $1 states, $2 after_us, $3 after_id, $4 limit, $5 apps, $6 user. Without a cursor
 * the row comparison starts above every real row ('infinity', the largest uuid), so the first page
 * and the following ones share one statement and plan shape. */
#include "storage/admin_money.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/mem.h"

#define AFTER_AT                                                                                   \
    "coalesce('epoch'::timestamptz + $2::bigint * interval '1 microsecond', 'infinity')"
#define AFTER_ID "coalesce($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff')"
/* Strictly after the cursor, newest first; the range on created_at alone lets an index whose
 * last column is created_at (the dashboard's user indexes) bound its scan. */
#define KEYSET(a)                                                                                  \
    a ".created_at <= " AFTER_AT " AND (" a ".created_at, " a ".id) < (" AFTER_AT ", " AFTER_ID ")"
/* The rows of a page are picked from raw columns and rendered (timestamps as text) only once
 * the merge has cut them to the limit. */
#define RAW(a) a ".*, (extract(epoch FROM " a ".created_at) * 1000000)::bigint AS created_us "
#define NEWEST(a) " ORDER BY " a ".created_at DESC, " a ".id DESC LIMIT $4"
#define RENDER(cols, a) "SELECT " cols ", " a ".created_us FROM (SELECT x.* FROM "
#define MERGE(a)                                                                                   \
    ") x ORDER BY x.created_us DESC, x.id DESC LIMIT $4) " a " ORDER BY " a ".created_us DESC, " a \
    ".id DESC"

/* clang-format off */
static const char TIPS_BY_STATE[] =
    RENDER(TIPS_COLUMNS, "t") "unnest($1::text[]) s(st) CROSS JOIN LATERAL ("
    " SELECT " RAW("t") "FROM tips t"
    " WHERE t.state = s.st AND " KEYSET("t") NEWEST("t") MERGE("t");

static const char TIPS_BY_APP[] =
    RENDER(TIPS_COLUMNS, "t") "unnest($5::text[]) a(app) CROSS JOIN unnest($1::text[]) s(st)"
    " CROSS JOIN LATERAL ("
    " SELECT " RAW("t") "FROM tips t"
    " WHERE t.app_id = a.app AND t.state = s.st AND " KEYSET("t") NEWEST("t") MERGE("t");

/* A tip is the user's as receiver or as sender (never both: self-tips are refused, and the second
 * branch leaves them out should one exist). */
static const char TIPS_BY_USER[] =
    RENDER(TIPS_COLUMNS, "t")
    "unnest(coalesce($5::text[], ARRAY(SELECT app_id FROM apps))) a(app) CROSS JOIN LATERAL ("
    " (SELECT " RAW("t") "FROM tips t"
    "  WHERE t.app_id = a.app AND t.to_user_id = $6 AND t.state = ANY ($1::text[])"
    "    AND " KEYSET("t") NEWEST("t") ")"
    " UNION ALL"
    " (SELECT " RAW("t") "FROM tips t"
    "  WHERE t.app_id = a.app AND t.from_user_id = $6 AND t.to_user_id <> $6"
    "    AND t.state = ANY ($1::text[]) AND " KEYSET("t") NEWEST("t") ")" MERGE("t");

static const char WITHDRAWALS_BY_STATE[] =
    RENDER(WITHDRAWALS_COLUMNS, "w") "unnest($1::text[]) s(st) CROSS JOIN LATERAL ("
    " SELECT " RAW("w") "FROM withdrawals w"
    " WHERE w.state = s.st AND " KEYSET("w") NEWEST("w") MERGE("w");

static const char WITHDRAWALS_BY_APP[] =
    RENDER(WITHDRAWALS_COLUMNS, "w") "unnest($5::text[]) a(app) CROSS JOIN unnest($1::text[]) s(st)"
    " CROSS JOIN LATERAL ("
    " SELECT " RAW("w") "FROM withdrawals w"
    " WHERE w.app_id = a.app AND w.state = s.st AND " KEYSET("w") NEWEST("w") MERGE("w");

static const char WITHDRAWALS_BY_USER[] =
    RENDER(WITHDRAWALS_COLUMNS, "w")
    "unnest(coalesce($5::text[], ARRAY(SELECT app_id FROM apps))) a(app) CROSS JOIN LATERAL ("
    " SELECT " RAW("w") "FROM withdrawals w"
    " WHERE w.app_id = a.app AND w.user_id = $6 AND w.state = ANY ($1::text[])"
    "   AND " KEYSET("w") NEWEST("w") MERGE("w");

/* The row and its timeline in one statement. */
#define TIMELINE(fn, a)                                                                            \
    ", coalesce((SELECT json_agg(json_build_object('at', " PG_TIMESTAMP_TEXT("x.at") ","         \
    " 'kind', x.kind, 'item', x.item) ORDER BY x.n)"                                               \
    " FROM " fn "(" a ".id, $3::integer) x), '[]')::text AS timeline "
#define IN_SCOPE(a) " AND ($2::text[] IS NULL OR " a ".app_id = ANY ($2::text[]))"

static const char TIP_BY_ID[] =
    "SELECT " TIPS_COLUMNS TIMELINE("fl_admin_tip_timeline", "t")
    "FROM tips t WHERE t.id = $1::uuid" IN_SCOPE("t");
static const char TIP_BY_INVOICE[] =
    "SELECT " TIPS_COLUMNS TIMELINE("fl_admin_tip_timeline", "t")
    "FROM tips t WHERE t.invoice = $1" IN_SCOPE("t");
static const char WITHDRAWAL_BY_ID[] =
    "SELECT " WITHDRAWALS_COLUMNS TIMELINE("fl_admin_withdrawal_timeline", "w")
    "FROM withdrawals w WHERE w.id = $1::uuid" IN_SCOPE("w");
/* clang-format on */

struct page_req {
    union {
        admin_rows_cb rows;
        admin_tip_get_cb tip;
        admin_withdrawal_get_cb withdrawal;
    } cb;
    void *ctx;
    int tips; /* the rows are tips (else withdrawals) */
};

static void on_rows(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct page_req *r = ctx;
    if (outcome != PG_OK) {
        r->cb.rows(r->ctx, outcome, NULL, 0);
        return;
    }
    int n = PQntuples(res), k = 0;
    struct admin_money_row *rows = xcalloc((size_t)(n > 0 ? n : 1), sizeof *rows);
    for (int i = 0; i < n; i++) {
        struct admin_money_row *row = &rows[k];
        /* A row the schema cannot produce (a required column NULL) is left out, not answered. */
        if (r->tips ? tips_row(res, i, &row->u.tip) != 0 : withdrawals_row(res, i, &row->u.w) != 0)
            continue;
        const char *us = pg_value(res, i, "created_us");
        row->created_us = us != NULL ? strtoll(us, NULL, 10) : 0;
        row->id = r->tips ? row->u.tip.id : row->u.w.id;
        k++;
    }
    r->cb.rows(r->ctx, PG_OK, rows, k);
    free(rows);
}

static struct pg_query *page(struct pg_pool *pool, const struct admin_page_query *q,
                             const char *by_state, const char *by_app, const char *by_user,
                             struct page_req **r)
{
    char after[24], lim[16];
    snprintf(after, sizeof after, "%" PRId64, q->after_us);
    snprintf(lim, sizeof lim, "%d", q->limit);
    const char *params[6] = {
        q->states, q->has_after ? after : NULL, q->has_after ? q->after_id : NULL, lim, q->apps,
        q->user_id};
    const char *sql;
    int nparams;
    if (q->user_id != NULL) {
        sql = by_user;
        nparams = 6;
    } else if (q->apps != NULL) {
        sql = by_app;
        nparams = 5;
    } else {
        sql = by_state;
        nparams = 4;
    }
    return pg_query_wrap(pool, sql, nparams, params, 0, on_rows, sizeof **r, (void **)r);
}

struct pg_query *admin_money_tips(struct pg_pool *pool, const struct admin_page_query *q,
                                  admin_rows_cb cb, void *ctx)
{
    struct page_req *r;
    struct pg_query *query = page(pool, q, TIPS_BY_STATE, TIPS_BY_APP, TIPS_BY_USER, &r);
    r->cb.rows = cb;
    r->ctx = ctx;
    r->tips = 1;
    return query;
}

struct pg_query *admin_money_withdrawals(struct pg_pool *pool, const struct admin_page_query *q,
                                         admin_rows_cb cb, void *ctx)
{
    struct page_req *r;
    struct pg_query *query =
        page(pool, q, WITHDRAWALS_BY_STATE, WITHDRAWALS_BY_APP, WITHDRAWALS_BY_USER, &r);
    r->cb.rows = cb;
    r->ctx = ctx;
    return query;
}

static void on_tip(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct page_req *r = ctx;
    struct tip t;
    if (outcome != PG_OK) {
        r->cb.tip(r->ctx, outcome, NULL, NULL);
        return;
    }
    if (tips_row(res, 0, &t) != 0) {
        r->cb.tip(r->ctx, PG_OK, NULL, NULL);
        return;
    }
    r->cb.tip(r->ctx, PG_OK, &t, pg_value(res, 0, "timeline"));
}

static void on_withdrawal(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct page_req *r = ctx;
    struct withdrawal w;
    if (outcome != PG_OK) {
        r->cb.withdrawal(r->ctx, outcome, NULL, NULL);
        return;
    }
    if (withdrawals_row(res, 0, &w) != 0) {
        r->cb.withdrawal(r->ctx, PG_OK, NULL, NULL);
        return;
    }
    r->cb.withdrawal(r->ctx, PG_OK, &w, pg_value(res, 0, "timeline"));
}

struct pg_query *admin_money_tip_get(struct pg_pool *pool, const char *apps, const char *tip_id,
                                     const char *invoice, int keep, admin_tip_get_cb cb, void *ctx)
{
    char k[16];
    snprintf(k, sizeof k, "%d", keep);
    const char *params[3] = {tip_id != NULL ? tip_id : invoice, apps, k};
    struct page_req *r;
    struct pg_query *q = pg_query_wrap(pool, tip_id != NULL ? TIP_BY_ID : TIP_BY_INVOICE, 3, params,
                                       0, on_tip, sizeof *r, (void **)&r);
    r->cb.tip = cb;
    r->ctx = ctx;
    return q;
}

struct pg_query *admin_money_withdrawal_get(struct pg_pool *pool, const char *apps, const char *id,
                                            int keep, admin_withdrawal_get_cb cb, void *ctx)
{
    char k[16];
    snprintf(k, sizeof k, "%d", keep);
    const char *params[3] = {id, apps, k};
    struct page_req *r;
    struct pg_query *q =
        pg_query_wrap(pool, WITHDRAWAL_BY_ID, 3, params, 0, on_withdrawal, sizeof *r, (void **)&r);
    r->cb.withdrawal = cb;
    r->ctx = ctx;
    return q;
}
