/* The policy command (core/cli_policy.h): argument parsing, printing and the blocking flow; the
 * rules for each value are core/policy.c (shared with the admin API's policy.set), the queries
 * storage/policy.c. A change is audited like the admin API's, with "cli" as the actor. */
#include "core/cli_policy.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/policy.h"
#include "storage/policy.h"

static const char policy_usage[] =
    "usage: fiberlinkd policy set --app-id ID --asset CKB|USDI [--allowed true|false] [--min X]\n"
    "                             [--max-per-request X] [--user-daily X] [--app-daily X]\n"
    "                             [--cooldown-seconds N] [--max-fee X]\n"
    "       fiberlinkd policy show --app-id ID\n"
    "Amounts are decimal strings in whole units of the asset (\"10.5\"); options left out keep\n"
    "the stored value, or the configured default when the app has no policy for the asset yet.\n";

/* Options of `policy set`. */
struct policy_args {
    const char *app_id;
    const char *asset;
    struct policy_update u;
    const char *given[POLICY_NFIELDS]; /* each option's value as typed, NULL when not given */
};

/* amount in whole units of the asset, or the base units when it does not format. */
static void format_amount(int64_t v, int decimals, char *buf, size_t sz)
{
    if (amount_format(v, decimals, buf, sz) < 0)
        snprintf(buf, sz, "%" PRId64, v);
}

static void print_policy(const struct config *cfg, const char *app_id, const char *asset,
                         const char *source, const struct withdrawal_policy *p)
{
    int decimals = policy_asset_decimals(cfg, asset);
    char v[5][40];
    int64_t amounts[5] = {p->min_amount, p->max_per_request, p->per_user_daily, p->per_app_daily,
                          p->max_fee_amount};
    for (int i = 0; i < 5; i++)
        format_amount(amounts[i], decimals, v[i], sizeof v[i]);
    printf("app_id=%s asset=%s source=%s allowed=%s min=%s max_per_request=%s "
           "user_daily=%s app_daily=%s cooldown_seconds=%d max_fee=%s\n",
           app_id, asset, source, p->allowed ? "true" : "false", v[0], v[1], v[2], v[3],
           p->cooldown_seconds, v[4]);
}

static int policy_show(const struct config *cfg, PGconn *conn, const char *app_id)
{
    char err[512];
    for (size_t i = 0; i < POLICY_NASSETS; i++) {
        const char *asset = policy_assets[i];
        struct withdrawal_policy p;
        int found = policy_db_get(conn, app_id, asset, &p, err, sizeof err);
        if (found < 0) {
            fprintf(stderr, "fiberlinkd: policy show: %s", err);
            return -1;
        }
        if (found) {
            print_policy(cfg, app_id, asset, "policy", &p);
        } else {
            if (policy_defaults(cfg, asset, &p, err, sizeof err) != 0) {
                fprintf(stderr, "fiberlinkd: policy show: %s\n", err);
                return -1;
            }
            print_policy(cfg, app_id, asset, "default", &p);
        }
    }
    return 0;
}

static int policy_set(const struct config *cfg, PGconn *conn, const struct policy_args *a)
{
    struct withdrawal_policy d, stored;
    char err[512];
    if (policy_defaults(cfg, a->asset, &d, err, sizeof err) != 0) {
        fprintf(stderr, "fiberlinkd: policy set: %s\n", err);
        return -1;
    }
    /* The audit row's params: what was asked, named and typed as on the admin API. */
    json_t *params = json_pack("{s:s, s:s}", "appId", a->app_id, "asset", a->asset);
    for (int f = 0; f < POLICY_NFIELDS; f++) {
        if (a->given[f] == NULL)
            continue;
        json_t *v = f == POLICY_ALLOWED    ? json_boolean(a->u.v.allowed)
                    : f == POLICY_COOLDOWN ? json_integer(a->u.v.cooldown_seconds)
                                           : json_string(a->given[f]);
        json_object_set_new(params, policy_field_names[f].param, v);
    }
    char *params_json = json_dumps(params, JSON_COMPACT);
    json_decref(params);
    int written = policy_db_set(conn, "cli", params_json, a->app_id, a->asset, &a->u, &d, &stored,
                                err, sizeof err);
    free(params_json);
    if (written < 0) {
        fprintf(stderr, "fiberlinkd: policy set: %s", err);
        return -1;
    }
    if (written == 0) {
        /* Checked before, so only an app removed meanwhile gets here. */
        fprintf(stderr, "fiberlinkd: policy: app %s is not registered\n", a->app_id);
        return -1;
    }
    print_policy(cfg, a->app_id, a->asset, "policy", &stored);
    return 0;
}

