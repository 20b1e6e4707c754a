#!/usr/bin/env bash
# README command 1: everything from a fresh machine to a running dev stack.
#   npm run up               the dev stack
#   PGTOPO_STACK=prod npm run up
source "$(dirname "$0")/lib.sh"
STACK=${PGTOPO_STACK:-dev}

prepare_machine
cd "$PGTOPO_ROOT"
pulumi stack select --create "$STACK" >/dev/null
say "pulumi up on stack $STACK"
pulumi up --yes --skip-preview --stack "$STACK" "$@"
say "stack outputs:"
pulumi stack output --stack "$STACK"
say "connect to the primary with: psql \"\$(scripts/pulumi.sh stack output connectionStrings --show-secrets --json | node -pe 'JSON.parse(require(\"fs\").readFileSync(0))[\"$(pulumi stack output primary --stack "$STACK")\"]')\""
