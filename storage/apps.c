/* Forum apps in the database (storage/apps.h): registration from the command line with blocking
 * libpq, and the asynchronous secret lookup the request authenticator uses. */
#include "storage/apps.h"

#include <stdio.h>
#include <string.h>

#include "core/crypto.h"

#define APPS_ID_MAX 128
#define APPS_SECRET_MIN 16
#define APP_SECRET_RANDOM_BYTES 32

static int app_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n < 1 || n > APPS_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

static int secret_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < APPS_SECRET_MIN || n > APPS_SECRET_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e)
            return 0;
    }
    return 1;
}

int apps_create(const char *conninfo, const char *app_id, const char *secret, char *secret_out,
                size_t secret_out_sz)
{
    char generated[2 * APP_SECRET_RANDOM_BYTES + 1];
    PGconn *conn = NULL;
    PGresult *res = NULL;

    if (app_id == NULL || !app_id_valid(app_id)) {
        fprintf(stderr, "app create: the app id must be 1..%d characters of A-Z a-z 0-9 . _ -\n",
                APPS_ID_MAX);
        goto fail;
    }
    if (secret != NULL && !secret_valid(secret)) {
        fprintf(stderr, "app create: the secret must be %d..%d printable ASCII characters\n",
                APPS_SECRET_MIN, APPS_SECRET_MAX);
        goto fail;
    }
    if (secret == NULL) {
        uint8_t raw[APP_SECRET_RANDOM_BYTES];
        if (crypto_random(raw, sizeof raw) != 0) {
            fprintf(stderr, "app create: no randomness available for the secret\n");
            goto fail;
        }
        hex_encode(raw, sizeof raw, generated);
        crypto_cleanse(raw, sizeof raw);
        secret = generated;
    }
    if (strlen(secret) >= secret_out_sz) {
        fprintf(stderr, "app create: secret buffer too small\n");
        goto fail;
    }

    conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "app create: cannot connect to the database: %s", PQerrorMessage(conn));
        goto fail;
    }
    const char *params[2] = {app_id, secret};
    res = PQexecParams(conn,
                       "INSERT INTO apps (app_id, hmac_secret) VALUES ($1, $2) "
                       "ON CONFLICT (app_id) DO NOTHING RETURNING app_id",
                       2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "app create: %s", PQerrorMessage(conn));
        goto fail;
    }
    if (PQntuples(res) == 0) {
        /* The id exists: re-running the same registration is fine, anything else is refused. */
        PQclear(res);
        res = PQexecParams(conn, "SELECT hmac_secret FROM apps WHERE app_id = $1", 1, NULL, params,
                           NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
            fprintf(stderr, "app create: reading app %s failed: %s", app_id, PQerrorMessage(conn));
            goto fail;
        }
        const char *have = PQgetvalue(res, 0, 0);
        int same = secret != generated && strlen(have) == strlen(secret) &&
                   crypto_equal(have, secret, strlen(secret));
        if (!same) {
            fprintf(stderr, "app create: app %s already exists\n", app_id);
            goto fail;
        }
    }
    memcpy(secret_out, secret, strlen(secret) + 1);
    crypto_cleanse(generated, sizeof generated);
    PQclear(res);
    PQfinish(conn);
    return 0;
fail:
    crypto_cleanse(generated, sizeof generated);
    PQclear(res);
    PQfinish(conn);
    return -1;
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
