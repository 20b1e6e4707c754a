import { describe, expect, it } from "vitest";
import { caFileCommand } from "../../components/commands";
import { ConfigError, parseClusterConfig, rawConfigFromPulumi } from "../../config";
import { superuserUrl } from "../../ops/observe";

const nodes = [{ name: "pg-1", port: 15432 }];

describe("pgtopo:tls", () => {
    it("is off unless the config says true", () => {
        expect(parseClusterConfig({ primary: "pg-1", nodes }).tls).toBe(false);
        expect(parseClusterConfig({ primary: "pg-1", nodes, tls: true }).tls).toBe(true);
        // As Pulumi hands it over: text.
        const raw = rawConfigFromPulumi({
            "pgtopo:primary": "pg-1",
            "pgtopo:nodes": '[{"name":"pg-1","port":15432}]',
            "pgtopo:tls": "true",
        });
        expect(parseClusterConfig(raw).tls).toBe(true);
    });

    it("refuses anything but true or false, naming the key and the value", () => {
        let problems: readonly string[] = [];
        try {
            parseClusterConfig({ primary: "pg-1", nodes, tls: "yes" });
        } catch (err) {
            problems = (err as ConfigError).problems;
        }
        expect(problems).toEqual(['pgtopo:tls: "yes" is not allowed; it must be true or false']);
    });

    it("keeps the TLS settings out of pgtopo:parameters", () => {
        expect(() => parseClusterConfig({ primary: "pg-1", nodes, parameters: { ssl: "off" } })).toThrow(
            /pgtopo:parameters\.ssl.*managed by pgtopo/,
        );
    });

    it("makes connection strings that verify the server against the stack's CA", () => {
        expect(superuserUrl("p@ss word", 15432)).toBe("postgresql://postgres:p%40ss%20word@127.0.0.1:15432/postgres");
        expect(superuserUrl("pw", 15432, "/home/me/.pgtopo/tls/dev-ca.crt")).toBe(
            "postgresql://postgres:pw@127.0.0.1:15432/postgres?sslmode=verify-full&sslrootcert=%2Fhome%2Fme%2F.pgtopo%2Ftls%2Fdev-ca.crt",
        );
    });

    it("copies the CA out of a node into a file whose path the shell cannot misread", () => {
        expect(caFileCommand("pgtopo-dev-pg-1", "/home/o'neil/ca.crt")).toBe(
            `mkdir -p "$(dirname '/home/o'\\''neil/ca.crt')" && docker exec pgtopo-dev-pg-1 cat /etc/pgtopo/tls/ca.crt > '/home/o'\\''neil/ca.crt.partial' && mv '/home/o'\\''neil/ca.crt.partial' '/home/o'\\''neil/ca.crt'`,
        );
    });
});
