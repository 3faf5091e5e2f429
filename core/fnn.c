/* The hub's Fiber node client (see fnn.h): JSON-RPC calls over libcurl's multi interface, whose
 * sockets and timer are libev watchers, plus the pure decoders for the node's invoice and payment
 * answers. Everything here runs on the loop's one thread; completions are only ever delivered
 * from a watcher callback, so a caller never sees its callback before fnn_call() returned. */
#include "core/fnn.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/amount.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/owner.h"

#define FNN_MAX_RESPONSE (4u << 20) /* a node answer above this is treated as a transport fault */

struct fnn_call {
    struct fnn_client *client;
    struct fnn_call *prev, *next; /* the client's list of outstanding calls */
    int linked;                   /* on that list (not yet completing) */
    CURL *easy;
    struct curl_slist *headers;
    char *request; /* serialized JSON-RPC request, kept alive for curl */
    char *body;    /* response bytes, NUL-terminated */
    size_t len, cap;
    int too_large;
    uint64_t id;
    char method[48];
    int positional; /* fnn_call_positional: JSON-RPC errors left to the caller to classify and log
                     */
    fnn_cb cb;
    void *ctx;
    owner_id owner; /* owner.h: current when the call started, current again in its callback */
    int refused;    /* over max_owned: never sent, answered FNN_TRANSIENT from the loop */
    ev_timer
        deferred; /* reports a failure to start the transfer from the loop, not from fnn_call */
    char errbuf[CURL_ERROR_SIZE];
};

struct fnn_client {
    struct ev_loop *loop;
    CURLM *multi;
    ev_timer timer; /* curl's requested timeout */
    char *url;
    const char *setting; /* names for start-up errors (fnn_client_new_named): read there only */
    const char *node;
    char *auth_header; /* "Authorization: Bearer …": a secret, never logged */
    struct curl_slist *resolve;
    int default_timeout_ms;
    uint64_t next_id;
    unsigned inflight;
    unsigned owned_inflight; /* of inflight, calls with an owner (API requests) */
    unsigned max_owned;      /* bound on owned_inflight; 0 = none */
    ev_tstamp full_logged_at;
    struct fnn_call *calls;
    int dispatching; /* >0 while completions are being delivered */
    int closing;     /* fnn_client_free was called from inside a callback */
};

/* One socket curl asked us to watch. */
struct fnn_sock {
    ev_io io;
    curl_socket_t fd;
    struct fnn_client *client;
};

static void client_destroy(struct fnn_client *c);

/* ---- call bookkeeping ---- */

static void call_link(struct fnn_client *c, struct fnn_call *call)
{
    call->next = c->calls;
    if (c->calls != NULL)
        c->calls->prev = call;
    c->calls = call;
    call->linked = 1;
    c->inflight++;
    c->owned_inflight += call->owner != 0;
}

static void call_unlink(struct fnn_call *call)
{
    struct fnn_client *c = call->client;
    if (!call->linked)
        return;
    call->linked = 0;
    if (call->prev != NULL)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next != NULL)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
    c->inflight--;
    c->owned_inflight -= call->owner != 0;
}

/* Unlinks, detaches from curl and frees; never runs the callback. */
static void call_destroy(struct fnn_call *call)
{
    struct fnn_client *c = call->client;
    call_unlink(call);
    ev_timer_stop(c->loop, &call->deferred);
    if (call->easy != NULL) {
        curl_multi_remove_handle(c->multi, call->easy);
        curl_easy_cleanup(call->easy);
    }
    curl_slist_free_all(call->headers);
    free(call->request);
    free(call->body);
    free(call);
}

/* Runs the callback (unless the client is being torn down), then frees the call. The call leaves
 * the client's list first, so an fnn_client_free() from inside the callback cannot free it under
 * our feet. */
static void call_finish(struct fnn_call *call, const struct fnn_result *res)
{
    struct fnn_client *c = call->client;
    fnn_cb cb = call->cb;
    void *ctx = call->ctx;
    call_unlink(call);
    if (res->outcome != FNN_OK && !call->positional) {
        char quoted[256];
        log_event(res->outcome == FNN_TRANSIENT ? LOG_WARN : LOG_INFO, "fnn.call_failed",
                  "method=%s id=%llu outcome=%s code=%d http_status=%ld message=%s", call->method,
                  (unsigned long long)call->id,
                  res->outcome == FNN_TRANSIENT ? "transient" : "permanent", res->rpc_code,
                  res->http_status,
                  log_quote(quoted, sizeof quoted, res->message, strlen(res->message)));
    }
    c->dispatching++;
    if (!c->closing) {
        owner_id prev = owner_enter(call->owner);
        cb(ctx, res);
        owner_leave(prev);
    }
    c->dispatching--;
    call_destroy(call);
}

