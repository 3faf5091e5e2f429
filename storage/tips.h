/* Queries on tips, their event timeline, and the settlement step of the ledger. Every money step
 * is one statement calling a plpgsql function from storage/migrations (one transaction): */
#ifndef FL_STORAGE_TIPS_H
#define FL_STORAGE_TIPS_H

#include <stdint.h>

#include "storage/pg.h"

/* A tip row as read from the database. All strings borrowed from the PGresult: valid during the
 * callback only. Timestamps are ISO-8601 UTC with microseconds ("2026-11-24T18:33:48.123456Z"). */
struct tip {
    const char *id;        /* uuid text */
    const char *app_id;
    const char *client_request_id; /* NULL when none */
    const char *request_hash;      /* hex sha256 fingerprint of the create params */
    const char *post_id;
    const char *topic_id;  /* NULL when none */
    const char *from_user_id;
    const char *to_user_id;
    const char *asset;     /* "CKB" | "USDI" */
    int64_t amount;        /* base units */
    const char *message;   /* NULL when none */
    const char *invoice;
    const char *payment_hash;
    const char *state;     /* "UNPAID" | "SETTLED" | "FAILED" */
    const char *failure_reason; /* NULL | "EXPIRED" | "CANCELLED" */
    const char *node_status;    /* last node status seen ("Open", "Received", …) or NULL */
    const char *expires_at;
    const char *settled_at;     /* NULL unless SETTLED */
    const char *created_at;
};

/* found=0: no such tip (tip is NULL). */
typedef void (*tips_row_cb)(void *ctx, enum pg_outcome outcome, const struct tip *tip);

/* By id, scoped to the app. id must be a well-formed uuid (the caller checks). */
struct pg_query *tips_get(struct pg_pool *pool, const char *app_id, const char *tip_id,
                          tips_row_cb cb, void *ctx);
/* By invoice string, scoped to the app. */
struct pg_query *tips_get_by_invoice(struct pg_pool *pool, const char *app_id, const char *invoice,
                                     tips_row_cb cb, void *ctx);

struct tip_new {
    const char *id;
    const char *app_id;
    const char *client_request_id; /* may be NULL */
    const char *request_hash;
    const char *post_id;
    const char *topic_id;          /* may be NULL */
    const char *from_user_id;
    const char *to_user_id;
    const char *asset;
    int64_t amount;
    const char *message;           /* may be NULL */
    const char *invoice;
    const char *payment_hash;
    int64_t expires_at_unix;       /* seconds */
};
/* Inserts the tip as UNPAID (next_check_at = now + 1 s) with a "created" event, in one
 * transaction; when a tip with the same id (or invoice/payment hash) already exists, nothing is
 * written and the existing row is returned with inserted=0 (the caller compares request_hash). */
typedef void (*tips_insert_cb)(void *ctx, enum pg_outcome outcome, const struct tip *tip,
                               int inserted);
struct pg_query *tips_insert(struct pg_pool *pool, const struct tip_new *t, tips_insert_cb cb,
                             void *ctx);

/* The settle step shared by tip.status and the invoice poller (ARCHITECTURE.md 4): one
 * transaction that inserts the transfer node → author with idempotency key
 * "settlement:tip:<id>" (ON CONFLICT DO NOTHING), moves the tip UNPAID → SETTLED with a guarded
 * UPDATE, and appends a tip event (source, previous and next state, node status). amount is the
 * invoice amount the node reports. applied=1 when this call did the transition, 0 when the tip
 * was already SETTLED (or not UNPAID); tip is the row after the call. */
typedef void (*tips_settle_cb)(void *ctx, enum pg_outcome outcome, const struct tip *tip,
                               int applied);
struct pg_query *tips_settle(struct pg_pool *pool, const char *tip_id, int64_t amount,
                             const char *source, const char *node_status, tips_settle_cb cb,
                             void *ctx);

/* Records that the node was asked about an UNPAID tip and answered node_status (no state change):
 * updates node_status/next_check_at and appends a "check" event. Fire-and-forget is fine: cb may
 * be NULL. */
struct pg_query *tips_record_check(struct pg_pool *pool, const char *tip_id, const char *source,
                                   const char *node_status, int next_check_delay_ms, pg_cb cb,
                                   void *ctx);

#endif
