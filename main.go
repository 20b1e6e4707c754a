// Stand-in for the "docker" resource plugin (the pulumi-docker provider module is
// not on the Go proxy): the upstream Terraform docker provider's SDKv2 resources,
// bridged with the same tokens as npm @pulumi/docker (docker:index/<name>:<Name>,
// docker_image -> RemoteImage). Not provided: the native docker.Image (buildx)
// resource and the upstream's plugin-framework resources.
package main

import (
	"context"
	"fmt"
	"os"
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
	for _, arg := range os.Args[1:] {
		if arg == "-version" || arg == "--version" {
			fmt.Println(Version)
			return
		}
	}
	info := tfbridge.ProviderInfo{
		Name:    "docker",
		Version: Version,
		P:       shimv2.NewProvider(shim.NewProvider(Version)),
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_image": {Tok: "docker:index/remoteImage:RemoteImage"},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_image": {Tok: "docker:index/getRemoteImage:getRemoteImage"},
		},
	}
	info.MustComputeTokens(tokens.SingleModule("docker_", "index", tokens.MakeStandard("docker")))
	ctx := context.Background()
	info.P.InitLogging(ctx)
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
		return nil, fmt.Errorf("docker native provider returned an unexpected error from Configure: failed to connect to any docker daemon (%s: %w)", host, err)
	}
	return p.ResourceProviderServer.Configure(ctx, req)
}
