/* Liveness and readiness: GET /healthz/live (the loop answers), GET /healthz/ready (the database
 * answers a query and the Fiber node answers node_info, both within a short deadline; one cached
 * probe, refreshed at most once a second, serves every request), and the signed JSON-RPC method
 * health.ping. */
#ifndef FL_HEALTH_H
#define FL_HEALTH_H

#include "core/http.h"
#include "handlers/rpc.h"

#define HEALTH_CHECK_TIMEOUT_MS 1500

struct health;
/* env must outlive the returned object. */
struct health *health_register(struct rpc *rpc, struct http_server *server,
                               const struct rpc_env *env);
/* Cancels the probe in flight. Before the pool, the Fiber client and the HTTP server are freed. */
void health_free(struct health *h);

#endif
