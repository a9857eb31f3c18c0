// keyway/client: what applications import to talk to keyway. Everything exported here is API.
export {
  KeywayClient,
  linkToken,
  type KeywayClientOptions,
  type KeywayState,
  type KeywayUser,
  type RefreshTransport,
  type Passkey,
  type SecondFactors,
  type TotpEnrollment,
  type WebAuthnCeremonies,
} from "./keyway-client";
export { KeywayError, type GraphQLErrorShape, type GraphQLResult } from "./errors";
export * from "./operations";
