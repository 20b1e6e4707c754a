module pgtopo.local/toolchain/pulumi-resource-docker

go 1.25.8

require (
	github.com/pulumi/pulumi-terraform-bridge/v3 
	github.com/terraform-providers/terraform-provider-docker v0.0.0
)

replace (
	github.com/atotto/clipboard => github.com/tgummerer/clipboard 
	github.com/hashicorp/terraform-plugin-sdk/v2 => github.com/pulumi/terraform-plugin-sdk/v2 
	github.com/terraform-providers/terraform-provider-docker => ./upstream
)