/* ---- classification ---- */

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay != '\0'; hay++) {
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    }
    return 0;
}

enum fnn_outcome fnn_classify_error(int code, const char *message)
{
    /* Texts a node (or jsonrpsee in front of it) uses when it cannot serve right now rather than
     * refusing the request itself. Anything else under -32000 is a business answer such as
     * "invoice not found", which a retry cannot change. */
    static const char *const busy_words[] = {
        "timeout",    "timed out", "busy",     "unavailable", "not ready",
        "connection", "try again", "too many", "temporarily",
    };
    if (code == -32603 || code == -32009 /* jsonrpsee: server is busy */)
        return FNN_TRANSIENT;
    if (code == -32000 && message != NULL) {
        for (size_t i = 0; i < FL_ARRAY_LEN(busy_words); i++) {
            if (contains_ci(message, busy_words[i]))
                return FNN_TRANSIENT;
        }
    }
    return FNN_PERMANENT;
}

/* ---- completion ---- */

/* Turns one finished transfer into a result and delivers it. */
static void call_complete(struct fnn_call *call, CURLcode rc)
{
    struct fnn_result res = {.outcome = FNN_TRANSIENT, .message = ""};
    json_t *root = NULL;
    char msg[CURL_ERROR_SIZE + 64];

    curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &res.http_status);
    if (call->too_large) {
        res.message = "node answer exceeds 4 MiB";
        goto deliver;
    }
    if (rc != CURLE_OK) {
        snprintf(msg, sizeof msg, "%s",
                 call->errbuf[0] != '\0' ? call->errbuf : curl_easy_strerror(rc));
        res.message = msg;
        goto deliver;
    }
    json_error_t jerr;
    root =
        json_loadb(call->body != NULL ? call->body : "", call->len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *error = root != NULL ? json_object_get(root, "error") : NULL;
    json_t *code = error != NULL ? json_object_get(error, "code") : NULL;
    if (json_is_object(error) && json_is_integer(code)) {
        /* A JSON-RPC error body decides, whatever the HTTP status says. */
        json_t *m = json_object_get(error, "message");
        res.rpc_code = (int)json_integer_value(code);
        res.message = json_is_string(m) ? json_string_value(m) : "";
        /* A positional call talks to another kind of node (CKB), whose codes mean other things:
         * its caller classifies them. */
        res.outcome =
            call->positional ? FNN_PERMANENT : fnn_classify_error(res.rpc_code, res.message);
        goto deliver;
    }
    if (res.http_status != 200) {
        snprintf(msg, sizeof msg, "HTTP status %ld from node without a JSON-RPC error",
                 res.http_status);
        res.message = msg;
        /* 5xx, 408 and 429 say "not now"; other statuses mean a wrong URL or a proxy refusing
         * us, which retrying will not fix. */
        if (res.http_status < 500 && res.http_status != 408 && res.http_status != 429)
            res.outcome = FNN_PERMANENT;
        goto deliver;
    }
    json_t *result = root != NULL ? json_object_get(root, "result") : NULL;
    if (!json_is_object(root) || result == NULL) {
        res.message = root == NULL ? "invalid JSON from node" : "node answer has no result";
        goto deliver;
    }
    json_t *id = json_object_get(root, "id");
    if (json_is_integer(id) && (uint64_t)json_integer_value(id) != call->id) {
        res.message = "node answered with another request id";
        goto deliver;
    }
    res.outcome = FNN_OK;
    res.result = result;

deliver:
    call_finish(call, &res);
    json_decref(root);
}

/* Drains curl's completion messages. Callbacks may start or cancel other calls meanwhile:
 * curl_multi_remove_handle drops a cancelled call's pending message, so the loop stays valid. */
static void check_done(struct fnn_client *c)
{
    CURLMsg *m;
    int left;
    c->dispatching++;
    while (!c->closing && (m = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct fnn_call *call = NULL;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&call);
        call_complete(call, rc);
    }
    c->dispatching--;
    if (c->closing && c->dispatching == 0)
        client_destroy(c);
}

static void on_deferred(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct fnn_call *call = container_of(w, struct fnn_call, deferred);
    struct fnn_client *c = call->client;
    struct fnn_result res = {.outcome = FNN_TRANSIENT,
                             .message = call->refused ? "too many node calls in flight"
                                                      : "cannot start the transfer"};
    c->dispatching++;
    call_finish(call, &res);
    c->dispatching--;
    if (c->closing && c->dispatching == 0)
        client_destroy(c);
}

