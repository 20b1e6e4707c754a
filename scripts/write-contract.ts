/**
 * `npm run contract`: writes images/postgres/lib/contract.sh and images/pgbouncer/lib/contract.sh
 * from contract/image.ts. The files are committed (the image build reads it, and a change rebuilds the image anyway);
 * tests/unit/contract.test.ts fails while it is stale.
 */
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { renderContractShell, renderRouterContractShell } from "../contract/image";

for (const [image, render] of [
    ["postgres", renderContractShell],
    ["pgbouncer", renderRouterContractShell],
] as const) {
    const file = path.join(__dirname, "..", "images", image, "lib", "contract.sh");
    writeFileSync(file, render());
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
}
