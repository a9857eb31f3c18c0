// npm run example: keyway on :4000 in front of the example notes subgraph on :4001,
// with the demo web client at http://127.0.0.1:4000/demo. keyway reads
// examples/authz.json (unless AUTHZ_FILE says otherwise): the roles that grant
// notes:admin and the policies the subgraph's fields name (verified_email,
// recent_second_factor).
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const keywayPort = process.env.PORT ?? "4000";
const notesPort = process.env.NOTES_PORT ?? "4001";
const run = (file, env) =>
  spawn(process.execPath, [path.join(root, file)], { cwd: root, stdio: "inherit", env: { ...process.env, ...env } });

// The subgraph fetches keyway's keys lazily, so it may start first.
const notes = run("dist-examples/notes-subgraph/server.js", {
  NOTES_PORT: notesPort,
  KEYWAY_JWKS_URL: `http://127.0.0.1:${keywayPort}/.well-known/jwks.json`,
});
const keyway = run("dist/main.js", {
  DEMO: "true",
  PORT: keywayPort,
  SUBGRAPHS: `notes=http://127.0.0.1:${notesPort}/graphql`,
  AUTHZ_FILE: process.env.AUTHZ_FILE ?? path.join(root, "examples", "authz.json"),
});
const children = [notes, keyway];
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => children.forEach((child) => child.kill(signal)));
for (const child of children)
  child.on("exit", (code) => {
    children.forEach((other) => other !== child && other.kill("SIGTERM"));
    process.exitCode = code ?? 0;
  });
