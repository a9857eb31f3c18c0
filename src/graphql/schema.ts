import "reflect-metadata";
import type { GraphQLSchema } from "graphql";
import { DateTimeResolver } from "graphql-scalars";
import { buildSchema, type MiddlewareFn } from "type-graphql";
import { isDatabaseUnavailable } from "../db/unavailable";
import { serviceUnavailable } from "../errors";
import { authChecker } from "./auth-checker";
import { AuthResolver } from "./auth.resolver";

/** A database that cannot be reached is a 503 the client can retry, not a masked 500. */
const translateDatabaseOutage: MiddlewareFn = async (_action, next) => {
  try {
    return await next();
  } catch (error) {
    throw isDatabaseUnavailable(error) ? serviceUnavailable() : error;
  }
};

export function buildKeywaySchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: [AuthResolver],
    authChecker,
    scalarsMap: [{ type: Date, scalar: DateTimeResolver }],
    globalMiddlewares: [translateDatabaseOutage],
    validate: false,
  });
}
