#!/usr/bin/env bash
# The end of a major upgrade (components/upgrade.ts), once every node runs the new major:
#   - each standby's slot on its upstream, made again: pg_upgrade carries no slot from a
#     major before 17. Until it is there the standby retries every few seconds, and the
#     upstream keeps its WAL meanwhile by wal_keep_size (planning/settings.ts), which covers
#     far more than the seconds between the upstream's start and this;
#   - every standby streaming again, checked, not assumed;
#   - the planner's statistics, which pg_upgrade does not carry, rebuilt in stages
#     (vacuumdb --analyze-in-stages) while the cluster takes writes: minimal ones within
#     seconds, full ones after;
#   - the old data directories (their files are links to the new ones' now) and the
#     upgrade's mark removed from every volume.
# Environment: PGTOPO_UPGRADE_TO, PGTOPO_UPGRADE_PRIMARY (its container),
# PGTOPO_UPGRADE_STANDBYS ("container=upstream-container=slot", upstreams first).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$PGTOPO_ROOT/images/postgres/lib/contract.sh"
primary=$PGTOPO_UPGRADE_PRIMARY
read -r -a entries <<<"${PGTOPO_UPGRADE_STANDBYS:-}"
sql() {
    local container=$1
    shift
    docker exec -u postgres "$container" psql -h "$PGTOPO_PATH_SOCKET_DIR" -d postgres -XAtc "$@"
}

for entry in "${entries[@]}"; do
    IFS== read -r standby upstream slot <<<"$entry"
    docker exec "$upstream" pgtopo-slot create "$slot"
done
for entry in "${entries[@]}"; do
    IFS== read -r standby upstream slot <<<"$entry"
    status=""
    for ((i = 0; i < 1200; i++)); do
        status=$(sql "$standby" "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null || true)
        [ "$status" = streaming ] && break
        sleep 0.1
    done
    [ "$status" = streaming ] || {
        say "error: $standby does not stream from $upstream through slot $slot after the upgrade (wal receiver: '${status:-none}'); its log: docker logs $standby"
        exit 1
    }
done
say "every standby streams again on PostgreSQL $PGTOPO_UPGRADE_TO, each through its slot"

say "rebuilding the planner's statistics (vacuumdb --analyze-in-stages); the cluster takes writes meanwhile"
docker exec -u postgres "$primary" vacuumdb -h "$PGTOPO_PATH_SOCKET_DIR" --all --analyze-in-stages --jobs 2 |
    sed 's/^/pgtopo[upgrade]: /' >&2

for container in "$primary" "${entries[@]%%=*}"; do
    docker exec "$container" bash -c "rm -rf '$PGTOPO_PATH_VOLUME/pgdata.old' '$PGTOPO_PATH_VOLUME/pgtopo-upgrade-committed'"
done
say "upgrade to PostgreSQL $PGTOPO_UPGRADE_TO done: the old data directories removed"