/* ---- libcurl ↔ libev glue ---- */

static void on_sock(struct ev_loop *loop, ev_io *w, int revents)
{
    struct fnn_sock *s = container_of(w, struct fnn_sock, io);
    /* curl may free s inside socket_action (CURL_POLL_REMOVE): copy what we need first. */
    struct fnn_client *c = s->client;
    curl_socket_t fd = s->fd;
    int action =
        ((revents & EV_READ) ? CURL_CSELECT_IN : 0) | ((revents & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(c->multi, fd, action, &running);
    check_done(c);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct fnn_client *c = container_of(w, struct fnn_client, timer);
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

/* CURLMOPT_TIMERFUNCTION: only arms a watcher, so curl_multi_add_handle inside fnn_call() can
 * never lead to a completion before fnn_call() returns. */
static int timer_fn(CURLM *multi, long timeout_ms, void *data)
{
    struct fnn_client *c = data;
    ev_timer_stop(c->loop, &c->timer);
    if (timeout_ms >= 0) {
        ev_timer_set(&c->timer, (double)timeout_ms / 1000.0, 0.0);
        ev_timer_start(c->loop, &c->timer);
    }
    return 0;
}

/* CURLMOPT_SOCKETFUNCTION */
static int socket_fn(CURL *easy, curl_socket_t fd, int what, void *data, void *sockp)
{
    struct fnn_client *c = data;
    struct fnn_sock *s = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            ev_io_stop(c->loop, &s->io);
            free(s);
        }
        curl_multi_assign(c->multi, fd, NULL);
        return 0;
    }
    if (s == NULL) {
        s = xcalloc(1, sizeof *s);
        s->fd = fd;
        s->client = c;
        curl_multi_assign(c->multi, fd, s);
    } else {
        ev_io_stop(c->loop, &s->io);
    }
    int events = ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    ev_io_init(&s->io, on_sock, fd, events);
    ev_io_start(c->loop, &s->io);
    return 0;
}

static size_t write_fn(char *ptr, size_t size, size_t nmemb, void *data)
{
    struct fnn_call *call = data;
    size_t n = size * nmemb;
    if (call->len + n > FNN_MAX_RESPONSE) {
        call->too_large = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (call->len + n + 1 > call->cap) {
        size_t cap = call->cap ? call->cap : 4096;
        while (cap < call->len + n + 1)
            cap *= 2;
        call->body = xrealloc(call->body, cap);
        call->cap = cap;
    }
    memcpy(call->body + call->len, ptr, n);
    call->len += n;
    call->body[call->len] = '\0';
    return n;
}

/* ---- client ---- */

static int host_is_numeric(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Resolves host once (start-up only) and prepares "host:port:addr" for CURLOPT_RESOLVE so curl
 * never needs its resolver thread. Numeric hosts need nothing: curl converts them in place. */
static int client_pin_host(struct fnn_client *c, CURLU *u, char *err, size_t errsz)
{
    char *host = NULL, *port = NULL;
    struct addrinfo *ai = NULL;
    int rc = -1;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        snprintf(err, errsz, "%s has no host or port", c->setting);
        goto fail;
    }
    char bare[256];
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']')
        snprintf(bare, sizeof bare, "%.*s", (int)(hl - 2), host + 1);
    else
        snprintf(bare, sizeof bare, "%s", host);
    if (host_is_numeric(bare)) {
        rc = 0;
        goto fail;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int gai = getaddrinfo(bare, port, &hints, &ai);
    if (gai != 0 || ai == NULL) {
        snprintf(err, errsz, "cannot resolve %s host %s: %s", c->node, bare, gai_strerror(gai));
        goto fail;
    }
    /* Hand curl every address (IPv4 and IPv6 alike) and let it pick one that connects: a name
     * such as "localhost" often lists ::1 first while the node listens on 127.0.0.1 only. */
    char list[512] = "";
    size_t used = 0;
    int naddr = 0;
    for (struct addrinfo *p = ai; p != NULL && naddr < 8; p = p->ai_next) {
        char addr[INET6_ADDRSTRLEN];
        const void *sa = p->ai_family == AF_INET6
                             ? (const void *)&((struct sockaddr_in6 *)p->ai_addr)->sin6_addr
                             : (const void *)&((struct sockaddr_in *)p->ai_addr)->sin_addr;
        if ((p->ai_family != AF_INET && p->ai_family != AF_INET6) ||
            inet_ntop(p->ai_family, sa, addr, sizeof addr) == NULL)
            continue;
        int n = snprintf(list + used, sizeof list - used,
                         p->ai_family == AF_INET6 ? "%s[%s]" : "%s%s", naddr > 0 ? "," : "", addr);
        if (n < 0 || (size_t)n >= sizeof list - used)
            break;
        used += (size_t)n;
        naddr++;
    }
    if (naddr == 0) {
        snprintf(err, errsz, "no usable address for %s host %s", c->node, bare);
        goto fail;
    }
    char *entry = xasprintf("%s:%s:%s", bare, port, list);
    c->resolve = curl_slist_append(NULL, entry);
    free(entry);
    log_event(LOG_INFO, "fnn.resolved", "host=%s port=%s addrs=%s", bare, port, list);
    rc = 0;
fail:
    if (ai != NULL)
        freeaddrinfo(ai);
    curl_free(host);
    curl_free(port);
    return rc;
}

struct fnn_client *fnn_client_new(struct ev_loop *loop, const char *url, const char *token,
                                  int default_timeout_ms, char *err, size_t errsz)
{
    return fnn_client_new_named(loop, url, token, default_timeout_ms, "fnn_rpc_url", "Fiber node",
                                err, errsz);
}

struct fnn_client *fnn_client_new_named(struct ev_loop *loop, const char *url, const char *token,
                                        int default_timeout_ms, const char *setting,
                                        const char *node, char *err, size_t errsz)
{
    struct fnn_client *c = NULL;
    CURLU *u = NULL;
    char *scheme = NULL;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errsz, "curl_global_init failed");
        goto fail;
    }
    u = curl_url();
    if (u == NULL || url == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
        snprintf(err, errsz, "%s is not a valid URL", setting);
        goto fail;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        snprintf(err, errsz, "%s must be http:// or https://", setting);
        goto fail;
    }
    c = xcalloc(1, sizeof *c);
    c->loop = loop;
    c->default_timeout_ms = default_timeout_ms > 0 ? default_timeout_ms : 5000;
    c->url = xstrdup(url);
    c->setting = setting;
    c->node = node;
    if (token != NULL && token[0] != '\0')
        c->auth_header = xasprintf("Authorization: Bearer %s", token);
    if (client_pin_host(c, u, err, errsz) < 0)
        goto fail;
    c->multi = curl_multi_init();
    if (c->multi == NULL) {
        snprintf(err, errsz, "curl_multi_init failed");
        goto fail;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_fn);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    ev_init(&c->timer, on_timer);
    curl_free(scheme);
    curl_url_cleanup(u);
    return c;

fail:
    curl_free(scheme);
    curl_url_cleanup(u);
    if (c != NULL)
        client_destroy(c);
    return NULL;
}

