// Composition and execution plan: fetch each subgraph's SDL, compose with
// @theguild/federation-composition, and stitch an executable schema with
// @graphql-tools/federation whose local part runs in-process.
import { composeServices } from "@theguild/federation-composition";
import { getStitchedSchemaFromSupergraphSdl } from "@graphql-tools/federation";
import type { Executor } from "@graphql-tools/utils";
import { execute, parse, type DocumentNode, type GraphQLSchema } from "graphql";
import { mergeRequirements, policyNames, readRequirements, type SchemaRequirements } from "../authz/requirements";
import type { RemoteSubgraph } from "./remote-executor";

export interface SubgraphSdl {
  name: string;
  url: string;
  typeDefs: DocumentNode;
  /** Demands taken off its interfaces before composing (liftInterfaceDemands). */
  lifted?: SchemaRequirements;
}

export class CompositionError extends Error {
  override name = "CompositionError";
}

/** A subgraph's SDL through the federation `_service` field; nothing of any client's request goes along. */
export async function fetchSubgraphSdl(subgraph: RemoteSubgraph, timeoutMs: number): Promise<SubgraphSdl> {
  const response = await fetch(subgraph.url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: "{ _service { sdl } }" }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await response.json().catch(() => null)) as { data?: { _service?: { sdl?: string } } } | null;
  const sdl = body?.data?._service?.sdl;
  if (!sdl)
    throw new Error(
      `subgraph ${subgraph.name} at ${subgraph.url} answered HTTP ${response.status} without _service.sdl`,
    );
  return { ...subgraph, typeDefs: parse(sdl) };
}

export const localSubgraphUrl = (name: string) => `http://in-process.invalid/${name}`;

export async function localSubgraphSdl(localSchema: GraphQLSchema, name: string): Promise<SubgraphSdl> {
  const result = await execute({ schema: localSchema, document: parse("{ _service { sdl } }") });
  const sdl = (result.data as { _service?: { sdl?: string } } | null)?._service?.sdl;
  if (!sdl) throw new Error("the local schema is not a federation subgraph (no _service.sdl)");
  // Never fetched: its executor is replaced by an in-process one below.
  return { name, url: localSubgraphUrl(name), typeDefs: parse(sdl) };
}

/**
 * The supergraph of these subgraphs. `definedPolicies`: the policies AUTHZ_FILE
 * defines; a subgraph naming any other in @policy does not compose, because a
 * field nobody could ever be authorized for is a deployment mistake, not a
 * decision to take at request time.
 */
export function composeSupergraphSdl(subgraphs: SubgraphSdl[], definedPolicies: ReadonlySet<string>): string {
  const result = composeServices(subgraphs.map(({ name, url, typeDefs }) => ({ name, url, typeDefs })));
  const unknown = subgraphs.flatMap(({ name, typeDefs, lifted }) =>
    [...policyNames(mergeRequirements(readRequirements(typeDefs), ...(lifted ? [lifted] : [])))]
      .filter((policy) => !definedPolicies.has(policy))
      .map((policy) => ({ message: `[${name}] @policy names "${policy}", which AUTHZ_FILE does not define` })),
  );
  const errors = [...(result.errors ?? []), ...unknown];
  if (errors.length > 0 || !result.supergraphSdl) {
    const problems = errors.map((e) => `  - ${e.message}`).join("\n");
    throw new CompositionError(`subgraphs ${subgraphs.map((s) => s.name).join(", ")} do not compose:\n${problems}`);
  }
  return result.supergraphSdl;
}

/**
 * The executable supergraph: every subgraph runs through the executor we give it,
 * local or remote. Executors are keyed by URL: the stitcher names subgraphs by
 * their join__Graph enum value (upper-cased, sanitized), while the URL survives as given.
 */
export function stitchSupergraph(supergraphSdl: string, executorsByUrl: Map<string, Executor>): GraphQLSchema {
  return getStitchedSchemaFromSupergraphSdl({
    supergraphSdl,
    // Fields of one operation that go to the same subgraph share one request; the
    // bench (guild vs guild-batch) shows no cost for single-field queries.
    batch: true,
    onSubschemaConfig(config) {
      const executor = executorsByUrl.get(config.endpoint);
      if (!executor) throw new Error(`no executor for subgraph ${config.name} at ${config.endpoint}`);
      config.executor = executor;
    },
  });
}
