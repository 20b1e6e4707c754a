# Sourced: docker_on URL ARGS... runs the docker CLI on that engine, with the TLS settings
# of a tcp:// one (its client certificate where the program wrote it: ops/docker.ts,
# dockerCertDir, which derives the same directory from the URL).
source "$(dirname "${BASH_SOURCE[0]}")/../images/postgres/lib/contract.sh"
docker_on() {
    local url=$1 id
    shift
    case $url in
    tcp://*)
        id=$(printf '%s' "$url" | sha256sum | cut -c1-16)
        DOCKER_HOST=$url DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${PGTOPO_HOME:-$HOME/.pgtopo}/$PGTOPO_HOME_DOCKER_TLS_DIR/$id docker "$@"
        ;;
    *) DOCKER_HOST=$url docker "$@" ;;
    esac
}

# use_engine URL: every docker command after it (this shell's and its children's) on that
# engine, as docker_on does for one; an empty URL leaves the local one.
use_engine() {
    [ -n "${1:-}" ] || return 0
    export DOCKER_HOST=$1
    case $1 in
    tcp://*)
        export DOCKER_TLS_VERIFY=1
        export DOCKER_CERT_PATH=${PGTOPO_HOME:-$HOME/.pgtopo}/$PGTOPO_HOME_DOCKER_TLS_DIR/$(printf '%s' "$1" | sha256sum | cut -c1-16)
        ;;
    esac
}
