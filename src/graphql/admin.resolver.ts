// The admin API: thin resolvers over UserAdminService. Each field declares what it
// needs as a Federation directive, which the gateway enforces before execution and
// clients see in the schema; the class-level middleware checks the same again.
import {
  Arg,
  Directive,
  ID,
  Int,
  Mutation,
  Query,
  Resolver,
  UseMiddleware,
  type MiddlewareInterface,
  type NextFn,
  type ResolverData,
} from "type-graphql";
import type { UserAdminService } from "../admin/user-admin.service";
import { outcomeOf, type AdminCall, type AuthEvents } from "../auth/auth-events";
import { ADMIN_SCOPE } from "../authz/model";
import type { AccessClaims } from "../token/access-token";
import { CurrentUser, requireScopes } from "./auth-checker";
import type { GraphQLContext } from "./context";
import { User } from "./types";

/** Reports every admin call's outcome, refusals by the scope check included (audit log, metrics). */
export class AdminCallObserver implements MiddlewareInterface<GraphQLContext> {
  constructor(private readonly events: AuthEvents) {}

  async use({ context, info }: ResolverData<GraphQLContext>, next: NextFn): Promise<unknown> {
    const base = {
      type: "admin.call" as const,
      call: info.fieldName as AdminCall,
      actor: context.caller?.sub,
      ip: context.client.ip,
    };
    try {
      const result = (await next()) as unknown;
      this.events.emit({ ...base, outcome: "success" });
      return result;
    } catch (error) {
      this.events.emit({ ...base, outcome: outcomeOf(error) });
      throw error;
    }
  }
}

/** The directive on each admin field: the gateway's engine refuses callers without the scope before any resolver. */
const REQUIRES_ADMIN_SCOPE = `@requiresScopes(scopes: [["${ADMIN_SCOPE}"]])`;

@Resolver()
@UseMiddleware(AdminCallObserver, requireScopes(ADMIN_SCOPE))
export class AdminResolver {
  constructor(private readonly admin: UserAdminService) {}

  @Directive(REQUIRES_ADMIN_SCOPE)
  @Query(() => [User], {
    description: "Accounts in id order, a page at a time: `after` is the last id of the previous page.",
  })
  users(
    @Arg("email", () => String, { nullable: true, description: "Only the account with this address (normalised)." })
    email: string | null | undefined,
    @Arg("first", () => Int, { nullable: true, defaultValue: 50, description: "1 to 100." })
    first: number | null,
    @Arg("after", () => ID, { nullable: true }) after: string | null | undefined,
    @CurrentUser() caller: AccessClaims,
  ): Promise<User[]> {
    return this.admin.listUsers({ email, first, after }, caller.sub);
  }

  @Directive(REQUIRES_ADMIN_SCOPE)
  @Mutation(() => User, { description: "Grants the role (idempotent); returns the user as it is after." })
  grantRole(
    @Arg("userId", () => ID) userId: string,
    @Arg("role", () => String) role: string,
    @CurrentUser() caller: AccessClaims,
  ): Promise<User> {
    return this.admin.grantRole(userId, role, caller.sub);
  }

  @Directive(REQUIRES_ADMIN_SCOPE)
  @Mutation(() => User, { description: "Revokes the role (idempotent); returns the user as it is after." })
  revokeRole(
    @Arg("userId", () => ID) userId: string,
    @Arg("role", () => String) role: string,
    @CurrentUser() caller: AccessClaims,
  ): Promise<User> {
    return this.admin.revokeRole(userId, role, caller.sub);
  }

  @Directive(REQUIRES_ADMIN_SCOPE)
  @Mutation(() => User, {
    description: "Disables the account and ends its sessions (idempotent); not your own (use the CLI for that).",
  })
  async disableUser(@Arg("userId", () => ID) userId: string, @CurrentUser() caller: AccessClaims): Promise<User> {
    return (await this.admin.disableUser(userId, caller.sub)).user;
  }
}
