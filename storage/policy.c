/* Withdrawal policies (storage/policy.h): the configured defaults in base units, and the
 * `fiberlinkd policy` command. `set` is one upsert whose untouched columns keep the stored value
 * (or take the default on first insert), so two operators editing different limits at once do not
 * undo each other's change. */
#include "storage/policy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/mem.h"

#define POLICY_COOLDOWN_MAX (86400 * 30) /* as the withdraw_cooldown_seconds setting */

static const char *const policy_assets[] = {"CKB", "USDI"};

static const char policy_usage[] =
    "usage: fiberlinkd policy set --app-id ID --asset CKB|USDI [--allowed true|false] [--min X]\n"
    "                             [--max-per-request X] [--user-daily X] [--app-daily X]\n"
    "                             [--cooldown-seconds N] [--max-fee X]\n"
    "       fiberlinkd policy show --app-id ID\n"
    "Amounts are decimal strings in whole units of the asset (\"10.5\"); options left out keep\n"
    "the stored value, or the configured default when the app has no policy for the asset yet.\n";

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

/* ---- the command ---- */

/* Options of `policy set`; NULL text means "keep". */
struct policy_args {
    const char *app_id;
    const char *asset;
    const char *allowed; /* "true" | "false" */
    char min[24], max_per_request[24], user_daily[24], app_daily[24], max_fee[24];
    char cooldown[16];
    int has_min, has_max_per_request, has_user_daily, has_app_daily, has_max_fee, has_cooldown;
};

static int parse_option_amount(const char *opt, const char *value, int decimals, int allow_zero,
                               char out[24], int *has)
{
    int64_t v;
    enum amount_err e = policy_parse_amount(value, decimals, allow_zero, &v);
    if (e != AMOUNT_OK) {
        fprintf(stderr, "fiberlinkd: policy set: %s '%s' %s\n", opt, value, amount_err_text(e));
        return -1;
    }
    snprintf(out, 24, "%" PRId64, v);
    *has = 1;
    return 0;
}

static void print_amount(const char *name, const char *base_units, int decimals)
{
    int64_t v = strtoll(base_units, NULL, 10);
    char buf[40];
    if (amount_format(v, decimals, buf, sizeof buf) < 0)
        snprintf(buf, sizeof buf, "%s", base_units);
    printf(" %s=%s", name, buf);
}

/* Prints one policy line from a row holding the policy columns as text. */
static void print_policy(const struct config *cfg, const char *app_id, const char *asset,
                         const char *source, PGresult *res)
{
    int decimals = policy_asset_decimals(cfg, asset);
    printf("app_id=%s asset=%s source=%s allowed=%s", app_id, asset, source,
           PQgetvalue(res, 0, PQfnumber(res, "allowed"))[0] == 't' ? "true" : "false");
    print_amount("min", PQgetvalue(res, 0, PQfnumber(res, "min_amount")), decimals);
    print_amount("max_per_request", PQgetvalue(res, 0, PQfnumber(res, "max_per_request")),
                 decimals);
    print_amount("user_daily", PQgetvalue(res, 0, PQfnumber(res, "per_user_daily")), decimals);
    print_amount("app_daily", PQgetvalue(res, 0, PQfnumber(res, "per_app_daily")), decimals);
    printf(" cooldown_seconds=%s", PQgetvalue(res, 0, PQfnumber(res, "cooldown_seconds")));
    print_amount("max_fee", PQgetvalue(res, 0, PQfnumber(res, "max_fee_amount")), decimals);
    printf("\n");
}

static void print_default(const char *app_id, const char *asset, int decimals,
                          const struct withdrawal_policy *d)
{
    char v[5][24];
    int64_t amounts[5] = {d->min_amount, d->max_per_request, d->per_user_daily, d->per_app_daily,
                          d->max_fee_amount};
    for (int i = 0; i < 5; i++) {
        if (amount_format(amounts[i], decimals, v[i], sizeof v[i]) < 0)
            snprintf(v[i], sizeof v[i], "?");
    }
    printf("app_id=%s asset=%s source=default allowed=%s min=%s max_per_request=%s "
           "user_daily=%s app_daily=%s cooldown_seconds=%d max_fee=%s\n",
           app_id, asset, d->allowed ? "true" : "false", v[0], v[1], v[2], v[3],
           d->cooldown_seconds, v[4]);
}

