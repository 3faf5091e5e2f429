/* Forum apps in the database (storage/apps.h): sealing and opening their secrets, the blocking
 * changes behind `fiberlinkd app …` and the start-up reseal, and the asynchronous queries of the
 * request authenticator and the admin API.
 *
 * Sealed values cross the libpq boundary as lowercase hex (decode($n, 'hex') / encode(col,
 * 'hex')), never as bytea escapes. */
#include "storage/apps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/mem.h"

#define APPS_SECRET_RANDOM_BYTES 32

int apps_id_valid(const char *id)
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

int apps_secret_valid(const char *s)
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

int apps_secret_generate(char out[APPS_SECRET_MAX + 1])
{
    uint8_t raw[APPS_SECRET_RANDOM_BYTES];
    if (crypto_random(raw, sizeof raw) != 0)
        return -1;
    hex_encode(raw, sizeof raw, out);
    crypto_cleanse(raw, sizeof raw);
    return 0;
}

int apps_seal_hex(const struct seal_keyring *keys, const char *purpose, const char *app_id,
                  const char *secret, char out[APPS_SEALED_HEX_MAX])
{
    uint8_t sealed[APPS_SECRET_MAX + SEAL_OVERHEAD];
    size_t len = strlen(secret), slen;
    if (keys == NULL || keys->n < 1 || len > APPS_SECRET_MAX ||
        seal_encrypt(&keys->keys[0], purpose, app_id, secret, len, sealed, &slen) != 0)
        return -1;
    hex_encode(sealed, slen, out);
    return 0;
}

int apps_open_hex(const struct seal_keyring *keys, const char *purpose, const char *app_id,
                  const char *hex, char out[APPS_SECRET_MAX + 1], int *which)
{
    uint8_t sealed[APPS_SECRET_MAX + SEAL_OVERHEAD];
    size_t hl = strlen(hex), plen;
    if (keys == NULL || hl % 2 != 0 || hl / 2 > sizeof sealed || hl / 2 < SEAL_OVERHEAD ||
        hex_decode(hex, hl, sealed, hl / 2) != 0)
        return -1;
    return seal_keyring_open(keys, purpose, app_id, sealed, hl / 2, (uint8_t *)out, &plen, which);
}

/* ---- blocking ---- */

static PGresult *exec(PGconn *conn, const char *sql, int n, const char *const *params)
{
    return PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
}

static int ok(PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}

