// createSupergraph: keyway's own subgraph plus the configured remote ones, served
// by @apollo/server as a gateway (Apollo's GatewayInterface) so the schema can be
// swapped when a subgraph that was down at start-up comes back.
//
// Start-up policy: a subgraph that cannot be reached is left out and retried in
// the background (backoff up to maxRetryDelayMs); keyway serves its own
// operations meanwhile, because an auth gateway that refuses to start while some
// notes service is down would log everyone out of everything. Subgraphs that are
// reachable but do not compose are a deployment mistake: createSupergraph throws
// and start-up fails with composition's messages.
import type { GatewayInterface, GatewaySchemaLoadOrUpdateCallback } from "@apollo/server-gateway-interface";
import type { Executor } from "@graphql-tools/utils";
import { parse, type GraphQLSchema } from "graphql";
import type { Logger } from "../logger";
import {
  composeSupergraphSdl,
  fetchSubgraphSdl,
  localSubgraphSdl,
  localSubgraphUrl,
  stitchSupergraph,
  type SubgraphSdl,
} from "./compose";
import { LOCAL_SUBGRAPH_NAME } from "./local-subgraph";
import { relaxRemoteFields } from "./remote-nullability";
import {
  liftInterfaceDemands,
  mergeRequirements,
  readRequirements,
  type SchemaRequirements,
} from "../authz/requirements";
import { createLocalExecutor } from "./local-executor";
import { createRemoteExecutor, type HeadersFor, type RemoteSubgraph } from "./remote-executor";

export interface SupergraphOptions {
  /** From buildLocalSubgraphSchema(): keyway's schema as a federation subgraph. */
  localSchema: GraphQLSchema;
  subgraphs: RemoteSubgraph[];
  /** The only headers a subgraph request carries (besides content-type/accept). */
  headersFor: HeadersFor;
  logger?: Pick<Logger, "info" | "warn" | "error">;
  /** The policies AUTHZ_FILE defines; a subgraph naming another one in @policy does not compose. */
  definedPolicies: ReadonlySet<string>;
  /** Per subgraph request, and per SDL fetch at composition. Default 10 s. */
  requestTimeoutMs?: number;
  /** Backoff for subgraphs missing from the composition: 1 s doubling up to this. Default 30 s. */
  maxRetryDelayMs?: number;
}

export interface Supergraph extends GatewayInterface {
  /** The schema being served now. */
  readonly schema: GraphQLSchema;
  readonly supergraphSdl: string;
  /** What the authorization directives demand in a schema this supergraph served, interfaces' lifted demands included. */
  requirementsOf(schema: GraphQLSchema): SchemaRequirements | undefined;
  /** Remote subgraphs not in the composition yet (unreachable so far). */
  readonly missing: readonly string[];
  /** Resolves once every configured subgraph is composed. */
  whenComplete(): Promise<void>;
}

