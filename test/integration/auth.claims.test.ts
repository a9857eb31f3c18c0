// What tokens say about the caller beyond their ids: roles, scope (from the roles
// through AUTHZ_FILE), email_verified, amr and auth_time, in access tokens and in
// the identities an in-test subgraph receives and reads through keyway/subgraph.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import "reflect-metadata";
import { decodeAccessToken, login, ME, refresh, signUp, type Account } from "../helpers/auth";
import { callGraphQL } from "../helpers/http";
import { freePort } from "../helpers/net";
import { startTestServer, type TestServer } from "../helpers/server";
import { startWhoamiSubgraph } from "../helpers/whoami-subgraph";

const CALLER = `{ caller { sub roles scopes emailVerified amr authTime canWrite isEditor } }`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let keyway: TestServer;
let whoami: Awaited<ReturnType<typeof startWhoamiSubgraph>>;

beforeAll(async () => {
  const authzFile = path.join(mkdtempSync(path.join(tmpdir(), "keyway-claims-")), "authz.json");
  writeFileSync(
    authzFile,
    JSON.stringify({ roles: { editor: ["notes:read", "notes:write"], viewer: ["notes:read"] } }),
  );
  const port = await freePort();
  whoami = await startWhoamiSubgraph(`http://127.0.0.1:${port}/.well-known/jwks.json`);
  keyway = await startTestServer({ port, env: { SUBGRAPHS: `whoami=${whoami.url}`, AUTHZ_FILE: authzFile } });
});
afterAll(async () => {
  await keyway?.stop();
  await whoami?.stop();
});

const grant = (account: Account, role: string) => keyway.services.roles.grantRole(account.userId, role, "test");

describe("access token claims", () => {
  it("sign-up: no roles, an empty scope, not verified, amr pwd, auth_time the moment of sign-up", async () => {
    const before = Math.floor(Date.now() / 1000);
    const account = await signUp(keyway.url);
    const claims = decodeAccessToken(account.accessToken);
    expect(claims).toMatchObject({ roles: [], scope: "", email_verified: false, amr: ["pwd"] });
    // Stamped when the session starts, a moment before the token is signed.
    expect(claims.auth_time).toBeGreaterThanOrEqual(before);
    expect(claims.auth_time).toBeLessThanOrEqual(claims.iat);
  });

  it("refresh keeps the session's auth_time and amr and carries the roles the user has now", async () => {
    const account = await signUp(keyway.url);
    const first = decodeAccessToken(account.accessToken);
    await grant(account, "editor");
    await grant(account, "viewer");
    await sleep(1100);
    const refreshed = await refresh(keyway.url, { cookie: account.cookie });
    const claims = decodeAccessToken(refreshed.accessToken);
    expect(claims.iat).toBeGreaterThan(first.iat);
    expect(claims).toMatchObject({
      sid: first.sid,
      roles: ["editor", "viewer"],
      scope: "notes:read notes:write",
      amr: ["pwd"],
      auth_time: first.auth_time,
    });

    await keyway.services.roles.revokeRole(account.userId, "editor", "test");
    const again = decodeAccessToken((await refresh(keyway.url, { cookie: refreshed.cookie })).accessToken);
    expect(again).toMatchObject({ roles: ["viewer"], scope: "notes:read", auth_time: first.auth_time });
  });

  it("a refresh reads the roles from the database, not from the user cache", async () => {
    const account = await signUp(keyway.url);
    // me fills the user cache; a grant through the store alone (as another process would) leaves it stale.
    expect((await callGraphQL(keyway.url, ME, { accessToken: account.accessToken })).status).toBe(200);
    await keyway.stores.users.grantRole(account.userId, "viewer", new Date());
    const refreshed = decodeAccessToken((await refresh(keyway.url, { cookie: account.cookie })).accessToken);
    expect(refreshed).toMatchObject({ roles: ["viewer"], scope: "notes:read" });
  });

  it("a stored role that is not a role name (written by hand) reaches neither roles nor scope", async () => {
    const account = await signUp(keyway.url);
    await keyway.database.prisma.$executeRaw`
      UPDATE "User" SET "roles" = ARRAY['viewer keyway:admin', 'viewer']::text[] WHERE "id" = ${account.userId}::uuid`;
    const claims = decodeAccessToken((await login(keyway.url, account.email)).accessToken);
    expect(claims).toMatchObject({ roles: ["viewer"], scope: "notes:read" });
  });

  it("a new login starts a session with its own auth_time and the current roles", async () => {
    const account = await signUp(keyway.url);
    await grant(account, "viewer");
    await sleep(1100);
    const again = decodeAccessToken((await login(keyway.url, account.email)).accessToken);
    expect(again.auth_time).toBeGreaterThan(decodeAccessToken(account.accessToken).auth_time!);
    expect(again).toMatchObject({ roles: ["viewer"], scope: "notes:read", amr: ["pwd"] });
  });
});

describe("subgraph identity claims", () => {
  it("the subgraph reads them typed through keyway/subgraph, with hasScope and hasRole", async () => {
    const account = await signUp(keyway.url);
    await grant(account, "editor");
    const { accessToken, userId } = await refresh(keyway.url, { cookie: account.cookie });
    const response = await callGraphQL(keyway.url, CALLER, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data?.caller).toEqual({
      sub: userId,
      roles: ["editor"],
      scopes: ["notes:read", "notes:write"],
      emailVerified: false,
      amr: ["pwd"],
      authTime: decodeAccessToken(accessToken).auth_time,
      canWrite: true,
      isEditor: true,
    });
  });

  it("an access token from before a role was granted or revoked forwards the roles the user holds now", async () => {
    const account = await signUp(keyway.url);
    const asCaller = () =>
      callGraphQL(keyway.url, CALLER, { headers: { authorization: `Bearer ${account.accessToken}` } });
    await grant(account, "editor");
    expect((await asCaller()).body.data?.caller).toMatchObject({
      roles: ["editor"],
      scopes: ["notes:read", "notes:write"],
      canWrite: true,
      isEditor: true,
    });
    await keyway.services.roles.revokeRole(account.userId, "editor", "test");
    expect((await asCaller()).body.data?.caller).toMatchObject({ roles: [], scopes: [], canWrite: false });
    expect(decodeAccessToken(account.accessToken).roles).toEqual([]); // the token itself is as it was minted
  });

  it("a user disabled with their session still live (by hand in SQL) gets no identity: the subgraph field is refused", async () => {
    const account = await signUp(keyway.url);
    await grant(account, "editor");
    const asCaller = () =>
      callGraphQL(keyway.url, CALLER, { headers: { authorization: `Bearer ${account.accessToken}` } });
    expect((await asCaller()).body.data?.caller).toMatchObject({ isEditor: true });
    await keyway.database.prisma
      .$executeRaw`UPDATE "User" SET "disabledAt" = now() WHERE "id" = ${account.userId}::uuid`;
    await keyway.services.changes.poll();
    const refused = await asCaller();
    expect(refused.body.data?.caller ?? null).toBeNull();
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: "UNAUTHENTICATED", reason: "SESSION_ENDED" });
  });
});