static int run(PGconn *conn, const char *sql, char *err, size_t errsz)
{
    PGresult *res = PQexec(conn, sql);
    int rc = ok(res) ? 0 : -1;
    if (rc != 0)
        snprintf(err, errsz, "%s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
    return rc;
}

/* The audit params of a command: {"appId": …, "graceSeconds": …}, never a secret. */
static char *cli_params(const char *app_id, int grace_seconds)
{
    json_t *p = json_object();
    json_object_set_new(p, "appId", json_string(app_id));
    if (grace_seconds >= 0)
        json_object_set_new(p, "graceSeconds", json_integer(grace_seconds));
    char *s = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    return s;
}

enum apps_insert_result apps_insert(PGconn *conn, const struct seal_keyring *keys,
                                    const char *app_id, const char *secret, char *err, size_t errsz)
{
    enum apps_insert_result rc = APPS_INSERT_ERROR;
    char sealed[APPS_SEALED_HEX_MAX], have[APPS_SECRET_MAX + 1];
    char *params = cli_params(app_id, -1);
    PGresult *res = NULL;
    if (keys != NULL && apps_seal_hex(keys, APPS_PURPOSE_SECRET, app_id, secret, sealed) != 0) {
        snprintf(err, errsz, "sealing the secret failed\n");
        goto done;
    }
    const char *p[4] = {app_id, keys != NULL ? sealed : NULL, keys != NULL ? NULL : secret, params};
    res = exec(conn,
               "SELECT created FROM fl_app_create('cli', 'apps.create', $1, decode($2, 'hex'), "
               "$3, $4::jsonb)",
               4, p);
    if (!ok(res) || PQntuples(res) != 1) {
        snprintf(err, errsz, "%s", PQerrorMessage(conn));
        goto done;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        rc = APPS_INSERT_CREATED;
        goto done;
    }
    PQclear(res);
    res = exec(conn, "SELECT hmac_secret, encode(secret_enc, 'hex') FROM apps WHERE app_id = $1", 1,
               p);
    if (!ok(res) || PQntuples(res) != 1) {
        snprintf(err, errsz, "reading app %s failed: %s", app_id, PQerrorMessage(conn));
        goto done;
    }
    if (!PQgetisnull(res, 0, 0)) {
        snprintf(have, sizeof have, "%s", PQgetvalue(res, 0, 0));
    } else {
        int which;
        if (keys == NULL) {
            rc = APPS_INSERT_EXISTS_SEALED;
            goto done;
        }
        if (apps_open_hex(keys, APPS_PURPOSE_SECRET, app_id, PQgetvalue(res, 0, 1), have, &which) !=
            0) {
            snprintf(err, errsz,
                     "app %s exists and its stored secret cannot be opened with the configured "
                     "keys (secrets_key, secrets_key_previous, preimage_key)\n",
                     app_id);
            goto done;
        }
    }
    rc = strlen(have) == strlen(secret) && crypto_equal(have, secret, strlen(secret))
             ? APPS_INSERT_EXISTS_SAME
             : APPS_INSERT_EXISTS_OTHER;
done:
    crypto_cleanse(have, sizeof have);
    PQclear(res);
    free(params);
    return rc;
}

/* Reads one app row for a change, locked; the legacy plaintext sealed into legacy_hex ("" when the
 * row is sealed). 1 found, 0 not found, -1 error. */
static int read_locked(PGconn *conn, const struct seal_keyring *keys, const char *app_id,
                       char legacy_hex[APPS_SEALED_HEX_MAX], char *err, size_t errsz)
{
    const char *p[1] = {app_id};
    PGresult *res = exec(conn, "SELECT hmac_secret FROM apps WHERE app_id = $1 FOR UPDATE", 1, p);
    int rc = -1;
    legacy_hex[0] = '\0';
    if (!ok(res)) {
        snprintf(err, errsz, "reading app %s failed: %s", app_id, PQerrorMessage(conn));
        goto done;
    }
    rc = PQntuples(res) == 1;
    if (rc == 1 && !PQgetisnull(res, 0, 0) &&
        apps_seal_hex(keys, APPS_PURPOSE_SECRET, app_id, PQgetvalue(res, 0, 0), legacy_hex) != 0) {
        snprintf(err, errsz, "sealing the stored secret of app %s failed\n", app_id);
        rc = -1;
    }
done:
    PQclear(res);
    return rc;
}

enum apps_change_result apps_rotate(PGconn *conn, const struct seal_keyring *keys,
                                    const char *app_id, const char *new_secret, int grace_seconds,
                                    char previous_retires_at[APPS_TIME_MAX], char *err,
                                    size_t errsz)
{
    enum apps_change_result rc = APPS_ERROR;
    char sealed[APPS_SEALED_HEX_MAX], legacy[APPS_SEALED_HEX_MAX], grace[16];
    char *params = cli_params(app_id, grace_seconds);
    PGresult *res = NULL;
    if (apps_seal_hex(keys, APPS_PURPOSE_SECRET, app_id, new_secret, sealed) != 0) {
        snprintf(err, errsz, "sealing the secret failed\n");
        goto done;
    }
    if (run(conn, "BEGIN", err, errsz) != 0)
        goto done;
    int found = read_locked(conn, keys, app_id, legacy, err, errsz);
    if (found <= 0) {
        rc = found == 0 ? APPS_NOT_FOUND : APPS_ERROR;
        goto rollback;
    }
    snprintf(grace, sizeof grace, "%d", grace_seconds);
    const char *p[5] = {app_id, sealed, grace, params, legacy[0] != '\0' ? legacy : NULL};
    res = exec(conn,
               "SELECT outcome, app->>'previousRetiresAt' FROM fl_app_rotate_secret('cli', "
               "'apps.rotate_secret', $1, decode($2, 'hex'), $3::integer, $4::jsonb, "
               "decode($5, 'hex'))",
               5, p);
    if (!ok(res) || PQntuples(res) != 1) {
        snprintf(err, errsz, "%s", PQerrorMessage(conn));
        goto rollback;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "ROTATED") != 0) {
        snprintf(err, errsz, "app %s: %s\n", app_id, PQgetvalue(res, 0, 0));
        goto rollback;
    }
    snprintf(previous_retires_at, APPS_TIME_MAX, "%s", PQgetvalue(res, 0, 1));
    if (run(conn, "COMMIT", err, errsz) != 0)
        goto done;
    rc = APPS_CHANGED;
    goto done;
rollback:
    PQclear(PQexec(conn, "ROLLBACK"));
done:
    PQclear(res);
    free(params);
    return rc;
}

