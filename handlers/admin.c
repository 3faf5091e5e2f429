/* POST /admin/rpc (handlers/admin.h). One call goes
 *
 *   envelope (rpc.c) ──bad──────────────────────────────────────────────▶ -32700/-32600/-32602
 *     │
 *   source address over its failed-login budget? ──yes──────────────────▶ -32005 (token unread)
 *     │
 *   "Authorization: Bearer <64 lowercase hex>"? ──no──┐
 *     │                                               ├─ one failure spent ▶ -32001
 *   SHA-256 of it a live token (query, then constant-time compare)? ──no──┘
 *     │
 *   method registered? ──no─────────────────────────────────────────────▶ -32601
 *     │
 *   ADMIN_SUPER_ONLY and a COMMUNITY_ADMIN? ──yes───────────────────────▶ -32003
 *     │
 *   handler (its params' app scope: admin_param_app → -32004)
 *
 * Tokens are never cached: each call reads admin_tokens, so a revoke holds from the next call on.
 * The failed-login budget lives in this process only (several daemons each keep their own): an
 * address that spends admin_login_failures failures within admin_login_window seconds of its first
 * one is refused outright until that window ends. Addresses are kept in window-start order, so the
 * expired ones are dropped from the front in O(1); past ADMIN_FAILURE_ADDRS tracked addresses the
 * oldest is forgotten (it gets a fresh budget, never a smaller one). */
#include "handlers/admin.h"

#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/hashmap.h"
#include "core/log.h"
#include "core/mem.h"
#include "storage/admin.h"

#define ADMIN_FAILURE_ADDRS 65536
#define ADMIN_PEER_MAX 64
#define ADMIN_APP_ID_MAX 128
#define ADMIN_CURSOR_MAX 32

struct login_failures {
    char addr[ADMIN_PEER_MAX];
    double start; /* the window began with the first failure */
    int64_t count;
    struct login_failures *prev, *next; /* by start, oldest first */
};

struct admin {
    struct hashmap *failures; /* address → struct login_failures */
    struct login_failures *oldest, *newest;
    int64_t max_failures;
    double window;
};

/* The call's _ext: who is calling, and where from. */
struct admin_call {
    struct admin_identity id;
    char peer[ADMIN_PEER_MAX];
    uint8_t hash[CRYPTO_SHA256_LEN];
};

/* ---- failed-login budget ---- */

static void failures_unlink(struct admin *a, struct login_failures *f)
{
    if (f->prev != NULL)
        f->prev->next = f->next;
    else
        a->oldest = f->next;
    if (f->next != NULL)
        f->next->prev = f->prev;
    else
        a->newest = f->prev;
    hashmap_remove(a->failures, f->addr, strlen(f->addr));
    free(f);
}

static void failures_expire(struct admin *a, double now)
{
    while (a->oldest != NULL && now >= a->oldest->start + a->window)
        failures_unlink(a, a->oldest);
}

static int budget_spent(struct admin *a, const char *addr, double now)
{
    failures_expire(a, now);
    struct login_failures *f = hashmap_get(a->failures, addr, strlen(addr));
    return f != NULL && f->count >= a->max_failures;
}

static void budget_spend(struct admin *a, const char *addr, double now)
{
    failures_expire(a, now);
    struct login_failures *f = hashmap_get(a->failures, addr, strlen(addr));
    if (f == NULL) {
        if (hashmap_count(a->failures) >= ADMIN_FAILURE_ADDRS)
            failures_unlink(a, a->oldest);
        f = xcalloc(1, sizeof *f);
        snprintf(f->addr, sizeof f->addr, "%s", addr);
        f->start = now;
        f->prev = a->newest;
        if (a->newest != NULL)
            a->newest->next = f;
        else
            a->oldest = f;
        a->newest = f;
        hashmap_put(a->failures, f->addr, strlen(f->addr), f);
    }
    f->count++;
    if (f->count == a->max_failures)
        log_event(LOG_WARN, "admin.login_blocked", "peer=%s failures=%lld window_s=%.0f", addr,
                  (long long)f->count, a->window);
}

