/* Stored withdrawal policies (storage/policy.h). Amounts travel as decimal text in base units. A
 * change is one call of fl_policy_set, the same statement and parameters whether the command line
 * (blocking libpq) or the daemon (the pool) sends it. */
#include "storage/policy.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define TS(col) PG_TIMESTAMP_TEXT(col)

#define POLICY_COLUMNS                                                                             \
    "allowed, min_amount, max_per_request, per_user_daily, per_app_daily, cooldown_seconds, "      \
    "max_fee_amount"

/* clang-format off */
static const char GET_SQL[] =
    "SELECT " POLICY_COLUMNS " FROM withdrawal_policies WHERE app_id = $1 AND asset = $2";

/* One row per stored policy, or one row with asset NULL for an app without any; none for an
 * unknown app. */
static const char READ_SQL[] =
    "SELECT p.asset, " POLICY_COLUMNS ", " TS("p.updated_at") " AS updated_at "
    "  FROM apps a LEFT JOIN withdrawal_policies p USING (app_id) "
    " WHERE a.app_id = $1 "
    " ORDER BY p.asset";

static const char SET_SQL[] =
    "SELECT asset, " POLICY_COLUMNS ", " TS("updated_at") " AS updated_at "
    "  FROM fl_policy_set($1, $2, $3::jsonb, $4, $5, $6::boolean, $7::bigint, $8::bigint, "
    "                     $9::bigint, $10::bigint, $11::integer, $12::bigint, $13::boolean, "
    "                     $14::bigint, $15::bigint, $16::bigint, $17::bigint, $18::integer, "
    "                     $19::bigint)";
/* clang-format on */

#define SET_NPARAMS 19

/* Row i of res (POLICY_COLUMNS, as text) into *out. */
static void policy_from_row(PGresult *res, int i, struct withdrawal_policy *out)
{
    out->allowed = PQgetvalue(res, i, PQfnumber(res, "allowed"))[0] == 't';
    out->min_amount = strtoll(PQgetvalue(res, i, PQfnumber(res, "min_amount")), NULL, 10);
    out->max_per_request = strtoll(PQgetvalue(res, i, PQfnumber(res, "max_per_request")), NULL, 10);
    out->per_user_daily = strtoll(PQgetvalue(res, i, PQfnumber(res, "per_user_daily")), NULL, 10);
    out->per_app_daily = strtoll(PQgetvalue(res, i, PQfnumber(res, "per_app_daily")), NULL, 10);
    out->cooldown_seconds = atoi(PQgetvalue(res, i, PQfnumber(res, "cooldown_seconds")));
    out->max_fee_amount = strtoll(PQgetvalue(res, i, PQfnumber(res, "max_fee_amount")), NULL, 10);
}

/* The values of p as text (base units), in enum policy_field order. */
static void policy_to_text(const struct withdrawal_policy *p, char out[POLICY_NFIELDS][24])
{
    snprintf(out[POLICY_ALLOWED], 24, "%s", p->allowed ? "true" : "false");
    snprintf(out[POLICY_MIN], 24, "%" PRId64, p->min_amount);
    snprintf(out[POLICY_MAX_PER_REQUEST], 24, "%" PRId64, p->max_per_request);
    snprintf(out[POLICY_USER_DAILY], 24, "%" PRId64, p->per_user_daily);
    snprintf(out[POLICY_APP_DAILY], 24, "%" PRId64, p->per_app_daily);
    snprintf(out[POLICY_COOLDOWN], 24, "%d", p->cooldown_seconds);
    snprintf(out[POLICY_MAX_FEE], 24, "%" PRId64, p->max_fee_amount);
}

/* SET_SQL's parameters: $1..$5 who and what, $6..$12 the fields set (NULL when not),
 * $13..$19 the defaults. The texts live in sv and dv. */
static void set_params(const char *actor, const char *method, const char *params_json,
                       const char *app_id, const char *asset, const struct policy_update *u,
                       const struct withdrawal_policy *defaults, char sv[POLICY_NFIELDS][24],
                       char dv[POLICY_NFIELDS][24], const char *params[SET_NPARAMS])
{
    policy_to_text(&u->v, sv);
    policy_to_text(defaults, dv);
    params[0] = actor;
    params[1] = method;
    params[2] = params_json != NULL ? params_json : "{}";
    params[3] = app_id;
    params[4] = asset;
    for (int f = 0; f < POLICY_NFIELDS; f++) {
        params[5 + f] = (u->set & (1u << f)) != 0 ? sv[f] : NULL;
        params[5 + POLICY_NFIELDS + f] = dv[f];
    }
}