enum apps_change_result apps_finish_rotation(PGconn *conn, const char *app_id,
                                             char finished_at[APPS_TIME_MAX], char *err,
                                             size_t errsz)
{
    enum apps_change_result rc = APPS_ERROR;
    char *params = cli_params(app_id, -1);
    const char *p[2] = {app_id, params};
    PGresult *res = exec(conn,
                         "SELECT outcome, app->>'previousRetiresAt' FROM fl_app_finish_rotation("
                         "'cli', 'apps.finish_rotation', $1, $2::jsonb)",
                         2, p);
    if (!ok(res) || PQntuples(res) != 1) {
        snprintf(err, errsz, "%s", PQerrorMessage(conn));
        goto done;
    }
    const char *outcome = PQgetvalue(res, 0, 0);
    if (strcmp(outcome, "NOT_FOUND") == 0)
        rc = APPS_NOT_FOUND;
    else if (strcmp(outcome, "NO_ROTATION") == 0)
        rc = APPS_NO_ROTATION;
    else {
        snprintf(finished_at, APPS_TIME_MAX, "%s", PQgetvalue(res, 0, 1));
        rc = APPS_CHANGED;
    }
done:
    PQclear(res);
    free(params);
    return rc;
}

/* ---- reseal ---- */

/* What a stored value needs: nothing, sealing again under the current key, or (for a previous
 * secret past its retire time) removal. */
enum reseal_need { RESEAL_NONE, RESEAL_SEAL, RESEAL_DROP };

/* Names the keys a value could not be opened with, for the message that stops the daemon. */
static void keys_tried(const struct seal_keyring *keys, char *buf, size_t sz)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < keys->n && off < sz; i++)
        off += (size_t)snprintf(buf + off, sz - off, "%s%s", i ? ", " : "", keys->names[i]);
}

/* Opens hex (purpose, row) with the ring into plain: RESEAL_NONE when under the current key,
 * RESEAL_SEAL when under an older one; -1 when no key opens it. */
static int check_sealed(const struct seal_keyring *keys, const char *purpose, const char *app_id,
                        const char *hex, char plain[APPS_SECRET_MAX + 1])
{
    int which;
    if (apps_open_hex(keys, purpose, app_id, hex, plain, &which) != 0)
        return -1;
    return which == 0 ? RESEAL_NONE : RESEAL_SEAL;
}

/* One app row: hmac_secret, secret_enc (hex), prev_secret_enc (hex), prev retired (t/f). Writes
 * the changes it needs (inside the caller's transaction when write is set). 0, or -1 with err. */
