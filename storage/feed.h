/* The settled-tips feed of one app (tip.settled_feed): SETTLED tips in (settled_at, id) order,
 * read a page at a time after a keyset cursor. The forum's notification job follows it, so a
 * page must start exactly after the cursor it was given: the cursor is compared in SQL as
 * (timestamptz, uuid), never through a client-side rounded time. */
#ifndef FL_STORAGE_FEED_H
#define FL_STORAGE_FEED_H

#include <stdint.h>

#include "storage/pg.h"

/* The position after which a page starts. settled_at is ISO-8601 text with a time zone, read by
 * Postgres as timestamptz; id is a uuid. */
struct feed_cursor {
    const char *settled_at;
    const char *id;
};

/* One settled tip. Strings are borrowed from the result (valid during the callback only);
 * settled_at is ISO-8601 UTC with microseconds. */
struct feed_item {
    const char *id;
    const char *post_id;
    const char *topic_id; /* NULL when none */
    const char *invoice;
    const char *asset;
    int64_t amount; /* base units */
    const char *from_user_id;
    const char *to_user_id;
    const char *message; /* NULL when none */
    const char *settled_at;
};

/* items is NULL unless outcome is PG_OK. bad_cursor=1 when the server refused the cursor's
 * values (an out-of-range time the caller's checks let through): a client error, not ours. */
typedef void (*feed_page_cb)(void *ctx, enum pg_outcome outcome, const struct feed_item *items,
                             int n, int bad_cursor);

/* Up to limit SETTLED tips of app_id after the cursor (from the start when after is NULL), in
 * (settled_at, id) order. */
struct pg_query *feed_settled_page(struct pg_pool *pool, const char *app_id,
                                   const struct feed_cursor *after, int limit, feed_page_cb cb,
                                   void *ctx);

#endif
