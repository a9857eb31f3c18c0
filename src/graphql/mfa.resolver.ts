// Second factors: thin resolvers over MfaService, each call reported like the
// other auth calls (audit log, metrics), without the codes it was given.
import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver } from "type-graphql";
import type { AuthEvents } from "../auth/auth-events";
import type { RefreshCookieOptions } from "../http/cookies";
import type { MfaService } from "../mfa/mfa.service";
import type { PasskeyService } from "../mfa/passkeys";
import type { AccessClaims } from "../token/access-token";
import { CurrentUser } from "./auth-checker";
import { deliverSession, observeCall } from "./auth.resolver";
import type { GraphQLContext } from "./context";
import { AuthPayload, Passkey, SecondFactors, TotpEnrollment } from "./types";

export interface MfaResolverDeps {
  mfa: MfaService;
  passkeys: PasskeyService;
  events: AuthEvents;
  cookie: RefreshCookieOptions;
}

@Resolver()
export class MfaResolver {
  constructor(private readonly deps: MfaResolverDeps) {}

  @Authorized()
  @Query(() => SecondFactors, { description: "The caller's second factors: TOTP, recovery codes left, passkeys." })
  secondFactors(@CurrentUser() caller: AccessClaims): Promise<SecondFactors> {
    return this.deps.mfa.secondFactors(caller.sub);
  }

  @Authorized()
  @Query(() => [Passkey], { description: "The caller's passkeys, oldest first." })
  passkeys(@CurrentUser() caller: AccessClaims): Promise<Passkey[]> {
    return this.deps.passkeys.list(caller.sub);
  }

  @Authorized()
  @Mutation(() => String, {
    description:
      "WebAuthn PublicKeyCredentialCreationOptions (JSON) for a new passkey of the caller; needs a sign-in within 10 minutes.",
  })
  startPasskeyRegistration(@CurrentUser() caller: AccessClaims, @Ctx() context: GraphQLContext): Promise<string> {
    const work = this.deps.passkeys.startRegistration(callerOf(caller), context.client);
    return observeCall(this.deps.events, context, "startPasskeyRegistration", work);
  }

  @Authorized()
  @Mutation(() => Passkey, {
    description:
      "Stores the passkey the authenticator made for startPasskeyRegistration's options (the response, JSON).",
  })
  finishPasskeyRegistration(
    @Arg("response") response: string,
    @Arg("name", () => String, { nullable: true }) name: string | null,
    @CurrentUser() caller: AccessClaims,
    @Ctx() context: GraphQLContext,
  ): Promise<Passkey> {
    const work = this.deps.passkeys.finishRegistration(callerOf(caller), response, name, context.client);
    return observeCall(this.deps.events, context, "finishPasskeyRegistration", work);
  }

  @Authorized()
  @Mutation(() => Passkey, { description: "Renames one of the caller's passkeys (null or blank: no name)." })
  renamePasskey(
    @Arg("id", () => ID) id: string,
    @Arg("name", () => String, { nullable: true }) name: string | null,
    @CurrentUser() caller: AccessClaims,
  ): Promise<Passkey> {
    return this.deps.passkeys.rename(caller.sub, id, name);
  }

  @Authorized()
  @Mutation(() => Boolean, {
    description:
      "Removes one of the caller's passkeys; false when they have none with that id. Needs a sign-in within 10 minutes.",
  })
  removePasskey(
    @Arg("id", () => ID) id: string,
    @CurrentUser() caller: AccessClaims,
    @Ctx() context: GraphQLContext,
  ): Promise<boolean> {
    const work = this.deps.passkeys.remove(callerOf(caller), id, context.client);
    return observeCall(this.deps.events, context, "removePasskey", work);
  }

  @Mutation(() => String, {
    description:
      "WebAuthn PublicKeyCredentialRequestOptions (JSON) for finishPasskeyLogin or stepUp: any passkey of this site may answer.",
  })
  startPasskeyLogin(@Ctx() context: GraphQLContext): Promise<string> {
    return observeCall(
      this.deps.events,
      context,
      "startPasskeyLogin",
      this.deps.passkeys.startAuthentication(context.client),
    );
  }

