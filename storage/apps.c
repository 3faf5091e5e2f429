/* Forum apps in the database (storage/apps.h): the blocking insert behind `fiberlinkd app create`
 * (core/cli_app.c), and the asynchronous secret lookup the request authenticator uses. */
#include "storage/apps.h"

#include <stdio.h>
#include <string.h>

#include "core/crypto.h"

enum apps_insert_result apps_insert(const char *conninfo, const char *app_id, const char *secret,
                                    char *err, size_t errsz)
{
    enum apps_insert_result rc = APPS_INSERT_ERROR;
    PGresult *res = NULL;
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, errsz, "cannot connect to the database: %s", PQerrorMessage(conn));
        goto done;
    }
    const char *params[2] = {app_id, secret};
    res = PQexecParams(conn,
                       "INSERT INTO apps (app_id, hmac_secret) VALUES ($1, $2) "
                       "ON CONFLICT (app_id) DO NOTHING RETURNING app_id",
                       2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errsz, "%s", PQerrorMessage(conn));
        goto done;
    }
    if (PQntuples(res) == 1) {
        rc = APPS_INSERT_CREATED;
        goto done;
    }
    PQclear(res);
    res = PQexecParams(conn, "SELECT hmac_secret FROM apps WHERE app_id = $1", 1, NULL, params,
                       NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        snprintf(err, errsz, "reading app %s failed: %s", app_id, PQerrorMessage(conn));
        goto done;
    }
    const char *have = PQgetvalue(res, 0, 0);
    rc = strlen(have) == strlen(secret) && crypto_equal(have, secret, strlen(secret))
             ? APPS_INSERT_EXISTS_SAME
             : APPS_INSERT_EXISTS_OTHER;
done:
    PQclear(res);
    PQfinish(conn);
    return rc;
}

struct apps_lookup_req {
    apps_lookup_cb cb;
    void *ctx;
};

static void apps_on_lookup(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct apps_lookup_req *r = ctx;
    if (outcome != PG_OK) {
        r->cb(r->ctx, outcome, 0, NULL);
        return;
    }
    const char *secret = pg_value(res, 0, "hmac_secret");
    r->cb(r->ctx, PG_OK, secret != NULL, secret);
}

struct pg_query *apps_lookup(struct pg_pool *pool, const char *app_id, apps_lookup_cb cb, void *ctx)
{
    const char *params[1] = {app_id};
    struct apps_lookup_req *r;
    struct pg_query *q = pg_query_wrap(pool, "SELECT hmac_secret FROM apps WHERE app_id = $1", 1,
                                       params, 0, apps_on_lookup, sizeof *r, (void **)&r);
    r->cb = cb;
    r->ctx = ctx;
    return q;
}
