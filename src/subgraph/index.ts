// keyway/subgraph: the public API for subgraph authors. What is exported here is
// API on purpose; everything else in keyway is internal.
export {
  createIdentityVerifier,
  type GraphQLRequestBody,
  type IdentityClaims,
  type IdentityRefusal,
  type IdentityVerifier,
  type IdentityVerifierOptions,
  type ParsedHttpRequest,
} from "./identity-verifier";
export { hasRole, hasScope } from "./grants";
export { IDENTITY_HEADER } from "../token/identity-token";
