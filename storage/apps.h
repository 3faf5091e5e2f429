/* Forum apps (docs/api.md "Authentication"): each has an id and an HMAC secret. Creation is a
 * command-line step (blocking libpq); lookups on the serving path are asynchronous through the
 * pool. */
#ifndef FL_APPS_H
#define FL_APPS_H

#include <stddef.h>

#include "storage/pg.h"

#define APPS_SECRET_MAX 256

enum apps_insert_result {
    APPS_INSERT_CREATED,
    APPS_INSERT_EXISTS_SAME,  /* the id exists with this very secret */
    APPS_INSERT_EXISTS_OTHER, /* the id exists with another secret */
    APPS_INSERT_ERROR,        /* message in err */
};

/* Blocking, for `fiberlinkd app create` (core/cli_app.c): inserts the app unless its id exists,
 * and then compares the stored secret in constant time. */
enum apps_insert_result apps_insert(const char *conninfo, const char *app_id, const char *secret,
                                    char *err, size_t errsz);

/* found=0 when the app does not exist; secret is valid during the callback only. */
typedef void (*apps_lookup_cb)(void *ctx, enum pg_outcome outcome, int found, const char *secret);
struct pg_query *apps_lookup(struct pg_pool *pool, const char *app_id, apps_lookup_cb cb,
                             void *ctx);

#endif
