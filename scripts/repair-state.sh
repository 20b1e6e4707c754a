#!/usr/bin/env bash
# Repairs what a pulumi CLI killed while saving leaves in a local file backend. The
# backend writes a stack's state to a temporary file and renames it, so the state itself
# is always whole (the previous version when the kill came first); but the metadata
# sidecar beside it (<file>.attrs: content type and checksum, which the backend
# can do without) is written in place and can be left empty, and then every later
# command on that stack fails with "failed to load checkpoint: EOF". Empty sidecars are
# removed, each one named. Run by every pgtopo script that uses the local backend.
#   scripts/repair-state.sh [STATE_DIR]    default: the file:// in PULUMI_BACKEND_URL
set -euo pipefail
dir=${1:-}
if [ -z "$dir" ]; then
    case "${PULUMI_BACKEND_URL:-}" in
    file://*) dir=${PULUMI_BACKEND_URL#file://} ;;
    *) exit 0 ;; # not a file backend: nothing of this kind to repair
    esac
fi
[ -d "$dir/.pulumi" ] || exit 0
# Sidecars are JSON, never empty: an empty one anywhere (stacks, locks, history) is such a leftover.
find "$dir/.pulumi" -name '*.attrs' -size 0 -print0 |
    while IFS= read -r -d '' sidecar; do
        printf 'pgtopo: removing the empty %s left by a killed pulumi (the state beside it is whole)\n' "$sidecar" >&2
        rm -f "$sidecar"
    done
