/* ckb-sim: a CKB node stand-in for tests, benchmarks and the local demo. It serves the node's
 * JSON-RPC subset the hub uses over HTTP POST on "/" (sim_methods.h lists it) with CKB's
 * encodings, result shapes and error messages, and verifies every transaction as a node does
 * (sim_chain.h; ../../../shared/reference/ckb-onchain.md §11): molecule layout, live inputs and
 * deps, capacities, the minimum fee rate, RBF, and the default lock's SIGHASH_ALL signature.
 * Accepted transactions are proposed in the next block and committed --proposal-blocks later.
 * One thread on the project's loop and HTTP server; every delay is an ev_timer.
 *
 * Control methods (same endpoint, framed "params":[{…}], integers as "0x" hex or plain JSON
 * integers; capacities in shannons). They are never delayed and never scripted:
 *   sim_fund {address | lock, capacity} → {txHash, index}: a signed payment from the dev chain's
 *       first issued cell, committed at once in a new block.
 *   sim_mine {blocks?: 1} → {tip}.
 *   sim_reorg {depth} → {tip, detached}: drops the last depth blocks (never genesis); their
 *       transactions return to the pool as pending and are committed again by later blocks, in
 *       blocks whose hashes differ from the dropped ones.
 *   sim_set_min_fee_rate {rate}   shannons per 1000 bytes (default --min-fee-rate, 1000).
 *   sim_outputs {lock_args?} → {outputs: [{txHash, index, capacity, lock, live, blockNumber,
 *       blockHash}]}: every output of every committed transaction.
 *   sim_script {method, outcome: "ok"|"error"|"timeout"|"reject", count?, error?: {code,
 *       message}}: the next count (default 1) calls of method get this outcome, FIFO per method.
 *       "error" answers error (default -1 "CKBInternalError: node busy") without running the
 *       method; "reject" does the same with a pool refusal (default -1106 PoolIsFull);
 *       "timeout" runs the method (a send is accepted) but holds the answer 30 s or until stop.
 *   sim_set_latency {ms}   every later node answer is delayed by ms.
 *   sim_stats {} → {calls: {method: count}}. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/http.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/mem.h"
#include "tests/ckb_sim/sim_chain.h"
#include "tests/ckb_sim/sim_methods.h"

#define SIM_TIMEOUT_HOLD_S 30.0
#define SIM_MAX_BODY (2u << 20)

enum sim_outcome { SIM_OUT_OK = 0, SIM_OUT_ERROR, SIM_OUT_TIMEOUT, SIM_OUT_REJECT };

struct sim_script {
    struct sim_script *next;
    char *method;
    enum sim_outcome outcome;
    uint64_t remaining;
    int code;
    char *message;
};

struct sim {
    struct loop loop;
    struct http_server *http;
    struct sim_chain *chain;
    uint64_t latency_ms;
    uint64_t block_interval_ms;
    struct sim_script *scripts;
    json_t *calls;
    struct held_answer *held;
    ev_signal sigterm, sigint;
    ev_timer drain, miner;
    double drain_deadline;
};

/* An answer held back by latency or a scripted timeout; lives in the request's pool. */
struct held_answer {
    ev_timer timer;
    struct held_answer *prev, *next;
    int linked;
    struct sim *sim;
    h2o_req_t *req;
    char *body;
};

static void held_unlink(struct held_answer *h)
{
    if (!h->linked)
        return;
    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        h->sim->held = h->next;
    if (h->next != NULL)
        h->next->prev = h->prev;
    h->linked = 0;
}

static void held_dispose(void *p)
{
    struct held_answer *h = p;
    held_unlink(h);
    ev_timer_stop(h->sim->loop.ev, &h->timer);
    free(h->body);
    h->body = NULL;
}

static void held_fire(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)ev;
    (void)revents;
    struct held_answer *h = container_of(w, struct held_answer, timer);
    held_unlink(h);
    char *body = h->body;
    h->body = NULL;
    loop_touch(&h->sim->loop);
    http_send_json(h->req, 200, body); /* h may be gone after this */
    free(body);
}

static void answer(struct sim *sim, h2o_req_t *req, char *body, uint64_t delay_ms)
{
    if (delay_ms == 0) {
        http_send_json(req, 200, body);
        free(body);
        return;
    }
    struct held_answer *h = http_req_alloc_shared(req, sizeof *h, held_dispose);
    h->sim = sim;
    h->req = req;
    h->body = body;
    h->prev = NULL;
    h->next = sim->held;
    if (sim->held != NULL)
        sim->held->prev = h;
    sim->held = h;
    h->linked = 1;
    ev_timer_init(&h->timer, held_fire, (double)delay_ms / 1000.0, 0.0);
    ev_timer_start(sim->loop.ev, &h->timer);
}