/* 1 when the app is registered, 0 when not (message printed), -1 on error. */
static int app_exists(PGconn *conn, const char *app_id)
{
    const char *params[1] = {app_id};
    PGresult *res =
        PQexecParams(conn, "SELECT 1 FROM apps WHERE app_id = $1", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "fiberlinkd: policy: reading apps failed: %s", PQerrorMessage(conn));
        PQclear(res);
        return -1;
    }
    int found = PQntuples(res) > 0;
    PQclear(res);
    if (!found)
        fprintf(stderr, "fiberlinkd: policy: app %s is not registered\n", app_id);
    return found;
}

static const char policy_columns[] = "allowed, min_amount, max_per_request, per_user_daily, "
                                     "per_app_daily, cooldown_seconds, max_fee_amount";

static int policy_show(const struct config *cfg, PGconn *conn, const char *app_id)
{
    for (size_t i = 0; i < FL_ARRAY_LEN(policy_assets); i++) {
        const char *asset = policy_assets[i];
        const char *params[2] = {app_id, asset};
        char *sql = xasprintf("SELECT %s FROM withdrawal_policies WHERE app_id = $1 AND asset = $2",
                              policy_columns);
        PGresult *res = PQexecParams(conn, sql, 2, NULL, params, NULL, NULL, 0);
        free(sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            fprintf(stderr, "fiberlinkd: policy show: %s", PQerrorMessage(conn));
            PQclear(res);
            return -1;
        }
        if (PQntuples(res) == 1) {
            print_policy(cfg, app_id, asset, "policy", res);
        } else {
            struct withdrawal_policy d;
            char err[256];
            if (policy_defaults(cfg, asset, &d, err, sizeof err) != 0) {
                fprintf(stderr, "fiberlinkd: policy show: %s\n", err);
                PQclear(res);
                return -1;
            }
            print_default(app_id, asset, policy_asset_decimals(cfg, asset), &d);
        }
        PQclear(res);
    }
    return 0;
}

static int policy_set(const struct config *cfg, PGconn *conn, const struct policy_args *a)
{
    struct withdrawal_policy d;
    char err[256];
    if (policy_defaults(cfg, a->asset, &d, err, sizeof err) != 0) {
        fprintf(stderr, "fiberlinkd: policy set: %s\n", err);
        return -1;
    }
    char dv[6][24];
    snprintf(dv[0], sizeof dv[0], "%" PRId64, d.min_amount);
    snprintf(dv[1], sizeof dv[1], "%" PRId64, d.max_per_request);
    snprintf(dv[2], sizeof dv[2], "%" PRId64, d.per_user_daily);
    snprintf(dv[3], sizeof dv[3], "%" PRId64, d.per_app_daily);
    snprintf(dv[4], sizeof dv[4], "%d", d.cooldown_seconds);
    snprintf(dv[5], sizeof dv[5], "%" PRId64, d.max_fee_amount);
    const char *params[16] = {
        a->app_id,
        a->asset,
        a->allowed,
        a->has_min ? a->min : NULL,
        a->has_max_per_request ? a->max_per_request : NULL,
        a->has_user_daily ? a->user_daily : NULL,
        a->has_app_daily ? a->app_daily : NULL,
        a->has_cooldown ? a->cooldown : NULL,
        a->has_max_fee ? a->max_fee : NULL,
        d.allowed ? "true" : "false",
        dv[0],
        dv[1],
        dv[2],
        dv[3],
        dv[4],
        dv[5],
    };
    char *sql = xasprintf(
        "INSERT INTO withdrawal_policies AS p (app_id, asset, %s) "
        "VALUES ($1, $2, coalesce($3::boolean, $10::boolean), coalesce($4::bigint, $11::bigint), "
        "coalesce($5::bigint, $12::bigint), coalesce($6::bigint, $13::bigint), "
        "coalesce($7::bigint, $14::bigint), coalesce($8::integer, $15::integer), "
        "coalesce($9::bigint, $16::bigint)) "
        "ON CONFLICT (app_id, asset) DO UPDATE SET "
        "allowed = coalesce($3::boolean, p.allowed), "
        "min_amount = coalesce($4::bigint, p.min_amount), "
        "max_per_request = coalesce($5::bigint, p.max_per_request), "
        "per_user_daily = coalesce($6::bigint, p.per_user_daily), "
        "per_app_daily = coalesce($7::bigint, p.per_app_daily), "
        "cooldown_seconds = coalesce($8::integer, p.cooldown_seconds), "
        "max_fee_amount = coalesce($9::bigint, p.max_fee_amount), updated_at = now() "
        "RETURNING %s",
        policy_columns, policy_columns);
    PGresult *res = PQexecParams(conn, sql, 16, NULL, params, NULL, NULL, 0);
    free(sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        fprintf(stderr, "fiberlinkd: policy set: %s", PQerrorMessage(conn));
        PQclear(res);
        return -1;
    }
    print_policy(cfg, a->app_id, a->asset, "policy", res);
    PQclear(res);
    return 0;
}

