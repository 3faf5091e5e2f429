/* The asynchronous PostgreSQL pool described in storage/pg.h. Each connection is a small state
 * machine (waiting out a back-off, connecting, ready) driven by one ev_io and one ev_timer; a ready
 * connection runs libpq's pipeline mode and keeps the queries it has sent in a FIFO, because the
 * server answers them strictly in order. Queries that find no ready connection with room wait in a
 * pool-level FIFO. One pool timer enforces every deadline, and a zero-delay timer does the work
 * that must not happen inside pg_query() itself, so no callback ever runs before the call that
 * started its query has returned. */
#include "storage/pg.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/owner.h"

/* A pipeline deeper than this only adds latency to the queries at its tail; the rest wait in the
 * pool FIFO and go to whichever connection frees up first. */
#define PG_CONN_MAX_INFLIGHT 64
#define PG_BACKOFF_MIN 0.1
#define PG_BACKOFF_MAX 5.0
#define PG_CONNECT_TIMEOUT 10.0
/* Deadlines are checked at most this often, so a burst of queries with nearly equal deadlines costs
 * one scan rather than one per query. */
#define PG_DEADLINE_SLACK 0.01
#define PG_MAX_ADDRS_PER_HOST 4

enum pg_conn_state {
    PG_CONN_WAITING,    /* no socket; timer runs the back-off before the next attempt */
    PG_CONN_CONNECTING, /* PQconnectPoll in progress; timer is the connect deadline */
    PG_CONN_READY,      /* pipeline mode, accepting queries */
};

struct pg_query {
    struct pg_query *next;
    struct pg_pool *pool;
    pg_cb cb;
    void *ctx;
    ev_tstamp deadline;
    PGresult *res;           /* the statement's result while waiting for its sync */
    enum pg_outcome outcome; /* set when completion is decided, before the callback runs */
    int cancelled;
    owner_id owner; /* owner.h: current when the query started, current again in its callback */
    /* While queued: a private copy of the statement (the caller's strings are gone by then). */
    char *sql;
    int nparams;
    char **params;
};

struct pg_conn {
    struct pg_pool *pool;
    int id;
    enum pg_conn_state state;
    PGconn *pg;
    ev_io io;
    int io_fd;
    int io_events;
    ev_timer timer;
    ev_tstamp backoff;
    struct pg_query *head, *tail; /* sent, awaiting results, in order */
    int inflight;
    int broken; /* a send failed; the kick watcher resets the connection from the loop */
};

struct pg_pool {
    struct ev_loop *loop;
    char **keywords; /* connection parameters, NULL-terminated, host names already resolved */
    char **values;
    ev_tstamp connect_timeout;
    ev_tstamp default_timeout;
    int size;
    struct pg_conn *conns;
    struct pg_query *qhead, *qtail; /* waiting for a connection */
    unsigned pending;
    unsigned owned_pending;         /* of pending, those with an owner (API requests) */
    unsigned max_owned;             /* bound on owned_pending; 0 = none */
    struct pg_query *rhead, *rtail; /* refused (pool full); failed from the kick timer */
    ev_tstamp full_logged_at;
    ev_timer deadline;
    ev_tstamp deadline_at;
    ev_timer kick;
    int closing;
};

/* A list of queries whose outcome is decided; their callbacks run once all state is consistent. */
struct pg_done {
    struct pg_query *head, *tail;
};

static void conn_connect_start(struct pg_conn *c);

/* ---- small helpers ---- */

static void fifo_push(struct pg_query **head, struct pg_query **tail, struct pg_query *q)
{
    q->next = NULL;
    if (*tail != NULL)
        (*tail)->next = q;
    else
        *head = q;
    *tail = q;
}

static void done_add(struct pg_done *d, struct pg_query *q, enum pg_outcome outcome)
{
    q->outcome = outcome;
    fifo_push(&d->head, &d->tail, q);
}

static void query_free(struct pg_query *q)
{
    if (q->res != NULL)
        PQclear(q->res);
    free(q->sql);
    free(q->params);
    free(q);
}

