#!/usr/bin/env bash
# Makes the Debian base image that a node image builds FROM, locally, since no image can
# be pulled here: debootstrap of the Debian release into a directory, imported with
# `docker import`. Does nothing when the image already exists. Run by `npm run up` for the
# stack it brings up, and by the program's base-image step for whichever release the
# stack's postgresVersion needs (config/schema.ts DEBIAN_RELEASE_OF).
#   scripts/base-image.sh RELEASE IMAGE        e.g. trixie pgtopo/debian:trixie
source "$(dirname "$0")/lib.sh"
release=$1
image=$2
DEBIAN_MIRROR=${PGTOPO_DEBIAN_MIRROR:-http://deb.debian.org/debian}

present() { docker image inspect "$image" >/dev/null 2>&1; }
present && exit 0

# Two stacks (or a test and `npm run up`) may ask for the same image at once: one builds it.
exec 9>"/tmp/pgtopo-base-image-$release.lock"
flock 9
present && exit 0

as_root_or_explain "building the base image $image with debootstrap" "Or set pgtopo:baseImage to a Debian $release image you can pull."
command -v debootstrap >/dev/null || apt_install debootstrap
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
log="$PGTOPO_HOME/debootstrap-$release.log"
say "building $image: debootstrap of Debian $release (about a minute; log: $log)"
started=$SECONDS
debootstrap --variant=minbase "$release" "$rootfs" "$DEBIAN_MIRROR" >"$log" 2>&1 &
if ! wait_saying_alive $! "debootstrap of Debian $release"; then
    say "error: debootstrap failed; its last lines:"
    tail -n 15 "$log" >&2
    exit 1
fi
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | docker import - "$image" >/dev/null
say "made $image in $((SECONDS - started)) s"
