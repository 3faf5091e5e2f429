/* fnn-sim: a Fiber Network Node stand-in for tests, benchmarks and the local demo. It serves FNN's
 * JSON-RPC subset (node_info, new_invoice, get_invoice, parse_invoice, cancel_invoice,
 * settle_invoice, send_payment, get_payment, list_channels) over HTTP POST on "/" with FNN's
 * encodings and error texts, on the project's own loop and HTTP server: one thread, nothing blocks,
 * every delay is an ev_timer. Method behaviour lives in sim_rpc.c, state and the invoice codec in
 * sim_store.c.
 *
 * Control methods (same endpoint, framed like FNN's: "params":[{...}], integers as u128 "0x" hex;
 * plain JSON integers are also accepted here). They are never delayed and never scripted:
 *   sim_pay_invoice {invoice | payment_hash, stage?, when?}  pay one of our invoices: Open → Paid,
 *       or → Received for a hold invoice; Expired/Cancelled/Paid/Received → -32000. Returns
 *       get_invoice's shape. stage "received" stops a normal invoice at Received (TLC arrived, not
 *       fulfilled); paying it again then completes it → Paid. when "before_cancel" defers the
 *       payment to the moment the next cancel_invoice arrives (the payment wins the race).
 *   sim_new_external_invoice {amount, currency?, expiry?, description?, udt_type_script?}
 *       → {invoice, payment_hash}: an invoice of the simulated remote node (random preimage,
 *       sha256, expiry 3600 s unless given) to pay with send_payment.
 *   sim_script {method, outcome: "ok"|"error"|"timeout"|"fail_payment", count?, error?}
 *       the next `count` (default 1) calls of `method` get this outcome, in FIFO order per method:
 *       "error" answers -32000 `error` (default "node busy") without running the method;
 *       "timeout" runs the method but holds the answer for 60 s (longer than any client deadline);
 *       "fail_payment" lets send_payment create its session, which then ends Failed with
 *       failed_error `error` (default "Failed to build route, PathFind error: no path found").
 *   sim_set_latency {ms}        every later FNN answer is delayed by ms.
 *   sim_advance_clock {seconds} moves the simulated clock forward (invoice expiry) → {now}.
 *   sim_set_route_fee {ppm}     every later send_payment's route costs ppm parts per million of
 *       the amount (default 1000 = 0.1 %). A route dearer than the call's max_fee_amount is not
 *       taken, as FNN's path finder does: a dry run is refused, a send makes a session that ends
 *       Failed ("Failed to build route, PathFind error: no path found within max_fee_amount X
 *       (route fee Y)"; the figures are the sim's addition to FNN's text). Nothing is paid.
 *   sim_open_channel {local_balance, remote_balance?, udt_type_script?, state?, public?}
 *       → {channel_id}: a channel with the simulated remote node that list_channels shows, in
 *       state ChannelReady unless `state` names another of FNN's state names; funded with the UDT
 *       of udt_type_script (a Script), else CKB. Balances in base units of its asset.
 *   sim_update_channel {channel_id, local_balance?, remote_balance?, offered_tlc_balance?,
 *       state?} → the Channel: sets what is given (state "Closed" hides it from list_channels
 *       unless include_closed). Payments never move channel balances: only these two do.
 *   sim_stats {}                → {calls: {method: count}} for every method received.
 *   sim_get_payments {}         → {payments: [{payment_hash, status, sessions, amount, fee,
 *       failed_error, ...}]}: every payment session with its number of send_payment sessions, so
 *       tests can prove nothing was paid twice.
 * With --require-token T, calls without "Authorization: Bearer T" get FNN's -32999 Unauthorized. */
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
#include "tests/fnn_sim/sim_rpc.h"
#include "tests/fnn_sim/sim_store.h"

#define SIM_TIMEOUT_HOLD_S 60.0
#define SIM_MAX_BODY (1u << 20)
#define SIM_DEFAULT_FAILED_ERROR "Failed to build route, PathFind error: no path found"

enum sim_outcome { SIM_OUT_OK = 0, SIM_OUT_ERROR, SIM_OUT_TIMEOUT, SIM_OUT_FAIL_PAYMENT };

