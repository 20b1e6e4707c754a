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

as_root_or_explain() {
    if [ "$(id -u)" != 0 ]; then
        say "error: $1 needs root. $2"
        exit 1
    fi
}

apt_install() {
    say "installing $* from Debian's archive"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# wait_saying_alive PID WHAT: waits for a background step, saying every 30 s how long it
# has taken so far, so that a long step never looks hung. Returns the step's exit status.
wait_saying_alive() {
    local pid=$1 what=$2 started=$SECONDS
    while kill -0 "$pid" 2>/dev/null; do
        for _ in $(seq 1 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 1
        done
        if kill -0 "$pid" 2>/dev/null; then say "$what: still running, $((SECONDS - started)) s so far"; fi
    done
    wait "$pid"
}

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
    # A stack's encryption salt belongs to the backend and passphrase that made the
    # stack, not to the repository: the state keeps it too, and with this the CLI takes
    # it from there whenever Pulumi.<stack>.yaml has none (a fresh clone, say).
    export PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER=true
    ignore_local_salt_in_git
    trap refresh_stack_configs_in_git EXIT
    export PULUMI_SKIP_UPDATE_CHECK=true
    export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=${PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION:-true}
    # A language host that ignores Pulumi.yaml's `typescript: false` (hosts before the
    # CLI sent the project's options; the toolchain's reads them itself) runs the program
    # under ts-node, which would type-check it at every `up`; `tsc --noEmit` in the test
    # command does that instead.
    export PULUMI_NODEJS_TRANSPILE_ONLY=${PULUMI_NODEJS_TRANSPILE_ONLY:-true}
}

# Pulumi writes the stack's `encryptionsalt` into Pulumi.<stack>.yaml whenever it loads
# the secrets manager. That line is specific to this machine's passphrase (a committed
# one is exactly what fails for everyone else with "incorrect passphrase"), so the
# repository never holds it: .gitattributes sends Pulumi.*.yaml through this clean
# filter, which drops the line, and `git status` / `git diff` only ever show the user's
# own config changes. Configured in this clone only, and only when it is a git clone.
ignore_local_salt_in_git() {
    git -C "$PGTOPO_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1 || return 0
    local filter=filter.pulumi-local-salt
    if [ "$(git -C "$PGTOPO_ROOT" config --get $filter.clean)" != "sed -e /^encryptionsalt:/d" ]; then
        git -C "$PGTOPO_ROOT" config $filter.clean "sed -e /^encryptionsalt:/d"
        git -C "$PGTOPO_ROOT" config $filter.smudge cat
    fi
}

# Git notices that Pulumi changed a file's size before it looks at the content, so it
# would list Pulumi.<stack>.yaml as modified though the filtered content is unchanged
# (`git diff` shows nothing). Re-adding such a file changes no content, it only refreshes
# the index's stat data; a file with real edits of the user's is left alone.
refresh_stack_configs_in_git() {
    git -C "$PGTOPO_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1 || return 0
    local file
    while IFS= read -r file; do
        if git -C "$PGTOPO_ROOT" diff --quiet -- "$file" 2>/dev/null; then
            git -C "$PGTOPO_ROOT" add -- "$file" 2>/dev/null || true
        fi
    done < <(git -C "$PGTOPO_ROOT" ls-files -- 'Pulumi.*.yaml')
}

# A salt left in Pulumi.<stack>.yaml by a stack that this backend does not have (another
# machine's, or one whose PGTOPO_HOME was removed) cannot open with this passphrase, and
# creating the stack would fail with "incorrect passphrase". It protects nothing unless
# the file holds `secure:` values, which would then be unreadable: refuse in that case.
forget_stale_salt() {
    local file="$PGTOPO_ROOT/Pulumi.$1.yaml"
    [ -f "$file" ] && grep -q '^encryptionsalt:' "$file" || return 0
    if grep -q 'secure:' "$file"; then
        say "error: Pulumi.$1.yaml holds secrets encrypted for a stack '$1' that this backend ($PULUMI_BACKEND_URL) does not have; set them again with 'scripts/pulumi.sh config set --secret' after removing the encryptionsalt line and the secure: values"
        exit 1
    fi
    say "Pulumi.$1.yaml: dropping the encryptionsalt of a stack '$1' this backend does not have"
    sed -i -e '/^encryptionsalt:/d' "$file"
}

ensure_node_modules() {
    local stamp="$PGTOPO_ROOT/node_modules/.pgtopo-lock"
    if [ -f "$stamp" ] && cmp -s "$PGTOPO_ROOT/package-lock.json" "$stamp"; then return; fi
    say "installing npm dependencies (npm ci: exactly what package-lock.json lists)"
    # `npm ci` installs the lockfile as it is and never writes it, so a fresh clone stays
    # clean; the lockfile lists every platform's optional packages (rollup's, esbuild's),
    # so it is complete wherever it is installed. --ignore-scripts: provider packages would
    # try to download their plugin binaries.
    (cd "$PGTOPO_ROOT" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
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

# The base image a stack's postgresVersion builds on (config/schema.ts DEBIAN_RELEASE_OF),
# made before `pulumi up` so that its minute of debootstrap shows progress here; the
# program makes it too (quietly) when something runs `pulumi up` without this script.
ensure_base_image() {
    local release
    release=$(node -p "require('$PGTOPO_ROOT/config/debian-releases.json')['${1:-15}'] ?? ''")
    # An unsupported version is refused by the program's config check, with the allowed values.
    [ -z "$release" ] || bash "$PGTOPO_ROOT/scripts/base-image.sh" "$release" "pgtopo/debian:$release"
}

# The README's connect line runs psql on this machine.
ensure_psql() {
    command -v psql >/dev/null && return 0
    if [ "$(id -u)" = 0 ]; then apt_install postgresql-client; else say "note: install postgresql-client to connect with psql"; fi
}

# The several-hosts test makes its hosts (scripts/test-hosts.sh) with ip, nsenter and
# iptables (and openssl, for a tcp:// engine's certificates): iproute2, util-linux, iptables.
ensure_test_host_tools() {
    local missing=()
    command -v ip >/dev/null || missing+=(iproute2)
    command -v nsenter >/dev/null || missing+=(util-linux)
    command -v iptables >/dev/null || missing+=(iptables)
    command -v openssl >/dev/null || missing+=(openssl)
    [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

# The backup tests' object store (SeaweedFS's weed, scripts/test-object-store.sh), built
# once into the toolchain cache; curl is how that script asks whether it answers.
ensure_object_store() {
    ensure_object_store_tools
    bash "$PGTOPO_ROOT/toolchain/object-store.sh" >/dev/null
}

# What starting the test object store needs besides `weed` (apt: not from a background job,
# which would contend for apt's lock with the foreground's installs).
ensure_object_store_tools() {
    command -v curl >/dev/null || apt_install curl
}

# Everything `pulumi up` needs on this machine.
prepare_machine() {
    ensure_node_modules
    ensure_toolchain
    ensure_docker
    use_local_pulumi_backend
}

# A stack's config value as the stack file says it (empty when unset or no such file).
stack_config_value() {
    local file="$PGTOPO_ROOT/Pulumi.$1.yaml" key=$2
    [ -f "$file" ] || return 0
    sed -n "s/^  pgtopo:$key: *\"\{0,1\}\([^\"]*\)\"\{0,1\} *\$/\1/p" "$file" | head -n 1
}
