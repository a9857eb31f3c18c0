// A test client that behaves like one browser: it keeps the refresh cookie it was
// given and the access token in memory, and can be cloned to act as a second tab.
import { randomUUID } from "node:crypto";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";
import {
  LoginDocument,
  MeDocument,
  RefreshDocument,
  SignUpDocument,
  type AuthFieldsFragment,
  type MeQuery,
  type RefreshMutation,
} from "../generated/operations";
import { callGraphQL, errorOf, parseSetCookie, type GraphQLResponse } from "./http";

export type AuthResult = AuthFieldsFragment;

export const uniqueEmail = (label = "user"): string => `${label}-${randomUUID().slice(0, 8)}@example.io`;
export const PASSWORD = "correct horse battery";

export class BrowserClient {
  refreshToken: string | null = null;
  accessToken: string | null = null;
  cookieName = "refresh_token";
  last: GraphQLResponse | null = null;

  constructor(readonly url: string) {}

  /** A second tab: same cookie jar contents, no access token in memory. */
  clone(): BrowserClient {
    const tab = new BrowserClient(this.url);
    tab.refreshToken = this.refreshToken;
    tab.cookieName = this.cookieName;
    return tab;
  }

  /** Runs one of the typed documents generated from test/operations (codegen.yml). */
  run<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables>,
    variables?: TVariables,
  ): Promise<GraphQLResponse<TData>> {
    return this.call(print(document), variables as Record<string, unknown> | undefined) as Promise<
      GraphQLResponse<TData>
    >;
  }

  async call(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<GraphQLResponse> {
    const response = await callGraphQL(this.url, query, {
      variables,
      headers,
      accessToken: this.accessToken ?? undefined,
      cookie: this.refreshToken ? `${this.cookieName}=${this.refreshToken}` : undefined,
    });
    for (const line of response.setCookies) {
      const cookie = parseSetCookie(line);
      this.cookieName = cookie.name;
      this.refreshToken = cookie.attributes["max-age"] === "0" || cookie.value === "" ? null : cookie.value;
    }
    this.last = response;
    return response;
  }

  async signUp(email = uniqueEmail(), password = PASSWORD): Promise<AuthResult> {
    const response = await this.run(SignUpDocument, { input: { email, password } });
    return this.keep(response.body.data?.signUp, response);
  }

  async login(email: string, password = PASSWORD): Promise<AuthResult> {
    const response = await this.run(LoginDocument, { input: { email, password } });
    return this.keep(response.body.data?.login, response);
  }

  /** Rotates; returns the response so callers can inspect refusals. */
  async refresh(): Promise<GraphQLResponse<RefreshMutation>> {
    const response = await this.run(RefreshDocument);
    if (response.body.data?.refreshToken) this.accessToken = response.body.data.refreshToken.accessToken;
    return response;
  }

  me(): Promise<GraphQLResponse<MeQuery>> {
    return this.run(MeDocument);
  }

  private keep(result: AuthResult | undefined, response: GraphQLResponse): AuthResult {
    if (!result) throw new Error(`authentication failed: ${JSON.stringify(errorOf(response))}`);
    this.accessToken = result.accessToken;
    return result;
  }
}