struct sim_script {
    struct sim_script *next;
    char *method;
    enum sim_outcome outcome;
    uint64_t remaining;
    char *error;
};

struct sim {
    struct loop loop;
    struct http_server *http;
    struct sim_store *store;
    uint64_t latency_ms;
    struct sim_script *scripts; /* FIFO */
    json_t *calls;              /* method → count */
    const char *token;
    struct held_answer *held; /* answers waiting on a timer, so a stop can release them */
    ev_signal sigterm, sigint;
    ev_timer drain;
    double drain_deadline;
};

/* An answer held back by latency or a scripted timeout. Lives in the request's pool: if the
 * client goes away first, dispose stops the timer. */
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
    struct held_answer *h = container_of(w, struct held_answer, timer);
    held_unlink(h);
    char *body = h->body;
    h->body = NULL;
    loop_touch(&h->sim->loop);
    http_send_json(h->req, 200, body); /* h may be gone after this: do not touch it */
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
    h->next = sim->held;
    if (sim->held != NULL)
        sim->held->prev = h;
    sim->held = h;
    h->linked = 1;
    ev_timer_init(&h->timer, held_fire, (double)delay_ms / 1000.0, 0.0);
    ev_timer_start(sim->loop.ev, &h->timer);
}

static char *envelope(json_t *id, json_t *result, int code, const char *message, json_t *data)
{
    json_t *msg = json_object();
    json_object_set_new(msg, "jsonrpc", json_string("2.0"));
    if (result != NULL) {
        json_object_set_new(msg, "result", result);
    } else {
        json_t *e = json_pack("{s:i, s:s}", "code", code, "message", message);
        if (data != NULL)
            json_object_set_new(e, "data", data);
        json_object_set_new(msg, "error", e);
    }
    json_object_set(msg, "id", id != NULL ? id : json_null());
    char *s = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    return s;
}

/* ---- scripts ---- */

/* Takes the next scripted outcome for method (FIFO per method). */
static enum sim_outcome script_take(struct sim *sim, const char *method, char **error)
{
    struct sim_script **pp = &sim->scripts;
    for (; *pp != NULL; pp = &(*pp)->next) {
        struct sim_script *sc = *pp;
        if (strcmp(sc->method, method) != 0)
            continue;
        enum sim_outcome o = sc->outcome;
        *error = xstrdup(sc->error);
        if (--sc->remaining == 0) {
            *pp = sc->next;
            free(sc->method);
            free(sc->error);
            free(sc);
        }
        return o;
    }
    *error = NULL;
    return SIM_OUT_OK;
}

static int ctl_script(struct sim *sim, json_t *params, json_t **res, struct sim_rpc_error *err)
{
    json_t *obj;
    if (sim_rpc_params_object(params, 0, &obj, err) < 0)
        return -1;
    const char *method = json_string_value(json_object_get(obj, "method"));
    const char *outcome = json_string_value(json_object_get(obj, "outcome"));
    json_t *ev = json_object_get(obj, "error");
    uint64_t count = 1;
    static const char *const names[] = {"ok", "error", "timeout", "fail_payment"};
    int o = -1;
    for (int i = 0; outcome != NULL && i < 4; i++) {
        if (strcmp(outcome, names[i]) == 0)
            o = i;
    }
    err->code = -32602;
    snprintf(err->message, sizeof err->message, "Invalid params");
    if (method == NULL || method[0] == '\0' || strncmp(method, "sim_", 4) == 0) {
        err->data = json_string("`method` must name an FNN method");
        return -1;
    }
    if (o < 0) {
        err->data = json_string("`outcome` must be one of ok, error, timeout, fail_payment");
        return -1;
    }
    if (ev != NULL && !json_is_null(ev) && !json_is_string(ev)) {
        err->data = json_string("`error` must be a string");
        return -1;
    }
    if (sim_rpc_uint(obj, "count", 0, 1, &count, err) < 0)
        return -1;
    if (count == 0) {
        *res = json_object();
        return 0;
    }
    struct sim_script *sc = xcalloc(1, sizeof *sc);
    sc->method = xstrdup(method);
    sc->outcome = (enum sim_outcome)o;
    sc->remaining = count;
    sc->error = xstrdup(json_is_string(ev)          ? json_string_value(ev)
                        : o == SIM_OUT_FAIL_PAYMENT ? SIM_DEFAULT_FAILED_ERROR
                                                    : "node busy");
    struct sim_script **pp = &sim->scripts;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = sc;
    *res = json_object();
    return 0;
}

