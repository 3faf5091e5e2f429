/* See feed.h. The page is read with one row more than asked for: that row only tells whether a
 * next page exists, so nextCursor is null exactly when the feed is exhausted, and a client that
 * stops on a short page or on a null cursor stops at the same place. */
#include "handlers/feed.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/amount.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/mem.h"

/* ---- params (pure) ---- */

/* Reads exactly n decimal digits at *p, advancing it; -1 when one is not a digit. */
static int read_digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return v;
}

static int expect_char(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

int feed_timestamp_valid(const char *s)
{
    const char *p = s;
    int year = read_digits(&p, 4);
    if (year < 1 || expect_char(&p, '-') != 0)
        return 0;
    int month = read_digits(&p, 2);
    if (month < 1 || month > 12 || expect_char(&p, '-') != 0)
        return 0;
    int day = read_digits(&p, 2);
    if (day < 1 || day > days_in_month(year, month) || expect_char(&p, 'T') != 0)
        return 0;
    int hour = read_digits(&p, 2);
    if (hour < 0 || hour > 23 || expect_char(&p, ':') != 0)
        return 0;
    int minute = read_digits(&p, 2);
    if (minute < 0 || minute > 59 || expect_char(&p, ':') != 0)
        return 0;
    int second = read_digits(&p, 2);
    if (second < 0 || second > 59)
        return 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        for (; isdigit((unsigned char)*p); p++, digits++) {
            if (digits >= 6 && *p != '0')
                return 0;
        }
        if (digits < 1 || digits > 9)
            return 0;
    }
    if (*p == 'Z')
        return p[1] == '\0';
    if (*p != '+' && *p != '-')
        return 0;
    p++;
    int off_hour = read_digits(&p, 2);
    if (off_hour < 0 || off_hour > 14 || expect_char(&p, ':') != 0)
        return 0;
    int off_minute = read_digits(&p, 2);
    return off_minute >= 0 && off_minute <= 59 && *p == '\0';
}

int feed_parse_after(json_t *params, struct feed_cursor *out, int *present,
                     struct jsonrpc_param_error *err)
{
    json_t *after = json_object_get(params, "after");
    *present = 0;
    if (after == NULL || json_is_null(after))
        return 0;
    if (!json_is_object(after)) {
        err->field = "after";
        snprintf(err->message, sizeof err->message,
                 "after must be an object {settledAt, id} taken from a feed item");
        return -1;
    }
    json_t *settled_at = json_object_get(after, "settledAt");
    if (!json_is_string(settled_at) || !feed_timestamp_valid(json_string_value(settled_at))) {
        err->field = "after.settledAt";
        snprintf(err->message, sizeof err->message,
                 "after.settledAt must be an ISO-8601 time with a zone, at most microsecond "
                 "precision, as returned in settledAt");
        return -1;
    }
    json_t *id = json_object_get(after, "id");
    if (!json_is_string(id) || !ids_uuid_valid(json_string_value(id))) {
        err->field = "after.id";
        snprintf(err->message, sizeof err->message,
                 "after.id must be a tip id (uuid) as returned in tipIntentId");
        return -1;
    }
    out->settled_at = json_string_value(settled_at);
    out->id = json_string_value(id);
    *present = 1;
    return 0;
}

/* ---- tip.settled_feed ---- */

struct feed_page {
    struct rpc_call *call;
    int limit;
};

static json_t *item_json(const struct rpc_call *call, const struct feed_item *it)
{
    char amount[40];
    if (amount_format(it->amount, asset_decimals(call->env->assets, it->asset), amount,
                      sizeof amount) < 0)
        amount[0] = '\0';
    return json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:o, s:s}", "tipIntentId", it->id,
                     "postId", it->post_id != NULL ? it->post_id : "", "topicId",
                     json_string_or_null(it->topic_id), "invoice",
                     it->invoice != NULL ? it->invoice : "", "amount", amount, "asset", it->asset,
                     "fromUserId", it->from_user_id != NULL ? it->from_user_id : "", "toUserId",
                     it->to_user_id != NULL ? it->to_user_id : "", "message",
                     json_string_or_null(it->message), "settledAt", it->settled_at);
}

static void on_page(void *ctx, enum pg_outcome outcome, const struct feed_item *items, int n,
                    int bad_cursor)
{
    struct feed_page *fp = ctx;
    struct rpc_call *call = fp->call;
    int limit = fp->limit;
    free(fp);
    if (outcome != PG_OK) {
        if (bad_cursor) {
            struct jsonrpc_param_error pe = {.field = "after.settledAt"};
            snprintf(pe.message, sizeof pe.message,
                     "after.settledAt is not a time the database accepts");
            rpc_reply_param_error(call, &pe, NULL);
            return;
        }
        log_event(LOG_WARN, "feed.query_failed", "app_id=%s outcome=%d", call->app_id,
                  (int)outcome);
        rpc_reply_error(call, API_ERR_INTERNAL, "Database unavailable", NULL);
        return;
    }
    int shown = n < limit ? n : limit;
    json_t *arr = json_array();
    for (int i = 0; i < shown; i++)
        json_array_append_new(arr, item_json(call, &items[i]));
    json_t *next = json_null();
    if (n > limit) {
        const struct feed_item *last = &items[shown - 1];
        next = json_pack("{s:s, s:s}", "settledAt", last->settled_at, "id", last->id);
    }
    rpc_reply(call, json_pack("{s:o, s:o}", "items", arr, "nextCursor", next));
}

static void tip_settled_feed(struct rpc_call *call)
{
    struct jsonrpc_param_error pe = {0};
    struct feed_cursor after;
    int64_t limit;
    int has_after;
    if (jsonrpc_param_opt_int(call->params, "limit", 1, FEED_LIMIT_MAX, FEED_LIMIT_DEFAULT, &limit,
                              &pe) != 0 ||
        feed_parse_after(call->params, &after, &has_after, &pe) != 0) {
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    struct feed_page *fp = xcalloc(1, sizeof *fp);
    rpc_call_own(call, fp, free);
    fp->call = call;
    fp->limit = (int)limit;
    feed_settled_page(call->env->pg, call->app_id, has_after ? &after : NULL, (int)limit + 1,
                      on_page, fp);
}

void feed_register(struct rpc *rpc)
{
    rpc_register(rpc, "tip.settled_feed", tip_settled_feed);
}
