#!/usr/bin/env bash
# Makes a Docker engine answer: as root, installs Debian's docker.io when dockerd is
# missing and starts it; otherwise says what to do. Base images are made separately, for
# the release a stack needs (scripts/base-image.sh).
source "$(dirname "$0")/lib.sh"

engine_answers() { docker info >/dev/null 2>&1; }

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

start_engine
say "docker engine $(docker version -f '{{.Server.Version}}') ready"