static void client_destroy(struct fnn_client *c)
{
    while (c->calls != NULL)
        call_destroy(c->calls);
    if (c->loop != NULL)
        ev_timer_stop(c->loop, &c->timer);
    if (c->multi != NULL)
        curl_multi_cleanup(c->multi); /* reports CURL_POLL_REMOVE for open sockets */
    curl_slist_free_all(c->resolve);
    if (c->auth_header != NULL) {
        memset(c->auth_header, 0, strlen(c->auth_header));
        free(c->auth_header);
    }
    free(c->url);
    free(c);
}

void fnn_client_free(struct fnn_client *c)
{
    if (c == NULL)
        return;
    if (c->dispatching > 0) {
        /* Called from a completion callback: the dispatch loop up the stack still holds c. */
        c->closing = 1;
        while (c->calls != NULL)
            call_destroy(c->calls);
        return;
    }
    client_destroy(c);
}

void fnn_client_set_limits(struct fnn_client *c, int max_connections, unsigned max_owned)
{
    c->max_owned = max_owned;
    if (max_connections > 0) {
        /* Without a cap curl opens one connection per concurrent transfer; with it, transfers
         * beyond the cap wait inside curl for a free connection (their deadline still runs). */
        curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)max_connections);
        curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)max_connections);
        curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)max_connections);
    }
}

unsigned fnn_client_cancel_owner(struct fnn_client *c, uint64_t owner)
{
    unsigned n = 0;
    if (c == NULL || owner == 0)
        return 0;
    struct fnn_call *call = c->calls;
    while (call != NULL) {
        struct fnn_call *next = call->next;
        if (call->owner == owner) {
            call_destroy(call);
            n++;
        }
        call = next;
    }
    return n;
}

