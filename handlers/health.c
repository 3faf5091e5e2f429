/* See health.h. Readiness is answered from one cached probe (a `SELECT 1` and a node_info call in
 * parallel): at most one probe is in flight and a new one starts at most once a second, however
 * many requests arrive. A request that finds a probe younger than a second answers at once; one
 * that finds an older result starts the next probe (or joins the one in flight) and is answered
 * when it reports. So an unauthenticated flood costs the database and the node at most one check
 * each per second, and cannot use up the node connections the poller and the runner need. */
#include "handlers/health.h"

#include <stdlib.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/owner.h"

#define HEALTH_PROBE_INTERVAL 1.0

static void ping(struct rpc_call *call)
{
    rpc_reply(call, json_pack("{s:s}", "status", "ok"));
}

static int live(void *data, h2o_req_t *req)
{
    http_send_json(req, 200, "{\"status\":\"alive\"}");
    return 0;
}

/* A readiness request waiting for the probe in flight. Lives in the request's pool: if the client
 * leaves, dispose takes it off the list. */
struct ready_waiter {
    struct ready_waiter *prev, *next;
    struct health *h; /* NULL once off the list */
    h2o_req_t *req;
};

struct health {
    const struct rpc_env *env;
    struct pg_query *query; /* the probe's check in flight, or NULL */
    struct fnn_call *call;
    int pending;        /* checks of the probe in flight not yet reported */
    int db_ok, node_ok; /* of the probe in flight */
    int have;           /* a probe has completed */
    int cached_db, cached_node;
    double started_at; /* of the latest probe */
    struct ready_waiter *waiters;
};

static void waiter_unlink(struct ready_waiter *w)
{
    struct health *h = w->h;
    if (h == NULL)
        return;
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        h->waiters = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->h = NULL;
}

static void waiter_dispose(void *p)
{
    waiter_unlink(p);
}

static void answer(struct health *h, h2o_req_t *req)
{
    int ready = h->cached_db && h->cached_node;
    json_t *j = json_pack("{s:s, s:{s:s, s:s}}", "status", ready ? "ready" : "not_ready", "checks",
                          "database", h->cached_db ? "ok" : "fail", "fiberNode",
                          h->cached_node ? "ok" : "fail");
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    http_send_json(req, ready ? 200 : 503, s);
    free(s);
}

static void probe_step(struct health *h)
{
    if (--h->pending > 0)
        return;
    h->have = 1;
    h->cached_db = h->db_ok;
    h->cached_node = h->node_ok;
    /* Take the whole list first: answering may finish a request and run its dispose. */
    struct ready_waiter *w = h->waiters;
    h->waiters = NULL;
    for (struct ready_waiter *x = w; x != NULL; x = x->next)
        x->h = NULL;
    loop_touch(h->env->loop);
    while (w != NULL) {
        struct ready_waiter *next = w->next;
        w->prev = w->next = NULL;
        answer(h, w->req);
        w = next;
    }
}

static void on_db(void *ctx, enum pg_outcome outcome, PGresult *res)
{
    struct health *h = ctx;
    h->query = NULL;
    h->db_ok = outcome == PG_OK;
    probe_step(h);
}

static void on_node(void *ctx, const struct fnn_result *res)
{
    struct health *h = ctx;
    h->call = NULL;
    h->node_ok = res->outcome == FNN_OK;
    probe_step(h);
}

static void probe_start(struct health *h, double now)
{
    h->started_at = now;
    h->pending = 2;
    h->db_ok = h->node_ok = 0;
    /* Module work, owned by nobody: no request's abort may cancel it. */
    owner_id prev = owner_enter(0);
    h->query = pg_query(h->env->pg, "SELECT 1", 0, NULL, HEALTH_CHECK_TIMEOUT_MS, on_db, h);
    h->call = fnn_call(h->env->fnn, "node_info", NULL, HEALTH_CHECK_TIMEOUT_MS, on_node, h);
    owner_leave(prev);
}

static int ready(void *data, h2o_req_t *req)
{
    struct health *h = data;
    double now = ev_now(h->env->loop->ev);
    if (h->pending == 0 && h->have && now - h->started_at < HEALTH_PROBE_INTERVAL) {
        answer(h, req);
        return 0;
    }
    struct ready_waiter *w = http_req_alloc_shared(req, sizeof *w, waiter_dispose);
    w->req = req;
    w->h = h;
    w->next = h->waiters;
    if (h->waiters != NULL)
        h->waiters->prev = w;
    h->waiters = w;
    if (h->pending == 0)
        probe_start(h, now);
    return 0;
}

struct health *health_register(struct rpc *rpc, struct http_server *server,
                               const struct rpc_env *env)
{
    struct health *h = xcalloc(1, sizeof *h);
    h->env = env;
    rpc_register(rpc, "health.ping", ping);
    http_server_route(server, "GET", "/healthz/live", live, NULL);
    http_server_route(server, "GET", "/healthz/ready", ready, h);
    return h;
}

void health_free(struct health *h)
{
    if (h == NULL)
        return;
    pg_query_cancel(h->query);
    fnn_call_cancel(h->call);
    /* Waiting requests belong to the HTTP server, freed later: only forget them here. */
    while (h->waiters != NULL)
        waiter_unlink(h->waiters);
    free(h);
}