  @Mutation(() => AuthPayload, {
    description: "Signs in with a passkey's answer to startPasskeyLogin's options (the response, JSON): amr [\"hwk\"].",
  })
  async finishPasskeyLogin(@Arg("response") response: string, @Ctx() context: GraphQLContext): Promise<AuthPayload> {
    const work = this.deps.passkeys.login(response, context.client);
    return deliverSession(
      this.deps.cookie,
      context,
      await observeCall(this.deps.events, context, "finishPasskeyLogin", work),
    );
  }

  @Authorized()
  @Mutation(() => TotpEnrollment, {
    description: "A new TOTP secret, pending until confirmTotpEnrollment; replaces a pending one.",
  })
  startTotpEnrollment(@CurrentUser() caller: AccessClaims, @Ctx() context: GraphQLContext): Promise<TotpEnrollment> {
    const work = this.deps.mfa.startTotpEnrollment(callerOf(caller), context.client);
    return observeCall(this.deps.events, context, "startTotpEnrollment", work);
  }

  @Authorized()
  @Mutation(() => [String], {
    description: "Enables TOTP with a code from the pending secret; returns 10 recovery codes, shown this once.",
  })
  confirmTotpEnrollment(
    @Arg("code") code: string,
    @CurrentUser() caller: AccessClaims,
    @Ctx() context: GraphQLContext,
  ): Promise<string[]> {
    const work = this.deps.mfa.confirmTotpEnrollment(callerOf(caller), code, context.client);
    return observeCall(this.deps.events, context, "confirmTotpEnrollment", work);
  }

  @Authorized()
  @Mutation(() => Boolean, { description: "Removes TOTP and the recovery codes, given a TOTP or recovery code." })
  disableTotp(
    @Arg("code") code: string,
    @CurrentUser() caller: AccessClaims,
    @Ctx() context: GraphQLContext,
  ): Promise<boolean> {
    return observeCall(
      this.deps.events,
      context,
      "disableTotp",
      this.deps.mfa.disableTotp(caller.sub, code, context.client),
    );
  }

  @Mutation(() => AuthPayload, {
    description: "Signs in with the challenge of an MFA_REQUIRED answer and a TOTP or recovery code.",
  })
  async completeLogin(
    @Arg("challenge") challenge: string,
    @Arg("code") code: string,
    @Ctx() context: GraphQLContext,
  ): Promise<AuthPayload> {
    const work = this.deps.mfa.completeLogin(challenge, code, context.client);
    return deliverSession(
      this.deps.cookie,
      context,
      await observeCall(this.deps.events, context, "completeLogin", work),
    );
  }

  @Authorized()
  @Mutation(() => AuthPayload, {
    description:
      "Re-proves a second factor on the current session, with a TOTP code or a passkey's answer to startPasskeyLogin's " +
      "options: a new access token with fresh auth_time and amr. " +
      "The session and its refresh token stay as they are.",
  })
  async stepUp(
    @Arg("code", () => String, { nullable: true }) code: string | null,
    @Arg("passkeyResponse", () => String, { nullable: true }) passkeyResponse: string | null,
    @CurrentUser() caller: AccessClaims,
    @Ctx() context: GraphQLContext,
  ): Promise<AuthPayload> {
    const work = this.deps.mfa.stepUp(
      { userId: caller.sub, sessionId: caller.sid },
      code,
      passkeyResponse,
      context.client,
    );
    const stepped = await observeCall(this.deps.events, context, "stepUp", work);
    // No refresh token goes out: the session's stays the one the client holds.
    return { accessToken: stepped.accessToken, tokenType: "Bearer", expiresIn: stepped.expiresIn, user: stepped.user };
  }
}

/** The caller as enrolment needs them: who, and when their session signed in. */
const callerOf = (caller: AccessClaims) => ({ userId: caller.sub, authTime: caller.authTime ?? null });
