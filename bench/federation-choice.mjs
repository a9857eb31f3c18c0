// Which federation runtime should keyway embed? Same two Federation 2 subgraphs,
// same @apollo/server + Fastify HTTP setup, two gateways:
//   apollo: @apollo/gateway (ELv2) with IntrospectAndCompose
//   guild:  @theguild/federation-composition + @graphql-tools/federation (MIT)
// Subgraphs, each gateway and autocannon run in separate processes so no variant
// shares an event loop with the load generator. Everything stays on 127.0.0.1.
// Usage: node bench/federation-choice.mjs [--duration 10] [--connections 32] [--rounds 2]
//        [--variants apollo,guild]  (also: apollo-fetch = Apollo on Node's fetch, guild-batch = guild with batching)
import "./lib/ensure-deps.mjs";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const self = fileURLToPath(import.meta.url);
const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1];
};
const HOST = "127.0.0.1";

async function serveApollo(schemaOrGateway, port) {
  const { ApolloServer } = await import("@apollo/server");
  const { fastifyApolloHandler, fastifyApolloDrainPlugin } = await import("@as-integrations/fastify");
  const { default: Fastify } = await import("fastify");
  const app = Fastify({ logger: false });
  const { ApolloServerPluginInlineTraceDisabled } = await import("@apollo/server/plugin/disabled");
  // Subgraphs skip federated tracing (ftv1) so neither gateway pays for it.
  const plugins = [
    fastifyApolloDrainPlugin(app),
    ...(schemaOrGateway.schema?.getType("_Service") ? [ApolloServerPluginInlineTraceDisabled()] : []),
  ];
  const apollo = new ApolloServer({ ...schemaOrGateway, csrfPrevention: true, plugins });
  await apollo.start();
  app.route({ url: "/graphql", method: ["GET", "POST"], handler: fastifyApolloHandler(apollo) });
  await app.listen({ port, host: HOST });
  return `http://${HOST}:${app.server.address().port}/graphql`;
}

/** Two subgraphs: `accounts` owns User, `notes` extends it with a field and has a root query. */
async function runSubgraphs() {
  const { buildSubgraphSchema } = await import("@apollo/subgraph");
  const { parse } = await import("graphql");
  const link = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])';
  const users = Array.from({ length: 10 }, (_, i) => ({ id: `u${i}`, email: `u${i}@example.io` }));
  const accounts = buildSubgraphSchema([
    {
      typeDefs: parse(`${link}
      type User @key(fields: "id") { id: ID! email: String! }
      type Query { me: User! users: [User!]! }`),
      resolvers: {
        Query: { me: () => users[0], users: () => users },
        User: { __resolveReference: (ref) => users.find((u) => u.id === ref.id) },
      },
    },
  ]);
  const notes = buildSubgraphSchema([
    {
      typeDefs: parse(`${link}
      type User @key(fields: "id") { id: ID! notes: [String!]! }
      type Query { notesFeed: [String!]! }`),
      resolvers: {
        Query: { notesFeed: () => Array.from({ length: 10 }, (_, i) => `note ${i}`) },
        User: { __resolveReference: (ref) => ref, notes: (user) => [`${user.id}: first`, `${user.id}: second`] },
      },
    },
  ]);
  const urls = { accounts: await serveApollo({ schema: accounts }, 0), notes: await serveApollo({ schema: notes }, 0) };
  process.stdout.write(`READY ${JSON.stringify(urls)}\n`);
}

async function runGateway(variant, subgraphs) {
  const list = Object.entries(subgraphs).map(([name, url]) => ({ name, url }));
  if (variant.startsWith("apollo")) {
    const { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } = await import("@apollo/gateway");
    // apollo-fetch: the same gateway on Node's own fetch (undici), to tell the planner's cost from its HTTP client's.
    const buildService =
      variant === "apollo-fetch"
        ? ({ url }) => new RemoteGraphQLDataSource({ url, fetcher: globalThis.fetch })
        : undefined;
    const gateway = new ApolloGateway({
      supergraphSdl: new IntrospectAndCompose({ subgraphs: list }),
      buildService,
      logger: { debug() {}, info() {}, warn() {}, error: console.error },
    });
    return serveApollo({ gateway }, 0);
  }
  const { composeServices } = await import("@theguild/federation-composition");
  const { getStitchedSchemaFromSupergraphSdl } = await import("@graphql-tools/federation");
  const { parse } = await import("graphql");
  const services = [];
  for (const { name, url } of list) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ _service { sdl } }" }),
    });
    services.push({ name, url, typeDefs: parse((await response.json()).data._service.sdl) });
  }
  const composed = composeServices(services);
  if (composed.errors?.length) throw new Error(composed.errors.map((e) => e.message).join("\n"));
  return serveApollo(
    {
      schema: getStitchedSchemaFromSupergraphSdl({
        supergraphSdl: composed.supergraphSdl,
        batch: variant === "guild-batch",
      }),
    },
    0,
  );
}