/* Runs one callback (unless cancelled), then releases the result and the query. */
static void query_finish(struct pg_query *q, enum pg_outcome outcome, PGresult *res)
{
    struct pg_pool *p = q->pool;
    p->pending--;
    if (q->owner != 0)
        p->owned_pending--;
    if (!q->cancelled && q->cb != NULL) {
        owner_id prev = owner_enter(q->owner);
        q->cb(q->ctx, outcome, res);
        owner_leave(prev);
    }
    if (res != NULL && res != q->res)
        PQclear(res);
    query_free(q);
}

static void done_run(struct pg_done *d)
{
    while (d->head != NULL) {
        struct pg_query *q = d->head;
        d->head = q->next;
        PGresult *res = q->res;
        q->res = NULL;
        if (q->outcome == PG_TIMEOUT || q->outcome == PG_DOWN) {
            if (res != NULL)
                PQclear(res);
            res = NULL;
        }
        query_finish(q, q->outcome, res);
    }
    d->tail = NULL;
}

static const char *quote_error(char *buf, size_t bufsz, const char *msg)
{
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
        len--;
    return log_quote(buf, bufsz, msg, len);
}

/* Watch fd for events, always through ev_io_set: libpq may close a socket and open another with
 * the same number (SSL fallback, next host), and ev_io_set is how libev learns of that. */
static void conn_watch(struct pg_conn *c, int fd, int events)
{
    struct ev_loop *loop = c->pool->loop;
    if (ev_is_active(&c->io) && c->io_fd == fd && c->io_events == events)
        return;
    ev_io_stop(loop, &c->io);
    c->io_fd = fd;
    c->io_events = events;
    if (fd < 0 || events == 0)
        return;
    ev_io_set(&c->io, fd, events);
    ev_io_start(loop, &c->io);
}

static void deadline_note(struct pg_pool *p, ev_tstamp deadline)
{
    if (p->closing)
        return;
    if (ev_is_active(&p->deadline) && deadline >= p->deadline_at)
        return;
    ev_tstamp now = ev_now(p->loop);
    ev_timer_stop(p->loop, &p->deadline);
    ev_timer_set(&p->deadline, deadline > now ? deadline - now : 0., 0.);
    ev_timer_start(p->loop, &p->deadline);
    p->deadline_at = deadline;
}

static void pool_kick(struct pg_pool *p)
{
    if (!p->closing && !ev_is_active(&p->kick))
        ev_timer_start(p->loop, &p->kick);
}

/* ---- sending ---- */

/* 0 when the query is in this connection's pipeline; -1 (connection marked broken) otherwise. */
static int conn_send(struct pg_conn *c, struct pg_query *q, const char *sql, int nparams,
                     const char *const *params)
{
    if (!PQsendQueryParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0) ||
        !PQpipelineSync(c->pg))
        goto fail;
    fifo_push(&c->head, &c->tail, q);
    c->inflight++;
    int f = PQflush(c->pg);
    if (f < 0) {
        /* The query is in the pipeline now; the reset will fail it with PG_DOWN. */
        c->broken = 1;
        pool_kick(c->pool);
        return 0;
    }
    conn_watch(c, PQsocket(c->pg), EV_READ | (f == 1 ? EV_WRITE : 0));
    return 0;
fail:
    c->broken = 1;
    pool_kick(c->pool);
    return -1;
}

static struct pg_conn *pool_pick(struct pg_pool *p)
{
    struct pg_conn *best = NULL;
    for (int i = 0; i < p->size; i++) {
        struct pg_conn *c = &p->conns[i];
        if (c->state != PG_CONN_READY || c->broken || c->inflight >= PG_CONN_MAX_INFLIGHT)
            continue;
        if (best == NULL || c->inflight < best->inflight)
            best = c;
    }
    return best;
}

static void pool_dispatch(struct pg_pool *p)
{
    struct pg_conn *c;
    while (!p->closing && p->qhead != NULL && (c = pool_pick(p)) != NULL) {
        struct pg_query *q = p->qhead;
        p->qhead = q->next;
        if (p->qhead == NULL)
            p->qtail = NULL;
        if (conn_send(c, q, q->sql, q->nparams, (const char *const *)q->params) != 0) {
            q->next = p->qhead;
            p->qhead = q;
            if (p->qtail == NULL)
                p->qtail = q;
            continue; /* that connection is now broken; try another */
        }
        free(q->sql);
        free(q->params);
        q->sql = NULL;
        q->params = NULL;
    }
}

