/* bech32m (BIP-350) encoding, used for FNN-style invoice strings ("fibt<amount>1<data><checksum>").
 * The simulator encodes its invoices with it; the hub may use it for a cheap format check. Classic
 * bech32 (BIP-173) sits next to it for CKB addresses, whose older formats use it: the variant
 * functions encode either and decode both, reporting which checksum matched and why a string was
 * refused. */
#ifndef FL_BECH32_H
#define FL_BECH32_H

#include <stddef.h>
#include <stdint.h>

/* Encodes hrp + 8-bit data as bech32m (data regrouped to 5-bit words). Lowercase output, no length
 * cap (FNN invoices exceed BIP-173's 90 chars). Returns the length written or -1 if out is small.
 */
int bech32m_encode(const char *hrp, const uint8_t *data, size_t datalen, char *out, size_t outsz);
/* Decodes a bech32m string (either all lower or all upper case): hrp into hrp_out (NUL-terminated),
 * 8-bit data into data (*datalen in: capacity, out: length). Returns 0, or -1 for a bad
 * charset/checksum/padding/size. */
int bech32m_decode(const char *s, size_t len, char *hrp_out, size_t hrpsz, uint8_t *data,
                   size_t *datalen);

/* The two checksums differ only in their final constant. */
enum bech32_variant {
    BECH32_CLASSIC = 1, /* BIP-173, constant 1 */
    BECH32_M = 2,       /* BIP-350, constant 0x2bc830a3 */
};

enum bech32_status {
    BECH32_OK = 0,
    BECH32_ERR_CHARACTER, /* a character outside 33..126 or the charset, or mixed case */
    BECH32_ERR_SEPARATOR, /* no '1', an empty hrp, or fewer than 6 checksum characters */
    BECH32_ERR_CHECKSUM,  /* matches neither constant */
    BECH32_ERR_PADDING,   /* more than 4 padding bits, or non-zero ones */
    BECH32_ERR_SIZE,      /* hrp or data larger than the caller's buffer */
};

/* bech32m_encode with the checksum of variant v. */
int bech32_encode_variant(enum bech32_variant v, const char *hrp, const uint8_t *data,
                          size_t datalen, char *out, size_t outsz);
/* bech32m_decode accepting either checksum: on BECH32_OK *variant says which one matched. The
 * checksum is checked before the padding, so a mistyped string reports BECH32_ERR_CHECKSUM. */
enum bech32_status bech32_decode_variant(const char *s, size_t len, char *hrp_out, size_t hrpsz,
                                         uint8_t *data, size_t *datalen,
                                         enum bech32_variant *variant);

#endif
