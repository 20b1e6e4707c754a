# Shared by the pgtopo-* scripts. Nothing here prints a secret.
set -euo pipefail

log() { printf 'pgtopo[%s]: %s\n' "${PGTOPO_NODE:-node}" "$*"; }
die() { printf 'pgtopo[%s]: error: %s\n' "${PGTOPO_NODE:-node}" "$*" >&2; exit 1; }

run_as_postgres() {
    setpriv --reuid=postgres --regid=postgres --init-groups env HOME=/var/lib/postgresql "$@"
}

# A data directory is complete once it has PG_VERSION and sits at $PGDATA: bootstraps
# build it under $PGDATA.partial and rename it at the very end, so a bootstrap that
# was killed half-way never looks like a real data directory.
is_data_directory() { [ -s "$PGDATA/PG_VERSION" ]; }

prepare_volume() {
    mkdir -p "$PGTOPO_VOLUME"
    chown postgres:postgres "$PGTOPO_VOLUME"
    chmod 0700 "$PGTOPO_VOLUME"
    if [ -e "$PGDATA.partial" ]; then
        log "removing $PGDATA.partial left by an interrupted bootstrap"
        rm -rf "$PGDATA.partial"
    fi
}

new_partial_directory() {
    install -d -o postgres -g postgres -m 0700 "$PGDATA.partial"
}

# Generated secrets are alphanumeric; anything else is refused rather than quoted,
# since they end up inside SQL and libpq password files.
require_secret() {
    local name=$1
    local value=${!name:-}
    [ -n "$value" ] || die "$name is not set"
    [[ $value =~ ^[A-Za-z0-9]{16,128}$ ]] || die "$name must be 16 to 128 letters or digits"
}

require_identifier() {
    local name=$1
    local value=${!name:-}
    [[ $value =~ ^[a-z][a-z0-9_-]{0,62}$ ]] || die "$name must be a lowercase identifier, got '$value'"
}

# libpq reads this for the replication user, so no password ever sits in
# primary_conninfo (which any superuser can read with SHOW).
write_pgpass() {
    require_secret PGTOPO_REPLICATION_PASSWORD
    local file=/var/lib/postgresql/.pgpass
    install -o postgres -g postgres -m 0600 /dev/null "$file"
    printf '*:*:*:replicator:%s\n' "$PGTOPO_REPLICATION_PASSWORD" >"$file"
}

# Only the cluster's own Docker network may connect ("samenet": the subnets this
# container is attached to), only with SCRAM, and the replication role only for
# replication. Rewritten at every start so it always matches this pgtopo version.
write_hba() {
    local dir=$1
    cat >"$dir/pg_hba.conf" <<'HBA'
# Managed by pgtopo: rewritten at every start of the node. Do not edit.
# TYPE  DATABASE     USER        ADDRESS   METHOD
local   all          postgres              peer
host    replication  replicator  samenet   scram-sha-256
host    all          replicator  all       reject
host    all          all         samenet   scram-sha-256
HBA
    chown postgres:postgres "$dir/pg_hba.conf"
    chmod 0600 "$dir/pg_hba.conf"
}

# Standby settings live in postgresql.auto.conf, where ALTER SYSTEM also writes, so a
# later re-point (ALTER SYSTEM SET primary_conninfo) replaces these lines in place.
write_standby_settings() {
    local dir=$1 upstream=$2 slot=$3
    local auto="$dir/postgresql.auto.conf"
    touch "$auto"
    sed -i -e '/^primary_conninfo[[:space:]]*=/d' -e '/^primary_slot_name[[:space:]]*=/d' "$auto"
    cat >>"$auto" <<CONF
primary_conninfo = 'host=$upstream port=5432 user=replicator application_name=${PGTOPO_NODE} passfile=/var/lib/postgresql/.pgpass connect_timeout=5'
primary_slot_name = '$slot'
CONF
    touch "$dir/standby.signal"
    chown postgres:postgres "$auto" "$dir/standby.signal"
}

# pgtopo.conf holds every setting pgtopo manages (rendered by planning/settings.ts);
# postgresql.conf includes it. Returns 1 when the file already had this content.
write_settings() {
    local dir=$1
    local file="$dir/pgtopo.conf"
    # Both sides through $(...), which drops trailing newlines alike.
    if [ -f "$file" ] && [ "$(cat "$file")" = "$(printf '%s' "$PGTOPO_SETTINGS")" ]; then return 1; fi
    install -o postgres -g postgres -m 0600 /dev/null "$file.new"
    printf '%s\n' "$PGTOPO_SETTINGS" >"$file.new"
    mv "$file.new" "$file"
}

psql_local() { run_as_postgres psql -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }

wait_for_server() {
    local host=$1 seconds=${2:-120}
    for ((i = 0; i < seconds * 5; i++)); do
        if pg_isready -q -h "$host" -p 5432; then return 0; fi
        sleep 0.2
    done
    die "$host did not accept connections within ${seconds}s"
}
