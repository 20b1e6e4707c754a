export { PostgresCluster, type PostgresClusterArgs } from "./cluster";
export { NodeImage, NODE_IMAGE_CONTEXT } from "./image";
export { stackNames, STACK_LABEL, NODE_LABEL } from "../contract/names";
export { PostgresNode } from "./node";
export { GeneratedPassword } from "./password";
