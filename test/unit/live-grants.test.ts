// The grants authorization reads: the user's row as it is now (through the user
// cache), the session's facts from the token. Changes made elsewhere (another
// instance, the CLI, SQL) reach them through the change feed, polled here on demand.
import { ME, signUp, type Account } from "../helpers/auth";
import { callGraphQL } from "../helpers/http";
import { startTestServer, type TestServer } from "../helpers/server";
import { verifyAccessToken, type AccessClaims } from "../../src/token/access-token";

let server: TestServer;
beforeAll(async () => {
  // The timer never polls in these tests; they poll when they mean to.
  server = await startTestServer({ env: { REVOCATION_POLL_INTERVAL: "1h" } });
});
afterAll(() => server?.stop());

const claimsOf = (account: Account): AccessClaims => {
  const verified = verifyAccessToken(server.services.accessTokens, account.accessToken, Date.now());
  if (!verified.ok) throw new Error(verified.reason);
  return verified.claims;
};
const grantsOf = (account: Account) => server.services.grants.current(claimsOf(account));
const meRoles = async (account: Account) =>
  (await callGraphQL<{ me: { roles: string[] } }>(server.url, ME, { accessToken: account.accessToken })).body.data?.me
    .roles;

/** Counts the user-row reads for this user while `work` runs. */
async function rowReads(userId: string, work: () => Promise<unknown>): Promise<number> {
  const users = server.stores.users;
  const findById = users.findById.bind(users);
  let reads = 0;
  const spy = jest.spyOn(users, "findById").mockImplementation((id) => {
    if (id === userId) reads++;
    return findById(id);
  });
  try {
    await work();
  } finally {
    spy.mockRestore();
  }
  return reads;
}

it("are the user's roles now, with their scopes, and the token's amr and auth_time", async () => {
  const account = await signUp(server.url);
  const claims = claimsOf(account);
  expect(claims.roles).toEqual([]);
  await server.services.roles.grantRole(account.userId, "admin", "test");
  await server.database.prisma.user.update({ where: { id: account.userId }, data: { emailVerifiedAt: new Date() } });
  await server.services.changes.poll();
  expect(await grantsOf(account)).toEqual({
    roles: ["admin"],
    scopes: ["admin", "keyway:admin"],
    emailVerified: true,
    amr: claims.amr,
    authTime: claims.authTime,
  });
  expect(claims.amr).toEqual(["pwd"]);
});

it("read no row while the user is cached", async () => {
  const account = await signUp(server.url);
  await grantsOf(account);
  expect(await rowReads(account.userId, () => Promise.all([grantsOf(account), grantsOf(account)]))).toBe(0);
});

it("are null for a disabled user and for one who is gone", async () => {
  const account = await signUp(server.url);
  await grantsOf(account);
  await server.services.auth.disableUser(account.userId);
  expect(await grantsOf(account)).toBeNull();
  const gone = await signUp(server.url);
  await server.database.prisma.user.delete({ where: { id: gone.userId } });
  expect(await grantsOf(gone)).toBeNull();
});

it("drop a role revoked elsewhere (the store alone, as another process) once the feed hears of it, here and in me", async () => {
  const account = await signUp(server.url);
  await server.services.roles.grantRole(account.userId, "staff", "test");
  expect((await grantsOf(account))?.roles).toEqual(["staff"]);
  expect(await meRoles(account)).toEqual(["staff"]);
  await server.stores.users.revokeRole(account.userId, "staff", new Date());
  expect((await grantsOf(account))?.roles).toEqual(["staff"]); // the cached row: nothing was heard yet
  await server.services.changes.poll();
  expect((await grantsOf(account))?.roles).toEqual([]);
  expect(await meRoles(account)).toEqual([]);
});

it("do not cache a row read before an eviction that arrived while the read was in flight", async () => {
  const account = await signUp(server.url);
  await server.services.roles.grantRole(account.userId, "staff", "test");
  const users = server.stores.users;
  const findById = users.findById.bind(users);
  // The row is read with the role; before the answer is used, the role goes elsewhere and the feed hears of it.
  const spy = jest.spyOn(users, "findById").mockImplementationOnce(async (id) => {
    const before = await findById(id);
    await users.revokeRole(id, "staff", new Date());
    await server.services.changes.poll();
    return before;
  });
  try {
    expect((await grantsOf(account))?.roles).toEqual(["staff"]); // that request saw the row as it was read
  } finally {
    spy.mockRestore();
  }
  expect((await grantsOf(account))?.roles).toEqual([]);
});
