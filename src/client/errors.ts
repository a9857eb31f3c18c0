// GraphQL answers as the SDK sees them, and the one error type it throws.

export interface GraphQLErrorShape {
  message: string;
  extensions?: { code?: string; reason?: string; retryAfter?: number; [key: string]: unknown };
}

export interface GraphQLResult<TData> {
  data?: TData | null;
  errors?: GraphQLErrorShape[];
}

export const errorsOf = (result: GraphQLResult<unknown>): GraphQLErrorShape[] =>
  Array.isArray(result.errors) ? result.errors : [];

/**
 * A refusal from keyway, with its `extensions.code` and, where one applies, `reason`
 * and `retryAfter`; with reason MFA_REQUIRED, the `challenge` for completeLogin.
 */
export class KeywayError extends Error {
  override readonly name = "KeywayError";

  constructor(
    message: string,
    readonly code: string,
    readonly reason?: string,
    readonly retryAfter?: number,
    readonly challenge?: string,
  ) {
    super(message);
  }

  static from(result: GraphQLResult<unknown>): KeywayError {
    const error = errorsOf(result)[0];
    if (!error) return new KeywayError("keyway answered without data or errors", "INTERNAL_SERVER_ERROR");
    const { code = "INTERNAL_SERVER_ERROR", reason, retryAfter, challenge } = error.extensions ?? {};
    return new KeywayError(
      error.message,
      code,
      reason,
      retryAfter,
      typeof challenge === "string" ? challenge : undefined,
    );
  }
}
