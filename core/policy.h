/* Withdrawal policy per app and asset: which assets may be withdrawn, the minimum and maximum
 * per request, rolling 24-hour totals per user and per app, the cooldown between a user's
 * withdrawals and the routing fee cap. An app without a stored policy for an asset
 * (storage/policy.h) gets the daemon's configured defaults (the withdraw_* settings, decimal
 * strings in whole units of the asset); the helpers here turn those into base units, for the
 * serving path (at start-up and on each call) and for `fiberlinkd policy` (core/cli_policy.c). */
#ifndef FL_CORE_POLICY_H
#define FL_CORE_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "core/amount.h"

struct config;

/* The assets a policy can be stored for, in the order `policy show` prints them. */
#define POLICY_NASSETS 2
extern const char *const policy_assets[POLICY_NASSETS];

/* One effective policy; amounts in base units of the asset. */
struct withdrawal_policy {
    int allowed;
    int64_t min_amount;      /* > 0 */
    int64_t max_per_request; /* > 0 */
    int64_t per_user_daily;  /* > 0 */
    int64_t per_app_daily;   /* > 0 */
    int cooldown_seconds;    /* ≥ 0 */
    int64_t max_fee_amount;  /* ≥ 0 */
};

/* Decimal places of an asset code as configured (CKB 8, USDI usdi_decimals); -1 when the code is
 * neither. Independent of whether USDI is enabled, so the CLI can store a USDI policy ahead. */
int policy_asset_decimals(const struct config *cfg, const char *asset);

/* Parses a policy amount in whole units ("10.5"). allow_zero accepts "0" (only the fee cap may
 * be zero; amount_parse refuses zero everywhere else). */
enum amount_err policy_parse_amount(const char *s, int decimals, int allow_zero, int64_t *out);

/* A policy's settable values, in the order they are checked, printed and audited. */
enum policy_field {
    POLICY_ALLOWED = 0,
    POLICY_MIN,
    POLICY_MAX_PER_REQUEST,
    POLICY_USER_DAILY,
    POLICY_APP_DAILY,
    POLICY_COOLDOWN,
    POLICY_MAX_FEE,
    POLICY_NFIELDS
};
/* The name of each field on the admin API (policy.get/policy.set, "maxPerRequest") and as an
 * option of `fiberlinkd policy set` ("--max-per-request"). */
struct policy_field_name {
    const char *param;
    const char *option;
};
extern const struct policy_field_name policy_field_names[POLICY_NFIELDS];

/* The longest cooldown, in seconds: for a policy and for the withdraw_cooldown_seconds setting. */
#define POLICY_COOLDOWN_MAX (86400 * 30)

/* A change to one policy: only the fields whose bit (1u << enum policy_field) is in `set` are
 * written; the others keep the stored value (storage/policy.h). */
struct policy_update {
    unsigned set;
    struct withdrawal_policy v;
};

/* Sets field f of u from its text, by the rules `policy set` and the admin API's policy.set both
 * apply (the one copy of them): an amount is a decimal string in whole units of the asset with at
 * most `decimals` places, above zero except the fee cap, which may be "0"; the cooldown a whole
 * number of seconds 0..POLICY_COOLDOWN_MAX; allowed "true" or "false". text[0..len) need not be
 * NUL-terminated (a NUL inside is refused). Returns 0, or -1 with what is wrong in msg, worded to
 * follow the field's name ("has more than 8 decimal places"). */
int policy_update_field(struct policy_update *u, enum policy_field f, const char *text, size_t len,
                        int decimals, char *msg, size_t msgsz) __attribute__((warn_unused_result));

/* The configured default policy for asset ("CKB" | "USDI"). Returns 0, or -1 with a message naming
 * the offending setting in err (an amount that does not parse with the asset's decimals, or an
 * unknown name in withdraw_assets). */
int policy_defaults(const struct config *cfg, const char *asset, struct withdrawal_policy *out,
                    char *err, size_t errsz) __attribute__((warn_unused_result));

#endif
