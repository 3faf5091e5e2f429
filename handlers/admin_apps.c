/* See admin_apps.h. Each method reads its params, checks the caller's scope (admin_param_app:
 * an app outside a COMMUNITY_ADMIN's apps is -32004, as if it did not exist), seals what it
 * writes, and runs one statement:
 *
 *   apps.list             apps_list (one row more than asked: it only says a next page exists)
 *   apps.create           fl_app_create        created | exists → -32602 APP_EXISTS
 *   apps.rotate_secret    apps_lookup → fl_app_rotate_secret
 *                         (the lookup finds the app, and seals a legacy plaintext secret so it can
 *                         become the previous one)
 *   apps.finish_rotation  fl_app_finish_rotation  finished | none in progress → -32602
 *                         NO_ROTATION */
#include "handlers/admin_apps.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/mem.h"
#include "storage/apps.h"

int admin_apps_cursor_parse(const char *cursor, char micros[24], const char **app_id)
{
    const char *dot = strchr(cursor, '.');
    size_t n = dot != NULL ? (size_t)(dot - cursor) : 0;
    if (n < 1 || n > 18 || strlen(dot + 1) < 1 || strlen(dot + 1) > APPS_ID_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (cursor[i] < '0' || cursor[i] > '9')
            return -1;
    memcpy(micros, cursor, n);
    micros[n] = '\0';
    *app_id = dot + 1;
    return 0;
}

static void param_error(struct rpc_call *call, const char *field, const char *reason,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void param_error(struct rpc_call *call, const char *field, const char *reason,
                        const char *fmt, ...)
{
    struct jsonrpc_param_error pe = {.field = field};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pe.message, sizeof pe.message, fmt, ap);
    va_end(ap);
    rpc_reply_param_error(call, &pe, reason);
}

static void db_failed(struct rpc_call *call, const char *what, enum pg_outcome outcome,
                      PGresult *res)
{
    log_event(LOG_WARN, "admin.apps_query_failed", "method=%s outcome=%d message=%s", what,
              (int)outcome, res != NULL ? pg_error_message(res) : "");
    rpc_reply_error(call, API_ERR_INTERNAL, "Database unavailable", NULL);
}

/* The app jsonb of a row (fl_app_public), parsed. */
static json_t *row_app(PGresult *res, int row)
{
    const char *text = pg_value(res, row, "app");
    return text != NULL ? json_loads(text, 0, NULL) : NULL;
}

/* ---- apps.list ---- */

struct list_ctx {
    struct rpc_call *call;
    int64_t limit;
};

static void on_list(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct list_ctx *lc = ctx;
    struct rpc_call *call = lc->call;
    int64_t limit = lc->limit;
    free(lc);
    if (outcome != PG_OK) {
        db_failed(call, "apps.list", outcome, res);
        return;
    }
    int n = PQntuples(res), shown = n < limit ? n : (int)limit;
    json_t *items = json_array();
    for (int i = 0; i < shown; i++) {
        json_t *app = row_app(res, i);
        if (app != NULL)
            json_array_append_new(items, app);
    }
    json_t *next = n > limit ? json_string(pg_value(res, shown - 1, "cursor")) : json_null();
    rpc_reply(call, json_pack("{s:o, s:o}", "items", items, "nextCursor", next));
}

static void apps_list_method(struct rpc_call *call)
{
    int64_t limit;
    const char *cursor = NULL, *app_id = NULL, *cursor_app = NULL;
    char micros[24], scope_buf[ADMIN_SCOPE_BUF];
    if (admin_param_list(call, &limit, &cursor) != 0 ||
        admin_param_app(call, "appId", 0, &app_id) != 0)
        return;
    if (cursor != NULL && admin_apps_cursor_parse(cursor, micros, &cursor_app) != 0) {
        param_error(call, "cursor", NULL, "cursor must be a nextCursor from apps.list");
        return;
    }
    const char *scope = admin_scope_array(call, app_id, scope_buf, sizeof scope_buf);
    struct list_ctx *lc = xcalloc(1, sizeof *lc);
    rpc_call_own(call, lc, free);
    lc->call = call;
    lc->limit = limit;
    apps_list(call->env->pg, scope, cursor != NULL ? micros : NULL, cursor_app, limit + 1, on_list,
              lc);
}

/* ---- apps.create ---- */

struct create_ctx {
    struct rpc_call *call;
    char app_id[APPS_ID_MAX + 1];
    char secret[APPS_SECRET_MAX + 1];
};

static void create_free(void *p)
{
    struct create_ctx *cc = p;
    crypto_cleanse(cc->secret, sizeof cc->secret);
    free(cc);
}

static void on_created(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct create_ctx *cc = ctx;
    struct rpc_call *call = cc->call;
    const char *created = pg_value(res, 0, "created");
    if (outcome != PG_OK || created == NULL) {
        db_failed(call, "apps.create", outcome, res);
    } else if (strcmp(created, "t") != 0) {
        param_error(call, "appId", "APP_EXISTS", "app %s already exists", cc->app_id);
    } else {
        /* This daemon may hold "unknown app" for the id: the app works here at once. */
        app_caches_forget(cc->app_id);
        log_event(LOG_INFO, "admin.app_created", "app_id=%s actor=%s", cc->app_id,
                  call->admin->name);
        rpc_reply(call, json_pack("{s:s, s:s}", "appId", cc->app_id, "secret", cc->secret));
    }
    create_free(cc);
}

static void apps_create_method(struct rpc_call *call)
{
    struct jsonrpc_param_error pe = {0};
    const char *app_id, *secret;
    char sealed[APPS_SEALED_HEX_MAX];
    if (jsonrpc_param_string(call->params, "appId", 1, APPS_ID_MAX, &app_id, &pe) != 0 ||
        jsonrpc_param_opt_string(call->params, "secret", APPS_SECRET_MIN, APPS_SECRET_MAX, &secret,
                                 &pe) != 0) {
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    if (!apps_id_valid(app_id)) {
        param_error(call, "appId", NULL, "appId must be 1..%d characters of A-Z a-z 0-9 . _ -",
                    APPS_ID_MAX);
        return;
    }
    if (secret != NULL && !apps_secret_valid(secret)) {
        param_error(call, "secret", NULL, "secret must be %d..%d printable ASCII characters",
                    APPS_SECRET_MIN, APPS_SECRET_MAX);
        return;
    }
    struct create_ctx *cc = xcalloc(1, sizeof *cc);
    rpc_call_own(call, cc, create_free);
    cc->call = call;
    snprintf(cc->app_id, sizeof cc->app_id, "%s", app_id);
    if (secret != NULL)
        snprintf(cc->secret, sizeof cc->secret, "%s", secret);
    if ((secret == NULL && apps_secret_generate(cc->secret) != 0) ||
        apps_seal_hex(call->env->keys, APPS_PURPOSE_SECRET, app_id, cc->secret, sealed) != 0) {
        create_free(cc);
        rpc_reply_error(call, API_ERR_INTERNAL, NULL, NULL);
        return;
    }
    char *params = admin_audit_params(call);
    apps_create_query(call->env->pg, call->admin->name, app_id, sealed, params, on_created, cc);
    free(params);
}

/* ---- apps.rotate_secret ---- */

struct rotate_ctx {
    struct rpc_call *call;
    int grace;
    char app_id[APPS_ID_MAX + 1];
    char secret[APPS_SECRET_MAX + 1];
};

static void rotate_free(void *p)
{
    struct rotate_ctx *rc = p;
    crypto_cleanse(rc->secret, sizeof rc->secret);
    free(rc);
}

static void on_rotated(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct rotate_ctx *rc = ctx;
    struct rpc_call *call = rc->call;
    const char *result = pg_value(res, 0, "outcome");
    json_t *app = NULL;
    if (outcome != PG_OK || result == NULL) {
        db_failed(call, "apps.rotate_secret", outcome, res);
    } else if (strcmp(result, "NOT_FOUND") == 0) {
        rpc_reply_error(call, API_ERR_NOT_FOUND, NULL, NULL);
    } else if (strcmp(result, "ROTATED") != 0 || (app = row_app(res, 0)) == NULL) {
        db_failed(call, "apps.rotate_secret", PG_ERROR, res);
    } else {
        app_caches_forget(rc->app_id);
        log_event(LOG_INFO, "admin.app_secret_rotated", "app_id=%s actor=%s grace_seconds=%d",
                  rc->app_id, call->admin->name, rc->grace);
        rpc_reply(call, json_pack("{s:s, s:O}", "secret", rc->secret, "previousRetiresAt",
                                  json_object_get(app, "previousRetiresAt")));
    }
    json_decref(app);
    rotate_free(rc);
}

static void on_rotate_found(void *ctx, enum pg_outcome outcome, const struct apps_secrets *s)
{
    struct rotate_ctx *rc = ctx;
    struct rpc_call *call = rc->call;
    char sealed[APPS_SEALED_HEX_MAX], legacy[APPS_SEALED_HEX_MAX];
    if (outcome != PG_OK) {
        rotate_free(rc);
        db_failed(call, "apps.rotate_secret", outcome, NULL);
        return;
    }
    if (!s->found) {
        rotate_free(rc);
        rpc_reply_error(call, API_ERR_NOT_FOUND, NULL, NULL);
        return;
    }
    const struct seal_keyring *keys = call->env->keys;
    if (apps_secret_generate(rc->secret) != 0 ||
        apps_seal_hex(keys, APPS_PURPOSE_SECRET, rc->app_id, rc->secret, sealed) != 0 ||
        (s->legacy &&
         apps_seal_hex(keys, APPS_PURPOSE_SECRET, rc->app_id, s->secret, legacy) != 0)) {
        rotate_free(rc);
        rpc_reply_error(call, API_ERR_INTERNAL, NULL, NULL);
        return;
    }
    char *params = admin_audit_params(call);
    apps_rotate_query(call->env->pg, call->admin->name, rc->app_id, sealed, rc->grace, params,
                      s->legacy ? legacy : NULL, on_rotated, rc);
    free(params);
}

static void apps_rotate_method(struct rpc_call *call)
{
    struct jsonrpc_param_error pe = {0};
    const char *app_id;
    int64_t grace;
    if (admin_param_app(call, "appId", 1, &app_id) != 0)
        return;
    if (jsonrpc_param_opt_int(call->params, "graceSeconds", 0, APPS_GRACE_MAX, APPS_GRACE_DEFAULT,
                              &grace, &pe) != 0) {
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    struct rotate_ctx *rc = xcalloc(1, sizeof *rc);
    rpc_call_own(call, rc, rotate_free);
    rc->call = call;
    rc->grace = (int)grace;
    snprintf(rc->app_id, sizeof rc->app_id, "%s", app_id);
    apps_lookup(call->env->pg, call->env->keys, app_id, on_rotate_found, rc);
}

/* ---- apps.finish_rotation ---- */

struct finish_ctx {
    struct rpc_call *call;
    char app_id[APPS_ID_MAX + 1];
};

static void on_finished(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct finish_ctx *fc = ctx;
    struct rpc_call *call = fc->call;
    const char *result = pg_value(res, 0, "outcome");
    json_t *app = NULL;
    if (outcome != PG_OK || result == NULL) {
        db_failed(call, "apps.finish_rotation", outcome, res);
    } else if (strcmp(result, "NOT_FOUND") == 0) {
        rpc_reply_error(call, API_ERR_NOT_FOUND, NULL, NULL);
    } else if (strcmp(result, "NO_ROTATION") == 0) {
        param_error(call, "appId", "NO_ROTATION", "app %s has no rotation in progress", fc->app_id);
    } else if ((app = row_app(res, 0)) == NULL) {
        db_failed(call, "apps.finish_rotation", PG_ERROR, res);
    } else {
        app_caches_forget(fc->app_id);
        log_event(LOG_INFO, "admin.app_rotation_finished", "app_id=%s actor=%s", fc->app_id,
                  call->admin->name);
        rpc_reply(call, json_pack("{s:s, s:O}", "appId", fc->app_id, "finishedAt",
                                  json_object_get(app, "previousRetiresAt")));
    }
    json_decref(app);
    free(fc);
}

static void apps_finish_method(struct rpc_call *call)
{
    const char *app_id;
    if (admin_param_app(call, "appId", 1, &app_id) != 0)
        return;
    struct finish_ctx *fc = xcalloc(1, sizeof *fc);
    rpc_call_own(call, fc, free);
    fc->call = call;
    snprintf(fc->app_id, sizeof fc->app_id, "%s", app_id);
    char *params = admin_audit_params(call);
    apps_finish_query(call->env->pg, call->admin->name, app_id, params, on_finished, fc);
    free(params);
}

void admin_apps_register(struct rpc *admin)
{
    admin_register(admin, "apps.list", apps_list_method, ADMIN_ANY_ROLE);
    admin_register(admin, "apps.create", apps_create_method, ADMIN_SUPER_ONLY | ADMIN_MUTATES);
    admin_register(admin, "apps.rotate_secret", apps_rotate_method, ADMIN_MUTATES);
    admin_register(admin, "apps.finish_rotation", apps_finish_method, ADMIN_MUTATES);
}
