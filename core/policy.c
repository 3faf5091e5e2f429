/* The configured withdrawal-policy defaults in base units, and the rules a change to a policy
 * follows (core/policy.h). */
#include "core/policy.h"

#include <stddef.h>
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

static enum amount_err parse_amount(const char *s, size_t len, int decimals, int allow_zero,
                                    int64_t *out)
{
    if (allow_zero && len == 1 && s[0] == '0') {
        *out = 0;
        return AMOUNT_OK;
    }
    return amount_parse(s, len, decimals, out);
}

enum amount_err policy_parse_amount(const char *s, int decimals, int allow_zero, int64_t *out)
{
    return parse_amount(s, strlen(s), decimals, allow_zero, out);
}

const struct policy_field_name policy_field_names[POLICY_NFIELDS] = {
    [POLICY_ALLOWED] = {"allowed", "--allowed"},
    [POLICY_MIN] = {"min", "--min"},
    [POLICY_MAX_PER_REQUEST] = {"maxPerRequest", "--max-per-request"},
    [POLICY_USER_DAILY] = {"userDaily", "--user-daily"},
    [POLICY_APP_DAILY] = {"appDaily", "--app-daily"},
    [POLICY_COOLDOWN] = {"cooldownSeconds", "--cooldown-seconds"},
    [POLICY_MAX_FEE] = {"maxFee", "--max-fee"},
};

int policy_update_field(struct policy_update *u, enum policy_field f, const char *text, size_t len,
                        int decimals, char *msg, size_t msgsz)
{
    static const size_t amount_at[POLICY_NFIELDS] = {
        [POLICY_MIN] = offsetof(struct withdrawal_policy, min_amount),
        [POLICY_MAX_PER_REQUEST] = offsetof(struct withdrawal_policy, max_per_request),
        [POLICY_USER_DAILY] = offsetof(struct withdrawal_policy, per_user_daily),
        [POLICY_APP_DAILY] = offsetof(struct withdrawal_policy, per_app_daily),
        [POLICY_MAX_FEE] = offsetof(struct withdrawal_policy, max_fee_amount),
    };
    struct withdrawal_policy *v = &u->v;
    if ((unsigned)f >= POLICY_NFIELDS) {
        snprintf(msg, msgsz, "is not a policy field");
        return -1;
    }
    if (f == POLICY_ALLOWED) {
        int yes = len == 4 && memcmp(text, "true", 4) == 0;
        if (!yes && !(len == 5 && memcmp(text, "false", 5) == 0)) {
            snprintf(msg, msgsz, "must be true or false");
            return -1;
        }
        v->allowed = yes;
    } else if (f == POLICY_COOLDOWN) {
        /* Digits only (no sign, blank or exponent), as the amounts; stops counting once too big. */
        long n = 0;
        size_t i = 0;
        while (i < len && text[i] >= '0' && text[i] <= '9' && n <= POLICY_COOLDOWN_MAX)
            n = n * 10 + (text[i++] - '0');
        if (len == 0 || i != len || n > POLICY_COOLDOWN_MAX) {
            snprintf(msg, msgsz, "must be a whole number of seconds from 0 to %d",
                     POLICY_COOLDOWN_MAX);
            return -1;
        }
        v->cooldown_seconds = (int)n;
    } else {
        enum amount_err e = parse_amount(text, len, decimals, f == POLICY_MAX_FEE,
                                         (int64_t *)((char *)v + amount_at[f]));
        if (e != AMOUNT_OK) {
            snprintf(msg, msgsz, "%s", amount_err_text(e));
            return -1;
        }
    }
    u->set |= 1u << f;
    return 0;
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
