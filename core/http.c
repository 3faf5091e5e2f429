/* h2o server plumbing; see http.h. h2o's own path routing is first-match by prefix, so a single
 * catch-all handler is registered and this module does exact matching itself (which also lets
 * "//rpc" be served as "/rpc" and gives 405 for a known path with another method). */
#include "core/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"

#define HTTP_MAX_ROUTES 32
/* File descriptors kept free for Postgres, the Fiber node client and the listeners when the
 * connection cap is fitted under RLIMIT_NOFILE. */
#define HTTP_FD_RESERVE 256
/* Seconds between two "connection cap reached" warnings, so an attack does not flood the log. */
#define HTTP_CAP_LOG_INTERVAL 10.0

struct http_route {
    char *method; /* NULL: any */
    char *path;
    http_handler_fn fn;
    void *data;
};

struct http_listener {
    char *addr;
    int fd;
    int port;
    h2o_socket_t *sock;
};

struct catchall_handler {
    h2o_handler_t super;
    struct http_server *server;
};

struct http_server {
    struct loop *loop;
    h2o_globalconf_t globalconf;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    SSL_CTX *ssl_ctx;
    struct http_listener listeners[8];
    int nlisteners;
    struct http_route routes[HTTP_MAX_ROUTES];
    int nroutes;
    unsigned inflight;
    int shutdown_requested;
    unsigned conns;     /* accepted sockets not yet closed (TLS handshakes included) */
    unsigned max_conns; /* 0: no cap */
    int accept_paused;  /* listeners stopped at the cap */
    double cap_logged_at;
    unsigned max_abandoned; /* 0: no budget */
};

/* One per accepted socket, found again through the socket's on_close hook (h2o keeps its own
 * connection structs private). */
struct http_conn {
    struct http_server *server;
    unsigned abandoned; /* requests disposed before they were answered */
    int cut;
};

/* Counts a request until its pool is torn down (answered and sent, or the client left). */
struct inflight_token {
    struct http_server *server;
    h2o_req_t *req;
};

static void on_conn_close(void *data);

static struct http_conn *conn_of(h2o_req_t *req)
{
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->on_close.cb != on_conn_close)
        return NULL;
    return sock->on_close.data;
}

/* h2o 2.2.5 lets an HTTP/2 client open streams and reset them at once without bound
 * (CVE-2023-44487, "rapid reset"): the concurrency limit counts only live streams, so a request
 * handed to the database and then reset leaves its work behind while the client opens the next.
 * A connection whose client abandons more requests than the budget is cut: shutting the socket
 * down makes h2o fail its next read and tear the connection down through its own paths. */
static void count_abandoned(struct http_server *s, h2o_req_t *req)
{
    struct http_conn *c;
    if (s->max_abandoned == 0 || req->res.status != 0 || (c = conn_of(req)) == NULL || c->cut)
        return;
    if (++c->abandoned <= s->max_abandoned)
        return;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    int fd = h2o_socket_get_fd(sock);
    c->cut = 1;
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    log_event(LOG_WARN, "http.abandoned_budget", "conn=%llu abandoned=%u",
              (unsigned long long)req->conn->id, c->abandoned);
}

static void inflight_release(void *p)
{
    struct inflight_token *t = p;
    t->server->inflight--;
    count_abandoned(t->server, t->req);
}

static void send_status(h2o_req_t *req, int status, const char *reason)
{
    char body[96];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}", reason);
    http_send(req, status, "application/json", body, (size_t)n);
}

static int on_request(h2o_handler_t *self, h2o_req_t *req)
{
    struct http_server *s = ((struct catchall_handler *)self)->server;
    struct inflight_token *t = h2o_mem_alloc_shared(&req->pool, sizeof *t, inflight_release);
    t->server = s;
    t->req = req;
    s->inflight++;

    /* A service URL configured with a trailing '/' yields "//rpc": collapse leading slashes. */
    const char *p = req->path_normalized.base;
    size_t len = req->path_normalized.len;
    while (len > 1 && p[0] == '/' && p[1] == '/') {
        p++;
        len--;
    }
    int path_known = 0;
    for (int i = 0; i < s->nroutes; i++) {
        struct http_route *r = &s->routes[i];
        if (strlen(r->path) != len || memcmp(r->path, p, len) != 0)
            continue;
        path_known = 1;
        if (r->method != NULL &&
            !h2o_memis(req->method.base, req->method.len, r->method, strlen(r->method)))
            continue;
        return r->fn(r->data, req);
    }
    if (path_known)
        send_status(req, 405, "Method Not Allowed");
    else
        send_status(req, 404, "Not Found");
    return 0;
}

