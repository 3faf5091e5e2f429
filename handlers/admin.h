/* POST /admin/rpc (API.md "Admin API"): the operator's JSON-RPC endpoint. Same envelope and call
 * lifecycle as /rpc (handlers/rpc.h: rpc_reply, rpc_reply_error, rpc_call_own, …), but a caller
 * is an admin token, not a forum app:
 *
 *   envelope → failed-login budget of the source address → "Authorization: Bearer <token>" →
 *   token known and not revoked (SHA-256 looked up, then compared in constant time) →
 *   method known → role allows the method → handler (which checks the app scope of its params)
 *
 * A bad, unknown or revoked token is -32001 and spends one unit of the source address's failed
 * login budget (admin_login_failures per admin_login_window seconds; over it every call from that
 * address is -32005 until the window ends, valid token or not). A method the role may not call is
 * -32003 "Forbidden". An app, tip, withdrawal, alert or delivery outside a COMMUNITY_ADMIN's apps
 * is -32004, exactly as if it did not exist: the scope helpers below make that one line.
 *
 * Method handlers are plain rpc_method_fn: call->admin is set (never NULL on this endpoint; NULL on
 * /rpc) and call->app_id is empty. Every handler of a method registered with ADMIN_MUTATES writes
 * one audit_log row in the same statement as its change (storage/migrations/0014_admin.sql,
 * fl_audit), with call->admin->name as the actor. */
#ifndef FL_ADMIN_H
#define FL_ADMIN_H

#include "handlers/rpc.h"

#define ADMIN_NAME_MAX 64
#define ADMIN_TOKEN_HEX 64 /* a token is 32 random bytes, shown as 64 lowercase hex digits */

enum admin_role {
    ADMIN_ROLE_SUPER = 1, /* SUPER_ADMIN: every app, every method */
    ADMIN_ROLE_COMMUNITY, /* COMMUNITY_ADMIN: only its apps; no ADMIN_SUPER_ONLY method */
};

/* Who is calling; owned by the call, valid until it is finished. */
struct admin_identity {
    char name[ADMIN_NAME_MAX + 1];
    enum admin_role role;
    int napps;
    char **app_ids;        /* COMMUNITY_ADMIN's apps (napps ≥ 1); NULL for SUPER_ADMIN */
    char *app_ids_literal; /* the same as a Postgres text[] literal ("{\"a\",\"b\"}") to pass as a
                            * query parameter: "WHERE ($1::text[] IS NULL OR app_id = ANY($1))";
                            * NULL for SUPER_ADMIN (every app) */
};

/* Flags of a registered method. */
enum admin_method_flags {
    ADMIN_ANY_ROLE = 0,
    ADMIN_SUPER_ONLY = 1 << 0, /* a COMMUNITY_ADMIN gets -32003 */
    ADMIN_MUTATES = 1 << 1,    /* changes something: its handler writes one audit row */
};

/* The /admin/rpc dispatcher: a struct rpc in admin mode (shares rpc.c's call lifecycle). Free it
 * with rpc_free, before the pool. It comes with audit.list registered. */
struct rpc *admin_new(const struct rpc_env *env);
void admin_register(struct rpc *admin, const char *method, rpc_method_fn fn, unsigned flags);
/* The http_handler_fn for POST /admin/rpc; data is the struct rpc from admin_new. */
int admin_handle_http(void *data, h2o_req_t *req);

/* 1 when the caller may see app_id (SUPER_ADMIN: always). */
int admin_in_scope(const struct rpc_call *call, const char *app_id);
/* Reads the string param `field` (an app id, 1..128 characters). Absent or null: *app_id = NULL
 * and 0 when !required, else -32602 naming the field. Present but outside the caller's scope:
 * -32004. On -1 the call has been answered; the handler just returns. */
int admin_param_app(struct rpc_call *call, const char *field, int required, const char **app_id);
/* The scope to pass to a list query: app_id when given (already checked with admin_param_app),
 * else the caller's app_ids_literal (NULL for SUPER_ADMIN: all apps). A query takes it as
 * "$n::text[]" built by admin_scope_array below. */
#define ADMIN_SCOPE_BUF 520 /* holds any one app id's literal: 128 characters of up to 4 bytes */
const char *admin_scope_array(struct rpc_call *call, const char *app_id, char *buf, size_t bufsz);

/* Lists (every *.list method and webhooks.deliveries): "limit" 1..500, default 50; "cursor" an
 * opaque string from a previous answer's nextCursor. Results are {"items": [...], "nextCursor":
 * "<opaque>"|null}, keyset-paginated (never OFFSET). Returns 0, or -1 after answering -32602. */
#define ADMIN_LIST_LIMIT_DEFAULT 50
#define ADMIN_LIST_LIMIT_MAX 500
int admin_param_list(struct rpc_call *call, int64_t *limit, const char **cursor);

/* The call's params as a JSON text for fl_audit's p_params, with every member named "secret"
 * removed. Caller frees. */
char *admin_audit_params(const struct rpc_call *call);

#endif
