/* Fuzzes the money text conversions: any amount the parser accepts must format back to text that
 * parses to the same value (and to the very same text when it had no trailing fractional zeros),
 * and u128 hex must round-trip. A mismatch aborts, so the fuzzer reports it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/amount.h"

static void check_amount(const char *s, size_t len, int decimals)
{
    char buf[32];
    int64_t v, back;
    int n;

    if (amount_parse(s, len, decimals, &v) != AMOUNT_OK)
        return;
    if (v <= 0)
        abort();
    n = amount_format(v, decimals, buf, sizeof(buf));
    if (n <= 0 || amount_parse(buf, (size_t)n, decimals, &back) != AMOUNT_OK || back != v)
        abort();
    if ((memchr(s, '.', len) == NULL || s[len - 1] != '0') &&
        ((size_t)n != len || memcmp(buf, s, len) != 0))
        abort();
}

static void check_u128(const char *s, size_t len)
{
    char buf[19];
    uint64_t v, back;

    if (u128hex_decode(s, len, &v) != 0)
        return;
    u128hex_encode(v, buf);
    if (strlen(buf) != len || strncasecmp(buf, s, len) != 0)
        abort();
    if (u128hex_decode(buf, strlen(buf), &back) != 0 || back != v)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;

    check_amount(s, size, 0);
    check_amount(s, size, 6);
    check_amount(s, size, 8);
    check_u128(s, size);

    /* Also drive the formatter with raw values. */
    if (size >= 9) {
        uint64_t raw;
        char buf[32];
        int64_t back;
        int n;
        memcpy(&raw, data, sizeof(raw));
        int64_t v = (int64_t)(raw >> 1);
        int decimals = data[8] % 19;
        n = amount_format(v, decimals, buf, sizeof(buf));
        if (n <= 0)
            abort();
        if (v > 0 && (amount_parse(buf, (size_t)n, decimals, &back) != AMOUNT_OK || back != v))
            abort();
        u128hex_encode(raw, buf);
        if (u128hex_decode(buf, strlen(buf), &raw) != 0)
            abort();
    }
    return 0;
}