static SSL_CTX *tls_setup(const char *cert, const char *key, char *err, size_t errsz)
{
    SSL_CTX *ssl = SSL_CTX_new(TLS_server_method());
    if (ssl == NULL)
        goto fail;
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    SSL_CTX_set_options(ssl, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ssl, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ssl, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ssl) != 1)
        goto fail;
    /* Offers h2 first, then http/1.1. */
    h2o_ssl_register_alpn_protocols(ssl, h2o_http2_alpn_protocols);
    return ssl;
fail:
    snprintf(err, errsz, "cannot load TLS certificate %s / key %s", cert, key);
    ERR_clear_error();
    if (ssl != NULL)
        SSL_CTX_free(ssl);
    return NULL;
}

struct http_server *http_server_new(struct loop *loop, const struct http_server_config *cfg,
                                    char *err, size_t errsz)
{
    struct http_server *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    h2o_config_init(&s->globalconf);
    s->globalconf.max_request_entity_size = cfg->max_body;
    if (cfg->http1_req_timeout_ms != 0)
        s->globalconf.http1.req_timeout = cfg->http1_req_timeout_ms;
    if (cfg->http2_idle_timeout_ms != 0)
        s->globalconf.http2.idle_timeout = cfg->http2_idle_timeout_ms;
    if (cfg->handshake_timeout_ms != 0)
        s->globalconf.handshake_timeout = cfg->handshake_timeout_ms;
    if (cfg->http2_max_concurrent_streams != 0)
        s->globalconf.http2.max_concurrent_requests_per_connection =
            cfg->http2_max_concurrent_streams;
    s->max_conns = cfg->max_connections;
    s->max_abandoned = cfg->max_abandoned_requests;
    if (cfg->server_name != NULL)
        s->globalconf.server_name = h2o_iovec_init(cfg->server_name, strlen(cfg->server_name));
    h2o_hostconf_t *host =
        h2o_config_register_host(&s->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(host, "/", 0);
    struct catchall_handler *h = (struct catchall_handler *)h2o_create_handler(pathconf, sizeof *h);
    h->super.on_req = on_request;
    h->server = s;
    h2o_context_init(&s->ctx, loop->h2o, &s->globalconf);
    s->accept_ctx.ctx = &s->ctx;
    s->accept_ctx.hosts = s->globalconf.hosts;
    if (cfg->tls_cert != NULL && cfg->tls_key != NULL) {
        s->ssl_ctx = tls_setup(cfg->tls_cert, cfg->tls_key, err, errsz);
        if (s->ssl_ctx == NULL)
            goto fail;
        s->accept_ctx.ssl_ctx = s->ssl_ctx;
    }
    for (int i = 0; i < cfg->nlisten && i < (int)FL_ARRAY_LEN(s->listeners); i++) {
        s->listeners[i].addr = xstrdup(cfg->listen[i]);
        s->listeners[i].fd = -1;
        s->nlisteners++;
    }
    return s;
fail:
    http_server_free(s);
    return NULL;
}

void http_server_route(struct http_server *s, const char *method, const char *path,
                       http_handler_fn fn, void *data)
{
    if (s->nroutes == HTTP_MAX_ROUTES) {
        log_event(LOG_ERROR, "http.route", "error=\"too many routes\" path=%s", path);
        abort();
    }
    struct http_route *r = &s->routes[s->nroutes++];
    r->method = method != NULL ? xstrdup(method) : NULL;
    r->path = xstrdup(path);
    r->fn = fn;
    r->data = data;
}

static void on_accept(h2o_socket_t *listener, const char *errstr);

static void accept_pause(struct http_server *s)
{
    s->accept_paused = 1;
    for (int i = 0; i < s->nlisteners; i++)
        if (s->listeners[i].sock != NULL)
            h2o_socket_read_stop(s->listeners[i].sock);
    double now = ev_now(s->loop->ev);
    if (s->cap_logged_at == 0 || now - s->cap_logged_at >= HTTP_CAP_LOG_INTERVAL) {
        s->cap_logged_at = now;
        log_event(LOG_WARN, "http.max_connections", "connections=%u", s->conns);
    }
}

static void accept_resume(struct http_server *s)
{
    s->accept_paused = 0;
    for (int i = 0; i < s->nlisteners; i++)
        if (s->listeners[i].sock != NULL)
            h2o_socket_read_start(s->listeners[i].sock, on_accept);
}

/* h2o calls this as it disposes an accepted socket, whichever protocol it ended up with. */
static void on_conn_close(void *data)
{
    struct http_conn *c = data;
    struct http_server *s = c->server;
    free(c);
    s->conns--;
    if (s->accept_paused && s->conns < s->max_conns && !s->shutdown_requested)
        accept_resume(s);
}

static void on_accept(h2o_socket_t *listener, const char *errstr)
{
    struct http_server *s = container_of(listener->data, struct http_server, accept_ctx);
    if (errstr != NULL)
        return;
    /* Accept a bounded batch per readiness so one busy listener cannot starve the loop. Past
     * the cap the kernel's backlog holds new connections until one closes, rather than an
     * accept() that fails (EMFILE) and leaves the listener readable forever. */
    for (int i = 0; i < 32; i++) {
        if (s->max_conns != 0 && s->conns >= s->max_conns) {
            accept_pause(s);
            return;
        }
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            return;
        struct http_conn *c = xcalloc(1, sizeof *c);
        c->server = s;
        s->conns++;
        sock->on_close.cb = on_conn_close;
        sock->on_close.data = c;
        h2o_accept(&s->accept_ctx, sock);
    }
}

/* Fits the cap under the descriptor limit, raising the soft limit toward the hard one first. */
static void fit_connection_cap(struct http_server *s)
{
    struct rlimit rl;
    if (s->max_conns == 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)s->max_conns + HTTP_FD_RESERVE;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        unsigned fit = rl.rlim_cur > 2 * HTTP_FD_RESERVE ? (unsigned)(rl.rlim_cur - HTTP_FD_RESERVE)
                                                         : (unsigned)(rl.rlim_cur / 2);
        log_event(LOG_WARN, "http.max_connections_lowered",
                  "configured=%u effective=%u nofile=%llu", s->max_conns, fit,
                  (unsigned long long)rl.rlim_cur);
        s->max_conns = fit > 0 ? fit : 1;
    }
}

