#!/usr/bin/env bash
# Waits until PostgreSQL in CONTAINER accepts connections: the readiness gate between a
# node's container and everything that needs the server (its settings, its standbys'
# slots and clones, the converge step). Docker's own health status is only refreshed
# every few seconds, and the provider's wait polls it once a second, which made every
# level of a cascade wait a second or two for nothing.
#
# It runs beside the node's bootstrap, not after it, so that the next level of a cascade
# starts the moment the server does. The polling is done inside the container by the
# image's pgtopo-ready (the contract's SCRIPTS.ready: postmaster.pid's status line, then
# pg_isready, every 0.05 s for a second per `docker exec`), since a `docker exec` per poll
# from here would take CPU the bootstrap needs. A bootstrap that fails marks it
# (components/commands.ts, bootstrapFailedMarker; the path is the contract's), and this
# stops waiting then. While the container restarts (a crash at start, a restart for
# settings), docker exec fails; that is waited through too, up to the timeout.
#   scripts/node-ready.sh CONTAINER [SECONDS]
set -uo pipefail
source "$(dirname "$0")/../images/postgres/lib/contract.sh"
container=$1
seconds=${2:-180}
deadline=$((SECONDS + seconds))
failed="$PGTOPO_BOOTSTRAP_FAILED_MARKER_PREFIX$container"
# Only a failure of this `up`'s bootstrap counts, which starts with this one (give or take
# the moment it takes to start): a marker left by an earlier `up` is older.
since=$(mktemp)
trap 'rm -f "$since"' EXIT
touch -d '-2 seconds' "$since"
while ((SECONDS < deadline)); do
    docker exec "$container" "$PGTOPO_SCRIPT_READY" 2>/dev/null
    status=$?
    ((status == 0)) && exit 0
    if [ "$failed" -nt "$since" ]; then
        echo "pgtopo: the bootstrap of $container failed (its error is above); not waiting for it" >&2
        exit 1
    fi
    # Not running (yet, or restarting): docker exec failed at once.
    ((status == PGTOPO_EXIT_NOT_READY)) || sleep 0.1
done
echo "pgtopo: $container does not accept connections after ${seconds}s; its last log lines:" >&2
docker logs --tail 20 "$container" >&2 2>&1
exit 1
