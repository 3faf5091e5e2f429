/* Forum apps (API.md "Authentication"): each has an id and an HMAC secret. Creation is a CLI step
 * (blocking libpq); lookups on the serving path are asynchronous through the pool. */
#ifndef FL_APPS_H
#define FL_APPS_H

#include <stddef.h>

#include "storage/pg.h"

#define APPS_SECRET_MAX 256

/* Blocking, CLI only. secret NULL → 32 random bytes as 64 lowercase hex. An existing app id is an
 * error unless the same secret is given (then it is a no-op, so the demo script can run twice).
 * Returns 0 with the secret in secret_out, or -1 with a message on stderr. */
int apps_create(const char *conninfo, const char *app_id, const char *secret, char *secret_out,
                size_t secret_out_sz);

/* found=0 when the app does not exist; secret is valid during the callback only. */
typedef void (*apps_lookup_cb)(void *ctx, enum pg_outcome outcome, int found, const char *secret);
struct pg_query *apps_lookup(struct pg_pool *pool, const char *app_id, apps_lookup_cb cb, void *ctx);

#endif
