// The one authChecker behind every @Authorized(): a caller is required, and roles
// named in @Authorized("…") are required too (any one of them), from the verified token.
import type { ResolverData } from "type-graphql";
import { authChecker } from "../../src/graphql/auth-checker";
import type { GraphQLContext } from "../../src/graphql/context";

const asked = (caller: { roles: string[] } | null, refusal?: string) =>
  ({ context: { caller, refusal }, args: {}, info: {}, root: {} }) as unknown as ResolverData<GraphQLContext>;

it("lets any caller through @Authorized() with no roles", () => {
  expect(authChecker(asked({ roles: [] }), [])).toBe(true);
});

it("lets a caller holding one of the named roles through, and refuses others with FORBIDDEN", () => {
  expect(authChecker(asked({ roles: ["staff"] }), ["admin", "staff"])).toBe(true);
  expect(() => authChecker(asked({ roles: ["staff"] }), ["admin"])).toThrow(
    expect.objectContaining({ extensions: expect.objectContaining({ code: "FORBIDDEN" }) }),
  );
});

it("refuses a request with no caller as UNAUTHENTICATED with the context's reason", () => {
  expect(() => authChecker(asked(null, "TOKEN_EXPIRED"), ["admin"])).toThrow(
    expect.objectContaining({
      extensions: expect.objectContaining({ code: "UNAUTHENTICATED", reason: "TOKEN_EXPIRED" }),
    }),
  );
});
