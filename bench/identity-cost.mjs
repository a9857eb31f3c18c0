// What a subgraph identity costs per subgraph request, in one process, without
// HTTP: keyway's side (hash the body, sign an ES256 identity) and the subgraph
// helper's side (verify it, hash the body, check and remember the jti), next to
// what they replaced (one identity signed per session and subgraph, reused for
// 25 s; verification without the body or the replay check). CPU time of this
// process, not wall time, in interleaved rounds with the median kept, so other
// processes on a shared machine move the figures less.
// Usage: npm run build && node bench/identity-cost.mjs [--rounds 7] [--iterations 5000]
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
const { createJwksCache } = require(path.join(root, "dist/subgraph/jwks-cache.js"));

const arg = (name, fallback) =>
  process.argv.includes(`--${name}`) ? Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) : fallback;
const rounds = arg("rounds", 7);
const iterations = arg("iterations", 5000);
const key = toSigningKey(
  generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
);
const keys = { signing: key, find: () => key, jwks: () => ({ keys: [key.publicJwk] }) };
const jwksUrl = "http://keyway.invalid/.well-known/jwks.json";
const jwksFetch = async () =>
  new Response(JSON.stringify(keys.jwks()), {
    headers: { "content-type": "application/json", "cache-control": "max-age=15" },
  });
const now = Math.floor(Date.now() / 1000);
const caller = {
  iss: "keyway",
  aud: "keyway",
  sub: randomUUID(),
  sid: randomUUID(),
  iat: now,
  exp: now + 900,
  jti: randomUUID(),
};
// A typical subgraph request: an entity fetch with one representation.
const request = {
  query:
    "query($representations:[_Any!]!){_entities(representations:$representations){...on User{notes{text createdAt}}}}",
  variables: { representations: [{ __typename: "User", id: caller.sub }] },
};
const body = JSON.stringify(request);
const mint = () => signIdentityToken({ keys, issuer: "keyway" }, caller, "notes", Date.now(), body);

// The helper refuses an identity twice, so each of its runs needs fresh ones.
const verifier = createIdentityVerifier({ jwksUrl, audience: "notes", fetch: jwksFetch });
let fresh = [];
// What the helper did per request before: read the header, resolve the kid, verify.
const reused = mint();
const kid = readKeyId(reused);
const jwks = createJwksCache({ jwksUrl, fetch: jwksFetch });
const types = new Set(["keyway-identity+jwt"]);

const cases = {
  hash: ["keyway: hash the body (parse, canonical JSON, SHA-256)", () => hashRequestBody(body)],
  mint: ["keyway: mint = hash + sign an ES256 identity", mint],
  verify: [
    "subgraph: verify + body hash + replay check",
    (i) => verifier.verifyRequest({ "keyway-identity": fresh[i] }, request),
  ],
  before: [
    "subgraph before: verify only (no body, no replay check)",
    async () => {
      await jwks.resolve(kid);
      verifyJwt({ "keyway-identity": reused }["keyway-identity"], {
        types,
        issuer: "keyway",
        audience: "notes",
        findKey: jwks.peek,
        now: Date.now(),
      });
    },
  ],
  sign: ["for scale: one ES256 signature (signJwt)", () => signJwt(caller, key, "at+jwt")],
};

async function cpuMicros(run) {
  const start = process.cpuUsage();
  for (let i = 0; i < iterations; i++) await run(i);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / iterations;
}

const samples = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
for (let round = 0; round <= rounds; round++) {
  for (const [name, [, run]] of Object.entries(cases)) {
    if (name === "verify") fresh = Array.from({ length: iterations }, mint);
    const micros = await cpuMicros(run);
    if (round > 0) samples[name].push(micros); // round 0 warms up
  }
}
const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
const result = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, median(values)]));
console.log(
  `node ${process.version}; median of ${rounds} rounds × ${iterations}; request body ${body.length} bytes; CPU µs per operation\n`,
);
for (const [name, [label]] of Object.entries(cases))
  console.log(`${label.padEnd(60)} ${result[name].toFixed(1).padStart(7)}`);
console.log(
  `\nadded per subgraph request: ${(result.mint + result.verify - result.before).toFixed(1)} µs of CPU — ${result.mint.toFixed(1)} at keyway (it signed about once per session and subgraph per 25 s before), ${(result.verify - result.before).toFixed(1)} at the subgraph`,
);
