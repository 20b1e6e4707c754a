#!/usr/bin/env bash
# README command 2: every check, from a fresh machine. Formatting, lint and types first
# (seconds), then unit tests (no Docker, no CLI), then the integration tests, which run
# real `pulumi up`s against a real Docker engine and PostgreSQL.
source "$(dirname "$0")/lib.sh"
cd "$PGTOPO_ROOT"
results="$PGTOPO_ROOT/test-results"
rm -rf "$results" && mkdir -p "$results"

ensure_node_modules
say "format (prettier), lint (eslint), types (tsc)"
npx prettier --check . --log-level warn
npx eslint .
npx tsc --noEmit

say "unit tests"
npx vitest run --config vitest.unit.config.ts --reporter=default --reporter=json --outputFile.json="$results/unit.json"

say "integration tests: toolchain and Docker first"
ensure_toolchain
# The test object store (SeaweedFS) takes minutes to build on a machine without it: built in
# the background while the rest is prepared and the first test files run; the tests that use
# it wait for the build if it is not done (the order of the files, run several at once:
# vitest.integration.config.ts).
ensure_object_store_tools
bash toolchain/object-store.sh >"$results/object-store-build.log" 2>&1 &
store_build=$!
ensure_docker
# Made up front so that its first debootstrap shows progress; PostgreSQL 17's is made by
# the test stack's own base-image step, as any stack does.
ensure_base_image 15
ensure_psql
ensure_test_host_tools
use_local_pulumi_backend
npx vitest run --config vitest.integration.config.ts --reporter=default --reporter=json \
    --outputFile.json="$results/integration.json" || status=$?

wait "$store_build" || { status=1; cat "$results/object-store-build.log" >&2; }
node scripts/summarize-tests.mjs "$results"/*.json
exit "${status:-0}"
