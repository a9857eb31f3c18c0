// A Node application on keyway/client: signs up through keyway (the refresh token
// travels in a header, as for any cookieless client), then asks keyway a question
// only the whoami subgraph can answer. Prints what it learned as one JSON line.
import { KeywayClient, KeywayError, MeDocument } from "keyway/client";

async function main(): Promise<void> {
  const [url = "", email = "", password = ""] = process.argv.slice(2);
  let refreshToken: string | null = null;
  const keyway = new KeywayClient({ url, transport: "header", onRefreshToken: (token) => void (refreshToken = token) });
  const user = await keyway.signUp(email, password);
  const me = await keyway.request(MeDocument);
  const response = await keyway.fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: "{ whoami { userId sessionId audience } }" }),
  });
  const whoami: unknown = await response.json();
  let refused: string | null = null;
  try {
    await keyway.login(email, "not the password");
  } catch (error) {
    refused = error instanceof KeywayError ? `${error.code}/${error.reason ?? ""}` : String(error);
  }
  process.stdout.write(
    `${JSON.stringify({ userId: user.id, me: me.data?.me ?? null, whoami, refreshTokenStored: refreshToken !== null, refused })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