static int reseal_app(PGconn *conn, const struct seal_keyring *keys, PGresult *row, int write,
                      struct apps_reseal_stats *st, char *err, size_t errsz)
{
    const char *app_id = PQgetvalue(row, 0, 0);
    char plain[APPS_SECRET_MAX + 1], cur_hex[APPS_SEALED_HEX_MAX], prev_hex[APPS_SEALED_HEX_MAX];
    char tried[96];
    int cur = RESEAL_NONE, prev = RESEAL_NONE, rc = -1;
    keys_tried(keys, tried, sizeof tried);
    if (!PQgetisnull(row, 0, 1)) {
        cur = RESEAL_SEAL; /* legacy plaintext */
        snprintf(plain, sizeof plain, "%s", PQgetvalue(row, 0, 1));
    } else if ((cur = check_sealed(keys, APPS_PURPOSE_SECRET, app_id, PQgetvalue(row, 0, 2),
                                   plain)) < 0) {
        snprintf(err, errsz,
                 "the stored secret of app %s cannot be opened with the configured keys (%s): "
                 "set secrets_key (and secrets_key_previous during a key rotation) to the key it "
                 "was sealed with",
                 app_id, tried);
        goto done;
    }
    if (cur == RESEAL_SEAL &&
        apps_seal_hex(keys, APPS_PURPOSE_SECRET, app_id, plain, cur_hex) != 0) {
        snprintf(err, errsz, "sealing the secret of app %s failed", app_id);
        goto done;
    }
    if (!PQgetisnull(row, 0, 3)) {
        if (strcmp(PQgetvalue(row, 0, 4), "t") == 0) {
            prev = RESEAL_DROP; /* retired: nobody will accept it again */
        } else if ((prev = check_sealed(keys, APPS_PURPOSE_SECRET, app_id, PQgetvalue(row, 0, 3),
                                        plain)) < 0) {
            snprintf(err, errsz,
                     "the previous secret of app %s (rotation in progress) cannot be opened with "
                     "the configured keys (%s): set secrets_key (and secrets_key_previous during "
                     "a key rotation) to the key it was sealed with",
                     app_id, tried);
            goto done;
        } else if (prev == RESEAL_SEAL &&
                   apps_seal_hex(keys, APPS_PURPOSE_SECRET, app_id, plain, prev_hex) != 0) {
            snprintf(err, errsz, "sealing the previous secret of app %s failed", app_id);
            goto done;
        }
    }
    st->apps++;
    if (!PQgetisnull(row, 0, 1))
        st->sealed++;
    else
        st->resealed += cur == RESEAL_SEAL;
    st->resealed += prev == RESEAL_SEAL;
    st->dropped += prev == RESEAL_DROP;
    if (write && (cur != RESEAL_NONE || prev != RESEAL_NONE)) {
        static const char *const prev_op[] = {
            [RESEAL_NONE] = "keep", [RESEAL_SEAL] = "seal", [RESEAL_DROP] = "drop"};
        const char *p[5] = {app_id, cur == RESEAL_SEAL ? "t" : "f",
                            cur == RESEAL_SEAL ? cur_hex : NULL, prev_op[prev],
                            prev == RESEAL_SEAL ? prev_hex : NULL};
        PGresult *res = exec(conn,
                             "UPDATE apps SET "
                             "secret_enc = CASE WHEN $2 THEN decode($3, 'hex') ELSE secret_enc END,"
                             " hmac_secret = CASE WHEN $2 THEN NULL ELSE hmac_secret END,"
                             " prev_secret_enc = CASE $4 WHEN 'keep' THEN prev_secret_enc"
                             "   WHEN 'drop' THEN NULL ELSE decode($5, 'hex') END "
                             "WHERE app_id = $1",
                             5, p);
        if (!ok(res)) {
            snprintf(err, errsz, "updating app %s failed: %s", app_id, PQerrorMessage(conn));
            PQclear(res);
            goto done;
        }
        PQclear(res);
    }
    rc = 0;
done:
    crypto_cleanse(plain, sizeof plain);
    return rc;
}

