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
// Env: SUBGRAPH_URL, KEYWAY_JWKS_URL, JWT_PRIVATE_KEY (PEM). Prints its URL.
import { randomUUID, createPrivateKey, createPublicKey } from "node:crypto";
import { createRequire } from "node:module";
import { createServer } from "node:http";
import { createGatewayRuntime } from "@graphql-hive/gateway";
import { createInlineSigningKeyProvider, useJWT } from "@graphql-mesh/plugin-jwt-auth";
import { composeServices } from "@theguild/federation-composition";
import { parse } from "graphql";
import { SignJWT } from "jose";

const { hashRequestBody } = createRequire(import.meta.url)("../../dist/token/identity-token.js");

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

function mintIdentity(claims, subgraph, body) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub: claims.sub, sid: claims.sid, bh: hashRequestBody(body) })
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

const gateway = createGatewayRuntime({
  supergraph: composed.supergraphSdl,
  logging: "error",
  transportEntries: { "*.http": { options: { deduplicateInflightRequests: false } } },
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
