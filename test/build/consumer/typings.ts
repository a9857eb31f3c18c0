// Compiled, never run: each @ts-expect-error below is an error only if keyway's
// typings are real. Were they `any`, tsc would report the directive unused.
import {
  createIdentityVerifier,
  hasRole,
  hasScope,
  IDENTITY_HEADER,
  type IdentityClaims,
  type IdentityRefusal,
} from "keyway/subgraph";
import { KeywayClient, KeywayError, LoginDocument, type LoginMutation } from "keyway/client";

// Exact type equality: false for `any` on either side, unlike assignability.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;

export type Exact = [
  Expect<Equal<IdentityClaims["sub"], string>>,
  Expect<Equal<Parameters<typeof createIdentityVerifier>[0]["audience"], string>>,
  Expect<Equal<Parameters<KeywayClient["login"]>["length"], 2>>,
  Expect<Equal<Parameters<KeywayClient["login"]>[0], string>>,
  Expect<Equal<LoginMutation["login"]["expiresIn"], number>>,
  Expect<Equal<KeywayError["code"], string>>,
  Expect<Equal<KeywayError["retryAfter"], number | undefined>>,
];

export async function typed(claims: IdentityClaims, client: KeywayClient): Promise<void> {
  // @ts-expect-error the verifier needs the subgraph's audience
  createIdentityVerifier({ jwksUrl: "http://keyway.invalid/.well-known/jwks.json" });
  // @ts-expect-error sub is a string
  const sub: number = claims.sub;
  // @ts-expect-error not one of the refusals keyway/subgraph names
  const refusal: IdentityRefusal = "IDENTITY_FORGED";
  const header: string = IDENTITY_HEADER;
  // @ts-expect-error scopes is a list, parsed from the space-separated scope claim
  const scopes: string = claims.scopes;
  // @ts-expect-error authTime is seconds, or null for an identity without auth_time
  const authTime: number = claims.authTime;
  const allowed: boolean = hasScope(claims, "notes:write") && hasRole(null, "editor") && claims.emailVerified;
  // @ts-expect-error login takes an email and a password
  await client.login("ada@example.io");
  const result = await client.request(LoginDocument, { input: { email: "ada@example.io", password: "correct horse" } });
  const login: LoginMutation["login"] | undefined = result.data?.login;
  // @ts-expect-error expiresIn is a number
  const expiresIn: string | undefined = login?.expiresIn;
  // @ts-expect-error a KeywayError's code is a string
  const code: number = new KeywayError("refused", "RATE_LIMITED").code;
  void [sub, refusal, header, scopes, authTime, allowed, expiresIn, code];
}
