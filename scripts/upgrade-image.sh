#!/usr/bin/env bash
# Makes the image a major upgrade runs in (images/upgrade): the new major's Debian release
# with the old major's packages from the old release's archive, beside each other for
# pg_upgrade. Made locally like the node images, on the engine DOCKER_HOST names (the
# local one by default); Docker's layer cache makes a second build take a second.
#   scripts/upgrade-image.sh [OLD NEW]     default 15 17: pgtopo/upgrade:15-17
source "$(dirname "$0")/lib.sh"
old=${1:-15}
new=${2:-17}
releases="$PGTOPO_ROOT/config/debian-releases.json"
release_of() { node -p "require(process.argv[1])[process.argv[2]] ?? ''" "$releases" "$1"; }
old_release=$(release_of "$old")
new_release=$(release_of "$new")
[ -n "$old_release" ] && [ -n "$new_release" ] || {
    say "error: no Debian release for PostgreSQL $old or $new in config/debian-releases.json"
    exit 2
}
image=pgtopo/upgrade:$old-$new
# One build at a time on this machine: stacks upgraded at the same time (test files run two
# at a time) would each build it, into the same log.
exec 9>"/tmp/pgtopo-upgrade-image-$old-$new.lock"
flock 9
bash "$PGTOPO_ROOT/scripts/base-image.sh" "$new_release" "pgtopo/debian:$new_release"
docker image inspect "$image" >/dev/null 2>&1 ||
    say "building $image: Debian $new_release with PostgreSQL $new, and $old from $old_release (about a minute)"
log="$PGTOPO_HOME/upgrade-image-$old-$new.log"
if ! docker build --build-arg BASE_IMAGE="pgtopo/debian:$new_release" --build-arg OLD_MAJOR="$old" \
    --build-arg OLD_RELEASE="$old_release" --build-arg NEW_MAJOR="$new" -t "$image" \
    "$PGTOPO_ROOT/images/upgrade" >"$log" 2>&1; then
    say "error: the build of $image failed; its last lines:"
    tail -n 20 "$log" >&2
    exit 1
fi
