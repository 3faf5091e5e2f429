/* `fiberlinkd policy set --app-id ID --asset CKB|USDI [--allowed true|false] [--min X]
 * [--max-per-request X] [--user-daily X] [--app-daily X] [--cooldown-seconds N] [--max-fee X]`
 * and `fiberlinkd policy show --app-id ID`: an operator's view of the withdrawal policies
 * (core/policy.h, stored through storage/policy.h). Options left out of `set` keep the stored
 * row's value, or the configured default when the app has no row yet. Each policy is printed as
 * one line `app_id=… asset=… source=policy|default allowed=true|false min=… max_per_request=…
 * user_daily=… app_daily=… cooldown_seconds=… max_fee=…` (amounts in whole units). */
#ifndef FL_CLI_POLICY_H
#define FL_CLI_POLICY_H

struct config;

/* argv holds the words after `policy`. Returns the exit code: 0, 1 (database error, unknown
 * app), 2 (usage). */
int cli_policy(const struct config *cfg, int argc, char **argv);

#endif
