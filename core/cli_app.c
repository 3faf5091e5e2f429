/* The app commands (core/cli_app.h): argument checks, the keys from the configuration, one
 * blocking connection, and what storage/apps.c found, printed as key=value lines scripts parse. */
#include "core/cli_app.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/seal.h"
#include "storage/apps.h"

/* A blocking connection that gives up after 10 s instead of libpq's default of waiting forever
 * (a connect_timeout in database_url, expanded after it, wins). */
static PGconn *connect_db(const char *conninfo, char *err, size_t errsz)
{
    const char *const keys[] = {"connect_timeout", "dbname", NULL};
    const char *const values[] = {"10", conninfo, NULL};
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, errsz, "cannot connect to the database: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

/* The ring the settings give, or NULL (with *bad = 0) when no key is configured at all. A
 * malformed key sets *bad and prints why. */
static struct seal_keyring *keys_from_config(const struct config *cfg, struct seal_keyring *ring,
                                             const char *cmd, int *bad)
{
    char err[160];
    *bad = 0;
    if (cfg->secrets_key == NULL && cfg->preimage_key == NULL)
        return NULL;
    if (seal_keyring_from_config(cfg->secrets_key, cfg->secrets_key_previous, cfg->preimage_key,
                                 ring, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        *bad = 1;
        return NULL;
    }
    return ring;
}

int cli_app_create(const char *conninfo, const struct seal_keyring *keys, const char *app_id,
                   const char *secret, char *secret_out, size_t secret_out_sz)
{
    char generated[APPS_SECRET_MAX + 1];
    char err[512];
    int rc = -1;
    PGconn *conn = NULL;

    generated[0] = '\0';
    if (app_id == NULL || !apps_id_valid(app_id)) {
        fprintf(stderr, "app create: the app id must be 1..%d characters of A-Z a-z 0-9 . _ -\n",
                APPS_ID_MAX);
        goto done;
    }
    if (secret != NULL && !apps_secret_valid(secret)) {
        fprintf(stderr, "app create: the secret must be %d..%d printable ASCII characters\n",
                APPS_SECRET_MIN, APPS_SECRET_MAX);
        goto done;
    }
    if (secret == NULL) {
        if (apps_secret_generate(generated) != 0) {
            fprintf(stderr, "app create: no randomness available for the secret\n");
            goto done;
        }
        secret = generated;
    }
    if (strlen(secret) >= secret_out_sz) {
        fprintf(stderr, "app create: secret buffer too small\n");
        goto done;
    }
    if ((conn = connect_db(conninfo, err, sizeof err)) == NULL) {
        fprintf(stderr, "app create: %s", err);
        goto done;
    }
    switch (apps_insert(conn, keys, app_id, secret, err, sizeof err)) {
    case APPS_INSERT_CREATED:
        if (keys == NULL)
            fprintf(stderr, "app create: warning: neither secrets_key nor preimage_key is set, so "
                            "the secret is stored unsealed until `fiberlinkd migrate` with a key "
                            "or the daemon seals it\n");
        break;
    case APPS_INSERT_EXISTS_SAME:
        /* Re-running the same registration is fine; a freshly generated secret cannot be it. */
        if (secret != generated)
            break;
        /* fall through */
    case APPS_INSERT_EXISTS_OTHER:
        fprintf(stderr, "app create: app %s already exists\n", app_id);
        goto done;
    case APPS_INSERT_EXISTS_SEALED:
        fprintf(stderr,
                "app create: app %s already exists (its secret is sealed: set secrets_key or "
                "preimage_key as for serve to compare it)\n",
                app_id);
        goto done;
    case APPS_INSERT_ERROR:
        fprintf(stderr, "app create: %s", err);
        goto done;
    }
    memcpy(secret_out, secret, strlen(secret) + 1);
    rc = 0;
done:
    PQfinish(conn);
    crypto_cleanse(generated, sizeof generated);
    return rc;
}

int cli_app_reseal(const char *conninfo, const struct seal_keyring *keys, const char *actor,
                   int *changed, char *summary, size_t summarysz, char *err, size_t errsz)
{
    struct apps_reseal_stats st;
    PGconn *conn = connect_db(conninfo, err, errsz);
    if (conn == NULL)
        return -2;
    int rc = apps_reseal(conn, keys, actor, &st, err, errsz);
    PQfinish(conn);
    if (rc != 0)
        return -1;
    *changed = st.sealed + st.resealed + st.dropped + st.webhooks_resealed;
    snprintf(summary, summarysz,
             "apps=%d sealed=%d resealed=%d dropped=%d webhooks=%d webhooks_resealed=%d", st.apps,
             st.sealed, st.resealed, st.dropped, st.webhooks, st.webhooks_resealed);
    return 0;
}

int cli_app_after_migrate(const struct config *cfg)
{
    struct seal_keyring ring;
    char err[512], summary[160];
    int bad, changed = 0, rc = 0;
    const struct seal_keyring *keys = keys_from_config(cfg, &ring, "migrate", &bad);
    if (bad)
        return -1;
    if (keys == NULL) {
        /* Nothing to seal with: say what waits, so the operator knows to come back. */
        PGconn *conn = connect_db(cfg->database_url, err, sizeof err);
        if (conn == NULL) {
            fprintf(stderr, "migrate: %s", err);
            return -1;
        }
        PGresult *res = PQexec(conn, "SELECT count(*) FROM apps WHERE hmac_secret IS NOT NULL");
        if (PQresultStatus(res) == PGRES_TUPLES_OK && atoi(PQgetvalue(res, 0, 0)) > 0)
            fprintf(stderr,
                    "migrate: %s app secret(s) stored unsealed: set secrets_key or preimage_key "
                    "and run migrate again, or start serve (it seals them)\n",
                    PQgetvalue(res, 0, 0));
        PQclear(res);
        PQfinish(conn);
        return 0;
    }
    if (cli_app_reseal(cfg->database_url, keys, "cli", &changed, summary, sizeof summary, err,
                       sizeof err) != 0) {
        fprintf(stderr, "migrate: %s\n", err);
        rc = -1;
    } else if (changed > 0) {
        printf("secrets %s\n", summary);
    }
    seal_keyring_dispose(&ring);
    return rc;
}

/* Options shared by the subcommands; each takes what it needs and refuses the rest. */
struct app_args {
    const char *app_id, *secret, *grace;
};

static int parse_args(const char *sub, const char *usage, int argc, char **argv, unsigned allowed,
                      struct app_args *a)
{
    enum { ARG_ID = 1, ARG_SECRET = 2, ARG_GRACE = 4 };
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        if ((allowed & ARG_ID) && strcmp(argv[i], "--app-id") == 0 && i + 1 < argc)
            a->app_id = argv[++i];
        else if ((allowed & ARG_SECRET) && strcmp(argv[i], "--secret") == 0 && i + 1 < argc)
            a->secret = argv[++i];
        else if ((allowed & ARG_GRACE) && strcmp(argv[i], "--grace-seconds") == 0 && i + 1 < argc)
            a->grace = argv[++i];
        else {
            fprintf(stderr, "fiberlinkd: app %s: unexpected argument '%s'\n%s", sub, argv[i],
                    usage);
            return -1;
        }
    }
    if ((allowed & ARG_ID) && a->app_id == NULL) {
        fprintf(stderr, "fiberlinkd: app %s needs --app-id ID\n", sub);
        return -1;
    }
    return 0;
}

static int cmd_create(const struct config *cfg, const char *usage, int argc, char **argv)
{
    struct app_args a;
    struct seal_keyring ring;
    int bad;
    if (parse_args("create", usage, argc, argv, 1 | 2, &a) != 0)
        return 2;
    const struct seal_keyring *keys = keys_from_config(cfg, &ring, "app create", &bad);
    if (bad)
        return 1;
    char out[APPS_SECRET_MAX + 1];
    int rc = cli_app_create(cfg->database_url, keys, a.app_id, a.secret, out, sizeof out);
    seal_keyring_dispose(&ring);
    if (rc != 0)
        return 1;
    printf("app_id=%s\nsecret=%s\n", a.app_id, out);
    crypto_cleanse(out, sizeof out);
    return 0;
}

static int cmd_rotate(const struct config *cfg, const char *usage, int argc, char **argv)
{
    struct app_args a;
    struct seal_keyring ring;
    char err[512], secret[APPS_SECRET_MAX + 1], retires[APPS_TIME_MAX];
    int bad, rc = 1;
    long grace = APPS_GRACE_DEFAULT;
    PGconn *conn = NULL;
    if (parse_args("rotate-secret", usage, argc, argv, 1 | 4, &a) != 0)
        return 2;
    if (a.grace != NULL) {
        char *end;
        grace = strtol(a.grace, &end, 10);
        if (*a.grace == '\0' || *end != '\0' || grace < 0 || grace > APPS_GRACE_MAX) {
            fprintf(stderr, "fiberlinkd: app rotate-secret: --grace-seconds must be 0..%d\n",
                    APPS_GRACE_MAX);
            return 2;
        }
    }
    const struct seal_keyring *keys = keys_from_config(cfg, &ring, "app rotate-secret", &bad);
    if (keys == NULL) {
        if (!bad)
            fprintf(stderr, "app rotate-secret: the new secret is stored sealed: set secrets_key "
                            "or preimage_key (the same settings as serve)\n");
        return 1;
    }
    if (apps_secret_generate(secret) != 0) {
        fprintf(stderr, "app rotate-secret: no randomness available for the secret\n");
        goto done;
    }
    if ((conn = connect_db(cfg->database_url, err, sizeof err)) == NULL) {
        fprintf(stderr, "app rotate-secret: %s", err);
        goto done;
    }
    switch (apps_rotate(conn, keys, a.app_id, secret, (int)grace, retires, err, sizeof err)) {
    case APPS_CHANGED:
        printf("app_id=%s\nsecret=%s\nprevious_retires_at=%s\n", a.app_id, secret, retires);
        rc = 0;
        break;
    case APPS_NOT_FOUND:
        fprintf(stderr, "app rotate-secret: no app %s\n", a.app_id);
        break;
    case APPS_NO_ROTATION:
    case APPS_ERROR:
        fprintf(stderr, "app rotate-secret: %s", err);
        break;
    }
done:
    PQfinish(conn);
    crypto_cleanse(secret, sizeof secret);
    seal_keyring_dispose(&ring);
    return rc;
}

static int cmd_finish(const struct config *cfg, const char *usage, int argc, char **argv)
{
    struct app_args a;
    char err[512], at[APPS_TIME_MAX];
    int rc = 1;
    if (parse_args("finish-rotation", usage, argc, argv, 1, &a) != 0)
        return 2;
    PGconn *conn = connect_db(cfg->database_url, err, sizeof err);
    if (conn == NULL) {
        fprintf(stderr, "app finish-rotation: %s", err);
        return 1;
    }
    switch (apps_finish_rotation(conn, a.app_id, at, err, sizeof err)) {
    case APPS_CHANGED:
        printf("app_id=%s\nfinished_at=%s\n", a.app_id, at);
        rc = 0;
        break;
    case APPS_NOT_FOUND:
        fprintf(stderr, "app finish-rotation: no app %s\n", a.app_id);
        break;
    case APPS_NO_ROTATION:
        fprintf(stderr, "app finish-rotation: app %s has no rotation in progress\n", a.app_id);
        break;
    case APPS_ERROR:
        fprintf(stderr, "app finish-rotation: %s", err);
        break;
    }
    PQfinish(conn);
    return rc;
}

static int cmd_reseal(const struct config *cfg, const char *usage, int argc, char **argv)
{
    struct app_args a;
    struct seal_keyring ring;
    char err[512], summary[160];
    int bad, changed;
    if (parse_args("reseal", usage, argc, argv, 0, &a) != 0)
        return 2;
    const struct seal_keyring *keys = keys_from_config(cfg, &ring, "app reseal", &bad);
    if (keys == NULL) {
        if (!bad)
            fprintf(stderr, "app reseal: set secrets_key or preimage_key (the same settings as "
                            "serve)\n");
        return 1;
    }
    int rc = cli_app_reseal(cfg->database_url, keys, "cli", &changed, summary, sizeof summary, err,
                            sizeof err);
    seal_keyring_dispose(&ring);
    if (rc != 0) {
        fprintf(stderr, "app reseal: %s\n", err);
        return 1;
    }
    printf("%s\n", summary);
    return 0;
}

int cli_app(const struct config *cfg, const char *usage, int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : "";
    if (strcmp(sub, "create") == 0)
        return cmd_create(cfg, usage, argc - 1, argv + 1);
    if (strcmp(sub, "rotate-secret") == 0)
        return cmd_rotate(cfg, usage, argc - 1, argv + 1);
    if (strcmp(sub, "finish-rotation") == 0)
        return cmd_finish(cfg, usage, argc - 1, argv + 1);
    if (strcmp(sub, "reseal") == 0)
        return cmd_reseal(cfg, usage, argc - 1, argv + 1);
    fprintf(stderr, "fiberlinkd: unknown app command '%s'\n%s", sub, usage);
    return 2;
}
