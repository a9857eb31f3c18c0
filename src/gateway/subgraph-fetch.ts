// The HTTP client under keyway's subgraph requests: node:http(s) on kept-alive
// connections, its answer handed back as a WHATWG Response, which is all the
// executor reads. Node's global fetch did the same with about 250 µs more CPU a
// request on the reference machine (WHATWG streams on both sides of a small JSON
// body), a tenth of what a whole subgraph query costs keyway (docs/benchmarks.md).
// It also follows no redirect: a subgraph's identity token never travels to a
// location the subgraph names (a 3xx that is not a GraphQL answer is an outage).
import http from "node:http";
import https from "node:https";

/** What the executor passes: a body it serialised, its headers, and the signal of its timeout. */
export interface SubgraphRequestInit {
  method?: string;
  headers: Record<string, string>;
  body: string;
  signal?: AbortSignal | null;
}

/**
 * Idle connections are closed after this: before the 5 s after which a Node server
 * (the usual keepAliveTimeout) closes them, so a request is rarely sent on a
 * connection the subgraph is closing at that moment.
 */
export const IDLE_CONNECTION_MS = 4_000;
/** Statuses whose answer has no body (the Fetch standard's null body statuses). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

export type SubgraphFetch = (url: string, init: SubgraphRequestInit) => Promise<Response>;

export interface SubgraphFetchOptions {
  /** A request not answered in full within this is given up (TimeoutError). */
  timeoutMs: number;
}

export function createSubgraphFetch(options: SubgraphFetchOptions): SubgraphFetch {
  const agents = {
    "http:": new http.Agent({ keepAlive: true, timeout: IDLE_CONNECTION_MS }),
    "https:": new https.Agent({ keepAlive: true, timeout: IDLE_CONNECTION_MS }),
  };
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const { signal } = init;
      if (signal?.aborted) return reject(abortReason(signal));
      const target = new URL(url);
      const agent = agents[target.protocol as keyof typeof agents];
      if (!agent) return reject(new Error(`unsupported protocol ${target.protocol}`));
      const send = target.protocol === "https:" ? https.request : http.request;
      const onAbort = () => request.destroy(signal ? abortReason(signal) : undefined);
      // One timer, not an AbortSignal: a signal and its listeners cost more than the request's own work.
      const timer = setTimeout(
        () => request.destroy(new DOMException(`no answer within ${options.timeoutMs} ms`, "TimeoutError")),
        options.timeoutMs,
      );
      const settled = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const request = send(
        target,
        {
          method: init.method ?? "POST",
          agent,
          headers: { ...init.headers, "content-length": String(Buffer.byteLength(init.body)) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("error", reject);
          // Cut off (the connection reset, or the request destroyed on abort) before the end.
          response.on("close", () => {
            settled();
            if (!response.complete) reject(request.errored ?? new Error("the answer was cut off"));
          });
          response.on("end", () => {
            settled();
            try {
              resolve(answer(response, chunks));
            } catch (error) {
              // A status the Fetch standard has no Response for (over 599).
              reject(error instanceof Error ? error : new Error(String(error)));
            }
          });
        },
      );
      request.on("error", (error) => {
        settled();
        reject(error);
      });
      signal?.addEventListener("abort", onAbort, { once: true });
      request.end(init.body);
    });
}

function answer(response: http.IncomingMessage, chunks: Buffer[]): Response {
  const status = response.statusCode ?? 0;
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
  }
  const body = NULL_BODY_STATUSES.has(status) ? null : Buffer.concat(chunks);
  return new Response(body, { status, statusText: response.statusMessage ?? "", headers });
}

/** The signal's reason (a TimeoutError from the executor's timeout), as an Error. */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  // Duck-typed: a DOMException made in another realm (a test's VM) is no instance of this one's Error.
  const isError = typeof reason === "object" && reason !== null && typeof (reason as Error).name === "string";
  return isError ? (reason as Error) : new DOMException("the request was aborted", "AbortError");
}
