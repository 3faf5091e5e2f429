/* See rpc.h. Check order (API.md): envelope → app known → headers present → timestamp window →
 * signature → nonce unused → rate limit → dispatch. Every authentication failure is the same
 * -32001 "Unauthorized" with no detail; the reason is logged at debug level only.
 *
 * The call lifecycle (start, owner, list of calls in flight, answer, deferred release, abort at
 * rpc_free) is shared with /admin/rpc (handlers/admin.c), which plugs its own authentication in
 * through rpc_new_endpoint and rpc_call_start. */
#include "handlers/rpc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/amount.h"
#include "core/hashmap.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/owner.h"
#include "core/reap.h"

struct rpc {
    const struct rpc_env *env;
    const struct rpc_endpoint_ops *ops;
    void *ext;               /* the endpoint's state (NULL for /rpc) */
    struct hashmap *methods; /* name → struct method */
    /* /rpc only (NULL on another endpoint) */
    struct app_cache *apps;
    struct nonce_store *nonces;
    struct ratelimit *limits;
    unsigned inflight;
    struct rpc_call *calls; /* in flight, so rpc_free can abort them */
    struct reap *reap; /* finished calls, freed once the callback that finished them returned */
};

struct rpc_owned {
    struct rpc_owned *next;
    void *ctx;
    void (*dispose)(void *ctx);
};

struct method {
    rpc_method_fn fn;
    unsigned flags;
    char *name;
};

/* Lives in the request's pool: tells the call when the request dies, and is told when the call
 * ends first (so neither side touches the other after it is gone). */
struct rpc_call_token {
    struct rpc_call *call;
};

static const struct rpc_endpoint_ops app_ops = {.name = "rpc"};

struct rpc *rpc_new_endpoint(const struct rpc_env *env, const struct rpc_endpoint_ops *ops,
                             void *ext)
{
    struct rpc *r = xcalloc(1, sizeof *r);
    r->env = env;
    r->ops = ops;
    r->ext = ext;
    r->methods = hashmap_new();
    r->reap = reap_new(env->loop->ev);
    return r;
}

struct rpc *rpc_new(const struct rpc_env *env, struct nonce_store *nonces)
{
    struct rpc *r = rpc_new_endpoint(env, &app_ops, NULL);
    r->apps = app_cache_new(env->pg, env->keys, APP_CACHE_MAX_ENTRIES, env->cfg->app_lookup_rate);
    r->nonces = nonces;
    r->limits = ratelimit_new(env->cfg->rate_limit, env->cfg->rate_limit_window);
    return r;
}

void *rpc_endpoint_ext(const struct rpc *r)
{
    return r->ext;
}

static void free_method(void *p)
{
    struct method *m = p;
    free(m->name);
    free(m);
}

static void call_unlink(struct rpc_call *call)
{
    struct rpc *r = call->rpc;
    if (call->_prev != NULL)
        call->_prev->_next = call->_next;
    else
        r->calls = call->_next;
    if (call->_next != NULL)
        call->_next->_prev = call->_prev;
    call->_prev = call->_next = NULL;
}

static void owned_drop(struct rpc_call *call, int dispose)
{
    while (call->_owned != NULL) {
        struct rpc_owned *o = call->_owned;
        call->_owned = o->next;
        if (dispose)
            o->dispose(o->ctx);
        free(o);
    }
}

void rpc_call_own(struct rpc_call *call, void *ctx, void (*dispose)(void *ctx))
{
    struct rpc_owned *o = xcalloc(1, sizeof *o);
    o->ctx = ctx;
    o->dispose = dispose;
    o->next = call->_owned;
    call->_owned = o;
}

static void call_release(void *p)
{
    struct rpc_call *call = p;
    if (call->rpc->ops->call_dispose != NULL)
        call->rpc->ops->call_dispose(call);
    jsonrpc_request_dispose(&call->_jr);
    free(call);
}

/* A call still in flight when the daemon stops: its queries and node calls are cancelled first,
 * so no handler callback can run later into what is freed here. */
static void call_abort(struct rpc_call *call)
{
    struct rpc *r = call->rpc;
    unsigned q = pg_pool_cancel_owner(r->env->pg, call->_owner);
    unsigned n = fnn_client_cancel_owner(r->env->fnn, call->_owner);
    log_event(LOG_WARN, "rpc.aborted",
              "method=%s app_id=%s db_queries=%u node_calls=%u endpoint=%s",
              call->method != NULL ? call->method : "-", call->app_id, q, n, r->ops->name);
    owned_drop(call, 1);
    if (call->_token != NULL)
        call->_token->call = NULL;
    call_unlink(call);
    r->inflight--;
    call_release(call);
}

