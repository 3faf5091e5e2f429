/* See ids.h. */
#include "core/ids.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/mem.h"

static void uuid_format(uint8_t b[16], int version, char out[IDS_UUID_LEN + 1])
{
    b[6] = (uint8_t)((b[6] & 0x0f) | (version << 4));
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    char hex[33];
    hex_encode(b, 16, hex);
    snprintf(out, IDS_UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
             hex + 20);
}

void ids_random(char out[IDS_UUID_LEN + 1])
{
    uint8_t b[16];
    if (crypto_random(b, sizeof b) != 0)
        abort(); /* no entropy: nothing safe to do */
    uuid_format(b, 4, out);
}

void ids_derive(const char *key, size_t keylen, const char *domain, const char *app_id,
                const char *client_request_id, char out[IDS_UUID_LEN + 1])
{
    size_t dlen = strlen(domain), alen = strlen(app_id), clen = strlen(client_request_id);
    size_t n = dlen + 1 + alen + 1 + clen;
    char *msg = xmalloc(n);
    memcpy(msg, domain, dlen);
    msg[dlen] = '\0';
    memcpy(msg + dlen + 1, app_id, alen);
    msg[dlen + 1 + alen] = '\0';
    memcpy(msg + dlen + alen + 2, client_request_id, clen);
    uint8_t mac[CRYPTO_SHA256_LEN];
    crypto_hmac_sha256(key, keylen, msg, n, mac);
    free(msg);
    uuid_format(mac, 8, out);
}

int ids_uuid_valid(const char *s)
{
    if (strlen(s) != IDS_UUID_LEN)
        return 0;
    for (int i = 0; i < IDS_UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}
