// schema.graphql and the typed operations are committed; they must match what
// the server builds now, or clients compiled against them are lied to.
import { spawnSync } from "node:child_process";
import path from "node:path";

const root = path.resolve(__dirname, "../..");
const bin = (name: string) => path.join(root, "node_modules", ".bin", name);

it("the committed schema.graphql and typed operations are current (npm run generate)", () => {
  // dist/ is compiled by test/global-setup.ts before any test runs.
  const check = spawnSync(bin("graphql-codegen"), ["--config", "codegen.yml", "--check"], {
    cwd: root,
    encoding: "utf8",
  });
  const output = `${check.stdout}${check.stderr}`;
  expect({ status: check.status, stale: /stale files/.test(output) }).toEqual({ status: 0, stale: false });
}, 120_000);
