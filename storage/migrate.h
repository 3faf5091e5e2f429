/* Schema migrations: the SQL files in storage/migrations/NNNN_*.sql are compiled into the binary
 * (cmake/embed_files.cmake) and applied in order by `fiberlinkd migrate`, each exactly once,
 * each in its own transaction together with its row in schema_migrations. Blocking libpq, for the
 * command (core/cli_migrate.c) and tests. */
#ifndef FL_MIGRATE_H
#define FL_MIGRATE_H

#include <stddef.h>

struct migration {
    const char *name; /* file name, e.g. "0001_init.sql" */
    const char *sql;
};
extern const struct migration migrations[]; /* terminated by {NULL, NULL} */

/* Called once a migration is committed, with its file name. */
typedef void (*migrate_applied_cb)(void *ctx, const char *name);

/* Applies pending migrations in order, serialised against concurrent runs with an advisory lock.
 * Returns how many it applied (0: the schema was up to date), or -1 with a message in err. */
int migrate_run(const char *conninfo, migrate_applied_cb applied_cb, void *ctx, char *err,
                size_t errsz);

#endif
