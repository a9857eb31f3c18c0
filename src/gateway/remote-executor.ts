// How keyway talks to a remote subgraph: only the headers the caller's hook
// returns (plus content-type/accept) ever leave, and an unreachable subgraph
// becomes one coded error on its own fields instead of a masked 500.
import { buildHTTPExecutor } from "@graphql-tools/executor-http";
import type { ExecutionRequest, ExecutionResult, Executor } from "@graphql-tools/utils";
import { GraphQLError } from "graphql";
import type { GraphQLContext } from "../auth/context";
import { ErrorCode, KeywayError, type ErrorCode as Code } from "../errors";

/** Headers for one subgraph request; never derived from the client's headers by keyway itself. */
export type HeadersFor = (subgraph: string, context: GraphQLContext) => Record<string, string> | Promise<Record<string, string>>;

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
    fetch: transportCheckedFetch(subgraph.name),
    timeout: timeoutMs,
  }) as Executor;
  const executor = async (request: ExecutionRequest) => {
    const context = request.context as GraphQLContext;
    const headers = { ...(await headersFor(subgraph.name, context)) };
    let result: Awaited<ReturnType<Executor>>;
    try {
      // Extensions are rebuilt, not extended: executor-http reads endpoint/fetch/headers
      // from them, and nothing but our hook may decide those.
      result = await http({ ...request, extensions: { headers } });
    } catch (error) {
      return { errors: [subgraphUnavailable(subgraph.name)] };
    }
    if (!isExecutionResult(result)) return result;
    if (result.errors?.some(isTransportFailure)) return { errors: [subgraphUnavailable(subgraph.name)] };
    return result.errors ? { ...result, errors: result.errors.map(passOnCoded) } : result;
  };
  return executor as Executor;
}

function transportCheckedFetch(subgraph: string) {
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    let response: Response;
    try {
      response = await fetch(input, init);
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
    current = (current as { originalError?: unknown; cause?: unknown }).originalError ?? (current as { cause?: unknown }).cause;
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
