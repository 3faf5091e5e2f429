/* Fuzz target: the /rpc authentication checks. Input: four header values and a body separated by
 * newlines (app id, x-ts, x-nonce, x-signature, then the raw body). Checks must never crash, and a
 * signature made by auth_sign over the same parts must always verify. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *parts[5] = {0};
    size_t lens[5] = {0};
    const char *p = (const char *)data, *end = p + size;
    for (int i = 0; i < 5; i++) {
        parts[i] = p;
        const char *nl = i < 4 ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        lens[i] = (size_t)((nl ? nl : end) - p);
        p = nl ? nl + 1 : end;
    }
    struct auth_headers h = {parts[0], lens[0], parts[1], lens[1],
                             parts[2], lens[2], parts[3], lens[3]};
    int64_t ts;
    if (auth_check_headers(&h, 1700000000, &ts) == AUTH_OK)
        (void)auth_check_signature(&h, "secret-secret-secret", 20, parts[4], lens[4]);

    char sig[65];
    auth_sign("secret-secret-secret", 20, parts[1], lens[1], parts[2], lens[2], parts[4], lens[4],
              sig);
    h.signature = sig;
    h.signature_len = 64;
    if (auth_check_signature(&h, "secret-secret-secret", 20, parts[4], lens[4]) != AUTH_OK)
        abort();
    return 0;
}
