#!/usr/bin/env bash
# Runs a removal step on the engine of DOCKER_HOST, unless that engine's host is marked
# gone (pgtopo:hosts.NAME.gone: the program marks it, ops/docker.ts goneMarker): then the
# host is not contacted at all, and what was left there is said instead. The `delete`
# commands of Pulumi's steps come from the state, written by the `up` that made them, and
# `pulumi destroy` runs no program, so they look here at the moment they run.
#   scripts/unless-gone.sh "WHAT IS LEFT" COMMAND [ARGS...]
set -euo pipefail
source "$(dirname "$0")/../images/postgres/lib/contract.sh"
what=$1
shift
if [ -n "${DOCKER_HOST:-}" ]; then
    marker="${PGTOPO_HOME:-$HOME/.pgtopo}/$PGTOPO_HOME_GONE_DIR/$(printf '%s' "$DOCKER_HOST" | sha256sum | cut -c1-16)"
    if [ -e "$marker" ]; then
        echo "pgtopo: $DOCKER_HOST is marked gone (pgtopo:hosts.NAME.gone), so it was not contacted: $what left there"
        exit 0
    fi
fi
exec "$@"
