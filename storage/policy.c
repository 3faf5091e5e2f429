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
    snprintf(sv[0], sizeof sv[0], "%" PRId64, v->min_amount);
    snprintf(sv[1], sizeof sv[1], "%" PRId64, v->max_per_request);
    snprintf(sv[2], sizeof sv[2], "%" PRId64, v->per_user_daily);
    snprintf(sv[3], sizeof sv[3], "%" PRId64, v->per_app_daily);
    snprintf(sv[4], sizeof sv[4], "%d", v->cooldown_seconds);
    snprintf(sv[5], sizeof sv[5], "%" PRId64, v->max_fee_amount);
    snprintf(dv[0], sizeof dv[0], "%" PRId64, d->min_amount);
    snprintf(dv[1], sizeof dv[1], "%" PRId64, d->max_per_request);
    snprintf(dv[2], sizeof dv[2], "%" PRId64, d->per_user_daily);
    snprintf(dv[3], sizeof dv[3], "%" PRId64, d->per_app_daily);
    snprintf(dv[4], sizeof dv[4], "%d", d->cooldown_seconds);
    snprintf(dv[5], sizeof dv[5], "%" PRId64, d->max_fee_amount);
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
