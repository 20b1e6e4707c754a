#!/usr/bin/env bash
# A node's removal step (its `-removal` Command's delete): run when the node leaves the
# config, when the stack is destroyed, and when a container removed behind pgtopo's back
# has been recreated. Stops the container cleanly (a checkpoint, and its last WAL sent to
# its standbys) and removes it, by name, and with DATA_VOLUME its volume too
# (pgtopo:deleteDataOnRemove). Only the container of this step's own generation (its
# pgtopo.generation label): one recreated since belongs to the next step, and so does the
# volume it runs on. A container that is not there is no error: one removed by hand is
# the case this step exists for (the docker provider's own delete fails on it). A router
# of pgtopo:endpoints is removed by the same step, with its volume (where it points).
#   scripts/remove-node.sh CONTAINER GENERATION [DATA_VOLUME]
set -euo pipefail
container=$1 generation=$2 volume=${3:-}
if found=$(docker container inspect -f '{{index .Config.Labels "pgtopo.generation"}}' "$container" 2>/dev/null); then
    if [ "$found" != "$generation" ]; then
        echo "pgtopo: $container is a later one (generation ${found:-none}, not ${generation:-none}): left as it is"
        exit 0
    fi
    docker stop -t 60 "$container" >/dev/null
    docker rm -f "$container" >/dev/null
    echo "pgtopo: $container stopped and removed"
else
    echo "pgtopo: $container is not there; nothing to remove"
fi
if [ -n "$volume" ]; then
    docker volume rm -f "$volume" >/dev/null
    echo "pgtopo: volume $volume removed"
fi
