// createServer(deps): the HTTP server with Apollo mounted, shared by main.ts and
// the tests, which start it on port 0 against a real database.
import cluster from "node:cluster";
import { ApolloServer, type ApolloServerPlugin } from "@apollo/server";
import type { SchemaRequirements } from "./authz/requirements";
import { authorizationPlugin } from "./graphql/authorization";
import { createContextBuilder, type GraphQLContext } from "./graphql/context";
import { ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import fastifyCookie from "@fastify/cookie";
import fastifyCors from "@fastify/cors";
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from "@as-integrations/fastify";
import Fastify, { type FastifyError, type FastifyInstance } from "fastify";
import type { GatewayInterface } from "@apollo/server-gateway-interface";
import type { GraphQLSchema } from "graphql";
import type { Config } from "./config";
import type { Database } from "./db/client";
import { createErrorFormatter, ErrorCode } from "./errors";
import { createDocumentSizeGuard, createLimitOptions } from "./graphql/limits";
import { trustProxyOption } from "./http/client-address";
import { registerRequestObservability } from "./http/observability";
import { registerDemoRoutes } from "./http/demo";
import { registerMetricsRoute, registerOperationalRoutes } from "./http/routes";
import type { Logger } from "./logger";
import { createMetrics, type Metrics } from "./metrics";
import type { Services } from "./services";
import type { KeySet } from "./token/keys";

export interface ServerDeps {
  config: Config;
  database: Database;
  keys: KeySet;
  logger: Logger;
  /** keyway's own schema; or, with SUBGRAPHS, `gateway` (src/gateway's createSupergraph) serves the composed one instead. */
  schema?: GraphQLSchema;
  gateway?: GatewayInterface;
  services: Services;
  /** Milliseconds since the epoch, for policies such as maxAuthAge; tests pass a controllable clock. */
  now?: () => number;
  /** With a gateway: the demands of each schema it serves (see Supergraph.requirementsOf). */
  authorizationRequirements?: (schema: GraphQLSchema) => SchemaRequirements | undefined;
}

export interface KeywayServer {
  app: FastifyInstance;
  metrics: Metrics;
  /** Resolves with the base URL, e.g. http://127.0.0.1:4000. */
  listen(port?: number, host?: string): Promise<string>;
  /** With METRICS_PORT, where /metrics is served once listening (e.g. http://127.0.0.1:9464/metrics); else null. */
  readonly metricsUrl: string | null;
  /** Stops accepting, drains in-flight requests. The database is the caller's to close. */
  close(): Promise<void>;
}

const BODY_LIMIT_BYTES = 256 * 1024;

export async function createServer(deps: ServerDeps): Promise<KeywayServer> {
  const { config, logger } = deps;
  const { redis, revocations } = deps.services;
  const metrics = createMetrics({
    redisUp: redis ? () => (redis.state() === "up" ? 1 : 0) : undefined,
    revokedSessions: () => revocations.size,
    events: deps.services.events,
    mail: deps.services.mail,
    // Each worker keeps its own counts; the label tells a scraper which one answered.
    defaultLabels: cluster.isWorker ? { worker: String(cluster.worker?.id) } : undefined,
  });
  const app = Fastify({
    logger: false,
    trustProxy: trustProxyOption(config.trustProxy),
    bodyLimit: BODY_LIMIT_BYTES,
    forceCloseConnections: "idle",
    return503OnClosing: true,
  });

  registerRequestObservability(app, logger, metrics);
  // While draining, answered keep-alive connections are closed instead of idling
  // until their timeout, so shutdown ends as soon as the last request does.
  let draining = false;
  app.addHook("onSend", async (_request, reply) => {
    if (draining) void reply.header("connection", "close");
  });
  await app.register(fastifyCookie);
  // Only listed origins get any CORS headers, credentials included; with none
  // configured, cross-origin pages can neither read responses nor send credentials.
  const allowedOrigins = new Set(config.corsOrigins);
  // Options normalized once; per request only the origin is looked up.
  await app.register(fastifyCors, {
    origin: (origin, callback) => callback(null, allowedOrigins.has(origin ?? "")),
    credentials: true,
    methods: ["GET", "POST"],
    allowedHeaders: [
      "content-type",
      "authorization",
      "apollo-require-preflight",
      "x-apollo-operation-name",
      "x-refresh-token",
    ],
    exposedHeaders: ["x-refresh-token"],
    maxAge: 600,
  });

  if (!deps.schema && !deps.gateway) throw new Error("createServer needs a schema or a gateway");
  const production = config.env === "production";
  const apollo = new ApolloServer<GraphQLContext>({
    ...(deps.gateway ? { gateway: deps.gateway } : { schema: deps.schema! }),
    // Depth, aliases, directives, fields and tokens: src/graphql/limits.ts.
    ...createLimitOptions(),
    csrfPrevention: true,
    // One operation per request: refreshToken and login each set the refresh cookie.
    allowBatchedHttpRequests: false,
    introspection: !production,
    hideSchemaDetailsFromClientErrors: production,
    includeStacktraceInErrorResponses: false,
    // main.ts owns SIGTERM/SIGINT: it drains HTTP first, then closes the database.
    stopOnTerminationSignals: false,
    formatError: createErrorFormatter({
      maskRequestErrors: production,
      onUnexpected: (error) => logger.error({ err: error }, "unexpected GraphQL error"),
    }),
    plugins: [
      fastifyApolloDrainPlugin(app),
      ApolloServerPluginLandingPageDisabled(),
      recordOperationName,
      authorizationPlugin({
        policies: config.authz.policies,
        now: deps.now ?? Date.now,
        requirementsOf: deps.authorizationRequirements,
        onRefused: (fields, code) => metrics.authzRefusals.inc({ code }, fields),
      }),
    ],
  });
  await apollo.start();
  const buildContext = createContextBuilder({
    identifyCaller: deps.services.identifyCaller,
    grants: deps.services.grants,
    cookie: deps.services.cookie,
    onUnusableAddress: warnUnusableAddress(logger),
  });
  const handler = fastifyApolloHandler(apollo, { context: buildContext });
  app.route({ url: "/graphql", method: ["GET", "POST"], preHandler: createDocumentSizeGuard(), handler });

  registerOperationalRoutes(app, {
    keys: deps.keys,
    metrics,
    isDatabaseReady: () => deps.database.ping(),
    redisState: () => redis?.state() ?? "disabled",
    serveMetrics: config.metricsPort === undefined,
  });
  // Scrapers reach /metrics on a private port, so login and revocation counts never face the public listener.
  const metricsApp = config.metricsPort === undefined ? null : Fastify({ logger: false });
  if (metricsApp) {
    registerMetricsRoute(metricsApp, metrics);
    metricsApp.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: "Not found", code: "NOT_FOUND" }));
  }
  let metricsUrl: string | null = null;
  if (config.demo) registerDemoRoutes(app);
  registerErrorReplies(app, logger);

  return {
    app,
    metrics,
    async listen(port = config.port, host = config.host) {
      await app.listen({ port, host });
      if (metricsApp) {
        await metricsApp.listen({ port: config.metricsPort, host: config.metricsHost });
        metricsUrl = `${baseUrl(metricsApp, config.metricsHost, config.metricsPort ?? 0)}/metrics`;
      }
      return baseUrl(app, host, port);
    },
    get metricsUrl() {
      return metricsUrl;
    },
    async close() {
      draining = true;
      // Apollo's drain plugin closes Fastify, which stops accepting and waits for in-flight requests.
      await apollo.stop();
      await metricsApp?.close();
    },
  };
}

