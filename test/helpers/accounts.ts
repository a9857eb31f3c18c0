// Account recovery against a running keyway, as a client does it: the reset
// request, the reset from a mailed token, the change of password; and reading
// /metrics, where the mail worker's counters are; and the outbox, for what a user is sent.
import { print } from "graphql";
import type { Database } from "../../src/db/client";
import { ChangePasswordDocument, RequestPasswordResetDocument, ResetPasswordDocument } from "../generated/operations";
import { tokensOf, type Tokens } from "./auth";
import { callGraphQL, type GraphQLCallOptions, type GraphQLResponse } from "./http";

export const REQUEST_PASSWORD_RESET = print(RequestPasswordResetDocument);
export const RESET_PASSWORD = print(ResetPasswordDocument);
export const CHANGE_PASSWORD = print(ChangePasswordDocument);

export const NEW_PASSWORD = "a brand new passphrase";

export const requestPasswordReset = (
  url: string,
  email: string,
  options: GraphQLCallOptions = {},
): Promise<GraphQLResponse> => callGraphQL(url, REQUEST_PASSWORD_RESET, { ...options, variables: { email } });

/** Uses a reset link's token; throws with the answer unless it signs in. */
export async function resetPassword(url: string, token: string, newPassword = NEW_PASSWORD): Promise<Tokens> {
  return tokensOf(await callGraphQL(url, RESET_PASSWORD, { variables: { token, newPassword } }), "resetPassword");
}

export const changePassword = (url: string, accessToken: string, currentPassword: string, newPassword = NEW_PASSWORD) =>
  callGraphQL(url, CHANGE_PASSWORD, { accessToken, variables: { currentPassword, newPassword } });

/** The sum of a metric's series whose labels include `labels` (`kind="password-reset"`, say), from /metrics. */
export async function metric(url: string, name: string, labels = ""): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    const match = /^(\w+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (match && match[1] === name && (match[2] ?? "").includes(labels)) sum += Number(match[3]);
  }
  return sum;
}

/** The kinds of mail queued for `email`, oldest first: what its owner is sent (notices, links). */
export async function mailKindsTo(database: Database, email: string): Promise<string[]> {
  const mails = await database.prisma.mail.findMany({
    where: { recipient: email },
    orderBy: [{ createdAt: "asc" }, { kind: "asc" }],
    select: { kind: true },
  });
  return mails.map((mail) => mail.kind);
}
