// What a subgraph identity costs per subgraph request, in one process, without
// HTTP: keyway's side (hash the body, sign an ES256 identity) and the subgraph
// helper's side (verify it, hash the body, check and remember the jti), next to
// what they replaced (one identity signed per session and subgraph, reused for
// 25 s; verification without the body or the replay check).
// Usage: npm run build && node bench/identity-cost.mjs [--iterations 20000]
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const { hashRequestBody, signIdentityToken } = require(path.join(root, "dist/token/identity-token.js"));
const { readKeyId, signJwt, verifyJwt } = require(path.join(root, "dist/token/jwt-verify.js"));
const { toSigningKey } = require(path.join(root, "dist/token/keys.js"));
const { createIdentityVerifier } = require(path.join(root, "dist/subgraph/index.js"));

const iterations = process.argv.includes("--iterations") ? Number(process.argv[process.argv.indexOf("--iterations") + 1]) : 20_000;
const key = toSigningKey(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString());
const keys = { signing: key, find: () => key, jwks: () => ({ keys: [key.publicJwk] }) };
const jwksFetch = async () => new Response(JSON.stringify(keys.jwks()), { headers: { "content-type": "application/json", "cache-control": "max-age=15" } });
const now = Math.floor(Date.now() / 1000);
const caller = { iss: "keyway", aud: "keyway", sub: randomUUID(), sid: randomUUID(), iat: now, exp: now + 900, jti: randomUUID() };
// A typical subgraph request: an entity fetch with one representation.
const request = {
  query: "query($representations:[_Any!]!){_entities(representations:$representations){...on User{notes{text createdAt}}}}",
  variables: { representations: [{ __typename: "User", id: caller.sub }] },
};
const body = JSON.stringify(request);

async function measure(name, run) {
  for (let i = 0; i < Math.min(2_000, iterations / 10); i++) await run(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await run(i);
  const micros = Number(process.hrtime.bigint() - start) / 1000 / iterations;
  console.log(`${name.padEnd(58)} ${micros.toFixed(1).padStart(7)} µs`);
  return micros;
}

console.log(`node ${process.version}, ${iterations} iterations each, body ${body.length} bytes\n`);
console.log("keyway, per subgraph request");
await measure("  hash the body (parse, canonical JSON, SHA-256)", () => hashRequestBody(body));
const mint = await measure("  mint: hash + sign an ES256 identity (now)", () => signIdentityToken({ keys, issuer: "keyway" }, caller, "notes", Date.now(), body));
console.log("  mint before: one signature per session and subgraph per 25 s       ~0 µs");

console.log("\nsubgraph helper, per request");
const tokens = Array.from({ length: iterations + 2_000 }, () => signIdentityToken({ keys, issuer: "keyway" }, caller, "notes", Date.now(), body));
const verifier = createIdentityVerifier({ jwksUrl: "http://keyway.invalid/.well-known/jwks.json", audience: "notes", fetch: jwksFetch });
let next = 0;
const verify = await measure("  verify + body hash + replay check (now)", () => verifier.verifyRequest({ "keyway-identity": tokens[next++] }, request));
const reused = tokens[0];
const kid = readKeyId(reused);
const before = await measure("  verify alone (before: no body, no replay check)", () =>
  verifyJwt(reused, { types: new Set(["keyway-identity+jwt"]), issuer: "keyway", audience: "notes", findKey: (k) => (k === kid ? key : undefined), now: Date.now() }),
);
await measure("  for scale: one ES256 signature", () => signJwt(caller, key, "at+jwt"));

console.log(`\nadded per subgraph request: ${(mint + verify - before).toFixed(1)} µs of CPU (${mint.toFixed(1)} at keyway, ${(verify - before).toFixed(1)} at the subgraph)`);
