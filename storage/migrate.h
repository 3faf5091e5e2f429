/* Schema migrations: the SQL files in storage/migrations/NNNN_*.sql are compiled into the binary
 * (cmake/embed_migrations.cmake) and applied in order by `fiberlinkd migrate`, each exactly once, each
 * in its own transaction together with its row in schema_migrations. Blocking libpq: CLI only. */
#ifndef FL_MIGRATE_H
#define FL_MIGRATE_H

struct migration {
    const char *name; /* file name, e.g. "0001_init.sql" */
    const char *sql;
};
extern const struct migration migrations[]; /* terminated by {NULL, NULL} */

/* Applies pending migrations; prints one line per applied migration to stdout. Serialised against
 * concurrent runs with an advisory lock. Returns 0 or -1 (message on stderr). */
int migrate_run(const char *conninfo);

#endif
