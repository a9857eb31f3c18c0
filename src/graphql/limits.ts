// How big a GraphQL request may be, in one place. Every limit bounds the CPU a
// single document can cost before it is refused; each sits well above anything
// keyway's own clients send (their largest operation: depth 3, about 15 fields,
// no aliases or directives, under 200 tokens, the introspection query included).
import { ApolloArmor } from "@escape.tech/graphql-armor";
import type { FastifyReply, FastifyRequest } from "fastify";
import {
  getEnterLeaveForKind,
  GraphQLError,
  Kind,
  type ASTVisitor,
  type ParseOptions,
  type ValidationContext,
  type ValidationRule,
} from "graphql";

export const GRAPHQL_LIMITS = {
  /** Field nesting; fragments add no level of their own. */
  maxDepth: 10,
  /** Aliased fields per operation (`__typename` aliases are free). */
  maxAliases: 15,
  /** Directives per operation. */
  maxDirectives: 20,
  /**
   * Selections per operation: every field and fragment counts 1, a fragment at
   * every place it is spread, and a `first`/`last` argument multiplies its subtree.
   */
  maxFields: 200,
  /** Lexical tokens per document; the parser stops at the first one past it. */
  maxTokens: 2000,
  /** UTF-8 bytes of the query string, checked before the parser sees it. */
  maxDocumentBytes: 32 * 1024,
} as const;

export type GraphQLLimits = { [Name in keyof typeof GRAPHQL_LIMITS]: number };

/** What ApolloServer's options need to enforce the limits. */
export interface GraphQLLimitOptions {
  parseOptions: ParseOptions;
  validationRules: ValidationRule[];
  validationOptions: { maxErrors: number };
}

/**
 * graphql-armor's depth, alias, directive and cost rules, with keyway's own
 * rejection. Its Apollo token plugin is left out: it throws from a parsing hook,
 * which Apollo Server 5 answers with a 500 (and its error hook relabels every
 * unexpected error as a validation failure, message included); graphql-js's
 * parser counts tokens itself. Its suggestion blocker is left out too: keyway's
 * error formatter masks validation messages in production.
 */
export function createLimitOptions(limits: GraphQLLimits = GRAPHQL_LIMITS): GraphQLLimitOptions {
  const stop = () => ({ propagateOnRejection: false, onReject: [refuseAndStop] });
  const armor = new ApolloArmor({
    maxDepth: { n: limits.maxDepth, flattenFragments: true, ...stop() },
    maxAliases: { n: limits.maxAliases, ...stop() },
    maxDirectives: { n: limits.maxDirectives, ...stop() },
    // Unit weights make the cost a count of selections, a number a person can check.
    costLimit: {
      maxCost: limits.maxFields,
      objectCost: 1,
      scalarCost: 1,
      depthCostFactor: 1,
      flattenFragments: true,
      ...stop(),
    },
    maxTokens: { enabled: false },
    blockFieldSuggestion: { enabled: false },
  });
  return {
    // Locations stay: clients use them to point at the offending line.
    parseOptions: { maxTokens: limits.maxTokens },
    validationRules: [checkedFirst(armor.protect().validationRules)],
    validationOptions: { maxErrors: 1 },
  };
}

/**
 * graphql-js's own rules cost time quadratic in repeated fields (overlap checks,
 * ~0.1 s for 2000 tokens on this class of machine), and they reach a fragment
 * defined above an operation before armor's rules reach the operation. So the
 * limit rules run over every operation as soon as the document is entered, and
 * a refusal stops validation there: it reports the limit, then one more error,
 * which with `maxErrors: 1` makes graphql-js abort the walk. One error is all a
 * client needs to fix a document, so the same cap serves merely wrong ones.
 */
function checkedFirst(rules: ValidationRule[]): ValidationRule {
  return (context) => {
    const visitors: ASTVisitor[] = rules.map((rule) => rule(context));
    return {
      Document(document) {
        for (const definition of document.definitions) {
          if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
          for (const visitor of visitors) {
            getEnterLeaveForKind(visitor, Kind.OPERATION_DEFINITION).enter?.call(
              visitor,
              definition,
              undefined,
              document,
              [],
              [],
            );
          }
        }
      },
    };
  };
}

function refuseAndStop(context: ValidationContext | null, error: GraphQLError): void {
  if (!context) return;
  // Armor words its refusals as syntax errors; they are validation failures.
  context.reportError(new GraphQLError(error.message.replace(/^Syntax Error: /, "")));
  context.reportError(new GraphQLError("Validation stopped at a limit"));
}

/** Shaped like Apollo's parse failures, so clients handle it as one. */
const DOCUMENT_TOO_LARGE = {
  errors: [{ message: "The GraphQL document is too large", extensions: { code: "GRAPHQL_PARSE_FAILED" } }],
};

/** The query string of a POST body or GET query, when there is exactly one. */
function queryOf(request: FastifyRequest): unknown {
  const source = request.method === "GET" ? request.query : request.body;
  return source && typeof source === "object" && !Array.isArray(source)
    ? (source as { query?: unknown }).query
    : undefined;
}

/**
 * A Fastify hook for /graphql that refuses a document past the size limit before
 * Apollo parses it: Apollo's plugin hooks cannot answer a 400 that early (a throw
 * there is a 500).
 */
export function createDocumentSizeGuard(limits: GraphQLLimits = GRAPHQL_LIMITS) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const query = queryOf(request);
    if (typeof query !== "string" || Buffer.byteLength(query, "utf8") <= limits.maxDocumentBytes) return;
    return reply.code(400).send(DOCUMENT_TOO_LARGE);
  };
}
