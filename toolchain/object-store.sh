#!/usr/bin/env bash
# The S3-compatible object store that pgtopo's tests and benches back up into: SeaweedFS's
# `weed`, built once from its Go module into the toolchain cache (like the Pulumi CLI; no
# release download is reachable from these machines). pgtopo itself depends on no
# particular store: a user points it at their own S3 or compatible one.
#
# Usage:  toolchain/object-store.sh     prints the path of the `weed` binary (built if missing)
# Env:    PGTOPO_CACHE, PGTOPO_GOPROXY as toolchain/setup.sh.
set -euo pipefail

# github.com/seaweedfs/seaweedfs (Apache-2.0): the proxy serves pseudo-versions only.
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6
# The module's own go.mod replaces this one; `go build` of a dependency does not apply a
# dependency's replaces, so the wrapper repeats it.
BIP39_REPLACE="github.com/tyler-smith/go-bip39 => github.com/cosmos/go-bip39 v1.0.0"

CACHE_ROOT="${PGTOPO_CACHE:-$HOME/.cache/pgtopo}"
DIR="$CACHE_ROOT/toolchain/seaweedfs-$SEAWEEDFS_VERSION"
BUILT="$DIR/bin/weed"
log() { printf '[toolchain] %s\n' "$*" >&2; }

if [[ -x "$BUILT" && -f "$DIR/.ok" ]]; then
    echo "$BUILT"
    exit 0
fi

# One build at a time: the test command starts this in the background while it prepares
# the rest, and the first test that needs the store waits here for that build to finish.
mkdir -p "$DIR"
exec 9>"$DIR.lock"
flock 9
if [[ -x "$BUILT" && -f "$DIR/.ok" ]]; then
    echo "$BUILT"
    exit 0
fi

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then export PATH="/usr/local/go/bin:$PATH"; fi
command -v go >/dev/null || { log "go is required to build the test object store (SeaweedFS)"; exit 1; }
export GOPROXY="${PGTOPO_GOPROXY:-https://proxy.golang.org}"
export GOFLAGS="-mod=mod -buildvcs=false"
export GOTOOLCHAIN=local

rm -rf "$DIR/src" "$DIR/.ok"
mkdir -p "$DIR/src" "$DIR/bin"
cd "$DIR/src"
cat >go.mod <<EOF
module pgtopo.local/toolchain/seaweedfs

go 1.26

require github.com/seaweedfs/seaweedfs $SEAWEEDFS_VERSION

replace $BIP39_REPLACE
EOF
cat >tools.go <<'EOF'
//go:build tools

// `weed` is built straight from the seaweedfs module.
package tools

import _ "github.com/seaweedfs/seaweedfs/weed"
EOF

t0=$(date +%s)
log "seaweedfs (weed, the tests' object store): building once, several minutes on 2 cores (log: $DIR/build.log)"
# Niced: it may run beside the tests, which must keep the CPU they are timed on.
(go mod tidy && nice -n 15 go build -trimpath -ldflags "-s -w" -o "$BUILT" github.com/seaweedfs/seaweedfs/weed) >"$DIR/build.log" 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && log "seaweedfs: still building, $(($(date +%s) - t0)) s so far"
done
if ! wait "$pid"; then
    grep -v '^go: downloading' "$DIR/build.log" | tail -n 30 >&2
    log "seaweedfs: BUILD FAILED (full log: $DIR/build.log)"
    exit 1
fi
touch "$DIR/.ok"
log "seaweedfs: built in $(($(date +%s) - t0)) s"
echo "$BUILT"
