/* Settled-feed queries (storage/feed.h). One call of fl_settled_feed (migration 0005): a keyset
 * page over the partial index tips_settled_feed_idx (app_id, settled_at, id) WHERE state =
 * 'SETTLED', cut at a horizon below which no settlement can still commit, so a cursor never
 * passes a tip that appears later. Without a cursor the row comparison starts below every real
 * position, so the same statement (and plan shape) serves the first page and the following ones. */
#include "storage/feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define TS(col) PG_TIMESTAMP_TEXT(col)

/* clang-format off */
static const char FEED_SQL[] =
    "SELECT t.id, t.post_id, t.topic_id, t.invoice, t.asset, t.amount, t.from_user_id, "
    "       t.to_user_id, t.message, " TS("t.settled_at") " AS settled_at "
    "FROM fl_settled_feed($1, $2::timestamptz, $3::uuid, $4::integer) t "
    "ORDER BY t.settled_at, t.id";
/* clang-format on */

struct feed_req {
    feed_page_cb cb;
    void *ctx;
};

static void feed_on_page(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct feed_req *r = ctx;
    if (outcome != PG_OK) {
        /* SQLSTATE class 22 (data exception): the cursor text was not a time Postgres accepts. */
        int bad = outcome == PG_ERROR && strncmp(pg_error_sqlstate(res), "22", 2) == 0;
        r->cb(r->ctx, outcome, NULL, 0, bad);
        return;
    }
    int n = PQntuples(res);
    struct feed_item *items = xcalloc((size_t)(n > 0 ? n : 1), sizeof *items);
    int k = 0;
    for (int i = 0; i < n; i++) {
        struct feed_item *it = &items[k];
        const char *amount = pg_value(res, i, "amount");
        it->id = pg_value(res, i, "id");
        it->post_id = pg_value(res, i, "post_id");
        it->topic_id = pg_value(res, i, "topic_id");
        it->invoice = pg_value(res, i, "invoice");
        it->asset = pg_value(res, i, "asset");
        it->from_user_id = pg_value(res, i, "from_user_id");
        it->to_user_id = pg_value(res, i, "to_user_id");
        it->message = pg_value(res, i, "message");
        it->settled_at = pg_value(res, i, "settled_at");
        /* The schema makes these NOT NULL; a row without them would be a schema drift. */
        if (it->id == NULL || it->settled_at == NULL || amount == NULL || it->asset == NULL)
            continue;
        it->amount = strtoll(amount, NULL, 10);
        k++;
    }
    r->cb(r->ctx, PG_OK, items, k, 0);
    free(items);
}

struct pg_query *feed_settled_page(struct pg_pool *pool, const char *app_id,
                                   const struct feed_cursor *after, int limit, feed_page_cb cb,
                                   void *ctx)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *params[4] = {app_id, after != NULL ? after->settled_at : NULL,
                             after != NULL ? after->id : NULL, lim};
    struct feed_req *r;
    struct pg_query *q =
        pg_query_wrap(pool, FEED_SQL, 4, params, 0, feed_on_page, sizeof *r, (void **)&r);
    r->cb = cb;
    r->ctx = ctx;
    return q;
}
