// Prisma 7 CLI configuration. The connection URL is only needed by the stock CLI's
// migrate commands on machines that can run Prisma's native schema engine; keyway
// itself migrates through the WASM engine (src/db/migrate.ts).
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/keyway" },
});
