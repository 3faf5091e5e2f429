/* bech32m (BIP-350) encoding, used for FNN-style invoice strings ("fibt<amount>1<data><checksum>").
 * The simulator encodes its invoices with it; the hub may use it for a cheap format check. */
#ifndef FL_BECH32_H
#define FL_BECH32_H

#include <stddef.h>
#include <stdint.h>

/* Encodes hrp + 8-bit data as bech32m (data regrouped to 5-bit words). Lowercase output, no length
 * cap (FNN invoices exceed BIP-173's 90 chars). Returns the length written or -1 if out is small. */
int bech32m_encode(const char *hrp, const uint8_t *data, size_t datalen, char *out, size_t outsz);
/* Decodes a bech32m string (either all lower or all upper case): hrp into hrp_out (NUL-terminated),
 * 8-bit data into data (*datalen in: capacity, out: length). Returns 0, or -1 for a bad
 * charset/checksum/padding/size. */
int bech32m_decode(const char *s, size_t len, char *hrp_out, size_t hrpsz, uint8_t *data,
                   size_t *datalen);

#endif
