/* A small string-keyed hash map (separate chaining, power-of-two buckets, grows at load 1).
 * Used for in-memory tables on the serving path: app secrets cache, nonces, rate-limit windows.
 * Keys are copied; values are opaque pointers owned by the caller. */
#ifndef FL_HASHMAP_H
#define FL_HASHMAP_H

#include <stddef.h>

struct hashmap;

struct hashmap *hashmap_new(void);
/* Calls free_value (may be NULL) on every remaining value. */
void hashmap_free(struct hashmap *m, void (*free_value)(void *));
void *hashmap_get(const struct hashmap *m, const char *key, size_t keylen);
/* Inserts or replaces; returns the previous value or NULL. */
void *hashmap_put(struct hashmap *m, const char *key, size_t keylen, void *value);
/* Removes; returns the value or NULL. */
void *hashmap_remove(struct hashmap *m, const char *key, size_t keylen);
size_t hashmap_count(const struct hashmap *m);

#endif
