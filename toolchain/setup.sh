#!/usr/bin/env bash
# Offline Pulumi toolchain for pgtopo: the pulumi CLI, the Node.js language host
# and the docker and command resource plugins, built from Go modules (the only
# source these machines can reach besides npm and apt). See README.md.
#
# Usage:  toolchain/setup.sh            reuse what is usable, build the rest (cached)
#         toolchain/setup.sh --rebuild  ignore the build cache (rebuild everything)
#         PGTOPO_REUSE=0 toolchain/setup.sh   do not reuse pulumi/plugins found on PATH
# Then:   . "${PGTOPO_CACHE:-$HOME/.cache/pgtopo}/env.sh"
#
# Env: PGTOPO_CACHE (default $HOME/.cache/pgtopo), PGTOPO_GOPROXY (default
# https://proxy.golang.org), PULUMI_HOME (plugin cache the plugins are installed into).
set -euo pipefail

# ---- versions --------------------------------------------------------------
PULUMI_VERSION=3.248.0            # CLI; @pulumi/pulumi 3.248.0 is the last release for Node 20
LANGHOST_SDK_VERSION=3.68.0       # last sdk/v3 release that still contains pulumi-language-nodejs
LANGHOST_BUILD=$LANGHOST_SDK_VERSION-options2  # its build here: + Pulumi.yaml's runtime options (write_langhost)
COMMAND_VERSION=1.2.1             # = npm @pulumi/command pulumi.version (plugin name/version)
COMMAND_BUILD=$COMMAND_VERSION-streams1 # its build here: streams the command's output, as the real one (write_command)
DOCKER_VERSION=4.11.2             # = npm @pulumi/docker pulumi.version (plugin name/version)
GO_PROVIDER_VERSION=v1.4.0        # github.com/pulumi/pulumi-go-provider (command stand-in)
COMMAND_PULUMI_SDK=v3.250.0       # pkg/sdk required by pulumi-go-provider v1.4.0
BRIDGE_VERSION=v3.127.0           # github.com/pulumi/pulumi-terraform-bridge/v3 (docker)
TF_SDK_FORK=v2.0.0-20260318212141-5525259d096b     # github.com/pulumi/terraform-plugin-sdk/v2, as the bridge's go.mod
DOCKER_UPSTREAM=v0.0.0-20260916201441-96d331c98ff4 # github.com/kreuzwerker/terraform-provider-docker
DOCKER_BUILD=$DOCKER_VERSION-as4112b               # its build here: made to behave as pulumi-docker 4.11.2 (write_docker)
CLIPBOARD_FORK=v0.0.0-20241001131231-d02d263e614e  # github.com/tgummerer/clipboard, as pulumi's go.mod

REBUILD=0
[[ "${1:-}" == "--rebuild" ]] && REBUILD=1
REUSE="${PGTOPO_REUSE:-1}"

CACHE_ROOT="${PGTOPO_CACHE:-$HOME/.cache/pgtopo}"
TC="$CACHE_ROOT/toolchain"
BIN="$TC/bin"                 # pulumi + pulumi-language-nodejs (side by side)
PLUGIN_BIN="$TC/plugins-bin"  # provider plugins, for PATH use with a fresh PULUMI_HOME
mkdir -p "$TC" "$BIN" "$PLUGIN_BIN"

# Go from go.dev's tarball lives in /usr/local/go, which a login shell's PATH may lack.
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then export PATH="/usr/local/go/bin:$PATH"; fi

export GOPROXY="${PGTOPO_GOPROXY:-https://proxy.golang.org}"
export GOFLAGS="-mod=mod -buildvcs=false"
export GOTOOLCHAIN=local
# The proxy's checksum database has no entries for several of the pulumi module
# versions used here; skip the lookup for those paths only (go.sum still records hashes).
export GONOSUMDB="github.com/pulumi/*,github.com/kreuzwerker/*,github.com/tgummerer/*"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

T0=$(date +%s)
TIMINGS=()
log() { printf '[toolchain] %s\n' "$*" >&2; }
now() { date +%s; }

