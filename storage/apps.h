/* Forum apps (docs/api.md "Authentication"): each has an id and an HMAC secret, stored sealed
 * (core/seal.h, purpose "app-secret", associated data the app id; storage/migrations/
 * 0016_app_secrets.sql), and during a rotation also the previous secret with the time it retires.
 *
 * The database never sees a secret in plaintext, with one exception kept for compatibility: a
 * command run with no key configured (neither secrets_key nor preimage_key) stores a new app's
 * secret in the legacy hmac_secret column, and the first holder of a key seals it — `migrate`,
 * `serve` at start-up (apps_reseal), or the daemon's first lookup of that app (apps_lookup).
 *
 * Blocking functions (PGconn, for the command line and the daemon's start-up) and asynchronous
 * ones (the pool, for the request authenticator and the admin API). Every function that writes an
 * audit row does it in the statement that makes the change (fl_audit). */
#ifndef FL_APPS_H
#define FL_APPS_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "core/seal.h"
#include "storage/pg.h"

#define APPS_ID_MAX 128
#define APPS_SECRET_MIN 16
#define APPS_SECRET_MAX 256
/* A sealed secret as lowercase hex, with its NUL. */
#define APPS_SEALED_HEX_MAX (2 * (APPS_SECRET_MAX + SEAL_OVERHEAD) + 1)
#define APPS_TIME_MAX 40 /* "2026-01-02T03:04:05.000006Z" and NUL */

#define APPS_PURPOSE_SECRET "app-secret"
#define APPS_PURPOSE_WEBHOOK "webhook-secret"
#define APPS_GRACE_DEFAULT 86400
#define APPS_GRACE_MAX 2592000

/* 1 when id is 1..APPS_ID_MAX characters of A-Z a-z 0-9 . _ -; secret 16..256 printable ASCII. */
int apps_id_valid(const char *id);
int apps_secret_valid(const char *secret);
/* A new random secret: 32 random bytes as 64 lowercase hex digits. 0 or -1 (no randomness). */
int apps_secret_generate(char out[APPS_SECRET_MAX + 1]) __attribute__((warn_unused_result));

/* Seals secret for app_id under keys->keys[0], as hex for a query parameter (decode($n, 'hex')).
 * 0 or -1. */
int apps_seal_hex(const struct seal_keyring *keys, const char *purpose, const char *app_id,
                  const char *secret, char out[APPS_SEALED_HEX_MAX])
    __attribute__((warn_unused_result));
/* Opens a sealed secret given as hex (encode(col, 'hex')) into out; *which as seal_keyring_open
 * (> 0: sealed under an older key). 0 or -1 (malformed, or no key of the ring opens it). */
int apps_open_hex(const struct seal_keyring *keys, const char *purpose, const char *app_id,
                  const char *hex, char out[APPS_SECRET_MAX + 1], int *which)
    __attribute__((warn_unused_result));

/* ---- blocking ---- */

enum apps_insert_result {
    APPS_INSERT_CREATED,
    APPS_INSERT_EXISTS_SAME,   /* the id exists with this very secret */
    APPS_INSERT_EXISTS_OTHER,  /* the id exists with another secret */
    APPS_INSERT_EXISTS_SEALED, /* the id exists, sealed, and keys is NULL: cannot compare */
    APPS_INSERT_ERROR,         /* message in err */
};

/* `fiberlinkd app create`: inserts the app (sealed under keys; plaintext when keys is NULL) with
 * its audit row (actor "cli", method "apps.create"), unless its id exists; then compares the stored
 * secret with secret in constant time. */
enum apps_insert_result apps_insert(PGconn *conn, const struct seal_keyring *keys,
                                    const char *app_id, const char *secret, char *err,
                                    size_t errsz);

enum apps_change_result {
    APPS_CHANGED,
    APPS_NOT_FOUND,
    APPS_NO_ROTATION, /* finish: no previous secret is accepted any more */
    APPS_ERROR,       /* message in err */
};

/* `fiberlinkd app rotate-secret`: new_secret becomes the app's secret; the old one is accepted
 * for grace_seconds more. Seals a legacy plaintext secret first. previous_retires_at gets the ISO
 * time. Audit row with actor "cli", method "apps.rotate_secret". */
