#!/usr/bin/env bash
# Run by a node's settings Command: applies pgtopo.conf (PGTOPO_SETTINGS, from the
# environment) inside the node; when a changed setting needs a restart, the node says
# so (exit 3) and the container is restarted here, then waited for until PostgreSQL
# accepts connections again. A restart from inside would end the container itself.
#   scripts/node-configure.sh CONTAINER
set -euo pipefail
container=$1
rc=0
docker exec -e PGTOPO_SETTINGS "$container" pgtopo-configure || rc=$?
if [ "$rc" = 3 ]; then
    echo "restarting $container for the settings that need it"
    docker restart "$container" >/dev/null
    exec bash "$(dirname "$0")/node-ready.sh" "$container" 120
fi
exit "$rc"