/* ---- the endpoint ---- */

static void admin_free_ext(void *ext)
{
    struct admin *a = ext;
    while (a->oldest != NULL)
        failures_unlink(a, a->oldest);
    hashmap_free(a->failures, NULL);
    free(a);
}

static void admin_call_dispose(struct rpc_call *call)
{
    struct admin_call *ac = call->_ext;
    if (ac == NULL)
        return;
    for (int i = 0; i < ac->id.napps; i++)
        free(ac->id.app_ids[i]);
    free(ac->id.app_ids);
    free(ac->id.app_ids_literal);
    crypto_cleanse(ac->hash, sizeof ac->hash);
    free(ac);
    call->_ext = NULL;
}

static const struct rpc_endpoint_ops admin_ops = {
    .name = "admin",
    .free_ext = admin_free_ext,
    .call_dispose = admin_call_dispose,
};

static void audit_list(struct rpc_call *call);

struct rpc *admin_new(const struct rpc_env *env)
{
    struct admin *a = xcalloc(1, sizeof *a);
    a->failures = hashmap_new();
    a->max_failures = env->cfg->admin_login_failures;
    a->window = env->cfg->admin_login_window;
    struct rpc *r = rpc_new_endpoint(env, &admin_ops, a);
    admin_register(r, "audit.list", audit_list, ADMIN_ANY_ROLE);
    return r;
}

void admin_register(struct rpc *admin, const char *method, rpc_method_fn fn, unsigned flags)
{
    rpc_register_flags(admin, method, fn, flags);
}

static void login_failed(struct rpc_call *call, const char *why)
{
    struct admin_call *ac = call->_ext;
    budget_spend(rpc_endpoint_ext(call->rpc), ac->peer, ev_now(call->env->loop->ev));
    log_event(LOG_WARN, "admin.login_failed", "peer=%s reason=%s", ac->peer, why);
    rpc_reply_error(call, API_ERR_UNAUTHORIZED, NULL, NULL);
}

static void dispatch(struct rpc_call *call)
{
    rpc_method_fn fn;
    unsigned flags;
    if (rpc_method_find(call->rpc, call->method, &fn, &flags) != 0) {
        rpc_reply_error(call, API_ERR_METHOD_NOT_FOUND, NULL, NULL);
        return;
    }
    if ((flags & ADMIN_SUPER_ONLY) && call->admin->role != ADMIN_ROLE_SUPER) {
        rpc_reply_error(call, API_ERR_FORBIDDEN, NULL, NULL);
        return;
    }
    fn(call);
}

static void on_token(void *ctx, enum pg_outcome outcome, const struct admin_token_row *row)
{
    struct rpc_call *call = ctx;
    struct admin_call *ac = call->_ext;
    if (call->req == NULL) {
        rpc_call_drop(call); /* the client left before authentication finished */
        return;
    }
    if (outcome == PG_BUSY) {
        rpc_reply_error(call, API_ERR_RATE_LIMITED, NULL, NULL);
        return;
    }
    if (outcome != PG_OK) {
        rpc_reply_error(call, API_ERR_INTERNAL, NULL, NULL);
        return;
    }
    /* The hash matched in the index; compared again in constant time, as app secrets are. */
    if (row == NULL || !crypto_equal(row->token_hash, ac->hash, sizeof ac->hash)) {
        login_failed(call, "unknown_or_revoked");
        return;
    }
    struct admin_identity *id = &ac->id;
    snprintf(id->name, sizeof id->name, "%s", row->name);
    if (strcmp(row->role, "SUPER_ADMIN") == 0) {
        id->role = ADMIN_ROLE_SUPER;
    } else if (strcmp(row->role, "COMMUNITY_ADMIN") == 0 && row->napps > 0) {
        id->role = ADMIN_ROLE_COMMUNITY;
        id->napps = row->napps;
        id->app_ids = xcalloc((size_t)row->napps, sizeof *id->app_ids);
        for (int i = 0; i < row->napps; i++)
            id->app_ids[i] = xstrdup(row->app_ids[i]);
        id->app_ids_literal = pg_text_array_dup((const char *const *)id->app_ids, id->napps);
    } else {
        /* The table's CHECKs forbid this: refuse rather than guess a scope. */
        log_event(LOG_ERROR, "admin.bad_token_row", "name=%s role=%s", row->name, row->role);
        rpc_reply_error(call, API_ERR_INTERNAL, NULL, NULL);
        return;
    }
    call->admin = id;
    dispatch(call);
}