export async function createSupergraph(options: SupergraphOptions): Promise<Supergraph> {
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
  checkNames(options.subgraphs);
  const executors = new Map<string, Executor>([
    [localSubgraphUrl(LOCAL_SUBGRAPH_NAME), createLocalExecutor(options.localSchema)],
  ]);
  for (const subgraph of options.subgraphs)
    executors.set(subgraph.url, createRemoteExecutor(subgraph, options.headersFor, timeoutMs));
  const localSdl = await localSubgraphSdl(options.localSchema, LOCAL_SUBGRAPH_NAME);
  const { document: localTypeDefs, lifted: localLifted } = liftInterfaceDemands(localSdl.typeDefs);
  const local: SubgraphSdl = { ...localSdl, typeDefs: localTypeDefs, lifted: localLifted };

  const composed = new Map<string, SubgraphSdl>();
  let missing = [...options.subgraphs];
  const listeners = new Set<GatewaySchemaLoadOrUpdateCallback>();
  let stopped = false;
  let retryTimer: NodeJS.Timeout | null = null;
  let complete!: () => void;
  const completed = new Promise<void>((resolve) => (complete = resolve));

  /** Fetches the SDL of every missing subgraph that answers now. */
  const fetchMissing = async (): Promise<SubgraphSdl[]> => {
    const results = await Promise.allSettled(missing.map((s) => fetchSubgraphSdl(s, timeoutMs)));
    return results.flatMap((result, i) => {
      const subgraph = missing[i];
      if (result.status === "fulfilled") return [liftedSubgraph(result.value, options.localSchema)];
      options.logger?.warn(
        { subgraph: subgraph.name, url: subgraph.url, err: result.reason },
        "subgraph unreachable; serving without it and retrying",
      );
      return [];
    });
  };
  /** Composes with the newcomers; commits them only if that works (throws CompositionError otherwise). */
  const recompose = (arrived: SubgraphSdl[]) => {
    const supergraphSdl = composeSupergraphSdl([local, ...composed.values(), ...arrived], options.definedPolicies);
    const schema = stitchSupergraph(supergraphSdl, executors);
    for (const subgraph of arrived) composed.set(subgraph.name, subgraph);
    missing = missing.filter((s) => !composed.has(s.name));
    const requirements = mergeRequirements(
      readRequirements(parse(supergraphSdl)),
      ...[local, ...composed.values()].flatMap((subgraph) => (subgraph.lifted ? [subgraph.lifted] : [])),
    );
    requirementsBySchema.set(schema, requirements);
    current = { supergraphSdl, schema, requirements };
    if (missing.length === 0) complete();
  };

  let current!: { supergraphSdl: string; schema: GraphQLSchema; requirements: SchemaRequirements };
  /** Every schema served so far keeps its demands: a request may finish on the one it started with. */
  const requirementsBySchema = new WeakMap<GraphQLSchema, SchemaRequirements>();
  recompose(await fetchMissing()); // a CompositionError here fails start-up with composition's reasons

  const scheduleRetry = (delayMs: number) => {
    if (stopped || missing.length === 0) return;
    const retry = async () => {
      retryTimer = null;
      try {
        const arrived = await fetchMissing();
        if (arrived.length > 0 && !stopped) {
          recompose(arrived);
          options.logger?.info(
            { subgraphs: [...composed.keys()], missing: missing.map((s) => s.name) },
            "supergraph recomposed",
          );
          for (const listener of listeners)
            listener({ apiSchema: current.schema, coreSupergraphSdl: current.supergraphSdl });
        }
      } catch (error) {
        // Keep serving the last good composition; the newcomers stay missing and are retried.
        options.logger?.error({ err: error }, "recomposition failed; keeping the current supergraph");
      }
      scheduleRetry(Math.min(delayMs * 2, maxRetryDelayMs));
    };
    retryTimer = setTimeout(() => void retry(), delayMs);
    // Retrying must never keep a stopping process alive.
    retryTimer.unref();
  };
  scheduleRetry(Math.min(1000, maxRetryDelayMs));

  return {
    get schema() {
      return current.schema;
    },
    get supergraphSdl() {
      return current.supergraphSdl;
    },
    requirementsOf: (schema) => requirementsBySchema.get(schema),
    get missing() {
      return missing.map((s) => s.name);
    },
    whenComplete: () => completed,
    onSchemaLoadOrUpdate(callback) {
      listeners.add(callback);
      return () => listeners.delete(callback);
    },
    // Apollo subscribes, then loads; the schema it serves comes through the callback.
    async load() {
      for (const listener of listeners)
        listener({ apiSchema: current.schema, coreSupergraphSdl: current.supergraphSdl });
      return { executor: null };
    },
    async stop() {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      listeners.clear();
    },
  };
}

/** A fetched subgraph as it is composed: remote fields relaxed, interface demands lifted. */
function liftedSubgraph(fetched: SubgraphSdl, localSchema: GraphQLSchema): SubgraphSdl {
  const { document, lifted } = liftInterfaceDemands(relaxRemoteFields(fetched.typeDefs, localSchema));
  return { ...fetched, typeDefs: document, lifted };
}

function checkNames(subgraphs: RemoteSubgraph[]): void {
  const seen = new Set<string>();
  for (const { name, url } of subgraphs) {
    if (name.toLowerCase() === LOCAL_SUBGRAPH_NAME)
      throw new Error(`subgraph name "${name}" is reserved for keyway's own schema`);
    // Executors are keyed by URL (see stitchSupergraph), so both must be unique.
    for (const key of [name.toLowerCase(), url]) {
      if (seen.has(key)) throw new Error(`subgraph "${name}" (${url}) is configured twice`);
      seen.add(key);
    }
  }
}