/** At most one line a minute: the operator needs to learn that TRUST_PROXY and the proxy disagree, not every request. */
function warnUnusableAddress(logger: Logger): (raw: string) => void {
  let lastAt = 0;
  return (raw) => {
    if (Date.now() - lastAt < 60_000) return;
    lastAt = Date.now();
    logger.warn(
      { forwarded: raw.slice(0, 100) },
      "no client address could be established from the connection and TRUST_PROXY: these callers share one limit; check what the proxy writes into X-Forwarded-For",
    );
  };
}

function baseUrl(app: FastifyInstance, host: string, port: number): string {
  const address = app.server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  return `http://${host.includes(":") ? `[${host}]` : host}:${bound}`;
}

/** Puts the resolved operation name on the request for the access log. */
const recordOperationName: ApolloServerPlugin<GraphQLContext> = {
  async requestDidStart() {
    return {
      async didResolveOperation({ operationName, contextValue }) {
        if (operationName) contextValue.request.operationName = operationName;
      },
    };
  },
};

/** Every refusal is JSON; on /graphql it is shaped as a GraphQL error with a code. */
function registerErrorReplies(app: FastifyInstance, logger: Logger): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (status >= 500) logger.error({ err: error, reqId: request.id }, "request failed");
    const message = status >= 500 ? "Internal server error" : error.message;
    const code = status >= 500 ? ErrorCode.INTERNAL_SERVER_ERROR : "BAD_REQUEST";
    const isGraphQL = request.url.split("?")[0] === "/graphql";
    return reply
      .code(status)
      .send(isGraphQL ? { errors: [{ message, extensions: { code } }] } : { error: message, code });
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: "Not found", code: "NOT_FOUND" }));
}