enum apps_change_result apps_rotate(PGconn *conn, const struct seal_keyring *keys,
                                    const char *app_id, const char *new_secret, int grace_seconds,
                                    char previous_retires_at[APPS_TIME_MAX], char *err,
                                    size_t errsz);
/* `fiberlinkd app finish-rotation`: the previous secret is refused from now on. finished_at gets
 * the ISO time. Audit row with actor "cli", method "apps.finish_rotation". */
enum apps_change_result apps_finish_rotation(PGconn *conn, const char *app_id,
                                             char finished_at[APPS_TIME_MAX], char *err,
                                             size_t errsz);

struct apps_reseal_stats {
    int apps;     /* app rows read */
    int sealed;   /* legacy plaintext secrets sealed */
    int resealed; /* secrets (current or previous) sealed again under keys->keys[0] */
    int dropped;  /* previous secrets past their retire time, removed */
    int webhooks; /* webhook rows read */
    int webhooks_resealed;
};

/* Seals every legacy plaintext secret, and seals again under keys->keys[0] every app and webhook
 * secret sealed under an older key of the ring, in one transaction (rows locked, so daemons
 * starting together take turns). Fails, changing nothing, when a stored value cannot be opened
 * with any key of the ring: err names the row and the settings (secrets_key, secrets_key_previous,
 * preimage_key). One audit row (method "apps.reseal", actor as given) when something changed.
 * 0 or -1. */
int apps_reseal(PGconn *conn, const struct seal_keyring *keys, const char *actor,
                struct apps_reseal_stats *stats, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* ---- asynchronous ---- */

/* What the authenticator needs of an app. */
struct apps_secrets {
    int found;                          /* 0: no such app (the rest is empty) */
    char secret[APPS_SECRET_MAX + 1];   /* current */
    char previous[APPS_SECRET_MAX + 1]; /* "" unless a rotation is in progress */
    double previous_retires_at;         /* unix seconds; accepted while now < this */
    int legacy;                         /* the row held the secret in plaintext */
};

/* s is valid during the callback only; legacy is 1 when the row held a plaintext secret (being
 * sealed now).  outcome != PG_OK: the lookup failed (PG_ERROR also when
 * a stored secret cannot be opened with the configured keys: logged). A row still holding a
 * legacy plaintext secret is sealed by an UPDATE started before the callback runs (guarded:
 * it only clears that very plaintext). */
typedef void (*apps_lookup_cb)(void *ctx, enum pg_outcome outcome, const struct apps_secrets *s);
struct pg_query *apps_lookup(struct pg_pool *pool, const struct seal_keyring *keys,
                             const char *app_id, apps_lookup_cb cb, void *ctx);

/* apps.list: items as fl_app_public, newest first, after the cursor (NULL: first page). scope is a
 * text[] literal or NULL (all apps). res rows: app (jsonb text), cursor (text). */
struct pg_query *apps_list(struct pg_pool *pool, const char *scope, const char *cursor_micros,
                           const char *cursor_app_id, int64_t limit, pg_cb cb, void *ctx);

/* The admin API's changes, each one statement: fl_app_create / fl_app_rotate_secret /
 * fl_app_finish_rotation (storage/migrations/0016_app_secrets.sql). sealed_hex from apps_seal_hex;
 * params the audit's params (JSON text, secrets removed). res: created/outcome, app. */
struct pg_query *apps_create_query(struct pg_pool *pool, const char *actor, const char *app_id,
                                   const char *sealed_hex, const char *params, pg_cb cb, void *ctx);
/* legacy_hex: NULL, or the app's legacy plaintext secret (read with apps_lookup) sealed. */
struct pg_query *apps_rotate_query(struct pg_pool *pool, const char *actor, const char *app_id,
                                   const char *sealed_hex, int grace_seconds, const char *params,
                                   const char *legacy_hex, pg_cb cb, void *ctx);
struct pg_query *apps_finish_query(struct pg_pool *pool, const char *actor, const char *app_id,
                                   const char *params, pg_cb cb, void *ctx);

#endif
