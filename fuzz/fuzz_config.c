/* Fuzzes the settings parser: the input is read once as a config file and once as a list of
 * environment entries (one per line), then the serve checks run. Nothing may crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config c;
    char err[256];
    char *copy, **envp;
    size_t nlines = 1, k = 0;

    config_init(&c);
    (void)config_load_buffer(&c, (const char *)data, size, "fuzz.conf", err, sizeof(err));
    (void)config_validate_serve(&c, err, sizeof(err));
    if (c.nlisten < 1 || c.nlisten > CONFIG_MAX_LISTEN)
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
    config_dispose(&c);
    free(envp);
    free(copy);
    return 0;
}