static int reseal_webhook(PGconn *conn, const struct seal_keyring *keys, PGresult *row, int write,
                          struct apps_reseal_stats *st, char *err, size_t errsz)
{
    const char *app_id = PQgetvalue(row, 0, 0);
    char plain[APPS_SECRET_MAX + 1], hex[APPS_SEALED_HEX_MAX], tried[96];
    int need = check_sealed(keys, APPS_PURPOSE_WEBHOOK, app_id, PQgetvalue(row, 0, 1), plain);
    int rc = -1;
    keys_tried(keys, tried, sizeof tried);
    if (need < 0) {
        snprintf(err, errsz,
                 "the webhook secret of app %s cannot be opened with the configured keys (%s): "
                 "set secrets_key (and secrets_key_previous during a key rotation) to the key it "
                 "was sealed with",
                 app_id, tried);
        goto done;
    }
    st->webhooks++;
    if (need == RESEAL_SEAL) {
        st->webhooks_resealed++;
        if (apps_seal_hex(keys, APPS_PURPOSE_WEBHOOK, app_id, plain, hex) != 0) {
            snprintf(err, errsz, "sealing the webhook secret of app %s failed", app_id);
            goto done;
        }
        if (write) {
            const char *p[2] = {app_id, hex};
            PGresult *res = exec(
                conn, "UPDATE webhooks SET secret_enc = decode($2, 'hex') WHERE app_id = $1", 2, p);
            int good = ok(res);
            if (!good)
                snprintf(err, errsz, "updating the webhook of app %s failed: %s", app_id,
                         PQerrorMessage(conn));
            PQclear(res);
            if (!good)
                goto done;
        }
    }
    rc = 0;
done:
    crypto_cleanse(plain, sizeof plain);
    return rc;
}

#define RESEAL_APP_SQL                                                                             \
    "SELECT app_id, hmac_secret, encode(secret_enc, 'hex'), encode(prev_secret_enc, 'hex'),"       \
    " prev_retires_at <= now() FROM apps"
#define RESEAL_WEBHOOK_SQL "SELECT app_id, encode(secret_enc, 'hex') FROM webhooks"

/* One pass over every row: check only (write = 0, no locks), or lock, check again and write. The
 * ids to visit come from a first unlocked list; each row is then read alone (locked when writing),
 * so a row changed meanwhile is judged as it is now. */
static int reseal_pass(PGconn *conn, const struct seal_keyring *keys, int write,
                       struct apps_reseal_stats *st, char *err, size_t errsz)
{
    static const char *const list[2] = {"SELECT app_id FROM apps ORDER BY app_id",
                                        "SELECT app_id FROM webhooks ORDER BY app_id"};
    static const char *const one[2][2] = {
        {RESEAL_APP_SQL " WHERE app_id = $1", RESEAL_APP_SQL " WHERE app_id = $1 FOR UPDATE"},
        {RESEAL_WEBHOOK_SQL " WHERE app_id = $1",
         RESEAL_WEBHOOK_SQL " WHERE app_id = $1 FOR UPDATE"}};
    memset(st, 0, sizeof *st);
    for (int t = 0; t < 2; t++) {
        PGresult *ids = PQexec(conn, list[t]);
        if (!ok(ids)) {
            snprintf(err, errsz, "reading %s failed: %s", t == 0 ? "apps" : "webhooks",
                     PQerrorMessage(conn));
            PQclear(ids);
            return -1;
        }
        for (int i = 0; i < PQntuples(ids); i++) {
            const char *p[1] = {PQgetvalue(ids, i, 0)};
            PGresult *row = exec(conn, one[t][write], 1, p);
            int rc = -1;
            if (!ok(row))
                snprintf(err, errsz, "reading %s failed: %s", p[0], PQerrorMessage(conn));
            else if (PQntuples(row) == 0)
                rc = 0; /* deleted meanwhile */
            else if (t == 0)
                rc = reseal_app(conn, keys, row, write, st, err, errsz);
            else
                rc = reseal_webhook(conn, keys, row, write, st, err, errsz);
            PQclear(row);
            if (rc != 0) {
                PQclear(ids);
                return -1;
            }
        }
        PQclear(ids);
    }
    return 0;
}

static int reseal_changes(const struct apps_reseal_stats *st)
{
    return st->sealed + st->resealed + st->dropped + st->webhooks_resealed;
}

