/* bech32m (BIP-350) for FNN invoice strings, and classic bech32 (BIP-173) for the older CKB
 * address formats. FNN invoices and CKB addresses are far longer than BIP-173's 90 characters, so
 * unlike Bitcoin address code there is no length cap: sizes are bounded only by the caller's
 * buffers. Both variants share the checksum polynomial and character set; only the final constant
 * differs. */
#include "core/bech32.h"

#define BECH32M_CONST 0x2bc830a3u
#define BECH32_CLASSIC_CONST 1u
#define BECH32_CHECKSUM_LEN 6

static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t polymod_step(uint32_t chk, uint8_t v)
{
    static const uint32_t gen[5] = {0x3b6a57b2u, 0x26508e6du, 0x1ea119fau, 0x3d4233ddu,
                                    0x2a1462b3u};
    uint32_t top = chk >> 25;

    chk = (chk & 0x1ffffffu) << 5 ^ v;
    for (int i = 0; i < 5; i++)
        if (top >> i & 1)
            chk ^= gen[i];
    return chk;
}

/* Checksum state after the expanded hrp: high bits of each char, a zero, then low bits. */
static uint32_t polymod_hrp(const char *hrp, size_t hrplen)
{
    uint32_t chk = 1;

    for (size_t i = 0; i < hrplen; i++)
        chk = polymod_step(chk, (uint8_t)((unsigned char)hrp[i] >> 5));
    chk = polymod_step(chk, 0);
    for (size_t i = 0; i < hrplen; i++)
        chk = polymod_step(chk, (uint8_t)(hrp[i] & 31));
    return chk;
}

/* Position of c in the charset (lowercase only), or -1. */
static int charset_index(char c)
{
    for (int i = 0; i < 32; i++)
        if (charset[i] == c)
            return i;
    return -1;
}

int bech32_encode_variant(enum bech32_variant v, const char *hrp, const uint8_t *data,
                          size_t datalen, char *out, size_t outsz)
{
    size_t hrplen = 0, words, need, pos = 0;
    uint32_t chk, acc = 0;
    int bits = 0;

    if (v != BECH32_CLASSIC && v != BECH32_M)
        return -1;
    for (; hrp[hrplen] != '\0'; hrplen++) {
        unsigned char c = (unsigned char)hrp[hrplen];
        if (c < 33 || c > 126 || (c >= 'A' && c <= 'Z'))
            return -1;
    }
    if (hrplen == 0)
        return -1;
    if (datalen > (SIZE_MAX - hrplen - 16) / 8 * 5)
        return -1;
    words = (datalen * 8 + 4) / 5;
    need = hrplen + 1 + words + BECH32_CHECKSUM_LEN + 1;
    if (need > outsz)
        return -1;

    chk = polymod_hrp(hrp, hrplen);
    for (size_t i = 0; i < hrplen; i++)
        out[pos++] = hrp[i];
    out[pos++] = '1';
    /* Regroup 8-bit bytes into 5-bit words, zero-padding the last word. */
    for (size_t i = 0; i < datalen; i++) {
        acc = (acc << 8 | data[i]) & 0xfffu;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            uint8_t w = (uint8_t)(acc >> bits & 31);
            chk = polymod_step(chk, w);
            out[pos++] = charset[w];
        }
    }
    if (bits > 0) {
        uint8_t w = (uint8_t)(acc << (5 - bits) & 31);
        chk = polymod_step(chk, w);
        out[pos++] = charset[w];
    }
    for (int i = 0; i < BECH32_CHECKSUM_LEN; i++)
        chk = polymod_step(chk, 0);
    chk ^= v == BECH32_M ? BECH32M_CONST : BECH32_CLASSIC_CONST;
    for (int i = 0; i < BECH32_CHECKSUM_LEN; i++)
        out[pos++] = charset[chk >> (5 * (5 - i)) & 31];
    out[pos] = '\0';
    return (int)pos;
}

int bech32m_encode(const char *hrp, const uint8_t *data, size_t datalen, char *out, size_t outsz)
{
    return bech32_encode_variant(BECH32_M, hrp, data, datalen, out, outsz);
}

enum bech32_status bech32_decode_variant(const char *s, size_t len, char *hrp_out, size_t hrpsz,
                                         uint8_t *data, size_t *datalen,
                                         enum bech32_variant *variant)
{
    size_t sep = 0, nwords, cap = *datalen, n = 0;
    int has_lower = 0, has_upper = 0, has_sep = 0, bits = 0, overflow = 0;
    uint32_t chk, acc = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 33 || c > 126)
            return BECH32_ERR_CHARACTER;
        if (c >= 'a' && c <= 'z')
            has_lower = 1;
        if (c >= 'A' && c <= 'Z')
            has_upper = 1;
        if (c == '1') {
            sep = i; /* the last '1' separates: the hrp may itself contain '1' */
            has_sep = 1;
        }
    }
    if (has_lower && has_upper)
        return BECH32_ERR_CHARACTER;
    if (!has_sep || sep == 0 || len - sep - 1 < BECH32_CHECKSUM_LEN)
        return BECH32_ERR_SEPARATOR;
    for (size_t i = sep + 1; i < len; i++) {
        char c = s[i];
        if (charset_index(c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c) < 0)
            return BECH32_ERR_CHARACTER;
    }
    if (sep + 1 > hrpsz)
        return BECH32_ERR_SIZE;

    for (size_t i = 0; i < sep; i++) {
        char c = s[i];
        hrp_out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    hrp_out[sep] = '\0';
    chk = polymod_hrp(hrp_out, sep);

    nwords = len - sep - 1 - BECH32_CHECKSUM_LEN;
    for (size_t i = sep + 1; i < len; i++) {
        char c = s[i];
        int w = charset_index(c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c);
        chk = polymod_step(chk, (uint8_t)w);
        if (i - sep - 1 >= nwords)
            continue; /* checksum words carry no data */
        acc = (acc << 5 | (uint32_t)w) & 0xfffu;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (n >= cap)
                overflow = 1; /* keep going: a bad checksum is the better report */
            else
                data[n++] = (uint8_t)(acc >> bits & 0xff);
        }
    }
    if (chk == BECH32M_CONST)
        *variant = BECH32_M;
    else if (chk == BECH32_CLASSIC_CONST)
        *variant = BECH32_CLASSIC;
    else
        return BECH32_ERR_CHECKSUM;
    if (overflow)
        return BECH32_ERR_SIZE;
    /* Strict 5→8 conversion: at most 4 padding bits, all zero. */
    if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0)
        return BECH32_ERR_PADDING;
    *datalen = n;
    return BECH32_OK;
}

int bech32m_decode(const char *s, size_t len, char *hrp_out, size_t hrpsz, uint8_t *data,
                   size_t *datalen)
{
    enum bech32_variant v;

    if (bech32_decode_variant(s, len, hrp_out, hrpsz, data, datalen, &v) != BECH32_OK ||
        v != BECH32_M)
        return -1;
    return 0;
}