function startChild(args) {
  const child = spawn(process.execPath, [self, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const ready = new Promise((resolve, reject) => {
    let buffer = "";
    child.stdout.on("data", (chunk) => {
      buffer += chunk;
      const match = /READY (.+)\n/.exec(buffer);
      if (match) resolve(JSON.parse(match[1]));
    });
    child.on("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code}`)));
  });
  return { child, ready };
}

const QUERIES = {
  // one hop: a root field of the remote subgraph
  root: "{ notesFeed }",
  // two hops: users from `accounts`, then `notes` resolves ten User entities
  entity: "{ users { id email notes } }",
};

async function main() {
  const { default: autocannon } = await import("autocannon");
  const duration = Number(arg("duration", 10));
  const connections = Number(arg("connections", 32));
  const rounds = Number(arg("rounds", 2));
  const variants = arg("variants", "apollo,guild").split(",");
  const children = [];
  const deadline = setTimeout(
    () => {
      console.error("bench exceeded its time bound");
      for (const c of children) c.kill("SIGKILL");
      process.exit(1);
    },
    (rounds * variants.length * Object.keys(QUERIES).length * (duration + 5) + 120) * 1000,
  );
  try {
    const subgraphs = startChild(["--role", "subgraphs"]);
    children.push(subgraphs.child);
    const subgraphUrls = await subgraphs.ready;
    const gateways = {};
    for (const variant of variants) {
      const started = startChild([
        "--role",
        "gateway",
        "--variant",
        variant,
        "--subgraphs",
        JSON.stringify(subgraphUrls),
      ]);
      children.push(started.child);
      gateways[variant] = (await started.ready).url;
    }
    const post = (url, query) => ({
      url,
      method: "POST",
      connections,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query }),
    });
    // Both gateways must give the same, error-free answer before anything is timed.
    for (const [name, query] of Object.entries(QUERIES)) {
      const answers = await Promise.all(
        variants.map(async (v) =>
          (
            await fetch(gateways[v], {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ query }),
            })
          ).text(),
        ),
      );
      if (answers.some((a) => a !== answers[0]) || answers[0].includes('"errors"'))
        throw new Error(`${name}: answers differ or fail: ${answers.join(" | ")}`);
    }
    for (const variant of variants)
      for (const query of Object.values(QUERIES)) await autocannon({ ...post(gateways[variant], query), duration: 3 });

    const samples = {};
    for (let round = 0; round < rounds; round++) {
      // Alternate the order each round so drift (thermal, GC, neighbours) hits both variants.
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      for (const [name, query] of Object.entries(QUERIES)) {
        for (const variant of order) {
          const r = await autocannon({ ...post(gateways[variant], query), duration });
          if (r.errors || r.non2xx) throw new Error(`${variant}/${name}: ${r.errors} errors, ${r.non2xx} non-2xx`);
          (samples[`${name}/${variant}`] ??= []).push({
            rps: r.requests.average,
            p50: r.latency.p50,
            p99: r.latency.p99,
          });
        }
      }
    }
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const results = {};
    for (const name of Object.keys(QUERIES)) {
      results[name] = { query: QUERIES[name] };
      for (const variant of variants) {
        const s = samples[`${name}/${variant}`];
        results[name][variant] = {
          rps: Math.round(mean(s.map((x) => x.rps))),
          p50ms: mean(s.map((x) => x.p50)),
          p99ms: mean(s.map((x) => x.p99)),
          perRound: s.map((x) => Math.round(x.rps)),
        };
      }
      if (variants.includes("apollo") && variants.includes("guild"))
        results[name].guildOverApolloRps = +(results[name].guild.rps / results[name].apollo.rps).toFixed(2);
    }
    console.log(
      JSON.stringify({ node: process.version, connections, durationSeconds: duration, rounds, results }, null, 2),
    );
  } finally {
    clearTimeout(deadline);
    for (const c of children) c.kill("SIGTERM");
  }
}

const role = arg("role", "main");
if (role === "subgraphs") await runSubgraphs();
else if (role === "gateway")
  process.stdout.write(
    `READY ${JSON.stringify({ url: await runGateway(arg("variant"), JSON.parse(arg("subgraphs"))) })}\n`,
  );
else await main();