unsigned fnn_client_inflight(const struct fnn_client *c)
{
    return c->inflight;
}

static int call_setup(struct fnn_client *c, struct fnn_call *call, int timeout_ms)
{
    call->easy = curl_easy_init();
    if (call->easy == NULL)
        return -1;
    call->headers = curl_slist_append(NULL, "Content-Type: application/json");
    call->headers = curl_slist_append(call->headers, "Accept: application/json");
    call->headers = curl_slist_append(call->headers, "Expect:");
    if (c->auth_header != NULL)
        call->headers = curl_slist_append(call->headers, c->auth_header);
    CURL *e = call->easy;
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (c->resolve != NULL)
        curl_easy_setopt(e, CURLOPT_RESOLVE, c->resolve);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->headers);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->request);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(call->request));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_fn);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(e, CURLOPT_PRIVATE, call);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
        return -1;
    return 0;
}

/* Starts a call whose "params" member is plist (stolen), sent as it is. */
static struct fnn_call *call_start(struct fnn_client *c, const char *method, json_t *plist,
                                   int positional, int timeout_ms, fnn_cb cb, void *ctx)
{
    struct fnn_call *call = xcalloc(1, sizeof *call);
    call->client = c;
    call->positional = positional;
    call->cb = cb;
    call->ctx = ctx;
    call->id = ++c->next_id;
    snprintf(call->method, sizeof call->method, "%s", method);
    ev_timer_init(&call->deferred, on_deferred, 0.0, 0.0);
    call->owner = owner_current();
    /* API requests share a bounded number of node calls; module work (poller, runner, readiness)
     * has no owner and is bounded by its module. */
    call->refused = call->owner != 0 && c->max_owned > 0 && c->owned_inflight >= c->max_owned;
    call_link(c, call);
    if (call->refused) {
        if (ev_now(c->loop) - c->full_logged_at >= 1.0) {
            log_event(LOG_WARN, "fnn.client_full", "inflight=%u max=%u", c->owned_inflight - 1,
                      c->max_owned);
            c->full_logged_at = ev_now(c->loop);
        }
        json_decref(plist);
        ev_timer_start(c->loop, &call->deferred);
        return call;
    }

    json_t *req = json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id", (json_int_t)call->id,
                            "method", method, "params", plist);
    call->request = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (timeout_ms <= 0)
        timeout_ms = c->default_timeout_ms;
    if (call->request == NULL || call_setup(c, call, timeout_ms) < 0) {
        /* Report the failure from the loop: the caller must never see its callback early. */
        if (call->easy != NULL) {
            curl_multi_remove_handle(c->multi, call->easy);
            curl_easy_cleanup(call->easy);
            call->easy = NULL;
        }
        ev_timer_start(c->loop, &call->deferred);
    }
    log_event(LOG_DEBUG, "fnn.call", "method=%s id=%llu timeout_ms=%d", call->method,
              (unsigned long long)call->id, timeout_ms);
    return call;
}

struct fnn_call *fnn_call(struct fnn_client *c, const char *method, json_t *params, int timeout_ms,
                          fnn_cb cb, void *ctx)
{
    /* FNN takes one params object, wrapped in a one-element array. */
    json_t *plist = json_array();
    if (params != NULL)
        json_array_append_new(plist, params);
    return call_start(c, method, plist, 0, timeout_ms, cb, ctx);
}

struct fnn_call *fnn_call_positional(struct fnn_client *c, const char *method, json_t *params,
                                     int timeout_ms, fnn_cb cb, void *ctx)
{
    return call_start(c, method, params != NULL ? params : json_array(), 1, timeout_ms, cb, ctx);
}

void fnn_call_cancel(struct fnn_call *call)
{
    if (call != NULL)
        call_destroy(call);
}

/* ---- decoders ---- */

int fnn_hash256_normalize(const char *s, char out[67])
{
    if (s == NULL)
        return -1;
    if (s[0] == '0' && s[1] == 'x')
        s += 2;
    if (strlen(s) != 64)
        return -1;
    out[0] = '0';
    out[1] = 'x';
    for (int i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)s[i]))
            return -1;
        out[2 + i] = (char)tolower((unsigned char)s[i]);
    }
    out[66] = '\0';
    return 0;
}

static const char *const invoice_status_names[] = {
    [FNN_INV_UNKNOWN] = "Unknown",     [FNN_INV_OPEN] = "Open",
    [FNN_INV_CANCELLED] = "Cancelled", [FNN_INV_EXPIRED] = "Expired",
    [FNN_INV_RECEIVED] = "Received",   [FNN_INV_PAID] = "Paid",
};

