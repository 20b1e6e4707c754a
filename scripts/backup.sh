#!/usr/bin/env bash
# npm run backup: a backup of a stack (default dev) now, on its primary, into its
# pgBackRest repository (pgtopo:backup must be on). Retention expires old ones after it.
#   npm run backup [-- --type full|diff|incr]      PGTOPO_STACK=prod npm run backup
source "$(dirname "$0")/lib.sh"
STACK=${PGTOPO_STACK:-dev}
type=full
while [ $# -gt 0 ]; do
    case "$1" in
    --type) type=${2:-}; shift 2 ;;
    --type=*) type=${1#--type=}; shift ;;
    *) say "error: unknown argument '$1'; usage: npm run backup [-- --type full|diff|incr]"; exit 2 ;;
    esac
done
case "$type" in full | diff | incr) ;; *) say "error: --type must be full, diff or incr, not '$type'"; exit 2 ;; esac
ensure_toolchain >/dev/null 2>&1 || ensure_toolchain
use_local_pulumi_backend
cd "$PGTOPO_ROOT"
source "$PGTOPO_ROOT/scripts/docker-env.sh"
primary=$(pulumi stack output primary --stack "$STACK")
# With pgtopo:hosts (backups into an object store), the primary's own engine.
engine=$(pulumi stack output nodes --json --stack "$STACK" |
    node -pe "JSON.parse(require('fs').readFileSync(0))['$primary']?.dockerHost ?? ''")
on_primary() { if [ -n "$engine" ]; then docker_on "$engine" "$@"; else docker "$@"; fi; }
container="pgtopo-$STACK-$primary"
# With pgtopo:backup.repositoryHost, backups run in the repository's container (pgBackRest
# finds the primary from there).
repository=$(pulumi stack output repositoryHost --json --stack "$STACK" 2>/dev/null || echo null)
if [ "$repository" != null ]; then
    container=$(node -pe "JSON.parse(process.argv[1]).container" "$repository")
    engine=$(node -pe "JSON.parse(process.argv[1]).dockerHost" "$repository")
    say "$type backup of stack $STACK on its repository host${engine:+ ($engine)}"
else
    say "$type backup of stack $STACK on its primary $primary${engine:+ ($engine)}"
fi
on_primary exec "$container" pgtopo-backup "$type"
on_primary exec -u postgres "$container" pgbackrest info