void rpc_free(struct rpc *r)
{
    if (r == NULL)
        return;
    /* The app cache first: calls waiting on a lookup are then aborted with the others. */
    app_cache_free(r->apps);
    r->apps = NULL;
    while (r->calls != NULL)
        call_abort(r->calls);
    reap_free(r->reap);
    hashmap_free(r->methods, free_method);
    ratelimit_free(r->limits);
    if (r->ops->free_ext != NULL)
        r->ops->free_ext(r->ext);
    free(r);
}

void rpc_register_flags(struct rpc *r, const char *name, rpc_method_fn fn, unsigned flags)
{
    struct method *m = xcalloc(1, sizeof *m);
    m->fn = fn;
    m->flags = flags;
    m->name = xstrdup(name);
    struct method *old = hashmap_put(r->methods, name, strlen(name), m);
    if (old != NULL)
        free_method(old);
}

void rpc_register(struct rpc *r, const char *name, rpc_method_fn fn)
{
    rpc_register_flags(r, name, fn, 0);
}

int rpc_method_find(const struct rpc *r, const char *name, rpc_method_fn *fn, unsigned *flags)
{
    struct method *m = hashmap_get(r->methods, name, strlen(name));
    if (m == NULL)
        return -1;
    *fn = m->fn;
    *flags = m->flags;
    return 0;
}

unsigned rpc_inflight(const struct rpc *r)
{
    return r->inflight;
}

static void token_dispose(void *p)
{
    struct rpc_call_token *t = p;
    if (t->call != NULL) {
        t->call->req = NULL;
        t->call->_token = NULL;
    }
}

static void call_free(struct rpc_call *call)
{
    if (call->_token != NULL)
        call->_token->call = NULL;
    owned_drop(call, 0);
    call_unlink(call);
    call->rpc->inflight--;
    /* Answered from inside a handler's callback, whose frames may still read the call (its
     * app_id, its env): the memory goes at the end of this loop iteration. */
    reap_later(call->rpc->reap, call, call_release);
}

void rpc_call_drop(struct rpc_call *call)
{
    call_free(call);
}

static void send_answer(struct rpc_call *call, int status, char *json)
{
    h2o_req_t *req = call->req;
    if (req != NULL) {
        loop_touch(call->env->loop);
        if (call->_authenticated) {
            char buf[32];
            snprintf(buf, sizeof buf, "%lld", (long long)call->_rl.limit);
            http_add_header(req, "x-ratelimit-limit", buf);
            snprintf(buf, sizeof buf, "%lld", (long long)call->_rl.remaining);
            http_add_header(req, "x-ratelimit-remaining", buf);
            snprintf(buf, sizeof buf, "%lld", (long long)call->_rl.reset);
            http_add_header(req, "x-ratelimit-reset", buf);
        }
        http_send_json(req, status, json);
    }
    free(json);
    call_free(call);
}

void rpc_reply(struct rpc_call *call, json_t *result)
{
    send_answer(call, 200, jsonrpc_result(call->_jr.id, result));
}

void rpc_reply_error(struct rpc_call *call, enum api_error e, const char *message, json_t *data)
{
    if (e == API_ERR_INTERNAL || e == API_ERR_UNAUTHORIZED)
        log_event(LOG_DEBUG, "rpc.refused", "method=%s code=%d", call->method ? call->method : "-",
                  api_error_code(e));
    int status = e == API_ERR_PARSE ? 400 : 200;
    send_answer(call, status, jsonrpc_error(call->_jr.id, e, message, data));
}

void rpc_reply_param_error(struct rpc_call *call, const struct jsonrpc_param_error *pe,
                           const char *reason)
{
    json_t *data = json_object();
    json_object_set_new(data, "field", json_string(pe->field));
    if (reason != NULL)
        json_object_set_new(data, "reason", json_string(reason));
    rpc_reply_error(call, API_ERR_INVALID_PARAMS, pe->message, data);
}

static void unauthorized(struct rpc_call *call, const char *why)
{
    log_event(LOG_DEBUG, "rpc.unauthorized", "reason=%s", why);
    rpc_reply_error(call, API_ERR_UNAUTHORIZED, NULL, NULL);
}

static void read_headers(h2o_req_t *req, struct auth_headers *h)
{
    h2o_iovec_t v;
    v = http_header(req, "x-app-id");
    h->app_id = v.base, h->app_id_len = v.len;
    v = http_header(req, "x-ts");
    h->ts = v.base, h->ts_len = v.len;
    v = http_header(req, "x-nonce");
    h->nonce = v.base, h->nonce_len = v.len;
    v = http_header(req, "x-signature");
    h->signature = v.base, h->signature_len = v.len;
}

