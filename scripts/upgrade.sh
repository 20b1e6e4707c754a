#!/usr/bin/env bash
# The major upgrade step of an `up` that changes pgtopo:postgresVersion (issue 23,
# components/upgrade.ts declares it; planning/upgrade.ts decides it). Run before the node
# containers are replaced by the new major's image: they depend on it. On the engine of
# the primary (DOCKER_HOST), where every node of the upgrade runs.
#
#   1. pg_upgrade --check against the running primary: what it refuses, refused with
#      nothing stopped (the same check as `npm run upgrade-check`).
#   2. The primary stops (its shutdown checkpoint reaches every standby), every standby
#      replays up to that checkpoint, then they stop, leaves first.
#   3. In one-shot containers of the upgrade image (images/upgrade/bin/pgtopo-upgrade):
#      pg_upgrade --link on the primary's volume, the documented rsync --hard-links onto
#      each standby's, each new directory beside its old one.
#   4. The mark on the primary's volume (commit), then each new directory in place.
# A failure before the mark puts the old cluster back as it was and starts it again; a run
# killed before the mark is rolled back by the next one, a run killed after it is finished
# by the next one. Never between: either every volume is on the old major or on the new.
#
# Environment: PGTOPO_UPGRADE_FROM, PGTOPO_UPGRADE_TO (majors), PGTOPO_UPGRADE_STACK,
# PGTOPO_UPGRADE_PRIMARY and PGTOPO_UPGRADE_STANDBYS ("container=volume", the standbys
# space-separated, upstreams before theirs: those brought along by rsync; the others get a
# new base backup after this, scripts/upgrade-reclone.sh, and are not touched here), PGPASSWORD (the superuser's, for the check).
# PGTOPO_UPGRADE_FAIL_AT=stopped|upgraded: a failure injected there; committed: this script
# killed right after the mark (for tests).
# errtrace (-E): a command failing inside a function (on_volumes: pg_upgrade, an rsync)
# runs the ERR trap below too; without it, errexit would end the script there, leaving the
# old cluster stopped instead of rolled back.
set -Eeuo pipefail
source "$(dirname "$0")/lib.sh"
source "$PGTOPO_ROOT/images/postgres/lib/contract.sh"
from=$PGTOPO_UPGRADE_FROM
to=$PGTOPO_UPGRADE_TO
image=pgtopo/upgrade:$from-$to
primary=${PGTOPO_UPGRADE_PRIMARY%%=*}
primary_volume=${PGTOPO_UPGRADE_PRIMARY#*=}
read -r -a standby_pairs <<<"${PGTOPO_UPGRADE_STANDBYS:-}"
standbys=() standby_volumes=()
for pair in "${standby_pairs[@]}"; do
    standbys+=("${pair%%=*}")
    standby_volumes+=("${pair#*=}")
done

# A one-shot container of the upgrade image with the primary's volume at /p and the
# standbys' at /s0, /s1, ... (in the order above).
on_volumes() {
    local mounts=(-v "$primary_volume:/p") i
    for i in "${!standby_volumes[@]}"; do mounts+=(-v "${standby_volumes[$i]}:/s$i"); done
    docker run --rm --label "pgtopo.stack=$PGTOPO_UPGRADE_STACK" --label "$ONE_SHOT_LABEL" "${mounts[@]}" "$image" pgtopo-upgrade "$@"
}
standby_mounts() { local i; for i in "${!standby_volumes[@]}"; do printf '/s%s ' "$i"; done; }

# Starts the old containers again, primary first, and waits until each takes connections.
start_old_cluster() {
    local container
    for container in "$primary" "${standbys[@]}"; do
        docker start "$container" >/dev/null
        bash "$PGTOPO_ROOT/scripts/node-ready.sh" "$container" 120
    done
}

# Before the mark: every old directory as it was, and the old cluster running again.
roll_back() {
    local why=$1
    trap - ERR
    say "upgrade to PostgreSQL $to failed: $why; putting PostgreSQL $from back as it was"
    # shellcheck disable=SC2046
    on_volumes rollback /p $(standby_mounts)
    start_old_cluster
    say "PostgreSQL $from runs again on every node (${primary}${standbys:+, ${standbys[*]}}), as before this \`up\`; nothing was lost"
    exit 1
}

switch_all() {
    local i
    for i in "${!standby_volumes[@]}"; do on_volumes switch "/s$i"; done
    on_volumes switch /p
}

# Built on this machine's engine, like the node images, and loaded onto the primary's host
# when that is another (pgtopo:hosts): a host need not reach Debian's archive.
if [ -n "${DOCKER_HOST:-}" ]; then
    here=(env -u DOCKER_HOST -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH)
    "${here[@]}" bash "$PGTOPO_ROOT/scripts/upgrade-image.sh" "$from" "$to"
    "${here[@]}" bash "$PGTOPO_ROOT/scripts/load-image.sh" "$DOCKER_HOST" "$image" >&2
else
    bash "$PGTOPO_ROOT/scripts/upgrade-image.sh" "$from" "$to"
fi

# A run killed mid-way may have left a step's one-shot container running (killing the
# docker client does not stop it): gone before anything else touches the volumes.
ONE_SHOT_LABEL="pgtopo.upgrade=$PGTOPO_UPGRADE_STACK"
leftovers=$(docker ps -aq --filter "label=$ONE_SHOT_LABEL")
[ -z "$leftovers" ] || docker rm -f $leftovers >/dev/null

# Where an earlier run stopped, if it did.
case "$(on_volumes state /p)" in
committed)
    say "an earlier upgrade to $to was committed before it was interrupted: finishing it"
    switch_all
    exit 0
    ;;
