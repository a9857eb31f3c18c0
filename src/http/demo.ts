// The demo web client (DEMO=true): three static files bundled at build time
// into dist/demo by scripts/build-demo.mjs, read once at start-up.
import { readFileSync } from "node:fs";
import path from "node:path";
import type { FastifyInstance } from "fastify";

const FILES = {
  "/demo": { file: "index.html", type: "text/html; charset=utf-8" },
  // Where the links in keyway's mails lead with the default APP_URL (src/mail/templates.ts LINK_PAGES).
  "/demo/reset-password": { file: "index.html", type: "text/html; charset=utf-8" },
  "/demo/verify-email": { file: "index.html", type: "text/html; charset=utf-8" },
  "/demo/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/demo/app.css": { file: "app.css", type: "text/css; charset=utf-8" },
} as const;

// The page runs only its own bundled script and talks only to this origin.
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

// From dist/http (compiled) and src/http (tests) alike, the bundle is in <package>/dist/demo.
const BUNDLE_DIRECTORY = path.resolve(__dirname, "..", "..", "dist", "demo");

export function registerDemoRoutes(app: FastifyInstance, directory = BUNDLE_DIRECTORY): void {
  for (const [url, { file, type }] of Object.entries(FILES)) {
    let body: Buffer;
    try {
      body = readFileSync(path.join(directory, file));
    } catch {
      throw new Error(
        `DEMO=true but the demo client is not built (${path.join(directory, file)} is missing): run \`npm run build\``,
      );
    }
    app.get(url, async (_request, reply) =>
      reply
        .type(type)
        .header("content-security-policy", CONTENT_SECURITY_POLICY)
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .header("cache-control", "no-cache")
        .send(body),
    );
  }
}
