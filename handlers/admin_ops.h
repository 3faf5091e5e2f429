/* Operators' controls on /admin/rpc (API.md "Admin API", docs/admin.md "Alerts, jobs and
 * webhooks"): the jobs' switches, alerts, and each app's webhook receiver with its delivery log.
 *
 *   jobs.state           SUPER_ADMIN  every job: paused, reason, last run, backlog, lag
 *   jobs.pause/resume    SUPER_ADMIN  durable, shared by every daemon (0020: the claims' gate)
 *   alerts.list          any role     scoped: a COMMUNITY_ADMIN sees its apps' alerts only, never
 *                                     a hub-wide one
 *   alerts.ack           any role     scoped (-32004 outside it)
 *   webhooks.set         any role     scoped; alert.* events for a SUPER_ADMIN only (-32003)
 *   webhooks.deliveries  any role     scoped
 *   webhooks.redeliver   any role     scoped
 *
 * Every change is audited in its own transaction (storage/ops.h); pause, resume and ack are
 * audited on every call, also when they find nothing to change. */
#ifndef FL_ADMIN_OPS_H
#define FL_ADMIN_OPS_H

#include "handlers/admin.h"

#define ADMIN_OPS_URL_MAX 2048
#define ADMIN_OPS_REASON_MAX 500

/* Registers the methods on the admin endpoint. A new webhook secret is sealed with the endpoint's
 * current key (rpc_env.keys; purpose "webhook-secret", associated data the app id) before it is
 * stored. */
void admin_ops_register(struct rpc *admin);

/* ---- pure, for tests ---- */

/* A webhook receiver's url: absolute http:// or https:// (scheme in any case), a host, an
 * optional port 1..65535, no credentials, 1..ADMIN_OPS_URL_MAX printable ASCII characters without
 * spaces. 0, or -1 with a message in pe (field "url"). Whether the host is private or loopback is
 * judged when delivering (webhook_allow_private), not here. */
int admin_ops_url_check(const char *url, struct jsonrpc_param_error *pe);

/* The webhook event names (API.md "Webhooks"), in this order; bit i of a mask is event i. */
#define ADMIN_OPS_NEVENTS 7
extern const char *const ADMIN_OPS_EVENTS[ADMIN_OPS_NEVENTS];
#define ADMIN_OPS_ALERT_EVENTS (1u << 5 | 1u << 6) /* alert.raised, alert.cleared */
/* params "events": a non-empty array of event names, repeats allowed (kept once). 0 with *mask,
 * or -1 with pe (field "events"). */
int admin_ops_events_parse(json_t *params, unsigned *mask, struct jsonrpc_param_error *pe);

#endif
