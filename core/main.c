/* fiberlinkd: the command line and the composition root. `serve` wires the loop, the Postgres
 * pool, the Fiber client and the HTTP server to the handlers; the short blocking admin commands
 * (`migrate`, `app create`, `admin`, `policy`, `reconcile`, `wallet`) are core/cli_*.c. (main and
 * the commands are the places allowed to know every layer.) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/asset.h"
#include "core/cli_admin.h"
#include "core/cli_app.h"
#include "core/cli_migrate.h"
#include "core/cli_policy.h"
#include "core/cli_reconcile.h"
#include "core/cli_wallet.h"
#include "core/config.h"
#include "core/fault.h"
#include "core/fnn.h"
#include "core/http.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/nonce.h"
#include "core/seal.h"
#include "handlers/admin.h"
#include "handlers/admin_apps.h"
#include "handlers/admin_cancel.h"
#include "handlers/admin_money.h"
#include "handlers/admin_ops.h"
#include "handlers/admin_policy.h"
#include "handlers/console.h"
#include "handlers/dashboard.h"
#include "handlers/feed.h"
#include "handlers/health.h"
#include "handlers/rpc.h"
#include "handlers/tips.h"
#include "handlers/withdrawals.h"
#include "storage/nonces.h"
#include "storage/pg.h"
#include "timers/onchain.h"
#include "timers/poller.h"
#include "timers/withdrawals.h"

extern char **environ;

#define DRAIN_POLL_SECONDS 0.02

static const char usage[] =
    "usage: fiberlinkd [--config FILE] [COMMAND]\n"
    "\n"
    "Fiber Link hub: a custodial tipping hub for Discourse forums on the Fiber Network.\n"
    "\n"
    "commands:\n"
    "  serve                              run the daemon (default)\n"
    "  migrate                            apply pending database migrations\n"
    "  reconcile [--check-node]           check the ledger invariants; exit 0 clean,\n"
    "                                     2 findings (printed), 1 error\n"
    "  app create --app-id ID [--secret S]  register a forum app; prints its secret once\n"
    "  app rotate-secret --app-id ID [--grace-seconds N]\n"
    "                                     issue a new secret (printed once); the old one is\n"
    "                                     accepted N more seconds (default 86400)\n"
    "  app finish-rotation --app-id ID    refuse the old secret from now on\n"
    "  app reseal                         seal every stored app and webhook secret under\n"
    "                                     secrets_key (after a key rotation)\n"
    "  admin create --name N --role SUPER_ADMIN|COMMUNITY_ADMIN [--app-id ID]...\n"
    "                                     make an admin API token; prints it once\n"
    "                                     (COMMUNITY_ADMIN: one --app-id per app it may see)\n"
    "  admin revoke --name N              revoke an admin token (from its next call on)\n"
    "  admin list                         list admin tokens (never the tokens themselves)\n"
    "  policy set --app-id ID --asset CKB|USDI [--allowed true|false] [--min X]\n"
    "             [--max-per-request X] [--user-daily X] [--app-daily X]\n"
    "             [--cooldown-seconds N] [--max-fee X]\n"
    "                                     set an app's withdrawal policy (whole units)\n"
    "  policy show --app-id ID            print an app's withdrawal policy per asset\n"
    "  wallet address                     print the hot wallet's CKB address (ckb_network)\n"
    "                                     and its lock args\n"
    "\n"
    "options:\n"
    "  --config FILE   read `key = value` settings from FILE (FIBERLINK_<KEY> env vars win)\n"
    "  --help          show this help\n"
    "  --version       show the version\n"
    "\n"
    "Settings and their environment variables are listed in docs/configuration.md.\n";

struct daemon {
    struct loop loop;
    struct config *cfg;
    struct http_server *http;
    struct pg_pool *pg;
    struct fnn_client *fnn;
    struct rpc *rpc;
    struct rpc *admin; /* POST /admin/rpc (handlers/admin.h) */
    struct health *health;
    struct poller *poller;
    struct payout_runner *payouts;
    struct onchain *onchain; /* NULL unless ckb_rpc_url and the hot wallet key are set */
    ev_signal sigterm, sigint, sighup;
    ev_timer drain;
    double drain_deadline;
    int draining;
};

