#!/usr/bin/env bash
# README command 1: everything from a fresh machine to a running dev stack.
#   npm run up               the dev stack
#   PGTOPO_STACK=prod npm run up
source "$(dirname "$0")/lib.sh"
STACK=${PGTOPO_STACK:-dev}

prepare_machine
cd "$PGTOPO_ROOT"
if ! pulumi stack select "$STACK" >/dev/null 2>&1; then
    forget_stale_salt "$STACK"
    say "creating stack $STACK in $PULUMI_BACKEND_URL"
    pulumi stack init "$STACK" >/dev/null
fi
# Made here rather than inside `pulumi up`, so that a first run's minute of debootstrap
# shows its progress; a custom pgtopo:baseImage is the user's own.
if [ -z "$(stack_config_value "$STACK" baseImage)" ]; then
    ensure_base_image "$(stack_config_value "$STACK" postgresVersion)"
fi
ensure_psql
say "pulumi up on stack $STACK"
pulumi up --yes --skip-preview --stack "$STACK" "$@"
say "stack outputs:"
pulumi stack output --stack "$STACK"
say "connect to the primary with: psql \"\$(scripts/pulumi.sh stack output connectionStrings --show-secrets --json | node -pe 'JSON.parse(require(\"fs\").readFileSync(0))[\"$(pulumi stack output primary --stack "$STACK")\"]')\""
