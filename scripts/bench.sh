#!/usr/bin/env bash
# npm run bench:*: the same set-up as the tests, then one bench script.
source "$(dirname "$0")/lib.sh"
prepare_machine
ensure_object_store_tools
cd "$PGTOPO_ROOT"
script=$1
shift
exec node --require tsx/cjs "$script" "$@"