static void drain_tick(struct ev_loop *ev, ev_timer *w, int revents)
{
    struct daemon *d = container_of(w, struct daemon, drain);
    unsigned calls = rpc_inflight(d->rpc) + rpc_inflight(d->admin),
             reqs = http_server_inflight(d->http);
    unsigned conns = http_server_connections(d->http);
    unsigned queries = pg_pool_pending(d->pg), node = fnn_client_inflight(d->fnn);
    unsigned checks = poller_inflight(d->poller) + withdrawals_runner_inflight(d->payouts) +
                      onchain_inflight(d->onchain);
    if (calls == 0 && reqs == 0 && queries == 0 && node == 0 && checks == 0 &&
        http_server_idle(d->http)) {
        log_event(LOG_INFO, "serve.drained", NULL);
        ev_break(ev, EVBREAK_ALL);
        return;
    }
    if (ev_now(ev) >= d->drain_deadline) {
        log_event(LOG_WARN, "serve.drain_timeout",
                  "rpc_calls=%u http_requests=%u connections=%u db_queries=%u node_calls=%u "
                  "tip_checks=%u",
                  calls, reqs, conns, queries, node, checks);
        ev_break(ev, EVBREAK_ALL);
    }
}

/* First SIGTERM/SIGINT: stop accepting, let in-flight requests, queries and node calls finish
 * (bounded by shutdown_timeout_ms). A second one stops at once. */
static void on_stop_signal(struct ev_loop *ev, ev_signal *w, int revents)
{
    struct daemon *d = w->signum == SIGTERM ? container_of(w, struct daemon, sigterm)
                                            : container_of(w, struct daemon, sigint);
    if (d->draining) {
        log_event(LOG_WARN, "serve.stop_now", "signal=%d", w->signum);
        ev_break(ev, EVBREAK_ALL);
        return;
    }
    d->draining = 1;
    log_event(LOG_INFO, "serve.draining", "signal=%d timeout_ms=%d", w->signum,
              d->cfg->shutdown_timeout_ms);
    http_server_stop_accepting(d->http);
    poller_stop(d->poller);
    withdrawals_runner_stop(d->payouts);
    onchain_stop(d->onchain);
    d->drain_deadline = ev_now(ev) + d->cfg->shutdown_timeout_ms / 1000.0;
    ev_timer_init(&d->drain, drain_tick, 0.0, DRAIN_POLL_SECONDS);
    ev_timer_start(ev, &d->drain);
}

static void on_sighup(struct ev_loop *ev, ev_signal *w, int revents)
{
    /* Logs go to stderr, which the supervisor owns: nothing to reopen. */
    log_event(LOG_INFO, "serve.sighup", NULL);
}

