// What every SigningKeyStore promises, on PGlite and on PostgreSQL.
import { STORE_DATABASES, useStores } from "./stores";

const T = (seconds: number) => new Date(Date.UTC(2030, 0, 1) + seconds * 1000);
const opens = (sealed: string) => sealed.startsWith("ours:");

describe.each(STORE_DATABASES)("SigningKeyStore on %s", (kind) => {
  const fixture = useStores(kind, "each");
  const keys = () => fixture().stores.signingKeys;
  const rotate = (kid: string, activatesAt: Date, deleteRetiredBefore = T(-1e6), canOpen = opens) =>
    keys().rotate({
      rootKid: "root",
      key: { kid, sealedPrivateKey: `ours:${kid}`, activatesAt },
      deleteRetiredBefore,
      canOpen,
    });

  it("lists nothing before the first rotation", async () => {
    expect(await keys().list()).toEqual([]);
  });

  it("the first rotation records the root (no private key) retiring when the new key activates", async () => {
    expect(await rotate("k1", T(30))).toEqual({ replaces: "root", removed: [] });
    expect(await keys().list()).toEqual([
      { kid: "root", sealedPrivateKey: null, activatesAt: new Date(0), retiredAt: T(30) },
      { kid: "k1", sealedPrivateKey: "ours:k1", activatesAt: T(30), retiredAt: null },
    ]);
  });

  it("each later rotation retires the newest key, and deletes rotated keys retired before the cut-off", async () => {
    await rotate("k1", T(30));
    expect(await rotate("k2", T(100))).toEqual({ replaces: "k1", removed: [] });
    expect(await rotate("k3", T(200), T(150))).toEqual({ replaces: "k2", removed: ["k1"] });
    const rows = await keys().list();
    expect(rows.map((row) => [row.kid, row.retiredAt])).toEqual([
      ["root", T(30)],
      ["k2", T(200)],
      ["k3", null],
    ]);
  });

  it("replaces the root when the newest key is one this root cannot open (sealed under another root)", async () => {
    await keys().rotate({
      rootKid: "other-root",
      key: { kid: "theirs", sealedPrivateKey: "theirs:x", activatesAt: T(10) },
      deleteRetiredBefore: T(-1e6),
      canOpen: () => false,
    });
    expect((await rotate("k1", T(30))).replaces).toBe("root");
  });

  it("runs concurrent rotations one at a time: exactly one key is left unretired", async () => {
    await rotate("k0", T(10));
    await Promise.all([1, 2, 3, 4].map((i) => rotate(`k${i}`, T(10 + i * 10))));
    const rows = await keys().list();
    expect(rows.filter((row) => row.retiredAt === null)).toHaveLength(1);
    expect(rows).toHaveLength(6);
  });
});
