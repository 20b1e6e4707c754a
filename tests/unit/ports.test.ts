import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { portHolder, portProblems, type PortHolder } from "../../preflight/ports";
import { freePorts } from "../support/stack";

describe("ports in use", () => {
    const nodes = [
        { name: "pg-1", port: 20001 },
        { name: "pg-2", port: 20002 },
        { name: "pg-3", port: 20003 },
    ];
    const holders: Record<number, PortHolder> = {
        20001: { container: "pgtopo-dev-pg-1" },
        20002: { container: "someone-elses-db" },
        20003: { process: true },
    };

    it("accepts a port held by the node's own container and names every other holder", async () => {
        const problems = await portProblems(
            nodes,
            (n) => `pgtopo-dev-${n}`,
            async (port) => holders[port],
        );
        expect(problems).toEqual([
            "pgtopo:nodes[1] (pg-2).port: 20002 is already in use on 127.0.0.1 by container someone-elses-db; choose a free port",
            "pgtopo:nodes[2] (pg-3).port: 20003 is already in use on 127.0.0.1 by another process; choose a free port",
        ]);
    });

    describe("against the real loopback", () => {
        let server: Server;
        let taken: number;
        let free: number;

        beforeAll(async () => {
            [taken, free] = await freePorts(2);
            server = createServer();
            await new Promise<void>((resolve) => server.listen(taken, "127.0.0.1", resolve));
        });
        afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

        it("sees a listening process and a free port", async () => {
            expect(await portHolder(taken)).toEqual({ process: true });
            expect(await portHolder(free)).toBeUndefined();
        });
    });
});
