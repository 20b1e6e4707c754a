#!/usr/bin/env bash
# Removes every container, volume and the network of a stack (default: dev). Its backup
# repository (pgtopo:backup) is kept, and said so, unless deleteBackupsOnDestroy is set.
source "$(dirname "$0")/lib.sh"
STACK=${PGTOPO_STACK:-dev}

prepare_machine
cd "$PGTOPO_ROOT"
pulumi destroy --yes --skip-preview --stack "$STACK" "$@"
kept=$(docker volume ls -q --filter "label=pgtopo.backups=$STACK")
if [ -n "$kept" ]; then
    say "the backup repository of stack $STACK is kept: volume $kept (pgtopo:backup.deleteBackupsOnDestroy is not set). Restore from it with pgtopo:restore.fromStack: $STACK; remove it with: docker volume rm $kept"
fi
