#!/usr/bin/env bash
# Waits until PostgreSQL in CONTAINER accepts connections, polling every 0.1 s: the
# readiness gate between a node's container and everything that needs the server
# (its settings, its standbys' slots and clones, the converge step). Docker's own
# health status is only refreshed every few seconds, and the provider's wait polls it
# once a second, which made every level of a cascade wait a second or two for nothing.
# While the container restarts (a crash at start, a restart for settings), docker exec
# fails; that is waited through too, up to the timeout.
#   scripts/node-ready.sh CONTAINER [SECONDS]
set -uo pipefail
container=$1
seconds=${2:-180}
deadline=$((SECONDS + seconds))
while ((SECONDS < deadline)); do
    # As postgres over the socket: peer authentication, and no refused login in the log.
    if docker exec -u postgres "$container" pg_isready -q -h /var/run/postgresql -U postgres -d postgres 2>/dev/null; then
        exit 0
    fi
    sleep 0.1
done
echo "pgtopo: $container does not accept connections after ${seconds}s; its last log lines:" >&2
docker logs --tail 20 "$container" >&2 2>&1
exit 1
