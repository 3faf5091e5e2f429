/* The migrate command (core/cli_migrate.h). Each line is flushed as its migration commits, so an
 * operator watching a long migration sees how far it got. */
#include "core/cli_migrate.h"

#include <stdio.h>

#include "storage/migrate.h"

static void on_applied(void *ctx, const char *name)
{
    (void)ctx;
    printf("applied %s\n", name);
    fflush(stdout);
}

int cli_migrate(const char *conninfo)
{
    char err[1024];
    int applied = migrate_run(conninfo, on_applied, NULL, err, sizeof err);
    if (applied < 0) {
        fprintf(stderr, "migrate: %s", err);
        return -1;
    }
    if (applied == 0)
        printf("schema up to date\n");
    fflush(stdout);
    return 0;
}
