// TOTP codes as an authenticator app computes them (otplib's generate, at a chosen
// time), and the shape and randomness of recovery codes.
import { generate } from "otplib";
import {
  hashRecoveryCode,
  matchTotpStep,
  newRecoveryCodes,
  newTotpSecret,
  normalizeRecoveryCode,
  totpUri,
} from "../../src/mfa/totp";

const T = 1_800_000_015_000; // 15 s into a 30-second step
const step = Math.floor(T / 30_000);
const codeAt = (secret: string, ms: number) => generate({ secret, epoch: Math.floor(ms / 1000) });

describe("TOTP", () => {
  it("makes 160-bit base32 secrets, different each time, and an otpauth URL for them", () => {
    const secret = newTotpSecret();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/); // 20 bytes
    expect(newTotpSecret()).not.toBe(secret);
    const url = new URL(totpUri(secret, "keyway", "ada@example.com"));
    expect(url.protocol).toBe("otpauth:");
    expect(url.searchParams.get("secret")).toBe(secret);
    expect(url.searchParams.get("issuer")).toBe("keyway");
    expect(decodeURIComponent(url.pathname)).toContain("ada@example.com");
  });

  it("accepts the code of the current step and one either side, with the step it is for; not two away", async () => {
    const secret = newTotpSecret();
    expect(await matchTotpStep(secret, await codeAt(secret, T), T)).toBe(step);
    expect(await matchTotpStep(secret, await codeAt(secret, T - 30_000), T)).toBe(step - 1);
    expect(await matchTotpStep(secret, await codeAt(secret, T + 30_000), T)).toBe(step + 1);
    expect(await matchTotpStep(secret, await codeAt(secret, T - 60_000), T)).toBeNull();
    expect(await matchTotpStep(secret, await codeAt(secret, T + 60_000), T)).toBeNull();
  });

  it("refuses another secret's code and what is no code", async () => {
    const secret = newTotpSecret();
    expect(await matchTotpStep(secret, await codeAt(newTotpSecret(), T), T)).toBeNull();
    for (const junk of ["", "12345", "1234567", "abcdef", " 123456"])
      expect(await matchTotpStep(secret, junk, T)).toBeNull();
  });
});

describe("recovery codes", () => {
  it("are ten readable groups of four, all different, with 80 random bits each", () => {
    const codes = newRecoveryCodes();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[A-HJKMNP-TV-Z0-9]{4}(-[A-HJKMNP-TV-Z0-9]{4}){3}$/);
    // Every symbol of the 32 turns up over many codes: the alphabet is used in full (5 bits a symbol).
    const seen = new Set(newRecoveryCodes(200).join("").replace(/-/g, ""));
    expect(seen.size).toBe(32);
  });

  it("are normalised before hashing: case, dashes and spaces do not matter", () => {
    const [code] = newRecoveryCodes(1);
    const normal = normalizeRecoveryCode(code)!;
    expect(normal).toBe(code.replace(/-/g, ""));
    expect(normalizeRecoveryCode(` ${code.toLowerCase().replace(/-/g, " ")} `)).toBe(normal);
    expect(hashRecoveryCode(normal)).toMatch(/^[0-9a-f]{64}$/);
    expect(normalizeRecoveryCode("123456")).toBeNull();
    expect(normalizeRecoveryCode("IIII-LLLL-OOOO-UUUU")).toBeNull();
  });
});
