// keyway as a federation gateway: its own schema becomes a subgraph, composed
// with the SUBGRAPHS ones and served by the same @apollo/server.
export { buildLocalSubgraphSchema, LOCAL_SUBGRAPH_NAME } from "./local-subgraph";
export { createSupergraph, type Supergraph, type SupergraphOptions } from "./supergraph";
export { CompositionError } from "./compose";
export { subgraphUnavailable, type HeadersFor, type RemoteSubgraph } from "./remote-executor";
