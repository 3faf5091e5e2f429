/* The configured withdrawal-policy defaults in base units (core/policy.h). */
#include "core/policy.h"

#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/mem.h"

const char *const policy_assets[POLICY_NASSETS] = {"CKB", "USDI"};

int policy_asset_decimals(const struct config *cfg, const char *asset)
{
    if (strcmp(asset, "CKB") == 0)
        return 8;
    if (strcmp(asset, "USDI") == 0)
        return cfg->usdi_decimals;
    return -1;
}

enum amount_err policy_parse_amount(const char *s, int decimals, int allow_zero, int64_t *out)
{
    if (allow_zero && strcmp(s, "0") == 0) {
        *out = 0;
        return AMOUNT_OK;
    }
    return amount_parse(s, strlen(s), decimals, out);
}

/* 1 when asset appears in the comma-separated list (spaces around names ignored), 0 when not,
 * -1 with a message when the list names something that is not an asset. */
static int asset_listed(const char *list, const char *asset, char *err, size_t errsz)
{
    int found = 0;
    const char *p = list;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        while (len > 0 && *s == ' ')
            s++, len--;
        while (len > 0 && s[len - 1] == ' ')
            len--;
        if (len > 0) {
            int known = 0;
            for (size_t i = 0; i < FL_ARRAY_LEN(policy_assets); i++) {
                if (strlen(policy_assets[i]) == len && memcmp(policy_assets[i], s, len) == 0)
                    known = 1;
            }
            if (!known) {
                snprintf(err, errsz, "withdraw_assets: unknown asset '%.*s' (CKB, USDI)", (int)len,
                         s);
                return -1;
            }
            if (strlen(asset) == len && memcmp(asset, s, len) == 0)
                found = 1;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    return found;
}

static int default_amount(const char *key, const char *value, int decimals, int allow_zero,
                          int64_t *out, char *err, size_t errsz)
{
    enum amount_err e = policy_parse_amount(value != NULL ? value : "", decimals, allow_zero, out);
    if (e == AMOUNT_OK)
        return 0;
    snprintf(err, errsz, "%s: '%s' %s", key, value != NULL ? value : "", amount_err_text(e));
    return -1;
}

int policy_defaults(const struct config *cfg, const char *asset, struct withdrawal_policy *out,
                    char *err, size_t errsz)
{
    int decimals = policy_asset_decimals(cfg, asset);
    if (decimals < 0) {
        snprintf(err, errsz, "unknown asset '%s'", asset);
        return -1;
    }
    int listed =
        asset_listed(cfg->withdraw_assets != NULL ? cfg->withdraw_assets : "", asset, err, errsz);
    if (listed < 0)
        return -1;
    out->allowed = listed;
    out->cooldown_seconds = cfg->withdraw_cooldown_seconds;
    if (default_amount("withdraw_min", cfg->withdraw_min, decimals, 0, &out->min_amount, err,
                       errsz) != 0 ||
        default_amount("withdraw_max_per_request", cfg->withdraw_max_per_request, decimals, 0,
                       &out->max_per_request, err, errsz) != 0 ||
        default_amount("withdraw_user_daily", cfg->withdraw_user_daily, decimals, 0,
                       &out->per_user_daily, err, errsz) != 0 ||
        default_amount("withdraw_app_daily", cfg->withdraw_app_daily, decimals, 0,
                       &out->per_app_daily, err, errsz) != 0 ||
        default_amount("withdraw_max_fee", cfg->withdraw_max_fee, decimals, 1, &out->max_fee_amount,
                       err, errsz) != 0)
        return -1;
    return 0;
}