static int serve(struct config *cfg)
{
    char err[512];
    struct daemon d = {.cfg = cfg};
    struct asset_table assets;
    struct nonce_store *nonces = NULL;
    struct seal_keyring keys;
    int rc = 1, changed = 0;
    char summary[160];

    if (config_validate_serve(cfg, err, sizeof err) != 0 ||
        seal_keyring_from_config(cfg->secrets_key, cfg->secrets_key_previous, cfg->preimage_key,
                                 &keys, err, sizeof err) != 0) {
        fprintf(stderr, "fiberlinkd: %s\n", err);
        return 1;
    }
    /* Before anything serves: every stored secret must open with the configured keys, and is
     * sealed (again) under the current one (docs/operations.md "Rotating secrets_key"). */
    int sealed = cli_app_reseal(cfg->database_url, &keys, "serve:start-up", &changed, summary,
                                sizeof summary, err, sizeof err);
    if (sealed == -2) {
        /* A database that is away at start must not keep the daemon down (ARCHITECTURE.md 6):
         * it serves 503 until the pool connects, and each app's secret is opened (and a legacy
         * one sealed) by its first lookup. */
        log_event(LOG_WARN, "serve.secrets_deferred", "reason=database_unreachable");
    } else if (sealed != 0) {
        fprintf(stderr, "fiberlinkd: stored secrets: %s\n", err);
        seal_keyring_dispose(&keys);
        return 1;
    } else {
        log_event(changed > 0 ? LOG_INFO : LOG_DEBUG, "serve.secrets", "%s", summary);
    }
    signal(SIGPIPE, SIG_IGN);
    fault_init();
    if (loop_init(&d.loop) != 0)
        return 1;
    if (asset_table_init(&assets, cfg->usdi_udt_type_script_json, cfg->usdi_decimals) != 0) {
        fprintf(stderr, "fiberlinkd: usdi_udt_type_script_json is not a JSON object\n");
        return 1;
    }
    d.pg = pg_pool_new(d.loop.ev, cfg->database_url, cfg->db_pool_size, cfg->db_query_timeout_ms,
                       err, sizeof err);
    if (d.pg == NULL) {
        fprintf(stderr, "fiberlinkd: database: %s\n", err);
        goto fail;
    }
    d.fnn = fnn_client_new(d.loop.ev, cfg->fnn_rpc_url, cfg->fnn_rpc_token, cfg->fnn_timeout_ms,
                           err, sizeof err);
    if (d.fnn == NULL) {
        fprintf(stderr, "fiberlinkd: fiber node: %s\n", err);
        goto fail;
    }
    fnn_client_set_limits(d.fnn, cfg->fnn_max_connections, (unsigned)cfg->fnn_max_inflight);
    pg_pool_set_max_pending(d.pg, (unsigned)cfg->db_max_pending);
    struct http_server_config hc = {
        .listen = (const char *const *)cfg->listen,
        .nlisten = cfg->nlisten,
        .tls_cert = cfg->tls_cert,
        .tls_key = cfg->tls_key,
        .max_body = cfg->max_body_bytes,
        .server_name = "fiberlinkd",
        .max_connections = (unsigned)cfg->max_connections,
        .http1_req_timeout_ms = (unsigned)cfg->http1_request_timeout_ms,
        .http2_idle_timeout_ms = (unsigned)cfg->http2_idle_timeout_ms,
        .handshake_timeout_ms = (unsigned)cfg->handshake_timeout_ms,
        .http2_max_concurrent_streams = (unsigned)cfg->http2_max_concurrent_streams,
        .max_abandoned_requests = (unsigned)cfg->max_abandoned_requests,
    };
    d.http = http_server_new(&d.loop, &hc, err, sizeof err);
    if (d.http == NULL) {
        fprintf(stderr, "fiberlinkd: http: %s\n", err);
        goto fail;
    }
    /* Several daemons on one database must share their nonces, or a replay to another one
     * passes (config.c accepts only these two values). */
    if (strcmp(cfg->nonce_store, "postgres") == 0)
        nonces = nonces_new(d.loop.ev, d.pg);
    else
        nonces = nonce_memory_new((size_t)cfg->nonce_memory_max);
    struct rpc_env env = {
        .loop = &d.loop, .pg = d.pg, .fnn = d.fnn, .cfg = cfg, .assets = &assets, .keys = &keys};
    d.rpc = rpc_new(&env, nonces);
    d.health = health_register(d.rpc, d.http, &env);
    tips_register(d.rpc);
    if (withdrawals_register(d.rpc, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "fiberlinkd: %s\n", err);
        goto fail;
    }
    feed_register(d.rpc);
    dashboard_register(d.rpc);
    http_server_route(d.http, "POST", "/rpc", rpc_handle_http, d.rpc);
    d.admin = admin_new(&env);
    admin_apps_register(d.admin);
    admin_cancel_register(d.admin);
    admin_money_register(d.admin);
    admin_policy_register(d.admin);
    admin_ops_register(d.admin);
    http_server_route(d.http, "POST", "/admin/rpc", admin_handle_http, d.admin);
    console_register(d.http);
    d.poller = poller_new(d.loop.ev, d.pg, d.fnn, cfg);
    d.payouts = withdrawals_runner_new(d.loop.ev, d.pg, d.fnn, cfg);
    if (cfg->ckb_rpc_url != NULL && cfg->ckb_hot_wallet_key_file != NULL) {
        /* A bad key file (mode, contents) refuses the start: the message names the file. */
        d.onchain = onchain_new(d.loop.ev, d.pg, cfg, err, sizeof err);
        if (d.onchain == NULL) {
            fprintf(stderr, "fiberlinkd: on-chain payouts: %s\n", err);
            goto fail;
        }
    }
    if (http_server_start(d.http, err, sizeof err) != 0) {
        fprintf(stderr, "fiberlinkd: %s\n", err);
        goto fail;
    }

    ev_signal_init(&d.sigterm, on_stop_signal, SIGTERM);
    ev_signal_start(d.loop.ev, &d.sigterm);
    ev_signal_init(&d.sigint, on_stop_signal, SIGINT);
    ev_signal_start(d.loop.ev, &d.sigint);
    ev_signal_init(&d.sighup, on_sighup, SIGHUP);
    ev_signal_start(d.loop.ev, &d.sighup);

    for (int i = 0; i < cfg->nlisten; i++)
        log_event(LOG_INFO, "serve.listening",
                  "listen=%s port=%d tls=%d version=%s max_connections=%u", cfg->listen[i],
                  http_server_port(d.http, i), cfg->tls_cert != NULL, FIBERLINK_VERSION,
                  http_server_max_connections(d.http));
    poller_start(d.poller);
    withdrawals_runner_start(d.payouts);
    if (d.onchain != NULL)
        onchain_start(d.onchain);
    ev_run(d.loop.ev, 0);
    log_event(LOG_INFO, "serve.stopped", NULL);
    rc = 0;
fail:
    /* Reverse order of start (ARCHITECTURE.md §7): each module cancels its own queries and node
     * calls, so when the pool and the client go last no callback is left to run into a module
     * already freed. */
    if (ev_is_active(&d.drain))
        ev_timer_stop(d.loop.ev, &d.drain);
    onchain_free(d.onchain);
    withdrawals_runner_free(d.payouts);
    poller_free(d.poller);
    health_free(d.health);
    rpc_free(d.admin);
    rpc_free(d.rpc);
    tips_free();
    nonce_store_free(nonces);
    http_server_free(d.http);
    fnn_client_free(d.fnn);
    pg_pool_free(d.pg);
    asset_table_dispose(&assets);
    loop_dispose(&d.loop);
    seal_keyring_dispose(&keys);
    return rc;
}

