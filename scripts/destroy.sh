#!/usr/bin/env bash
# Removes every container, volume and the network of a stack (default: dev).
source "$(dirname "$0")/lib.sh"
STACK=${PGTOPO_STACK:-dev}

prepare_machine
cd "$PGTOPO_ROOT"
pulumi destroy --yes --skip-preview --stack "$STACK" "$@"