/* ---- connection life cycle ---- */

/* Closes the connection and moves its in-flight queries to done (PG_DOWN unless already decided).
 * Reconnects after delay (or the back-off when delay < 0). No callback runs here. */
static void conn_close(struct pg_conn *c, struct pg_done *done, ev_tstamp delay)
{
    struct pg_pool *p = c->pool;
    while (c->head != NULL) {
        struct pg_query *q = c->head;
        c->head = q->next;
        done_add(done, q, PG_DOWN);
    }
    c->tail = NULL;
    c->inflight = 0;
    c->broken = 0;
    conn_watch(c, -1, 0);
    ev_timer_stop(p->loop, &c->timer);
    if (c->pg != NULL) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    c->state = PG_CONN_WAITING;
    if (p->closing)
        return;
    if (delay < 0) {
        delay = c->backoff;
        c->backoff = c->backoff * 2 > PG_BACKOFF_MAX ? PG_BACKOFF_MAX : c->backoff * 2;
    }
    ev_timer_set(&c->timer, delay, 0.);
    ev_timer_start(p->loop, &c->timer);
}

/* The connection broke (or could not be opened): log, fail its queries, retry after back-off. */
static void conn_lost(struct pg_conn *c, const char *event)
{
    char buf[512];
    struct pg_done done = {0};
    const char *msg = c->pg != NULL ? PQerrorMessage(c->pg) : "out of memory";
    log_event(LOG_WARN, event, "conn=%d error=%s retry_ms=%d", c->id,
              quote_error(buf, sizeof buf, msg), (int)(c->backoff * 1000));
    conn_close(c, &done, -1);
    done_run(&done);
}

static void conn_ready(struct pg_conn *c)
{
    struct pg_pool *p = c->pool;
    ev_timer_stop(p->loop, &c->timer);
    if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1) {
        conn_lost(c, "pg.connect_failed");
        return;
    }
    c->state = PG_CONN_READY;
    c->backoff = PG_BACKOFF_MIN;
    conn_watch(c, PQsocket(c->pg), EV_READ);
    log_event(LOG_INFO, "pg.connected", "conn=%d server_version=%d", c->id, PQserverVersion(c->pg));
    pool_dispatch(p);
}

static void conn_connect_step(struct pg_conn *c, PostgresPollingStatusType st)
{
    /* Re-register on every step: libpq may have replaced the socket by one with the same number. */
    conn_watch(c, -1, 0);
    switch (st) {
    case PGRES_POLLING_READING:
        conn_watch(c, PQsocket(c->pg), EV_READ);
        break;
    case PGRES_POLLING_WRITING:
        conn_watch(c, PQsocket(c->pg), EV_WRITE);
        break;
    case PGRES_POLLING_OK:
        conn_ready(c);
        break;
    default:
        conn_lost(c, "pg.connect_failed");
        break;
    }
}

/* Server notices (RAISE NOTICE, warnings) go to the log instead of libpq's stderr default. */
static void conn_notice(void *arg, const char *message)
{
    struct pg_conn *c = arg;
    char buf[512];
    log_event(LOG_DEBUG, "pg.notice", "conn=%d message=%s", c->id,
              quote_error(buf, sizeof buf, message));
}

static void conn_connect_start(struct pg_conn *c)
{
    struct pg_pool *p = c->pool;
    c->pg =
        PQconnectStartParams((const char *const *)p->keywords, (const char *const *)p->values, 0);
    if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_lost(c, "pg.connect_failed");
        return;
    }
    PQsetNoticeProcessor(c->pg, conn_notice, c);
    c->state = PG_CONN_CONNECTING;
    ev_timer_set(&c->timer, p->connect_timeout, 0.);
    ev_timer_start(p->loop, &c->timer);
    /* libpq's contract: before the first PQconnectPoll, wait until the socket is writable. */
    conn_connect_step(c, PGRES_POLLING_WRITING);
}

