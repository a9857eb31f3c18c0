// What every UserStore promises, on PGlite and on PostgreSQL.
import { randomUUID } from "node:crypto";
import { openStores, STORE_DATABASES, type StoreFixture } from "./stores";

const email = () => `user-${randomUUID()}@example.io`;

describe.each(STORE_DATABASES)("UserStore on %s", (kind) => {
  let fixture: StoreFixture;
  beforeAll(async () => {
    fixture = await openStores(kind);
  });
  afterAll(() => fixture?.close());
  const users = () => fixture.stores.users;

  it("creates a user and finds it by id and by email, with exactly the record's fields", async () => {
    const address = email();
    const created = await users().create({ email: address, passwordHash: "$argon2id$hash" });
    expect(created).toEqual({
      id: expect.any(String),
      email: address,
      passwordHash: "$argon2id$hash",
      disabledAt: null,
      createdAt: expect.any(Date),
      updatedAt: expect.any(Date),
    });
    expect(await users().findById(created!.id)).toEqual(created);
    expect(await users().findByEmail(address)).toEqual(created);
  });

  it("answers null, not an error, for an unknown id or email", async () => {
    expect(await users().findById(randomUUID())).toBeNull();
    expect(await users().findByEmail(email())).toBeNull();
  });

  it("answers null when the email is taken, and only one of many concurrent creations of one email wins", async () => {
    const address = email();
    expect(await users().create({ email: address, passwordHash: "a" })).not.toBeNull();
    expect(await users().create({ email: address, passwordHash: "b" })).toBeNull();
    const raced = email();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => users().create({ email: raced, passwordHash: `h${i}` })),
    );
    expect(results.filter((result) => result !== null)).toHaveLength(1);
    expect((await users().findByEmail(raced))?.passwordHash).toBe(
      results.find((result) => result !== null)!.passwordHash,
    );
  });

  it("disables an active user once: true the first time, false after, and for an unknown id", async () => {
    const user = (await users().create({ email: email(), passwordHash: "x" }))!;
    const at = new Date("2030-01-01T00:00:00.000Z");
    expect(await users().disable(user.id, at)).toBe(true);
    expect((await users().findById(user.id))?.disabledAt).toEqual(at);
    expect(await users().disable(user.id, new Date())).toBe(false);
    expect((await users().findById(user.id))?.disabledAt).toEqual(at);
    expect(await users().disable(randomUUID(), at)).toBe(false);
  });
});