static void dispatch(struct rpc_call *call)
{
    struct rpc *r = call->rpc;
    struct method *m = hashmap_get(r->methods, call->method, strlen(call->method));
    /* Unknown names share one bucket so hostile method names cannot grow the limiter. */
    char key[AUTH_APP_ID_MAX + 64];
    snprintf(key, sizeof key, "%s\n%s", call->app_id, m != NULL ? m->name : "?");
    call->_rl = ratelimit_hit(r->limits, key, strlen(key), (int64_t)time(NULL));
    call->_authenticated = 1;
    if (!call->_rl.allowed) {
        rpc_reply_error(call, API_ERR_RATE_LIMITED, NULL, NULL);
        return;
    }
    if (m == NULL) {
        rpc_reply_error(call, API_ERR_METHOD_NOT_FOUND, NULL, NULL);
        return;
    }
    m->fn(call);
}

static void on_nonce(void *ctx, enum nonce_result result)
{
    struct rpc_call *call = ctx;
    if (call->req == NULL) {
        call_free(call); /* the client left before authentication finished */
        return;
    }
    switch (result) {
    case NONCE_FRESH:
        dispatch(call);
        break;
    case NONCE_REPLAYED:
        unauthorized(call, "nonce_replayed");
        break;
    case NONCE_FULL:
        log_event(LOG_WARN, "rpc.nonce_store_full", "app_id=%s", call->app_id);
        rpc_reply_error(call, API_ERR_RATE_LIMITED, NULL, NULL);
        break;
    default:
        rpc_reply_error(call, API_ERR_INTERNAL, NULL, NULL);
        break;
    }
}

static void on_app(void *ctx, enum pg_outcome outcome, const struct apps_secrets *s);
static void on_app_rechecked(void *ctx, enum pg_outcome outcome, const struct apps_secrets *s);

/* rechecked: s was read again after a first signature check failed against the cached secrets
 * (app_cache_recheck: the secret may have been rotated on another daemon). */
static void authenticate(struct rpc_call *call, const struct apps_secrets *s, int rechecked)
{
    if (call->req == NULL) {
        call_free(call);
        return;
    }
    if (!s->found) {
        unauthorized(call, "unknown_app");
        return;
    }
    struct auth_headers h;
    read_headers(call->req, &h);
    int64_t now = (int64_t)time(NULL), ts;
    enum auth_result ar = auth_check_headers(&h, now, &ts);
    if (ar == AUTH_OK)
        ar = auth_check_app_signature(&h, s, ev_time(), call->req->entity.base,
                                      call->req->entity.len);
    if (ar == AUTH_BAD_SIGNATURE && !rechecked &&
        app_cache_recheck(call->rpc->apps, call->app_id, ev_now(call->rpc->env->loop->ev),
                          on_app_rechecked, call) == APP_CACHE_PENDING)
        return;
    if (ar != AUTH_OK) {
        static const char *const why[] = {"ok", "missing_header", "bad_timestamp", "stale",
                                          "bad_signature"};
        unauthorized(call, why[ar]);
        return;
    }
    /* A nonce must be remembered exactly as long as its timestamp still passes the window. */
    int64_t ttl = ts + AUTH_WINDOW_SECONDS + 1 - now;
    enum nonce_result nr = nonce_store_use(call->rpc->nonces, call->app_id, h.nonce, h.nonce_len,
                                           now, ttl, on_nonce, call);
    if (nr != NONCE_PENDING)
        on_nonce(call, nr);
}

static void app_answered(struct rpc_call *call, enum pg_outcome outcome,
                         const struct apps_secrets *s, int rechecked)
{
    /* The lookup belongs to the cache (shared by every call waiting on that id); what follows
     * is this call's own work. */
    owner_id prev = owner_enter(call->_owner);
    if (outcome != PG_OK) {
        if (call->req == NULL)
            call_free(call);
        else if (outcome == PG_BUSY)
            rpc_reply_error(call, API_ERR_RATE_LIMITED, NULL, NULL);
        else
            rpc_reply_error(call, API_ERR_INTERNAL, NULL, NULL);
    } else {
        authenticate(call, s, rechecked);
    }
    owner_leave(prev);
}

static void on_app(void *ctx, enum pg_outcome outcome, const struct apps_secrets *s)
{
    app_answered(ctx, outcome, s, 0);
}

