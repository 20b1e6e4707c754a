import * as os from "node:os";
import * as path from "node:path";

/** PGTOPO_HOME: state, passphrase, CA copies, engine certificates and marks; ~/.pgtopo unless set. */
export function pgtopoHome(): string {
    return process.env.PGTOPO_HOME || path.join(os.homedir(), ".pgtopo");
}
