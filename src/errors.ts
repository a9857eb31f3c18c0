// The contract's error codes, and the one place that decides what of an error a
// client may see. Anything not raised on purpose is masked.
import { GraphQLError, type GraphQLFormattedError } from "graphql";
import { unwrapResolverError } from "@apollo/server/errors";

export const ErrorCode = {
  UNAUTHENTICATED: "UNAUTHENTICATED",
  BAD_USER_INPUT: "BAD_USER_INPUT",
  FORBIDDEN: "FORBIDDEN",
  CONFLICT: "CONFLICT",
  RATE_LIMITED: "RATE_LIMITED",
  SERVICE_UNAVAILABLE: "SERVICE_UNAVAILABLE",
  /** A composed subgraph could not be reached; only its fields fail. */
  SUBGRAPH_UNAVAILABLE: "SUBGRAPH_UNAVAILABLE",
  INTERNAL_SERVER_ERROR: "INTERNAL_SERVER_ERROR",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Why an access token was not accepted; recorded by the context builder. */
export type AccessTokenReason = "TOKEN_MISSING" | "TOKEN_INVALID" | "TOKEN_EXPIRED" | "SESSION_ENDED";
/** Why a refresh was refused. */
export type RefreshTokenReason = "REFRESH_TOKEN_MISSING" | "REFRESH_TOKEN_INVALID" | "REFRESH_TOKEN_REUSED";
export type UnauthenticatedReason =
  | AccessTokenReason
  | RefreshTokenReason
  | "INVALID_CREDENTIALS"
  | "LINK_INVALID"
  | "MFA_REQUIRED"
  | "MFA_INVALID"
  | "PASSKEY_INVALID";

const REASON_MESSAGES: Record<UnauthenticatedReason, string> = {
  TOKEN_MISSING: "An access token is required",
  TOKEN_INVALID: "The access token is not valid",
  TOKEN_EXPIRED: "The access token has expired",
  SESSION_ENDED: "The session of this access token has ended",
  INVALID_CREDENTIALS: "Invalid email or password",
  REFRESH_TOKEN_MISSING: "A refresh token is required",
  REFRESH_TOKEN_INVALID: "The refresh token is not valid",
  REFRESH_TOKEN_REUSED: "The refresh token was already used; the session has ended",
  LINK_INVALID: "This link is not valid: it was used, replaced by a newer one, or has expired",
  MFA_REQUIRED: "A second factor is required: call completeLogin with this challenge and a code",
  MFA_INVALID: "The code is not valid, or the challenge was used or has expired",
  PASSKEY_INVALID: "The passkey response is not valid, is not for this site, or its challenge was used or has expired",
};

/** A refusal raised on purpose: its code, message and listed extensions reach the client. */
export class KeywayError extends GraphQLError {
  constructor(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}, status?: number) {
    super(message, { extensions: { code, ...extensions, ...(status ? { http: { status } } : {}) } });
    this.name = "KeywayError";
  }
}

export const unauthenticated = (reason: UnauthenticatedReason) =>
  new KeywayError(ErrorCode.UNAUTHENTICATED, REASON_MESSAGES[reason], { reason });
/** The right first factor of a user with a second one: no session yet, a challenge for completeLogin. */
export const mfaRequired = (challenge: string) =>
  new KeywayError(ErrorCode.UNAUTHENTICATED, REASON_MESSAGES.MFA_REQUIRED, { reason: "MFA_REQUIRED", challenge });
export const badUserInput = (message: string, field?: string) =>
  new KeywayError(ErrorCode.BAD_USER_INPUT, message, field ? { field } : {});
/** Where a client needs to tell FORBIDDEN refusals apart (the contract's "Authorization"). */
export type ForbiddenReason = "MISSING_SCOPES" | "POLICY_FAILED" | "USER_DISABLED";
export const forbidden = (message = "You may not do that", reason?: ForbiddenReason) =>
  new KeywayError(ErrorCode.FORBIDDEN, message, reason ? { reason } : {});
export const conflict = (message: string) => new KeywayError(ErrorCode.CONFLICT, message);
export const rateLimited = (retryAfterSeconds: number) =>
  new KeywayError(ErrorCode.RATE_LIMITED, "Too many attempts; try again later", {
    retryAfter: Math.max(1, Math.ceil(retryAfterSeconds)),
  });
export const serviceUnavailable = () =>
  new KeywayError(ErrorCode.SERVICE_UNAVAILABLE, "The service is temporarily unavailable", {}, 503);

/**
 * Codes Apollo raises itself for requests it refuses before execution, and what
 * production says for each: its own messages echo the document and the schema
 * (field names, types, "Did you mean …" suggestions), which only a developer needs.
 */
const APOLLO_REQUEST_MESSAGES: Record<string, string> = {
  GRAPHQL_PARSE_FAILED: "The request could not be parsed",
  GRAPHQL_VALIDATION_FAILED: "Invalid request",
  BAD_REQUEST: "Bad request",
  BAD_USER_INPUT: "Invalid variables",
  OPERATION_RESOLUTION_FAILURE: "The operation could not be resolved",
  // Persisted-query clients recognise these two by their message.
  PERSISTED_QUERY_NOT_FOUND: "PersistedQueryNotFound",
  PERSISTED_QUERY_NOT_SUPPORTED: "PersistedQueryNotSupported",
};

export interface FormatErrorOptions {
  onUnexpected(error: unknown): void;
  /** Production: Apollo's refusals get their fixed message, and no message a suggestion. */
  maskRequestErrors?: boolean;
}

/**
 * Under a composed schema an error is re-wrapped once per delegation hop
 * (each wrapper's originalError is the one below), so look down the chain.
 */
function findKeywayError(error: unknown): KeywayError | null {
  for (let current = error, depth = 0; current && depth < 8; depth++) {
    if (current instanceof KeywayError) return current;
    current = (current as { originalError?: unknown }).originalError;
  }
  return null;
}

/** A subgraph's coded message may still carry graphql-js's suggestions. */
const withoutSuggestions = (message: string) => message.replace(/ ?Did you mean [^?]*\?/g, "");

/** Apollo's formatError: keep what was raised on purpose, mask the rest. */
export function createErrorFormatter(options: FormatErrorOptions) {
  const mask = options.maskRequestErrors === true;
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    const raised = findKeywayError(original);
    if (raised) {
      const { http: _http, ...extensions } = raised.extensions as Record<string, unknown>;
      const message = mask ? withoutSuggestions(raised.message) : raised.message;
      return { message, locations: formatted.locations, path: formatted.path, extensions };
    }
    const code = formatted.extensions?.code;
    if (original instanceof GraphQLError && typeof code === "string" && Object.hasOwn(APOLLO_REQUEST_MESSAGES, code)) {
      if (mask) return { message: APOLLO_REQUEST_MESSAGES[code], extensions: { code } };
      return { message: formatted.message, locations: formatted.locations, path: formatted.path, extensions: { code } };
    }
    options.onUnexpected(original);
    return {
      message: "Internal server error",
      path: formatted.path,
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
    };
  };
}
