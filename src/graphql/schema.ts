import "reflect-metadata";
import { specifiedDirectives, type GraphQLSchema } from "graphql";
import { DateTimeResolver } from "graphql-scalars";
import { buildSchema, type MiddlewareFn } from "type-graphql";
import type { UserAdminService } from "../admin/user-admin.service";
import { isDatabaseUnavailable } from "../db/unavailable";
import { serviceUnavailable } from "../errors";
import { AccountResolver, type AccountResolverDeps } from "./account.resolver";
import { AdminCallObserver, AdminResolver } from "./admin.resolver";
import { authChecker } from "./auth-checker";
import { AuthResolver, type AuthResolverDeps } from "./auth.resolver";
import { KEYWAY_DIRECTIVES } from "./directives";
import { MfaResolver, type MfaResolverDeps } from "./mfa.resolver";
import { UserResolver } from "./user.resolver";

/** What keyway's resolvers are built with. */
export interface KeywaySchemaDeps extends AuthResolverDeps, AccountResolverDeps, MfaResolverDeps {
  admin: UserAdminService;
}

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
 * asks this container for each resolver and middleware class); without, the schema can be printed
 * (codegen) but not executed.
 */
export function buildKeywaySchema(deps?: KeywaySchemaDeps): Promise<GraphQLSchema> {
  const resolvers = deps
    ? new Map<unknown, unknown>([
        [AuthResolver, new AuthResolver(deps)],
        [AccountResolver, new AccountResolver(deps)],
        [MfaResolver, new MfaResolver(deps)],
        [UserResolver, new UserResolver()],
        [AdminResolver, new AdminResolver(deps.admin)],
        [AdminCallObserver, new AdminCallObserver(deps.events)],
      ])
    : null;
  return buildSchema({
    resolvers: [AuthResolver, AccountResolver, MfaResolver, UserResolver, AdminResolver],
    // Given directives replace graphql-js's defaults, so @include, @skip, @deprecated and @specifiedBy go along.
    directives: [...specifiedDirectives, ...KEYWAY_DIRECTIVES],
    ...(resolvers ? { container: { get: (resolverClass: unknown) => resolvers.get(resolverClass) } } : {}),
    authChecker,
    scalarsMap: [{ type: Date, scalar: DateTimeResolver }],
    globalMiddlewares: [translateDatabaseOutage],
    validate: false,
  });
}