/* Reads every complete result; each query ends with its PGRES_PIPELINE_SYNC. */
static void conn_read(struct pg_conn *c)
{
    int nulls = 0;
    while (c->state == PG_CONN_READY && c->head != NULL && !PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        if (r == NULL) {
            /* The end of one statement's results; its sync follows. Two in a row means libpq has
             * nothing more for us now. */
            if (++nulls > 1 || PQstatus(c->pg) == CONNECTION_BAD)
                break;
            continue;
        }
        nulls = 0;
        struct pg_query *q = c->head;
        if (PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
            /* One statement per query gives one result; keep the last to be safe. */
            if (q->res != NULL)
                PQclear(q->res);
            q->res = r;
            continue;
        }
        PQclear(r);
        c->head = q->next;
        if (c->head == NULL)
            c->tail = NULL;
        c->inflight--;
        PGresult *res = q->res;
        q->res = NULL;
        enum pg_outcome outcome = PG_ERROR;
        if (res == NULL)
            res = PQmakeEmptyPGresult(c->pg, PGRES_FATAL_ERROR);
        else if (PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK)
            outcome = PG_OK;
        /* The callback may send more queries on this connection; it stays valid meanwhile. */
        query_finish(q, outcome, res);
    }
}

static void conn_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pg_conn *c = container_of(w, struct pg_conn, io);
    if (c->state == PG_CONN_CONNECTING) {
        conn_connect_step(c, PQconnectPoll(c->pg));
        return;
    }
    if (c->state != PG_CONN_READY)
        return;
    if (PQflush(c->pg) < 0)
        goto lost;
    if ((revents & EV_READ) && !PQconsumeInput(c->pg))
        goto lost;
    conn_read(c);
    if (c->state != PG_CONN_READY)
        return;
    if (PQstatus(c->pg) == CONNECTION_BAD)
        goto lost;
    int f = PQflush(c->pg);
    if (f < 0)
        goto lost;
    conn_watch(c, PQsocket(c->pg), EV_READ | (f == 1 ? EV_WRITE : 0));
    pool_dispatch(c->pool);
    return;
lost:
    conn_lost(c, "pg.disconnected");
    pool_dispatch(c->pool);
}

static void conn_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pg_conn *c = container_of(w, struct pg_conn, timer);
    if (c->state == PG_CONN_WAITING) {
        conn_connect_start(c);
    } else if (c->state == PG_CONN_CONNECTING) {
        log_event(LOG_WARN, "pg.connect_failed", "conn=%d error=timeout retry_ms=%d", c->id,
                  (int)(c->backoff * 1000));
        struct pg_done done = {0};
        conn_close(c, &done, -1);
        done_run(&done);
    }
}

/* ---- pool timers ---- */

static void pool_on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pg_pool *p = container_of(w, struct pg_pool, kick);
    struct pg_done refused = {p->rhead, p->rtail};
    p->rhead = p->rtail = NULL;
    done_run(&refused);
    for (int i = 0; i < p->size; i++) {
        if (p->conns[i].broken)
            conn_lost(&p->conns[i], "pg.disconnected");
    }
    pool_dispatch(p);
}

