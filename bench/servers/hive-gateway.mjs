// Baseline for benchmark 5: Hive Gateway (one process, no cluster) over the same
// notes subgraph, authenticating with its JWT plugin against keyway's public
// key (ES256, issuer and audience checked as keyway checks them).
//
// The notes subgraph trusts only keyway identity tokens, so this harness adds a
// small plugin that mints one per (session, subgraph) with keyway's key and
// reuses it until 5 s before it expires — the same policy keyway follows — so
// both gateways do the same cryptographic work per request.
// Env: SUBGRAPH_URL, KEYWAY_JWKS_URL, JWT_PRIVATE_KEY (PEM). Prints its URL.
import { randomUUID, createPrivateKey, createPublicKey } from "node:crypto";
import { createServer } from "node:http";
import { createGatewayRuntime } from "@graphql-hive/gateway";
import { createInlineSigningKeyProvider, useJWT } from "@graphql-mesh/plugin-jwt-auth";
import { composeServices } from "@theguild/federation-composition";
import { parse } from "graphql";
import { SignJWT } from "jose";

const subgraphUrl = process.env.SUBGRAPH_URL;
const sdlResponse = await fetch(subgraphUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ _service { sdl } }" }) });
const sdl = (await sdlResponse.json()).data._service.sdl;
const composed = composeServices([{ name: "notes", typeDefs: parse(sdl), url: subgraphUrl }]);
if (composed.errors?.length) throw new Error(composed.errors.map((error) => error.message).join("\n"));

const jwks = await (await fetch(process.env.KEYWAY_JWKS_URL)).json();
const jwk = jwks.keys[0];
const publicPem = createPublicKey({ key: jwk, format: "jwk" }).export({ type: "spki", format: "pem" }).toString();
const privateKey = createPrivateKey(process.env.JWT_PRIVATE_KEY);

const REUSE_MARGIN_SECONDS = 5;
const identities = new Map();
async function identityFor(claims, subgraph) {
  const key = `${claims.sid}\u0000${subgraph}`;
  const now = Math.floor(Date.now() / 1000);
  const cached = identities.get(key);
  if (cached && cached.exp - REUSE_MARGIN_SECONDS > now) return cached.token;
  const exp = Math.min(now + 30, claims.exp);
  const token = await new SignJWT({ sub: claims.sub, sid: claims.sid })
    .setProtectedHeader({ alg: "ES256", typ: "keyway-identity+jwt", kid: jwk.kid })
    .setIssuer("keyway").setAudience(subgraph).setIssuedAt(now).setExpirationTime(exp).setJti(randomUUID())
    .sign(privateKey);
  if (identities.size > 10_000) identities.clear();
  identities.set(key, { token, exp });
  return token;
}

const forwardIdentity = {
  async onSubgraphExecute({ executionRequest, subgraphName, setExecutionRequest }) {
    const claims = executionRequest.context?.jwt?.payload;
    if (!claims) return;
    const token = await identityFor(claims, subgraphName);
    setExecutionRequest({ ...executionRequest, extensions: { ...executionRequest.extensions, headers: { "keyway-identity": token } } });
  },
};

const gateway = createGatewayRuntime({
  supergraph: composed.supergraphSdl,
  logging: "error",
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
server.listen(0, "127.0.0.1", () => process.stdout.write(`hive gateway at http://127.0.0.1:${server.address().port}/graphql\n`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
