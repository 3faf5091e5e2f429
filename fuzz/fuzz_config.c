/* Fuzzes the settings parser: the input is read once as a config file and once as a list of
 * environment entries (one per line), then the serve checks run and the withdraw_* defaults are
 * read as withdrawals_register reads them at start-up. Nothing may crash or leak, and a policy
 * accepted from the settings must hold the bounds storage/policy.h promises (and the fee fraction
 * its range). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "storage/policy.h"

static void check_policies(const struct config *c)
{
    static const char *const assets[] = {"CKB", "USDI"};
    char err[256];
    for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++) {
        struct withdrawal_policy p;
        err[0] = '\0';
        if (policy_defaults(c, assets[i], &p, err, sizeof(err)) != 0) {
            if (err[0] == '\0')
                abort();
            continue;
        }
        if ((p.allowed != 0 && p.allowed != 1) || p.min_amount <= 0 || p.max_per_request <= 0 ||
            p.per_user_daily <= 0 || p.per_app_daily <= 0 || p.cooldown_seconds < 0 ||
            p.max_fee_amount < 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config c;
    char err[256];
    char *copy, **envp;
    size_t nlines = 1, k = 0;

    config_init(&c);
    (void)config_load_buffer(&c, (const char *)data, size, "fuzz.conf", err, sizeof(err));
    (void)config_validate_serve(&c, err, sizeof(err));
    check_policies(&c);
    if (c.nlisten < 1 || c.nlisten > CONFIG_MAX_LISTEN)
        abort();
    /* The fraction fee cap is a whole number of parts per million, never above the amount. */
    if (c.withdraw_max_fee_ppm < 0 || c.withdraw_max_fee_ppm > 1000000)
        abort();
    config_dispose(&c);

    /* The environment can hold neither NUL nor newline inside an entry. */
    copy = malloc(size + 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (size_t i = 0; i < size; i++)
        if (copy[i] == '\n')
            nlines++;
    envp = calloc(nlines + 1, sizeof(*envp));
    if (envp == NULL) {
        free(copy);
        return 0;
    }
    for (char *line = copy, *next; line != NULL; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        envp[k++] = line;
    }
    config_init(&c);
    (void)config_load_env(&c, envp, err, sizeof(err));
    (void)config_validate_serve(&c, err, sizeof(err));
    check_policies(&c);
    config_dispose(&c);
    free(envp);
    free(copy);
    return 0;
}