const char *fnn_invoice_status_name(enum fnn_invoice_status s)
{
    if ((unsigned)s >= FL_ARRAY_LEN(invoice_status_names))
        return "Unknown";
    return invoice_status_names[s];
}

int fnn_invoice_status_parse(const char *s, enum fnn_invoice_status *out)
{
    for (unsigned i = FNN_INV_OPEN; s != NULL && i < FL_ARRAY_LEN(invoice_status_names); i++) {
        if (strcmp(s, invoice_status_names[i]) == 0) {
            *out = (enum fnn_invoice_status)i;
            return 0;
        }
    }
    return -1;
}

static const char *const payment_status_names[] = {
    [FNN_PAY_CREATED] = "Created",
    [FNN_PAY_INFLIGHT] = "Inflight",
    [FNN_PAY_SUCCESS] = "Success",
    [FNN_PAY_FAILED] = "Failed",
};

/* A u64 from an FNN hex string field; 0 or -1. */
static int get_hex(json_t *v, uint64_t *out)
{
    if (!json_is_string(v))
        return -1;
    return u128hex_decode(json_string_value(v), json_string_length(v), out);
}

/* ---- scripts ---- */

/* Script hash types by name, with the byte molecule stores for each. */
static const struct {
    const char *name;
    uint8_t byte;
} script_hash_types[] = {{"data", 0}, {"type", 1}, {"data1", 2}, {"data2", 4}};

/* The u32 (little-endian) at byte offset at of hex digits s. */
static uint32_t molecule_u32(const char *s, size_t at)
{
    uint8_t b[4] = {0};
    (void)hex_decode(s + 2 * at, 8, b, 4); /* the caller checked every digit */
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

int fnn_script_decode_molecule(const char *hex, struct fnn_script *out)
{
    /* A Script table has three fields, code_hash (Byte32), hash_type (byte) and args (Bytes),
     * behind a header of four u32: the total size, then each field's offset. The first two
     * fields are fixed-size, so a well-formed table has offsets 16, 48 and 49 exactly, and args
     * is a u32 length followed by that many bytes, ending the table. */
    enum { HEADER = 16, CODE_HASH_AT = 16, HASH_TYPE_AT = 48, ARGS_AT = 49, MIN_SIZE = 53 };
    memset(out, 0, sizeof *out);
    if (hex == NULL || strncmp(hex, "0x", 2) != 0)
        return -1;
    const char *s = hex + 2;
    size_t digits = strlen(s);
    if (digits % 2 != 0 || digits / 2 < MIN_SIZE || digits / 2 > UINT32_MAX)
        return -1;
    for (size_t i = 0; i < digits; i++) {
        if (!isxdigit((unsigned char)s[i]))
            return -1;
    }
    size_t size = digits / 2;
    if (molecule_u32(s, 0) != size || molecule_u32(s, 4) != HEADER ||
        molecule_u32(s, 8) != HASH_TYPE_AT || molecule_u32(s, 12) != ARGS_AT ||
        molecule_u32(s, ARGS_AT) != size - MIN_SIZE)
        return -1;
    (void)hex_decode(s + 2 * CODE_HASH_AT, 64, out->code_hash, 32);
    (void)hex_decode(s + 2 * HASH_TYPE_AT, 2, &out->hash_type, 1);
    out->args_len = size - MIN_SIZE;
    out->args_hex = s + 2 * MIN_SIZE;
    return 0;
}

int fnn_script_from_json(const json_t *script, struct fnn_script *out)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(script))
        return -1;
    const char *code_hash = json_string_value(json_object_get(script, "code_hash"));
    const char *hash_type = json_string_value(json_object_get(script, "hash_type"));
    const char *args = json_string_value(json_object_get(script, "args"));
    char norm[67];
    if (code_hash == NULL || hash_type == NULL || args == NULL || strncmp(args, "0x", 2) != 0 ||
        fnn_hash256_normalize(code_hash, norm) != 0 ||
        hex_decode(norm + 2, 64, out->code_hash, 32) != 0)
        return -1;
    int found = 0;
    for (size_t i = 0; i < FL_ARRAY_LEN(script_hash_types); i++) {
        if (strcmp(hash_type, script_hash_types[i].name) == 0) {
            out->hash_type = script_hash_types[i].byte;
            found = 1;
        }
    }
    size_t digits = strlen(args + 2);
    if (!found || digits % 2 != 0)
        return -1;
    for (size_t i = 0; i < digits; i++) {
        if (!isxdigit((unsigned char)args[2 + i]))
            return -1;
    }
    out->args_len = digits / 2;
    out->args_hex = args + 2;
    return 0;
}

