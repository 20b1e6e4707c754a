#!/usr/bin/env bash
# pgtopo:hosts: every host's TLS volume holds the same stack CA, so that each node's
# certificate (made by the node itself, pgtopo-tls) verifies on every other host. The CA
# is made on the first host when missing; its certificate and key then go to each other
# host whose volume lacks it or holds another one, piped from engine to engine (never
# written on this machine, never in Pulumi state). Idempotent; run before any node starts.
#   scripts/share-ca.sh IMAGE VOLUME FIRST_DOCKER_HOST [DOCKER_HOST...]
set -euo pipefail
source "$(dirname "$0")/docker-env.sh"
image=$1 volume=$2 first=$3
shift 3
on() { # on DOCKER_HOST PROGRAM ARGS...: a one-shot container on that engine's TLS volume
    local host=$1 program=$2
    shift 2
    docker_on "$host" run --rm -i -v "$volume:/etc/pgtopo/tls" --entrypoint "$program" "$image" "$@"
}
digest() { on "$1" sh -c 'sha256sum /etc/pgtopo/tls/ca.crt 2>/dev/null | cut -d" " -f1'; }
on "$first" pgtopo-tls --ca
want=$(digest "$first")
for host in "$@"; do
    [ "$(digest "$host")" = "$want" ] && continue
    on "$first" tar -C /etc/pgtopo/tls -c ca.crt ca.key | on "$host" tar -C /etc/pgtopo/tls -x --same-owner
    echo "the stack's CA copied to $host"
done
echo "one CA on $(($# + 1)) hosts: $want"
