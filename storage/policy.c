/* Stored withdrawal policies (storage/policy.h). Amounts travel as decimal text in base units;
 * `policy set` is one upsert whose untouched columns keep the stored value (or take the default
 * on first insert). */
#include "storage/policy.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

static const char policy_columns[] = "allowed, min_amount, max_per_request, per_user_daily, "
                                     "per_app_daily, cooldown_seconds, max_fee_amount";

/* Row 0 of res (the policy_columns, as text) into *out. */
static void policy_from_row(PGresult *res, struct withdrawal_policy *out)
{
    out->allowed = PQgetvalue(res, 0, PQfnumber(res, "allowed"))[0] == 't';
    out->min_amount = strtoll(PQgetvalue(res, 0, PQfnumber(res, "min_amount")), NULL, 10);
    out->max_per_request = strtoll(PQgetvalue(res, 0, PQfnumber(res, "max_per_request")), NULL, 10);
    out->per_user_daily = strtoll(PQgetvalue(res, 0, PQfnumber(res, "per_user_daily")), NULL, 10);
    out->per_app_daily = strtoll(PQgetvalue(res, 0, PQfnumber(res, "per_app_daily")), NULL, 10);
    out->cooldown_seconds = atoi(PQgetvalue(res, 0, PQfnumber(res, "cooldown_seconds")));
    out->max_fee_amount = strtoll(PQgetvalue(res, 0, PQfnumber(res, "max_fee_amount")), NULL, 10);
}

/* The limits of p as text in base units, in column order from min_amount to max_fee_amount. */
static void policy_to_text(const struct withdrawal_policy *p, char out[6][24])
{
    snprintf(out[0], 24, "%" PRId64, p->min_amount);
    snprintf(out[1], 24, "%" PRId64, p->max_per_request);
    snprintf(out[2], 24, "%" PRId64, p->per_user_daily);
    snprintf(out[3], 24, "%" PRId64, p->per_app_daily);
    snprintf(out[4], 24, "%d", p->cooldown_seconds);
    snprintf(out[5], 24, "%" PRId64, p->max_fee_amount);
}

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
    char *sql = xasprintf("SELECT %s FROM withdrawal_policies WHERE app_id = $1 AND asset = $2",
                          policy_columns);
    PGresult *res = PQexecParams(conn, sql, 2, NULL, params, NULL, NULL, 0);
    free(sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errsz, "%s", PQerrorMessage(conn));
        PQclear(res);
        return -1;
    }
    int found = PQntuples(res) == 1;
    if (found)
        policy_from_row(res, out);
    PQclear(res);
    return found;
}

int policy_db_upsert(PGconn *conn, const char *app_id, const char *asset,
                     const struct policy_update *u, const struct withdrawal_policy *defaults,
                     struct withdrawal_policy *out, char *err, size_t errsz)
{
    /* Set values ($4..$9) and defaults ($11..$16) as text in base units. */
    char sv[6][24], dv[6][24];
    const struct withdrawal_policy *v = &u->v, *d = defaults;
    policy_to_text(v, sv);
    policy_to_text(d, dv);
    const char *params[16] = {
        app_id,
        asset,
        u->set_allowed ? (v->allowed ? "true" : "false") : NULL,
        u->set_min ? sv[0] : NULL,
        u->set_max_per_request ? sv[1] : NULL,
        u->set_user_daily ? sv[2] : NULL,
        u->set_app_daily ? sv[3] : NULL,
        u->set_cooldown ? sv[4] : NULL,
        u->set_max_fee ? sv[5] : NULL,
        d->allowed ? "true" : "false",
        dv[0],
        dv[1],
        dv[2],
        dv[3],
        dv[4],
        dv[5],
    };
    char *sql = xasprintf(
        "INSERT INTO withdrawal_policies AS p (app_id, asset, %s) "
        "VALUES ($1, $2, coalesce($3::boolean, $10::boolean), coalesce($4::bigint, $11::bigint), "
        "coalesce($5::bigint, $12::bigint), coalesce($6::bigint, $13::bigint), "
        "coalesce($7::bigint, $14::bigint), coalesce($8::integer, $15::integer), "
        "coalesce($9::bigint, $16::bigint)) "
        "ON CONFLICT (app_id, asset) DO UPDATE SET "
        "allowed = coalesce($3::boolean, p.allowed), "
        "min_amount = coalesce($4::bigint, p.min_amount), "
        "max_per_request = coalesce($5::bigint, p.max_per_request), "
        "per_user_daily = coalesce($6::bigint, p.per_user_daily), "
        "per_app_daily = coalesce($7::bigint, p.per_app_daily), "
        "cooldown_seconds = coalesce($8::integer, p.cooldown_seconds), "
        "max_fee_amount = coalesce($9::bigint, p.max_fee_amount), updated_at = now() "
        "RETURNING %s",
        policy_columns, policy_columns);
    PGresult *res = PQexecParams(conn, sql, 16, NULL, params, NULL, NULL, 0);
    free(sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        snprintf(err, errsz, "%s", PQerrorMessage(conn));
        PQclear(res);
        return -1;
    }
    policy_from_row(res, out);
    PQclear(res);
    return 0;
}
