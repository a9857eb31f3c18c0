// The HTTP client under subgraph requests (src/gateway/subgraph-fetch.ts) against
// real local servers: what it sends, what it hands back, and how it fails.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createSubgraphFetch, IDLE_CONNECTION_MS } from "../../src/gateway/subgraph-fetch";

interface Seen {
  method: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  socket: number;
}

let server: http.Server;
let url: string;
const seen: Seen[] = [];
let sockets = 0;
/** How the next requests are answered; each test sets its own. */
let handle: (request: http.IncomingMessage, response: http.ServerResponse) => void;

beforeAll(async () => {
  server = http.createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => (body += chunk));
    request.on("end", () => {
      seen.push({
        method: request.method ?? "",
        headers: request.headers,
        body,
        socket: socketIds.get(request.socket)!,
      });
      handle(request, response);
    });
  });
  const socketIds = new WeakMap<object, number>();
  server.on("connection", (socket) => socketIds.set(socket, ++sockets));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));
beforeEach(() => (seen.length = 0));

const json =
  (status: number, body: unknown, headers: Record<string, string | string[]> = {}) =>
  (_request: http.IncomingMessage, response: http.ServerResponse) => {
    response.writeHead(status, { "content-type": "application/json", ...headers });
    response.end(JSON.stringify(body));
  };

it("sends the body and headers it is given, and answers with status, headers and body", async () => {
  handle = json(200, { data: { ok: true } }, { "x-one": ["a", "b"] });
  const send = createSubgraphFetch({ timeoutMs: 10_000 });
  const body = JSON.stringify({ query: "{ ok }" });
  const response = await send(url, { method: "POST", headers: { "keyway-identity": "token-1" }, body });
  expect(response.status).toBe(200);
  expect(response.ok).toBe(true);
  expect(response.headers.get("content-type")).toBe("application/json");
  expect(response.headers.get("x-one")).toBe("a, b");
  expect(await response.json()).toEqual({ data: { ok: true } });
  expect(seen).toHaveLength(1);
  expect(seen[0]).toMatchObject({ method: "POST", body });
  expect(seen[0].headers["keyway-identity"]).toBe("token-1");
  expect(seen[0].headers["content-length"]).toBe(String(Buffer.byteLength(body)));
});

it("keeps the connection for the next request", async () => {
  handle = json(200, { data: {} });
  const send = createSubgraphFetch({ timeoutMs: 10_000 });
  for (let i = 0; i < 3; i++) await (await send(url, { headers: {}, body: "{}" })).text();
  expect(seen).toHaveLength(3);
  expect(new Set(seen.map((request) => request.socket)).size).toBe(1);
});

it("answers a bodiless status without a body, and a GraphQL error status as it came", async () => {
  handle = (_request, response) => response.writeHead(204).end();
  const send = createSubgraphFetch({ timeoutMs: 10_000 });
  const empty = await send(url, { headers: {}, body: "{}" });
  expect(empty.status).toBe(204);
  expect(empty.body).toBeNull();
  handle = json(400, { errors: [{ message: "bad" }] });
  const refused = await send(url, { headers: {}, body: "{}" });
  expect(refused.status).toBe(400);
  expect(refused.ok).toBe(false);
  expect(await refused.json()).toEqual({ errors: [{ message: "bad" }] });
});

it("follows no redirect: the identity stays with the subgraph it was minted for", async () => {
  handle = (request, response) => {
    if (request.url === "/elsewhere") return json(200, { data: { moved: true } })(request, response);
    response.writeHead(307, { location: "/elsewhere" }).end();
  };
  const response = await createSubgraphFetch({ timeoutMs: 10_000 })(url, {
    headers: { "keyway-identity": "token-2" },
    body: "{}",
  });
  expect(response.status).toBe(307);
  expect(seen.map((request) => request.headers["keyway-identity"])).toEqual(["token-2"]);
  expect(seen).toHaveLength(1);
});

it("gives up when its signal aborts, with the signal's reason", async () => {
  handle = () => undefined; // never answers
  const send = createSubgraphFetch({ timeoutMs: 10_000 });
  const started = Date.now();
  const error = await send(url, { headers: {}, body: "{}", signal: AbortSignal.timeout(200) }).catch((e: unknown) => e);
  expect((error as Error).name).toBe("TimeoutError");
  expect(Date.now() - started).toBeLessThan(5_000);
  const aborted = new AbortController();
  aborted.abort(new Error("already gone"));
  await expect(send(url, { headers: {}, body: "{}", signal: aborted.signal })).rejects.toThrow("already gone");
});

it("fails on an answer cut off half-way and on a refused connection", async () => {
  handle = (_request, response) => {
    response.writeHead(200, { "content-type": "application/json", "content-length": "100" });
    response.write('{"data":');
    setTimeout(() => response.socket?.destroy(), 20);
  };
  const send = createSubgraphFetch({ timeoutMs: 10_000 });
  await expect(send(url, { headers: {}, body: "{}" })).rejects.toThrow();
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  await expect(send(`http://127.0.0.1:${port}/graphql`, { headers: {}, body: "{}" })).rejects.toThrow(/ECONNREFUSED/);
});

it("waits for a subgraph slower than the idle limit: that limit is for connections at rest", async () => {
  handle = (request, response) =>
    setTimeout(() => json(200, { data: { slow: true } })(request, response), IDLE_CONNECTION_MS + 500);
  const response = await createSubgraphFetch({ timeoutMs: 10_000 })(url, { headers: {}, body: "{}" });
  expect(await response.json()).toEqual({ data: { slow: true } });
}, 15_000);

it("closes a connection left idle for the idle limit, before a Node subgraph's own 5 s would", async () => {
  handle = json(200, { data: {} });
  const send = createSubgraphFetch({ timeoutMs: 10_000 });
  await (await send(url, { headers: {}, body: "{}" })).text();
  await new Promise((resolve) => setTimeout(resolve, IDLE_CONNECTION_MS + 300));
  await (await send(url, { headers: {}, body: "{}" })).text();
  expect(seen).toHaveLength(2);
  expect(seen[1].socket).not.toBe(seen[0].socket);
}, 15_000);

it("gives up on its own timeout, also half-way through an answer", async () => {
  const send = createSubgraphFetch({ timeoutMs: 300 });
  handle = () => undefined; // never answers
  const silent = await send(url, { headers: {}, body: "{}" }).catch((e: unknown) => e);
  expect((silent as Error).name).toBe("TimeoutError");
  handle = (_request, response) => {
    response.writeHead(200, { "content-type": "application/json", "content-length": "100" });
    response.write('{"data":'); // and nothing more
  };
  const started = Date.now();
  const stalled = await send(url, { headers: {}, body: "{}" }).catch((e: unknown) => e);
  expect((stalled as Error).name).toBe("TimeoutError");
  expect(Date.now() - started).toBeLessThan(5_000);
  // The same client answers the next request that comes in time.
  handle = json(200, { data: { fine: true } });
  expect(await (await send(url, { headers: {}, body: "{}" })).json()).toEqual({ data: { fine: true } });
});
