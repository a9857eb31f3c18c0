// What keyway's directive enforcement costs per request, in one process, without
// HTTP: the hooks of src/graphql/authorization.ts (didResolveOperation, then
// willSendResponse) over the supergraph `npm run bench:authz` serves, for its
// queries — all fields admitted; one field refused on each of 5 notes (the
// document filtered, the answer reshaped) — next to the same hooks over the same
// schema without directives (nothing guarded: the plugin's floor). CPU time of
// this process, in interleaved rounds with the median kept, as
// bench/identity-cost.mjs does; the SDL is the bench subgraph's.
// Usage: npm run build && node bench/authz-cost.mjs [--rounds 7] [--iterations 5000]
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { root } from "./lib/processes.mjs";

const require = createRequire(import.meta.url);
const { getStitchedSchemaFromSupergraphSdl } = require("@graphql-tools/federation");
const { parse } = require("graphql");
const { composeSupergraphSdl } = require(path.join(root, "dist/gateway/compose.js"));
const { authorizationPlugin } = require(path.join(root, "dist/graphql/authorization.js"));
const { parseAuthzFile } = require(path.join(root, "dist/authz/authz-file.js"));

const arg = (name, fallback) =>
  process.argv.includes(`--${name}`) ? Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) : fallback;
const rounds = arg("rounds", 7);
const iterations = arg("iterations", 5000);

// The SDL and the AUTHZ_FILE of bench/servers/authz-subgraph.mjs and bench/authz.mjs.
const guardedSdl = /const GUARDED_SDL = `([^`]*)`/.exec(
  readFileSync(path.join(root, "bench/servers/authz-subgraph.mjs"), "utf8"),
)[1];
const plainSdl = guardedSdl.replace(/ @(authenticated|requiresScopes|policy)(\([^)]*\))?/g, "");
const model = parseAuthzFile(
  JSON.stringify({ roles: { reader: ["notes:read"] }, policies: { reader: { anyRole: ["reader"] } } }),
);
const policies = model.model.policies;

/** The plugin's per-request hooks over one served schema, as Apollo Server calls them. */
async function servedBy(sdl) {
  const supergraphSdl = composeSupergraphSdl(
    [{ name: "notes", url: "http://127.0.0.1:1/graphql", typeDefs: parse(sdl) }],
    new Set(policies.keys()),
  );
  const schema = getStitchedSchemaFromSupergraphSdl({ supergraphSdl });
  const plugin = authorizationPlugin({ policies, now: Date.now });
  const listener = await plugin.serverWillStart({});
  listener.schemaDidLoadOrUpdate({ apiSchema: schema, coreSupergraphSdl: supergraphSdl });
  return { schema, plugin };
}

const grants = { roles: ["reader"], scopes: ["notes:read"], emailVerified: false, amr: ["pwd"], authTime: null };
const context = { caller: { sub: "u" }, refusal: null, grants: async () => grants };
const note = (i) => ({ __keyway_type: "Note", id: `u:${i}`, text: `note ${i}`, createdAt: "2026-01-01" });
/** What the subgraph sends for the filtered document (each selection set also names its type). */
const fetched = { __keyway_type: "Query", myNotes: Array.from({ length: 5 }, (_, i) => note(i)) };

/** One request's worth of the plugin: the document is parsed once, as Apollo's document store does. */
function requestOf(served, query) {
  const document = parse(query);
  return async () => {
    const hooks = await served.plugin.requestDidStart({});
    const request = {
      document,
      schema: served.schema,
      contextValue: context,
      request: { operationName: undefined, variables: undefined },
      response: { body: { kind: "single", singleResult: { data: fetched } } },
    };
    await hooks.didResolveOperation(request);
    await hooks.willSendResponse(request);
    return request.response.body.singleResult;
  };
}

const guarded = await servedBy(guardedSdl);
const plain = await servedBy(plainSdl);
const cases = {
  "no directives (plugin floor)": requestOf(plain, "{ myNotes { id text createdAt } }"),
  "directives, all admitted": requestOf(guarded, "{ myNotes { id text createdAt } }"),
  "directives, secret refused on 5 notes (reshaped)": requestOf(guarded, "{ myNotes { id text createdAt secret } }"),
};
const refused = await cases["directives, secret refused on 5 notes (reshaped)"]();
if (
  refused.errors?.length !== 1 || // one error per place in the document, not per note
  refused.data.myNotes.some((note) => note.secret !== null) ||
  refused.data.myNotes[0].secret !== null ||
  refused.data.myNotes[0].text !== "note 0"
)
  throw new Error(`the refused case is not refused as expected: ${JSON.stringify(refused)}`);
if ((await cases["directives, all admitted"]()).errors) throw new Error("the admitted case was refused");

const samples = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
for (let round = 0; round < rounds; round++)
  for (const [name, run] of Object.entries(cases)) {
    const started = process.cpuUsage();
    for (let i = 0; i < iterations; i++) await run();
    const used = process.cpuUsage(started);
    samples[name].push((used.user + used.system) / iterations);
  }
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
console.log("| case | CPU per request, median (range) |\n| --- | --- |");
for (const [name, values] of Object.entries(samples))
  console.log(
    `| ${name} | ${median(values).toFixed(1)} µs (${Math.min(...values).toFixed(1)}–${Math.max(...values).toFixed(1)}) |`,
  );