# Rough build times on 2-core machines with empty Go caches (measured; see README.md),
# so that a first run says up front how long it will be silent.
declare -A EXPECTED=([pulumi]="3 to 12 minutes" [pulumi-language-nodejs]="under a minute" [command]="under a minute" [docker]="4 to 13 minutes")
ANNOUNCED=0

# wait_saying_alive PID WHAT: waits for a background build, printing the elapsed time
# every 30 s so that a long build never looks hung. Returns the build's exit status.
wait_saying_alive() {
  local pid=$1 what=$2 started
  started=$(now)
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then
      local e=$(( $(now) - started )) t=$(( $(now) - T0 ))
      log "$what: still building, $((e / 60))m$((e % 60))s so far (toolchain total $((t / 60))m$((t % 60))s)"
    fi
  done
  wait "$pid"
}

# build NAME VERSION BINARY PKG LDFLAGS WRITER : run WRITER in a fresh wrapper dir
# (writes go.mod and sources), go build PKG into $TC/NAME-VERSION/bin/BINARY.
# Sets BUILT to the binary's path.
build() {
  local name=$1 version=$2 binary=$3 pkg=$4 ldflags=$5 writer=$6
  local dir="$TC/$name-$version"
  BUILT="$dir/bin/$binary"
  if [[ $REBUILD == 0 && -x "$BUILT" && -f "$dir/.ok" ]]; then
    log "$name $version: cached at $BUILT"
    TIMINGS+=("$name $version: cached"); return 0
  fi
  command -v go >/dev/null || { log "go is required to build $name: install Go (https://go.dev/doc/install, or Debian's golang-go if new enough) and run this again"; exit 1; }
  if [[ $ANNOUNCED == 0 ]]; then
    ANNOUNCED=1
    log "building the toolchain once for this machine: 7 to 25 minutes on 2 cores in all with empty Go caches (432 s to 1598 s measured); later runs reuse it"
  fi
  local t
  t=$(now)
  rm -rf "$dir/src" "$dir/.ok"; mkdir -p "$dir/src" "$dir/bin"
  (cd "$dir/src" && "$writer")
  log "$name $version: building, about ${EXPECTED[$name]:-a few minutes} on 2 cores with empty Go caches (log: $dir/build.log)"
  (cd "$dir/src" && go build -trimpath -o "$BUILT" -ldflags "-s -w $ldflags" "$pkg") >"$dir/build.log" 2>&1 &
  if ! wait_saying_alive $! "$name $version"; then
    grep -v '^go: downloading' "$dir/build.log" | tail -n 30 >&2
    log "$name $version: BUILD FAILED (full log: $dir/build.log)"; exit 1
  fi
  touch "$dir/.ok"
  TIMINGS+=("$name $version: built in $(( $(now) - t ))s")
}

ours() { [[ "$(readlink -f "$1")" == "$TC/"* ]]; } # a binary from this cache?

# ---- wrapper modules (the project's own code) ------------------------------
write_pulumi() {
  cat > go.mod <<EOF
module pgtopo.local/toolchain/pulumi

go 1.25

require (
	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION
)

// pkg/v3's own go.mod replaces sdk with ../sdk (the same version here) and this fork:
replace github.com/atotto/clipboard => github.com/tgummerer/clipboard $CLIPBOARD_FORK
EOF
  cat > tools.go <<'EOF'
//go:build tools

// The CLI's main package is built straight from the pkg/v3 module.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
EOF
}