/* ---- blocking ---- */

int policy_db_app_exists(PGconn *conn, const char *app_id, char *err, size_t errsz)
{
    const char *params[1] = {app_id};
    PGresult *res =
        PQexecParams(conn, "SELECT 1 FROM apps WHERE app_id = $1", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errsz, "reading apps failed: %s", PQerrorMessage(conn));
        PQclear(res);
        return -1;
    }
    int found = PQntuples(res) > 0;
    PQclear(res);
    return found;
}

int policy_db_get(PGconn *conn, const char *app_id, const char *asset,
                  struct withdrawal_policy *out, char *err, size_t errsz)
{
    const char *params[2] = {app_id, asset};
    PGresult *res = PQexecParams(conn, GET_SQL, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errsz, "%s", PQerrorMessage(conn));
        PQclear(res);
        return -1;
    }
    int found = PQntuples(res) == 1;
    if (found)
        policy_from_row(res, 0, out);
    PQclear(res);
    return found;
}

int policy_db_set(PGconn *conn, const char *actor, const char *params_json, const char *app_id,
                  const char *asset, const struct policy_update *u,
                  const struct withdrawal_policy *defaults, struct withdrawal_policy *out,
                  char *err, size_t errsz)
{
    char sv[POLICY_NFIELDS][24], dv[POLICY_NFIELDS][24];
    const char *params[SET_NPARAMS];
    set_params(actor, "policy.set", params_json, app_id, asset, u, defaults, sv, dv, params);
    PGresult *res = PQexecParams(conn, SET_SQL, SET_NPARAMS, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) > 1) {
        snprintf(err, errsz, "%s", PQerrorMessage(conn));
        PQclear(res);
        return -1;
    }
    int written = PQntuples(res) == 1;
    if (written)
        policy_from_row(res, 0, out);
    PQclear(res);
    return written;
}

/* ---- asynchronous ---- */

struct read_req {
    policy_read_cb cb;
    void *ctx;
};

static void read_on_rows(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct read_req *r = ctx;
    if (outcome != PG_OK) {
        r->cb(r->ctx, outcome, 0, NULL, 0);
        return;
    }
    int n = PQntuples(res), k = 0;
    struct policy_row *rows = xcalloc((size_t)(n > 0 ? n : 1), sizeof *rows);
    for (int i = 0; i < n; i++) {
        rows[k].asset = pg_value(res, i, "asset");
        if (rows[k].asset == NULL) /* the app has no stored policy */
            continue;
        policy_from_row(res, i, &rows[k].p);
        rows[k].updated_at = pg_value(res, i, "updated_at");
        k++;
    }
    r->cb(r->ctx, PG_OK, n > 0, rows, k);
    free(rows);
}

struct pg_query *policy_read(struct pg_pool *pool, const char *app_id, policy_read_cb cb, void *ctx)
{
    const char *params[1] = {app_id};
    struct read_req *r;
    struct pg_query *q =
        pg_query_wrap(pool, READ_SQL, 1, params, 0, read_on_rows, sizeof *r, (void **)&r);
    r->cb = cb;
    r->ctx = ctx;
    return q;
}

struct write_req {
    policy_write_cb cb;
    void *ctx;
};

static void write_on_rows(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct write_req *r = ctx;
    if (outcome != PG_OK) {
        r->cb(r->ctx, outcome, NULL);
        return;
    }
    if (PQntuples(res) != 1) {
        r->cb(r->ctx, PG_OK, NULL);
        return;
    }
    struct policy_row row = {.asset = pg_value(res, 0, "asset"),
                             .updated_at = pg_value(res, 0, "updated_at")};
    policy_from_row(res, 0, &row.p);
    r->cb(r->ctx, PG_OK, &row);
}

struct pg_query *policy_write(struct pg_pool *pool, const char *actor, const char *method,
                              const char *params_json, const char *app_id, const char *asset,
                              const struct policy_update *u,
                              const struct withdrawal_policy *defaults, policy_write_cb cb,
                              void *ctx)
{
    char sv[POLICY_NFIELDS][24], dv[POLICY_NFIELDS][24];
    const char *params[SET_NPARAMS];
    set_params(actor, method, params_json, app_id, asset, u, defaults, sv, dv, params);
    struct write_req *r;
    struct pg_query *q =
        pg_query_wrap(pool, SET_SQL, SET_NPARAMS, params, 0, write_on_rows, sizeof *r, (void **)&r);
    r->cb = cb;
    r->ctx = ctx;
    return q;
}
