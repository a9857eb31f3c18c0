// keyway in front of the example notes subgraph (examples/notes-subgraph), which
// trusts callers only through keyway/subgraph.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { print } from "graphql";
import { generate } from "otplib";
import { verifyAccessToken } from "../../src/token/access-token";
import { signIdentityToken } from "../../src/token/identity-token";
import { writeDevelopmentKey } from "../../src/token/keys";
import { createTestDatabase } from "../helpers/database";
import { childEnv, ROOT, startKeyway, stopKeyway } from "../helpers/process";
import { decodeAccessToken, login, signUp, type Account } from "../helpers/auth";
import { freePort } from "../helpers/net";
import { callGraphQL, errorOf, type GraphQLResponse } from "../helpers/http";
import { composeSupergraphSdl, fetchSubgraphSdl, localSubgraphSdl } from "../../src/gateway/compose";
import { buildLocalSubgraphSchema, LOCAL_SUBGRAPH_NAME } from "../../src/gateway/local-subgraph";
import { schemaDepsOf } from "../../src/keyway";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";
import { ConfirmTotpEnrollmentDocument, StartTotpEnrollmentDocument, StepUpDocument } from "../generated/operations";

/** The compiled example (test/global-setup.ts builds it) in its own process, as a real subgraph runs. */
async function startNotesProcess(jwksUrl: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(ROOT, "dist-examples", "notes-subgraph", "server.js")], {
    cwd: ROOT,
    env: childEnv({ NOTES_PORT: String(port), KEYWAY_JWKS_URL: jwksUrl }),
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("notes subgraph at") && resolve());
    child.on("exit", (code) => reject(new Error(`notes subgraph exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

/** What `npm run example` starts keyway with: the roles and the policy the subgraph's fields name. */
const EXAMPLE_AUTHZ_FILE = path.join(ROOT, "examples", "authz.json");

let keyway: TestServer;
let notes: { url: string; child: ChildProcess };

beforeAll(async () => {
  const keywayPort = await freePort();
  notes = await startNotesProcess(`http://127.0.0.1:${keywayPort}/.well-known/jwks.json`);
  keyway = await startTestServer({
    port: keywayPort,
    env: { SUBGRAPHS: `notes=${notes.url}/graphql`, AUTHZ_FILE: EXAMPLE_AUTHZ_FILE },
  });
});
afterAll(async () => {
  await keyway?.stop();
  notes?.child.kill("SIGTERM");
});

const ADD = 'mutation { addNote(text: "buy milk") { id text } }';

it("hands the subgraph the caller's identity: notes are written and read per user through keyway", async () => {
  const alice = await signUp(keyway.url);
  const bob = await signUp(keyway.url);
  expect((await callGraphQL(keyway.url, ADD, { accessToken: alice.accessToken })).body.errors).toBeUndefined();
  const mine = await callGraphQL(keyway.url, "{ myNotes { text } me { id email notes { text } } }", {
    accessToken: alice.accessToken,
  });
  expect(mine.body).toEqual({
    data: {
      myNotes: [{ text: "buy milk" }],
      me: { id: alice.userId, email: alice.email, notes: [{ text: "buy milk" }] },
    },
  });
  const theirs = await callGraphQL(keyway.url, "{ myNotes { text } }", { accessToken: bob.accessToken });
  expect(theirs.body.data).toEqual({ myNotes: [] });
});

it("reaches the subgraph as anonymous without a token, and the subgraph refuses what needs a caller", async () => {
  const response = await callGraphQL(keyway.url, "{ myNotes { text } }");
  expect(errorOf(response)?.code).toBe("UNAUTHENTICATED");
});

it("refuses an ended session's token at the gateway, before any subgraph is called", async () => {
  const carol = await signUp(keyway.url);
  await callGraphQL(keyway.url, "mutation { logout }", { cookie: carol.cookie });
  const response = await callGraphQL(keyway.url, "{ myNotes { text } }", { accessToken: carol.accessToken });
  expect(errorOf(response)).toEqual({ code: "UNAUTHENTICATED", reason: "SESSION_ENDED" });
  const spoofed = await callGraphQL(keyway.url, "{ myNotes { text } }", { accessToken: "forged.token.value" });
  expect(errorOf(spoofed)).toEqual({ code: "UNAUTHENTICATED", reason: "TOKEN_INVALID" });
});

it("refuses requests sent straight to the subgraph with a forged, other-audience, expired, other-body, access-token or replayed identity", async () => {
  const dave = await signUp(keyway.url);
  const verified = verifyAccessToken(keyway.services.accessTokens, dave.accessToken, Date.now());
  if (!verified.ok) throw new Error(`access token refused: ${verified.reason}`);
  const { claims } = verified;
  const now = Date.now();
  // The body callGraphQL sends: what an identity for this request is bound to.
  const body = JSON.stringify({ query: ADD });
  const mint = (audience: string, at: number, forBody = body) =>
    signIdentityToken({ keys: keyway.keys, issuer: "keyway" }, claims, audience, at, forBody);
  const identities = {
    forged: `${Buffer.from('{"alg":"none","typ":"keyway-identity+jwt"}').toString("base64url")}.${Buffer.from(JSON.stringify({ ...claims, aud: "notes" })).toString("base64url")}.`,
    otherAudience: mint("billing", now),
    expired: mint("notes", now - 120_000),
    otherBody: mint("notes", now, JSON.stringify({ query: "{ myNotes { text } }" })),
    accessToken: dave.accessToken,
  };
  for (const [name, identity] of Object.entries(identities)) {
    const response = await callGraphQL(notes.url, ADD, { headers: { "keyway-identity": identity } }).catch(() => null);
    expect({ name, code: response ? errorOf(response)?.code : "no answer" }).toEqual({ name, code: "UNAUTHENTICATED" });
  }
  const genuine = mint("notes", now);
  const accepted = await callGraphQL(notes.url, ADD, { headers: { "keyway-identity": genuine } });
  expect(accepted.body.errors).toBeUndefined();
  const replayed = await callGraphQL(notes.url, ADD, { headers: { "keyway-identity": genuine } });
  expect(errorOf(replayed)).toEqual({ code: "UNAUTHENTICATED", reason: "IDENTITY_REPLAYED" });
});

describe("guarded fields", () => {
  /**
   * The field's refusal: null for it (the rest of the operation served), one error with its code at its path.
   * The example's resolvers check the same things and answer the same codes at the same paths, so the reason,
   * which only keyway's directive engine gives, is what shows the gateway refused before the subgraph was asked.
   */
  const refusal = (response: GraphQLResponse, field: string) => ({
    value: response.body.data?.[field] ?? null,
    errors: response.body.errors?.map((error) => ({
      code: error.extensions?.code,
      reason: error.extensions?.reason,
      path: (error as { path?: unknown }).path,
    })),
  });
  /** A fresh sign-in, so the token (and the identity the subgraph gets) carries roles and verification as they are now. */
  const signInAgain = (account: Account) => login(keyway.url, account.email);

  it("@authenticated noteCount: any signed-in caller; anonymous gets UNAUTHENTICATED and null", async () => {
    const anonymous = await callGraphQL(keyway.url, "{ noteCount }");
    expect(refusal(anonymous, "noteCount")).toEqual({
      value: null,
      errors: [{ code: "UNAUTHENTICATED", reason: "TOKEN_MISSING", path: ["noteCount"] }],
    });
    const erin = await signUp(keyway.url);
    await callGraphQL(keyway.url, ADD, { accessToken: erin.accessToken });
    const counted = await callGraphQL(keyway.url, "{ noteCount }", { accessToken: erin.accessToken });
    expect(counted.body).toEqual({ data: { noteCount: 1 } });
  });

  it("@requiresScopes notes:admin allNotes: FORBIDDEN without the scope (the rest served), every note for a moderator", async () => {
    const frank = await signUp(keyway.url);
    await callGraphQL(keyway.url, 'mutation { addNote(text: "frank\'s") { id } }', { accessToken: frank.accessToken });
    const plain = await callGraphQL(keyway.url, "{ myNotes { text } allNotes { text } }", {
      accessToken: frank.accessToken,
    });
    expect(plain.body.data?.myNotes).toEqual([{ text: "frank's" }]);
    expect(refusal(plain, "allNotes")).toEqual({
      value: null,
      errors: [{ code: "FORBIDDEN", reason: "MISSING_SCOPES", path: ["allNotes"] }],
    });

    const grace = await signUp(keyway.url);
    // examples/authz.json: notes-moderator grants notes:admin.
    await keyway.services.roles.grantRole(grace.userId, "notes-moderator", "cli");
    const moderator = await signInAgain(grace);
    const all = await callGraphQL<{ allNotes: Array<{ text: string }> }>(keyway.url, "{ allNotes { text } }", {
      accessToken: moderator.accessToken,
    });
    expect(all.body.errors).toBeUndefined();
    expect(all.body.data?.allNotes).toContainEqual({ text: "frank's" });
  });

  it("@policy verified_email publishNote: FORBIDDEN until the address is verified", async () => {
    const hana = await signUp(keyway.url);
    const added = await callGraphQL<{ addNote: { id: string } }>(keyway.url, ADD, { accessToken: hana.accessToken });
    const publish = `mutation { publishNote(id: "${added.body.data?.addNote.id}") { text published } }`;
    const unverified = await callGraphQL(keyway.url, publish, { accessToken: hana.accessToken });
    expect(refusal(unverified, "publishNote")).toEqual({
      value: null,
      errors: [{ code: "FORBIDDEN", reason: "POLICY_FAILED", path: ["publishNote"] }],
    });

    await keyway.database.prisma.user.update({ where: { id: hana.userId }, data: { emailVerifiedAt: new Date() } });
    // Written behind keyway's back: this instance would hear of it at its next poll; don't wait for that here.
    keyway.services.auth.forgetUser(hana.userId);
    const verified = await signInAgain(hana);
    const published = await callGraphQL(keyway.url, publish, { accessToken: verified.accessToken });
    expect(published.body).toEqual({ data: { publishNote: { text: "buy milk", published: true } } });
  });

  describe("@policy recent_second_factor deleteAllNotes (a keyway of its own, on a clock the test moves)", () => {
    // The subgraph's process keeps real time and takes an identity for at most 30 s from
    // its minting, none minted ahead of it: each test sets this keyway's clock to real time
    // before the subgraph is called, and moves it on only for the refusal, which the gateway
    // gives without calling the subgraph.
    const clock = new TestClock();
    const setClockToRealTime = () => clock.advance((Date.now() - clock.now()) / 1000);
    let own: TestServer;
    let ownNotes: { url: string; child: ChildProcess };

    beforeAll(async () => {
      const port = await freePort();
      ownNotes = await startNotesProcess(`http://127.0.0.1:${port}/.well-known/jwks.json`);
      own = await startTestServer({
        clock,
        port,
        env: { SUBGRAPHS: `notes=${ownNotes.url}/graphql`, AUTHZ_FILE: EXAMPLE_AUTHZ_FILE },
      });
    });
    afterAll(async () => {
      await own?.stop();
      ownNotes?.child.kill("SIGTERM");
    });

    /** The code an authenticator app shows for `secret`, `steps` time steps from the test clock's now. */
    const codeAt = (secret: string, steps: number) =>
      generate({ secret, epoch: Math.floor(clock.now() / 1000) + steps * 30 });
    const DELETE_ALL = "mutation { deleteAllNotes }";
    const POLICY_REFUSAL = {
      value: null,
      errors: [{ code: "FORBIDDEN", reason: "POLICY_FAILED", path: ["deleteAllNotes"] }],
    };

    it("refuses a password-only session, admits it stepped up with TOTP, and refuses it again 5 min 1 s later", async () => {
      setClockToRealTime();
      const ivy = await signUp(own.url);
      for (const text of ["one", "two"])
        await callGraphQL(own.url, `mutation { addNote(text: "${text}") { id } }`, { accessToken: ivy.accessToken });
      const passwordOnly = await callGraphQL(own.url, DELETE_ALL, { accessToken: ivy.accessToken });
      expect(refusal(passwordOnly, "deleteAllNotes")).toEqual(POLICY_REFUSAL);

      const call = (query: string, variables: Record<string, unknown>) =>
        callGraphQL(own.url, query, { variables, accessToken: ivy.accessToken });
      const started = await call(print(StartTotpEnrollmentDocument), {});
      const { secret } = started.body.data!.startTotpEnrollment as { secret: string };
      // Confirmed with the previous step's code (one step either side is accepted), which
      // leaves the current step's for the step-up without moving the clock ahead of real time.
      const confirmed = await call(print(ConfirmTotpEnrollmentDocument), { code: await codeAt(secret, -1) });
      expect(confirmed.body.errors).toBeUndefined();
      const stepped = await call(print(StepUpDocument), { code: await codeAt(secret, 0) });
      expect(stepped.body.errors).toBeUndefined();
      const accessToken = (stepped.body.data!.stepUp as { accessToken: string }).accessToken;
      expect(decodeAccessToken(accessToken)).toMatchObject({ amr: ["pwd", "otp", "mfa"] });

      const deleted = await callGraphQL(own.url, DELETE_ALL, { accessToken });
      expect(deleted.body).toEqual({ data: { deleteAllNotes: 2 } });
      const left = await callGraphQL(own.url, "{ myNotes { text } }", { accessToken });
      expect(left.body).toEqual({ data: { myNotes: [] } });

      // The access token (15 min) is still good; the second factor is older than the policy's 5 min.
      clock.advance(5 * 60 + 1);
      const stale = await callGraphQL(own.url, DELETE_ALL, { accessToken });
      expect(refusal(stale, "deleteAllNotes")).toEqual(POLICY_REFUSAL);
    });

    it("is refused by the subgraph too, reached straight with an identity without a recent second factor", async () => {
      setClockToRealTime();
      const jo = await signUp(own.url);
      const verified = verifyAccessToken(own.services.accessTokens, jo.accessToken, clock.now());
      if (!verified.ok) throw new Error(`access token refused: ${verified.reason}`);
      const now = Date.now();
      const seconds = Math.floor(now / 1000);
      const body = JSON.stringify({ query: DELETE_ALL });
      const straight = (grants: { amr: string[]; authTime: number | null }) => {
        const identity = signIdentityToken(
          { keys: own.keys, issuer: "keyway" },
          { ...verified.claims, ...grants },
          "notes",
          now,
          body,
        );
        return callGraphQL(ownNotes.url, DELETE_ALL, { headers: { "keyway-identity": identity } });
      };
      const lacking = {
        passwordOnly: { amr: ["pwd"], authTime: seconds },
        recoveryCodeOnly: { amr: ["pwd", "mfa"], authTime: seconds },
        staleOtp: { amr: ["pwd", "otp", "mfa"], authTime: seconds - 5 * 60 - 1 },
        passkeyWithoutAuthTime: { amr: ["hwk"], authTime: null },
      };
      for (const [name, grants] of Object.entries(lacking)) {
        const response = await straight(grants);
        expect({ name, value: response.body.data?.deleteAllNotes ?? null, error: response.body.errors?.[0] }).toEqual({
          name,
          value: null,
          error: expect.objectContaining({
            message: expect.stringContaining("a second factor (TOTP or a passkey) within the last 5 minutes"),
            extensions: expect.objectContaining({ code: "FORBIDDEN" }),
          }),
        });
      }
      // A passkey four minutes ago is recent enough (Jo has no notes to delete).
      const admitted = await straight({ amr: ["hwk"], authTime: seconds - 4 * 60 });
      expect(admitted.body).toEqual({ data: { deleteAllNotes: 0 } });
    });
  });

  it("the directives reach the composed supergraph, keyway's admin fields' beside the subgraph's", async () => {
    const local = await localSubgraphSdl(
      await buildLocalSubgraphSchema(schemaDepsOf(keyway.services)),
      LOCAL_SUBGRAPH_NAME,
    );
    const remote = await fetchSubgraphSdl({ name: "notes", url: `${notes.url}/graphql` }, 5000);
    // Without either of examples/authz.json's policies the notes subgraph does not compose.
    expect(() => composeSupergraphSdl([local, remote], new Set())).toThrow(/"verified_email"/);
    expect(() => composeSupergraphSdl([local, remote], new Set(["verified_email"]))).toThrow(/"recent_second_factor"/);
    const supergraph = composeSupergraphSdl([local, remote], new Set(keyway.config.authz.policies.keys()));
    const fieldLine = (name: string) =>
      supergraph
        .split("\n")
        .find((line) => line.trimStart().startsWith(`${name}:`) || line.trimStart().startsWith(`${name}(`));
    expect(fieldLine("noteCount")).toMatch(/@authenticated$/);
    expect(fieldLine("allNotes")).toMatch(/@requiresScopes\(scopes: \[\["notes:admin"\]\]\)$/);
    expect(fieldLine("publishNote")).toMatch(/@policy\(policies: \[\["verified_email"\]\]\)$/);
    expect(fieldLine("deleteAllNotes")).toMatch(/@policy\(policies: \[\["recent_second_factor"\]\]\)$/);
    for (const field of ["grantRole", "revokeRole", "disableUser"])
      expect(fieldLine(field)).toMatch(/@requiresScopes\(scopes: \[\["keyway:admin"\]\]\)$/);
  });
});

describe("key rotation", () => {
  it("follows keyway to a new signing key, within 10 s when it signs at once, while the old one stays in the JWKS", async () => {
    const database = await createTestDatabase();
    const port = await freePort();
    const subgraph = await startNotesProcess(`http://127.0.0.1:${port}/.well-known/jwks.json`);
    const env = {
      PORT: String(port),
      DATA_DIR: database.dataDir,
      SUBGRAPHS: `notes=${subgraph.url}/graphql`,
      AUTHZ_FILE: EXAMPLE_AUTHZ_FILE,
      ...(database.url ? { DATABASE_URL: database.url } : {}),
    };
    try {
      const before = await startKeyway(env);
      const old = await signUp(before.url);
      expect((await callGraphQL(before.url, ADD, { accessToken: old.accessToken })).body.errors).toBeUndefined();
      expect(await stopKeyway(before)).toBe(0);

      // Rotation: a newer key file; keyway signs with the newest and still publishes and accepts the older.
      writeDevelopmentKey(path.join(database.dataDir, "keys", `signing-${Date.now() + 1000}.pem`));
      const after = await startKeyway(env);
      const jwks = (await (await fetch(`${after.url}/.well-known/jwks.json`)).json()) as {
        keys: Array<{ kid: string }>;
      };
      expect(jwks.keys).toHaveLength(2);
      const fresh = await login(after.url, old.email);
      expect(fresh.accessToken.split(".")[0]).not.toBe(old.accessToken.split(".")[0]); // a different kid in the header
      // A key that signs the moment keyway starts (unlike `keys:rotate`, which publishes it 30 s
      // ahead) is unknown to the subgraph until it may look the JWKS up again: within 10 s.
      const deadline = Date.now() + 11_000;
      let first = await callGraphQL(after.url, "{ myNotes { text } }", { accessToken: old.accessToken });
      while (first.body.errors && Date.now() < deadline) {
        expect(errorOf(first)?.code).toBe("UNAUTHENTICATED");
        await new Promise((resolve) => setTimeout(resolve, 250));
        first = await callGraphQL(after.url, "{ myNotes { text } }", { accessToken: old.accessToken });
      }
      for (const token of [old.accessToken, fresh.accessToken]) {
        const response = await callGraphQL(after.url, "{ myNotes { text } }", { accessToken: token });
        expect(response.body).toEqual({ data: { myNotes: [{ text: "buy milk" }] } });
      }
      expect(await stopKeyway(after)).toBe(0);
    } finally {
      subgraph.child.kill("SIGTERM");
      await database.drop();
    }
  }, 120_000);
});