static void pool_on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pg_pool *p = container_of(w, struct pg_pool, deadline);
    ev_tstamp now = ev_now(loop);
    ev_tstamp next = 0;
    struct pg_done done = {0};

    /* Queued queries past their deadline never reached the server. */
    struct pg_query **link = &p->qhead;
    p->qtail = NULL;
    while (*link != NULL) {
        struct pg_query *q = *link;
        if (q->deadline <= now) {
            *link = q->next;
            done_add(&done, q, PG_TIMEOUT);
            continue;
        }
        if (next == 0 || q->deadline < next)
            next = q->deadline;
        p->qtail = q;
        link = &q->next;
    }

    /* A sent query past its deadline: its connection may be stuck behind it, so close it (which
     * also aborts the statement if it had not committed); the others sent on it are lost. */
    for (int i = 0; i < p->size; i++) {
        struct pg_conn *c = &p->conns[i];
        int expired = 0;
        for (struct pg_query *q = c->head; q != NULL; q = q->next) {
            if (q->deadline <= now) {
                q->outcome = PG_TIMEOUT;
                expired++;
            } else if (next == 0 || q->deadline < next) {
                next = q->deadline;
            }
        }
        if (expired == 0)
            continue;
        log_event(LOG_WARN, "pg.timeout", "conn=%d expired=%d inflight=%d", c->id, expired,
                  c->inflight);
        for (struct pg_query *q = c->head; q != NULL;) {
            struct pg_query *nq = q->next;
            done_add(&done, q, q->outcome == PG_TIMEOUT ? PG_TIMEOUT : PG_DOWN);
            q = nq;
        }
        c->head = c->tail = NULL;
        c->inflight = 0;
        conn_close(c, &done, 0); /* the server is fine; reconnect at once */
    }
    /* Those with a later deadline on a closed connection were recounted in next; harmless. */

    if (next != 0) {
        ev_tstamp at = next < now + PG_DEADLINE_SLACK ? now + PG_DEADLINE_SLACK : next;
        ev_timer_set(&p->deadline, at - now, 0.);
        ev_timer_start(loop, &p->deadline);
        p->deadline_at = at;
    }
    done_run(&done);
    pool_dispatch(p);
}

/* ---- conninfo ---- */

struct kv {
    char **keys;
    char **vals;
    int n;
};

static void kv_set(struct kv *kv, const char *key, const char *val)
{
    for (int i = 0; i < kv->n; i++) {
        if (strcmp(kv->keys[i], key) == 0) {
            free(kv->vals[i]);
            kv->vals[i] = xstrdup(val);
            return;
        }
    }
    kv->keys = xrealloc(kv->keys, sizeof(char *) * (size_t)(kv->n + 2));
    kv->vals = xrealloc(kv->vals, sizeof(char *) * (size_t)(kv->n + 2));
    kv->keys[kv->n] = xstrdup(key);
    kv->vals[kv->n] = xstrdup(val);
    kv->n++;
    kv->keys[kv->n] = NULL;
    kv->vals[kv->n] = NULL;
}

static const char *kv_get(const struct kv *kv, const char *key)
{
    for (int i = 0; i < kv->n; i++) {
        if (strcmp(kv->keys[i], key) == 0)
            return kv->vals[i];
    }
    return NULL;
}

static void kv_free(struct kv *kv)
{
    for (int i = 0; i < kv->n; i++) {
        free(kv->keys[i]);
        free(kv->vals[i]);
    }
    free(kv->keys);
    free(kv->vals);
}

static void strbuf_add(char **s, const char *piece)
{
    size_t have = *s != NULL ? strlen(*s) : 0;
    size_t add = strlen(piece);
    *s = xrealloc(*s, have + add + 2);
    if (have > 0)
        (*s)[have++] = ',';
    memcpy(*s + have, piece, add + 1);
}

/* The n-th entry of a comma-separated libpq list ("a,b") as a heap string, or NULL. */
static char *list_item(const char *list, int n)
{
    const char *s = list;
    for (int i = 0; i < n; i++) {
        s = strchr(s, ',');
        if (s == NULL)
            return NULL;
        s++;
    }
    const char *e = strchr(s, ',');
    return e != NULL ? xstrndup(s, (size_t)(e - s)) : xstrdup(s);
}

static int list_count(const char *list)
{
    int n = 1;
    for (const char *s = list; *s != '\0'; s++)
        n += *s == ',';
    return n;
}

static int host_is_literal(const char *h)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return h[0] == '\0' || h[0] == '/' || h[0] == '@' || inet_pton(AF_INET, h, buf) == 1 ||
           inet_pton(AF_INET6, h, buf) == 1;
}

/* Resolves every host name once, now, so that connecting later never waits on DNS: each name
 * becomes one host entry per address (up to a few, so libpq still fails over between them) with
 * the numeric address in hostaddr; the name stays in host for TLS verification. Socket
 * directories and numeric addresses pass through. */
