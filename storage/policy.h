/* Withdrawal policy per app and asset (the withdrawal_policies table of
 * storage/migrations/0004_withdrawals.sql): which assets may be withdrawn, the minimum and maximum
 * per request, rolling 24-hour totals per user and per app, the cooldown between a user's
 * withdrawals and the routing fee cap. An app without a row for an asset gets the daemon's
 * configured defaults (the withdraw_* settings, decimal strings in whole units of the asset),
 * which the request path hands to the balance gate as arguments.
 *
 * Two parts: pure helpers that turn the configured defaults into base units (used by the serving
 * path at start-up and on each call, and by the CLI), and `fiberlinkd policy set|show`, a CLI
 * command on blocking libpq like storage/migrate.c. */
#ifndef FL_STORAGE_POLICY_H
#define FL_STORAGE_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "core/amount.h"
#include "core/config.h"

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

/* The configured default policy for asset ("CKB" | "USDI"). Returns 0, or -1 with a message naming
 * the offending setting in err (an amount that does not parse with the asset's decimals, or an
 * unknown name in withdraw_assets). */
int policy_defaults(const struct config *cfg, const char *asset, struct withdrawal_policy *out,
                    char *err, size_t errsz) __attribute__((warn_unused_result));

/* `fiberlinkd policy set --app-id ID --asset CKB|USDI [--allowed true|false] [--min X]
 * [--max-per-request X] [--user-daily X] [--app-daily X] [--cooldown-seconds N] [--max-fee X]`
 * and `fiberlinkd policy show --app-id ID`; argv holds the words after `policy`. Options left out
 * of `set` keep the stored row's value, or the configured default when the app has no row yet.
 * Each policy is printed as one line `app_id=… asset=… source=policy|default allowed=true|false
 * min=… max_per_request=… user_daily=… app_daily=… cooldown_seconds=… max_fee=…` (amounts in whole
 * units). Returns the exit code: 0, 1 (database error, unknown app), 2 (usage). */
int policy_command(const struct config *cfg, int argc, char **argv);

#endif
