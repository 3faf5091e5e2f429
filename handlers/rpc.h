/* POST /rpc: JSON-RPC 2.0 envelope, authentication, replay and rate-limit checks, then dispatch
 * to the method handlers registered by each API area (tips, health, …).
 *
 * A method handler receives a struct rpc_call and must eventually finish it with exactly one of
 * rpc_reply / rpc_reply_error / rpc_reply_param_error, possibly from a later libpq or Fiber
 * callback. The call outlives its HTTP request: if the client leaves, call->req becomes NULL and
 * the answer is dropped, but the handler still runs to its end, so a started money step is never
 * abandoned halfway. */
#ifndef FL_RPC_H
#define FL_RPC_H

#include <jansson.h>

#include "core/asset.h"
#include "core/config.h"
#include "core/fnn.h"
#include "core/http.h"
#include "core/jsonrpc.h"
#include "core/nonce.h"
#include "core/seal.h"
#include "core/ratelimit.h"
#include "handlers/auth.h"
#include "storage/pg.h"

/* Services every method may use. */
struct rpc_env {
    struct loop *loop;
    struct pg_pool *pg;
    struct fnn_client *fnn;
    const struct config *cfg;
    const struct asset_table *assets;
    const struct seal_keyring *keys; /* opens and seals app and webhook secrets (core/seal.h) */
};

struct rpc;
struct admin_identity; /* handlers/admin.h */

struct rpc_call {
    struct rpc *rpc;
    const struct rpc_env *env;
    h2o_req_t *req; /* NULL once the client has gone */
    const char *method;
    json_t *params;                     /* always an object */
    char app_id[AUTH_APP_ID_MAX + 1];   /* the calling app on /rpc; empty on /admin/rpc */
    const struct admin_identity *admin; /* the calling admin on /admin/rpc; NULL on /rpc */
    /* private */
    struct jsonrpc_request _jr;
    struct rpc_call_token *_token;
    struct ratelimit_verdict _rl;
    int _authenticated;
    double _started;
    uint64_t _owner;                /* core/owner.h: tags every query and node call it starts */
    struct rpc_call *_prev, *_next; /* the rpc's list of calls in flight */
    struct rpc_owned *_owned;       /* handler contexts to dispose if the call is aborted */
    void *_ext; /* the endpoint's own state of the call (rpc_endpoint_ops.call_dispose frees it) */
};

typedef void (*rpc_method_fn)(struct rpc_call *call);

struct rpc *rpc_new(const struct rpc_env *env, struct nonce_store *nonces);
/* Aborts every call in flight (see rpc_call_own), then frees. Before the pool and the Fiber client
 * are freed. */
void rpc_free(struct rpc *r);
void rpc_register(struct rpc *r, const char *method, rpc_method_fn fn);
/* The http_handler_fn for POST /rpc; data is the struct rpc. */
int rpc_handle_http(void *data, h2o_req_t *req);
/* Calls started and not finished. */
unsigned rpc_inflight(const struct rpc *r);

/* ---- For endpoints other than /rpc sharing this call lifecycle (handlers/admin.c) ----
 *
 * Such an endpoint is a struct rpc made by rpc_new_endpoint: the same method table, calls in
 * flight, abort at rpc_free, deferred release and rpc_reply…, but its own authentication instead of
 * /rpc's (no app cache, nonces or app rate limiter, so its answers carry no x-ratelimit-* headers).
 * Its HTTP handler calls rpc_call_start, whose `next` authenticates the call and finally runs the
 * handler found with rpc_method_find. */
struct rpc_endpoint_ops {
    const char *name;                         /* in log lines: "admin" */
    void (*free_ext)(void *ext);              /* the endpoint's state, at rpc_free */
    void (*call_dispose)(struct rpc_call *c); /* the call's _ext, when the call is released */
};
struct rpc *rpc_new_endpoint(const struct rpc_env *env, const struct rpc_endpoint_ops *ops,
                             void *ext);
void *rpc_endpoint_ext(const struct rpc *r);
/* Like rpc_register, with flags the endpoint gives a meaning to (admin.h: ADMIN_SUPER_ONLY, …). */
void rpc_register_flags(struct rpc *r, const char *method, rpc_method_fn fn, unsigned flags);
/* 0 with the handler and its flags, or -1 for an unknown method. */
int rpc_method_find(const struct rpc *r, const char *method, rpc_method_fn *fn, unsigned *flags);
/* Starts a call for req: parses the envelope (answering its errors itself), then runs next(call)
 * as the call's owner (core/owner.h). Returns 0 (the HTTP handler's answer). */
int rpc_call_start(struct rpc *r, h2o_req_t *req, void (*next)(struct rpc_call *call));
/* Ends a call whose client left (call->req == NULL) without an answer. */
void rpc_call_drop(struct rpc_call *call);

/* Registers a handler's context on the call: if the daemon stops while the call is in flight,
 * rpc_free cancels the call's queries and node calls (their callbacks never run) and then calls
 * dispose(ctx). On a normal finish (rpc_reply…) the registration is dropped and the handler frees
 * its context itself, as before. One line where the handler allocates its context. */
void rpc_call_own(struct rpc_call *call, void *ctx, void (*dispose)(void *ctx));

/* Finishing a call (each frees it). result / data are stolen. */
void rpc_reply(struct rpc_call *call, json_t *result);
void rpc_reply_error(struct rpc_call *call, enum api_error e, const char *message, json_t *data);
/* -32602 with data {"field": …} (plus "reason" when reason is not NULL). */
void rpc_reply_param_error(struct rpc_call *call, const struct jsonrpc_param_error *pe,
                           const char *reason);

/* Reads the "asset" param: a known asset enabled on this hub (else *reason = "ASSET_NOT_ALLOWED").
 * Pure; returns 0, or -1 with the field in pe. */
int rpc_param_asset(json_t *params, const struct asset_table *assets, const struct asset **asset,
                    struct jsonrpc_param_error *pe, const char **reason);
/* Reads the "asset" and "amount" params shared by tips and withdrawals: a known, enabled asset
 * (else *reason = "ASSET_NOT_ALLOWED") and a decimal amount in its units, converted to base units.
 * Pure; returns 0, or -1 with the field in pe. */
int rpc_param_asset_amount(json_t *params, const struct asset_table *assets,
                           const struct asset **asset, int64_t *amount,
                           struct jsonrpc_param_error *pe, const char **reason);

#endif