int fnn_script_equal(const struct fnn_script *a, const struct fnn_script *b)
{
    return memcmp(a->code_hash, b->code_hash, sizeof a->code_hash) == 0 &&
           a->hash_type == b->hash_type && a->args_len == b->args_len &&
           (a->args_len == 0 || strncasecmp(a->args_hex, b->args_hex, 2 * a->args_len) == 0);
}

/* ---- invoices ---- */

/* One attrs entry. PascalCase forms come from older nodes: ExpiryTime is a Duration object. */
static int invoice_attr(json_t *attr, struct fnn_invoice *out, char *err, size_t errsz)
{
    const char *key;
    json_t *v;
    if (!json_is_object(attr)) {
        snprintf(err, errsz, "invoice attrs entry is not an object");
        return -1;
    }
    json_object_foreach (attr, key, v) {
        if (strcmp(key, "expiry_time") == 0) {
            if (get_hex(v, &out->expiry_s) < 0) {
                snprintf(err, errsz, "invoice expiry_time is not u64 hex");
                return -1;
            }
            out->has_expiry = 1;
        } else if (strcmp(key, "ExpiryTime") == 0) {
            json_t *secs = json_is_object(v) ? json_object_get(v, "secs") : v;
            if (json_is_integer(secs) && json_integer_value(secs) >= 0)
                out->expiry_s = (uint64_t)json_integer_value(secs);
            else if (get_hex(secs, &out->expiry_s) < 0) {
                snprintf(err, errsz, "invoice ExpiryTime has no usable secs");
                return -1;
            }
            out->has_expiry = 1;
        } else if (strcmp(key, "udt_script") == 0 || strcmp(key, "UdtScript") == 0) {
            /* What the invoice is payable in decides whose money it moves: a second UDT
             * attribute, or one that does not decode, makes the whole invoice unusable. */
            int bad = out->has_udt;
            if (!bad)
                bad = json_is_object(v)
                          ? fnn_script_from_json(v, &out->udt)
                          : fnn_script_decode_molecule(json_string_value(v), &out->udt);
            if (bad) {
                snprintf(err, errsz, "invoice udt_script is %s",
                         out->has_udt ? "given twice" : "not a molecule Script");
                return -1;
            }
            out->has_udt = 1;
        }
        /* description, payee_public_key, hash_algorithm … are not needed here. */
    }
    return 0;
}

int fnn_invoice_decode(json_t *result, struct fnn_invoice *out, char *err, size_t errsz)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(result)) {
        snprintf(err, errsz, "result is not an object");
        return -1;
    }
    json_t *addr = json_object_get(result, "invoice_address");
    if (addr != NULL && !json_is_null(addr)) {
        if (!json_is_string(addr)) {
            snprintf(err, errsz, "invoice_address is not a string");
            return -1;
        }
        out->invoice_address = json_string_value(addr);
    }
    json_t *inv = json_object_get(result, "invoice");
    if (!json_is_object(inv)) {
        snprintf(err, errsz, "result has no invoice object");
        return -1;
    }
    json_t *cur = json_object_get(inv, "currency");
    const char *cs = json_string_value(cur);
    if (cs == NULL ||
        (strcmp(cs, "Fibb") != 0 && strcmp(cs, "Fibt") != 0 && strcmp(cs, "Fibd") != 0)) {
        snprintf(err, errsz, "invoice currency is not Fibb, Fibt or Fibd");
        return -1;
    }
    snprintf(out->currency, sizeof out->currency, "%s", cs);
    json_t *amount = json_object_get(inv, "amount");
    if (amount != NULL && !json_is_null(amount)) {
        if (get_hex(amount, &out->amount) < 0) {
            snprintf(err, errsz, "invoice amount is not u128 hex within 64 bits");
            return -1;
        }
        out->has_amount = 1;
    }
    json_t *data = json_object_get(inv, "data");
    if (!json_is_object(data)) {
        snprintf(err, errsz, "invoice has no data object");
        return -1;
    }
    if (get_hex(json_object_get(data, "timestamp"), &out->timestamp_ms) < 0) {
        snprintf(err, errsz, "invoice timestamp is not u64 hex");
        return -1;
    }
    if (fnn_hash256_normalize(json_string_value(json_object_get(data, "payment_hash")),
                              out->payment_hash) < 0) {
        snprintf(err, errsz, "invoice payment_hash is not a Hash256");
        return -1;
    }
    json_t *attrs = json_object_get(data, "attrs");
    if (attrs != NULL && !json_is_null(attrs)) {
        if (!json_is_array(attrs)) {
            snprintf(err, errsz, "invoice attrs is not an array");
            return -1;
        }
        size_t i;
        json_t *a;
        json_array_foreach (attrs, i, a) {
            if (invoice_attr(a, out, err, errsz) < 0)
                return -1;
        }
    }
    json_t *status = json_object_get(result, "status");
    if (status != NULL && !json_is_null(status) &&
        fnn_invoice_status_parse(json_string_value(status), &out->status) < 0) {
        snprintf(err, errsz, "unknown invoice status");
        return -1;
    }
    return 0;
}

