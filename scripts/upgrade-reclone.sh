#!/usr/bin/env bash
# A major upgrade's new base backup of one standby (components/upgrade.ts declares it for
# each standby planning/upgrade.ts puts in `recloned`: on another host than the primary, or
# downstream of one that is, where the documented rsync --hard-links cannot reach). Run on
# the standby's own engine (DOCKER_HOST) once the upgrade is committed and its upstream runs
# the new major, before the standby's container is replaced by the new major's image (that
# replacement depends on this):
#   1. the old container stopped (it has been retrying its upstream since the primary stopped:
#      the upgraded cluster has a new system identifier, so it could never follow again);
#   2. its old data directory moved aside in the volume, to pgdata.old;
#   3. pgtopo-clone in a one-shot container of the new image on the volume: the standby's
#      slot on its upstream, then pg_basebackup through it;
#   4. pgdata.old removed.
# A run cut off anywhere is taken up by the next `up`: the container is still the old one
# then, so the upgrade is planned again, and this finds the volume as it was left (a new
# data directory: done; none: cloned again). The old data is only a standby's copy of a
# major the cluster no longer runs: nothing in it exists anywhere else.
#   scripts/upgrade-reclone.sh CONTAINER VOLUME
# Environment: PGTOPO_UPGRADE_TO, PGTOPO_UPGRADE_STACK, PGTOPO_IMAGE (the new major's node
# image), PGTOPO_NETWORK, PGTOPO_NODE, PGTOPO_UPSTREAM, PGTOPO_SLOT,
# PGTOPO_REPLICATION_PASSWORD (forwarded by name, never on a command line).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$PGTOPO_ROOT/images/postgres/lib/contract.sh"
container=$1 volume=$2
to=$PGTOPO_UPGRADE_TO
one_shot=(--rm --label "pgtopo.stack=$PGTOPO_UPGRADE_STACK" -v "$volume:$PGTOPO_PATH_VOLUME")
in_volume() { docker run "${one_shot[@]}" -w "$PGTOPO_PATH_VOLUME" --entrypoint bash "$PGTOPO_IMAGE" -c "$1"; }

major=$(in_volume 'cat pgdata/PG_VERSION 2>/dev/null || true')
if [ "$major" = "$to" ]; then
    say "$PGTOPO_NODE holds PostgreSQL $to already (cloned by an earlier run)"
    exit 0
fi
say "$PGTOPO_NODE: a new base backup from $PGTOPO_UPSTREAM, which runs PostgreSQL $to now"
docker stop -t 60 "$container" >/dev/null 2>&1 || true
# (Only a data directory is moved: one that an earlier run moved is already there.)
in_volume 'if [ -s pgdata/PG_VERSION ]; then rm -rf pgdata.old && mv pgdata pgdata.old; fi; rm -rf pgdata.partial'
started=$SECONDS
docker rm -f "$container-oneshot" >/dev/null 2>&1 || true
# From a standby upstream, PostgreSQL refuses a base backup until that standby has made a
# restartpoint at a checkpoint written with full_page_writes on: pg_upgrade's own server ran
# with it off, and the standby's last restartpoint is from then. The primary made such a
# checkpoint before this step (components/upgrade.ts); pg_basebackup's fast checkpoint makes
# the restartpoint once the upstream has replayed it, a moment later: asked again meanwhile.
for ((attempt = 1; ; attempt++)); do
    if out=$(docker run "${one_shot[@]}" --name "$container-oneshot" --network "$PGTOPO_NETWORK" \
        -e PGTOPO_NODE -e PGTOPO_UPSTREAM -e PGTOPO_SLOT -e PGTOPO_REPLICATION_PASSWORD \
        --entrypoint pgtopo-clone "$PGTOPO_IMAGE" 2>&1); then
        printf '%s\n' "$out" >&2
        break
    fi
    printf '%s\n' "$out" >&2
    if ! grep -q 'full_page_writes' <<<"$out" || ((attempt >= 30)); then exit 1; fi
    say "$PGTOPO_UPSTREAM has not replayed a checkpoint taken on PostgreSQL $to yet: the copy again in 1 s"
    sleep 1
done
in_volume 'rm -rf pgdata.old'
say "$PGTOPO_NODE cloned for PostgreSQL $to in $((SECONDS - started)) s; its $major data removed"
