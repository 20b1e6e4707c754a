/**
 * Thrown when the stack configuration cannot describe a valid cluster. It carries one
 * sentence per problem so that a user fixing a config sees all of them at once, not one
 * per `pulumi up`.
 */
export class ConfigError extends Error {
    constructor(readonly problems: readonly string[]) {
        super(`Invalid pgtopo configuration (nothing was changed):\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "ConfigError";
    }
}
