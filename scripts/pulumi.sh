#!/usr/bin/env bash
# Runs the pulumi CLI with pgtopo's toolchain and defaults (local state backend,
# generated passphrase), e.g. scripts/pulumi.sh stack output --stack dev
source "$(dirname "$0")/lib.sh"
ensure_toolchain >/dev/null 2>&1 || ensure_toolchain
use_local_pulumi_backend
cd "$PGTOPO_ROOT"
pulumi "$@"
