/* Admin tokens and the audit log (storage/admin.h). Every change the command line makes is one
 * statement that changes the token and, through fl_audit on the rows it returned, writes the
 * audit row: both or neither. */
#include "storage/admin.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

/* ---- serving path ---- */

/* The unreferenced UPDATE in a CTE still runs (data-modifying CTEs always do); it touches the row
 * at most once a minute, so a token in constant use costs one write a minute, not one a call. */
static const char lookup_sql[] =
    "WITH t AS (SELECT name, role, token_hash, app_ids FROM admin_tokens"
    "           WHERE token_hash = decode($1, 'hex') AND revoked_at IS NULL),"
    " u AS (UPDATE admin_tokens SET last_used_at = now()"
    "       WHERE token_hash = decode($1, 'hex') AND revoked_at IS NULL"
    "         AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute'))"
    " SELECT t.name, t.role, encode(t.token_hash, 'hex') AS token_hash, a.app_id"
    " FROM t LEFT JOIN LATERAL unnest(t.app_ids) WITH ORDINALITY AS a(app_id, n) ON true"
    " ORDER BY a.n";

struct lookup_req {
    admin_token_cb cb;
    void *ctx;
};

static void on_lookup(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct lookup_req *r = ctx;
    if (outcome != PG_OK || PQntuples(res) == 0) {
        r->cb(r->ctx, outcome, NULL);
        return;
    }
    struct admin_token_row row = {
        .name = pg_value(res, 0, "name"),
        .role = pg_value(res, 0, "role"),
    };
    const char *hash = pg_value(res, 0, "token_hash");
    if (row.name == NULL || row.role == NULL || hash == NULL ||
        hex_decode(hash, strlen(hash), row.token_hash, sizeof row.token_hash) != 0) {
        r->cb(r->ctx, PG_ERROR, NULL);
        return;
    }
    int n = PQntuples(res);
    const char **ids = xcalloc((size_t)n, sizeof *ids);
    for (int i = 0; i < n; i++) {
        const char *id = pg_value(res, i, "app_id");
        if (id != NULL)
            ids[row.napps++] = id;
    }
    row.app_ids = ids;
    r->cb(r->ctx, PG_OK, &row);
    free(ids);
}

struct pg_query *admin_token_lookup(struct pg_pool *pool, const uint8_t hash[CRYPTO_SHA256_LEN],
                                    admin_token_cb cb, void *ctx)
{
    char hex[2 * CRYPTO_SHA256_LEN + 1];
    hex_encode(hash, CRYPTO_SHA256_LEN, hex);
    const char *params[1] = {hex};
    struct lookup_req *r;
    struct pg_query *q =
        pg_query_wrap(pool, lookup_sql, 1, params, 0, on_lookup, sizeof *r, (void **)&r);
    r->cb = cb;
    r->ctx = ctx;
    return q;
}

#define AUDIT_COLUMNS                                                                              \
    "SELECT id, " PG_TIMESTAMP_TEXT("at") " AS at, actor, method, app_id, subject,"                \
                                          " params::text AS params, before::text AS before,"       \
                                          " after::text AS after FROM audit_log "

/* Keyset pages: the first page passes before_id = INT64_MAX, so both queries are one index range
 * scan whatever the depth of the page. */
static const char audit_all_sql[] = AUDIT_COLUMNS "WHERE id < $1::bigint ORDER BY id DESC LIMIT $2";
static const char audit_scoped_sql[] =
    AUDIT_COLUMNS "WHERE app_id = ANY($3::text[]) AND id < $1::bigint ORDER BY id DESC LIMIT $2";

struct audit_req {
    audit_page_cb cb;
    void *ctx;
};

static void on_audit(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct audit_req *r = ctx;
    if (outcome != PG_OK) {
        r->cb(r->ctx, outcome, NULL, 0);
        return;
    }
    int n = PQntuples(res);
    struct audit_item *items = xcalloc((size_t)(n > 0 ? n : 1), sizeof *items);
    for (int i = 0; i < n; i++) {
        struct audit_item *it = &items[i];
        it->id = strtoll(pg_value(res, i, "id"), NULL, 10);
        it->at = pg_value(res, i, "at");
        it->actor = pg_value(res, i, "actor");
        it->method = pg_value(res, i, "method");
        it->app_id = pg_value(res, i, "app_id");
        it->subject = pg_value(res, i, "subject");
        it->params = pg_value(res, i, "params");
        it->before = pg_value(res, i, "before");
        it->after = pg_value(res, i, "after");
    }
    r->cb(r->ctx, PG_OK, items, n);
    free(items);
}

struct pg_query *audit_page(struct pg_pool *pool, const char *scope, int64_t before_id, int limit,
                            audit_page_cb cb, void *ctx)
{
    char before[24], lim[16];
    snprintf(before, sizeof before, "%lld", (long long)(before_id > 0 ? before_id : INT64_MAX));
    snprintf(lim, sizeof lim, "%d", limit);
    const char *params[3] = {before, lim, scope};
    struct audit_req *r;
    struct pg_query *q =
        pg_query_wrap(pool, scope != NULL ? audit_scoped_sql : audit_all_sql, scope != NULL ? 3 : 2,
                      params, 0, on_audit, sizeof *r, (void **)&r);
    r->cb = cb;
    r->ctx = ctx;
    return q;
}

/* ---- command line ---- */

static PGconn *connect_db(const char *conninfo, char *err, size_t errsz)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, errsz, "cannot connect to the database: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

#define ADMIN_ROW_JSON "jsonb_build_object('name', name, 'role', role, 'appIds', to_jsonb(app_ids))"

