// Account recovery and verification: thin resolvers over AccountService. Every
// call is reported like the other auth calls (audit log, metrics), without the
// addresses or tokens it was given.
import { Arg, Authorized, Ctx, Mutation, Resolver } from "type-graphql";
import type { AccountService } from "../account/account.service";
import type { AuthEvents } from "../auth/auth-events";
import type { RefreshCookieOptions } from "../http/cookies";
import type { AccessClaims } from "../token/access-token";
import { CurrentUser } from "./auth-checker";
import { deliverSession, observeCall } from "./auth.resolver";
import type { GraphQLContext } from "./context";
import { AuthPayload } from "./types";

export interface AccountResolverDeps {
  accounts: AccountService;
  events: AuthEvents;
  cookie: RefreshCookieOptions;
}

@Resolver()
export class AccountResolver {
  constructor(private readonly deps: AccountResolverDeps) {}

  @Mutation(() => Boolean, {
    description:
      "Mails a reset link if the address has an account. Always true: the answer says nothing about the address.",
  })
  requestPasswordReset(@Arg("email") email: string, @Ctx() context: GraphQLContext): Promise<boolean> {
    return observeCall(
      this.deps.events,
      context,
      "requestPasswordReset",
      this.deps.accounts.requestPasswordReset(email, context.client),
    );
  }

  @Mutation(() => AuthPayload, {
    description: "Sets a new password from a reset link's token, ends every session of the account, and signs in.",
  })
  async resetPassword(
    @Arg("token") token: string,
    @Arg("newPassword") newPassword: string,
    @Ctx() context: GraphQLContext,
  ): Promise<AuthPayload> {
    const work = this.deps.accounts.resetPassword(token, newPassword, context.client);
    return deliverSession(
      this.deps.cookie,
      context,
      await observeCall(this.deps.events, context, "resetPassword", work),
    );
  }

  @Authorized()
  @Mutation(() => Boolean, { description: "Changes the caller's password and ends their other sessions." })
  changePassword(
    @Arg("currentPassword") currentPassword: string,
    @Arg("newPassword") newPassword: string,
    @CurrentUser() caller: AccessClaims,
    @Ctx() context: GraphQLContext,
  ): Promise<boolean> {
    const work = this.deps.accounts.changePassword(
      { userId: caller.sub, sessionId: caller.sid },
      currentPassword,
      newPassword,
      context.client,
    );
    return observeCall(this.deps.events, context, "changePassword", work);
  }

  @Authorized()
  @Mutation(() => Boolean, { description: "Mails the caller a link that verifies their address." })
  requestEmailVerification(@CurrentUser() caller: AccessClaims, @Ctx() context: GraphQLContext): Promise<boolean> {
    const work = this.deps.accounts.requestEmailVerification(caller.sub);
    return observeCall(this.deps.events, context, "requestEmailVerification", work);
  }

  @Mutation(() => Boolean, { description: "Uses an email verification (or change) link's token." })
  verifyEmail(@Arg("token") token: string, @Ctx() context: GraphQLContext): Promise<boolean> {
    return observeCall(this.deps.events, context, "verifyEmail", this.deps.accounts.verifyEmail(token, context.client));
  }

  @Authorized()
  @Mutation(() => Boolean, {
    description: "Mails a link to the new address; the address changes once that link is used.",
  })
  changeEmail(
    @Arg("newEmail") newEmail: string,
    @Arg("currentPassword") currentPassword: string,
    @CurrentUser() caller: AccessClaims,
    @Ctx() context: GraphQLContext,
  ): Promise<boolean> {
    const work = this.deps.accounts.changeEmail(caller.sub, newEmail, currentPassword, context.client);
    return observeCall(this.deps.events, context, "changeEmail", work);
  }
}
