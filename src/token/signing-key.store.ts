// Where rotated signing keys live (the SigningKey table), for every instance to read.
export interface SigningKeyRecord {
  kid: string;
  /** PKCS#8 PEM sealed under a key derived from the root signing key; null for the root's own row. */
  sealedPrivateKey: string | null;
  activatesAt: Date;
  retiredAt: Date | null;
}

export interface NewSigningKey {
  kid: string;
  sealedPrivateKey: string;
  activatesAt: Date;
}

export interface KeyRotationPlan {
  /** The root key's kid: gets a row of its own (no private key) the first time it is replaced. */
  rootKid: string;
  key: NewSigningKey;
  /** Rotated keys retired before this are deleted. */
  deleteRetiredBefore: Date;
  /** Whether this root can open a sealed key (keys sealed under another root are not ours to replace). */
  canOpen(sealedPrivateKey: string): boolean;
}

export interface KeyRotationResult {
  /** The key that signed, or was about to, when the rotation ran: it stops when the new one starts. */
  replaces: string;
  /** Kids deleted as past their window. */
  removed: string[];
}

export interface SigningKeyStore {
  /** Every row, oldest activation first. */
  list(): Promise<SigningKeyRecord[]>;
  /**
   * In one transaction, one rotation at a time across instances and CLI runs (a
   * lock): every key not yet retired retires when the new one activates, the new
   * one is added, and keys past their window are deleted.
   */
  rotate(plan: KeyRotationPlan): Promise<KeyRotationResult>;
}
