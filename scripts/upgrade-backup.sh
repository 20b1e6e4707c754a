#!/usr/bin/env bash
# With pgtopo:backup on, the repository after a major upgrade (components/upgrade.ts), in
# CONTAINER, where backups run (the repository host's, or the primary's):
#   - pgBackRest's stanza-upgrade: the stanza learns the new cluster (its major and system
#     identifier), and archiving, refused until then, catches up with the WAL PostgreSQL kept;
#   - a new full backup: backups of the old major cannot restore a cluster of the new one,
#     so until this one exists there is nothing to restore the new major from.
#   scripts/upgrade-backup.sh CONTAINER
set -euo pipefail
source "$(dirname "$0")/lib.sh"
container=$1
say "pgBackRest stanza-upgrade in $container: the repository learns PostgreSQL $PGTOPO_UPGRADE_TO"
docker exec "$container" bash -c 'source /usr/local/lib/pgtopo/common.sh && run_as_postgres pgbackrest stanza-upgrade' >&2
say "a full backup on PostgreSQL $PGTOPO_UPGRADE_TO, the first the new major can restore from"
docker exec "$container" pgtopo-backup full >&2
