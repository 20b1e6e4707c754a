#!/usr/bin/env bash
# Makes a Docker engine answer and the base image exist.
# - No engine answering: as root, install Debian's docker.io when dockerd is missing and
#   start it; otherwise say what to do.
# - The default base image (pgtopo/debian:bookworm) is made locally with debootstrap +
#   docker import, so nothing is pulled from a registry. A configured baseImage other
#   than the default is pulled by Docker as usual.
source "$(dirname "$0")/lib.sh"

BASE_IMAGE=${PGTOPO_BASE_IMAGE:-pgtopo/debian:bookworm}
DEBIAN_MIRROR=${PGTOPO_DEBIAN_MIRROR:-http://deb.debian.org/debian}

engine_answers() { docker info >/dev/null 2>&1; }

as_root_or_explain() {
    if [ "$(id -u)" != 0 ]; then
        say "error: $1 needs root. $2"
        exit 1
    fi
}

apt_install() {
    say "installing $* from Debian's archive"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

start_engine() {
    if engine_answers; then return; fi
    as_root_or_explain "starting the Docker engine" "Start Docker (e.g. 'sudo systemctl start docker') and add yourself to the docker group."
    command -v dockerd >/dev/null || apt_install docker.io
    command -v docker >/dev/null || apt_install docker.io
    say "starting dockerd (log: $PGTOPO_HOME/dockerd.log)"
    nohup dockerd >"$PGTOPO_HOME/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do
        if engine_answers; then return; fi
        sleep 1
    done
    say "error: dockerd did not answer within 60s; see $PGTOPO_HOME/dockerd.log"
    exit 1
}

make_base_image() {
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then return; fi
    if [ "$BASE_IMAGE" != "pgtopo/debian:bookworm" ]; then
        say "pulling base image $BASE_IMAGE"
        docker pull "$BASE_IMAGE"
        return
    fi
    as_root_or_explain "building the base image with debootstrap" "Or set pgtopo:baseImage to a Debian bookworm image you can pull."
    command -v debootstrap >/dev/null || apt_install debootstrap
    local rootfs
    rootfs=$(mktemp -d)
    say "building $BASE_IMAGE with debootstrap (about a minute)"
    debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >"$PGTOPO_HOME/debootstrap.log" 2>&1 ||
        { say "error: debootstrap failed; see $PGTOPO_HOME/debootstrap.log"; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
}

start_engine
make_base_image
say "docker engine $(docker version -f '{{.Server.Version}}') ready; base image $BASE_IMAGE present"
