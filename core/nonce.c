/* The in-memory nonce store. Entries sit in a FIFO in arrival order beside the hash map; the
 * head is dropped once it has expired. Expiry times differ a little between entries (they follow
 * each request's timestamp), so an entry behind the head may outlive its expiry until the head
 * goes: never dropped early, memory bounded by the request rate times the auth window. */
#include "core/nonce.h"

#include <stdlib.h>
#include <string.h>

#include "core/hashmap.h"
#include "core/mem.h"

struct nonce_entry {
    struct nonce_entry *next; /* FIFO order */
    int64_t expires_at;
    size_t keylen;
    char key[];
};

struct memory_store {
    struct nonce_store super;
    struct hashmap *map;
    struct nonce_entry *head, *tail;
    size_t max_entries;
};

static void expire(struct memory_store *m, int64_t now)
{
    while (m->head != NULL && m->head->expires_at <= now) {
        struct nonce_entry *e = m->head;
        m->head = e->next;
        if (m->head == NULL)
            m->tail = NULL;
        hashmap_remove(m->map, e->key, e->keylen);
        free(e);
    }
}

static enum nonce_result memory_use(struct nonce_store *s, const char *app_id, const char *nonce,
                                    size_t nonce_len, int64_t now, int64_t ttl, nonce_cb cb,
                                    void *ctx)
{
    struct memory_store *m = (struct memory_store *)s;
    expire(m, now);
    size_t applen = strlen(app_id);
    size_t keylen = applen + 1 + nonce_len;
    struct nonce_entry *e = xmalloc(sizeof *e + keylen);
    memcpy(e->key, app_id, applen);
    e->key[applen] = '\n'; /* app ids cannot contain a newline */
    memcpy(e->key + applen + 1, nonce, nonce_len);
    e->keylen = keylen;
    if (hashmap_get(m->map, e->key, keylen) != NULL) {
        free(e);
        return NONCE_REPLAYED;
    }
    if (hashmap_count(m->map) >= m->max_entries) {
        free(e);
        return NONCE_FULL;
    }
    e->expires_at = now + ttl;
    e->next = NULL;
    hashmap_put(m->map, e->key, keylen, e);
    if (m->tail != NULL)
        m->tail->next = e;
    else
        m->head = e;
    m->tail = e;
    return NONCE_FRESH;
}

static void memory_free(struct nonce_store *s)
{
    struct memory_store *m = (struct memory_store *)s;
    hashmap_free(m->map, NULL);
    struct nonce_entry *e = m->head;
    while (e != NULL) {
        struct nonce_entry *next = e->next;
        free(e);
        e = next;
    }
    free(m);
}

struct nonce_store *nonce_memory_new(size_t max_entries)
{
    struct memory_store *m = xcalloc(1, sizeof *m);
    m->super.use = memory_use;
    m->super.free = memory_free;
    m->map = hashmap_new();
    m->max_entries = max_entries;
    return &m->super;
}
