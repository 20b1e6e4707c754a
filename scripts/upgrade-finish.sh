#!/usr/bin/env bash
# The end of a major upgrade (components/upgrade.ts), once every node runs the new major and
# each standby follows its upstream through its slot again (the steps before this one made
# the slots and waited for each to stream):
#   - the planner's statistics, which pg_upgrade does not carry, rebuilt in stages
#     (vacuumdb --analyze-in-stages) while the cluster takes writes: minimal ones within
#     seconds, full ones after;
#   - the old data directories (their files are links to the new ones' now) and the
#     upgrade's mark removed from every volume.
# Between the upstream's start and its standby's slot, the upstream keeps its WAL by
# wal_keep_size (planning/settings.ts), which covers far more than those seconds.
# Environment: PGTOPO_UPGRADE_TO, PGTOPO_UPGRADE_PRIMARY (its container), PGTOPO_UPGRADE_NODES
# (the containers of the primary and the standbys linked to it: the re-cloned ones kept no
# old directory).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$PGTOPO_ROOT/images/postgres/lib/contract.sh"
primary=$PGTOPO_UPGRADE_PRIMARY
read -r -a containers <<<"$PGTOPO_UPGRADE_NODES"
say "every standby streams again on PostgreSQL $PGTOPO_UPGRADE_TO, each through its slot"

say "rebuilding the planner's statistics (vacuumdb --analyze-in-stages); the cluster takes writes meanwhile"
docker exec -u postgres "$primary" vacuumdb -h "$PGTOPO_PATH_SOCKET_DIR" --all --analyze-in-stages --jobs 2 |
    sed 's/^/pgtopo[upgrade]: /' >&2

for container in "${containers[@]}"; do
    docker exec "$container" bash -c "rm -rf '$PGTOPO_PATH_VOLUME/pgdata.old' '$PGTOPO_PATH_VOLUME/pgtopo-upgrade-committed'"
done
say "upgrade to PostgreSQL $PGTOPO_UPGRADE_TO done: the old data directories removed"
