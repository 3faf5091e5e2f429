/* The app command (core/cli_app.h): checks the id and secret, makes a secret when none is given,
 * and reports what storage/apps.c found. */
#include "core/cli_app.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/crypto.h"
#include "storage/apps.h"

#define APPS_ID_MAX 128
#define APPS_SECRET_MIN 16
#define APP_SECRET_RANDOM_BYTES 32

static int app_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n < 1 || n > APPS_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

static int secret_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < APPS_SECRET_MIN || n > APPS_SECRET_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e)
            return 0;
    }
    return 1;
}

int cli_app_create(const char *conninfo, const char *app_id, const char *secret, char *secret_out,
                   size_t secret_out_sz)
{
    char generated[2 * APP_SECRET_RANDOM_BYTES + 1];
    char err[512];
    int rc = -1;

    if (app_id == NULL || !app_id_valid(app_id)) {
        fprintf(stderr, "app create: the app id must be 1..%d characters of A-Z a-z 0-9 . _ -\n",
                APPS_ID_MAX);
        goto done;
    }
    if (secret != NULL && !secret_valid(secret)) {
        fprintf(stderr, "app create: the secret must be %d..%d printable ASCII characters\n",
                APPS_SECRET_MIN, APPS_SECRET_MAX);
        goto done;
    }
    if (secret == NULL) {
        uint8_t raw[APP_SECRET_RANDOM_BYTES];
        if (crypto_random(raw, sizeof raw) != 0) {
            fprintf(stderr, "app create: no randomness available for the secret\n");
            goto done;
        }
        hex_encode(raw, sizeof raw, generated);
        crypto_cleanse(raw, sizeof raw);
        secret = generated;
    }
    if (strlen(secret) >= secret_out_sz) {
        fprintf(stderr, "app create: secret buffer too small\n");
        goto done;
    }
    switch (apps_insert(conninfo, app_id, secret, err, sizeof err)) {
    case APPS_INSERT_CREATED:
        break;
    case APPS_INSERT_EXISTS_SAME:
        /* Re-running the same registration is fine; a freshly generated secret cannot be it. */
        if (secret != generated)
            break;
        /* fall through */
    case APPS_INSERT_EXISTS_OTHER:
        fprintf(stderr, "app create: app %s already exists\n", app_id);
        goto done;
    case APPS_INSERT_ERROR:
        fprintf(stderr, "app create: %s", err);
        goto done;
    }
    memcpy(secret_out, secret, strlen(secret) + 1);
    rc = 0;
done:
    crypto_cleanse(generated, sizeof generated);
    return rc;
}

int cli_app(const struct config *cfg, const char *usage, int argc, char **argv)
{
    const char *app_id = NULL, *secret = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--app-id") == 0 && i + 1 < argc)
            app_id = argv[++i];
        else if (strcmp(argv[i], "--secret") == 0 && i + 1 < argc)
            secret = argv[++i];
        else {
            fprintf(stderr, "fiberlinkd: app create: unexpected argument '%s'\n%s", argv[i], usage);
            return 2;
        }
    }
    if (app_id == NULL) {
        fprintf(stderr, "fiberlinkd: app create needs --app-id ID\n");
        return 2;
    }
    char out[APPS_SECRET_MAX + 1];
    if (cli_app_create(cfg->database_url, app_id, secret, out, sizeof out) != 0)
        return 1;
    printf("app_id=%s\nsecret=%s\n", app_id, out);
    return 0;
}
