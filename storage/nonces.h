/* The shared nonce store: the core/nonce.h interface backed by the UNLOGGED table `nonces`
 * (storage/migrations/0003_nonces.sql), so several daemons on one database refuse a request
 * replayed to any of them. Selected with `nonce_store = postgres`.
 *
 * Each use is one statement through the async pool, so nonce_store_use() always answers
 * NONCE_PENDING and the callback follows from the loop: NONCE_FRESH when the row was recorded now
 * (or replaced a row whose expiry had passed), NONCE_REPLAYED when a live row was there, and
 * NONCE_ERROR when the database did not answer (the request is then refused, never let through
 * unchecked). A janitor timer on the loop deletes expired rows in small batches, one run at a
 * time. */
#ifndef FL_NONCES_H
#define FL_NONCES_H

#include <ev.h>

#include "core/nonce.h"
#include "storage/pg.h"

/* The pool and the loop must outlive the store. Free the store before the pool. */
struct nonce_store *nonces_new(struct ev_loop *loop, struct pg_pool *pool);

#endif
