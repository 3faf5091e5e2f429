/* Identifiers of tips and withdrawals: UUID text, random (version 4) or derived (version 8) from
 * an app and the caller's clientRequestId under the server key, so that a retried request lands
 * on the same id (the basis of idempotency all the way down to the Fiber node). */
#ifndef FL_IDS_H
#define FL_IDS_H

#include <stddef.h>

#define IDS_UUID_LEN 36

/* A random v4 UUID into out[37]. */
void ids_random(char out[IDS_UUID_LEN + 1]);
/* A v8 UUID from HMAC-SHA256(key, domain NUL app_id NUL client_request_id) into out[37]. The
 * domain ("tip-id", "withdrawal-id") keeps ids of different kinds apart. */
void ids_derive(const char *key, size_t keylen, const char *domain, const char *app_id,
                const char *client_request_id, char out[IDS_UUID_LEN + 1]);
/* 1 when s is 8-4-4-4-12 hex digits (either case). */
int ids_uuid_valid(const char *s);

#endif
