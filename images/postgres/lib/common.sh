# Shared by the pgtopo-* scripts. Nothing here prints a secret.
set -euo pipefail
# Paths, names and exit codes shared with the program (generated from contract/image.ts).
source /usr/local/lib/pgtopo/contract.sh

log() { printf 'pgtopo[%s]: %s\n' "${PGTOPO_NODE:-node}" "$*"; }
die() { printf 'pgtopo[%s]: error: %s\n' "${PGTOPO_NODE:-node}" "$*" >&2; exit 1; }

# pgtopo:backup.s3 with a CA: pgBackRest verifies the object store by it, from a file
# (PGBACKREST_REPO1_STORAGE_CA_FILE); every script that may run pgBackRest sources this,
# in the node's container and in one-shots alike. A CA is public: no secret here.
if [ -n "${PGTOPO_REPOSITORY_CA:-}" ] && [ ! -s "$PGTOPO_PATH_REPOSITORY_CA" ]; then
    install -d -m 0755 "$(dirname "$PGTOPO_PATH_REPOSITORY_CA")"
    printf '%s' "$PGTOPO_REPOSITORY_CA" | base64 -d >"$PGTOPO_PATH_REPOSITORY_CA.tmp"
    chmod 0644 "$PGTOPO_PATH_REPOSITORY_CA.tmp"
    mv "$PGTOPO_PATH_REPOSITORY_CA.tmp" "$PGTOPO_PATH_REPOSITORY_CA"
fi

run_as_postgres() {
    setpriv --reuid=postgres --regid=postgres --init-groups env HOME="$PGTOPO_PATH_POSTGRES_HOME" "$@"
}

# A data directory is complete once it has PG_VERSION and sits at $PGDATA: bootstraps
# build it under $PGDATA.partial and rename it at the very end, so a bootstrap that
# was killed half-way never looks like a real data directory.
is_data_directory() { [ -s "$PGDATA/PG_VERSION" ]; }

# A new node's container starts before its data directory exists and waits for it
# (pgtopo-run); the bootstrap, run in that container by `pulumi up`, wakes it once the
# data directory is in place, so that the server starts at once rather than at the next
# poll. Run anywhere else (a one-shot container), there is nobody to wake.
WAITING_PID_FILE=$PGTOPO_PATH_WAITING_PID_FILE
# It then returns once the server accepts connections, or after 20 s, leaving the verdict
# to `pulumi up`'s readiness step, which shows the server's log: the next step finds the
# server up instead of polling for it from outside.
wake_waiting_server() {
    [ -s "$WAITING_PID_FILE" ] || return 0
    kill -WINCH "$(cat "$WAITING_PID_FILE")" 2>/dev/null || return 0
    for ((i = 0; i < 1000; i++)); do
        accepting_connections && return 0
        sleep 0.02
    done
}

# Whether the server accepts connections (read-only ones on a standby). First the status
# line of postmaster.pid, as `pg_ctl start -w` reads it, then pg_isready over the socket
# as postgres (peer authentication: no refused login in the log). A poll costs a file read
# until the postmaster says it is ready, where a pg_isready costs a process and a backend
# fork; polled every few hundredths of a second while a server starts, those took the CPU
# the start itself needed on two cores.
accepting_connections() {
    local status
    status=$(sed -n 8p "$PGDATA/postmaster.pid" 2>/dev/null) || return 1
    [[ $status == ready* || $status == standby* ]] || return 1
    run_as_postgres pg_isready -q -h "$PGTOPO_PATH_SOCKET_DIR" -U postgres -d postgres
}

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

# Another node as the scripts are told of it: its name on the stack's Docker network
# (port 5432) on one machine, or ADDRESS:PORT, its host's address and published port,
# across hosts (pgtopo:hosts).
require_endpoint() {
    local name=$1
    local value=${!name:-}
    [[ $value =~ ^[a-z][a-z0-9_-]{0,62}$ || $value =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}:[0-9]{1,5}$ ]] ||
        die "$name must be a node name or ADDRESS:PORT, got '$value'"
}
endpoint_host() { printf '%s' "${1%:*}"; }
endpoint_port() { if [[ $1 == *:* ]]; then printf '%s' "${1##*:}"; else printf 5432; fi; }

