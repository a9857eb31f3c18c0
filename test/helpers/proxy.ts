// A one-hop reverse proxy as load balancers are: it forwards every request to
// keyway and appends the address it was reached from to X-Forwarded-For, keeping
// whatever the client already put there. It connects to keyway from 127.0.0.2, so
// keyway's socket peer (the proxy) and the address the proxy appends (its client,
// 127.0.0.1) differ: which of them keyway takes shows how far it trusts the chain.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface TestProxy {
  url: string;
  close(): Promise<void>;
}

export function startForwardingProxy(target: string): Promise<TestProxy> {
  const upstream = new URL(target);
  const server = http.createServer((request, response) => {
    const previous = request.headers["x-forwarded-for"];
    const forwardedFor = [previous, request.socket.remoteAddress].filter(Boolean).join(", ");
    const outbound = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        localAddress: "127.0.0.2",
        method: request.method,
        path: request.url,
        headers: { ...request.headers, "x-forwarded-for": forwardedFor },
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    outbound.on("error", () => response.writeHead(502).end());
    request.pipe(outbound);
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise((done) => server.close(() => done())),
      }),
    ),
  );
}
