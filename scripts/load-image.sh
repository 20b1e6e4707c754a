#!/usr/bin/env bash
# pgtopo:hosts: puts an image (the node image, the router image) built on this machine's engine onto a host's engine,
# unless that host already has the same image ID. `docker save | docker load` over the
# host's DOCKER_HOST (ssh://, unix://, tcp:// with TLS): no registry, no pull, one build for every host.
#   scripts/load-image.sh DOCKER_HOST IMAGE
set -euo pipefail
source "$(dirname "$0")/docker-env.sh"
target=$1 image=$2
id=$(docker image inspect -f '{{.Id}}' "$image")
if [ "$(docker_on "$target" image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)" = "$id" ]; then
    echo "$image ($id) is already on $target"
    exit 0
fi
started=$SECONDS
docker save "$image" | docker_on "$target" load >/dev/null
echo "$image ($id) loaded onto $target in $((SECONDS - started))s"
