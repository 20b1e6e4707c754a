#!/usr/bin/env bash
# npm run upgrade-check: would pg_upgrade take a stack (default dev) to another PostgreSQL
# major? pg_upgrade's own check, run against the running primary in a one-shot container
# of the upgrade image (images/upgrade) that shares the primary's network and reads its
# volume read-only: nothing is stopped or changed. Exit 0: it would; 1: it refuses, and
# says what to change (pg_upgrade's report and the objects it lists); 2: bad input.
#   npm run upgrade-check [-- --to 17]      PGTOPO_STACK=prod npm run upgrade-check
source "$(dirname "$0")/lib.sh"
STACK=${PGTOPO_STACK:-dev}
to=17
while [ $# -gt 0 ]; do
    case "$1" in
    --to) to=${2:-}; shift 2 ;;
    --to=*) to=${1#--to=}; shift ;;
    *) say "error: unknown argument '$1'; usage: npm run upgrade-check [-- --to 17]"; exit 2 ;;
    esac
done
ensure_toolchain >/dev/null 2>&1 || ensure_toolchain
use_local_pulumi_backend
cd "$PGTOPO_ROOT"
source "$PGTOPO_ROOT/scripts/docker-env.sh"
primary=$(pulumi stack output primary --stack "$STACK")
# With pgtopo:hosts, everything below on the primary's own engine.
use_engine "$(pulumi stack output nodes --json --stack "$STACK" |
    node -pe "JSON.parse(require('fs').readFileSync(0))['$primary']?.dockerHost ?? ''")"
container="pgtopo-$STACK-$primary"
from=$(docker exec "$container" printenv PG_MAJOR)
if [ "$from" = "$to" ]; then
    say "stack $STACK runs PostgreSQL $to already: nothing to check"
    exit 0
fi
if ! [[ $to =~ ^[0-9]+$ ]] || ((to < from)); then
    say "error: --to: \"$to\" is not a later major than $from, which stack $STACK runs; PostgreSQL has no downgrade (pg_upgrade goes up only): restore a backup into a new stack instead"
    exit 2
fi
bash "$PGTOPO_ROOT/scripts/upgrade-image.sh" "$from" "$to" || exit 2
# The superuser's password, for pg_upgrade's connections to the running server: read from
# the stack's secret output into this process only, forwarded to the container by name.
PGPASSWORD=$(pulumi stack output connectionStrings --show-secrets --json --stack "$STACK" |
    node -pe "decodeURIComponent(new URL(JSON.parse(require('fs').readFileSync(0))['$primary']).password)")
export PGPASSWORD
say "pg_upgrade --check of stack $STACK's primary $primary, PostgreSQL $from -> $to (it keeps running)"
docker run --rm --network "container:$container" -e PGPASSWORD \
    -v "pgtopo-$STACK-$primary-data:/var/lib/postgresql/data:ro" "pgtopo/upgrade:$from-$to" pgtopo-upgrade-check
