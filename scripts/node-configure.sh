#!/usr/bin/env bash
# Run by a node's settings Command: applies pgtopo.conf (PGTOPO_SETTINGS, from the
# environment) inside the node; when a changed setting needs a restart, the node says
# so (PGTOPO_EXIT_RESTART_NEEDED) and the container is restarted here, then waited for until PostgreSQL
# accepts connections again. A restart from inside would end the container itself.
#
# A node whose container is stopped (killed, stopped by hand) is not started here: whether
# it may start as it is, and as what, is the converge step's to decide (it may hold a
# primary's data that must be fenced). Its settings are written into its volume instead,
# by a throwaway container on the same volumes, and take effect when it starts.
#   scripts/node-configure.sh CONTAINER
set -euo pipefail
source "$(dirname "$0")/../images/postgres/lib/contract.sh"
container=$1
if [ "$(docker container inspect -f '{{.State.Running}}' "$container" 2>/dev/null)" = false ]; then
    echo "$container is stopped: its settings are written into its volume and apply when it starts"
    exec docker run --rm --network none --volumes-from "$container" -e PGTOPO_SETTINGS \
        --entrypoint pgtopo-configure "$(docker container inspect -f '{{.Config.Image}}' "$container")" --offline
fi
rc=0
docker exec -e PGTOPO_SETTINGS "$container" pgtopo-configure || rc=$?
if [ "$rc" = "$PGTOPO_EXIT_RESTART_NEEDED" ]; then
    echo "restarting $container for the settings that need it"
    docker restart "$container" >/dev/null
    exec bash "$(dirname "$0")/node-ready.sh" "$container" 120
fi
exit "$rc"
