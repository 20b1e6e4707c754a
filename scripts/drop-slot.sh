#!/usr/bin/env bash
# A standby's slot resource's delete, on its upstream's engine. Dropping the slot is the
# point of removing a standby cleanly: a slot left behind keeps WAL on its upstream
# forever. When the upstream is not running there is nothing to drop it from (it is being
# removed too, or is down and keeps its slot until the next `pulumi up` finds it).
#   scripts/drop-slot.sh UPSTREAM_CONTAINER SLOT
set -euo pipefail
upstream=$1 slot=$2
if [ "$(docker container inspect -f '{{.State.Running}}' "$upstream" 2>/dev/null)" = true ]; then
    docker exec "$upstream" pgtopo-slot drop "$slot"
else
    echo "$upstream is not running; slot $slot not dropped"
fi