# libpq reads this for the replication user, so no password ever sits in
# primary_conninfo (which any superuser can read with SHOW).
write_pgpass() {
    require_secret PGTOPO_REPLICATION_PASSWORD
    local file=$PGTOPO_PATH_POSTGRES_HOME/.pgpass
    install -o postgres -g postgres -m 0600 /dev/null "$file"
    printf '*:*:*:replicator:%s\n' "$PGTOPO_REPLICATION_PASSWORD" >"$file"
}

# pgtopo:tls: the node's CA and server certificate are copied into its volume by pgtopo-run
# (from the stack's TLS volume), so that every one-shot on the volume (clone, rewind)
# sees the mode the node last started in; without TLS there is no such directory.
TLS_IN_VOLUME=$PGTOPO_PATH_TLS_IN_VOLUME
tls_on() { [ -f "$TLS_IN_VOLUME/ca.crt" ]; }

# Only the cluster's own Docker network may connect ("samenet": the subnets this
# container is attached to), only with SCRAM, and the replication role only for
# replication. Rewritten at every start so it always matches this pgtopo version. With
# TLS, every TCP connection must be encrypted (hostssl: a plaintext one matches no line
# and is refused) and the client verifies the server's name against the stack's CA.
# Across hosts (pgtopo:hosts) the other nodes connect from their hosts' addresses
# (PGTOPO_PEER_ADDRESSES): one line each, no wider range; applications from
# PGTOPO_CLIENT_ADDRESSES (pgtopo:clients), never as the replication role.
write_hba() {
    local dir=$1 host=host address
    tls_on && host=hostssl
    {
        cat <<HBA
# Managed by pgtopo: rewritten at every start of the node. Do not edit.
# TYPE  DATABASE     USER        ADDRESS   METHOD
local   all          postgres              peer
$host replication  replicator  samenet   scram-sha-256
HBA
        # With TLS, the superuser in plain text over the container's own loopback only:
        # nothing outside its network namespace can come from there (published ports
        # arrive on the container's network address), and pg_upgrade --check, which runs in
        # a container sharing that namespace (images/upgrade), cannot speak TLS to a live
        # server through the socket it needs. Without TLS, samenet covers loopback already.
        if tls_on; then printf 'host    all          postgres    127.0.0.1/32 scram-sha-256\n'; fi
        for address in ${PGTOPO_PEER_ADDRESSES:-}; do
            printf '%s replication  replicator  %s/32   scram-sha-256\n' "$host" "$address"
        done
        printf '%s all          replicator  all       reject\n' "$host"
        printf '%s all          all         samenet   scram-sha-256\n' "$host"
        for address in ${PGTOPO_PEER_ADDRESSES:-}; do
            printf '%s all          all         %s/32   scram-sha-256\n' "$host" "$address"
        done
        for address in ${PGTOPO_CLIENT_ADDRESSES:-}; do
            [[ $address == */* ]] || address=$address/32
            printf '%s all          all         %s   scram-sha-256\n' "$host" "$address"
        done
    } >"$dir/pg_hba.conf"
    chown postgres:postgres "$dir/pg_hba.conf"
    chmod 0600 "$dir/pg_hba.conf"
}

# The stack's CA into this volume (pgtopo:tls), from the stack's TLS volume.
install_tls_ca() {
    [ -s "$PGTOPO_PATH_TLS/ca.crt" ] || die "pgtopo:tls is on but the stack's CA is not at $PGTOPO_PATH_TLS/ca.crt"
    install -d -o postgres -g postgres -m 0700 "$TLS_IN_VOLUME"
    install -o postgres -g postgres -m 0644 "$PGTOPO_PATH_TLS/ca.crt" "$TLS_IN_VOLUME/ca.crt"
}

# What libpq adds to reach another node: with TLS, the server's name verified against the CA.
tls_conninfo() { if tls_on; then printf ' sslmode=verify-full sslrootcert=%s' "$TLS_IN_VOLUME/ca.crt"; fi; }

# libpq's connection string to an upstream endpoint, for primary_conninfo (pgtopo-clone, -follow).
upstream_conninfo() {
    printf 'host=%s port=%s user=replicator application_name=%s passfile=%s/.pgpass connect_timeout=5%s' \
        "$(endpoint_host "$1")" "$(endpoint_port "$1")" "$PGTOPO_NODE" "$PGTOPO_PATH_POSTGRES_HOME" "$(tls_conninfo)"
}

# A standby's primary_conninfo made to match the TLS mode the node starts in (pgtopo:tls
# turned on or off replaces every container): the same text upstream_conninfo gives, so
# that pgtopo-follow then finds nothing to change.
retarget_conninfo_tls() {
    local auto="$PGDATA/postgresql.auto.conf" line value
    line=$(grep -m1 "^primary_conninfo = '" "$auto" 2>/dev/null) || return 0
    value=${line#primary_conninfo = \'}
    value=$(printf '%s' "${value%\'}" | sed -E 's/ (sslmode|sslrootcert)=[^ ]*//g')$(tls_conninfo)
    { grep -v "^primary_conninfo = " "$auto"; printf "primary_conninfo = '%s'\n" "$value"; } >"$auto.new"
    chown postgres:postgres "$auto.new"
    chmod 0600 "$auto.new"
    mv "$auto.new" "$auto"
}

# Standby settings live in postgresql.auto.conf, where ALTER SYSTEM also writes, so a
# later re-point (ALTER SYSTEM SET primary_conninfo) replaces these lines in place.
write_standby_settings() {
    local dir=$1 upstream=$2 slot=$3
    local auto="$dir/postgresql.auto.conf"
    touch "$auto"
    sed -i -e '/^primary_conninfo[[:space:]]*=/d' -e '/^primary_slot_name[[:space:]]*=/d' "$auto"
    cat >>"$auto" <<CONF
primary_conninfo = '$(upstream_conninfo "$upstream")'
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

# pgBackRest's `info` (JSON) when the repository answered; fails, saying why on stderr,
# when it did not. An unreadable repository is status 99 in pgBackRest's own words, with
# exit status 0, so the exit status alone does not tell. Options go before `info`.
repository_info() {
    local info
    info=$(run_as_postgres pgbackrest --io-timeout=10 --log-level-console=error --log-level-file=off "$@" info --output=json 2>&1) ||
        { printf '%s\n' "$info" >&2; return 1; }
    if [ "$(jq -r '.[0].status.code' <<<"$info" 2>/dev/null)" = 99 ]; then
        jq -r '.[0].repo[0].status.message // .[0].status.message' <<<"$info" >&2
        return 1
    fi
    printf '%s\n' "$info"
}

psql_local() { run_as_postgres psql -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }

# A standby's physical slot on its upstream, made over a replication connection (which the
# replicator role may open) unless it is there already: CREATE_REPLICATION_SLOT then
# fails with duplicate_object (42710).
ensure_upstream_slot() { # ensure_upstream_slot ENDPOINT SLOT
    local out
    if out=$(run_as_postgres psql -X -q -v VERBOSITY=sqlstate -c "CREATE_REPLICATION_SLOT $2 PHYSICAL (RESERVE_WAL)" \
        "$(upstream_conninfo "$1") dbname=replication replication=true" 2>&1 >/dev/null); then
        log "slot $2 made on $1"
    elif [[ $out == *42710* ]]; then
        log "slot $2 already on $1"
    else
        die "could not make slot $2 on $1: $out"
    fi
}

wait_for_server() { # wait_for_server ENDPOINT [SECONDS]
    local host port seconds=${2:-120}
    host=$(endpoint_host "$1")
    port=$(endpoint_port "$1")
    for ((i = 0; i < seconds * 5; i++)); do
        if pg_isready -q -h "$host" -p "$port"; then return 0; fi
        sleep 0.2
    done
    die "$1 did not accept connections within ${seconds}s"
}