int main(int argc, char **argv)
{
    const char *config_file = NULL;
    char *args[64];
    int nargs = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("fiberlinkd %s%s\n", FIBERLINK_VERSION,
                   fault_compiled_in() ? " (test build: fault points)" : "");
            return 0;
        }
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "fiberlinkd: --config needs a file\n");
                return 2;
            }
            config_file = argv[++i];
        } else if (nargs < (int)FL_ARRAY_LEN(args)) {
            args[nargs++] = argv[i];
        }
    }

    struct config cfg;
    char err[512];
    config_init(&cfg);
    if ((config_file != NULL && config_load_file(&cfg, config_file, err, sizeof err) != 0) ||
        config_load_env(&cfg, environ, err, sizeof err) != 0) {
        fprintf(stderr, "fiberlinkd: %s\n", err);
        config_dispose(&cfg);
        return 2;
    }
    enum log_level lvl = LOG_INFO;
    if (log_level_parse(cfg.log_level, &lvl) == 0)
        log_set_level(lvl);

    int rc;
    const char *cmd = nargs > 0 ? args[0] : "serve";
    if (strcmp(cmd, "serve") == 0 && nargs <= 1)
        rc = serve(&cfg);
    else if (strcmp(cmd, "migrate") == 0 && nargs == 1)
        rc = cli_migrate(cfg.database_url) == 0 && cli_app_after_migrate(&cfg) == 0 ? 0 : 1;
    else if (strcmp(cmd, "reconcile") == 0)
        rc = (int)cli_reconcile(&cfg, nargs - 1, args + 1);
    else if (strcmp(cmd, "app") == 0)
        rc = cli_app(&cfg, usage, nargs - 1, args + 1);
    else if (strcmp(cmd, "admin") == 0)
        rc = cli_admin(&cfg, usage, nargs - 1, args + 1);
    else if (strcmp(cmd, "policy") == 0)
        rc = cli_policy(&cfg, nargs - 1, args + 1);
    else if (strcmp(cmd, "wallet") == 0)
        rc = cli_wallet(&cfg, nargs - 1, args + 1);
    else {
        fprintf(stderr, "fiberlinkd: unknown command '%s'\n%s", cmd, usage);
        rc = 2;
    }
    config_dispose(&cfg);
    return rc;
}