static char *envelope(json_t *id, json_t *result, int code, const char *message, const char *data)
{
    json_t *msg = json_object();
    json_object_set_new(msg, "jsonrpc", json_string("2.0"));
    if (result != NULL) {
        json_object_set_new(msg, "result", result);
    } else {
        json_t *e = json_pack("{s:i, s:s}", "code", code, "message", message);
        if (data != NULL)
            json_object_set_new(e, "data", json_string(data));
        json_object_set_new(msg, "error", e);
    }
    json_object_set(msg, "id", id != NULL ? id : json_null());
    char *s = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    return s;
}

/* ---- scripts ---- */

static void script_free(struct sim_script *sc)
{
    free(sc->method);
    free(sc->message);
    free(sc);
}

static enum sim_outcome script_take(struct sim *sim, const char *method, int *code, char **message)
{
    for (struct sim_script **pp = &sim->scripts; *pp != NULL; pp = &(*pp)->next) {
        struct sim_script *sc = *pp;
        if (strcmp(sc->method, method) != 0)
            continue;
        enum sim_outcome o = sc->outcome;
        *code = sc->code;
        *message = xstrdup(sc->message);
        if (--sc->remaining == 0) {
            *pp = sc->next;
            script_free(sc);
        }
        return o;
    }
    *message = NULL;
    return SIM_OUT_OK;
}

static int ctl_script(struct sim *sim, json_t *params, json_t **res, struct sim_rpc_error *err)
{
    json_t *obj;
    uint64_t count = 1;
    if (sim_params_object(params, &obj, err) < 0 ||
        sim_params_uint(obj, "count", 0, &count, err) < 0)
        return -1;
    const char *method = json_string_value(json_object_get(obj, "method"));
    const char *outcome = json_string_value(json_object_get(obj, "outcome"));
    json_t *ev = json_object_get(obj, "error");
    static const char *const names[] = {"ok", "error", "timeout", "reject"};
    int o = -1;
    for (int i = 0; outcome != NULL && i < 4; i++) {
        if (strcmp(outcome, names[i]) == 0)
            o = i;
    }
    err->code = -32602;
    if (method == NULL || method[0] == '\0' || strncmp(method, "sim_", 4) == 0) {
        snprintf(err->message, sizeof err->message,
                 "Invalid params: `method` must name a node method");
        return -1;
    }
    if (o < 0) {
        snprintf(err->message, sizeof err->message,
                 "Invalid params: `outcome` must be one of ok, error, timeout, reject");
        return -1;
    }
    int code = o == SIM_OUT_REJECT ? -1106 : -1;
    const char *message = o == SIM_OUT_REJECT
                              ? "PoolIsFull: Transaction are replaced because the pool is full"
                              : "CKBInternalError: node busy";
    if (ev != NULL && !json_is_null(ev)) {
        json_t *c = json_object_get(ev, "code"), *m = json_object_get(ev, "message");
        if (!json_is_object(ev) || (c != NULL && !json_is_integer(c)) ||
            (m != NULL && !json_is_string(m))) {
            snprintf(err->message, sizeof err->message,
                     "Invalid params: `error` must be {code: integer, message: string}");
            return -1;
        }
        if (c != NULL)
            code = (int)json_integer_value(c);
        if (m != NULL)
            message = json_string_value(m);
    }
    err->code = 0;
    *res = json_object();
    if (count == 0)
        return 0;
    struct sim_script *sc = xcalloc(1, sizeof *sc);
    sc->method = xstrdup(method);
    sc->outcome = (enum sim_outcome)o;
    sc->remaining = count;
    sc->code = code;
    sc->message = xstrdup(message);
    struct sim_script **pp = &sim->scripts;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = sc;
    return 0;
}

static int ctl_latency(struct sim *sim, json_t *params, json_t **res, struct sim_rpc_error *err)
{
    json_t *obj;
    uint64_t ms;
    if (sim_params_object(params, &obj, err) < 0 || sim_params_uint(obj, "ms", 1, &ms, err) < 0)
        return -1;
    sim->latency_ms = ms;
    *res = json_object();
    return 0;
}

/* ---- request handling ---- */