static int ctl_latency(struct sim *sim, json_t *params, json_t **res, struct sim_rpc_error *err)
{
    json_t *obj;
    uint64_t ms;
    if (sim_rpc_params_object(params, 0, &obj, err) < 0 ||
        sim_rpc_uint(obj, "ms", 1, 1, &ms, err) < 0)
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
    json_t *root = NULL, *result = NULL;
    struct sim_rpc_error err = {0};
    char *script_error = NULL;
    char *body;
    uint64_t delay = 0;

    root = json_loadb(req->entity.base != NULL ? req->entity.base : "", req->entity.len, 0, &jerr);
    if (root == NULL) {
        body = envelope(NULL, NULL, -32700, "Parse error", NULL);
        goto send;
    }
    json_t *id = json_object_get(root, "id");
    const char *method = json_string_value(json_object_get(root, "method"));
    if (!json_is_object(root) || !json_is_string(json_object_get(root, "jsonrpc")) ||
        strcmp(json_string_value(json_object_get(root, "jsonrpc")), "2.0") != 0 || method == NULL ||
        (id != NULL && !json_is_string(id) && !json_is_integer(id) && !json_is_null(id))) {
        body = envelope(json_is_object(root) ? id : NULL, NULL, -32600, "Invalid request", NULL);
        goto send;
    }
    if (sim->token != NULL) {
        h2o_iovec_t auth = http_header(req, "authorization");
        size_t tl = strlen(sim->token);
        if (auth.len != 7 + tl || memcmp(auth.base, "Bearer ", 7) != 0 ||
            memcmp(auth.base + 7, sim->token, tl) != 0) {
            body = envelope(id, NULL, -32999, "Unauthorized", NULL);
            goto send;
        }
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
        rc = sim_rpc_call(sim->store, method, params, NULL, &result, &err);
    } else {
        enum sim_outcome o = script_take(sim, method, &script_error);
        struct sim_rpc_opts opts = {0};
        delay = sim->latency_ms;
        if (o == SIM_OUT_ERROR) {
            json_t *obj = json_array_get(params, 0);
            body =
                envelope(id, NULL, -32000, script_error, obj != NULL ? json_deep_copy(obj) : NULL);
            log_event(LOG_INFO, "sim.scripted", "method=%s outcome=error", method);
            goto send;
        }
        if (o == SIM_OUT_TIMEOUT) {
            delay = (uint64_t)(SIM_TIMEOUT_HOLD_S * 1000);
            log_event(LOG_INFO, "sim.scripted", "method=%s outcome=timeout", method);
        }
        if (o == SIM_OUT_FAIL_PAYMENT && strcmp(method, "send_payment") == 0)
            opts.fail_payment = script_error;
        rc = sim_rpc_call(sim->store, method, params, &opts, &result, &err);
    }
    if (rc == 0)
        body = envelope(id, result, 0, NULL, NULL);
    else
        body = envelope(id, NULL, err.code, err.message, err.data);

send:
    answer(sim, req, body, delay);
    free(script_error);
    json_decref(root);
    return 0;
}

/* ---- main ---- */

static void drain_tick(struct ev_loop *ev, ev_timer *w, int revents)
{
    struct sim *sim = container_of(w, struct sim, drain);
    if (http_server_idle(sim->http) || ev_now(ev) >= sim->drain_deadline)
        ev_break(ev, EVBREAK_ALL);
}

/* Stops like the daemon does: no new connections, held answers released at once, and the loop
 * ends when h2o is idle (bounded), so its context can be disposed cleanly. */