int fnn_payment_decode(json_t *result, struct fnn_payment *out, char *err, size_t errsz)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(result)) {
        snprintf(err, errsz, "result is not an object");
        return -1;
    }
    if (fnn_hash256_normalize(json_string_value(json_object_get(result, "payment_hash")),
                              out->payment_hash) < 0) {
        snprintf(err, errsz, "payment_hash is not a Hash256");
        return -1;
    }
    const char *st = json_string_value(json_object_get(result, "status"));
    for (unsigned i = FNN_PAY_CREATED; st != NULL && i < FL_ARRAY_LEN(payment_status_names); i++) {
        if (strcmp(st, payment_status_names[i]) == 0)
            out->status = (enum fnn_payment_status)i;
    }
    if (out->status == FNN_PAY_UNKNOWN) {
        snprintf(err, errsz, "unknown payment status");
        return -1;
    }
    static const struct {
        const char *name;
        size_t off;
    } nums[] = {
        {"fee", offsetof(struct fnn_payment, fee)},
        {"created_at", offsetof(struct fnn_payment, created_at_ms)},
        {"last_updated_at", offsetof(struct fnn_payment, last_updated_at_ms)},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(nums); i++) {
        json_t *v = json_object_get(result, nums[i].name);
        if (v == NULL || json_is_null(v))
            continue;
        if (get_hex(v, (uint64_t *)((char *)out + nums[i].off)) < 0) {
            snprintf(err, errsz, "%s is not u128 hex within 64 bits", nums[i].name);
            return -1;
        }
    }
    json_t *fe = json_object_get(result, "failed_error");
    if (fe != NULL && !json_is_null(fe)) {
        if (!json_is_string(fe)) {
            snprintf(err, errsz, "failed_error is not a string");
            return -1;
        }
        out->failed_error = json_string_value(fe);
    }
    return 0;
}

/* ---- channels ---- */

int fnn_channels_total(json_t *result, const struct fnn_script *udt, struct fnn_channel_totals *out,
                       char *err, size_t errsz)
{
    memset(out, 0, sizeof *out);
    json_t *list = json_object_get(result, "channels");
    if (!json_is_array(list)) {
        snprintf(err, errsz, "channels is not an array");
        return -1;
    }
    size_t i;
    json_t *ch;
    json_array_foreach (list, i, ch) {
        if (!json_is_object(ch)) {
            snprintf(err, errsz, "channels[%zu] is not an object", i);
            return -1;
        }
        const char *state =
            json_string_value(json_object_get(json_object_get(ch, "state"), "state_name"));
        if (state != NULL && strcmp(state, "Closed") == 0)
            continue;
        uint64_t local;
        if (get_hex(json_object_get(ch, "local_balance"), &local) < 0) {
            snprintf(err, errsz, "channels[%zu].local_balance is not u128 hex within 64 bits", i);
            return -1;
        }
        json_t *script = json_object_get(ch, "funding_udt_type_script");
        uint64_t *sum = &out->ckb_local;
        unsigned *count = &out->ckb_channels;
        if (script != NULL && !json_is_null(script)) {
            struct fnn_script s;
            if (fnn_script_from_json(script, &s) < 0) {
                snprintf(err, errsz, "channels[%zu].funding_udt_type_script is not a Script", i);
                return -1;
            }
            if (udt == NULL || !fnn_script_equal(&s, udt)) {
                out->other_channels++;
                continue;
            }
            sum = &out->udt_local;
            count = &out->udt_channels;
        }
        if (local > UINT64_MAX - *sum) {
            snprintf(err, errsz, "the local balances add up beyond 64 bits");
            return -1;
        }
        *sum += local;
        (*count)++;
    }
    return 0;
}
