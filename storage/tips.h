/* Queries on tips, their event timeline, and the settlement step of the ledger. Every money step
 * is one statement calling a plpgsql function from storage/migrations (one transaction): */
#ifndef FL_STORAGE_TIPS_H
#define FL_STORAGE_TIPS_H

#include <stdint.h>

#include "storage/pg.h"

/* A tip's state. The only changes allowed (and enforced by a trigger, migration 0007) are
 * UNPAID → SETTLED and UNPAID → FAILED. */
enum tip_state {
    TIP_UNPAID = 0,
    TIP_SETTLED,
    TIP_FAILED,
};
/* "UNPAID" | "SETTLED" | "FAILED" (the API's and the database's spelling). */
const char *tip_state_name(enum tip_state s);
/* 0 and *out set, or -1 for an unknown name. */
int tip_state_parse(const char *s, enum tip_state *out);

/* A tip row as read from the database. All strings borrowed from the PGresult: valid during the
 * callback only. Timestamps are ISO-8601 UTC with microseconds ("2026-11-24T18:33:48.123456Z"). */
struct tip {
    const char *id; /* uuid text */
    const char *app_id;
    const char *client_request_id; /* NULL when none */
    const char *request_hash;      /* hex sha256 fingerprint of the create params */
    const char *post_id;
    const char *topic_id; /* NULL when none */
    const char *from_user_id;
    const char *to_user_id;
    const char *asset;   /* "CKB" | "USDI" */
    int64_t amount;      /* base units */
    const char *message; /* NULL when none */
    const char *invoice;
    const char *payment_hash;
    enum tip_state state;
    const char *failure_reason; /* NULL | "EXPIRED" | "CANCELLED" */
    const char *node_status;    /* last node status seen ("Open", "Received", …) or NULL */
    const char *expires_at;
    const char *settled_at; /* NULL unless SETTLED */
    const char *created_at;
};

/* The tip columns, read from a relation aliased t, as every tip query selects them (timestamps
 * rendered by the database: UTC, microseconds). */
/* clang-format off */
#define TIPS_COLUMNS                                                                               \
    "t.id, t.app_id, t.client_request_id, t.request_hash, t.post_id, t.topic_id, "                 \
    "t.from_user_id, t.to_user_id, t.asset, t.amount, t.message, t.invoice, t.payment_hash, "      \
    "t.state, t.failure_reason, t.node_status, "                                                   \
    PG_TIMESTAMP_TEXT("t.expires_at") " AS expires_at, "                                           \
    PG_TIMESTAMP_TEXT("t.settled_at") " AS settled_at, "                                           \
    PG_TIMESTAMP_TEXT("t.created_at") " AS created_at"
/* clang-format on */
/* Fills t from row `row` of a result selecting TIPS_COLUMNS (strings borrowed from res); -1 when
 * there is no such row or a required column is missing. */
int tips_row(PGresult *res, int row, struct tip *t);

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
    const char *topic_id; /* may be NULL */
    const char *from_user_id;
    const char *to_user_id;
    const char *asset;
    int64_t amount;
    const char *message; /* may be NULL */
    const char *invoice;
    const char *payment_hash;
    int64_t expires_at_unix; /* seconds */
};
/* Inserts the tip as UNPAID (next_check_at = now + 1 s) with a "created" event, in one
 * transaction; when a tip with the same id (or invoice/payment hash) already exists, nothing is
 * written and the existing row is returned with inserted=0 (the caller compares request_hash). */
typedef void (*tips_insert_cb)(void *ctx, enum pg_outcome outcome, const struct tip *tip,
                               int inserted);
struct pg_query *tips_insert(struct pg_pool *pool, const struct tip_new *t, tips_insert_cb cb,
                             void *ctx);

/* The settle step shared by tip.status and the invoice poller (ARCHITECTURE.md 4). Not fenced by
 * a lease on purpose: the node's "Paid" is final and the step is idempotent, so whoever sees Paid
 * first may credit the tip, exactly once. One
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

/* Records a poller check of an UNPAID tip that changed nothing, fenced by the claim's lease:
 * sets node_status (kept as it was when node_status is NULL, e.g. the node was unreachable),
 * appends a check event with detail (NULL → "check"), and either schedules the next check in
 * next_check_delay_ms, ending the lease, or (next_check_delay_ms < 0) keeps the schedule and the
 * lease (the note of an expiry before the cancel). The result's column "recorded" is "t" only when
 * the tip was UNPAID and lease_token still its lease; otherwise nothing is written. */
struct pg_query *tips_record_check(struct pg_pool *pool, const char *tip_id, int64_t lease_token,
                                   const char *source, const char *node_status,
                                   int next_check_delay_ms, const char *detail, pg_cb cb,
                                   void *ctx);

/* What tip.status learnt from the node about an UNPAID tip: written (with a check event) only when
 * node_status changed; never moves the poller's next check later nor touches its lease (an
 * unclaimed tip the node reports Expired or Cancelled is made due now). cb may be NULL. */
struct pg_query *tips_observe(struct pg_pool *pool, const char *tip_id, const char *source,
                              const char *node_status, pg_cb cb, void *ctx);

/* The poller's guarded UNPAID → FAILED step (reason "EXPIRED" | "CANCELLED") with its event,
 * fenced by the claim's lease; applied=0 when the tip was no longer UNPAID (e.g. a settlement won)
 * or the lease is lost (then the tip in the callback is still UNPAID). */
struct pg_query *tips_fail(struct pg_pool *pool, const char *tip_id, int64_t lease_token,
                           const char *reason, const char *source, const char *node_status,
                           tips_settle_cb cb, void *ctx);

/* One open tip claimed by the poller. Strings borrowed from the result (valid in the callback). */
struct tip_claim {
    const char *id;
    int64_t lease_token; /* names the claim in every later write of the check */
    const char *payment_hash;
    const char *node_status; /* last status seen, NULL if never */
    int64_t amount;
    int64_t expires_at_ms; /* unix ms */
    int64_t age_ms;        /* now - created_at */
};
typedef void (*tips_claim_cb)(void *ctx, enum pg_outcome outcome, const struct tip_claim *rows,
                              int n);
/* Claims up to limit UNPAID tips whose next check is due, oldest due first, skipping rows another
 * daemon holds (FOR UPDATE SKIP LOCKED), pushes their next_check_at lease_ms ahead so no other
 * daemon checks them until the lease ends or the check reschedules them, and gives each a fresh
 * lease token (larger than any before). One call of fl_tip_claim (migration 0020): nothing is
 * claimed while the invoice_poller job is paused (jobs.pause), n = 0 then. */
struct pg_query *tips_claim_due(struct pg_pool *pool, int limit, int lease_ms, tips_claim_cb cb,
                                void *ctx);

#endif
