/**
 * `npm run contract`: writes images/postgres/lib/contract.sh from contract/image.ts. The
 * file is committed (the image build reads it, and a change rebuilds the image anyway);
 * tests/unit/contract.test.ts fails while it is stale.
 */
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { renderContractShell } from "../contract/image";

const file = path.join(__dirname, "..", "images", "postgres", "lib", "contract.sh");
writeFileSync(file, renderContractShell());
console.log(`wrote ${path.relative(process.cwd(), file)}`);