/* Splits "host:port" / "[v6]:port"; resolves host (start-up only) to a numeric sockaddr. */
static int bind_listener(struct http_listener *l, int backlog, char *err, size_t errsz)
{
    char host[256];
    const char *colon = strrchr(l->addr, ':');
    if (colon == NULL || colon == l->addr || (size_t)(colon - l->addr) >= sizeof host) {
        snprintf(err, errsz, "listen address '%s' is not host:port", l->addr);
        return -1;
    }
    memcpy(host, l->addr, (size_t)(colon - l->addr));
    host[colon - l->addr] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL) {
        snprintf(err, errsz, "cannot resolve listen address '%s'", l->addr);
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
        snprintf(err, errsz, "cannot listen on %s: %s", l->addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    l->fd = fd;
    return 0;
}

int http_server_start(struct http_server *s, char *err, size_t errsz)
{
    fit_connection_cap(s);
    for (int i = 0; i < s->nlisteners; i++) {
        struct http_listener *l = &s->listeners[i];
        if (bind_listener(l, 1024, err, errsz) != 0)
            return -1;
        l->sock = h2o_evloop_socket_create(s->loop->h2o, l->fd, H2O_SOCKET_FLAG_DONT_READ);
        l->sock->data = &s->accept_ctx;
        h2o_socket_read_start(l->sock, on_accept);
    }
    return 0;
}

void http_server_stop_accepting(struct http_server *s)
{
    if (!s->shutdown_requested) {
        s->shutdown_requested = 1;
        h2o_context_request_shutdown(&s->ctx);
        /* h2o 2.2.5 leaves idle keep-alive connections open until their idle timeout. Zero
         * timeouts expire them on the next loop turn: an HTTP/1.1 connection waiting for its next
         * request, or an HTTP/2 one with no open stream, closes; a request being answered is not
         * under either timeout and finishes. */
        s->ctx.http1.req_timeout.timeout = 0;
        s->ctx.http2.idle_timeout.timeout = 0;
    }
    for (int i = 0; i < s->nlisteners; i++) {
        struct http_listener *l = &s->listeners[i];
        if (l->sock != NULL) {
            h2o_socket_read_stop(l->sock);
            h2o_socket_close(l->sock); /* closes the fd */
            l->sock = NULL;
            l->fd = -1;
        }
    }
}

static unsigned list_length(const h2o_linklist_t *anchor)
{
    unsigned n = 0;
    for (const h2o_linklist_t *l = anchor->next; l != anchor; l = l->next)
        n++;
    return n;
}

unsigned http_server_connections(const struct http_server *s)
{
    return list_length(&s->ctx.http1._conns) + list_length(&s->ctx.http2._conns);
}

/* h2o_context_dispose asserts that none of the context's timeouts holds an entry. */
static int context_quiet(h2o_context_t *c)
{
    h2o_timeout_t *t[] = {&c->zero_timeout,      &c->one_sec_timeout,
                                &c->hundred_ms_timeout, &c->handshake_timeout,
                                &c->http1.req_timeout, &c->http2.idle_timeout,
                                &c->http2.graceful_shutdown_timeout};
    for (size_t i = 0; i < FL_ARRAY_LEN(t); i++)
        if (!h2o_linklist_is_empty(&t[i]->_entries))
            return 0;
    return 1;
}

int http_server_idle(struct http_server *s)
{
    return http_server_connections(s) == 0 && context_quiet(&s->ctx);
}

unsigned http_server_max_connections(const struct http_server *s)
{
    return s->max_conns;
}

unsigned http_server_inflight(const struct http_server *s)
{
    return s->inflight;
}

int http_server_port(const struct http_server *s, int n)
{
    return n >= 0 && n < s->nlisteners ? s->listeners[n].port : -1;
}

/* See http_server_free: volatile so the store that keeps it reachable is not optimised away. */
static struct http_server *volatile kept_until_exit;

void http_server_free(struct http_server *s)
{
    if (s == NULL)
        return;
    http_server_stop_accepting(s);
    for (int i = 0; i < s->nlisteners; i++)
        free(s->listeners[i].addr);
    for (int i = 0; i < s->nroutes; i++) {
        free(s->routes[i].method);
        free(s->routes[i].path);
    }
    /* With connections still open (the drain timed out) h2o cannot dispose its context; the
     * process exits next anyway. */
    if (http_server_idle(s)) {
        h2o_context_dispose(&s->ctx);
        h2o_config_dispose(&s->globalconf);
    } else {
        log_event(LOG_WARN, "http.dispose_skipped", "connections=%u",
                  http_server_connections(s));
        /* The open connections still point into the server and its context: keep them all
         * reachable until the process exits (next) instead of freeing half of them. */
        kept_until_exit = s;
        return;
    }
    if (s->ssl_ctx != NULL)
        SSL_CTX_free(s->ssl_ctx);
    free(s);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 301:
        return "Moved Permanently";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return status < 500 ? "Client Error" : "Server Error";
    }
}

