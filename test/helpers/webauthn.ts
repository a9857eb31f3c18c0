// A software passkey authenticator for tests in Node: it answers the options keyway
// hands out the way a browser and a platform authenticator would (ES256 keys,
// "none" attestation, discoverable credentials), and can be told to misbehave:
// another rpId or origin, no user verification, a counter that goes back.
import { createHash, createSign, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";

type Cbor = number | string | Uint8Array | Cbor[] | Map<Cbor, Cbor> | { [key: string]: Cbor };

/** Just enough CBOR (RFC 8949) for attestation objects and COSE keys. */
export function encodeCbor(value: Cbor): Buffer {
  const head = (major: number, length: number): Buffer => {
    if (length < 24) return Buffer.from([(major << 5) | length]);
    if (length < 0x100) return Buffer.from([(major << 5) | 24, length]);
    if (length < 0x10000) return Buffer.from([(major << 5) | 25, length >> 8, length & 0xff]);
    const out = Buffer.alloc(5);
    out[0] = (major << 5) | 26;
    out.writeUInt32BE(length, 1);
    return out;
  };
  if (typeof value === "number") return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === "string") {
    const bytes = Buffer.from(value, "utf8");
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), Buffer.from(value)]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(encodeCbor)]);
  const entries: Array<[Cbor, Cbor]> = value instanceof Map ? [...value.entries()] : Object.entries(value);
  return Buffer.concat([
    head(5, entries.length),
    ...entries.flatMap(([key, item]) => [encodeCbor(key), encodeCbor(item)]),
  ]);
}

const b64url = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString("base64url");
const sha256 = (data: Uint8Array | string): Buffer => createHash("sha256").update(data).digest();

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

export interface StoredCredential {
  id: Buffer;
  privateKey: KeyObject;
  rpId: string;
  userHandle: string;
  counter: number;
}

export interface AuthenticatorBehaviour {
  /** The page's origin, as the browser reports it in clientDataJSON. */
  origin: string;
  /** Sign for this rpId instead of the one the options name (a phishing site's passkey). */
  rpId?: string;
  /** Default true. False: the user was present but not verified (no PIN or biometric). */
  userVerified?: boolean;
  /** Default true: a synced (multi-device) passkey, backed up. */
  backedUp?: boolean;
  /** How much each use raises the signature counter; 0 keeps it at 0, as synced passkeys do. Default 1. */
  counterStep?: number;
  /** The page is framed by another site (clientDataJSON's crossOrigin). Default false. */
  crossOrigin?: boolean;
  /** Bytes in the ids of credentials it makes. Default 16. */
  credentialIdBytes?: number;
  /** Makes every credential with this id (a client choosing a duplicate). Default: random ids. */
  credentialId?: Buffer;
}

interface CreationOptions {
  challenge: string;
  rp: { id?: string; name: string };
  user: { id: string; name: string };
  excludeCredentials?: Array<{ id: string }>;
}

interface RequestOptions {
  challenge: string;
  rpId?: string;
  allowCredentials?: Array<{ id: string }>;
}

export class SoftAuthenticator {
  readonly credentials: StoredCredential[] = [];

  constructor(private readonly behaviour: AuthenticatorBehaviour) {}

  /** What navigator.credentials.create() would answer for keyway's options (JSON text or parsed). */
  register(optionsJSON: string | CreationOptions): Record<string, unknown> {
    const options = typeof optionsJSON === "string" ? (JSON.parse(optionsJSON) as CreationOptions) : optionsJSON;
    const rpId = this.behaviour.rpId ?? options.rp.id ?? new URL(this.behaviour.origin).hostname;
    const excluded = new Set((options.excludeCredentials ?? []).map((credential) => credential.id));
    if (this.credentials.some((credential) => excluded.has(b64url(credential.id))))
      throw new Error("InvalidStateError: this authenticator holds an excluded credential");
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = publicKey.export({ format: "jwk" });
    const coseKey = new Map<Cbor, Cbor>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, Buffer.from(jwk.x!, "base64url")],
      [-3, Buffer.from(jwk.y!, "base64url")],
    ]);
    const credential: StoredCredential = {
      id: this.behaviour.credentialId ?? randomBytes(this.behaviour.credentialIdBytes ?? 16),
      privateKey,
      rpId,
      userHandle: options.user.id,
      counter: 0,
    };
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(credential.id.length);
    const authData = Buffer.concat([
      this.authDataHead(rpId, FLAG_AT, credential.counter),
      Buffer.alloc(16), // AAGUID: none
      idLength,
      credential.id,
      encodeCbor(coseKey),
    ]);
    this.credentials.push(credential);
    const clientDataJSON = this.clientData("webauthn.create", options.challenge);
    return {
      id: b64url(credential.id),
      rawId: b64url(credential.id),
      type: "public-key",
      response: {
        clientDataJSON: b64url(clientDataJSON),
        attestationObject: b64url(encodeCbor({ fmt: "none", attStmt: {}, authData })),
        transports: ["internal", "hybrid"],
      },
      clientExtensionResults: {},
      authenticatorAttachment: "platform",
    };
  }

  /** What navigator.credentials.get() would answer, with this authenticator's credential `which` (default its first). */
  authenticate(
    optionsJSON: string | RequestOptions,
    which: StoredCredential | undefined = this.credentials[0],
  ): Record<string, unknown> {
    const options = typeof optionsJSON === "string" ? (JSON.parse(optionsJSON) as RequestOptions) : optionsJSON;
    if (!which) throw new Error("NotAllowedError: this authenticator holds no credential");
    which.counter += this.behaviour.counterStep ?? 1;
    const authData = this.authDataHead(which.rpId, 0, which.counter);
    const clientDataJSON = this.clientData("webauthn.get", options.challenge);
    const signature = createSign("sha256")
      .update(Buffer.concat([authData, sha256(clientDataJSON)]))
      .sign(which.privateKey);
    return {
      id: b64url(which.id),
      rawId: b64url(which.id),
      type: "public-key",
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        userHandle: which.userHandle,
      },
      clientExtensionResults: {},
      authenticatorAttachment: "platform",
    };
  }

  private authDataHead(rpId: string, extraFlags: number, counter: number): Buffer {
    const backedUp = this.behaviour.backedUp ?? true;
    const flags =
      FLAG_UP | (this.behaviour.userVerified === false ? 0 : FLAG_UV) | (backedUp ? FLAG_BE | FLAG_BS : 0) | extraFlags;
    const counterBytes = Buffer.alloc(4);
    counterBytes.writeUInt32BE(counter);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), counterBytes]);
  }

  private clientData(type: string, challenge: string): Buffer {
    const crossOrigin = this.behaviour.crossOrigin ?? false;
    return Buffer.from(JSON.stringify({ type, challenge, origin: this.behaviour.origin, crossOrigin }), "utf8");
  }
}