static int resolve_hosts(struct kv *kv, char *err, size_t errsz)
{
    const char *host = kv_get(kv, "host");
    if (host == NULL)
        host = getenv("PGHOST");
    if (host == NULL || host[0] == '\0' || kv_get(kv, "hostaddr") != NULL)
        return 0;
    const char *port = kv_get(kv, "port");
    int nhosts = list_count(host);
    int per_host_ports = port != NULL && list_count(port) == nhosts && nhosts > 1;
    char *hosts = NULL, *addrs = NULL, *ports = NULL;
    int resolved = 0;

    for (int i = 0; i < nhosts; i++) {
        char *h = list_item(host, i);
        char *pt = per_host_ports ? list_item(port, i) : NULL;
        if (host_is_literal(h)) {
            strbuf_add(&hosts, h);
            strbuf_add(&addrs, "");
            if (pt != NULL)
                strbuf_add(&ports, pt);
            free(h);
            free(pt);
            continue;
        }
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        struct addrinfo *ai = NULL;
        int rc = getaddrinfo(h, NULL, &hints, &ai);
        if (rc != 0) {
            snprintf(err, errsz, "cannot resolve database host %s: %s", h, gai_strerror(rc));
            free(h);
            free(pt);
            goto fail;
        }
        int added = 0;
        char seen[PG_MAX_ADDRS_PER_HOST][NI_MAXHOST];
        for (struct addrinfo *a = ai; a != NULL && added < PG_MAX_ADDRS_PER_HOST; a = a->ai_next) {
            char num[NI_MAXHOST];
            int gn =
                getnameinfo(a->ai_addr, a->ai_addrlen, num, sizeof num, NULL, 0, NI_NUMERICHOST);
            if (gn != 0)
                continue;
            int dup = 0;
            for (int k = 0; k < added; k++)
                dup |= strcmp(seen[k], num) == 0;
            if (dup)
                continue;
            memcpy(seen[added++], num, sizeof num);
            strbuf_add(&hosts, h);
            strbuf_add(&addrs, num);
            if (pt != NULL)
                strbuf_add(&ports, pt);
        }
        freeaddrinfo(ai);
        if (added == 0) {
            snprintf(err, errsz, "cannot resolve database host %s: no usable address", h);
            free(h);
            free(pt);
            goto fail;
        }
        resolved = 1;
        free(h);
        free(pt);
    }
    if (resolved) {
        kv_set(kv, "host", hosts);
        kv_set(kv, "hostaddr", addrs);
        if (ports != NULL)
            kv_set(kv, "port", ports);
    }
    free(hosts);
    free(addrs);
    free(ports);
    return 0;
fail:
    free(hosts);
    free(addrs);
    free(ports);
    return -1;
}

/* ---- public API ---- */

struct pg_pool *pg_pool_new(struct ev_loop *loop, const char *conninfo, int size,
                            int default_timeout_ms, char *err, size_t errsz)
{
    struct kv kv = {0};
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    if (opts == NULL) {
        snprintf(err, errsz, "invalid database conninfo: %s",
                 perr != NULL ? perr : "out of memory");
        PQfreemem(perr);
        return NULL;
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val != NULL)
            kv_set(&kv, o->keyword, o->val);
    }
    PQconninfoFree(opts);

    if (resolve_hosts(&kv, err, errsz) != 0)
        goto fail;
    if (kv_get(&kv, "application_name") == NULL && getenv("PGAPPNAME") == NULL)
        kv_set(&kv, "application_name", "fiberlinkd");
    /* The OS default (two hours idle) would notice a dead server or a silent NAT drop far too
     * late; these make a broken TCP connection fail within about a minute. */
    if (kv_get(&kv, "keepalives") == NULL)
        kv_set(&kv, "keepalives", "1");
    if (kv_get(&kv, "keepalives_idle") == NULL)
        kv_set(&kv, "keepalives_idle", "30");
    if (kv_get(&kv, "keepalives_interval") == NULL)
        kv_set(&kv, "keepalives_interval", "10");
    if (kv_get(&kv, "keepalives_count") == NULL)
        kv_set(&kv, "keepalives_count", "3");

    struct pg_pool *p = xcalloc(1, sizeof *p);
    p->loop = loop;
    p->keywords = kv.keys;
    p->values = kv.vals;
    /* libpq enforces connect_timeout only in its blocking calls; async connects are timed here. */
    const char *ct = kv_get(&kv, "connect_timeout");
    p->connect_timeout = PG_CONNECT_TIMEOUT;
    if (ct != NULL && atoi(ct) > 0)
        p->connect_timeout = atoi(ct) < 2 ? 2 : atoi(ct);
    p->default_timeout = (default_timeout_ms > 0 ? default_timeout_ms : 5000) / 1000.0;
    p->size = size > 0 ? size : 1;
    p->conns = xcalloc((size_t)p->size, sizeof *p->conns);
    ev_timer_init(&p->deadline, pool_on_deadline, 0., 0.);
    ev_timer_init(&p->kick, pool_on_kick, 0., 0.);
    for (int i = 0; i < p->size; i++) {
        struct pg_conn *c = &p->conns[i];
        c->pool = p;
        c->id = i;
        c->io_fd = -1;
        c->backoff = PG_BACKOFF_MIN;
        c->state = PG_CONN_WAITING;
        ev_io_init(&c->io, conn_on_io, 0, EV_READ);
        ev_timer_init(&c->timer, conn_on_timer, 0., 0.);
        conn_connect_start(c);
    }
    return p;
