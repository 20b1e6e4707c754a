#!/usr/bin/env bash
# The stack janitor's delete, on one engine, once every node of the stack is gone from it
# (`pulumi destroy`): what is left with the stack's label (a one-shot container of an
# interrupted run; the volumes kept when nodes were removed, and the TLS volume), then the
# stack's network. The backup repository carries another label and is not touched.
#   scripts/remove-stack.sh STACK_LABEL NETWORK
set -euo pipefail
label=$1 network=$2
docker ps -aq --filter "label=$label" | xargs -r docker rm -f >/dev/null
docker volume ls -q --filter "label=$label" | xargs -r docker volume rm >/dev/null
if docker network inspect "$network" >/dev/null 2>&1; then docker network rm "$network" >/dev/null; fi
echo "pgtopo: the stack's containers, volumes and network ($label) removed"
