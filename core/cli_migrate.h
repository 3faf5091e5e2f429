/* `fiberlinkd migrate`: applies the pending schema migrations (storage/migrate.h) and prints one
 * line `applied NNNN_name.sql` per migration applied, or `schema up to date`. */
#ifndef FL_CLI_MIGRATE_H
#define FL_CLI_MIGRATE_H

/* Returns 0, or -1 with the reason on stderr. */
int cli_migrate(const char *conninfo);

#endif