int apps_reseal(PGconn *conn, const struct seal_keyring *keys, const char *actor,
                struct apps_reseal_stats *stats, char *err, size_t errsz)
{
    /* First without locks: a daemon starting while nothing needs to change (the usual case)
     * blocks no rotation running on another daemon. */
    if (reseal_pass(conn, keys, 0, stats, err, errsz) != 0)
        return -1;
    if (reseal_changes(stats) == 0)
        return 0;
    if (run(conn, "BEGIN", err, errsz) != 0)
        return -1;
    if (reseal_pass(conn, keys, 1, stats, err, errsz) != 0)
        goto fail;
    if (reseal_changes(stats) == 0) {
        /* Another daemon starting at the same time did it: nothing to write, nothing to audit. */
        PQclear(PQexec(conn, "ROLLBACK"));
        return 0;
    }
    char params[160];
    snprintf(params, sizeof params,
             "{\"sealed\": %d, \"resealed\": %d, \"dropped\": %d, \"webhooksResealed\": %d}",
             stats->sealed, stats->resealed, stats->dropped, stats->webhooks_resealed);
    const char *p[2] = {actor, params};
    PGresult *res =
        exec(conn, "SELECT fl_audit($1, 'apps.reseal', NULL, NULL, $2::jsonb, NULL, NULL)", 2, p);
    int good = ok(res);
    if (!good)
        snprintf(err, errsz, "writing the audit row failed: %s", PQerrorMessage(conn));
    PQclear(res);
    if (!good || run(conn, "COMMIT", err, errsz) != 0)
        goto fail;
    return 0;
fail:
    PQclear(PQexec(conn, "ROLLBACK"));
    return -1;
}

/* ---- asynchronous ---- */

struct apps_lookup_req {
    const struct seal_keyring *keys;
    struct pg_pool *pool;
    apps_lookup_cb cb;
    void *ctx;
    char app_id[APPS_ID_MAX + 1];
};

static void on_sealed_legacy(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    /* Nothing waits on it: a failure only means the next lookup or start-up seals the row. */
    if (outcome != PG_OK)
        log_event(LOG_WARN, "apps.seal_failed", "outcome=%d message=%s", (int)outcome,
                  pg_error_message(res));
}

static void apps_on_lookup(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct apps_lookup_req *r = ctx;
    struct apps_secrets *s = NULL;
    int which = 0;
    if (outcome != PG_OK) {
        r->cb(r->ctx, outcome, NULL);
        return;
    }
    s = xcalloc(1, sizeof *s);
    const char *plain = pg_value(res, 0, "hmac_secret");
    const char *enc = pg_value(res, 0, "secret_enc");
    const char *prev = pg_value(res, 0, "prev_enc");
    s->found = PQntuples(res) == 1;
    if (!s->found)
        goto answer;
    if (plain != NULL) {
        s->legacy = 1;
        snprintf(s->secret, sizeof s->secret, "%s", plain);
        /* Sealed now, so the plaintext leaves the database; guarded on that very plaintext. */
        char hex[APPS_SEALED_HEX_MAX];
        if (apps_seal_hex(r->keys, APPS_PURPOSE_SECRET, r->app_id, plain, hex) == 0) {
            const char *p[3] = {r->app_id, hex, plain};
            (void)pg_query(r->pool,
                           "UPDATE apps SET secret_enc = decode($2, 'hex'), hmac_secret = NULL "
                           "WHERE app_id = $1 AND hmac_secret = $3",
                           3, p, 0, on_sealed_legacy, NULL);
        }
    } else if (enc == NULL || apps_open_hex(r->keys, APPS_PURPOSE_SECRET, r->app_id, enc, s->secret,
                                            &which) != 0) {
        goto unreadable;
    }
    if (prev != NULL) {
        const char *at = pg_value(res, 0, "prev_retires");
        if (apps_open_hex(r->keys, APPS_PURPOSE_SECRET, r->app_id, prev, s->previous, &which) != 0)
            goto unreadable;
        s->previous_retires_at = at != NULL ? strtod(at, NULL) : 0;
    }
answer:
    r->cb(r->ctx, PG_OK, s);
    crypto_cleanse(s, sizeof *s);
    free(s);
    return;
unreadable:
    /* Start-up checked every stored secret: this one was written since, under a key this daemon
     * does not have (daemons configured with different secrets_key). */
    log_event(LOG_ERROR, "apps.secret_unreadable",
              "app_id=%s hint=every daemon must have the same secrets_key and "
              "secrets_key_previous",
              r->app_id);
    crypto_cleanse(s, sizeof *s);
    free(s);
    r->cb(r->ctx, PG_ERROR, NULL);
}