write_langhost() {
  # The upstream host's package main, copied, plus one file of ours: the CLI no longer
  # passes Pulumi.yaml's runtime options (typescript, nodeargs) as the flags this old host
  # reads; current hosts read them from the project, and so does this one now.
  local up
  up=$(module_dir "github.com/pulumi/pulumi/sdk/v3@v$LANGHOST_SDK_VERSION")
  cp "$up"/nodejs/cmd/pulumi-language-nodejs/*.go . && rm -f ./*_test.go && chmod u+w ./*.go
  # The two places that read the flags take the project's options instead, read once per
  # run; each replacement must match exactly once, or the build stops here.
  patch_once main.go 'if host.typescript {' $'optTypeScript, optNodeArgs := host.runtimeOptions(req)\n\t\tif optTypeScript {'
  patch_once main.go 'shlex.Split(host.nodeargs)' 'shlex.Split(optNodeArgs)'
  cat > runtime_options.go <<'EOF'
// Added by pgtopo to the upstream host (v3.68): the runtime options of the project's
// Pulumi.yaml win over the flags, as in current hosts, which get them from the CLI.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// projectOptions reads runtime.options of the Pulumi.yaml at or above the program's
// working directory; none (nil) when there is no readable project file.
func projectOptions(req *pulumirpc.RunRequest) map[string]interface{} {
	path, err := workspace.DetectProjectPathFrom(req.GetPwd())
	if err != nil || path == "" {
		return nil
	}
	project, err := workspace.LoadProject(path)
	if err != nil {
		return nil
	}
	return project.Runtime.Options()
}

// runtimeOptions: whether run.js loads ts-node for the program (option "typescript"), and
// the arguments for the program's Node process (option "nodeargs"); the host's flags
// where the project says nothing.
func (host *nodeLanguageHost) runtimeOptions(req *pulumirpc.RunRequest) (bool, string) {
	typeScript, nodeArgs := host.typescript, host.nodeargs
	options := projectOptions(req)
	if value, ok := options["typescript"].(bool); ok {
		typeScript = value
	}
	if value, ok := options["nodeargs"].(string); ok {
		nodeArgs = value
	}
	return typeScript, nodeArgs
}
EOF
  cat > go.mod <<EOF
module pgtopo.local/toolchain/pulumi-language-nodejs

go 1.25

// Later releases moved the host to its own module, which the proxy does not serve.
require github.com/pulumi/pulumi/sdk/v3 v$LANGHOST_SDK_VERSION
EOF
}

# module_dir MODULE@VERSION: the module's directory in Go's module cache, downloaded from
# the proxy if need be (fails otherwise).
module_dir() {
  local dir
  dir=$(cd "$TC" && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d "$dir" ]] || { log "could not download $1"; exit 1; }
  printf '%s\n' "$dir"
}

# patch_once FILE OLD NEW: replaces the one occurrence of OLD in FILE (fails otherwise).
patch_once() {
  local n
  n=$(grep -cF -- "$2" "$1" || true)
  [[ $n == 1 ]] || { log "patching $1: expected one '$2', found $n"; exit 1; }
  OLD=$2 NEW=$3 perl -0pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/' "$1"
}

write_command() {
  cat > go.mod <<EOF
module pgtopo.local/toolchain/pulumi-resource-command

go 1.25.11

require (
	github.com/pulumi/pulumi-go-provider $GO_PROVIDER_VERSION
	github.com/pulumi/pulumi/pkg/v3 $COMMAND_PULUMI_SDK
	github.com/pulumi/pulumi/sdk/v3 $COMMAND_PULUMI_SDK
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard $CLIPBOARD_FORK
EOF
  cat > main.go <<'EOF'
// Stand-in for the "command" resource plugin (the real provider module is not on
// the Go proxy): command:local:Command and the command:local:run invoke, with the
// input/output names of npm @pulumi/command. Remote (SSH) resources are not provided.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
)

var Version = "dev" // -X main.Version=<npm @pulumi/command version>

type CommandArgs struct {
	Create                 *string           `pulumi:"create,optional"`
	Update                 *string           `pulumi:"update,optional"`
	Delete                 *string           `pulumi:"delete,optional"`
	Dir                    *string           `pulumi:"dir,optional"`
	Environment            map[string]string `pulumi:"environment,optional"`
	Interpreter            []string          `pulumi:"interpreter,optional"`
	Stdin                  *string           `pulumi:"stdin,optional"`
	Triggers               []any             `pulumi:"triggers,optional" provider:"replaceOnChanges"`
	AddPreviousOutputInEnv *bool             `pulumi:"addPreviousOutputInEnv,optional"`
	Logging                *string           `pulumi:"logging,optional"`
	AssetPaths             []string          `pulumi:"assetPaths,optional"`
	ArchivePaths           []string          `pulumi:"archivePaths,optional"`
}

type CommandState struct {
	CommandArgs
	Stdout string `pulumi:"stdout"`
	Stderr string `pulumi:"stderr"`
}

// Command runs `create` on create, `update` (or `create` again) on update and
// `delete` on delete; a change of `triggers` replaces the resource.
type Command struct{}

func (c *Command) Annotate(a infer.Annotator) {
	a.SetToken("local", "Command")
	a.Describe(c, "Runs a command on the machine running Pulumi.")
}

type spec struct {
	command     string
	dir         *string
	env         map[string]string
	interpreter []string
	stdin       *string
	extraEnv    []string
	logging     *string // nil: not streamed (the run invoke)
}

// lineLogger sends each line written to it to the engine as the resource's status, as
// the real provider streams a command's output into `pulumi up`'s (its `logging` input
// says which streams: stdout, stderr, stdoutAndStderr by default, or none).
type lineLogger struct {
	ctx     context.Context
	mu      *sync.Mutex
	pending []byte
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = append(l.pending, b...)
	for {
		i := bytes.IndexByte(l.pending, '\n')
		if i < 0 {
			return len(b), nil
		}
		p.GetLogger(l.ctx).InfoStatus(string(l.pending[:i]))
		l.pending = l.pending[i+1:]
	}
}

func (l *lineLogger) flush() {
	if len(l.pending) > 0 {
		p.GetLogger(l.ctx).InfoStatus(string(l.pending))
	}
}

func run(ctx context.Context, s spec) (string, string, error) {
	interp := s.interpreter
	if len(interp) == 0 {
		interp = []string{"/bin/sh", "-c"}
	}
	cmd := exec.CommandContext(ctx, interp[0], append(append([]string{}, interp[1:]...), s.command)...)
	if s.dir != nil && *s.dir != "" {
		cmd.Dir = *s.dir
	}
	cmd.Env = os.Environ()
	for k, v := range s.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, s.extraEnv...)
	if s.stdin != nil {
		cmd.Stdin = strings.NewReader(*s.stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var logs []*lineLogger
	if s.logging != nil {
		var mu sync.Mutex
		mode := *s.logging
		if mode == "" {
			mode = "stdoutAndStderr"
		}
		if mode == "stdout" || mode == "stdoutAndStderr" {
			l := &lineLogger{ctx: ctx, mu: &mu}
			cmd.Stdout, logs = io.MultiWriter(&stdout, l), append(logs, l)
		}
		if mode == "stderr" || mode == "stdoutAndStderr" {
			l := &lineLogger{ctx: ctx, mu: &mu}
			cmd.Stderr, logs = io.MultiWriter(&stderr, l), append(logs, l)
		}
	}
	err := cmd.Run()
	for _, l := range logs {
		l.flush()
	}
	out := strings.TrimSuffix(stdout.String(), "\n")
	errOut := strings.TrimSuffix(stderr.String(), "\n")
	if err != nil {
		return out, errOut, fmt.Errorf("%w: running %q:\nstdout: %s\nstderr: %s", err, s.command, out, errOut)
	}
	return out, errOut, nil
}

// streamed is the `logging` input as run takes it: never nil for a Command.
func streamed(logging *string) *string {
	if logging == nil {
		empty := ""
		return &empty
	}
	return logging
}

func previous(a CommandArgs, old CommandState) []string {
	if a.AddPreviousOutputInEnv != nil && !*a.AddPreviousOutputInEnv {
		return nil
	}
	return []string{"PULUMI_COMMAND_STDOUT=" + old.Stdout, "PULUMI_COMMAND_STDERR=" + old.Stderr}
}

func (c *Command) Create(ctx context.Context, req infer.CreateRequest[CommandArgs]) (infer.CreateResponse[CommandState], error) {
	a := req.Inputs
	state := CommandState{CommandArgs: a}
	if req.DryRun || a.Create == nil {
		return infer.CreateResponse[CommandState]{ID: req.Name, Output: state}, nil
	}
	var err error
	state.Stdout, state.Stderr, err = run(ctx, spec{*a.Create, a.Dir, a.Environment, a.Interpreter, a.Stdin, nil, streamed(a.Logging)})
	return infer.CreateResponse[CommandState]{ID: req.Name, Output: state}, err
}

func (c *Command) Update(ctx context.Context, req infer.UpdateRequest[CommandArgs, CommandState]) (infer.UpdateResponse[CommandState], error) {
	a := req.Inputs
	state := CommandState{CommandArgs: a, Stdout: req.State.Stdout, Stderr: req.State.Stderr}
	text := a.Update
	if text == nil {
		text = a.Create
	}
	if req.DryRun || text == nil {
		return infer.UpdateResponse[CommandState]{Output: state}, nil
	}
	var err error
	state.Stdout, state.Stderr, err = run(ctx, spec{*text, a.Dir, a.Environment, a.Interpreter, a.Stdin, previous(a, req.State), streamed(a.Logging)})
	return infer.UpdateResponse[CommandState]{Output: state}, err
}

func (c *Command) Delete(ctx context.Context, req infer.DeleteRequest[CommandState]) (infer.DeleteResponse, error) {
	s := req.State
	if s.Delete == nil {
		return infer.DeleteResponse{}, nil
	}
	_, _, err := run(ctx, spec{*s.Delete, s.Dir, s.Environment, s.Interpreter, s.Stdin, previous(s.CommandArgs, s), streamed(s.Logging)})
	return infer.DeleteResponse{}, err
}

type RunArgs struct {
	Command                string            `pulumi:"command"`
	Dir                    *string           `pulumi:"dir,optional"`
	Environment            map[string]string `pulumi:"environment,optional"`
	Interpreter            []string          `pulumi:"interpreter,optional"`
	Stdin                  *string           `pulumi:"stdin,optional"`
	AddPreviousOutputInEnv *bool             `pulumi:"addPreviousOutputInEnv,optional"`
	Logging                *string           `pulumi:"logging,optional"`
	AssetPaths             []string          `pulumi:"assetPaths,optional"`
	ArchivePaths           []string          `pulumi:"archivePaths,optional"`
}

type RunResult struct {
	RunArgs
	Stdout string `pulumi:"stdout"`
	Stderr string `pulumi:"stderr"`
}

// Run is the command:local:run invoke.
type Run struct{}

func (r *Run) Annotate(a infer.Annotator) {
	a.SetToken("local", "run")
	a.Describe(r, "Runs a command locally and returns its output.")
}

func (r *Run) Invoke(ctx context.Context, req infer.FunctionRequest[RunArgs]) (infer.FunctionResponse[RunResult], error) {
	a := req.Input
	out, errOut, err := run(ctx, spec{a.Command, a.Dir, a.Environment, a.Interpreter, a.Stdin, nil, nil})
	return infer.FunctionResponse[RunResult]{Output: RunResult{RunArgs: a, Stdout: out, Stderr: errOut}}, err
}

func main() {
	prov, err := infer.NewProviderBuilder().
		WithDescription("pgtopo offline stand-in for the Pulumi command provider (local commands only)").
		WithResources(infer.Resource(&Command{})).
		WithFunctions(infer.Function(&Run{})).
		Build()
	if err == nil {
		err = p.RunProvider(context.Background(), "command", Version, prov)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
EOF
}

write_docker() {
  # The upstream Terraform provider, from the Go proxy; its module declares the path
  # github.com/terraform-providers/terraform-provider-docker, hence the replace below.
  # pulumi-docker 4.11.2 bridges an older commit of it (d7d7ff7f8977, its `upstream`
  # submodule), which the proxy does not serve: the differences between the two that
  # pgtopo meets are made here to behave as 4.11.2 does (README.md, "Limits").
  local up
  up=$(module_dir "github.com/kreuzwerker/terraform-provider-docker@$DOCKER_UPSTREAM")
  cp -r "$up" upstream && chmod -R u+w upstream
  # 1. Deleting a container that is no longer there fails, as in 4.11.2 ("Error stopping
  #    container ...: No such container"); this upstream ignores that error.
  patch_regex_once upstream/internal/provider/resource_docker_container_funcs.go \
    '\t\t\tif !containsIgnorableErrorMessage\(err\.Error\(\), "No such container"\) \{\n\t\t\t\treturn diag\.Errorf\("Error stopping container %s: %s", d\.Id\(\), err\)\n\t\t\t\}\n' \
    '\t\t\treturn diag.Errorf("Error stopping container %s: %s", d.Id(), err)\n'
  mkdir -p upstream/shim
  cat > upstream/shim/shim.go <<'EOF'
// Package shim (added by pgtopo) exposes the upstream SDKv2 provider, which lives in
// an internal package, to the Pulumi bridge, and its client to the stand-in's main.
package shim

import (
	"context"
	"strings"

	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
	"github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

func NewProvider(version string) *schema.Provider { return provider.New(version)() }

// Ping connects to an engine as the provider's client does and asks whether it answers.
// An ssh:// engine is not asked (pulumi-docker does not either).
func Ping(host, ca, cert, key, certPath string) error {
	if strings.HasPrefix(host, "ssh://") {
		return nil
	}
	config := &provider.ProviderConfig{DefaultConfig: &provider.Config{Host: host, Ca: ca, Cert: cert, Key: key, CertPath: certPath}}
	_, err := config.MakeClient(context.Background(), nil)
	return err
}
EOF
  cat > go.mod <<EOF
module pgtopo.local/toolchain/pulumi-resource-docker

go 1.25.8

require (
	github.com/pulumi/pulumi-terraform-bridge/v3 $BRIDGE_VERSION
	github.com/terraform-providers/terraform-provider-docker v0.0.0
)

replace (
	github.com/atotto/clipboard => github.com/tgummerer/clipboard $CLIPBOARD_FORK
	github.com/hashicorp/terraform-plugin-sdk/v2 => github.com/pulumi/terraform-plugin-sdk/v2 $TF_SDK_FORK
	github.com/terraform-providers/terraform-provider-docker => ./upstream
)
EOF
  cat > main.go <<'EOF'
// Stand-in for the "docker" resource plugin (the pulumi-docker provider module is
// not on the Go proxy): the upstream Terraform docker provider's SDKv2 resources,
// bridged with the same tokens as npm @pulumi/docker (docker:index/<name>:<Name>,
// docker_image -> RemoteImage). Not provided: the native docker.Image (buildx)
// resource and the upstream's plugin-framework resources.
package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/pkg/v3/resource/provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/terraform-providers/terraform-provider-docker/shim"
)

var Version = "dev" // -X main.Version=<npm @pulumi/docker version>

func main() {
	info := tfbridge.ProviderInfo{
		Name:    "docker",
		Version: Version,
		P:       shimv2.NewProvider(shim.NewProvider(Version)),
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_image": {Tok: "docker:index/remoteImage:RemoteImage"},
			// As pulumi-docker's resources.go: a container's replacement removes the old one first.
			"docker_container": {DeleteBeforeReplace: true},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_image": {Tok: "docker:index/getRemoteImage:getRemoteImage"},
		},
	}
	info.MustComputeTokens(tokens.SingleModule("docker_", "index", tokens.MakeStandard("docker")))
	ctx := context.Background()
	info.P.InitLogging(ctx)
	// tfbridge.Serve, with Configure wrapped.
	err := provider.Main("docker", func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return eagerConfigure{tfbridge.NewProvider(ctx, host, "docker", Version, info.P, info, nil)}, nil
	})
	if err != nil {
		cmdutil.ExitError(err.Error())
	}
}

// eagerConfigure connects to the engine whenever the provider is configured, as
// pulumi-docker's own (native) half does before the bridged one (configureDockerClient
// with verify): an engine that does not answer fails the configuration, even of a
// provider on which nothing is then done, unless it is reached over ssh://.
type eagerConfigure struct{ pulumirpc.ResourceProviderServer }

func (p eagerConfigure) Configure(ctx context.Context, req *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	config := map[string]string{}
	for key, value := range req.GetVariables() {
		config[strings.TrimPrefix(key, "docker:config:")] = value
	}
	host, explicit := config["host"]
	if !explicit {
		host = "unix:///var/run/docker.sock"
	}
	if err := shim.Ping(host, config["caMaterial"], config["certMaterial"], config["keyMaterial"], config["certPath"]); err != nil {
		return nil, fmt.Errorf("docker native provider returned an unexpected error from Configure: failed to connect to any docker daemon (%w)", err)
	}
	return p.ResourceProviderServer.Configure(ctx, req)
}
EOF
}

# patch_regex_once FILE PATTERN REPLACEMENT: a Perl substitution over the whole file,
# which stops the build unless the pattern matches exactly once (an upstream that moved
# on must be looked at again, not patched blindly). A name of its own: patch_once above
# replaces a literal string, and one function defined twice means the later wins for
# every caller, the language host's literal patches included.
patch_regex_once() {
  local file=$1 count
  count=$(PATTERN=$2 perl -0777 -ne 'my $n = () = /$ENV{PATTERN}/g; print $n' "$file")
  if [[ "$count" != 1 ]]; then
    log "the patch of $file matched $count times, not once: the upstream changed; see write_docker"
    exit 1
  fi
  PATTERN=$2 REPLACEMENT=$3 perl -0777 -i -pe 's/$ENV{PATTERN}/"qq{$ENV{REPLACEMENT}}"/ee' "$file"
}

# ---- reuse what is already usable ------------------------------------------
semver_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }

PULUMI_BIN=""
if [[ $REUSE == 1 ]] && command -v pulumi >/dev/null 2>&1 && ! ours "$(command -v pulumi)"; then
  found=$(command -v pulumi)
  v=$(pulumi version 2>/dev/null | sed 's/^v//' || true)
  if [[ -n "$v" ]] && semver_ge "${v%%-*}" "$PULUMI_VERSION"; then
    PULUMI_BIN=$(readlink -f "$found"); log "using pulumi v$v from PATH ($found)"
    TIMINGS+=("pulumi: reused v$v from PATH")
  else
    log "pulumi on PATH ($found) is v${v:-?}, need >= $PULUMI_VERSION: building"
  fi
fi
if [[ -z "$PULUMI_BIN" ]]; then
  build pulumi "$PULUMI_VERSION" pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" write_pulumi
  PULUMI_BIN=$BUILT
fi

LANG_BIN=""
if ! ours "$PULUMI_BIN" && [[ -x "$(dirname "$PULUMI_BIN")/pulumi-language-nodejs" ]]; then
  LANG_BIN="$(dirname "$PULUMI_BIN")/pulumi-language-nodejs"
elif [[ $REUSE == 1 ]] && command -v pulumi-language-nodejs >/dev/null 2>&1 && ! ours "$(command -v pulumi-language-nodejs)"; then
  LANG_BIN=$(readlink -f "$(command -v pulumi-language-nodejs)")
fi
if [[ -n "$LANG_BIN" ]]; then
  log "using $LANG_BIN"; TIMINGS+=("pulumi-language-nodejs: reused $LANG_BIN")
else
  build pulumi-language-nodejs "$LANGHOST_BUILD" pulumi-language-nodejs . \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$LANGHOST_SDK_VERSION" write_langhost
  LANG_BIN=$BUILT
fi

# pulumi and the language host side by side: the CLI looks for the host next to its
# own (resolved) executable, so hard-link both into $BIN (symlink if that fails; the
# CLI then still finds the host on PATH but prints a "using ... from $PATH" warning).
# Made beside it and renamed over it: a pulumi started meanwhile (another `npm run up`, or a
# test file beside the newcomer test's) never finds the name missing.
link_bin() { # hard-link our own builds; symlink a reused binary (it may be upgraded in place)
  local tmp="$2.new.$$"
  [[ -e "$2" && "$1" -ef "$2" ]] && return 0 # in place already (mv refuses a link onto itself)
  rm -f "$tmp"
  if ours "$1"; then ln "$1" "$tmp" 2>/dev/null || ln -s "$1" "$tmp"; else ln -s "$1" "$tmp"; fi
  mv -f -T "$tmp" "$2"
}
link_bin "$PULUMI_BIN" "$BIN/pulumi"
link_bin "$LANG_BIN" "$BIN/pulumi-language-nodejs"

# Said out loud: the CLI otherwise takes the home directory from the user database, not
# from $HOME, and would install plugins where this script does not look for them.
export PULUMI_HOME="${PULUMI_HOME:-$HOME/.pulumi}"
PULUMI_HOME_DIR="$PULUMI_HOME"
plugin_installed() { # kind name version
  [[ -d "$PULUMI_HOME_DIR/plugins/$1-$2-v$3" && ! -e "$PULUMI_HOME_DIR/plugins/$1-$2-v$3.partial" ]]
}

# provider NAME VERSION BUILD BUILD-ARGS... : reuse an installed or ambient plugin, else build
# it (cached as NAME-BUILD); install it as NAME VERSION.
provider() {
  local name=$1 version=$2 variant=$3; shift 3
  local binary="pulumi-resource-$name" bin=""
  if [[ $REUSE == 1 ]] && plugin_installed resource "$name" "$version" && [[ ! -f "$PULUMI_HOME_DIR/plugins/resource-$name-v$version/.pgtopo" ]]; then
    log "plugin $name $version already installed in $PULUMI_HOME_DIR (not ours): reusing"
    TIMINGS+=("$binary: reused installed plugin"); return 0
  fi
  if [[ $REUSE == 1 ]] && command -v "$binary" >/dev/null 2>&1 && ! ours "$(command -v "$binary")"; then
    log "using $binary from PATH: $(command -v "$binary") (the engine prefers PATH plugins)"
    TIMINGS+=("$binary: reused from PATH"); return 0
  fi
  build "$name" "$variant" "$binary" "$@"
  bin=$BUILT
  if [[ ! "$bin" -ef "$PLUGIN_BIN/$binary" ]]; then
    ln -sfn "$bin" "$PLUGIN_BIN/$binary.new.$$" && mv -f -T "$PLUGIN_BIN/$binary.new.$$" "$PLUGIN_BIN/$binary"
  fi
  local dest="$PULUMI_HOME_DIR/plugins/resource-$name-v$version/$binary"
  if [[ -f "$dest" ]] && cmp -s "$bin" "$dest"; then
    log "plugin $name $version already installed in $PULUMI_HOME_DIR"
  else
    local t
    t=$(now)
    "$BIN/pulumi" plugin install resource "$name" "$version" --file "$bin" --reinstall >&2
    touch "$PULUMI_HOME_DIR/plugins/resource-$name-v$version/.pgtopo"
    TIMINGS+=("plugin install $name $version: $(( $(now) - t ))s")
  fi
}

provider command "$COMMAND_VERSION" "$COMMAND_BUILD" . "-X main.Version=$COMMAND_VERSION" write_command
provider docker "$DOCKER_VERSION" "$DOCKER_BUILD" . "-X main.Version=$DOCKER_VERSION" write_docker

# ---- env file ----------------------------------------------------------------
ENV_FILE="$CACHE_ROOT/env.sh"
cat > "$ENV_FILE" <<EOF
# Generated by pgtopo toolchain/setup.sh. Source it: . "$ENV_FILE"
export PATH="$BIN:\${PATH}"
# Provider plugins as binaries; prepend to PATH when using a PULUMI_HOME that
# setup.sh did not install them into (the engine then warns "using ... from \$PATH").
export PGTOPO_PLUGIN_BIN="$PLUGIN_BIN"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# Where setup.sh installed the plugins (the CLI's own default ignores \$HOME).
export PULUMI_HOME="\${PULUMI_HOME:-\$HOME/.pulumi}"
EOF

for t in "${TIMINGS[@]}"; do log "  $t"; done
log "total: $(( $(now) - T0 ))s; $("$BIN/pulumi" version) in $BIN; plugins in $PULUMI_HOME_DIR/plugins"
log "env file: $ENV_FILE"
echo "export PATH=\"$BIN:\$PATH\""