fail:
    kv_free(&kv);
    return NULL;
}

void pg_pool_free(struct pg_pool *p)
{
    if (p == NULL)
        return;
    struct pg_done done = {0};
    p->closing = 1;
    ev_timer_stop(p->loop, &p->deadline);
    ev_timer_stop(p->loop, &p->kick);
    for (int i = 0; i < p->size; i++)
        conn_close(&p->conns[i], &done, 0);
    while (p->rhead != NULL) {
        struct pg_query *q = p->rhead;
        p->rhead = q->next;
        done_add(&done, q, PG_DOWN);
    }
    p->rtail = NULL;
    /* Callbacks may queue new queries while the pool closes; they fail too, after returning. */
    while (done.head != NULL || p->qhead != NULL) {
        while (p->qhead != NULL) {
            struct pg_query *q = p->qhead;
            p->qhead = q->next;
            done_add(&done, q, PG_DOWN);
        }
        p->qtail = NULL;
        done_run(&done);
    }
    for (int i = 0; p->keywords[i] != NULL; i++) {
        free(p->keywords[i]);
        free(p->values[i]);
    }
    free(p->keywords);
    free(p->values);
    free(p->conns);
    free(p);
}

static void query_keep_copy(struct pg_query *q, const char *sql, int nparams,
                            const char *const *params)
{
    q->sql = xstrdup(sql);
    q->nparams = nparams;
    if (nparams <= 0)
        return;
    size_t total = sizeof(char *) * (size_t)nparams;
    for (int i = 0; i < nparams; i++)
        total += params[i] != NULL ? strlen(params[i]) + 1 : 0;
    q->params = xmalloc(total);
    char *dst = (char *)(q->params + nparams);
    for (int i = 0; i < nparams; i++) {
        if (params[i] == NULL) {
            q->params[i] = NULL;
            continue;
        }
        size_t len = strlen(params[i]) + 1;
        memcpy(dst, params[i], len);
        q->params[i] = dst;
        dst += len;
    }
}

