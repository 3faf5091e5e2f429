/* Money text conversions in integers only: API decimal strings to int64 base units and back, and
 * the FNN "0x" hex form. Every rule that decides whether a client's amount is accepted lives here,
 * so handlers and the simulator cannot disagree about what "10.5" means. */
#include "core/amount.h"

#include <string.h>

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* v = v * 10 + d, refusing to pass INT64_MAX. */
static int push_digit(int64_t *v, int d)
{
    if (*v > (INT64_MAX - d) / 10)
        return -1;
    *v = *v * 10 + d;
    return 0;
}

enum amount_err amount_parse(const char *s, size_t len, int decimals, int64_t *out)
{
    size_t i = 0, int_len, frac_len = 0;
    const char *frac = NULL;
    int64_t v = 0;

    if (decimals < 0)
        decimals = 0;
    if (len == 0)
        return AMOUNT_ERR_EMPTY;

    while (i < len && is_digit(s[i]))
        i++;
    int_len = i;
    if (int_len == 0)
        return AMOUNT_ERR_SYNTAX;
    if (i < len) {
        if (s[i] != '.')
            return AMOUNT_ERR_SYNTAX;
        frac = s + i + 1;
        i++;
        while (i < len && is_digit(s[i]))
            i++;
        frac_len = (size_t)(s + i - frac);
        if (frac_len == 0 || i != len)
            return AMOUNT_ERR_SYNTAX;
    }

    if (int_len > 1 && s[0] == '0')
        return AMOUNT_ERR_LEADING_ZERO;
    if (frac_len > (size_t)decimals)
        return AMOUNT_ERR_PRECISION;

    for (size_t k = 0; k < int_len; k++)
        if (push_digit(&v, s[k] - '0') < 0)
            return AMOUNT_ERR_RANGE;
    for (size_t k = 0; k < frac_len; k++)
        if (push_digit(&v, frac[k] - '0') < 0)
            return AMOUNT_ERR_RANGE;
    /* Scale the remaining places one at a time: 10^decimals alone may not fit in int64 even when
     * the final value does not either, and this keeps the overflow check in one place. */
    for (size_t k = frac_len; k < (size_t)decimals; k++)
        if (push_digit(&v, 0) < 0)
            return AMOUNT_ERR_RANGE;

    if (v == 0)
        return AMOUNT_ERR_ZERO;
    *out = v;
    return AMOUNT_OK;
}

const char *amount_err_text(enum amount_err e)
{
    switch (e) {
    case AMOUNT_OK:
        return "is valid";
    case AMOUNT_ERR_EMPTY:
        return "is empty";
    case AMOUNT_ERR_SYNTAX:
        return "must be a plain decimal number such as \"10\" or \"0.5\"";
    case AMOUNT_ERR_LEADING_ZERO:
        return "has a redundant leading zero";
    case AMOUNT_ERR_PRECISION:
        return "has more decimal places than the asset allows";
    case AMOUNT_ERR_ZERO:
        return "must be greater than zero";
    case AMOUNT_ERR_RANGE:
        return "is too large";
    }
    return "is invalid";
}

int amount_format(int64_t v, int decimals, char *buf, size_t bufsz)
{
    char ds[24]; /* decimal digits of v, most significant first */
    size_t nd = 0, dec, lead_zeros, int_len, frac_len, pos = 0;

    if (v < 0 || decimals < 0)
        return -1;
    {
        char rev[24];
        size_t n = 0;
        do {
            rev[n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v > 0);
        while (n > 0)
            ds[nd++] = rev[--n];
    }
    dec = (size_t)decimals;
    /* Split into integer part and a fraction of exactly `dec` places; when v has no more digits
     * than places, the integer part is "0" and the fraction starts with zeros. */
    if (nd > dec) {
        int_len = nd - dec;
        lead_zeros = 0;
    } else {
        int_len = 0;
        lead_zeros = dec - nd;
    }
    frac_len = nd - int_len; /* digits of ds that belong to the fraction */
    while (frac_len > 0 && ds[int_len + frac_len - 1] == '0')
        frac_len--;
    if (frac_len == 0)
        lead_zeros = 0; /* nothing significant after the point: no point at all */

    if ((int_len ? int_len : 1) + (frac_len ? 1 + lead_zeros + frac_len : 0) + 1 > bufsz)
        return -1;
    if (int_len == 0)
        buf[pos++] = '0';
    memcpy(buf + pos, ds, int_len);
    pos += int_len;
    if (frac_len) {
        buf[pos++] = '.';
        memset(buf + pos, '0', lead_zeros);
        pos += lead_zeros;
        memcpy(buf + pos, ds + int_len, frac_len);
        pos += frac_len;
    }
    buf[pos] = '\0';
    return (int)pos;
}

void u128hex_encode(uint64_t v, char *out)
{
    static const char hexd[] = "0123456789abcdef";
    char tmp[16];
    size_t n = 0, pos = 0;

    do {
        tmp[n++] = hexd[v & 0x0f];
        v >>= 4;
    } while (v > 0);
    out[pos++] = '0';
    out[pos++] = 'x';
    while (n > 0)
        out[pos++] = tmp[--n];
    out[pos] = '\0';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int u128hex_decode(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len < 3 || s[0] != '0' || s[1] != 'x')
        return -1;
    if (s[2] == '0' && len > 3)
        return -1; /* FNN: "uint hex string starts with redundant leading zeros" */
    /* Without leading zeros, more than 16 digits is always above UINT64_MAX. */
    if (len - 2 > 16)
        return -1;
    for (size_t i = 2; i < len; i++) {
        int d = hex_digit(s[i]);
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

int amount_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;

    if (__builtin_add_overflow(a, b, &r))
        return -1;
    *out = r;
    return 0;
}

int amount_sub(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;

    if (__builtin_sub_overflow(a, b, &r))
        return -1;
    *out = r;
    return 0;
}
