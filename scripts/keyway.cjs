#!/usr/bin/env node
// The package's `keyway` command (`npx keyway …`): the compiled CLI, src/cli.ts.
const path = require("node:path");
const { existsSync } = require("node:fs");

const cli = path.join(__dirname, "..", "dist", "cli.js");
if (!existsSync(cli)) {
  process.stderr.write("keyway: not built yet — run `npm run build` first\n");
  process.exit(2);
}
require(cli);
