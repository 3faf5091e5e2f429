/* Asynchronous PostgreSQL pool on the libev loop: N libpq connections in pipeline mode, each an
 * ev_io on PQsocket. Connections are opened with PQconnectStart/PQconnectPoll (never blocking after
 * start-up; a host name is resolved once at start-up and passed as hostaddr), and reopened with
 * exponential back-off (100 ms doubling to 5 s) when they break.
 *
 * Each query is sent with PQsendQueryParams followed by PQpipelineSync, so every query is its own
 * implicit transaction: a money step is one statement (usually a call to a plpgsql function from
 * storage/migrations), which commits or not as a whole.
 *
 * Deadlines: every query has one (pool default or per call). A query not finished by its deadline
 * completes with PG_TIMEOUT and its connection is closed and reopened (closing aborts the server-side
 * transaction if it had not committed; the outcome is then unknown to us, which is why every money
 * step is idempotent). Queries queue while no connection is up and time out the same way.
 *
 * Callbacks always run from the loop, never inside pg_query() itself. */
#ifndef FL_PG_H
#define FL_PG_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <libpq-fe.h>

/* SQL text of a timestamptz column as the API shows times: UTC, microseconds, a Z
 * ("2026-01-02T03:04:05.000006Z"). Rendered by the database so every row reads the same. */
#define PG_TIMESTAMP_TEXT(col)                                                                     \
    "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

enum pg_outcome {
    PG_OK = 0,   /* PGRES_TUPLES_OK or PGRES_COMMAND_OK; res is valid */
    PG_ERROR,    /* the server refused the statement; res holds the error (PQresultErrorField) */
    PG_TIMEOUT,  /* deadline passed (queued or running); res NULL */
    PG_DOWN,     /* connection lost while running, or pool shutting down; res NULL */
    PG_BUSY,     /* refused unsent: the requests' share of the pool is full; res NULL */
};

struct pg_pool;
struct pg_query;
/* res is owned by the pool and cleared after the callback returns. */
typedef void (*pg_cb)(void *ctx, enum pg_outcome outcome, PGresult *res);

/* conninfo: libpq URL or key=value string. Starts connecting at once (non-blocking). Returns NULL
 * with a message in err when conninfo is invalid or the host cannot be resolved. */
struct pg_pool *pg_pool_new(struct ev_loop *loop, const char *conninfo, int size,
                            int default_timeout_ms, char *err, size_t errsz);
/* Closes all connections; outstanding queries complete with PG_DOWN first. Not from inside a
 * pool callback. */
void pg_pool_free(struct pg_pool *p);

/* Sends a parameterized query (text params, text results). params may contain NULLs (SQL NULL).
 * timeout_ms ≤ 0 → pool default. Never returns NULL. */
struct pg_query *pg_query(struct pg_pool *p, const char *sql, int nparams,
                          const char *const *params, int timeout_ms, pg_cb cb, void *ctx);
/* The callback will not run (e.g. the HTTP client left). The statement may still execute. Only
 * valid before the callback has run (the query is freed right after it). */
void pg_query_cancel(struct pg_query *q);

/* Like pg_query, for modules that adapt the callback to their own types (storage/tips.c): the
 * callback's ctx is a zeroed block of ctx_size bytes owned by the query, returned in *ctx_out and
 * freed with the query, so a cancelled query leaks nothing. Fill it in before returning to the
 * loop (the callback never runs earlier). */
struct pg_query *pg_query_wrap(struct pg_pool *p, const char *sql, int nparams,
                               const char *const *params, int timeout_ms, pg_cb cb,
                               size_t ctx_size, void **ctx_out);

/* Bounds the queries started on behalf of API requests (those with an owner, core/owner.h) that
 * are queued or running at once; above it a query completes with PG_BUSY without being sent.
 * Queries without an owner (poller, runner, readiness, app lookups) are bounded by their modules
 * and never refused here. 0 = no bound (the default). */
void pg_pool_set_max_pending(struct pg_pool *p, unsigned max_owned);
/* Cancels (pg_query_cancel) every query started under owner (core/owner.h): their callbacks will
 * not run. Returns how many. For an owner that is going away, e.g. an RPC call aborted at
 * shutdown. */
unsigned pg_pool_cancel_owner(struct pg_pool *p, uint64_t owner);

/* Number of connections currently established. */
int pg_pool_connected(const struct pg_pool *p);
/* Queries sent or queued and not yet completed. */
unsigned pg_pool_pending(const struct pg_pool *p);

/* A Postgres text[] literal of items ("{\"a\",\"b\"}", each quoted and escaped) into buf,
 * like snprintf: returns the length the whole literal needs, and writes a truncated one only when
 * it does not fit (check the return against bufsz). pg_text_array_dup: the same, malloc'd. */
size_t pg_text_array(const char *const *items, int n, char *buf, size_t bufsz);
char *pg_text_array_dup(const char *const *items, int n);

/* Helpers over a result. */
const char *pg_value(PGresult *res, int row, const char *column); /* NULL for SQL NULL or no column */
const char *pg_error_sqlstate(PGresult *res);                     /* "23505" … or "" */
const char *pg_error_message(PGresult *res);                      /* primary message or "" */

#endif
