/* The admin commands (core/cli_admin.h): argument checks, the token's randomness and hash, and
 * messages for what storage/admin.c found. */
#include "core/cli_admin.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/crypto.h"
#include "storage/admin.h"

#define CLI_ADMIN_NAME_MAX 64
#define CLI_ADMIN_TOKEN_BYTES 32
#define CLI_ADMIN_MAX_APPS 64
#define CLI_ADMIN_APP_ID_MAX 128

/* As admin_tokens.name's CHECK; "cli" is the audit log's actor for the command line itself. */
static int name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > CLI_ADMIN_NAME_MAX || strcmp(s, "cli") == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '@' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

static int admin_create(const struct config *cfg, const char *usage, int argc, char **argv)
{
    const char *name = NULL, *role = NULL;
    const char *apps[CLI_ADMIN_MAX_APPS];
    int napps = 0;
    char err[512];
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
            name = argv[++i];
        } else if (strcmp(argv[i], "--role") == 0 && i + 1 < argc) {
            role = argv[++i];
        } else if (strcmp(argv[i], "--app-id") == 0 && i + 1 < argc) {
            if (napps == CLI_ADMIN_MAX_APPS) {
                fprintf(stderr, "fiberlinkd: admin create: at most %d --app-id\n",
                        CLI_ADMIN_MAX_APPS);
                return 2;
            }
            apps[napps++] = argv[++i];
        } else {
            fprintf(stderr, "fiberlinkd: admin create: unexpected argument '%s'\n%s", argv[i],
                    usage);
            return 2;
        }
    }
    if (name == NULL || role == NULL) {
        fprintf(stderr, "fiberlinkd: admin create needs --name N and --role "
                        "SUPER_ADMIN|COMMUNITY_ADMIN\n");
        return 2;
    }
    if (!name_valid(name)) {
        fprintf(stderr,
                "admin create: the name must be 1..%d characters of A-Z a-z 0-9 . _ @ - "
                "(and not \"cli\")\n",
                CLI_ADMIN_NAME_MAX);
        return 1;
    }
    if (strcmp(role, "SUPER_ADMIN") == 0) {
        if (napps > 0) {
            fprintf(stderr, "admin create: a SUPER_ADMIN sees every app: give no --app-id\n");
            return 1;
        }
    } else if (strcmp(role, "COMMUNITY_ADMIN") == 0) {
        if (napps == 0) {
            fprintf(stderr, "admin create: a COMMUNITY_ADMIN needs at least one --app-id\n");
            return 1;
        }
    } else {
        fprintf(stderr, "admin create: the role must be SUPER_ADMIN or COMMUNITY_ADMIN\n");
        return 1;
    }
    for (int i = 0; i < napps; i++) {
        size_t n = strlen(apps[i]);
        if (n < 1 || n > CLI_ADMIN_APP_ID_MAX) {
            fprintf(stderr, "admin create: app %s does not exist\n", apps[i]);
            return 1;
        }
    }

    uint8_t raw[CLI_ADMIN_TOKEN_BYTES], hash[CRYPTO_SHA256_LEN];
    char token[2 * CLI_ADMIN_TOKEN_BYTES + 1];
    if (crypto_random(raw, sizeof raw) != 0) {
        fprintf(stderr, "admin create: no randomness available for the token\n");
        return 1;
    }
    hex_encode(raw, sizeof raw, token);
    crypto_cleanse(raw, sizeof raw);
    crypto_sha256(token, strlen(token), hash);
    int rc = 1;
    switch (admin_token_create(cfg->database_url, name, role, apps, napps, hash, err, sizeof err)) {
    case ADMIN_STORE_OK:
        printf("name=%s\nrole=%s\ntoken=%s\n", name, role, token);
        rc = 0;
        break;
    case ADMIN_STORE_EXISTS:
        fprintf(stderr,
                "admin create: an admin named %s already exists (names are never reused; "
                "`admin revoke` it and pick another name)\n",
                name);
        break;
    case ADMIN_STORE_UNKNOWN_APP:
        fprintf(stderr, "admin create: app %s does not exist\n", err);
        break;
    default:
        fprintf(stderr, "admin create: %s\n", err);
        break;
    }
    crypto_cleanse(token, sizeof token);
    return rc;
}

static int admin_revoke(const struct config *cfg, const char *usage, int argc, char **argv)
{
    const char *name = NULL;
    char err[512];
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
            name = argv[++i];
        } else {
            fprintf(stderr, "fiberlinkd: admin revoke: unexpected argument '%s'\n%s", argv[i],
                    usage);
            return 2;
        }
    }
    if (name == NULL) {
        fprintf(stderr, "fiberlinkd: admin revoke needs --name N\n");
        return 2;
    }
    switch (admin_token_revoke(cfg->database_url, name, err, sizeof err)) {
    case ADMIN_STORE_OK:
        printf("admin %s revoked\n", name);
        return 0;
    case ADMIN_STORE_ALREADY:
        printf("admin %s was already revoked at %s\n", name, err);
        return 0;
    case ADMIN_STORE_NOT_FOUND:
        fprintf(stderr, "admin revoke: no admin named %s\n", name);
        return 1;
    default:
        fprintf(stderr, "admin revoke: %s\n", err);
        return 1;
    }
}

int cli_admin(const struct config *cfg, const char *usage, int argc, char **argv)
{
    char err[512];
    if (argc >= 1 && strcmp(argv[0], "create") == 0)
        return admin_create(cfg, usage, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "revoke") == 0)
        return admin_revoke(cfg, usage, argc - 1, argv + 1);
    if (argc == 1 && strcmp(argv[0], "list") == 0) {
        if (admin_token_print(cfg->database_url, stdout, err, sizeof err) != ADMIN_STORE_OK) {
            fprintf(stderr, "admin list: %s\n", err);
            return 1;
        }
        return 0;
    }
    fprintf(stderr, "fiberlinkd: admin needs create, revoke or list\n%s", usage);
    return 2;
}
