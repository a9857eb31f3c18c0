// The tests' software passkey authenticator (test/helpers/webauthn.ts), for the
// benchmarks. It is TypeScript, so esbuild (a dev dependency: it bundles the demo)
// strips its types when this module loads; the tests and the benchmarks then sign
// with the same code, and there is no second copy of it to keep in step.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { transform } from "esbuild";

const source = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "test", "helpers", "webauthn.ts");
const { code } = await transform(readFileSync(source, "utf8"), {
  loader: "ts",
  format: "esm",
  target: "node20",
  sourcefile: source,
});
// A data: URL module may import only node: built-ins, which is all the helper imports.
const helper = await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`);

/** `new SoftAuthenticator({ origin })`: register(options) and authenticate(options), as a browser would answer. */
export const { SoftAuthenticator } = helper;