struct pg_query *apps_lookup(struct pg_pool *pool, const struct seal_keyring *keys,
                             const char *app_id, apps_lookup_cb cb, void *ctx)
{
    const char *params[1] = {app_id};
    struct apps_lookup_req *r;
    struct pg_query *q = pg_query_wrap(
        pool,
        "SELECT hmac_secret, encode(secret_enc, 'hex') AS secret_enc,"
        " CASE WHEN prev_retires_at > now() THEN encode(prev_secret_enc, 'hex') END AS prev_enc,"
        " extract(epoch FROM prev_retires_at)::float8 AS prev_retires "
        "FROM apps WHERE app_id = $1",
        1, params, 0, apps_on_lookup, sizeof *r, (void **)&r);
    r->keys = keys;
    r->pool = pool;
    r->cb = cb;
    r->ctx = ctx;
    snprintf(r->app_id, sizeof r->app_id, "%s", app_id);
    return q;
}

struct pg_query *apps_list(struct pg_pool *pool, const char *scope, const char *cursor_micros,
                           const char *cursor_app_id, int64_t limit, pg_cb cb, void *ctx)
{
    char lim[24];
    snprintf(lim, sizeof lim, "%lld", (long long)limit);
    const char *p[4] = {scope, cursor_micros, cursor_app_id, lim};
    return pg_query(
        pool,
        "SELECT fl_app_public(a)::text AS app,"
        " (extract(epoch FROM a.created_at) * 1000000)::bigint || '.' || a.app_id AS cursor "
        "FROM apps a "
        "WHERE ($1::text[] IS NULL OR a.app_id = ANY ($1::text[]))"
        " AND ($2::bigint IS NULL OR (a.created_at, a.app_id) <"
        " ('epoch'::timestamptz + $2::bigint * interval '1 microsecond', $3::text)) "
        "ORDER BY a.created_at DESC, a.app_id DESC LIMIT $4::bigint",
        4, p, 0, cb, ctx);
}

struct pg_query *apps_create_query(struct pg_pool *pool, const char *actor, const char *app_id,
                                   const char *sealed_hex, const char *params, pg_cb cb, void *ctx)
{
    const char *p[4] = {actor, app_id, sealed_hex, params};
    return pg_query(pool,
                    "SELECT created, app::text AS app FROM fl_app_create($1, 'apps.create', $2, "
                    "decode($3, 'hex'), NULL, $4::jsonb)",
                    4, p, 0, cb, ctx);
}

struct pg_query *apps_rotate_query(struct pg_pool *pool, const char *actor, const char *app_id,
                                   const char *sealed_hex, int grace_seconds, const char *params,
                                   const char *legacy_hex, pg_cb cb, void *ctx)
{
    char grace[16];
    snprintf(grace, sizeof grace, "%d", grace_seconds);
    const char *p[6] = {actor, app_id, sealed_hex, grace, params, legacy_hex};
    return pg_query(pool,
                    "SELECT outcome, app::text AS app FROM fl_app_rotate_secret($1, "
                    "'apps.rotate_secret', $2, decode($3, 'hex'), $4::integer, $5::jsonb, "
                    "decode($6, 'hex'))",
                    6, p, 0, cb, ctx);
}

struct pg_query *apps_finish_query(struct pg_pool *pool, const char *actor, const char *app_id,
                                   const char *params, pg_cb cb, void *ctx)
{
    const char *p[3] = {actor, app_id, params};
    return pg_query(pool,
                    "SELECT outcome, app::text AS app FROM fl_app_finish_rotation($1, "
                    "'apps.finish_rotation', $2, $3::jsonb)",
                    3, p, 0, cb, ctx);
}
