#!/usr/bin/env bash
# npm run status: the toolchain and backend defaults, then scripts/status.ts.
source "$(dirname "$0")/lib.sh"
ensure_toolchain >/dev/null 2>&1 || ensure_toolchain
use_local_pulumi_backend
node --require tsx/cjs "$PGTOPO_ROOT/scripts/status.ts" "$@"
