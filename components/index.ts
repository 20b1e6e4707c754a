export { PostgresCluster, type PostgresClusterArgs } from "./cluster";
export { ClusterConvergence, type ClusterConvergenceArgs } from "./convergence";
export { NodeImage, NODE_IMAGE_CONTEXT } from "./image";
export { stackNames, STACK_LABEL, NODE_LABEL } from "../contract/names";
export { PostgresNode } from "./node";
export { GeneratedPassword } from "./password";
