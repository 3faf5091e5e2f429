/* See health.h. */
#include "handlers/health.h"

#include <stdlib.h>

#include "core/log.h"
#include "core/mem.h"

static void ping(struct rpc_call *call)
{
    rpc_reply(call, json_pack("{s:s}", "status", "ok"));
}

static int live(void *data, h2o_req_t *req)
{
    http_send_json(req, 200, "{\"status\":\"alive\"}");
    return 0;
}

/* One readiness probe: two checks in parallel, answered when both have reported. */
struct probe {
    const struct rpc_env *env;
    h2o_req_t *req; /* NULL once the client left */
    struct probe_token *token;
    int pending;
    int db_ok, node_ok;
};

struct probe_token {
    struct probe *probe;
};

static void probe_token_dispose(void *p)
{
    struct probe_token *t = p;
    if (t->probe != NULL)
        t->probe->req = NULL;
}

static void probe_step(struct probe *p)
{
    if (--p->pending > 0)
        return;
    if (p->req != NULL) {
        p->token->probe = NULL;
        int ready = p->db_ok && p->node_ok;
        json_t *j = json_pack("{s:s, s:{s:s, s:s}}", "status", ready ? "ready" : "not_ready",
                              "checks", "database", p->db_ok ? "ok" : "fail", "fiberNode",
                              p->node_ok ? "ok" : "fail");
        char *s = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        loop_touch(p->env->loop);
        http_send_json(p->req, ready ? 200 : 503, s);
        free(s);
    }
    free(p);
}

static void on_db(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct probe *p = ctx;
    p->db_ok = outcome == PG_OK;
    probe_step(p);
}

static void on_node(void *ctx, const struct fnn_result *res)
{
    struct probe *p = ctx;
    p->node_ok = res->outcome == FNN_OK;
    probe_step(p);
}

static int ready(void *data, h2o_req_t *req)
{
    const struct rpc_env *env = data;
    struct probe *p = xcalloc(1, sizeof *p);
    p->env = env;
    p->req = req;
    p->pending = 2;
    p->token = http_req_alloc_shared(req, sizeof *p->token, probe_token_dispose);
    p->token->probe = p;
    pg_query(env->pg, "SELECT 1", 0, NULL, HEALTH_CHECK_TIMEOUT_MS, on_db, p);
    fnn_call(env->fnn, "node_info", NULL, HEALTH_CHECK_TIMEOUT_MS, on_node, p);
    return 0;
}

void health_register(struct rpc *rpc, struct http_server *server, const struct rpc_env *env)
{
    rpc_register(rpc, "health.ping", ping);
    http_server_route(server, "GET", "/healthz/live", live, NULL);
    http_server_route(server, "GET", "/healthz/ready", ready, (void *)env);
}
