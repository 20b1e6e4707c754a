export { ConfigError } from "./errors";
export { CONFIG_NAMESPACE, parseClusterConfig, rawConfigFromPulumi } from "./parse";
export * from "./schema";