done)
    say "the primary's volume holds PostgreSQL $to already: nothing to upgrade"
    exit 0
    ;;
esac
# shellcheck disable=SC2046
on_volumes rollback /p $(standby_mounts) >/dev/null # (a run killed before its mark: nothing else to undo)
start_old_cluster >/dev/null

# 1. What pg_upgrade would refuse, while everything runs.
say "pg_upgrade --check of $primary, PostgreSQL $from -> $to, with every node running"
if ! docker run --rm --label "pgtopo.stack=$PGTOPO_UPGRADE_STACK" --label "$ONE_SHOT_LABEL" --network "container:$primary" -e PGPASSWORD \
    -v "$primary_volume:$PGTOPO_PATH_VOLUME:ro" "$image" pgtopo-upgrade-check >&2; then
    say "error: pgtopo:postgresVersion: \"$to\": pg_upgrade refuses this cluster (its report above); nothing was stopped or changed, PostgreSQL $from runs on"
    exit 1
fi

# 2. Writes stop here.
trap 'roll_back "a step failed (above)"' ERR
started=$(date +%s%N)
say "stopping $primary (the primary): writes stop until it runs PostgreSQL $to"
docker stop -t 60 "$primary" >/dev/null
checkpoint=$(on_volumes checkpoint /p)
for standby in "${standbys[@]}"; do
    replayed=""
    for ((i = 0; i < 600; i++)); do
        replayed=$(docker exec -u postgres "$standby" psql -h "$PGTOPO_PATH_SOCKET_DIR" -d postgres -XAtc \
            "SELECT pg_last_wal_replay_lsn() > '$checkpoint'::pg_lsn" 2>/dev/null || true)
        [ "$replayed" = t ] && break
        sleep 0.1
    done
    [ "$replayed" = t ] || roll_back "$standby did not replay the primary's shutdown checkpoint $checkpoint within a minute"
done
for ((i = ${#standbys[@]} - 1; i >= 0; i--)); do docker stop -t 60 "${standbys[$i]}" >/dev/null; done
say "every node stopped; each standby had replayed the primary's last checkpoint $checkpoint"
# shellcheck disable=SC2046
on_volumes check-stopped /p $(standby_mounts)
# (For tests: a failing command, which goes through the ERR trap as a real failure does.)
inject_failure() {
    [ "${PGTOPO_UPGRADE_FAIL_AT:-}" = "$1" ] || return 0
    say "failure injected $2 (PGTOPO_UPGRADE_FAIL_AT=$1)"
    false
}
inject_failure stopped "after the stop"

# 3. The new directories, beside the old ones.
now() { date +%s%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
linking=$(now)
on_volumes primary /p
say "pg_upgrade --link done in $(elapsed "$linking") s"
following=$(now)
for i in "${!standby_volumes[@]}"; do on_volumes standby /p "/s$i"; done
((${#standbys[@]} == 0)) || say "standbys brought along in $(elapsed "$following") s"
inject_failure upgraded "after pg_upgrade"

# 4. Forward from here.
trap - ERR
on_volumes commit /p
# (For tests: a run killed here, which the next `up` finishes.)
[ "${PGTOPO_UPGRADE_FAIL_AT:-}" != committed ] || kill -KILL $$
switch_all
say "PostgreSQL $to in place on every volume after $(elapsed "$started") s stopped; the nodes start on the $to image next"
