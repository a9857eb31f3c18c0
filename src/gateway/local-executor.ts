// keyway's own subgraph runs in the gateway's process: no HTTP hop, and the
// resolvers get the very context Apollo built for the client request (Fastify
// request and reply included), so login/refreshToken still set cookies.
import type { ExecutionRequest, Executor } from "@graphql-tools/utils";
import { execute, type GraphQLSchema } from "graphql";

export function createLocalExecutor(schema: GraphQLSchema): Executor {
  // Executor is generic in its result type; execute's ExecutionResult is the untyped one.
  return ((request: ExecutionRequest) =>
    execute({
      schema,
      document: request.document,
      variableValues: request.variables as Record<string, unknown> | undefined,
      operationName: request.operationName,
      contextValue: request.context,
      rootValue: request.rootValue,
    })) as Executor;
}
