/* Applies the embedded migrations (storage/migrate.h) with blocking libpq.
 * Each migration runs in one transaction together with the row that records it, so a failure
 * leaves no half-applied schema and the next run retries it; an advisory lock makes two daemons
 * started at once take turns instead of racing on the same DDL. */
#include "storage/migrate.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

/* Arbitrary but fixed: every fiberlinkd migrating this database uses the same key. */
#define MIGRATE_LOCK_KEY "7311406651259133281"

/* Runs sql; 0 when it succeeded, else -1 with the server's message in err. */
static int exec_ok(PGconn *conn, const char *what, const char *sql, char *err, size_t errsz)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(res);
        return 0;
    }
    snprintf(err, errsz, "%s failed: %s", what, PQerrorMessage(conn));
    PQclear(res);
    return -1;
}

/* 1 when name is recorded, 0 when not, -1 on error. */
static int migration_applied(PGconn *conn, const char *name, char *err, size_t errsz)
{
    const char *params[1] = {name};
    PGresult *res = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE name = $1", 1, NULL,
                                 params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errsz, "reading schema_migrations failed: %s", PQerrorMessage(conn));
        PQclear(res);
        return -1;
    }
    int found = PQntuples(res) > 0;
    PQclear(res);
    return found;
}

static int migration_apply(PGconn *conn, const struct migration *m, char *err, size_t errsz)
{
    const char *params[1] = {m->name};
    if (exec_ok(conn, "BEGIN", "BEGIN", err, errsz) != 0)
        return -1;
    if (exec_ok(conn, m->name, m->sql, err, errsz) != 0)
        goto fail;
    PGresult *res = PQexecParams(conn, "INSERT INTO schema_migrations (name) VALUES ($1)", 1, NULL,
                                 params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        snprintf(err, errsz, "recording %s failed: %s", m->name, PQerrorMessage(conn));
        PQclear(res);
        goto fail;
    }
    PQclear(res);
    if (exec_ok(conn, "COMMIT", "COMMIT", err, errsz) != 0)
        goto fail;
    return 0;
fail:
    PQclear(PQexec(conn, "ROLLBACK"));
    return -1;
}

int migrate_run(const char *conninfo, migrate_applied_cb applied_cb, void *ctx, char *err,
                size_t errsz)
{
    int applied = 0;
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, errsz, "cannot connect to the database: %s", PQerrorMessage(conn));
        goto fail;
    }
    /* CREATE ... IF NOT EXISTS and friends would otherwise print NOTICE lines on every run. */
    if (exec_ok(conn, "setting client_min_messages", "SET client_min_messages = warning", err,
                errsz) != 0)
        goto fail;
    if (exec_ok(conn, "taking the migration lock", "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")",
                err, errsz) != 0)
        goto fail;
    if (exec_ok(conn, "creating schema_migrations",
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())",
                err, errsz) != 0)
        goto fail;
    for (const struct migration *m = migrations; m->name != NULL; m++) {
        int done = migration_applied(conn, m->name, err, errsz);
        if (done < 0)
            goto fail;
        if (done)
            continue;
        if (migration_apply(conn, m, err, errsz) != 0)
            goto fail;
        applied++;
        if (applied_cb != NULL)
            applied_cb(ctx, m->name);
    }
    /* Closing the session releases the advisory lock. */
    PQfinish(conn);
    return applied;
fail:
    PQfinish(conn);
    return -1;
}
