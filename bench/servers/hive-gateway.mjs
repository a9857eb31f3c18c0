// Baseline for benchmark 5: Hive Gateway (one process, no cluster) over the same
// notes subgraph, authenticating with its JWT plugin against keyway's public
// key (ES256, issuer and audience checked as keyway checks them).
//
// The notes subgraph trusts only keyway identity tokens, each good for one
// request: this harness adds a small plugin that mints one per subgraph request
// with keyway's key, bound to the body it travels with (the `bh` claim) — the
// same policy keyway follows — so both gateways do the same cryptographic work
// per request. Outbound deduplication of identical requests is off, as in
// keyway, where merging two callers' requests would mix their identities.
//
// With AUTHZ_FILE (keyway's file) it also enforces the Federation authorization
// directives of the supergraph: Hive Gateway's `genericAuth` (@envelop/generic-auth)
// in "protect-granular" mode reads @authenticated, @requiresScopes and @policy from
// the schema; scopes come from the token's `scope` claim (its default
// extractScopes), and the policies a caller holds are those of the file whose rule
// keyway's own evaluator (dist/authz/model.js) admits on the token's claims — what
// keyway decides on while its grants come from the token. A refused field is
// left out of the answer with an error and the rest is served
// (`rejectUnauthenticated: false`; by default the whole operation would be
// refused); keyway answers such a field null instead.
// Env: SUBGRAPH_URL, KEYWAY_JWKS_URL, JWT_PRIVATE_KEY (PEM), AUTHZ_FILE (optional). Prints its URL.
import { randomUUID, createPrivateKey, createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:http";
import { createGatewayRuntime } from "@graphql-hive/gateway";
import { createInlineSigningKeyProvider, useJWT } from "@graphql-mesh/plugin-jwt-auth";
import { composeServices } from "@theguild/federation-composition";
import { parse } from "graphql";
import { SignJWT } from "jose";

const require = createRequire(import.meta.url);
const { hashRequestBody } = require("../../dist/token/identity-token.js");
const { parseAuthzFile } = require("../../dist/authz/authz-file.js");
const { evaluatePolicy } = require("../../dist/authz/model.js");

const subgraphUrl = process.env.SUBGRAPH_URL;
const sdlResponse = await fetch(subgraphUrl, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ query: "{ _service { sdl } }" }),
});
const sdl = (await sdlResponse.json()).data._service.sdl;
const composed = composeServices([{ name: "notes", typeDefs: parse(sdl), url: subgraphUrl }]);
if (composed.errors?.length) throw new Error(composed.errors.map((error) => error.message).join("\n"));

const jwks = await (await fetch(process.env.KEYWAY_JWKS_URL)).json();
const jwk = jwks.keys[0];
const publicPem = createPublicKey({ key: jwk, format: "jwk" }).export({ type: "spki", format: "pem" }).toString();
const privateKey = createPrivateKey(process.env.JWT_PRIVATE_KEY);

/** The access token's authorization claims, carried into the identity as keyway carries them (src/token/identity-token.ts). */
const GRANT_CLAIMS = ["roles", "scope", "email_verified", "amr", "auth_time"];

function mintIdentity(claims, subgraph, body) {
  const now = Math.floor(Date.now() / 1000);
  const grants = Object.fromEntries(GRANT_CLAIMS.filter((name) => name in claims).map((name) => [name, claims[name]]));
  return new SignJWT({ sub: claims.sub, sid: claims.sid, ...grants, bh: hashRequestBody(body) })
    .setProtectedHeader({ alg: "ES256", typ: "keyway-identity+jwt", kid: jwk.kid })
    .setIssuer("keyway")
    .setAudience(subgraph)
    .setIssuedAt(now)
    .setExpirationTime(Math.min(now + 30, claims.exp))
    .setJti(randomUUID())
    .sign(privateKey);
}

const forwardIdentity = {
  onFetch({ context, options, setOptions }) {
    const claims = context?.jwt?.payload;
    if (!claims) return;
    return mintIdentity(claims, "notes", options.body).then((token) => {
      setOptions({ ...options, headers: { ...options.headers, "keyway-identity": token } });
    });
  },
};

function readPolicies(file) {
  const parsed = parseAuthzFile(readFileSync(file, "utf8"));
  if (!parsed.ok) throw new Error(`AUTHZ_FILE=${file}: ${parsed.problems.join("; ")}`);
  return parsed.model.policies;
}

function directiveAuthorization(policies) {
  return {
    mode: "protect-granular",
    resolveUserFn: (context) => context.jwt?.payload ?? null,
    extractPolicies(claims) {
      const facts = {
        roles: claims.roles ?? [],
        scopes: typeof claims.scope === "string" ? claims.scope.split(" ") : [],
        emailVerified: claims.email_verified === true,
        amr: claims.amr ?? [],
        authTime: claims.auth_time ?? null,
      };
      const now = Date.now();
      return [...policies].filter(([, rule]) => evaluatePolicy(rule, facts, now)).map(([name]) => name);
    },
    rejectUnauthenticated: false,
  };
}

const gateway = createGatewayRuntime({
  supergraph: composed.supergraphSdl,
  logging: "error",
  transportEntries: { "*.http": { options: { deduplicateInflightRequests: false } } },
  ...(process.env.AUTHZ_FILE ? { genericAuth: directiveAuthorization(readPolicies(process.env.AUTHZ_FILE)) } : {}),
  plugins: () => [
    useJWT({
      signingKeyProviders: [createInlineSigningKeyProvider(publicPem)],
      tokenVerification: { algorithms: ["ES256"], issuer: "keyway", audience: "keyway" },
      reject: { missingToken: true, invalidToken: true },
      forward: { payload: false, token: false },
    }),
    forwardIdentity,
  ],
});
const server = createServer(gateway);
server.listen(0, "127.0.0.1", () =>
  process.stdout.write(`hive gateway at http://127.0.0.1:${server.address().port}/graphql\n`),
);
process.on("SIGTERM", () => server.close(() => process.exit(0)));
