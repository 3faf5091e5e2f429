/* HTTP server plumbing over h2o: listeners (HTTP/1.1, h2c by prior knowledge or Upgrade, h2 via
 * ALPN when TLS is configured), one exact-path route table (a leading "//" is served as "/"),
 * 404/405/413 answers, and helpers to answer from any callback.
 *
 * Handlers run on the loop. A handler either answers at once or keeps the request and answers
 * later (after loop_touch()); to learn that a kept request died (client gone), allocate the
 * handler's state with http_req_alloc_shared() and a dispose callback, as h2o's status handler does.
 * Request bodies arrive whole (h2o 2.2.5 buffers them); bodies above max_body get 413 from h2o.
 * The limits h2o 2.2.5 lacks against abusive clients (a connection cap, a per-connection budget
 * of abandoned requests) are enforced here; docs/operations.md lists them with measured figures. */
#ifndef FL_HTTP_H
#define FL_HTTP_H

#include <stddef.h>

#include "core/loop.h"

struct http_server;
/* Returns 0 (the handler answered or will answer). */
typedef int (*http_handler_fn)(void *data, h2o_req_t *req);

struct http_server_config {
    const char *const *listen; /* "host:port" (numeric IPv4/IPv6 in brackets, or "localhost") */
    int nlisten;
    const char *tls_cert;      /* NULL: plain only */
    const char *tls_key;
    size_t max_body;           /* request bodies above this → 413 */
    const char *server_name;   /* "server" header value, e.g. "fiberlinkd" */
    /* Limits against abusive clients; 0 keeps h2o's default (or, for the two counts, no limit). */
    unsigned max_connections;  /* at the cap the listeners stop accepting until one closes */
    unsigned http1_req_timeout_ms;  /* whole request head, and the wait between requests */
    unsigned http2_idle_timeout_ms; /* HTTP/2 connection with no request in progress */
    unsigned handshake_timeout_ms;  /* TLS handshake */
    unsigned http2_max_concurrent_streams;      /* requests of one connection run at once */
    unsigned max_abandoned_requests; /* requests of one connection the client gave up on before
                                      * their answer (HTTP/2 RST_STREAM); past it the connection
                                      * is cut */
};

struct http_server *http_server_new(struct loop *loop, const struct http_server_config *cfg,
                                    char *err, size_t errsz);
/* method NULL: any method. Same path with another method → 405. Call before http_server_start. */
void http_server_route(struct http_server *s, const char *method, const char *path,
                       http_handler_fn fn, void *data);
/* Binds and listens on every configured address; returns 0 or -1 with a message in err. */
int http_server_start(struct http_server *s, char *err, size_t errsz);
/* Graceful shutdown: closes the listening sockets and asks every connection to finish (idle
 * HTTP/1.1 connections close, HTTP/2 ones get GOAWAY and close once their streams are done). */
void http_server_stop_accepting(struct http_server *s);
/* Client connections still open. */
unsigned http_server_connections(const struct http_server *s);
/* 1 when no connection is open and h2o has no pending timer work left (closing sockets are
 * finished): the point where its context can be disposed. */
int http_server_idle(struct http_server *s);
/* The connection cap in force: max_connections, lowered at start when RLIMIT_NOFILE cannot hold
 * it (0: no cap). */
unsigned http_server_max_connections(const struct http_server *s);
/* Requests received and not yet answered (or disposed). */
unsigned http_server_inflight(const struct http_server *s);
/* Port the n-th listener bound to (useful with port 0). */
int http_server_port(const struct http_server *s, int n);
/* Frees the server; h2o's context is disposed only once no connection is left (h2o asserts
 * otherwise), which the drain on SIGTERM waits for. */
void http_server_free(struct http_server *s);

/* Answer helpers: body is copied into the request's pool; content-length is always set. */
void http_send(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len);
void http_send_json(h2o_req_t *req, int status, const char *json);
void http_add_header(h2o_req_t *req, const char *name, const char *value);
/* Value of a request header (name lowercase), or {NULL,0} when absent. */
h2o_iovec_t http_header(h2o_req_t *req, const char *name);
/* The client's address as numeric text ("127.0.0.1", "::1") into buf (≥ 46 bytes); "-" when
 * the connection cannot tell. The TCP peer, never a forwarded header. */
void http_peer_address(h2o_req_t *req, char *buf, size_t bufsz);
/* Allocates zeroed handler state tied to the request's lifetime; dispose (may be NULL) runs when
 * the request is destroyed, answered or not. */
void *http_req_alloc_shared(h2o_req_t *req, size_t size, void (*dispose)(void *));

#endif
