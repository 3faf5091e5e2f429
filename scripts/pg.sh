# Sourced by scripts/run and scripts/test: a private PostgreSQL 15 cluster in a directory of the
# project, reachable only through a unix socket in <dir>/run (no TCP), trust auth for the
# postgres role. initdb and postgres refuse to run as root, so as root they run as the postgres
# user, which owns the cluster directory.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# pg_up DIR PORT: initialises DIR/data once, starts the server unless it is running.
pg_up() {
    local dir=$1 port=$2
    mkdir -p "$dir/run"
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres:postgres "$dir"
    fi
    # The socket directory is the only way in (trust auth): keep it to its owner (and root).
    chmod 700 "$dir/run"
    if [ ! -s "$dir/data/PG_VERSION" ]; then
        pg_as_owner "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 >"$dir/initdb.log"
    fi
    if ! pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
            -o "-k $dir/run -p $port -c listen_addresses='' -c max_connections=200" start >/dev/null
    fi
}

# pg_down DIR: fast shutdown if running.
pg_down() {
    local dir=$1
    if [ -s "$dir/data/PG_VERSION" ]; then
        pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi
}

# pg_conninfo DIR PORT DBNAME: the libpq conninfo for a database of that cluster.
pg_conninfo() {
    echo "host=$1/run port=$2 user=postgres dbname=$3"
}

# pg_createdb DIR PORT DBNAME: creates the database unless it exists.
pg_createdb() {
    local exists
    exists=$(psql "$(pg_conninfo "$1" "$2" postgres)" -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$3'")
    if [ "$exists" != "1" ]; then
        psql "$(pg_conninfo "$1" "$2" postgres)" -qc "CREATE DATABASE \"$3\"" >/dev/null
    fi
}