/* Fills a from `set` options; -1 after printing what is wrong. */
static int parse_set_args(const struct config *cfg, int argc, char **argv, struct policy_args *a)
{
    struct policy_update *u = &a->u;
    /* The asset decides how amounts parse, so find it first. */
    for (int i = 0; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--asset") == 0)
            a->asset = argv[i + 1];
    }
    if (a->asset == NULL || policy_asset_decimals(cfg, a->asset) < 0) {
        fprintf(stderr, "fiberlinkd: policy set needs --asset CKB|USDI\n");
        return -1;
    }
    int decimals = policy_asset_decimals(cfg, a->asset);
    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL || strncmp(opt, "--", 2) != 0) {
            fprintf(stderr, "fiberlinkd: policy set: unexpected argument '%s'\n", opt);
            return -1;
        }
        i++;
        if (strcmp(opt, "--app-id") == 0) {
            a->app_id = v;
            continue;
        }
        if (strcmp(opt, "--asset") == 0)
            continue; /* read above */
        int f = 0;
        while (f < POLICY_NFIELDS && strcmp(opt, policy_field_names[f].option) != 0)
            f++;
        if (f == POLICY_NFIELDS) {
            fprintf(stderr, "fiberlinkd: policy set: unknown option '%s'\n", opt);
            return -1;
        }
        char msg[160];
        if (policy_update_field(u, (enum policy_field)f, v, strlen(v), decimals, msg, sizeof msg) !=
            0) {
            fprintf(stderr, "fiberlinkd: policy set: %s '%s' %s\n", opt, v, msg);
            return -1;
        }
        a->given[f] = v;
    }
    if (a->app_id == NULL) {
        fprintf(stderr, "fiberlinkd: policy set needs --app-id ID\n");
        return -1;
    }
    return 0;
}

int cli_policy(const struct config *cfg, int argc, char **argv)
{
    struct policy_args a = {0};
    int show;
    PGconn *conn = NULL;
    char err[512];
    int rc = 1;

    if (argc >= 1 && strcmp(argv[0], "set") == 0) {
        show = 0;
        if (parse_set_args(cfg, argc - 1, argv + 1, &a) != 0)
            goto usage;
    } else if (argc == 3 && strcmp(argv[0], "show") == 0 && strcmp(argv[1], "--app-id") == 0) {
        show = 1;
        a.app_id = argv[2];
    } else {
        goto usage;
    }

    conn = PQconnectdb(cfg->database_url);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "fiberlinkd: policy: cannot connect to the database: %s",
                PQerrorMessage(conn));
        goto fail;
    }
    int exists = policy_db_app_exists(conn, a.app_id, err, sizeof err);
    if (exists < 0)
        fprintf(stderr, "fiberlinkd: policy: %s", err);
    else if (exists == 0)
        fprintf(stderr, "fiberlinkd: policy: app %s is not registered\n", a.app_id);
    if (exists <= 0)
        goto fail;
    if ((show ? policy_show(cfg, conn, a.app_id) : policy_set(cfg, conn, &a)) != 0)
        goto fail;
    fflush(stdout);
    rc = 0;
fail:
    PQfinish(conn);
    return rc;
usage:
    fputs(policy_usage, stderr);
    return 2;
}
