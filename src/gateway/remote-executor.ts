// How keyway talks to a remote subgraph: only the headers the caller's hook
// returns (plus content-type/accept) ever leave, and an unreachable subgraph
// becomes one coded error on its own fields instead of a masked 500.
import { buildHTTPExecutor } from "@graphql-tools/executor-http";
import type { ExecutionRequest, ExecutionResult, Executor } from "@graphql-tools/utils";
import { GraphQLError } from "graphql";
import type { GraphQLContext } from "../graphql/context";
import { ErrorCode, KeywayError, type ErrorCode as Code } from "../errors";
import { createSubgraphFetch, type SubgraphFetch } from "./subgraph-fetch";

/** The headers of one subgraph request, given the exact body it sends. */
export type HeadersForBody = (body: string) => Record<string, string>;
/**
 * Decides who a subgraph request is sent as (or refuses it by throwing) before
 * anything is sent; never from the client's headers. What it returns is called
 * with the body once that is final, so a header can be bound to it.
 */
export type HeadersFor = (subgraph: string, context: GraphQLContext) => HeadersForBody | Promise<HeadersForBody>;

/** What executor-http hands our fetch as its context: only the hook's decision. */
interface OutgoingContext {
  headersForBody: HeadersForBody;
}

export interface RemoteSubgraph {
  name: string;
  url: string;
}

/** Thrown by our fetch when no GraphQL answer came back: refused, reset, timed out, or a non-GraphQL 5xx page. */
class SubgraphTransportError extends Error {
  override name = "SubgraphTransportError";
}

export const subgraphUnavailable = (subgraph: string) =>
  new KeywayError(ErrorCode.SUBGRAPH_UNAVAILABLE, `The ${subgraph} service is unavailable`, { subgraph });

export function createRemoteExecutor(subgraph: RemoteSubgraph, headersFor: HeadersFor, timeoutMs: number): Executor {
  const http = buildHTTPExecutor({
    endpoint: subgraph.url,
    // The timeout is the fetch's own timer: given to executor-http, it would make an
    // AbortSignal.timeout and combine signals for every request (~0.1 ms of CPU each).
    fetch: transportCheckedFetch(subgraph.name, createSubgraphFetch({ timeoutMs })),
    // executor-http would send one request for identical ones in flight, keyed on
    // what it knows — not the headers our fetch adds — and so answer one caller
    // with another's identity.
    deduplicateInflightRequests: false,
  }) as Executor;
  const executor = async (request: ExecutionRequest) => {
    const headersForBody = await headersFor(subgraph.name, request.context as GraphQLContext);
    let result: Awaited<ReturnType<Executor>>;
    try {
      // Extensions are emptied: executor-http reads endpoint/fetch/headers from them, and
      // nothing but our hook may decide those. The context reaches only our fetch.
      const context: OutgoingContext = { headersForBody };
      result = await http({ ...request, context, extensions: {} });
    } catch {
      return { errors: [subgraphUnavailable(subgraph.name)] };
    }
    if (!isExecutionResult(result)) return result;
    if (result.errors?.some(isTransportFailure)) return { errors: [subgraphUnavailable(subgraph.name)] };
    return result.errors ? { ...result, errors: result.errors.map(passOnCoded) } : result;
  };
  return executor as Executor;
}

function transportCheckedFetch(subgraph: string, send: SubgraphFetch) {
  return async (input: string, init: RequestInit | undefined, context: OutgoingContext): Promise<Response> => {
    let response: Response;
    try {
      // The body executor-http serialised is the one that leaves; a multipart upload never does.
      if (typeof init?.body !== "string") throw new Error("a subgraph request without a JSON body");
      const headers = { ...(init.headers as Record<string, string>), ...context.headersForBody(init.body) };
      response = await send(input, { method: init.method, headers, body: init.body, signal: init.signal });
    } catch (error) {
      throw new SubgraphTransportError(`${subgraph}: ${(error as Error).message}`, { cause: error });
    }
    const type = response.headers.get("content-type") ?? "";
    // Apollo answers GraphQL errors with JSON under 4xx/5xx too; only a non-GraphQL failure is an outage.
    if (!response.ok && !/json/i.test(type)) throw new SubgraphTransportError(`${subgraph}: HTTP ${response.status}`);
    return response;
  };
}

function isTransportFailure(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 8; depth++) {
    if (current instanceof SubgraphTransportError) return true;
    const name = (current as Error).name;
    if (name === "AbortError" || name === "TimeoutError") return true;
    current =
      (current as { originalError?: unknown; cause?: unknown }).originalError ?? (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * A subgraph's deliberate error (it set a code) reaches the client with that
 * code and message; anything uncoded or INTERNAL_SERVER_ERROR stays masked by
 * the formatter, as keyway's own unexpected errors are. The path is kept: the
 * stitching layer uses it to put the error on the right field.
 */
function passOnCoded(error: GraphQLError): GraphQLError {
  const code = error.extensions?.code;
  if (typeof code !== "string" || code === ErrorCode.INTERNAL_SERVER_ERROR) return error;
  const raised = new KeywayError(code as Code, error.message);
  return new GraphQLError(error.message, { path: error.path, extensions: { code }, originalError: raised });
}

const isExecutionResult = (value: unknown): value is ExecutionResult =>
  typeof value === "object" && value !== null && !(Symbol.asyncIterator in value);