struct pg_query *pg_query_wrap(struct pg_pool *p, const char *sql, int nparams,
                               const char *const *params, int timeout_ms, pg_cb cb, size_t ctx_size,
                               void **ctx_out)
{
    size_t head =
        (sizeof(struct pg_query) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    struct pg_query *q = xcalloc(1, head + ctx_size);
    q->pool = p;
    q->cb = cb;
    q->ctx = ctx_size > 0 ? (char *)q + head : NULL;
    if (ctx_out != NULL)
        *ctx_out = q->ctx;
    /* The loop's clock can be stale after a long callback; deadlines are measured from now. */
    ev_now_update(p->loop);
    q->deadline = ev_now(p->loop) + (timeout_ms > 0 ? timeout_ms / 1000.0 : p->default_timeout);
    p->pending++;
    q->owner = owner_current();
    if (q->owner != 0) {
        /* Work of API requests is bounded here; module work (poller, runner, readiness, app
         * lookups) has no owner and is bounded by its module, so a flood of requests cannot
         * starve the crediting of paid tips. */
        int full = p->max_owned > 0 && p->owned_pending >= p->max_owned;
        p->owned_pending++;
        if (full) {
            /* Refused before it reaches the server; the callback still runs from the loop. */
            if (ev_now(p->loop) - p->full_logged_at >= 1.0) {
                log_event(LOG_WARN, "pg.pool_full", "pending=%u max=%u", p->owned_pending - 1,
                          p->max_owned);
                p->full_logged_at = ev_now(p->loop);
            }
            q->outcome = PG_BUSY;
            fifo_push(&p->rhead, &p->rtail, q);
            pool_kick(p);
            return q;
        }
    }
    deadline_note(p, q->deadline);
    if (!p->closing && p->qhead == NULL) {
        struct pg_conn *c = pool_pick(p);
        if (c != NULL && conn_send(c, q, sql, nparams, params) == 0)
            return q;
    }
    query_keep_copy(q, sql, nparams, params);
    fifo_push(&p->qhead, &p->qtail, q);
    return q;
}

struct pg_query *pg_query(struct pg_pool *p, const char *sql, int nparams,
                          const char *const *params, int timeout_ms, pg_cb cb, void *ctx)
{
    struct pg_query *q = pg_query_wrap(p, sql, nparams, params, timeout_ms, cb, 0, NULL);
    q->ctx = ctx;
    return q;
}

void pg_query_cancel(struct pg_query *q)
{
    if (q != NULL)
        q->cancelled = 1;
}

void pg_pool_set_max_pending(struct pg_pool *p, unsigned max_owned)
{
    p->max_owned = max_owned;
}

static unsigned cancel_in(struct pg_query *q, owner_id owner)
{
    unsigned n = 0;
    for (; q != NULL; q = q->next) {
        if (q->owner == owner && !q->cancelled) {
            q->cancelled = 1;
            n++;
        }
    }
    return n;
}

unsigned pg_pool_cancel_owner(struct pg_pool *p, uint64_t owner)
{
    if (p == NULL || owner == 0)
        return 0;
    unsigned n = cancel_in(p->qhead, owner) + cancel_in(p->rhead, owner);
    for (int i = 0; i < p->size; i++)
        n += cancel_in(p->conns[i].head, owner);
    return n;
}

int pg_pool_connected(const struct pg_pool *p)
{
    int n = 0;
    for (int i = 0; i < p->size; i++)
        n += p->conns[i].state == PG_CONN_READY && !p->conns[i].broken;
    return n;
}

unsigned pg_pool_pending(const struct pg_pool *p)
{
    return p->pending;
}

const char *pg_value(PGresult *res, int row, const char *column)
{
    if (res == NULL || row < 0 || row >= PQntuples(res))
        return NULL;
    int col = PQfnumber(res, column);
    if (col < 0 || PQgetisnull(res, row, col))
        return NULL;
    return PQgetvalue(res, row, col);
}

const char *pg_error_sqlstate(PGresult *res)
{
    const char *s = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s != NULL ? s : "";
}

const char *pg_error_message(PGresult *res)
{
    const char *s = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (s == NULL && res != NULL && PQresultStatus(res) == PGRES_PIPELINE_ABORTED)
        s = "pipeline aborted";
    return s != NULL ? s : "";
}

size_t pg_text_array(const char *const *items, int n, char *buf, size_t bufsz)
{
    size_t len = 0;
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (len + 1 < bufsz)                                                                       \
            buf[len] = (ch);                                                                       \
        len++;                                                                                     \
    } while (0)
    PUT('{');
    for (int i = 0; i < n; i++) {
        if (i > 0)
            PUT(',');
        PUT('"');
        for (const char *c = items[i]; *c != '\0'; c++) {
            if (*c == '"' || *c == '\\')
                PUT('\\');
            PUT(*c);
        }
        PUT('"');
    }
    PUT('}');
#undef PUT
    if (bufsz > 0)
        buf[len < bufsz ? len : bufsz - 1] = '\0';
    return len;
}

char *pg_text_array_dup(const char *const *items, int n)
{
    size_t len = pg_text_array(items, n, NULL, 0);
    char *s = xmalloc(len + 1);
    pg_text_array(items, n, s, len + 1);
    return s;
}