static int on_rpc(void *data, h2o_req_t *req)
{
    struct sim *sim = data;
    json_error_t jerr;
    json_t *result = NULL;
    struct sim_rpc_error err = {0};
    char *script_message = NULL;
    char *body;
    uint64_t delay = 0;

    json_t *root =
        json_loadb(req->entity.base != NULL ? req->entity.base : "", req->entity.len, 0, &jerr);
    if (root == NULL) {
        body = envelope(NULL, NULL, -32700, "Parse error", NULL);
        goto send;
    }
    json_t *id = json_object_get(root, "id");
    const char *method = json_string_value(json_object_get(root, "method"));
    if (!json_is_object(root) || method == NULL ||
        (id != NULL && !json_is_string(id) && !json_is_integer(id) && !json_is_null(id))) {
        body = envelope(json_is_object(root) ? id : NULL, NULL, -32600, "Invalid request", NULL);
        goto send;
    }
    json_t *count = json_object_get(sim->calls, method);
    if (json_object_size(sim->calls) < 256 || count != NULL)
        json_object_set_new(sim->calls, method, json_integer(json_integer_value(count) + 1));
    json_t *params = json_object_get(root, "params");

    int rc;
    if (strcmp(method, "sim_script") == 0) {
        rc = ctl_script(sim, params, &result, &err);
    } else if (strcmp(method, "sim_set_latency") == 0) {
        rc = ctl_latency(sim, params, &result, &err);
    } else if (strcmp(method, "sim_stats") == 0) {
        result = json_pack("{s:O}", "calls", sim->calls);
        rc = 0;
    } else if (strncmp(method, "sim_", 4) == 0) {
        rc = sim_methods_call(sim->chain, method, params, &result, &err);
    } else {
        int code = 0;
        enum sim_outcome o = script_take(sim, method, &code, &script_message);
        delay = sim->latency_ms;
        if (o == SIM_OUT_ERROR || o == SIM_OUT_REJECT) {
            body = envelope(id, NULL, code, script_message, NULL);
            log_event(LOG_INFO, "sim.scripted", "method=%s outcome=%s", method,
                      o == SIM_OUT_ERROR ? "error" : "reject");
            goto send;
        }
        if (o == SIM_OUT_TIMEOUT) {
            delay = (uint64_t)(SIM_TIMEOUT_HOLD_S * 1000);
            log_event(LOG_INFO, "sim.scripted", "method=%s outcome=timeout", method);
        }
        rc = sim_methods_call(sim->chain, method, params, &result, &err);
        if (rc < 0 && strcmp(method, "send_transaction") == 0)
            log_event(LOG_INFO, "sim.refused", "code=%d", err.code);
    }
    if (rc == 0)
        body = envelope(id, result, 0, NULL, NULL);
    else
        body = envelope(id, NULL, err.code, err.message, err.data);

send:
    answer(sim, req, body, delay);
    free(err.data);
    free(script_message);
    json_decref(root);
    return 0;
}

/* ---- main ---- */

static void mine_tick(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)ev;
    (void)revents;
    struct sim *sim = container_of(w, struct sim, miner);
    sim_chain_mine(sim->chain);
}

static void drain_tick(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)revents;
    struct sim *sim = container_of(w, struct sim, drain);
    if (http_server_idle(sim->http) || ev_now(ev) >= sim->drain_deadline)
        ev_break(ev, EVBREAK_ALL);
}

/* Stops like fnn-sim: no new connections, held answers released at once, the loop ends when
 * h2o is idle (bounded). */
static void on_signal(struct ev_loop *ev, ev_signal *w, int revents)
{
    (void)revents;
    struct sim *sim = w->signum == SIGTERM ? container_of(w, struct sim, sigterm)
                                           : container_of(w, struct sim, sigint);
    log_event(LOG_INFO, "sim.stopping", "signal=%d", w->signum);
    if (ev_is_active(&sim->drain)) {
        ev_break(ev, EVBREAK_ALL);
        return;
    }
    ev_timer_stop(ev, &sim->miner);
    http_server_stop_accepting(sim->http);
    while (sim->held != NULL) {
        struct held_answer *h = sim->held;
        ev_timer_stop(ev, &h->timer);
        held_fire(ev, &h->timer, 0);
    }
    sim->drain_deadline = ev_now(ev) + 2.0;
    ev_timer_init(&sim->drain, drain_tick, 0.0, 0.02);
    ev_timer_start(ev, &sim->drain);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ckb-sim --listen HOST:PORT [--network devnet|testnet] [--block-interval-ms N]\n"
            "               [--min-fee-rate N] [--proposal-blocks N] [--latency-ms N]\n"
            "               [--log-level debug|info|warn|error]\n"
            "A CKB node JSON-RPC simulator for tests: it verifies transactions as a node does\n"
            "(molecule, live inputs, capacity, fee rate, default-lock signatures) and mines\n"
            "blocks every N ms (0, the default: only on sim_mine). See the comment at the top of\n"
            "tests/ckb_sim/ckb_sim.c for its sim_* control methods.\n");
}

