/* Exact money conversions. Amounts are int64 base units (CKB: shannons, 10^8 per CKB); the API
 * speaks decimal strings in whole-asset units and FNN speaks u128 as "0x" hex. No floating point. */
#ifndef FL_AMOUNT_H
#define FL_AMOUNT_H

#include <stddef.h>
#include <stdint.h>

enum amount_err {
    AMOUNT_OK = 0,
    AMOUNT_ERR_EMPTY,     /* empty string */
    AMOUNT_ERR_SYNTAX,    /* not ^[0-9]+(\.[0-9]+)?$ (sign, exponent, spaces, "1.", ".5", …) */
    AMOUNT_ERR_LEADING_ZERO, /* "01", "00.5" (a single "0" before the point is fine: "0.5") */
    AMOUNT_ERR_PRECISION, /* more fractional digits than the asset has */
    AMOUNT_ERR_ZERO,      /* value is zero */
    AMOUNT_ERR_RANGE,     /* beyond INT64_MAX base units */
};

/* Parses s[0..len) (not NUL-terminated necessarily) with `decimals` fractional digits allowed,
 * into base units. "10.5" with decimals 8 → 1050000000. */
enum amount_err amount_parse(const char *s, size_t len, int decimals, int64_t *out);
/* Human text for an amount_err, e.g. "has more than 8 decimal places". */
const char *amount_err_text(enum amount_err e);
/* Formats base units as a decimal string without trailing zeros ("10", "0.5"); v must be >= 0.
 * Returns the length written, or -1 when buf is too small (32 bytes always suffices). */
int amount_format(int64_t v, int decimals, char *buf, size_t bufsz);

/* FNN u128 hex: "0x" + lowercase hex with no leading zeros ("0x0" for zero). out ≥ 19 bytes. */
void u128hex_encode(uint64_t v, char *out);
/* Decodes FNN u128 hex: must start with lowercase "0x", ≥1 digit, digits either case, no
 * redundant leading zeros ("0x0" ok, "0x01" not). Values above UINT64_MAX are refused.
 * Returns 0 or -1. */
int u128hex_decode(const char *s, size_t len, uint64_t *out);

/* Checked int64 arithmetic (SQLite style): return 0 and store, or -1 on overflow. */
int amount_add(int64_t a, int64_t b, int64_t *out) __attribute__((warn_unused_result));
int amount_sub(int64_t a, int64_t b, int64_t *out) __attribute__((warn_unused_result));

#endif
