# Sourced by scripts/run and scripts/test: a private PostgreSQL 15 cluster for the project,
# reachable only through a unix socket in <dir>/run (no TCP), trust auth for the postgres role.
# initdb and postgres refuse to run as root, so as root they run as the postgres user, which owns
# the cluster directory.
#
# A clone under a directory the postgres user cannot enter (root's home is mode 700, and so are
# many users' homes) cannot hold the cluster itself, and we must not loosen the owner's
# permissions to make it. In that case the cluster lives in /var/lib/fiberlink-dev/<key>/<name>
# (key: a hash of the project's state directory, so each clone has its own), owned by postgres,
# mode 700, and <dir> is a symlink to it: the cluster still appears under .state/ and every
# function below takes the project-side path.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_OUTSIDE_TOP=${PG_OUTSIDE_TOP:-/var/lib/fiberlink-dev}

pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        # From /: the caller's directory may be one postgres cannot enter (initdb warns of it).
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# pg_real DIR: where the cluster for DIR lives (DIR itself, or the target of its symlink).
pg_real() {
    if [ -L "$1" ]; then
        readlink -m "$1"
    else
        echo "$1"
    fi
}

# pg_place DIR: makes the directory that holds the cluster for DIR and prints its real path.
# As root, when postgres cannot reach DIR's parent, the cluster goes outside the project (see top).
pg_place() {
    local dir=$1 parent key real
    parent=$(dirname "$dir")
    mkdir -p "$parent"
    if [ "$(id -u)" -ne 0 ] || { [ ! -L "$dir" ] && runuser -u postgres -- test -x "$parent"; }; then
        mkdir -p "$dir"
        pg_real "$dir"
        return 0
    fi
    if [ -L "$dir" ]; then
        real=$(readlink -m "$dir")
    else
        if [ -s "$dir/data/PG_VERSION" ]; then
            echo "pg.sh: $dir holds a cluster the postgres user cannot reach; move it away" >&2
            return 1
        fi
        # Only what a failed earlier attempt left (an empty run/, logs): nothing to keep.
        rm -rf "$dir"
        key=$(readlink -f "$parent" | sha256sum | cut -c1-16)
        real=$PG_OUTSIDE_TOP/$key/$(basename "$dir")
    fi
    install -d -m 755 -o root -g root "$PG_OUTSIDE_TOP"
    install -d -m 700 -o postgres -g postgres "$(dirname "$real")" "$real"
    [ -L "$dir" ] || ln -s "$real" "$dir"
    echo "$real"
}

# pg_up DIR PORT: initialises DIR/data once, starts the server unless it is running.
pg_up() {
    local dir
    dir=$(pg_place "$1") || return 1
    local port=$2
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
    local dir
    dir=$(pg_real "$1")
    if [ -s "$dir/data/PG_VERSION" ]; then
        pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi
}

# pg_remove DIR: deletes the (stopped) cluster, wherever it lives, and DIR itself.
pg_remove() {
    local dir=$1 real
    real=$(pg_real "$dir")
    rm -rf "$dir"
    if [ "$real" != "$dir" ]; then
        rm -rf "$real"
        # The per-clone directory goes with its last cluster.
        rmdir "$(dirname "$real")" 2>/dev/null || true
    fi
}

# pg_conninfo DIR PORT DBNAME: the libpq conninfo for a database of that cluster. The socket path
# is the real one: it is shorter than the project-side path (sockets paths are limited to 107
# bytes) and it is what the server was started with.
pg_conninfo() {
    echo "host=$(pg_real "$1")/run port=$2 user=postgres dbname=$3"
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
