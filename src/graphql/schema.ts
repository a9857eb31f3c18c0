import "reflect-metadata";
import type { GraphQLSchema } from "graphql";
import { DateTimeResolver } from "graphql-scalars";
import { buildSchema, type MiddlewareFn } from "type-graphql";
import { isDatabaseUnavailable } from "../db/unavailable";
import { serviceUnavailable } from "../errors";
import { authChecker } from "./auth-checker";
import { AuthResolver, type AuthResolverDeps } from "./auth.resolver";
import { UserResolver } from "./user.resolver";

/** A database that cannot be reached is a 503 the client can retry, not a masked 500. */
const translateDatabaseOutage: MiddlewareFn = async (_action, next) => {
  try {
    return (await next()) as unknown;
  } catch (error) {
    throw isDatabaseUnavailable(error) ? serviceUnavailable() : error;
  }
};

/**
 * keyway's own schema. With `deps` its resolvers are built with them (type-graphql
 * asks this container for each resolver class); without, the schema can be printed
 * (codegen) but not executed.
 */
export function buildKeywaySchema(deps?: AuthResolverDeps): Promise<GraphQLSchema> {
  const resolvers = deps
    ? new Map<unknown, unknown>([
        [AuthResolver, new AuthResolver(deps)],
        [UserResolver, new UserResolver()],
      ])
    : null;
  return buildSchema({
    resolvers: [AuthResolver, UserResolver],
    ...(resolvers ? { container: { get: (resolverClass: unknown) => resolvers.get(resolverClass) } } : {}),
    authChecker,
    scalarsMap: [{ type: Date, scalar: DateTimeResolver }],
    globalMiddlewares: [translateDatabaseOutage],
    validate: false,
  });
}