void http_send(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
    /* Without content_length HTTP/1.1 answers go chunked. */
    req->res.content_length = len;
    h2o_send_inline(req, body, len);
}

void http_send_json(h2o_req_t *req, int status, const char *json)
{
    http_send(req, status, "application/json", json, strlen(json));
}

void http_add_header(h2o_req_t *req, const char *name, const char *value)
{
    size_t nlen = strlen(name), vlen = strlen(value);
    char *n = h2o_mem_alloc_pool(&req->pool, nlen);
    memcpy(n, name, nlen);
    char *v = h2o_mem_alloc_pool(&req->pool, vlen);
    memcpy(v, value, vlen);
    h2o_add_header_by_str(&req->pool, &req->res.headers, n, nlen, 1, NULL, v, vlen);
}

h2o_iovec_t http_header(h2o_req_t *req, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i < 0)
        return h2o_iovec_init(NULL, 0);
    return req->headers.entries[i].value;
}

void http_peer_address(h2o_req_t *req, char *buf, size_t bufsz)
{
    struct sockaddr_storage ss;
    snprintf(buf, bufsz, "-");
    if (req->conn == NULL || req->conn->callbacks->get_peername == NULL)
        return;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (len == 0)
        return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, (socklen_t)bufsz);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf, (socklen_t)bufsz);
}

void *http_req_alloc_shared(h2o_req_t *req, size_t size, void (*dispose)(void *))
{
    void *p = h2o_mem_alloc_shared(&req->pool, size, dispose);
    memset(p, 0, size);
    return p;
}