static int parse_num(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *s == '-' || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"network", required_argument, NULL, 'n'},
        {"block-interval-ms", required_argument, NULL, 'b'},
        {"min-fee-rate", required_argument, NULL, 'f'},
        {"proposal-blocks", required_argument, NULL, 'p'},
        {"latency-ms", required_argument, NULL, 'd'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *listen = NULL;
    struct sim_config cfg = {.network = CKB_DEVNET, .min_fee_rate = 1000, .proposal_blocks = 2};
    struct sim sim = {0};
    char err[256];
    int c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 'n':
            if (strcmp(optarg, "devnet") == 0) {
                cfg.network = CKB_DEVNET;
            } else if (strcmp(optarg, "testnet") == 0) {
                cfg.network = CKB_TESTNET;
            } else {
                fprintf(stderr, "ckb-sim: --network must be devnet or testnet\n");
                return 2;
            }
            break;
        case 'b':
            if (parse_num(optarg, 86400000, &sim.block_interval_ms) < 0) {
                fprintf(stderr, "ckb-sim: --block-interval-ms must be 0..86400000\n");
                return 2;
            }
            break;
        case 'f':
            if (parse_num(optarg, 1000000000, &cfg.min_fee_rate) < 0) {
                fprintf(stderr, "ckb-sim: --min-fee-rate must be 0..1000000000\n");
                return 2;
            }
            break;
        case 'p':
            if (parse_num(optarg, 10, &cfg.proposal_blocks) < 0) {
                fprintf(stderr, "ckb-sim: --proposal-blocks must be 0..10\n");
                return 2;
            }
            break;
        case 'd':
            if (parse_num(optarg, 3600000, &sim.latency_ms) < 0) {
                fprintf(stderr, "ckb-sim: --latency-ms must be 0..3600000\n");
                return 2;
            }
            break;
        case 'L': {
            enum log_level lvl;
            if (log_level_parse(optarg, &lvl) < 0) {
                fprintf(stderr, "ckb-sim: bad --log-level\n");
                return 2;
            }
            log_set_level(lvl);
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("ckb-sim %s\n", FIBERLINK_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (listen == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    sim.chain = sim_chain_new(&cfg, err, sizeof err);
    if (sim.chain == NULL) {
        fprintf(stderr, "ckb-sim: %s\n", err);
        return 1;
    }
    if (loop_init(&sim.loop) < 0)
        return 1;
    sim.calls = json_object();
    const char *listens[1] = {listen};
    struct http_server_config hcfg = {
        .listen = listens, .nlisten = 1, .max_body = SIM_MAX_BODY, .server_name = "ckb-sim"};
    sim.http = http_server_new(&sim.loop, &hcfg, err, sizeof err);
    if (sim.http == NULL) {
        fprintf(stderr, "ckb-sim: %s\n", err);
        return 1;
    }
    http_server_route(sim.http, "POST", "/", on_rpc, &sim);
    if (http_server_start(sim.http, err, sizeof err) < 0) {
        fprintf(stderr, "ckb-sim: %s\n", err);
        return 1;
    }
    ev_signal_init(&sim.sigterm, on_signal, SIGTERM);
    ev_signal_start(sim.loop.ev, &sim.sigterm);
    ev_signal_init(&sim.sigint, on_signal, SIGINT);
    ev_signal_start(sim.loop.ev, &sim.sigint);
    if (sim.block_interval_ms > 0) {
        double s = (double)sim.block_interval_ms / 1000.0;
        ev_timer_init(&sim.miner, mine_tick, s, s);
        ev_timer_start(sim.loop.ev, &sim.miner);
    }
    const struct sim_block *g = sim_chain_block(sim.chain, 0);
    char dep[67];
    sim_hex(g->txs[1]->hash, 32, dep);
    log_event(LOG_INFO, "sim.listening",
              "port=%d network=%s block_interval_ms=%llu min_fee_rate=%llu dep_group=%s",
              http_server_port(sim.http, 0), ckb_network_name(cfg.network),
              (unsigned long long)sim.block_interval_ms, (unsigned long long)cfg.min_fee_rate, dep);

    ev_run(sim.loop.ev, 0);
    ev_timer_stop(sim.loop.ev, &sim.drain);
    ev_timer_stop(sim.loop.ev, &sim.miner);

    http_server_free(sim.http);
    while (sim.scripts != NULL) {
        struct sim_script *next = sim.scripts->next;
        script_free(sim.scripts);
        sim.scripts = next;
    }
    json_decref(sim.calls);
    sim_chain_free(sim.chain);
    loop_dispose(&sim.loop);
    return 0;
}
