/* tip.settled_feed: the calling app's SETTLED tips in (settledAt, id) order, a page at a time.
 * The forum's notification job resumes from the last item it handled, so the cursor it sends
 * back ({settledAt, id}, settledAt at microsecond precision) must land exactly after that item:
 * no item read twice, none skipped, even when several tips share one settledAt.
 *
 * The params checks are pure functions, exposed for the unit tests. */
#ifndef FL_HANDLERS_FEED_H
#define FL_HANDLERS_FEED_H

#include <jansson.h>

#include "core/jsonrpc.h"
#include "handlers/rpc.h"
#include "storage/feed.h"

#define FEED_LIMIT_DEFAULT 20
#define FEED_LIMIT_MAX 100

void feed_register(struct rpc *rpc);

/* 1 when s is an ISO-8601 instant Postgres reads back exactly as timestamptz:
 * YYYY-MM-DDTHH:MM:SS, an optional fraction of 1 to 9 digits where digits past the sixth are all
 * zero (finer than a microsecond could only be rounded, and a rounded cursor skips or repeats
 * items), and "Z" or a ±HH:MM offset (a time without a zone would depend on the session's).
 * Calendar fields are range-checked, leap years included. */
int feed_timestamp_valid(const char *s);

/* Reads params.after. Returns 0 with *present = 0 when it is absent or null, 0 with *present = 1
 * and out filled (strings borrowed from params) when valid, or -1 with err naming "after",
 * "after.settledAt" or "after.id". */
int feed_parse_after(json_t *params, struct feed_cursor *out, int *present,
                     struct jsonrpc_param_error *err);

#endif
