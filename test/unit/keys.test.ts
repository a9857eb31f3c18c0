import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { exportJWK, importJWK, SignJWT, jwtVerify } from "jose";
import { KeyError, loadKeySet } from "../../src/token/keys";

const tempDir = () => mkdtempSync(path.join(tmpdir(), "keyway-keys-"));

describe("loadKeySet", () => {
  it("generates one ES256 development key, once, private to the owner", () => {
    const dataDir = tempDir();
    const generated: string[] = [];
    const first = loadKeySet({ privateKeyPem: undefined, dataDir, onGenerated: (file) => generated.push(file) });
    const second = loadKeySet({ privateKeyPem: undefined, dataDir, onGenerated: (file) => generated.push(file) });
    expect(generated).toHaveLength(1);
    expect(second.signing.kid).toBe(first.signing.kid);
    expect(first.signing.alg).toBe("ES256");
    const files = readdirSync(path.join(dataDir, "keys"));
    expect(files).toHaveLength(1);
    expect(statSync(path.join(dataDir, "keys", files[0])).mode & 0o077).toBe(0);
  });

  it("publishes only public members, with kid, alg and use", async () => {
    const keys = loadKeySet({ privateKeyPem: undefined, dataDir: tempDir() });
    const [jwk] = keys.jwks().keys;
    expect(jwk).toMatchObject({ kty: "EC", crv: "P-256", kid: keys.signing.kid, alg: "ES256", use: "sig" });
    expect(jwk).not.toHaveProperty("d");
    // The published key verifies what the private key signs (checked with an independent library).
    const token = await new SignJWT({}).setProtectedHeader({ alg: "ES256" }).sign(keys.signing.privateKey);
    await expect(jwtVerify(token, await importJWK(jwk, "ES256"))).resolves.toBeDefined();
  });

  it("takes a configured RSA key as RS256 and derives a thumbprint kid", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const keys = loadKeySet({
      privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
      dataDir: "/nonexistent",
    });
    expect(keys.signing.alg).toBe("RS256");
    const jwk = await exportJWK(publicKey);
    expect(keys.jwks().keys[0]).toMatchObject({
      n: jwk.n,
      e: jwk.e,
      kid: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
  });

  it("refuses weak or unsupported keys and garbage", () => {
    const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" })
      .privateKey.export({ format: "pem", type: "pkcs8" })
      .toString();
    const rsa1024 = generateKeyPairSync("rsa", { modulusLength: 1024 })
      .privateKey.export({ format: "pem", type: "pkcs8" })
      .toString();
    for (const pem of [p384, rsa1024, "not a key"]) {
      expect(() => loadKeySet({ privateKeyPem: pem, dataDir: "/nonexistent" })).toThrow(KeyError);
    }
  });

  it("explains an unusable DATA_DIR instead of crashing obscurely", () => {
    // A path below a regular file fails for root too (tests here may run as root, which ignores modes).
    const file = path.join(tempDir(), "not-a-directory");
    writeFileSync(file, "");
    expect(() => loadKeySet({ privateKeyPem: undefined, dataDir: file })).toThrow(/ENOTDIR.*DATA_DIR is writable/);
  });
});
