# Sourced by the other scripts: where pgtopo keeps things, and the steps that make a
# machine ready. Every step checks first and does nothing when already done, so the
# second run of anything takes seconds.
set -euo pipefail

PGTOPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# State, the secrets passphrase and logs: outside the repository, kept across clones.
PGTOPO_HOME=${PGTOPO_HOME:-$HOME/.pgtopo}
# Slow builds (the Pulumi toolchain): outside the repository, keyed by version.
export PGTOPO_CACHE=${PGTOPO_CACHE:-$HOME/.cache/pgtopo}
mkdir -p "$PGTOPO_HOME"

say() { printf '\033[1mpgtopo:\033[0m %s\n' "$*" >&2; }

# The embedded default: a local file backend and a generated passphrase, so nothing
# needs an account or a server. A user's own PULUMI_BACKEND_URL / passphrase win.
use_local_pulumi_backend() {
    export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://$PGTOPO_HOME/state}
    if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
        local file="$PGTOPO_HOME/passphrase"
        if [ ! -s "$file" ]; then
            # A finite read of the kernel's CSPRNG: `tr </dev/urandom | head` dies of SIGPIPE under pipefail.
            (umask 077 && head -c 600 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9' | head -c 40 >"$file")
        fi
        export PULUMI_CONFIG_PASSPHRASE_FILE=$file
    fi
    mkdir -p "$PGTOPO_HOME/state"
    bash "$PGTOPO_ROOT/scripts/repair-state.sh"
    export PULUMI_SKIP_UPDATE_CHECK=true
    # The program is type-checked by `tsc --noEmit` in the test command; compiling it
    # without a second check on every `pulumi up` saves seconds per run.
    export PULUMI_NODEJS_TRANSPILE_ONLY=${PULUMI_NODEJS_TRANSPILE_ONLY:-true}
    export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=${PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION:-true}
}

ensure_node_modules() {
    local stamp="$PGTOPO_ROOT/node_modules/.pgtopo-lock"
    if [ -f "$stamp" ] && cmp -s "$PGTOPO_ROOT/package-lock.json" "$stamp"; then return; fi
    say "installing npm dependencies"
    # --ignore-scripts: provider packages would try to download their plugin binaries.
    # `npm install` honours the lockfile like `npm ci` but, unlike it, accepts optional
    # platform packages that a registry mirror does not serve (rollup's non-Linux
    # builds, say), which the lockfile then cannot list.
    (cd "$PGTOPO_ROOT" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
    cp "$PGTOPO_ROOT/package-lock.json" "$stamp"
}

ensure_toolchain() {
    bash "$PGTOPO_ROOT/toolchain/setup.sh" >&2
    # shellcheck disable=SC1091
    source "$PGTOPO_CACHE/env.sh"
}

ensure_docker() {
    bash "$PGTOPO_ROOT/scripts/setup-docker.sh"
}

# Everything `pulumi up` needs on this machine.
prepare_machine() {
    ensure_node_modules
    ensure_toolchain
    ensure_docker
    use_local_pulumi_backend
}
