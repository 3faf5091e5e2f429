/* See hashmap.h. FNV-1a mixed with a per-process random seed so that remote parties choosing keys
 * (nonces, app ids) cannot aim for one bucket. */
#include "core/hashmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/mem.h"

struct entry {
    struct entry *next;
    uint64_t hash;
    void *value;
    size_t keylen;
    char key[];
};

struct hashmap {
    struct entry **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
    uint64_t seed;
};

static uint64_t hash_key(uint64_t seed, const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return h;
}

struct hashmap *hashmap_new(void)
{
    struct hashmap *m = xcalloc(1, sizeof *m);
    m->nbuckets = 64;
    m->buckets = xcalloc(m->nbuckets, sizeof *m->buckets);
    if (crypto_random(&m->seed, sizeof m->seed) != 0)
        m->seed = (uint64_t)(uintptr_t)m;
    return m;
}

void hashmap_free(struct hashmap *m, void (*free_value)(void *))
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct entry *e = m->buckets[i];
        while (e != NULL) {
            struct entry *next = e->next;
            if (free_value != NULL)
                free_value(e->value);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    free(m);
}

static struct entry **find(const struct hashmap *m, const char *key, size_t len, uint64_t h)
{
    struct entry **pp = &m->buckets[h & (m->nbuckets - 1)];
    while (*pp != NULL) {
        struct entry *e = *pp;
        if (e->hash == h && e->keylen == len && memcmp(e->key, key, len) == 0)
            return pp;
        pp = &e->next;
    }
    return pp;
}

static void grow(struct hashmap *m)
{
    size_t n = m->nbuckets * 2;
    struct entry **b = xcalloc(n, sizeof *b);
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct entry *e = m->buckets[i];
        while (e != NULL) {
            struct entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

void *hashmap_get(const struct hashmap *m, const char *key, size_t keylen)
{
    struct entry **pp = find(m, key, keylen, hash_key(m->seed, key, keylen));
    return *pp != NULL ? (*pp)->value : NULL;
}

void *hashmap_put(struct hashmap *m, const char *key, size_t keylen, void *value)
{
    uint64_t h = hash_key(m->seed, key, keylen);
    struct entry **pp = find(m, key, keylen, h);
    if (*pp != NULL) {
        void *old = (*pp)->value;
        (*pp)->value = value;
        return old;
    }
    struct entry *e = xmalloc(sizeof *e + keylen + 1);
    e->next = NULL;
    e->hash = h;
    e->value = value;
    e->keylen = keylen;
    memcpy(e->key, key, keylen);
    e->key[keylen] = '\0';
    *pp = e;
    if (++m->count > m->nbuckets)
        grow(m);
    return NULL;
}

void *hashmap_remove(struct hashmap *m, const char *key, size_t keylen)
{
    struct entry **pp = find(m, key, keylen, hash_key(m->seed, key, keylen));
    struct entry *e = *pp;
    if (e == NULL)
        return NULL;
    *pp = e->next;
    void *v = e->value;
    free(e);
    m->count--;
    return v;
}

size_t hashmap_count(const struct hashmap *m)
{
    return m->count;
}