static const char create_sql[] =
    "WITH ins AS (INSERT INTO admin_tokens (name, role, app_ids, token_hash)"
    "             VALUES ($1, $2, $3::text[], decode($4, 'hex'))"
    "             ON CONFLICT (name) DO NOTHING RETURNING name, role, app_ids, created_at)"
    " SELECT fl_audit('cli', 'admin.create', NULL, name, " ADMIN_ROW_JSON ", NULL,"
    "                 " ADMIN_ROW_JSON " || jsonb_build_object('createdAt', " PG_TIMESTAMP_TEXT(
        "created_at") ")) AS audit_id FROM ins";

enum admin_store_result admin_token_create(const char *conninfo, const char *name, const char *role,
                                           const char *const *app_ids, int napps,
                                           const uint8_t hash[CRYPTO_SHA256_LEN], char *err,
                                           size_t errsz)
{
    enum admin_store_result rc = ADMIN_STORE_ERROR;
    PGresult *res = NULL;
    char hex[2 * CRYPTO_SHA256_LEN + 1];
    char *apps = pg_text_array_dup(app_ids, napps);
    PGconn *conn = connect_db(conninfo, err, errsz);
    if (conn == NULL)
        goto done;
    hex_encode(hash, CRYPTO_SHA256_LEN, hex);
    /* The app check and the insert in one transaction: an app named is an app that exists. */
    res = PQexec(conn, "BEGIN");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        snprintf(err, errsz, "%s", PQerrorMessage(conn));
        goto done;
    }
    PQclear(res);
    const char *check[1] = {apps};
    res = PQexecParams(conn,
                       "SELECT u.id FROM unnest($1::text[]) WITH ORDINALITY AS u(id, n)"
                       " WHERE NOT EXISTS (SELECT 1 FROM apps WHERE app_id = u.id)"
                       " ORDER BY u.n LIMIT 1",
                       1, NULL, check, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errsz, "%s", PQerrorMessage(conn));
        goto done;
    }
    if (PQntuples(res) == 1) {
        snprintf(err, errsz, "%s", PQgetvalue(res, 0, 0));
        rc = ADMIN_STORE_UNKNOWN_APP;
        goto done;
    }
    PQclear(res);
    const char *params[4] = {name, role, apps, hex};
    res = PQexecParams(conn, create_sql, 4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errsz, "%s", PQerrorMessage(conn));
        goto done;
    }
    if (PQntuples(res) == 0) {
        rc = ADMIN_STORE_EXISTS;
        goto done;
    }
    PQclear(res);
    res = PQexec(conn, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        snprintf(err, errsz, "%s", PQerrorMessage(conn));
        goto done;
    }
    rc = ADMIN_STORE_OK;
done:
    PQclear(res);
    PQfinish(conn); /* without COMMIT the transaction is rolled back */
    free(apps);
    return rc;
}

static const char revoke_sql[] =
    "WITH upd AS (UPDATE admin_tokens SET revoked_at = now()"
    "             WHERE name = $1 AND revoked_at IS NULL RETURNING name, revoked_at)"
    " SELECT fl_audit('cli', 'admin.revoke', NULL, name, jsonb_build_object('name', name),"
    "                 jsonb_build_object('name', name, 'revokedAt', NULL),"
    "                 jsonb_build_object('name', name, 'revokedAt', " PG_TIMESTAMP_TEXT(
        "revoked_at") ")) AS audit_id FROM upd";

enum admin_store_result admin_token_revoke(const char *conninfo, const char *name, char *err,
                                           size_t errsz)
{
    enum admin_store_result rc = ADMIN_STORE_ERROR;
    PGresult *res = NULL;
    PGconn *conn = connect_db(conninfo, err, errsz);
    if (conn == NULL)
        return rc;
    const char *params[1] = {name};
    res = PQexecParams(conn, revoke_sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errsz, "%s", PQerrorMessage(conn));
        goto done;
    }
    if (PQntuples(res) == 1) {
        rc = ADMIN_STORE_OK;
        goto done;
    }
    PQclear(res);
    res = PQexecParams(
        conn, "SELECT " PG_TIMESTAMP_TEXT("revoked_at") " FROM admin_tokens WHERE name = $1", 1,
        NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errsz, "%s", PQerrorMessage(conn));
        goto done;
    }
    if (PQntuples(res) == 0) {
        rc = ADMIN_STORE_NOT_FOUND;
    } else {
        snprintf(err, errsz, "%s", PQgetvalue(res, 0, 0));
        rc = ADMIN_STORE_ALREADY;
    }
done:
    PQclear(res);
    PQfinish(conn);
    return rc;
}

static const char *or_dash(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? "-" : PQgetvalue(res, row, col);
}

enum admin_store_result admin_token_print(const char *conninfo, FILE *out, char *err, size_t errsz)
{
    enum admin_store_result rc = ADMIN_STORE_ERROR;
    PGconn *conn = connect_db(conninfo, err, errsz);
    if (conn == NULL)
        return rc;
    PGresult *res =
        PQexec(conn, "SELECT name, role, NULLIF(array_to_string(app_ids, ','), "
                     "''), " PG_TIMESTAMP_TEXT("created_at") ", " PG_TIMESTAMP_TEXT(
                         "last_used_at") ", " PG_TIMESTAMP_TEXT("revoked_at") " FROM admin_tokens "
                                                                              "ORDER BY "
                                                                              "created_at, name");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errsz, "%s", PQerrorMessage(conn));
        goto done;
    }
    for (int i = 0; i < PQntuples(res); i++)
        fprintf(out, "name=%s role=%s apps=%s created=%s last_used=%s revoked=%s\n",
                PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), or_dash(res, i, 2),
                or_dash(res, i, 3), or_dash(res, i, 4), or_dash(res, i, 5));
    rc = ADMIN_STORE_OK;
done:
    PQclear(res);
    PQfinish(conn);
    return rc;
}