/* "Bearer <64 lowercase hex>" (the scheme in any case, one space). */
static int bearer_token(h2o_iovec_t v, const char **token)
{
    static const char scheme[] = "bearer ";
    size_t n = sizeof scheme - 1;
    if (v.base == NULL || v.len != n + ADMIN_TOKEN_HEX || strncasecmp(v.base, scheme, n) != 0 ||
        !hex_is_lower(v.base + n, ADMIN_TOKEN_HEX))
        return -1;
    *token = v.base + n;
    return 0;
}

static void admin_authenticate(struct rpc_call *call)
{
    struct admin *a = rpc_endpoint_ext(call->rpc);
    struct admin_call *ac = xcalloc(1, sizeof *ac);
    call->_ext = ac;
    http_peer_address(call->req, ac->peer, sizeof ac->peer);
    if (budget_spent(a, ac->peer, ev_now(call->env->loop->ev))) {
        log_event(LOG_DEBUG, "admin.login_refused", "peer=%s", ac->peer);
        rpc_reply_error(call, API_ERR_RATE_LIMITED, "too many failed logins from this address",
                        NULL);
        return;
    }
    const char *token;
    if (bearer_token(http_header(call->req, "authorization"), &token) != 0) {
        login_failed(call, "missing_or_malformed");
        return;
    }
    /* The hash of the token's 64 characters, as `admin create` stored it. */
    crypto_sha256(token, ADMIN_TOKEN_HEX, ac->hash);
    admin_token_lookup(call->env->pg, ac->hash, on_token, call);
}

int admin_handle_http(void *data, h2o_req_t *req)
{
    return rpc_call_start(data, req, admin_authenticate);
}

/* ---- scope and params helpers ---- */

int admin_in_scope(const struct rpc_call *call, const char *app_id)
{
    const struct admin_identity *id = call->admin;
    if (id == NULL || app_id == NULL)
        return 0;
    if (id->role == ADMIN_ROLE_SUPER)
        return 1;
    for (int i = 0; i < id->napps; i++) {
        if (strcmp(id->app_ids[i], app_id) == 0)
            return 1;
    }
    return 0;
}

int admin_param_app(struct rpc_call *call, const char *field, int required, const char **app_id)
{
    struct jsonrpc_param_error pe;
    const char *v = NULL;
    int rc = required ? jsonrpc_param_string(call->params, field, 1, ADMIN_APP_ID_MAX, &v, &pe)
                      : jsonrpc_param_opt_string(call->params, field, 1, ADMIN_APP_ID_MAX, &v, &pe);
    if (rc != 0) {
        rpc_reply_param_error(call, &pe, NULL);
        return -1;
    }
    if (v != NULL && !admin_in_scope(call, v)) {
        rpc_reply_error(call, API_ERR_NOT_FOUND, NULL, NULL);
        return -1;
    }
    *app_id = v;
    return 0;
}

const char *admin_scope_array(struct rpc_call *call, const char *app_id, char *buf, size_t bufsz)
{
    if (app_id == NULL)
        return call->admin->app_ids_literal;
    const char *one[1] = {app_id};
    if (pg_text_array(one, 1, buf, bufsz) < bufsz)
        return buf;
    /* A caller's buffer too small must never widen the scope: an empty set sees nothing. */
    log_event(LOG_ERROR, "admin.scope_buffer", "bufsz=%zu", bufsz);
    snprintf(buf, bufsz, "{}");
    return buf;
}

