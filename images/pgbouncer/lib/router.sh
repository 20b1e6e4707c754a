# Shared by the pgtopo-router scripts. Nothing here prints a secret.
set -euo pipefail

# ---- Paths, names and exit codes (the contract with the orchestrator) ----------------
# The shared ones are generated from the program's contract/image.ts: the runtime dir
# (a tmpfs: no secret reaches a disk), the targets file (in a volume, so that a replaced
# container comes back pointed where it was), the TLS volume, the listeners' ports, the
# auth_user and its database, the "pause timed out" exit code.
source /usr/local/lib/pgtopo-router/contract.sh
# The two listeners (their container ports are the contract's).
readonly ROUTER_LISTENERS=(rw ro)
# PgBouncer's auth_user may only run the lookup function (pgtopo-router-auth on the nodes).
readonly ROUTER_AUTH_QUERY='SELECT uname, phash FROM pgtopo.user_lookup($1)'
# Roles that never log in through the router (the lookup function hides them too).
readonly ROUTER_REFUSED_ROLES=(replicator "$ROUTER_AUTH_USER")
readonly ROUTER_EXIT_OK=0
readonly ROUTER_EXIT_FAILED=1

# Files in the runtime dir, per listener where it says so.
readonly ROUTER_AUTH_FILE=$ROUTER_RUNTIME_DIR/auth_file
readonly ROUTER_HBA_FILE=$ROUTER_RUNTIME_DIR/hba.conf
readonly ROUTER_LOCK_FILE=$ROUTER_RUNTIME_DIR/.lock
readonly ROUTER_TLS_CA=$ROUTER_RUNTIME_DIR/ca.crt
readonly ROUTER_TLS_CERT=$ROUTER_RUNTIME_DIR/router.crt
readonly ROUTER_TLS_KEY=$ROUTER_RUNTIME_DIR/router.key
ini_file() { printf '%s/%s.ini' "$ROUTER_RUNTIME_DIR" "$1"; }
# The [pgbouncer] section of a listener, written once by the entrypoint; the CLI puts the
# [databases] section in front of it whenever the targets change.
settings_file() { printf '%s/%s.settings' "$ROUTER_RUNTIME_DIR" "$1"; }
socket_dir() { printf '%s/%s' "$ROUTER_RUNTIME_DIR" "$1"; }
# ----------------------------------------------------------------------------------------

log() { printf 'pgtopo-router: %s\n' "$*"; }
warn() { printf 'pgtopo-router: %s\n' "$*" >&2; }
die() { printf 'pgtopo-router: error: %s\n' "$*" >&2; exit "$ROUTER_EXIT_FAILED"; }

# Generated secrets are alphanumeric; anything else is refused rather than quoted.
require_secret() {
    local name=$1
    local value=${!name:-}
    [ -n "$value" ] || die "$name is not set"
    [[ $value =~ ^[A-Za-z0-9]{16,128}$ ]] || die "$name must be 16 to 128 letters or digits"
}

is_ipv4() {
    [[ $1 =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || return 1
    local i
    for i in 1 2 3 4; do ((BASH_REMATCH[i] <= 255)) || return 1; done
}

# host:port, where host is a name on the stack's network or an IPv4 address (a host's
# address across hosts). Nothing that could break out of PgBouncer's connection string.
is_endpoint() {
    [[ $1 =~ ^([A-Za-z0-9][A-Za-z0-9_.-]{0,252}):([0-9]{1,5})$ ]] || return 1
    local port=${BASH_REMATCH[2]}
    ((10#$port >= 1 && 10#$port <= 65535))
}

# The targets file: two lines, `rw=HOST:PORT` and `ro=HOST:PORT[,HOST:PORT...]`.
targets_present() { [ -s "$ROUTER_TARGETS_FILE" ]; }
target_of() { # target_of rw|ro: the endpoint(s) it is pointed at, empty when not yet
    [ -f "$ROUTER_TARGETS_FILE" ] || return 0
    sed -n "s/^$1=//p" "$ROUTER_TARGETS_FILE" | head -n 1
}

# PgBouncer's connection string for a list of endpoints. PgBouncer 1.24 takes one port per
# database entry, so every host of a list must listen on the same port.
connect_string() { # connect_string LISTENER ENDPOINTS
    local listener=$1 endpoints=$2 endpoint hosts='' port=''
    local -a list
    IFS=, read -r -a list <<<"$endpoints"
    for endpoint in "${list[@]}"; do
        [ -n "$port" ] || port=${endpoint##*:}
        [ "${endpoint##*:}" = "$port" ] || return 1
        hosts+=${hosts:+,}${endpoint%:*}
    done
    printf 'host=%s port=%s' "$hosts" "$port"
    if [ "$listener" = ro ]; then printf ' load_balance_hosts=round-robin'; fi
}

# A listener's ini: its [databases] section from the targets file, then its settings.
# Written to a new file and renamed over the old one, since RELOAD (and a starting
# PgBouncer) must never read half a file; left alone when it already says the same
# (INI_CHANGED tells which). Callers hold the lock.
INI_CHANGED=
write_ini() { # write_ini LISTENER
    local listener=$1 file target
    file=$(ini_file "$listener")
    target=$(target_of "$listener")
    [ -n "$target" ] || die "the targets file has no $listener target"
    install -o postgres -g postgres -m 0600 /dev/null "$file.new"
    {
        printf '; Managed by pgtopo-router: rewritten by `pgtopo-router point`. Do not edit.\n'
        printf '[databases]\n* = %s\n\n' "$(connect_string "$listener" "$target")"
        cat "$(settings_file "$listener")"
    } >"$file.new"
    if cmp -s "$file.new" "$file"; then
        rm -f "$file.new"
        INI_CHANGED=
    else
        mv "$file.new" "$file"
        INI_CHANGED=1
    fi
}

# Serializes everything that reads the targets and writes the ini files (the entrypoint's
# start, `point`), so that the last one to point always wins.
with_lock() {
    exec 9>>"$ROUTER_LOCK_FILE"
    flock 9
    "$@"
    flock -u 9
    exec 9>&-
}

# One statement on a listener's admin console: user pgbouncer over its Unix socket, from
# the same uid as PgBouncer, which PgBouncer admits with no password. Prints the rows
# unaligned and tab-separated, after a header line (callers pick columns by name). Bounded
# by SECONDS inside the container: killing a `docker exec` client leaves its process
# running, and the console's own commands (PAUSE) have no timeout. 124: timed out.
admin_sql_within() { # admin_sql_within SECONDS LISTENER SQL
    local seconds=$1 listener=$2 sql=$3
    timeout --kill-after=2 "$seconds" \
        setpriv --reuid=postgres --regid=postgres --init-groups env HOME=/var/lib/postgresql PGCONNECT_TIMEOUT=3 \
        psql -X -q -A -F $'\t' -P footer=off -v ON_ERROR_STOP=1 -h "$(socket_dir "$listener")" -p "${ROUTER_PORT[$listener]}" \
        -U pgbouncer -d pgbouncer -c "$sql"
}
admin_sql() { admin_sql_within 10 "$@"; }
