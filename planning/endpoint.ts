/**
 * "10.0.0.11:5433" -> its host and port; a bare node name is reached on 5432 over the
 * stack's Docker network. The same reading as endpoint_host/endpoint_port in the image.
 */
export function splitEndpoint(endpoint: string): { host: string; port: number } {
    const at = endpoint.lastIndexOf(":");
    return at < 0
        ? { host: endpoint, port: 5432 }
        : { host: endpoint.slice(0, at), port: Number(endpoint.slice(at + 1)) };
}