int admin_param_list(struct rpc_call *call, int64_t *limit, const char **cursor)
{
    struct jsonrpc_param_error pe;
    if (jsonrpc_param_opt_int(call->params, "limit", 1, ADMIN_LIST_LIMIT_MAX,
                              ADMIN_LIST_LIMIT_DEFAULT, limit, &pe) != 0 ||
        jsonrpc_param_opt_string(call->params, "cursor", 1, 256, cursor, &pe) != 0) {
        rpc_reply_param_error(call, &pe, NULL);
        return -1;
    }
    return 0;
}

static void strip_secrets(json_t *v)
{
    if (json_is_object(v)) {
        json_object_del(v, "secret");
        const char *k;
        json_t *m;
        json_object_foreach (v, k, m)
            strip_secrets(m);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach (v, i, m)
            strip_secrets(m);
    }
}

char *admin_audit_params(const struct rpc_call *call)
{
    json_t *copy = json_deep_copy(call->params != NULL ? call->params : json_object());
    if (copy == NULL)
        copy = json_object();
    strip_secrets(copy);
    char *s = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(copy);
    return s != NULL ? s : xstrdup("{}");
}

/* ---- audit.list {limit?, cursor?} ---- */

struct audit_list_ctx {
    struct rpc_call *call;
    int64_t limit;
};

/* The cursor is the last item's id, as decimal text (opaque to clients). */
static int parse_cursor(const char *s, int64_t *id)
{
    size_t n = strlen(s);
    if (n < 1 || n > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v <= 0)
        return -1;
    *id = v;
    return 0;
}

static json_t *json_text_or_null(const char *s)
{
    json_t *v = s != NULL ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
    return v != NULL ? v : json_null();
}

static void on_audit_page(void *ctx, enum pg_outcome outcome, const struct audit_item *items, int n)
{
    struct audit_list_ctx *c = ctx;
    struct rpc_call *call = c->call;
    int64_t limit = c->limit;
    free(c);
    if (outcome != PG_OK) {
        rpc_reply_error(call, outcome == PG_BUSY ? API_ERR_RATE_LIMITED : API_ERR_INTERNAL, NULL,
                        NULL);
        return;
    }
    json_t *arr = json_array();
    int shown = n > limit ? (int)limit : n;
    for (int i = 0; i < shown; i++) {
        const struct audit_item *it = &items[i];
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(it->id));
        json_object_set_new(o, "at", json_string_or_null(it->at));
        json_object_set_new(o, "actor", json_string_or_null(it->actor));
        json_object_set_new(o, "method", json_string_or_null(it->method));
        json_object_set_new(o, "appId", json_string_or_null(it->app_id));
        json_object_set_new(o, "subject", json_string_or_null(it->subject));
        json_object_set_new(o, "params", json_text_or_null(it->params));
        json_object_set_new(o, "before", json_text_or_null(it->before));
        json_object_set_new(o, "after", json_text_or_null(it->after));
        json_array_append_new(arr, o);
    }
    json_t *result = json_object();
    json_object_set_new(result, "items", arr);
    if (n > limit) {
        char cur[ADMIN_CURSOR_MAX];
        snprintf(cur, sizeof cur, "%lld", (long long)items[shown - 1].id);
        json_object_set_new(result, "nextCursor", json_string(cur));
    } else {
        json_object_set_new(result, "nextCursor", json_null());
    }
    rpc_reply(call, result);
}

static void audit_list(struct rpc_call *call)
{
    int64_t limit, before = 0;
    const char *cursor = NULL;
    if (admin_param_list(call, &limit, &cursor) != 0)
        return;
    if (cursor != NULL && parse_cursor(cursor, &before) != 0) {
        struct jsonrpc_param_error pe = {.field = "cursor"};
        snprintf(pe.message, sizeof pe.message,
                 "cursor must be a nextCursor from a previous audit.list answer");
        rpc_reply_param_error(call, &pe, NULL);
        return;
    }
    struct audit_list_ctx *c = xcalloc(1, sizeof *c);
    c->call = call;
    c->limit = limit;
    rpc_call_own(call, c, free);
    /* One row more than asked tells whether there is a next page. */
    audit_page(call->env->pg, admin_scope_array(call, NULL, NULL, 0), before, (int)limit + 1,
               on_audit_page, c);
}