static void on_signal(struct ev_loop *ev, ev_signal *w, int revents)
{
    struct sim *sim = w->signum == SIGTERM ? container_of(w, struct sim, sigterm)
                                           : container_of(w, struct sim, sigint);
    log_event(LOG_INFO, "sim.stopping", "signal=%d", w->signum);
    if (ev_is_active(&sim->drain)) {
        ev_break(ev, EVBREAK_ALL);
        return;
    }
    http_server_stop_accepting(sim->http);
    while (sim->held != NULL) {
        struct held_answer *h = sim->held;
        ev_timer_stop(ev, &h->timer);
        held_fire(ev, &h->timer, 0); /* unlinks h */
    }
    sim->drain_deadline = ev_now(ev) + 2.0;
    ev_timer_init(&sim->drain, drain_tick, 0.0, 0.02);
    ev_timer_start(ev, &sim->drain);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fnn-sim --listen HOST:PORT [--currency Fibt|Fibb|Fibd] [--latency-ms N]\n"
            "               [--require-token TOKEN] [--log-level debug|info|warn|error]\n"
            "A Fiber Network Node JSON-RPC simulator for tests (see the comment at the top of\n"
            "tests/fnn_sim/fnn_sim.c for its sim_* control methods).\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"currency", required_argument, NULL, 'c'},
        {"latency-ms", required_argument, NULL, 'd'},
        {"require-token", required_argument, NULL, 't'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *listen = NULL;
    enum sim_currency currency = SIM_CUR_FIBT;
    struct sim sim = {0};
    char err[256];
    int c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 'c':
            if (sim_currency_parse(optarg, &currency) < 0) {
                fprintf(stderr, "fnn-sim: --currency must be Fibt, Fibb or Fibd\n");
                return 2;
            }
            break;
        case 'd': {
            char *end;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v > 3600000) {
                fprintf(stderr, "fnn-sim: --latency-ms must be 0..3600000\n");
                return 2;
            }
            sim.latency_ms = v;
            break;
        }
        case 't':
            sim.token = optarg;
            break;
        case 'L': {
            enum log_level lvl;
            if (log_level_parse(optarg, &lvl) < 0) {
                fprintf(stderr, "fnn-sim: bad --log-level\n");
                return 2;
            }
            log_set_level(lvl);
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("fnn-sim %s\n", FIBERLINK_VERSION);
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
    if (loop_init(&sim.loop) < 0)
        return 1;
    sim.store = sim_store_new(currency);
    sim.calls = json_object();
    const char *listens[1] = {listen};
    struct http_server_config cfg = {
        .listen = listens, .nlisten = 1, .max_body = SIM_MAX_BODY, .server_name = "fnn-sim"};
    sim.http = http_server_new(&sim.loop, &cfg, err, sizeof err);
    if (sim.http == NULL) {
        fprintf(stderr, "fnn-sim: %s\n", err);
        return 1;
    }
    http_server_route(sim.http, "POST", "/", on_rpc, &sim);
    if (http_server_start(sim.http, err, sizeof err) < 0) {
        fprintf(stderr, "fnn-sim: %s\n", err);
        return 1;
    }
    ev_signal_init(&sim.sigterm, on_signal, SIGTERM);
    ev_signal_start(sim.loop.ev, &sim.sigterm);
    ev_signal_init(&sim.sigint, on_signal, SIGINT);
    ev_signal_start(sim.loop.ev, &sim.sigint);
    log_event(LOG_INFO, "sim.listening", "port=%d currency=%s pubkey=%s",
              http_server_port(sim.http, 0), sim_currency_name(currency),
              sim_node_pubkey(SIM_NODE_LOCAL));

    ev_run(sim.loop.ev, 0);
    ev_timer_stop(sim.loop.ev, &sim.drain);

    http_server_free(sim.http);
    while (sim.scripts != NULL) {
        struct sim_script *next = sim.scripts->next;
        free(sim.scripts->method);
        free(sim.scripts->error);
        free(sim.scripts);
        sim.scripts = next;
    }
    json_decref(sim.calls);
    sim_store_free(sim.store);
    loop_dispose(&sim.loop);
    return 0;
}