static void on_app_rechecked(void *ctx, enum pg_outcome outcome, const struct apps_secrets *s)
{
    app_answered(ctx, outcome, s, 1);
}

/* The envelope, then the endpoint's next step; the call is already in flight either way. */
static void start(struct rpc_call *call, void (*next)(struct rpc_call *call))
{
    call->_token = http_req_alloc_shared(call->req, sizeof *call->_token, token_dispose);
    call->_token->call = call;

    const char *why = NULL;
    enum api_error e =
        jsonrpc_parse(call->req->entity.base, call->req->entity.len, &call->_jr, &why);
    if (e != API_ERR_NONE) {
        json_t *errdata = NULL;
        if (e == API_ERR_INVALID_PARAMS) {
            errdata = json_object();
            json_object_set_new(errdata, "field", json_string("params"));
        }
        rpc_reply_error(call, e, why, errdata);
        return;
    }
    call->method = call->_jr.method;
    call->params = call->_jr.params;
    next(call);
}

int rpc_call_start(struct rpc *r, h2o_req_t *req, void (*next)(struct rpc_call *call))
{
    struct rpc_call *call = xcalloc(1, sizeof *call);
    call->rpc = r;
    call->env = r->env;
    call->req = req;
    call->_started = ev_now(r->env->loop->ev);
    call->_owner = owner_new();
    call->_next = r->calls;
    if (r->calls != NULL)
        r->calls->_prev = call;
    r->calls = call;
    r->inflight++;
    owner_id prev = owner_enter(call->_owner);
    start(call, next);
    owner_leave(prev);
    return 0;
}

static void app_authenticate(struct rpc_call *call);

int rpc_handle_http(void *data, h2o_req_t *req)
{
    return rpc_call_start(data, req, app_authenticate);
}

/* /rpc's authentication: the app's secret (cached), then authenticate() and the nonce. */
static void app_authenticate(struct rpc_call *call)
{
    struct rpc *r = call->rpc;
    h2o_req_t *req = call->req;
    h2o_iovec_t app = http_header(req, "x-app-id");
    if (app.base == NULL || app.len == 0 || app.len > AUTH_APP_ID_MAX ||
        memchr(app.base, '\0', app.len) != NULL) {
        unauthorized(call, "missing_app_id");
        return;
    }
    memcpy(call->app_id, app.base, app.len);
    call->app_id[app.len] = '\0';

    const struct apps_secrets *s = NULL;
    switch (app_cache_get(r->apps, call->app_id, ev_now(r->env->loop->ev), &s, on_app, call)) {
    case APP_CACHE_HIT:
        authenticate(call, s, 0);
        break;
    case APP_CACHE_LIMITED:
        /* Ids that are not known apps get a bounded number of queries per second. */
        log_event(LOG_DEBUG, "rpc.app_lookup_limited", NULL);
        rpc_reply_error(call, API_ERR_RATE_LIMITED, NULL, NULL);
        break;
    case APP_CACHE_PENDING:
        break;
    }
}

int rpc_param_asset(json_t *p, const struct asset_table *assets, const struct asset **asset,
                    struct jsonrpc_param_error *pe, const char **reason)
{
    const char *code = NULL;
    *asset = NULL;
    if (jsonrpc_param_string(p, "asset", 1, 16, &code, pe) != 0)
        return -1;
    int known;
    *asset = asset_find(assets, code, &known);
    if (*asset == NULL) {
        pe->field = "asset";
        if (known)
            snprintf(pe->message, sizeof pe->message, "asset %s is not enabled on this hub", code);
        else
            snprintf(pe->message, sizeof pe->message, "asset must be CKB or USDI");
        *reason = "ASSET_NOT_ALLOWED";
        return -1;
    }
    return 0;
}

int rpc_param_asset_amount(json_t *p, const struct asset_table *assets, const struct asset **asset,
                           int64_t *amount, struct jsonrpc_param_error *pe, const char **reason)
{
    if (rpc_param_asset(p, assets, asset, pe, reason) != 0)
        return -1;
    json_t *v = json_object_get(p, "amount");
    if (!json_is_string(v)) {
        pe->field = "amount";
        snprintf(pe->message, sizeof pe->message,
                 "amount must be a decimal string such as \"10.5\"");
        return -1;
    }
    enum amount_err ae =
        amount_parse(json_string_value(v), json_string_length(v), (*asset)->decimals, amount);
    if (ae != AMOUNT_OK) {
        pe->field = "amount";
        snprintf(pe->message, sizeof pe->message, "amount %s", amount_err_text(ae));
        return -1;
    }
    return 0;
}