/* Fills a from `set` options; -1 after printing what is wrong. */
static int parse_set_args(const struct config *cfg, int argc, char **argv, struct policy_args *a)
{
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
        int r = 0;
        if (strcmp(opt, "--app-id") == 0) {
            a->app_id = v;
        } else if (strcmp(opt, "--asset") == 0) {
            /* read above */
        } else if (strcmp(opt, "--allowed") == 0) {
            if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
                fprintf(stderr, "fiberlinkd: policy set: --allowed must be true or false\n");
                return -1;
            }
            a->allowed = v;
        } else if (strcmp(opt, "--min") == 0) {
            r = parse_option_amount(opt, v, decimals, 0, a->min, &a->has_min);
        } else if (strcmp(opt, "--max-per-request") == 0) {
            r = parse_option_amount(opt, v, decimals, 0, a->max_per_request,
                                    &a->has_max_per_request);
        } else if (strcmp(opt, "--user-daily") == 0) {
            r = parse_option_amount(opt, v, decimals, 0, a->user_daily, &a->has_user_daily);
        } else if (strcmp(opt, "--app-daily") == 0) {
            r = parse_option_amount(opt, v, decimals, 0, a->app_daily, &a->has_app_daily);
        } else if (strcmp(opt, "--max-fee") == 0) {
            r = parse_option_amount(opt, v, decimals, 1, a->max_fee, &a->has_max_fee);
        } else if (strcmp(opt, "--cooldown-seconds") == 0) {
            char *end;
            errno = 0;
            long n = strtol(v, &end, 10);
            if (errno != 0 || end == v || *end != '\0' || n < 0 || n > POLICY_COOLDOWN_MAX) {
                fprintf(stderr,
                        "fiberlinkd: policy set: --cooldown-seconds must be 0..%d seconds\n",
                        POLICY_COOLDOWN_MAX);
                return -1;
            }
            snprintf(a->cooldown, sizeof a->cooldown, "%ld", n);
            a->has_cooldown = 1;
        } else {
            fprintf(stderr, "fiberlinkd: policy set: unknown option '%s'\n", opt);
            return -1;
        }
        if (r != 0)
            return -1;
    }
    if (a->app_id == NULL) {
        fprintf(stderr, "fiberlinkd: policy set needs --app-id ID\n");
        return -1;
    }
    return 0;
}

int policy_command(const struct config *cfg, int argc, char **argv)
{
    struct policy_args a = {0};
    int show;
    PGconn *conn = NULL;
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
    int exists = app_exists(conn, a.app_id);
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
